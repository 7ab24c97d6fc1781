import ConnectorCore
import ConnectorHTTP
import ConnectorRunner
import ConnectorRuntime
import ConnectorSecurity
import ConnectorSimulators
import Foundation
import Logging
import ServiceLifecycle

#if canImport(Glibc)
    import Glibc
#endif

/// The demo's F&O purchase-order leg (issue 11): the confirmed purchase orders `push-purchase-orders` sent to JAGGAER
/// on the scheduled purchase-order sync, then one more confirmed in F&O whose "Purchase order confirmed" business
/// event reaches the webhook gateway twice (F&O delivers duplicates and out of order), so JAGGAER gets that order
/// once, read over OData, and the duplicate is dropped.
struct DemoLegFinanceOperations: Codable, Sendable {
    /// Purchase orders in JAGGAER from F&O after the scheduled sync.
    var pushedOnSchedule: Int
    /// The order confirmed during the demo.
    var confirmed: String
    /// Business-event deliveries the gateway answered 2xx (a duplicate among them).
    var deliveries: Int
    /// `PUT`s of that order to JAGGAER (1: the duplicate was dropped; 0 when an earlier run sent the same order).
    var pushesOfConfirmed: Int
    var inJaggaer: Bool
    var expectationsMet: Bool

    static func run(
        runner: Runner, store: any StateStore, vault: Vault, connection: Connection,
        endpoints: SimulatorEndpoints, erp: SimulatorEndpoints.ERP, logger: Logger
    ) async throws -> DemoLegFinanceOperations {
        let writesURL = endpoints.jaggaer.baseURL.trimmingTrailingSlash + "/_sim/jaggaer/writes"
        let countersURL = endpoints.jaggaer.baseURL.trimmingTrailingSlash + "/_sim/counters"
        let before = try await purchaseOrders(writesURL)
        let pushedOnSchedule = before.count
        // The connection takes business events: a secret in the endpoint URL, as F&O's Key Vault URL would hold it.
        let secret = (0..<32).map { _ in "abcdefghijklmnopqrstuvwxyz0123456789".randomElement().map(String.init) ?? "x"
        }
        .joined()
        var hooked = connection
        hooked.notifications = try JSONCoding.decode(
            NotificationSettings.self,
            from: try JSONCoding.encode(
                JSONValue.object([erp.kind: .object(["secret": .string(secret), "queryParameter": .string("code")])])))
        try await ConnectionStore(store: store, vault: vault).save(hooked)

        let port = try freePort()
        let gateway = WebhookGateway(
            runner: runner, binDirectory: runner.options.binDirectory, environment: runner.options.environment,
            logPath: runner.options.logPath, logger: logger)
        let services = ServiceGroup(
            configuration: .init(services: [gateway.server(host: "127.0.0.1", port: port)], logger: logger))
        let number = FODemoData.unconfirmedPurchaseOrder
        // A second demo run against the same simulators confirms it again: JAGGAER has it already, unchanged.
        let alreadyThere = before[number] != nil
        let putsBefore = try await putCount(countersURL)
        let report: JSONValue = try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await services.run() }
            do {
                try await waitUntilServing("http://127.0.0.1:\(port)/healthz")
                let base = erp.baseURL.trimmingTrailingSlash
                _ = try await post(
                    base + "/_sim/fo/businessevents/endpoint",
                    .object([
                        "url": .string(
                            "http://127.0.0.1:\(port)/webhooks/\(connection.id)/\(erp.kind)?code=\(secret)"),
                        "seed": .number(11),
                    ]))
                // Every event delivered twice, in shuffled order.
                let report = try await post(
                    base + "/_sim/fo/businessevents/purchaseorderconfirmed",
                    .object([
                        "numbers": .array([.string(number)]), "duplicates": .number(1), "reorder": .bool(true),
                        "seed": .number(11),
                    ]))
                try await runner.drain(waitForDelayed: true, deadline: Date().addingTimeInterval(120))
                await services.triggerGracefulShutdown()
                try await group.waitForAll()
                return report
            } catch {
                await services.triggerGracefulShutdown()
                try? await group.waitForAll()
                throw error
            }
        }
        var deliveries = 0
        if case .array(let items)? = report["deliveries"] {
            deliveries =
                items.filter { item in
                    guard case .number(let status)? = item["status"] else { return false }
                    return status >= 200 && status < 300
                }.count
        }
        let pushes = try await putCount(countersURL) - putsBefore
        let inJaggaer = try await purchaseOrders(writesURL)[number] != nil
        return DemoLegFinanceOperations(
            pushedOnSchedule: pushedOnSchedule, confirmed: number, deliveries: deliveries, pushesOfConfirmed: pushes,
            inJaggaer: inJaggaer,
            expectationsMet: pushedOnSchedule > 0 && deliveries == 2 && pushes == (alreadyThere ? 0 : 1) && inJaggaer)
    }

    func lines() -> [String] {
        [
            "F&O confirmed purchase orders → JAGGAER:",
            "  \(pushedOnSchedule) pushed by the scheduled sync (confirmed POs, read whole and diffed)",
            "  \(confirmed) confirmed in F&O: business event delivered \(deliveries)× (a duplicate), "
                + "pushed \(pushesOfConfirmed)×, \(inJaggaer ? "in JAGGAER" : "NOT in JAGGAER")"
                + (expectationsMet ? "" : "  NOT MET"),
        ]
    }

    // MARK: Helpers

    private static func send(_ method: String, _ url: String, body: JSONValue? = nil) async throws -> HTTPResponse {
        let transport = AsyncHTTPClientTransport()
        do {
            let response = try await transport.send(
                HTTPRequest(
                    method: method, url: url, headers: [("Content-Type", "application/json")],
                    body: try body.map { try JSONCoding.encode($0) }, timeout: .seconds(60)))
            await transport.shutdown()
            return response
        } catch {
            await transport.shutdown()
            throw error
        }
    }

    private static func post(_ url: String, _ body: JSONValue) async throws -> JSONValue {
        let response = try await send("POST", url, body: body)
        guard response.isSuccess else {
            throw ConnectorError(.upstreamUnavailable, "the simulator's \(url) answered \(response.status)")
        }
        return response.body.isEmpty ? .null : try JSONCoding.decode(JSONValue.self, from: response.body)
    }

    private static func purchaseOrders(_ url: String) async throws -> [String: JSONValue] {
        let response = try await send("GET", url)
        guard response.isSuccess,
            case .object(let orders)? = try JSONCoding.decode(JSONValue.self, from: response.body)[
                "purchaseOrders"]
        else { return [:] }
        return orders
    }

    private static func putCount(_ url: String) async throws -> Int {
        let response = try await send("GET", url)
        guard response.isSuccess else { return 0 }
        let counters = try JSONCoding.decode([String: Int].self, from: response.body)
        return counters["jaggaer PUT erppurchaseorders/{number}"] ?? 0
    }

    private static func waitUntilServing(_ url: String) async throws {
        for _ in 0..<100 {
            if let response = try? await send("GET", url), response.isSuccess { return }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw ConnectorError(.upstreamUnavailable, "the demo's webhook gateway did not start")
    }

    /// A loopback port nobody listens on now (the kernel's choice for port 0).
    private static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw ConnectorError(.internalError, "no socket for the demo's webhook gateway") }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) }
        }
        guard bound == 0 else { throw ConnectorError(.internalError, "no port for the demo's webhook gateway") }
        let named = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        guard named == 0 else { throw ConnectorError(.internalError, "no port for the demo's webhook gateway") }
        return Int(UInt16(bigEndian: address.sin_port))
    }
}
