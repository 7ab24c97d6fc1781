import BusinessCentral
import ConnectorCore
import ConnectorSecurity
import ConnectorStateSQLite
import ConnectorTesting
import Foundation
import Testing

@Suite("Step executables as black boxes", .serialized)
struct ExecutableTests {
    static let functions = [
        "poll-jaggaer-invoices", "transform-invoice", "write-erp-invoice", "sync-vendors", "sync-accounts",
        "sync-payment-status",
    ]

    /// A store holding one connection (pointing at hosts that are never called here).
    static func prepared() async throws -> (TemporaryDirectory, String, String) {
        let directory = try TemporaryDirectory()
        let path = directory.path + "/state.sqlite"
        let key = MasterKey.generate()
        let store = try SQLiteStateStore(path: path)
        let connection = Connection(
            id: "acme",
            jaggaer: JaggaerSettings(
                baseURL: "https://prep-reg02.api.jaggaer.com", clientId: "c",
                clientSecret: .plain(Secret("jaggaer-secret-value"))),
            erp: ERPSettings(
                BusinessCentralSettings(
                    tenantId: "00000000-0000-0000-0000-0000000000a1", environment: "production",
                    clientId: "00000000-0000-0000-0000-0000000000c2",
                    clientSecret: .plain(Secret("bc-secret-value-xyz")), companyName: "CRONUS")
            )
        )
        try await ConnectionStore(store: store, vault: Vault(masterKey: try MasterKey(base64: key))).save(connection)
        try await store.close()
        return (directory, path, key)
    }

    static func event(_ type: String, connection: String = "acme", data: String = "{}") -> Data {
        Data(
            #"{"specversion":"1.0","id":"e-1","source":"urn:test","type":"\#(type)","data":\#(data),"connection":"\#(connection)"}"#
                .utf8)
    }

    @Test("bad input exits 65 with a JSON error and leaves the store untouched", arguments: functions)
    func badInput(function: String) async throws {
        let (directory, path, key) = try await Self.prepared()
        defer { _ = directory }
        let before = try await snapshot(path)
        let inputs = [
            Data("{ not json".utf8),
            Data(),
            Data(#"{"specversion":"1.0","id":"1","source":"s","type":"com.example.unknown","connection":"acme"}"#.utf8),
            Self.event("com.mlconnector.nope"),
        ]
        for input in inputs {
            let run = try await Binaries.run(
                function, stdin: input, environment: Binaries.environment(state: "sqlite:" + path, key: key))
            #expect(run.exitCode == 65, "\(function): \(run.text)")
            let result = try JSONCoding.decode(StepResult.self, from: run.stdout)
            #expect(result.status == .failed)
            #expect(result.error?.code.hasPrefix("event.") == true)
            #expect(run.text.split(separator: "\n").count == 1, "exactly one JSON document on stdout")
        }
        #expect(try await snapshot(path) == before)
    }

    @Test("data that does not fit the step exits 65 and changes nothing")
    func badData() async throws {
        let (directory, path, key) = try await Self.prepared()
        defer { _ = directory }
        let before = try await snapshot(path)
        let cases: [(String, Data)] = [
            ("transform-invoice", Self.event(EventType.invoiceCaptured, data: #"{"sourceId": 12}"#)),
            ("write-erp-invoice", Self.event(EventType.invoiceMapped, data: #"{"lines": "many"}"#)),
            (
                "transform-invoice",
                Data(
                    #"{"specversion":"1.0","id":"e","source":"s","type":"com.mlconnector.invoice.captured","connection":"acme"}"#
                        .utf8)
            ),
            ("transform-invoice", Self.event(EventType.invoiceCaptured, connection: "", data: "{}")),
        ]
        for (function, input) in cases {
            let run = try await Binaries.run(
                function, stdin: input, environment: Binaries.environment(state: "sqlite:" + path, key: key))
            #expect(run.exitCode == 65, "\(function): \(run.text)")
        }
        #expect(try await snapshot(path) == before)
    }

    @Test("unknown connection, missing key and wrong key exit 78 with a clear message")
    func configuration() async throws {
        let (directory, path, key) = try await Self.prepared()
        defer { _ = directory }
        let before = try await snapshot(path)
        let poll = Self.event(EventType.pollRequested)

        let unknown = try await Binaries.run(
            "poll-jaggaer-invoices", stdin: Self.event(EventType.pollRequested, connection: "nobody"),
            environment: Binaries.environment(state: "sqlite:" + path, key: key))
        #expect(unknown.exitCode == 78)
        #expect(unknown.text.contains("connection.unknown"))

        let missing = try await Binaries.run(
            "poll-jaggaer-invoices", stdin: poll, environment: Binaries.environment(state: "sqlite:" + path, key: nil))
        #expect(missing.exitCode == 78)
        #expect(missing.text.contains("MLC_MASTER_KEY"))

        let wrong = try await Binaries.run(
            "poll-jaggaer-invoices", stdin: poll,
            environment: Binaries.environment(state: "sqlite:" + path, key: MasterKey.generate()))
        #expect(wrong.exitCode == 78)
        #expect(wrong.text.contains("config.master_key_mismatch"))
        for run in [unknown, missing, wrong] {
            #expect(!run.text.contains("secret-value") && !run.stderr.contains("secret-value"))
        }
        #expect(try await snapshot(path) == before)
    }

    @Test("the committed OpenFaaS stack is the one generated from the manifests")
    func openFaaSStack() async throws {
        let run = try await Binaries.run(
            "local-runner", ["functions", "--openfaas"], environment: ["PATH": "/usr/bin:/bin"])
        #expect(run.exitCode == 0)
        let committed = try String(
            contentsOf: Binaries.repository.appendingPathComponent("infra/openfaas/stack.yml"), encoding: .utf8)
        #expect(run.text == committed, "regenerate with: local-runner functions --openfaas > infra/openfaas/stack.yml")
    }

    @Test("run as OpenFaaS runs a step: settings from stack.yml, store URL and key from mounted secret files")
    func openFaaSSecrets() async throws {
        let (directory, path, key) = try await Self.prepared()
        defer { _ = directory }
        let stack = try String(
            contentsOf: Binaries.repository.appendingPathComponent("infra/openfaas/stack.yml"), encoding: .utf8)
        // The `environment:` block of one function, as the watchdog hands it to `fprocess`.
        var environment: [String: String] = ["PATH": "/usr/bin:/bin"]
        var inFunction = false
        var inEnvironment = false
        for line in stack.split(separator: "\n") {
            if line.hasPrefix("  ") && !line.hasPrefix("   ") { inFunction = line == "  poll-jaggaer-invoices:" }
            if line.hasPrefix("    ") && !line.hasPrefix("     ") {
                inEnvironment = inFunction && line == "    environment:"
            }
            guard inEnvironment, line.hasPrefix("      "), let colon = line.firstIndex(of: ":") else { continue }
            let name = line[..<colon].trimmingCharacters(in: .whitespaces)
            let value = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            environment[name] = value.replacingOccurrences(of: "/var/openfaas/secrets", with: directory.path)
        }
        #expect(environment["combine_output"] == "\"false\"", "step logs stay out of the response")
        #expect(environment["MLC_STATE_FILE"] == directory.path + "/mlc-state")
        #expect(environment["MLC_MASTER_KEY_FILE"] == directory.path + "/mlc-master-key")
        // Secrets as `faas-cli secret create` or `echo … >` leave them: the URL with a newline.
        try Data("sqlite:\(path)\n".utf8).write(to: URL(fileURLWithPath: directory.path + "/mlc-state"))
        try Data(key.utf8).write(to: URL(fileURLWithPath: directory.path + "/mlc-master-key"))
        let before = try await snapshot(path)
        // An unknown connection is found only by reading the store with the key: both came from the files.
        let unknown = try await Binaries.run(
            "poll-jaggaer-invoices", stdin: Self.event(EventType.pollRequested, connection: "nobody"),
            environment: environment)
        #expect(unknown.exitCode == 78, "\(unknown.text) \(unknown.stderr)")
        #expect(unknown.text.contains("connection.unknown"), "\(unknown.text)")
        // A secret file that is not there: a configuration error naming the variable.
        environment["MLC_STATE_FILE"] = directory.path + "/no-such-secret"
        let missing = try await Binaries.run(
            "poll-jaggaer-invoices", stdin: Self.event(EventType.pollRequested), environment: environment)
        #expect(missing.exitCode == 78, "\(missing.text)")
        #expect(missing.text.contains("MLC_STATE_FILE names"), "\(missing.text)")
        #expect(try await snapshot(path) == before)
    }

    @Test("the runner's routing is the one the function manifests declare")
    func manifests() async throws {
        let run = try await Binaries.run(
            "local-runner", ["functions", "--json"], environment: ["PATH": "/usr/bin:/bin"])
        #expect(run.exitCode == 0)
        struct Spec: Decodable, Equatable {
            var name: String
            var events: [String]
            var emits: [String]
            var concurrency: Int
            var timeoutSeconds: Int
            var memoryMiB: Int
        }
        let catalog = try JSONDecoder().decode([Spec].self, from: run.stdout)
        struct Manifest: Decodable {
            struct Trigger: Decodable { var events: [String] }
            var name: String
            var trigger: Trigger
            var emits: [String]
            var concurrency: Int
            var timeoutSeconds: Int
            var memoryMiB: Int
        }
        let directory = Binaries.repository.appendingPathComponent("functions")
        let names = try FileManager.default.contentsOfDirectory(atPath: directory.path).sorted()
        #expect(Set(names) == Set(catalog.map(\.name)))
        for name in names {
            let data = try Data(
                contentsOf: directory.appendingPathComponent(name).appendingPathComponent("function.json"))
            let manifest = try JSONDecoder().decode(Manifest.self, from: data)
            #expect(manifest.name == name)
            let spec = try #require(catalog.first { $0.name == name })
            #expect(
                Spec(
                    name: manifest.name, events: manifest.trigger.events, emits: manifest.emits,
                    concurrency: manifest.concurrency, timeoutSeconds: manifest.timeoutSeconds,
                    memoryMiB: manifest.memoryMiB) == spec)
        }
    }
}
