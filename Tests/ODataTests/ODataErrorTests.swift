import ConnectorCore
import ConnectorHTTP
import Foundation
import OData
import Testing

@Suite("OData error bodies of the five ERPs")
struct ODataErrorTests {
    static let get = HTTPRequest(method: "GET", url: "https://erp.example/data/VendorsV2?$top=1")
    static let post = HTTPRequest(method: "POST", url: "https://erp.example/data/VendorInvoiceHeaders")

    static func map(
        _ status: Int, _ body: String, request: HTTPRequest = get, rules: ODataErrorRules = .none,
        headers: [(name: String, value: String)] = []
    ) -> ConnectorError {
        ODataErrors.error(
            HTTPResponse(status: status, headers: headers, body: Data(body.utf8)), request: request, system: "ERP",
            rules: rules, now: Date(timeIntervalSince1970: 0))
    }

    @Test(
        "(code, message) from every shape",
        arguments: [
            // Business Central / NAV
            (
                #"{"error":{"code":"BadRequest_NotFound","message":"The vendor does not exist.  CorrelationId:  abc."}}"#,
                "BadRequest_NotFound", "The vendor does not exist.  CorrelationId:  abc."
            ),
            // F&O: empty code, the useful text in innererror and internalexception
            (
                #"{"error":{"code":"","message":"An error has occurred.","innererror":{"message":"Write failed for table row of type 'VendInvoiceHeaderEntity'. Infolog: Invoice number A1 is used.","type":"Microsoft.Dynamics.Platform.Integration.Services.OData.AxODataWriteException","stacktrace":"at x","internalexception":{"message":"Invoice number A1 is used.","type":"X"}}}}"#,
                nil,
                "An error has occurred. | Write failed for table row of type 'VendInvoiceHeaderEntity'. Infolog: Invoice number A1 is used. | Invoice number A1 is used."
            ),
            // SAP B1 v1: numeric code, {lang, value}
            (
                #"{"error":{"code":-2028,"message":{"lang":"en-us","value":"No matching records found"}}}"#, "-2028",
                "No matching records found"
            ),
            // SAP B1 v2: string code, plain string message
            (#"{"error":{"code":"301","message":"Invalid session."}}"#, "301", "Invalid session."),
            // Acumatica exception
            (
                #"{"message":"An error has occurred.","exceptionMessage":"Vendor 'V1' cannot be found in the system.","exceptionType":"PX.Data.PXException","stackTrace":"at y"}"#,
                "PX.Data.PXException", "An error has occurred. | Vendor 'V1' cannot be found in the system."
            ),
            // Acumatica ModelState
            (
                #"{"message":"The request is invalid.","modelState":{"Vendor":["'Vendor' cannot be empty."],"Date":["Bad date.","Closed period."]}}"#,
                nil, "The request is invalid. | Date: Bad date.; Closed period. | Vendor: 'Vendor' cannot be empty."
            ),
            // Acumatica 422: the record echoed with per-field errors
            (
                #"{"id":"x","VendorRef":{"value":"A1"},"Vendor":{"value":"NOPE","error":"'Vendor' cannot be found in the system."},"Details":[{"Account":{"value":"9","error":"Account '9' is inactive."}}]}"#,
                nil, "Details.0.Account: Account '9' is inactive. | Vendor: 'Vendor' cannot be found in the system."
            ),
            // OAuth-style
            (
                #"{"error":"invalid_client","error_description":"Invalid client or Invalid client credentials"}"#,
                "invalid_client", "Invalid client or Invalid client credentials"
            ),
            // HTML from a gateway
            ("<html><body><h1>502 Bad Gateway</h1>\n<p>nginx</p></body></html>", nil, "502 Bad Gateway nginx"),
            ("", nil, nil),
        ] as [(String, String?, String?)])
    func shapes(body: String, code: String?, message: String?) {
        let detail = ODataErrors.parse(Data(body.utf8))
        #expect(detail.code == code)
        #expect(detail.message == message)
    }

    @Test("status mapping comes from UpstreamError: 404 rejected, 429 with Retry-After, ambiguous 500 on a write")
    func statuses() {
        let notFound = Self.map(404, #"{"error":{"code":"BadRequest_NotFound","message":"nope"}}"#)
        #expect(notFound.code == .upstreamRejected && notFound.httpStatus == 404)
        #expect(notFound.message.contains("BadRequest_NotFound: nope"))
        let limited = Self.map(429, "{}", headers: [("Retry-After", "7")])
        #expect(limited.code == .httpRateLimited && limited.retryAt == Date(timeIntervalSince1970: 7))
        #expect(Self.map(500, "{}", request: Self.post).code == .ambiguousWrite)
        #expect(Self.map(503, "{}").kind == .temporary)
        #expect(Self.map(401, "{}").code == .authRejected)
    }

    @Test(
        "SAP B1 session expiry in every code spelling maps to auth.session_expired",
        arguments: [
            #"{"error":{"code":301,"message":{"lang":"en-us","value":"Invalid session or session already timeout."}}}"#,
            #"{"error":{"code":"301","message":{"lang":"en-us","value":"Invalid session or session already timeout."}}}"#,
            #"{"error":{"code":"301","message":"Invalid session or session already timeout."}}"#,
            #"{"error":{"code":-1,"message":"Invalid session or session already timeout."}}"#,
        ])
    func b1Session(body: String) {
        let error = Self.map(401, body, rules: .sapBusinessOne)
        #expect(error.code == .sessionExpired)
        #expect(error.isSessionExpired && error.retryable)
        #expect(error.httpStatus == 401)
    }

    @Test("SAP B1: a validation error (-5002) stays a rejection; a failed login is a credentials problem")
    func b1Others() {
        let validation = Self.map(
            400, #"{"error":{"code":-5002,"message":{"lang":"en-us","value":"Document is already cancelled"}}}"#,
            rules: .sapBusinessOne)
        #expect(validation.code == .upstreamRejected && !validation.retryable)
        let login = Self.map(
            400, #"{"error":{"code":100000027,"message":{"lang":"en-us","value":"Login failed"}}}"#,
            rules: .sapBusinessOne)
        #expect(login.code == .authRejected && login.kind == .configuration)
    }

    @Test("BC rules: a stale ETag is a conflict to re-read; Acumatica's cookie-session 401 is a session to renew")
    func otherRules() {
        let stale = Self.map(
            409,
            #"{"error":{"code":"Request_EntityChanged","message":"Another user has already changed the record."}}"#,
            rules: .businessCentral)
        #expect(stale.code == .upstreamConflict && stale.kind == .conflict)
        #expect(
            Self.map(401, #"{"message":"You are not logged in."}"#, rules: .acumaticaCookieSession).isSessionExpired)
        #expect(Self.map(403, #"{"message":"no rights"}"#, rules: .acumaticaCookieSession).code == .authRejected)
    }

    @Test("excerpts are scrubbed before they are cut and stay bounded")
    func scrubbedAndBounded() {
        let secret = "s3cr3t-" + String(repeating: "k", count: 30)
        SecretRedactor.register(secret)
        // The secret straddles the cut at 500 characters: scrubbed first, so no fragment survives.
        let padding = String(repeating: "a", count: 490)
        let body = #"{"error":{"code":"X","message":"\#(padding)\#(secret) and more"}}"#
        let error = Self.map(400, body)
        #expect(!error.message.contains("s3cr3t"))
        #expect(!error.message.contains("kkkkk"))
        let html = Self.map(502, "<html><body><pre>Authorization: Bearer \(secret)</pre></body></html>")
        #expect(html.message.contains("Bearer ***") && !html.message.contains("kkkkk"))
        let huge = Self.map(500, String(repeating: "<p>boom</p>", count: 100_000))
        #expect(huge.message.count < 1000)
        let control = ODataErrors.parse(Data("line1\u{1b}[31m\nline2".utf8))
        #expect(control.message?.unicodeScalars.contains { $0.properties.generalCategory == .control } == false)
    }

    @Test("a code sent as a huge or fractional number, or as a nested object, never crashes")
    func oddCodes() {
        #expect(ODataErrors.parse(Data(#"{"error":{"code":1e300,"message":"m"}}"#.utf8)).message == "m")
        #expect(ODataErrors.parse(Data(#"{"error":{"code":1.5}}"#.utf8)).code == "1.5")
        #expect(ODataErrors.parse(Data(#"{"error":{"code":{"a":1},"message":[1,2]}}"#.utf8)).code == nil)
        #expect(ODataErrors.parse(Data("[1,2,3]".utf8)).message == "[1,2,3]")
    }
}
