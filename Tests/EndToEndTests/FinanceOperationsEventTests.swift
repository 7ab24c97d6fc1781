import ConnectorCore
import ConnectorHTTP
import ConnectorRunner
import ConnectorRuntime
import ConnectorSecurity
import ConnectorSimulators
import ConnectorTesting
import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// F&O's "Purchase order confirmed" business event as a deployment receives it: the F&O simulator POSTs to
/// `local-runner run --webhooks` (the gateway route `/webhooks/{connection}/financeOperations`), with duplicates and
/// reordering, and the order reaches JAGGAER once, read over OData.
@Suite("F&O business events through the gateway", .serialized, .timeLimit(.minutes(10)))
struct FinanceOperationsEventTests {
    static let secret = "fo-gateway-events-5c1e7a90b2d4f6a8"

    static func yaml(host: SimulatorHost, tenant: DemoTenant) -> String {
        let c = tenant.credentials
        return """
            id: fo
            jaggaer:
              baseURL: \(host.jaggaerBaseURL)
              tokenURL: \(host.jaggaerTokenURL)
              clientId: \(c.jaggaerClientId)
              clientSecret: {env: TEST_JAGGAER_SECRET}
              pageSize: 20
            erp:
              kind: financeOperations
              financeOperations:
                tenantId: \(c.entraTenantId)
                clientId: \(c.entraClientId)
                clientSecret: {env: TEST_FO_SECRET}
                authorityURL: \(host.entraAuthorityURL)
                environmentURL: \(host.financeOperationsBaseURL)
                dataAreaId: \(FODemoData.company)
                chartOfAccounts: \(FODemoData.chartOfAccounts)
            mapping:
              taxAccount: "22500"
              chargesAccount: "62300"
              discountAccount: "54800"
              localCurrency: USD
            flow:
              pollIntervalSeconds: 86400
              masterDataIntervalSeconds: 86400
              purchaseOrderIntervalSeconds: 86400
              maxAttempts: 30
            network:
              allowHTTP: true
              allowedHosts: ["127.0.0.1"]
            notifications:
              financeOperations:
                secret: {env: TEST_FO_EVENTS}

            """
    }

    @Test("the gateway takes F&O business events: 401 without the secret, 400 malformed, the order pushed once")
    func gatewayRoute() async throws {
        let tenant = DemoTenant.generate(invoiceCount: 3, seed: 23)
        let host = try await SimulatorHost.start(tenant: tenant)
        let directory = try TemporaryDirectory()
        let http = AsyncHTTPClientTransport()
        var runner: pid_t = 0
        func stop() async {
            if runner != 0 {
                kill(runner, SIGKILL)
                var status: Int32 = 0
                waitpid(runner, &status, 0)
                runner = 0
            }
            await http.shutdown()
            await host.shutdown()
        }
        do {
            let state = "sqlite:" + directory.path + "/state.sqlite"
            var environment = Binaries.environment(state: state, key: MasterKey.generate())
            environment["TEST_JAGGAER_SECRET"] = tenant.credentials.jaggaerClientSecret
            environment["TEST_FO_SECRET"] = tenant.credentials.entraClientSecret
            environment["TEST_FO_EVENTS"] = Self.secret
            let file = directory.path + "/fo.yaml"
            try Self.yaml(host: host, tenant: tenant).write(toFile: file, atomically: true, encoding: .utf8)
            let added = try await Binaries.run(
                "local-runner", ["connections", "add", "--file", file], environment: environment)
            #expect(added.exitCode == 0, Comment(rawValue: added.stderr))
            let port = try WebhookTests.freePort()
            let gateway = "http://127.0.0.1:\(port)"
            runner = try ChildProcess.spawn(
                Binaries.directory.appendingPathComponent("local-runner").path,
                arguments: [
                    "run", "--webhooks", "127.0.0.1:\(port)", "--retry-base-ms", "200", "--retry-max-seconds", "2",
                ],
                environment: environment.map { "\($0.key)=\($0.value)" }, stdin: "/dev/null", stdout: "/dev/null",
                stderr: .append(directory.path + "/runner.log"))
            try await WebhookTests.eventually("the gateway") {
                (try? await WebhookTests.send(http, "GET", gateway + "/healthz"))?.status == 200
            }
            let route = gateway + "/webhooks/fo/financeOperations"
            let json = [("Content-Type", "application/json")]
            let event =
                #"{"BusinessEventId":"PurchaseOrderConfirmedBusinessEvent","ControlNumber":1,"LegalEntity":"usmf","PurchaseOrderNumber":"X","EventTime":"/Date(1733220000000)/"}"#
            #expect(try await WebhookTests.send(http, "POST", route, headers: json, body: event).status == 401)
            #expect(
                try await WebhookTests.send(
                    http, "POST", route + "?code=not-the-secret-000000", headers: json, body: event
                )
                .status == 401)
            let malformed = try await WebhookTests.send(
                http, "POST", route + "?code=\(Self.secret)", headers: json, body: #"{"ControlNumber":"x"}"#)
            #expect(malformed.status == 400)
            #expect(malformed.body.contains("webhook.malformed"))

            // F&O confirms an order: its event is delivered twice, reordered, to the endpoint URL with the secret.
            let control = host.financeOperationsBaseURL
            _ = try await WebhookTests.send(
                http, "POST", control + "/_sim/fo/businessevents/endpoint", headers: json,
                body: #"{"url": "\#(route)?code=\#(Self.secret)", "seed": 3}"#)
            let number = FODemoData.unconfirmedPurchaseOrder
            let report = try await WebhookTests.send(
                http, "POST", control + "/_sim/fo/businessevents/purchaseorderconfirmed", headers: json,
                body: #"{"numbers": ["\#(number)"], "duplicates": 1, "reorder": true, "seed": 3}"#)
            #expect(report.status == 200)
            #expect(report.body.components(separatedBy: #""status":202"#).count - 1 == 2, "\(report.body)")
            let jaggaer = host.jaggaer
            try await WebhookTests.eventually("the confirmed order in JAGGAER") {
                jaggaer.writes.purchaseOrder(number) != nil
            }
            // Every confirmed order (the scheduled sync's and the event's) is in JAGGAER, each sent once.
            try await WebhookTests.eventually("the scheduled push") {
                jaggaer.writes.purchaseOrderCount > 1
            }
            try await Task.sleep(for: .seconds(2))
            #expect(
                jaggaer.counters.count("jaggaer PUT erppurchaseorders/{number}") == jaggaer.writes.purchaseOrderCount)
            await stop()
        } catch {
            await stop()
            throw error
        }
    }
}
