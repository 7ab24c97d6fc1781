import Foundation
import Hummingbird
import Logging

/// Which system and endpoint a request addresses; `endpoint` is the path template used for counters and faults.
struct RouteMatch: Sendable {
    var system: String
    var endpoint: String
    /// App-specific detail the app needs to shape a fault reply (SAP Business One: the API version `v1`/`v2`).
    var detail: String? = nil
}

/// One simulated system (or pair of systems on one host) served by one Hummingbird application.
protocol SimulatorApp: Sendable {
    /// Label used in logs.
    var name: String { get }
    var counters: RequestCounters { get }
    var faults: FaultInjector { get }
    var clock: SimulatorClock { get }

    /// Maps a request to its endpoint, or nil when the path is unknown.
    func route(_ request: SimRequest) -> RouteMatch?
    /// Handles a routed request.
    func handle(_ request: SimRequest, route: RouteMatch) async -> SimResponse
    /// The system's own error reply for an injected `status` fault.
    func faultResponse(route: RouteMatch, status: Int, retryAfter: Int?, code: String?) -> SimResponse
    /// The reply for an unknown path.
    func notFound(_ request: SimRequest) -> SimResponse
    /// Invalidates every token this app accepts.
    func expireTokens()
    /// Rotates the accepted client credentials (`POST /_sim/credentials`).
    func rotateCredentials(_ credentials: ClientCredentials)
    /// App-specific `/_sim/...` routes; nil when the path is not one of them.
    func control(_ request: SimRequest) async -> SimResponse?
    /// Background work that lives as long as the app's server (e.g. BC webhook deliveries); it calls `ready` once
    /// it can serve (the server starts only then) and must return promptly once its task is cancelled. The default
    /// is ready at once and does nothing.
    func runBackground(ready: @escaping @Sendable () -> Void) async
}

extension SimulatorApp {
    func runBackground(ready: @escaping @Sendable () -> Void) async { ready() }
}

extension SimulatorApp {
    /// Runs the common request pipeline: control routes, routing, counting, faults, handling.
    func respond(to request: SimRequest) async -> (response: SimResponse, truncate: Bool) {
        if request.path.hasPrefix("/_sim/") || request.path == "/_sim" {
            return (await commonControl(request), false)
        }
        guard let route = route(request) else { return (notFound(request), false) }
        counters.increment("\(route.system) \(request.method) \(route.endpoint)")
        guard
            let fault = faults.consume(
                system: route.system, method: request.method, endpoint: route.endpoint, path: request.path)
        else {
            return (await handle(request, route: route), false)
        }
        switch fault.kind {
        case .status:
            return (
                faultResponse(route: route, status: fault.status, retryAfter: fault.retryAfter, code: fault.errorCode),
                false
            )
        case .latency:
            try? await Task.sleep(for: .milliseconds(fault.latencyMs))
            return (await handle(request, route: route), false)
        case .expireTokens, .expireSessions:
            expireTokens()
            return (await handle(request, route: route), false)
        case .dropBeforeCommit:
            return (SimResponse(status: 200, headers: [("Content-Type", "application/json")]), true)
        case .dropAfterCommit:
            return (await handle(request, route: route), true)
        }
    }

    private func commonControl(_ request: SimRequest) async -> SimResponse {
        switch (request.method, request.path) {
        case ("GET", "/_sim/counters"):
            var object = SimJSONObject()
            for (key, value) in counters.snapshot().sorted(by: { $0.key < $1.key }) { object[key] = .int(value) }
            return .json(200, .object(object))
        case ("POST", "/_sim/counters/reset"):
            counters.reset()
            return .empty(204)
        case ("GET", "/_sim/faults"):
            return .json(200, .array(faults.activeRules.map(\.json)))
        case ("POST", "/_sim/faults"):
            do {
                let body = try request.jsonBody()
                let items = body.arrayValue ?? [body]
                var rules: [FaultRule] = []
                for item in items { rules.append(try FaultRule(json: item)) }
                faults.add(rules)
                return .json(200, .array(faults.activeRules.map(\.json)))
            } catch {
                return controlError("\(error)")
            }
        case ("DELETE", "/_sim/faults"):
            faults.clear()
            return .empty(204)
        case ("POST", "/_sim/credentials"):
            guard let body = try? request.jsonBody(), let clientId = body["clientId"]?.stringValue,
                let clientSecret = body["clientSecret"]?.stringValue
            else { return controlError("expected {\"clientId\": \"...\", \"clientSecret\": \"...\"}") }
            rotateCredentials(ClientCredentials(clientId: clientId, clientSecret: clientSecret))
            return .empty(204)
        case ("POST", "/_sim/tokens/expire"):
            expireTokens()
            return .empty(204)
        case ("POST", "/_sim/clock/advance"):
            guard let body = try? request.jsonBody(), let seconds = body["seconds"]?.decimalValue else {
                return controlError("expected {\"seconds\": N}")
            }
            clock.advance(by: NSDecimalNumber(decimal: seconds).doubleValue)
            return .empty(204)
        default:
            if let response = await control(request) { return response }
            return controlError("unknown simulator control endpoint \(request.method) \(request.path)", status: 404)
        }
    }

    func controlError(_ message: String, status: Int = 400) -> SimResponse {
        .json(status, .object(SimJSONObject(["error": .string(message)])))
    }
}

/// Adapts a ``SimulatorApp`` to Hummingbird.
struct SimulatorResponder: HTTPResponder {
    typealias Context = BasicRequestContext
    let app: any SimulatorApp

    func respond(to request: Request, context: BasicRequestContext) async throws -> Response {
        let simRequest = try await SimRequest.read(request)
        let (response, truncate) = await app.respond(to: simRequest)
        return response.hummingbird(truncate: truncate)
    }
}
