import Foundation
import Logging

/// JAGGAER ONE (J1P) with its Keycloak realm `J1p-integrations` on the same host, as the real tenant is set up.
///
/// Endpoints (see `reference/jaggaer-b1-acumatica-apis.md` §1):
/// - `POST /auth/realms/J1p-integrations/protocol/openid-connect/token` (counter `keycloak POST token`)
/// - `GET /j1p/api/public/ji/v1/invoices` (counter `jaggaer GET invoices`) — path and query parameter names
///   are UNCONFIRMED; this simulator implements `startAt`, `maxRecords`, `lastUpdateFrom`, `workflowStatus`,
///   `orderBy`; items are sparse headers sorted by `invoiceId` unless ``listOptions`` say otherwise.
/// - `GET /j1p/api/public/ji/v1/invoices/{invoiceId}` (counter `jaggaer GET invoices/{id}`)
/// - control: `POST /_sim/invoices` (add/replace one invoice or an array; `"touch": true` in the query bumps
///   `lastUpdate`), plus the common `/_sim/*` routes.
package final class JaggaerSimulator: Sendable {
    package static let realm = "J1p-integrations"
    package static let tokenPath = "/auth/realms/J1p-integrations/protocol/openid-connect/token"
    package static let invoicesPath = "/j1p/api/public/ji/v1/invoices"
    /// Largest accepted `maxRecords`; larger values are clamped (the real limit is UNCONFIRMED).
    package static let maxPageSize = 200
    package static let defaultPageSize = 50

    package let invoices: JaggaerInvoiceStore
    /// Suppliers, coding values and payment statuses written by the ERP side (JaggaerSimulator+Writes.swift).
    package let writes = JaggaerWriteStore()
    /// Keycloak's tokens for the JAGGAER API.
    package let tokens: TokenRegistry
    package let counters = RequestCounters()
    package let faults = FaultInjector()
    package let clock: SimulatorClock
    /// Order and paging faults of the list endpoints (see `JaggaerListing.swift`).
    package let listOptions = JaggaerListOptions()
    /// Purchase orders (see `JaggaerPurchaseOrders.swift`; the API is UNCONFIRMED).
    package let purchaseOrders = JaggaerPurchaseOrderStore()

    package init(credentials: ClientCredentials, tokenLifetime: Int = 300, clock: SimulatorClock) {
        self.clock = clock
        self.invoices = JaggaerInvoiceStore(clock: clock)
        self.tokens = TokenRegistry(credentials: credentials, lifetime: tokenLifetime, clock: clock)
    }
}

extension JaggaerSimulator: SimulatorApp {
    var name: String { "jaggaer" }

    func route(_ request: SimRequest) -> RouteMatch? {
        let path =
            request.path.count > 1 && request.path.hasSuffix("/") ? String(request.path.dropLast()) : request.path
        if path == Self.tokenPath { return RouteMatch(system: "keycloak", endpoint: "token") }
        if path == Self.invoicesPath { return RouteMatch(system: "jaggaer", endpoint: "invoices") }
        if let write = writeRoute(request) { return write }
        if path.hasPrefix(Self.invoicesPath + "/"), !path.dropFirst(Self.invoicesPath.count + 1).contains("/") {
            return RouteMatch(system: "jaggaer", endpoint: "invoices/{id}")
        }
        return purchaseOrderRoute(path)
    }

    func handle(_ request: SimRequest, route: RouteMatch) async -> SimResponse {
        switch route.endpoint {
        case "token": return tokenEndpoint(request)
        case "invoices": return authorized(request) ?? listInvoicePage(request)
        case "purchaseorders", "purchaseorders/{id}":
            return authorized(request) ?? handlePurchaseOrders(request, route: route)
        case let endpoint where Self.isWriteEndpoint(endpoint):
            return authorized(request) ?? handleWrite(request, route: route)
        default: return authorized(request) ?? getInvoice(request)
        }
    }

    // MARK: Keycloak

    private func keycloakError(_ status: Int, _ error: String, _ description: String) -> SimResponse {
        .json(
            status,
            .object(SimJSONObject(["error": .string(error), "error_description": .string(description)])),
            headers: [("Cache-Control", "no-store"), ("Pragma", "no-cache")])
    }

    private func tokenEndpoint(_ request: SimRequest) -> SimResponse {
        guard request.method == "POST" else {
            return keycloakError(405, "invalid_request", "HTTP method \(request.method) not supported")
        }
        let form = request.formBody()
        func field(_ name: String) -> String? { form.first { $0.name == name }?.value }
        // Keycloak checks, in order: grant_type present, client authentication, grant type supported.
        guard let grantType = field("grant_type"), !grantType.isEmpty else {
            return keycloakError(400, "invalid_request", "Missing form parameter: grant_type")
        }
        var clientId = field("client_id")
        var clientSecret = field("client_secret")
        if let authorization = request.header("Authorization"), authorization.lowercased().hasPrefix("basic ") {
            let encoded = String(authorization.dropFirst(6)).trimmingCharacters(in: .whitespaces)
            if let data = Data(base64Encoded: encoded), let decoded = String(data: data, encoding: .utf8),
                let colon = decoded.firstIndex(of: ":")
            {
                clientId = SimRequest.percentDecode(String(decoded[..<colon]), plusIsSpace: true)
                clientSecret = SimRequest.percentDecode(
                    String(decoded[decoded.index(after: colon)...]), plusIsSpace: true)
            }
        }
        guard let clientId, let clientSecret, tokens.authenticate(clientId: clientId, clientSecret: clientSecret) else {
            return keycloakError(401, "invalid_client", "Invalid client or Invalid client credentials")
        }
        guard grantType == "client_credentials" else {
            return keycloakError(400, "unsupported_grant_type", "Unsupported grant_type")
        }
        let issued = tokens.issue(clientId: clientId)
        let body = SimJSONObject([
            "access_token": .string(issued.token),
            "expires_in": .int(issued.expiresIn),
            "refresh_expires_in": .int(0),
            "token_type": .string("Bearer"),
            "not-before-policy": .int(0),
            "scope": .string("profile email"),
        ])
        return .json(200, .object(body), headers: [("Cache-Control", "no-store"), ("Pragma", "no-cache")])
    }

    // MARK: JAGGAER API

    /// The error envelope. UNCONFIRMED: JAGGAER's 4xx/5xx body is not public; this reuses the success envelope's
    /// `returnCode` (non-zero, here the HTTP status) and `returnMessage` fields.
    private func apiError(_ status: Int, _ message: String, headers: [(name: String, value: String)] = [])
        -> SimResponse
    {
        .json(
            status,
            .object(SimJSONObject(["returnCode": .int(status), "returnMessage": .string(message)])),
            headers: headers)
    }

    /// Nil when the bearer token is valid, else the 401 reply (body shape UNCONFIRMED, see ``apiError``).
    private func authorized(_ request: SimRequest) -> SimResponse? {
        if let authorization = request.header("Authorization"), authorization.lowercased().hasPrefix("bearer ") {
            let token = String(authorization.dropFirst(7)).trimmingCharacters(in: .whitespaces)
            if tokens.isValid(token) { return nil }
            return apiError(
                401, "Invalid or expired access token",
                headers: [("WWW-Authenticate", "Bearer realm=\"\(Self.realm)\", error=\"invalid_token\"")])
        }
        return apiError(401, "Missing bearer token", headers: [("WWW-Authenticate", "Bearer realm=\"\(Self.realm)\"")])
    }

    private func getInvoice(_ request: SimRequest) -> SimResponse {
        guard request.method == "GET" else { return apiError(405, "Method \(request.method) not allowed") }
        let idText = request.path.split(separator: "/").last.map(String.init) ?? ""
        guard let id = Int(idText), let invoice = invoices.invoice(id: id) else {
            return apiError(404, "Invoice \(idText) not found")
        }
        return .json(200, invoice)
    }

    // MARK: Simulator plumbing

    func faultResponse(route: RouteMatch, status: Int, retryAfter: Int?, code: String?) -> SimResponse {
        let headers: [(name: String, value: String)] = retryAfter.map { [("Retry-After", String($0))] } ?? []
        if route.system == "keycloak" {
            let error =
                code ?? (status == 429 ? "too_many_requests" : status >= 500 ? "server_error" : "invalid_request")
            var response = keycloakError(status, error, "Simulated failure (HTTP \(status))")
            response.headers += headers
            return response
        }
        return apiError(status, code ?? "Simulated failure (HTTP \(status))", headers: headers)
    }

    func notFound(_ request: SimRequest) -> SimResponse {
        apiError(404, "No resource at \(request.path)")
    }

    func expireTokens() { tokens.expireAll() }

    func rotateCredentials(_ credentials: ClientCredentials) { tokens.rotate(to: credentials) }

    func control(_ request: SimRequest) async -> SimResponse? {
        if let response = listControl(request) { return response }
        if let response = writesControl(request) { return response }
        guard request.method == "POST", request.path == "/_sim/invoices" else { return nil }
        do {
            let body = try request.jsonBody()
            let documents = body.arrayValue ?? [body]
            let touch = request.queryValue("touch") == "true"
            var saved: [SimJSON] = []
            for document in documents {
                if touch || document["header"]?["lastUpdate"] == nil {
                    saved.append(try invoices.save(document))
                } else {
                    try invoices.upsert(document)
                    saved.append(document)
                }
            }
            return .json(200, .array(saved.map { $0["header"] ?? .null }))
        } catch {
            return controlError("\(error)")
        }
    }
}
