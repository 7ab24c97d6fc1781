import BusinessCentral
import ConnectorConfig
import ConnectorCore
import ConnectorRuntime
import ConnectorSecurity
import ConnectorTesting
import Foundation
import Testing

@Suite("local-runner configuration errors", .serialized, .timeLimit(.minutes(10)))
struct ConfigurationCLITests {
    /// Connection files name their ERP by kind: make every ERP of the build known first.
    init() { Systems.bootstrap() }

    static func yaml(id: String = "acme", bcSecret: String = "bc~secret-value", extra: String = "") -> String {
        """
        id: \(id)
        jaggaer:
          baseURL: https://prep-reg02.api.jaggaer.com
          clientId: ml-connector
          clientSecret: jaggaer-secret-value
        erp:
          kind: businessCentral
          businessCentral:
            tenantId: 00000000-0000-0000-0000-000000000001
            environment: production
            clientId: 11111111-1111-1111-1111-111111111111
            clientSecret: \(bcSecret)
            companyName: CRONUS USA, Inc.

        """ + extra
    }

    func write(_ text: String, _ path: String) throws {
        try text.write(toFile: path, atomically: true, encoding: .utf8)
    }

    @Test("a refused connections add exits 78 and creates no store, not even its directory")
    func refusedAddCreatesNothing() async throws {
        let directory = try TemporaryDirectory()
        let storeDirectory = directory.path + "/state"
        let environment = Binaries.environment(
            state: "sqlite:\(storeDirectory)/state.sqlite", key: MasterKey.generate())
        let cases: [(String, String)] = [
            (
                Self.yaml(extra: "flow:\n  maxAttemps: 500\n"),
                "flow.maxAttemps is not a setting; did you mean flow.maxAttempts?"
            ),
            (
                Self.yaml(extra: "flow:\n  pollIntervalSeconds: 0\n"),
                "flow.pollIntervalSeconds is 0; it must be between 1 and 604800"
            ),
            (Self.yaml(id: "bad id!"), "connection id must be 1-64 characters"),
            (Self.yaml(bcSecret: "{file: \(directory.path)/missing-secret}"), "which does not exist"),
            (
                Self.yaml(extra: "network:\n  allowInsecureHTTP: true\n"),
                "network.allowInsecureHTTP is no longer a setting"
            ),
        ]
        for (index, (text, message)) in cases.enumerated() {
            let file = directory.path + "/c\(index).yaml"
            try write(text, file)
            let run = try await Binaries.run(
                "local-runner", ["connections", "add", "--file", file], environment: environment)
            #expect(run.exitCode == 78, "\(message): \(run.stderr)")
            #expect(run.stderr.contains(message), "\(run.stderr)")
            #expect(!FileManager.default.fileExists(atPath: storeDirectory), "a refused add created \(storeDirectory)")
        }
    }

    @Test("a sealed value from another master key is refused at add; list names the one it cannot open and exits 78")
    func sealedUnderAnotherKey() async throws {
        let directory = try TemporaryDirectory()
        let path = directory.path + "/state.sqlite"
        let key = MasterKey.generate()
        let otherKey = MasterKey.generate()
        let environment = Binaries.environment(state: "sqlite:" + path, key: key)
        let file = directory.path + "/acme.yaml"
        try write(Self.yaml(), file)
        #expect(
            try await Binaries.run("local-runner", ["connections", "add", "--file", file], environment: environment)
                .exitCode == 0)

        // A connection sealed under another key (a second installation's value pasted in).
        let other = Vault(masterKey: try MasterKey(base64: otherKey))
        let foreign = try other.sealSecrets(
            of: try ConnectionFile.decodeForTest(Self.yaml(id: "other")), environment: [:])
        guard case .sealed(let sealed) = try foreign.erp.typed(BusinessCentralSettings.self).clientSecret else {
            Issue.record("not sealed")
            return
        }
        let pasted = directory.path + "/other.yaml"
        try write(Self.yaml(id: "other", bcSecret: "{sealed: \"\(sealed)\"}"), pasted)
        let refused = try await Binaries.run(
            "local-runner", ["connections", "add", "--file", pasted], environment: environment)
        #expect(refused.exitCode == 78)
        #expect(refused.stderr.contains("erp.businessCentral.clientSecret is a sealed value that does not open here"))

        // The same connection added under the other key into this store (what `add` used to allow).
        var otherEnvironment = environment
        otherEnvironment["MLC_MASTER_KEY"] = otherKey
        try write(Self.yaml(id: "other"), pasted)
        #expect(
            try await Binaries.run(
                "local-runner", ["connections", "add", "--file", pasted], environment: otherEnvironment
            )
            .exitCode == 0)
        let list = try await Binaries.run("local-runner", ["connections", "list"], environment: environment)
        #expect(list.exitCode == 78)
        #expect(list.text.contains("id: acme"), "the connection that opens is still listed: \(list.text)")
        #expect(list.stderr.contains("connection other cannot be opened"), "\(list.stderr)")
        #expect(list.stderr.contains("not the key these secrets were sealed with"), "\(list.stderr)")
    }

    @Test("MLC_STATE with an unknown form, or naming no store, exits 78 and creates nothing")
    func stateURLs() async throws {
        let directory = try TemporaryDirectory()
        let key = MasterKey.generate()
        for url in [
            "sqlite3:///\(directory.path)/x.sqlite", "file:\(directory.path)/x.sqlite", " \(directory.path)/x.sqlite",
            "sqlite://host/x.sqlite",
        ] {
            let run = try await Binaries.run(
                "local-runner", ["connections", "list"], environment: Binaries.environment(state: url, key: key))
            #expect(run.exitCode == 78, "\(url): \(run.stderr)")
            #expect(run.stderr.contains("sqlite:///absolute/path/state.sqlite"), "\(run.stderr)")
        }
        let missing = "sqlite:" + directory.path + "/none/state.sqlite"
        for arguments in [["connections", "list"], ["review", "list"], ["dead-letter", "list"], ["run", "--once"]] {
            let run = try await Binaries.run(
                "local-runner", arguments, environment: Binaries.environment(state: missing, key: key))
            #expect(run.exitCode == 78, "\(arguments): \(run.stderr)")
            #expect(run.stderr.contains("connections add"), "\(run.stderr)")
        }
        let event = Data(
            #"{"specversion":"1.0","id":"e-1","source":"urn:test","type":"com.mlconnector.poll.requested","data":{},"connection":"acme"}"#
                .utf8)
        let step = try await Binaries.run(
            "poll-jaggaer-invoices", stdin: event, environment: Binaries.environment(state: missing, key: key))
        #expect(step.exitCode == 78)
        #expect(!FileManager.default.fileExists(atPath: directory.path + "/none"))
    }

    /// 600 MB on stdin used to be read whole (640 MB of memory) before the size check. The writer here keeps stdin
    /// open after 16 MiB + 1 bytes: a step that waits for the end of its input never exits.
    @Test("a step stops reading stdin at its limit and exits 65 with the JSON error")
    func stdinLimit() async throws {
        signal(SIGPIPE, SIG_IGN)
        let directory = try TemporaryDirectory()
        let process = Process()
        process.executableURL = Binaries.directory.appendingPathComponent("poll-jaggaer-invoices")
        process.environment = Binaries.environment(state: "sqlite:" + directory.path + "/state.sqlite", key: nil)
        let input = Pipe()
        let output = Pipe()
        process.standardInput = input
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        try process.run()
        let writer = input.fileHandleForWriting
        let chunk = Data(repeating: 0x20, count: 1 << 20)
        let started = ContinuousClock.now
        await Task.detached {
            // 17 MiB, then stdin stays open: only a reader that stops at its limit gets out.
            for _ in 0..<17 {
                do { try writer.write(contentsOf: chunk) } catch { return }
            }
        }.value
        while process.isRunning, ContinuousClock.now - started < .seconds(60) {
            try await Task.sleep(for: .milliseconds(50))
        }
        let exited = !process.isRunning
        if !exited { process.terminate() }
        try? writer.close()
        process.waitUntilExit()
        #expect(exited, "the step kept waiting for the end of its input")
        #expect(process.terminationStatus == 65)
        let result = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(result.contains("event.malformed") && result.contains("larger than"), "\(result)")
    }
}

extension ConnectionFile {
    static func decodeForTest(_ yaml: String) throws -> Connection {
        try decode(Data(yaml.utf8), name: "test.yaml", json: false)
    }
}
