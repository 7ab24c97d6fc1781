import Foundation
import Synchronization

/// Microsoft Entra ID's v2.0 token endpoint for the client-credentials grant:
/// `POST /{tenantId}/oauth2/v2.0/token` (counter `entra POST token`).
///
/// Error bodies follow Entra's shape `{"error","error_description","error_codes","timestamp","trace_id",
/// "correlation_id","error_uri"}` with the AADSTS codes Entra uses for each case (descriptions abridged).
package final class EntraSimulator: Sendable {
    /// The only scope the simulated app registration may request.
    package static let businessCentralScope = "https://api.businesscentral.dynamics.com/.default"

    package let tenantId: String
    /// Tokens issued here; the Business Central simulator accepts exactly these.
    package let tokens: TokenRegistry
    package let counters = RequestCounters()
    package let faults = FaultInjector()
    package let clock: SimulatorClock
    /// Further resources the app may ask a token for (`https://<F&O environment>/.default`), besides BC's.
    private let resources = Mutex<Set<String>>([])

    /// Lets the app registration ask for `scope` (a resource's application ID URI + `/.default`).
    package func allowScope(_ scope: String) { _ = resources.withLock { $0.insert(scope) } }

    /// - Parameters:
    ///   - tenantId: the directory (tenant) id accepted in the path (case-insensitive).
    ///   - credentials: the app registration's client id and secret.
    ///   - tokenLifetime: `expires_in` of issued tokens (Entra's usual value is 3599).
    package init(tenantId: String, credentials: ClientCredentials, tokenLifetime: Int = 3599, clock: SimulatorClock) {
        self.tenantId = tenantId
        self.clock = clock
        self.tokens = TokenRegistry(credentials: credentials, lifetime: tokenLifetime, clock: clock)
    }
}

extension EntraSimulator: SimulatorApp {
    var name: String { "entra" }

    func route(_ request: SimRequest) -> RouteMatch? {
        let parts = request.path.split(separator: "/", omittingEmptySubsequences: true)
        guard parts.count == 4, parts[1] == "oauth2", parts[2] == "v2.0", parts[3] == "token" else { return nil }
        return RouteMatch(system: "entra", endpoint: "token")
    }

    private func entraError(
        _ status: Int,
        _ error: String,
        code: Int,
        _ description: String,
        headers: [(name: String, value: String)] = []
    ) -> SimResponse {
        let trace = UUID().uuidString.lowercased()
        let correlation = UUID().uuidString.lowercased()
        let now = Date()
        let timestamp = String(Timestamps.millis(now).dropLast(5)) + "Z"
        let body = SimJSONObject([
            "error": .string(error),
            "error_description": .string(
                "AADSTS\(code): \(description) Trace ID: \(trace) Correlation ID: \(correlation) Timestamp: \(timestamp)"
            ),
            "error_codes": .array([.int(code)]),
            "timestamp": .string(timestamp),
            "trace_id": .string(trace),
            "correlation_id": .string(correlation),
            "error_uri": .string("https://login.microsoftonline.com/error?code=\(code)"),
        ])
        return .json(status, .object(body), headers: [("Cache-Control", "no-store, no-cache")] + headers)
    }

    func handle(_ request: SimRequest, route: RouteMatch) async -> SimResponse {
        let tenant = String(request.path.split(separator: "/")[0])
        guard request.method == "POST" else {
            return entraError(
                405, "invalid_request", code: 900561,
                "The endpoint only accepts POST requests. Received a \(request.method) request.")
        }
        guard tenant.lowercased() == tenantId.lowercased() else {
            return entraError(
                400, "invalid_request", code: 90002,
                "Tenant '\(tenant)' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud."
            )
        }
        let form = request.formBody()
        func field(_ name: String) -> String? { form.first { $0.name == name }?.value }
        guard let grantType = field("grant_type"), !grantType.isEmpty else {
            return entraError(
                400, "invalid_request", code: 900144,
                "The request body must contain the following parameter: 'grant_type'.")
        }
        guard grantType == "client_credentials" else {
            return entraError(
                400, "unsupported_grant_type", code: 70003,
                "The app requested an unsupported grant type '\(grantType)'.")
        }
        guard let clientId = field("client_id"), !clientId.isEmpty else {
            return entraError(
                400, "invalid_request", code: 900144,
                "The request body must contain the following parameter: 'client_id'.")
        }
        guard tokens.knowsClient(clientId) else {
            return entraError(
                400, "unauthorized_client", code: 700016,
                "Application with identifier '\(clientId)' was not found in the directory '\(tenant)'.")
        }
        guard let secret = field("client_secret"), !secret.isEmpty else {
            return entraError(
                401, "invalid_client", code: 7_000_216,
                "'client_assertion', 'client_secret' or 'request' is required for the 'client_credentials' grant type.")
        }
        guard tokens.authenticate(clientId: clientId, clientSecret: secret) else {
            return entraError(
                401, "invalid_client", code: 7_000_215,
                "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '\(clientId)'."
            )
        }
        guard let scope = field("scope"), !scope.isEmpty else {
            return entraError(
                400, "invalid_request", code: 900144, "The request body must contain the following parameter: 'scope'.")
        }
        guard scope == Self.businessCentralScope || resources.withLock({ $0.contains(scope) }) else {
            return entraError(
                400, "invalid_scope", code: 1_002_012,
                "The provided value for scope \(scope) is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI)."
            )
        }
        let issued = tokens.issue(clientId: clientId, audience: String(scope.dropLast("/.default".count)))
        let body = SimJSONObject([
            "token_type": .string("Bearer"),
            "expires_in": .int(issued.expiresIn),
            "ext_expires_in": .int(issued.expiresIn),
            "access_token": .string(issued.token),
        ])
        return .json(200, .object(body), headers: [("Cache-Control", "no-store, no-cache")])
    }

    func faultResponse(route: RouteMatch, status: Int, retryAfter: Int?, code: String?) -> SimResponse {
        let headers: [(name: String, value: String)] = retryAfter.map { [("Retry-After", String($0))] } ?? []
        let error = code ?? (status == 429 || status >= 500 ? "temporarily_unavailable" : "invalid_request")
        let aadsts = status == 429 ? 50196 : 90033
        return entraError(status, error, code: aadsts, "Simulated failure (HTTP \(status)).", headers: headers)
    }

    func notFound(_ request: SimRequest) -> SimResponse {
        entraError(404, "invalid_request", code: 900023, "Specified tenant identifier or endpoint is not valid.")
    }

    func expireTokens() { tokens.expireAll() }

    func rotateCredentials(_ credentials: ClientCredentials) { tokens.rotate(to: credentials) }

    func control(_ request: SimRequest) async -> SimResponse? { nil }
}
