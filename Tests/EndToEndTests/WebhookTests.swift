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

/// The webhook path as a real deployment runs it: `local-runner run --webhooks` serving the gateway, Business
/// Central (simulated) subscribing through its handshake and notifying on a vendor change, and the sync that the
/// notification starts reading the vendor from BC.
@Suite("Webhooks through the gateway", .serialized, .timeLimit(.minutes(10)))
struct WebhookTests {
    static let clientState = "wh-client-state-4f1c9a7e2b6d8c30"
    static let headerSecret = "wh-acumatica-header-7d2e91b4c6a8"

    /// A free loopback port (the kernel picks it; the gateway binds it right after).
    static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { raw in
                bind(fd, raw, length) == 0 && getsockname(fd, raw, &length) == 0
            }
        }
        guard bound else { throw ConnectorError(.internalError, "no free port") }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    static func yaml(host: SimulatorHost, tenant: DemoTenant, port: Int) -> String {
        CLITests.yaml(host: host, tenant: tenant, bcSecret: tenant.credentials.entraClientSecret)
            + """
            flow:
              pollIntervalSeconds: 86400
              masterDataIntervalSeconds: 86400
              maxAttempts: 30
            notifications:
              publicURL: http://127.0.0.1:\(port)
              businessCentral:
                clientState: {env: TEST_BC_CLIENT_STATE}
                resources: [vendors, accounts]

            """
    }

    struct Reply {
        var status: Int
        var body: String
    }

    static func send(
        _ http: AsyncHTTPClientTransport, _ method: String, _ url: String, headers: [(String, String)] = [],
        body: String? = nil
    ) async throws -> Reply {
        let response = try await http.send(
            HTTPRequest(
                method: method, url: url, headers: headers, body: body.map { Data($0.utf8) }, timeout: .seconds(10)))
        return Reply(status: response.status, body: String(decoding: response.body, as: UTF8.self))
    }

    static func eventually(
        _ what: String, timeout: Duration = .seconds(60), _ check: () async throws -> Bool
    ) async throws {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if try await check() { return }
            try await Task.sleep(for: .milliseconds(200))
        }
        Issue.record("timed out waiting for \(what)")
        throw ConnectorError(.internalError, "timed out waiting for \(what)")
    }

    struct SubscriptionState: Decodable {
        struct Entry: Decodable {
            var id: String
            var resource: String
            var expiresAt: Date?
        }
        var subscriptions: [Entry]
    }

    /// Simulators, a store with the `acme` connection and `local-runner run --webhooks` serving the gateway.
    final class Rig {
        let tenant = DemoTenant.generate(invoiceCount: 3, seed: 21)
        let host: SimulatorHost
        let directory: TemporaryDirectory
        let http = AsyncHTTPClientTransport()
        let environment: [String: String]
        let state: String
        let gateway: String
        let log: String
        var runner: pid_t = 0

        init(failpoints: String? = nil, bcTiming: String, extraArguments: [String] = []) async throws {
            host = try await SimulatorHost.start(tenant: tenant)
            directory = try TemporaryDirectory()
            state = "sqlite:" + directory.path + "/state.sqlite"
            var environment = Binaries.environment(state: state, key: MasterKey.generate())
            environment["TEST_JAGGAER_SECRET"] = tenant.credentials.jaggaerClientSecret
            environment["TEST_BC_CLIENT_STATE"] = WebhookTests.clientState
            let port = try WebhookTests.freePort()
            gateway = "http://127.0.0.1:\(port)"
            log = directory.path + "/runner.log"
            self.environment = environment
            do {
                _ = try await WebhookTests.send(
                    http, "POST", host.businessCentralBaseURL + "/_sim/bc/notifications",
                    headers: [("Content-Type", "application/json")], body: bcTiming)
                let file = directory.path + "/acme.yaml"
                try WebhookTests.yaml(host: host, tenant: tenant, port: port).write(
                    toFile: file, atomically: true, encoding: .utf8)
                let added = try await Binaries.run(
                    "local-runner", ["connections", "add", "--file", file], environment: environment)
                #expect(added.exitCode == 0, Comment(rawValue: added.stderr))
                var runnerEnvironment = environment
                runnerEnvironment["MLC_FAILPOINTS"] = failpoints
                runnerEnvironment["MLC_FAILPOINTS_LOG"] = failpoints.map { _ in directory.path + "/crashes.log" }
                runner = try ChildProcess.spawn(
                    Binaries.directory.appendingPathComponent("local-runner").path,
                    arguments: [
                        "run", "--webhooks", "127.0.0.1:\(port)", "--retry-base-ms", "200", "--retry-max-seconds", "2",
                    ] + extraArguments,
                    environment: runnerEnvironment.map { "\($0.key)=\($0.value)" }, stdin: "/dev/null",
                    stdout: "/dev/null", stderr: .append(log))
                let gateway = self.gateway
                let http = self.http
                try await WebhookTests.eventually("the gateway") {
                    (try? await WebhookTests.send(http, "GET", gateway + "/healthz"))?.status == 200
                }
            } catch {
                await stop()
                throw error
            }
        }

        /// SIGTERM to the runner (or SIGKILL when `force`); returns its wait status.
        @discardableResult
        func stopRunner(force: Bool = false) -> Int32 {
            guard runner != 0 else { return 0 }
            kill(runner, force ? SIGKILL : SIGTERM)
            var status: Int32 = 0
            waitpid(runner, &status, 0)
            runner = 0
            return status
        }

        func stop() async {
            stopRunner(force: true)
            await http.shutdown()
            await host.shutdown()
        }

        func send(_ method: String, _ url: String, headers: [(String, String)] = [], body: String? = nil)
            async throws -> Reply
        {
            try await WebhookTests.send(http, method, url, headers: headers, body: body)
        }
    }

    @Test(
        "run --metrics serves Prometheus metrics: step results and durations, HTTP requests, rate-limit waits, records, queue depth"
    )
    func prometheusMetrics() async throws {
        let port = try Self.freePort()
        let rig = try await Rig(
            bcTiming: #"{"delaySeconds": 0.2, "retryDelaysSeconds": [0.2, 0.5, 1]}"#,
            extraArguments: ["--metrics", "127.0.0.1:\(port)"])
        do {
            let url = "http://127.0.0.1:\(port)/metrics"
            var text = ""
            try await Self.eventually("sync-vendors and a poll in the metrics") {
                text = (try? await rig.send("GET", url))?.body ?? ""
                return text.contains(#"mlc_step_invocations_total{step="sync-vendors",status="ok"}"#)
                    && text.contains(#"mlc_step_invocations_total{step="transform-invoice""#)
            }
            #expect(text.contains("# TYPE mlc_step_duration_seconds histogram"), "\(text.prefix(2000))")
            #expect(text.contains(#"mlc_step_duration_seconds_bucket{step="sync-vendors",le="+Inf"}"#))
            #expect(
                text.contains(
                    #"mlc_http_requests_total{step="sync-vendors",system="businessCentral",host="127.0.0.1",status="200"}"#
                ), "\(text.prefix(4000))")
            #expect(
                text.contains(
                    #"mlc_http_requests_total{step="poll-jaggaer-invoices",system="jaggaer",host="127.0.0.1",status="200"}"#
                ))
            #expect(text.contains(#"mlc_queue_depth{step="write-erp-invoice"}"#))
            #expect(text.contains(#"mlc_records_total{state="captured"}"#))
            #expect(text.contains(#"mlc_rate_limit_wait_seconds_total{step="sync-vendors"}"#))
            #expect(rig.stopRunner() == 0, "SIGTERM ends the runner and its metrics server cleanly")
            await rig.stop()
        } catch {
            await rig.stop()
            throw error
        }
    }

    @Test(
        "BC subscribes through the handshake, a vendor change arrives as a notification and is synced; forged ones get 401"
    )
    func businessCentralWebhook() async throws {
        let rig = try await Rig(bcTiming: #"{"delaySeconds": 0.2, "retryDelaysSeconds": [0.2, 0.5, 1]}"#)
        let host = rig.host
        let tenant = rig.tenant
        let http = rig.http
        let directory = rig.directory
        let environment = rig.environment
        let state = rig.state
        let gateway = rig.gateway
        let log = rig.log
        do {
            let hook = gateway + "/webhooks/acme/businessCentral"
            // The handshake is answered with the token, as plain text.
            let handshake = try await Self.send(http, "POST", hook + "?validationToken=abc%20123")
            #expect(handshake.status == 200)
            #expect(handshake.body == "abc 123")

            // The runner's renew step subscribed to vendors and accounts through that handshake.
            let store = try await StateStores.open(state)
            let keys = try StateKeys(connection: "acme")
            try await Self.eventually("two BC subscriptions") {
                let saved = try await store.get(
                    keys.key("subscriptions", "businessCentral"), as: SubscriptionState.self)
                return saved?.value.subscriptions.count == 2
            }

            // Forged notifications: wrong clientState, none at all; an unknown connection; a bad body.
            let vendorResource =
                "api/v2.0/companies(\(tenant.credentials.companyId))/vendors(00000000-0000-0000-0000-000000000001)"
            func notification(_ clientState: String?) -> String {
                var entry: [String: String] = [
                    "subscriptionId": "x", "resource": vendorResource, "changeType": "updated",
                    "expirationDateTime": "2030-01-01T00:00:00Z",
                ]
                entry["clientState"] = clientState
                return String(decoding: try! JSONEncoder().encode(["value": [entry]]), as: UTF8.self)
            }
            let json = [("Content-Type", "application/json")]
            #expect(
                try await Self.send(http, "POST", hook, headers: json, body: notification("guess-the-state-123")).status
                    == 401)
            #expect(try await Self.send(http, "POST", hook, headers: json, body: notification(nil)).status == 401)
            #expect(
                try await Self.send(
                    http, "POST", gateway + "/webhooks/nobody/businessCentral", headers: json,
                    body: notification(Self.clientState)
                ).status == 404)
            #expect(try await Self.send(http, "POST", hook, headers: json, body: "{not json").status == 400)
            #expect(try await Self.send(http, "POST", gateway + "/other", body: "x").status == 404)
            let trails = try await store.scanAll(prefix: keys.prefix("audit"))
            #expect(!trails.contains { $0.key.contains("handle-erp-notification") })

            // A vendor created in BC: BC notifies, the gateway accepts, sync-vendors reads it from BC.
            let vendors = MappingTable<Vendor>(store: store, keys: keys, table: "erp-vendors")
            try await Self.eventually("the first vendor sync") { try await vendors.all().count > 0 }
            #expect(try await vendors.get("V77777") == nil)
            let created = try await Self.send(
                http, "POST", host.businessCentralBaseURL + "/_sim/bc/vendors", headers: json,
                body: #"{"number": "V77777", "displayName": "Notified Vendor Ltd"}"#)
            #expect((200..<300).contains(created.status), "\(created.body)")
            try await Self.eventually("the notified vendor in the master data") {
                try await vendors.get("V77777")?.name == "Notified Vendor Ltd"
            }
            let counters = try await Self.send(http, "GET", host.businessCentralBaseURL + "/_sim/counters")
            #expect(counters.body.contains("\"bc notify 202\""))

            // A Business Central connection takes no Acumatica pushes, whatever they carry: the gateway answers
            // 404 (not configured), and nothing is synced.
            let acumaticaHook = gateway + "/webhooks/acme/acumatica"
            let push =
                #"{"Inserted":[{"VendorID":"V1"}],"Deleted":[],"Query":"MLC-Vendors","CompanyId":"C","Id":"1","TimeStamp":1}"#
            #expect(
                try await Self.send(
                    http, "POST", acumaticaHook, headers: json + [("X-Hook-Secret", Self.headerSecret)], body: push
                )
                .status == 404)

            // Nothing the store holds carries a webhook secret in the clear.
            for entry in try await store.scanAll(prefix: "") {
                let text = String(decoding: entry.value.data, as: UTF8.self)
                #expect(!text.contains(Self.clientState), "\(entry.key)")
                #expect(!text.contains(Self.headerSecret), "\(entry.key)")
            }
            let runnerLog = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
            #expect(!runnerLog.contains(Self.clientState))
            #expect(!runnerLog.contains(Self.headerSecret))
            try await store.close()

            #expect(rig.stopRunner() == 0, "the runner ends cleanly on SIGTERM")

            // The step as a black box: a forged notification exits 65 with a JSON error and changes no byte.
            let before = try await snapshot(directory.path + "/state.sqlite")
            let forged = CloudEvent(
                source: "urn:test", type: EventType.notificationReceived,
                data: .object([
                    "system": .string("businessCentral"), "method": .string("POST"), "query": .object([:]),
                    "headers": .object([:]), "body": .string(notification("forged-client-state-000000")),
                ]),
                connection: "acme")
            let invoked = try await Binaries.run(
                "local-runner", ["invoke", "handle-erp-notification"], stdin: try JSONCoding.encode(forged),
                environment: environment)
            #expect(invoked.exitCode == 65)
            #expect(invoked.text.contains("webhook.unauthenticated"))
            #expect(try await snapshot(directory.path + "/state.sqlite") == before)
            await rig.stop()
        } catch {
            await rig.stop()
            throw error
        }
    }

    @Test("Step processes killed at random while notifications arrive: BC delivers again and no change is lost")
    func crashesLoseNothing() async throws {
        // Every step process (the webhook step, the syncs, the renewal) dies after handling with p = 0.35; the
        // gateway answers 503 for a crashed webhook step and BC delivers the batch again.
        let retries = Array(repeating: "0.2", count: 25).joined(separator: ",")
        let rig = try await Rig(
            failpoints: "step.handled=0.35",
            bcTiming: #"{"delaySeconds": 0.1, "retryDelaysSeconds": [\#(retries)]}"#)
        do {
            let store = try await StateStores.open(rig.state)
            let keys = try StateKeys(connection: "acme")
            let vendors = MappingTable<Vendor>(store: store, keys: keys, table: "erp-vendors")
            try await Self.eventually("two BC subscriptions and the first vendor sync", timeout: .seconds(120)) {
                let saved = try await store.get(
                    keys.key("subscriptions", "businessCentral"), as: SubscriptionState.self)
                let synced = try await vendors.all().count
                return saved?.value.subscriptions.count == 2 && synced > 0
            }
            let json = [("Content-Type", "application/json")]
            for index in 1...6 {
                let number = "V8800\(index)"
                let created = try await rig.send(
                    "POST", rig.host.businessCentralBaseURL + "/_sim/bc/vendors", headers: json,
                    body: #"{"number": "\#(number)", "displayName": "Crash Test \#(index)"}"#)
                #expect((200..<300).contains(created.status))
                try await Self.eventually("vendor \(number) synced after crashes", timeout: .seconds(120)) {
                    try await vendors.get(number)?.name == "Crash Test \(index)"
                }
            }
            let crashes = ((try? String(contentsOfFile: rig.directory.path + "/crashes.log", encoding: .utf8)) ?? "")
                .split(separator: "\n").count
            #expect(crashes > 0, "the failpoint killed no step process; the test proved nothing")
            let counters = try await rig.send("GET", rig.host.businessCentralBaseURL + "/_sim/counters")
            #expect(counters.body.contains("\"bc notify 202\""))
            let letters = try await DeadLetterList(store: store, keys: keys).list()
            #expect(letters.isEmpty, "nothing may end in the dead-letter list: \(letters.map(\.step))")
            try await store.close()
            await rig.stop()
        } catch {
            await rig.stop()
            throw error
        }
    }
}
