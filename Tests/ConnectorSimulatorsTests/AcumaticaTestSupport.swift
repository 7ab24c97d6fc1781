import ConnectorSimulators
import Foundation
import Hummingbird
import Logging
import NIOCore
import ServiceLifecycle
import Synchronization

/// How a test request to Acumatica signs in.
enum AcuAuth {
    case bearer(String)
    /// The `Cookie` header value from a sign-in.
    case cookie(String)
    case none
}

extension SimulatorHost {
    /// Password grant with the demo integration user.
    func acumaticaTokens(scope: String = "api offline_access") async throws -> (access: String, refresh: String?) {
        let access = acumatica.access
        let result = try await HTTP.form(
            acumaticaBaseURL + "/identity/connect/token",
            [
                ("grant_type", "password"), ("client_id", access.clientId), ("client_secret", access.clientSecret),
                ("username", access.username), ("password", access.password), ("scope", scope),
            ])
        guard result.status == 200, let token = result.json?["access_token"]?.stringValue else {
            throw TestFailure("Acumatica token request failed: \(result.status) \(result.text)")
        }
        return (token, result.json?["refresh_token"]?.stringValue)
    }

    /// Cookie sign-in; returns the `Cookie` header to send afterwards.
    func acumaticaLogin(branch: String? = nil) async throws -> String {
        let result = try await acumaticaLoginResult(branch: branch)
        guard result.status == 204 else { throw TestFailure("sign-in failed: \(result.status) \(result.text)") }
        return try cookieHeader(from: result)
    }

    func acumaticaLoginResult(password: String? = nil, branch: String? = nil) async throws -> HTTPResult {
        let access = acumatica.access
        var body = SimJSONObject([
            "name": .string(access.username), "password": .string(password ?? access.password),
            "tenant": .string(access.tenant),
        ])
        if let branch { body["branch"] = .string(branch) }
        return try await HTTP.json("POST", acumaticaBaseURL + "/entity/auth/login", token: nil, body: .object(body))
    }

    /// A request below the first deployed endpoint (`{instance}/entity/Default/24.200.001/<path>?<query>`); the
    /// query is appended verbatim (already encoded).
    func acu(
        _ method: String, _ path: String, auth: AcuAuth, query: String = "", body: SimJSON? = nil,
        headers: [String: String] = [:]
    ) async throws -> HTTPResult {
        var all = headers
        switch auth {
        case .bearer(let token): all["Authorization"] = "Bearer \(token)"
        case .cookie(let cookie): all["Cookie"] = cookie
        case .none: break
        }
        let url = acumaticaEndpointURL + "/" + path + (query.isEmpty ? "" : "?" + query)
        if let body {
            all["Content-Type"] = "application/json"
            return try await HTTP.send(method, url, headers: all, body: Data(body.serialized()))
        }
        return try await HTTP.send(method, url, headers: all)
    }
}

/// The `name=value` pairs of the `Set-Cookie` headers of a response, as one `Cookie` header value.
func cookieHeader(from result: HTTPResult) throws -> String {
    guard let raw = result.header("Set-Cookie") else { throw TestFailure("no Set-Cookie header") }
    // URLSession folds several Set-Cookie fields into one, separated by ", ".
    var pairs: [String] = []
    for part in raw.components(separatedBy: ", ") {
        guard let pair = part.split(separator: ";").first, pair.contains("=") else { continue }
        pairs.append(pair.trimmingCharacters(in: .whitespaces))
    }
    return pairs.joined(separator: "; ")
}

/// `{"value": v}`.
func wrapped(_ value: SimJSON) -> SimJSON { .object(SimJSONObject(["value": value])) }

/// A record body from unwrapped pairs.
func record(_ pairs: [(String, SimJSON)], details: [SimJSON]? = nil) -> SimJSON {
    var object = SimJSONObject()
    for (key, value) in pairs { object[key] = wrapped(value) }
    if let details { object["Details"] = .array(details) }
    return .object(object)
}

/// Percent-encodes a `$filter` value for the query string (space as %20, `'` kept).
func encodeFilter(_ text: String) -> String {
    var allowed = CharacterSet.alphanumerics
    allowed.insert(charactersIn: "-._~'()")
    return text.addingPercentEncoding(withAllowedCharacters: allowed) ?? text
}

extension DemoTenant {
    /// An invoice of an active Acumatica vendor whose lines all carry a JAGGAER PO number.
    var acumaticaPOInvoice: (vendor: String, poNumber: String, lines: [(line: Int, quantity: Decimal)])? {
        let active = Set(businessCentral.vendors.filter { $0.blocked == " " }.map(\.number))
        for invoice in jaggaerInvoices {
            let header = invoice["header"]
            guard DemoTenant.expectedOutcome(of: invoice, in: businessCentral) == .drafted,
                let vendor = header?["supplier"]?["supplierNumber"]?.stringValue, active.contains(vendor)
            else { continue }
            let lines = invoice["lineList"]?["invoiceLine"]?.arrayValue ?? []
            let linked = lines.compactMap { line -> (String, Int, Decimal)? in
                guard let po = line["poNumber"]?.stringValue, let number = line["poLineNumber"]?.stringValue,
                    let lineNbr = Int(number), let quantity = line["quantity"]?.decimalValue
                else { return nil }
                return (po, lineNbr, quantity)
            }
            guard lines.count >= 2, linked.count == lines.count else { continue }
            return (vendor, linked[0].0, linked.map { ($0.1, $0.2) })
        }
        return nil
    }

    /// Another active vendor than `vendor`.
    func otherActiveVendor(than vendor: String) -> String {
        businessCentral.vendors.first { $0.blocked == " " && $0.number != vendor }?.number ?? ""
    }
}

// MARK: Push receiver

/// A loopback HTTP endpoint that records push notifications and answers with queued statuses (then 200).
final class PushReceiver: Sendable {
    struct Received: Sendable {
        var headers: [String: String]
        var body: [UInt8]
    }

    private let state = Mutex<(received: [Received], replies: [Int])>(([], []))
    let port: Int

    init(port: Int) { self.port = port }

    var url: String { "http://127.0.0.1:\(port)/acumatica/push" }
    var received: [Received] { state.withLock { $0.received } }

    func reply(with statuses: [Int]) { state.withLock { $0.replies = statuses } }

    func respond(headers: [String: String], body: [UInt8]) -> Int {
        state.withLock { state in
            state.received.append(Received(headers: headers, body: body))
            return state.replies.isEmpty ? 200 : state.replies.removeFirst()
        }
    }
}

private final class PendingReceiver: Sendable {
    private let value = Mutex<PushReceiver?>(nil)
    func set(_ receiver: PushReceiver) { value.withLock { $0 = receiver } }
    var receiver: PushReceiver? { value.withLock { $0 } }
}

private struct PushResponder: HTTPResponder {
    typealias Context = BasicRequestContext
    let pending: PendingReceiver

    func respond(to request: Request, context: BasicRequestContext) async throws -> Response {
        let buffer = try await request.body.collect(upTo: 1 << 20)
        guard let receiver = pending.receiver else { return Response(status: .serviceUnavailable) }
        var headers: [String: String] = [:]
        for field in request.headers { headers[field.name.canonicalName] = field.value }
        let status = receiver.respond(headers: headers, body: Array(buffer.readableBytesView))
        return Response(status: HTTPResponse.Status(code: status))
    }
}

private let receiverLogger: Logger = {
    var logger = Logger(label: "push-receiver")
    logger.logLevel = .critical
    return logger
}()

/// Runs a ``PushReceiver`` for the duration of `body`.
func withPushReceiver(_ body: (PushReceiver) async throws -> Void) async throws {
    let (ports, continuation) = AsyncStream<Int>.makeStream()
    try await withThrowingTaskGroup(of: Void.self) { group in
        let pending = PendingReceiver()
        let application = Application(
            responder: PushResponder(pending: pending),
            configuration: ApplicationConfiguration(address: .hostname("127.0.0.1", port: 0)),
            onServerRunning: { channel in continuation.yield(channel.localAddress?.port ?? 0) },
            logger: receiverLogger)
        let serviceGroup = ServiceGroup(configuration: .init(services: [application], logger: receiverLogger))
        group.addTask {
            defer { continuation.finish() }
            try await serviceGroup.run()
        }
        var port = 0
        for await value in ports {
            port = value
            break
        }
        guard port != 0 else {
            await serviceGroup.triggerGracefulShutdown()
            throw TestFailure("the push receiver did not start")
        }
        let receiver = PushReceiver(port: port)
        pending.set(receiver)
        do {
            try await body(receiver)
        } catch {
            await serviceGroup.triggerGracefulShutdown()
            throw error
        }
        await serviceGroup.triggerGracefulShutdown()
    }
}
