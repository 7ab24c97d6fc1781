import ConnectorSimulators
import Foundation

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// A response as the tests see it.
struct HTTPResult: Sendable {
    var status: Int
    var headers: [String: String]
    var body: Data

    var json: SimJSON? { try? SimJSON.parse(Array(body)) }
    var text: String { String(decoding: body, as: UTF8.self) }

    func header(_ name: String) -> String? {
        headers.first { $0.key.lowercased() == name.lowercased() }?.value
    }

    /// `error.code` of a Business Central error body.
    var bcErrorCode: String? { json?["error"]?["code"]?.stringValue }
    var bcErrorMessage: String? { json?["error"]?["message"]?.stringValue }
}

struct TestFailure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// A real HTTP client (URLSession; libcurl on Linux) so the tests exercise real sockets.
enum HTTP {
    static let session: URLSession = {
        let configuration = URLSessionConfiguration.ephemeral
        configuration.requestCachePolicy = .reloadIgnoringLocalCacheData
        configuration.urlCache = nil
        configuration.httpCookieStorage = nil
        configuration.timeoutIntervalForRequest = 30
        return URLSession(configuration: configuration)
    }()

    static func send(
        _ method: String,
        _ url: String,
        headers: [String: String] = [:],
        body: Data? = nil
    ) async throws -> HTTPResult {
        guard let target = URL(string: url) else { throw TestFailure("bad URL \(url)") }
        var request = URLRequest(url: target)
        request.httpMethod = method
        for (name, value) in headers { request.setValue(value, forHTTPHeaderField: name) }
        request.httpBody = body
        let (data, response) = try await session.data(for: request)
        guard let http = response as? HTTPURLResponse else { throw TestFailure("not an HTTP response") }
        var fields: [String: String] = [:]
        for (key, value) in http.allHeaderFields {
            if let key = key as? String, let value = value as? String { fields[key] = value }
        }
        return HTTPResult(status: http.statusCode, headers: fields, body: data)
    }

    static func get(_ url: String, token: String? = nil, headers: [String: String] = [:]) async throws -> HTTPResult {
        var all = headers
        if let token { all["Authorization"] = "Bearer \(token)" }
        return try await send("GET", url, headers: all)
    }

    static func json(
        _ method: String,
        _ url: String,
        token: String?,
        body: SimJSON?,
        headers: [String: String] = [:]
    ) async throws -> HTTPResult {
        var all = headers
        if let token { all["Authorization"] = "Bearer \(token)" }
        all["Content-Type"] = "application/json"
        return try await send(method, url, headers: all, body: body.map { Data($0.serialized()) })
    }

    static func form(_ url: String, _ fields: [(String, String)], headers: [String: String] = [:]) async throws
        -> HTTPResult
    {
        var all = headers
        all["Content-Type"] = "application/x-www-form-urlencoded"
        let body = fields.map { "\(encode($0.0))=\(encode($0.1))" }.joined(separator: "&")
        return try await send("POST", url, headers: all, body: Data(body.utf8))
    }

    /// Percent-encodes everything except RFC 3986 unreserved characters.
    static func encode(_ text: String) -> String {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~")
        return text.addingPercentEncoding(withAllowedCharacters: allowed) ?? text
    }
}

/// Shorthands over a running host.
extension SimulatorHost {
    var companyURL: String { "\(businessCentralAPIURL)/companies(\(tenant.credentials.companyId))" }

    func entraToken() async throws -> String {
        let credentials = tenant.credentials
        let result = try await HTTP.form(
            entraTokenURL,
            [
                ("grant_type", "client_credentials"), ("client_id", credentials.entraClientId),
                ("client_secret", credentials.entraClientSecret), ("scope", EntraSimulator.businessCentralScope),
            ])
        guard result.status == 200, let token = result.json?["access_token"]?.stringValue else {
            throw TestFailure("Entra token request failed: \(result.status) \(result.text)")
        }
        return token
    }

    func jaggaerToken() async throws -> String {
        let credentials = tenant.credentials
        let result = try await HTTP.form(
            jaggaerTokenURL,
            [
                ("grant_type", "client_credentials"), ("client_id", credentials.jaggaerClientId),
                ("client_secret", credentials.jaggaerClientSecret),
            ])
        guard result.status == 200, let token = result.json?["access_token"]?.stringValue else {
            throw TestFailure("Keycloak token request failed: \(result.status) \(result.text)")
        }
        return token
    }

    /// GET on the BC API below the company, with `query` appended verbatim (already encoded).
    func bcGet(_ path: String, token: String, query: String = "", headers: [String: String] = [:]) async throws
        -> HTTPResult
    {
        try await HTTP.get(companyURL + "/" + path + (query.isEmpty ? "" : "?" + query), token: token, headers: headers)
    }
}

/// A small tenant that starts quickly; still has every deliberately broken category.
let smallTenant = DemoTenant.generate(invoiceCount: 60, seed: 7)

/// A purchase invoice body for vendor `vendorNumber` with Account lines.
func invoiceBody(
    vendorNumber: String,
    vendorInvoiceNumber: String,
    lines: [SimJSON]
) -> SimJSON {
    .object(
        SimJSONObject([
            "vendorNumber": .string(vendorNumber),
            "vendorInvoiceNumber": .string(vendorInvoiceNumber),
            "invoiceDate": .string("2026-11-10"),
            "purchaseInvoiceLines": .array(lines),
        ]))
}

func accountLine(
    _ account: String,
    quantity: String = "2",
    unitCost: String = "10.25",
    description: String = "Test line",
    dimensions: [(String, String)] = []
) -> SimJSON {
    var object = SimJSONObject([
        "lineType": .string("Account"),
        "lineObjectNumber": .string(account),
        "description": .string(description),
        "quantity": .number(quantity),
        "unitCost": .number(unitCost),
    ])
    if !dimensions.isEmpty {
        object["dimensionSetLines"] = .array(
            dimensions.map { .object(SimJSONObject(["code": .string($0.0), "valueCode": .string($0.1)])) })
    }
    return .object(object)
}

extension DemoTenant {
    /// A vendor usable for new invoices (not blocked).
    var openVendorNumber: String {
        businessCentral.vendors.first { $0.blocked == " " && $0.currencyCode.isEmpty }?.number ?? ""
    }
}
