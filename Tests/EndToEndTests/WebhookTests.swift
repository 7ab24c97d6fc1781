import ConnectorCore
import ConnectorHTTP
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
            notifications:
              publicURL: http://127.0.0.1:\(port)
              businessCentral:
                clientState: {env: TEST_BC_CLIENT_STATE}
                resources: [vendors, accounts]
              acumatica:
                headerName: X-Hook-Secret
                headerValue: "\(headerSecret)"
                queries: {MLC-Vendors: vendors}

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

    @Test(
        "BC subscribes through the handshake, a vendor change arrives as a notification and is synced; forged ones get 401"
    )
    func businessCentralWebhook() async throws {
        let tenant = DemoTenant.generate(invoiceCount: 3, seed: 21)
        let host = try await SimulatorHost.start(tenant: tenant)
        let directory = try TemporaryDirectory()
        let http = AsyncHTTPClientTransport()
        var runner: pid_t = 0
        do {
            _ = try await Self.send(
                http, "POST", host.businessCentralBaseURL + "/_sim/bc/notifications",
                headers: [("Content-Type", "application/json")],
                body: #"{"delaySeconds": 0.2, "retryDelaysSeconds": [0.2, 0.5, 1]}"#)
            let state = "sqlite:" + directory.path + "/state.sqlite"
            let key = MasterKey.generate()
            var environment = Binaries.environment(state: state, key: key)
            environment["TEST_JAGGAER_SECRET"] = tenant.credentials.jaggaerClientSecret
            environment["TEST_BC_CLIENT_STATE"] = Self.clientState
            let port = try Self.freePort()
            let file = directory.path + "/acme.yaml"
            try Self.yaml(host: host, tenant: tenant, port: port).write(toFile: file, atomically: true, encoding: .utf8)
            let added = try await Binaries.run(
                "local-runner", ["connections", "add", "--file", file], environment: environment)
            #expect(added.exitCode == 0, Comment(rawValue: added.stderr))

            let log = directory.path + "/runner.log"
            runner = try ChildProcess.spawn(
                Binaries.directory.appendingPathComponent("local-runner").path,
                arguments: [
                    "run", "--webhooks", "127.0.0.1:\(port)", "--retry-base-ms", "200", "--retry-max-seconds", "2",
                ],
                environment: environment.map { "\($0.key)=\($0.value)" }, stdin: "/dev/null", stdout: "/dev/null",
                stderr: .append(log))
            let gateway = "http://127.0.0.1:\(port)"
            let hook = gateway + "/webhooks/acme/businessCentral"
            try await Self.eventually("the gateway") {
                (try? await Self.send(http, "GET", gateway + "/healthz"))?.status == 200
            }

            // The handshake is answered with the token, as plain text.
            let handshake = try await Self.send(http, "POST", hook + "?validationToken=abc%20123")
            #expect(handshake.status == 200)
            #expect(handshake.body == "abc 123")

            // The runner's renew step subscribed to vendors and accounts through that handshake.
            let store = try StateStores.open(state)
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

            // Acumatica push with the configured header; without it 401.
            let acumaticaHook = gateway + "/webhooks/acme/acumatica"
            let push =
                #"{"Inserted":[{"VendorID":"V1"}],"Deleted":[],"Query":"MLC-Vendors","CompanyId":"C","Id":"1","TimeStamp":1}"#
            #expect(
                try await Self.send(
                    http, "POST", acumaticaHook, headers: json + [("X-Hook-Secret", Self.headerSecret)], body: push
                )
                .status == 202)
            #expect(
                try await Self.send(
                    http, "POST", acumaticaHook, headers: json + [("X-Hook-Secret", "nope")], body: push
                )
                .status == 401)

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

            kill(runner, SIGTERM)
            var status: Int32 = 0
            waitpid(runner, &status, 0)
            runner = 0
            #expect(status == 0, "the runner ends cleanly on SIGTERM")

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
            await http.shutdown()
            await host.shutdown()
        } catch {
            if runner != 0 {
                kill(runner, SIGKILL)
                var status: Int32 = 0
                waitpid(runner, &status, 0)
            }
            await http.shutdown()
            await host.shutdown()
            throw error
        }
    }
}
