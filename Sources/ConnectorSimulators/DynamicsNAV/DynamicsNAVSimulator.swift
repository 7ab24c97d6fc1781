import Foundation
import Logging
import Synchronization

/// Dynamics NAV 2017/2018 / BC on-premises OData V4 web services for one server instance, written from the
/// reference (§3) only: `/{instance}/ODataV4/$metadata`, `/{instance}/ODataV4/Company('name')/{Service}` (the
/// company by name, URL-encoded with quotes doubled, case-sensitive; or `Company(Id=…)`; or `?company=`; else the
/// default company), published UI pages with composite keys (`PurchaseInvoice(Document_Type='Invoice',No='…')`)
/// and lines as containments (`…/PurchaseInvoicePurchLines`), no deep insert, page validation (vendor, G/L account,
/// dimension values), Code fields in upper case, `@odata.etag` on every row and `If-Match` required on every change
/// (412 `Request_EntityChanged` when stale), HTTP Basic with the user name and web service access key, or an Entra
/// bearer token for the accepted audience where the simulator is given the Entra token registry (or a Windows-only
/// instance that answers 401 `Negotiate`/`NTLM`). Counters are keyed `dynamicsNAV <METHOD> <template>`
/// with templates such as `PurchaseInvoice`, `PurchaseInvoice({key})`, `PurchaseInvoice({key})/PurchaseInvoicePurchLines`,
/// `$metadata`; fault rules use system `dynamicsNAV` and these templates.
package final class DynamicsNAVSimulator: Sendable {
    package static let system = "dynamicsNAV"

    package struct Access: Sendable, Hashable {
        package var instance: String
        package var company: String
        package var username: String
        package var accessKey: String
        package init(instance: String, company: String, username: String, accessKey: String) {
            self.instance = instance
            self.company = company
            self.username = username
            self.accessKey = accessKey
        }
    }

    package struct Settings: Sendable {
        /// `ODataServicesMaxPageSize` (the server's default is 20,000).
        package var maxPageSize = 20_000
        /// The instance accepts Windows authentication only (Basic answers 401 with `Negotiate` and `NTLM`).
        package var windowsOnly = false
        /// The audience an Entra token must carry (BC on-premises `ValidAudiences` must include
        /// `https://api.businesscentral.dynamics.com` for service-to-service tokens, reference §3.3).
        package var oauthAudience = "https://api.businesscentral.dynamics.com"
        package init() {}
    }

    package let store: NAVStore
    package let counters = RequestCounters()
    package let faults = FaultInjector()
    package let clock: SimulatorClock
    /// The Entra simulator's tokens, accepted as bearer tokens (BC on-premises 18.11/19.5+ with client credentials,
    /// reference §3.3) beside Basic with the access key; nil: Basic only.
    package let tokens: TokenRegistry?
    let pages = NAVPageCatalog.pages()
    private let access: Mutex<Access>
    private let published: Mutex<Set<String>>
    private let settings = Mutex(Settings())

    package init(access: Access, clock: SimulatorClock, tokens: TokenRegistry? = nil) {
        self.access = Mutex(access)
        self.clock = clock
        self.tokens = tokens
        self.store = NAVStore(clock: clock)
        self.published = Mutex(Set(NAVPageCatalog.pages().keys))
    }

    package var accessDetails: Access { access.withLock { $0 } }

    package var configuration: Settings {
        get { settings.withLock { $0 } }
        set { settings.withLock { $0 = newValue } }
    }

    /// Takes a page off the Web Services page (it disappears from `$metadata` and answers 404).
    package func unpublish(_ service: String) { _ = published.withLock { $0.remove(service) } }

    var publishedServices: Set<String> { published.withLock { $0 } }

    package func withServer<T>(
        host: String = "127.0.0.1", port: Int = 0, logger: Logger = SimulatorHost.quietLogger,
        _ body: (_ baseURL: String) async throws -> T
    ) async throws -> T {
        let server = try await RunningServer.start(app: self, host: host, port: port, logger: logger)
        do {
            let result = try await body(server.baseURL)
            await server.stop()
            return result
        } catch {
            await server.stop()
            throw error
        }
    }
}

/// A parsed ODataV4 URL below `/{instance}/ODataV4/`.
struct NAVPath {
    var metadata = false
    var companyName: String?
    var companyId: String?
    var service = ""
    var key: [String: String]?
    var navigation: String?
    var navigationKey: [String: String]?

    var template: String {
        if metadata { return "$metadata" }
        var text = service
        if key != nil { text += "({key})" }
        if let navigation { text += "/" + navigation + (navigationKey != nil ? "({key})" : "") }
        return text
    }

    /// Splits `Name(inner)` into the name and the unquoted key values (`'a''b'` → `a'b`; a single unnamed value
    /// is keyed ``""``).
    static func segment(_ text: String) -> (name: String, key: [String: String]?)? {
        guard let open = text.firstIndex(of: "("), text.hasSuffix(")") else { return (text, nil) }
        let name = String(text[..<open])
        let inner = String(text[text.index(after: open)..<text.index(before: text.endIndex)])
        var key: [String: String] = [:]
        var parts: [String] = []
        var current = ""
        var quoted = false
        for character in inner {
            if character == "'" { quoted.toggle() }
            if character == ",", !quoted {
                parts.append(current)
                current = ""
            } else {
                current.append(character)
            }
        }
        parts.append(current)
        for part in parts {
            var field = ""
            var value = part
            if let equals = part.firstIndex(of: "="), !part.hasPrefix("'") {
                field = String(part[..<equals])
                value = String(part[part.index(after: equals)...])
            }
            if value.hasPrefix("'") {
                guard value.hasSuffix("'"), value.count >= 2 else { return nil }
                value = String(value.dropFirst().dropLast()).replacingOccurrences(of: "''", with: "'")
            }
            key[field] = value
        }
        return (name, key)
    }

    static func parse(_ rawPath: String, instance: String) -> NAVPath? {
        let parts = rawPath.split(separator: "/", omittingEmptySubsequences: true).map {
            SimRequest.percentDecode(String($0), plusIsSpace: false)
        }
        guard parts.count >= 3, parts[0] == instance, parts[1] == "ODataV4" else { return nil }
        var path = NAVPath()
        var rest = Array(parts.dropFirst(2))
        if rest == ["$metadata"] {
            path.metadata = true
            return path
        }
        if rest[0].hasPrefix("Company(") {
            guard let company = segment(rest[0]), let key = company.key else { return nil }
            if let id = key["Id"] { path.companyId = id } else { path.companyName = key[""] ?? "" }
            rest.removeFirst()
        }
        guard (1...2).contains(rest.count), let service = segment(rest[0]) else { return nil }
        path.service = service.name
        path.key = service.key
        if rest.count == 2 {
            guard path.key != nil, let navigation = segment(rest[1]) else { return nil }
            path.navigation = navigation.name
            path.navigationKey = navigation.key
        }
        return path
    }
}

extension DynamicsNAVSimulator: SimulatorApp {
    var name: String { "dynamics-nav" }

    func route(_ request: SimRequest) -> RouteMatch? {
        guard let path = NAVPath.parse(request.rawPath, instance: accessDetails.instance) else { return nil }
        return RouteMatch(system: Self.system, endpoint: path.template)
    }

    func error(_ error: BCError) -> SimResponse {
        .json(
            error.status,
            .object(
                SimJSONObject([
                    "error": .object(
                        SimJSONObject([
                            "code": .string(error.code),
                            "message": .string("\(error.message)  CorrelationId:  \(UUID().uuidString.lowercased())."),
                        ]))
                ])), headers: error.headers)
    }

    func faultResponse(route: RouteMatch, status: Int, retryAfter: Int?, code: String?) -> SimResponse {
        let headers: [(name: String, value: String)] = retryAfter.map { [("Retry-After", String($0))] } ?? []
        if status == 401 { return unauthorized() }
        return error(
            BCError(status, code ?? "Internal_ServerError", "Simulated failure (HTTP \(status)).", headers: headers))
    }

    func notFound(_ request: SimRequest) -> SimResponse {
        error(
            BCError(
                404, "BadRequest_NotFound", "No HTTP resource was found that matches the request URI '\(request.path)'."
            ))
    }

    func unauthorized() -> SimResponse {
        if configuration.windowsOnly {
            return .empty(401, headers: [("WWW-Authenticate", "Negotiate"), ("WWW-Authenticate", "NTLM")])
        }
        var response = error(
            BCError(401, "Authentication_InvalidCredentials", "The server has rejected the client credentials."))
        response.headers.append(("WWW-Authenticate", "Basic realm=\"\""))
        if tokens != nil { response.headers.append(("WWW-Authenticate", "Bearer")) }
        return response
    }

    /// Web service access keys do not expire on their own here; nothing to invalidate.
    func expireTokens() {}

    /// `clientId` = user name, `clientSecret` = the new access key.
    func rotateCredentials(_ credentials: ClientCredentials) {
        access.withLock {
            $0.username = credentials.clientId
            $0.accessKey = credentials.clientSecret
        }
    }

    func control(_ request: SimRequest) async -> SimResponse? {
        switch (request.method, request.path) {
        case ("POST", "/_sim/nav/unpublish"):
            guard let service = (try? request.jsonBody())?["service"]?.stringValue else {
                return controlError("expected {\"service\": \"…\"}")
            }
            unpublish(service)
            return .empty(204)
        case ("POST", "/_sim/nav/post-journal"):
            guard let document = (try? request.jsonBody())?["documentNo"]?.stringValue else {
                return controlError("expected {\"documentNo\": \"…\"}")
            }
            store.postJournalDocument(company: accessDetails.company, documentNumber: document)
            return .empty(204)
        case ("POST", "/_sim/nav/pay"):
            // `{"vendorNumber", "vendorInvoiceNumber", "amount"?}`: posts the invoice if it is not yet, then pays it
            // (in full, or `amount` of it), as finance would in NAV.
            guard let (vendor, number, amount, _) = request.payControl() else {
                return controlError(SimRequest.payControlUsage)
            }
            guard
                let entry = store.pay(
                    company: accessDetails.company, vendorNumber: vendor, vendorInvoiceNumber: number, amount: amount)
            else {
                return controlError("no invoice \(number) of vendor \(vendor)", status: 404)
            }
            return .json(200, .object(SimJSONObject(["entryNo": .int(entry)])))
        default:
            return nil
        }
    }

    func authorized(_ request: SimRequest) -> Bool {
        guard !configuration.windowsOnly, let header = request.header("Authorization") else { return false }
        if header.hasPrefix("Bearer ") {
            // A token Entra issued, not expired, for the audience the instance accepts.
            guard let tokens, let holder = tokens.holder(of: String(header.dropFirst(7))) else { return false }
            return holder.audience == configuration.oauthAudience
        }
        guard header.hasPrefix("Basic "),
            let data = Data(base64Encoded: String(header.dropFirst(6))),
            let text = String(data: data, encoding: .utf8)
        else { return false }
        let access = accessDetails
        return text == "\(access.username):\(access.accessKey)"
    }

    func handle(_ request: SimRequest, route: RouteMatch) async -> SimResponse {
        guard authorized(request) else { return unauthorized() }
        guard let path = NAVPath.parse(request.rawPath, instance: accessDetails.instance) else {
            return notFound(request)
        }
        if path.metadata {
            return SimResponse(
                status: 200, headers: [("Content-Type", "application/xml")],
                body: Array(NAVPageCatalog.metadata(pages, published: publishedServices).utf8))
        }
        do {
            let company: String
            if let name = path.companyName {
                company = name
            } else if let id = path.companyId {
                guard let name = store.companyName(id: id) else {
                    throw BCError(400, "Internal_CompanyNotFound", "The company with id '\(id)' does not exist.")
                }
                company = name
            } else if let name = request.queryValue("company") {
                company = name
            } else {
                guard let name = store.companyName(id: nil) else {
                    throw BCError(
                        400, "Internal_CompanyNotFound",
                        "Cannot process the request because the default company cannot be found.")
                }
                company = name
            }
            let context = NAVRequestContext(simulator: self, request: request, path: path, company: company)
            return try context.respond()
        } catch let failure as BCError {
            return self.error(failure)
        } catch {
            return self.error(BCError(500, "Internal_ServerError", "\(error)"))
        }
    }
}
