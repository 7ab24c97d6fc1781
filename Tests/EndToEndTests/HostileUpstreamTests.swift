import ConnectorCore
import ConnectorRuntime
import ConnectorSecurity
import ConnectorSimulators
import ConnectorStateSQLite
import ConnectorTesting
import Foundation
import Testing

/// Upstreams that echo what they were sent (headers, form bodies) back in their error bodies, in every encoding,
/// with tokens fetched fresh and tokens taken from the cross-process cache. Nothing secret may reach the step
/// results, the runner's output, the logs, `dead-letter list`, `audit` or any value in the store.
@Suite("Hostile upstreams", .serialized, .timeLimit(.minutes(10)))
struct HostileUpstreamTests {
    static func yaml(_ base: String) -> String {
        """
        id: hostile
        jaggaer:
          baseURL: \(base)
          tokenURL: \(base)/auth/realms/J1p-integrations/protocol/openid-connect/token
          clientId: mlc-client
          clientSecret: {env: TEST_JAGGAER_SECRET}
        erp:
          kind: businessCentral
          businessCentral:
            tenantId: 0b5c2a44-9c43-4b2f-8b43-6b8e2b4f1a11
            environment: production
            clientId: 3d1e6a3e-1111-4e5e-9a77-5f5f5f5f5f5f
            clientSecret: {env: TEST_BC_SECRET}
            authorityURL: \(base)
            apiBaseURL: \(base)
            companyName: CRONUS
        flow:
          maxAttempts: 1
        network:
          allowHTTP: true
          allowedHosts: ["127.0.0.1"]

        """
    }

    /// Every shape in which `secret` could come back: the upstream's encodings of it.
    static func shapes(of secret: String) -> [String] {
        HostileUpstream.Encoding.allCases.map { HostileUpstream.encode(secret, $0) } + [
            Data(secret.utf8).base64EncodedString()
        ]
    }

    @Test("echoed headers and form bodies never leak", arguments: HostileUpstream.Encoding.allCases)
    func echoes(_ encoding: HostileUpstream.Encoding) async throws {
        let upstream = try await HostileUpstream.start()
        let directory = try TemporaryDirectory()
        do {
            let key = MasterKey.generate()
            let statePath = directory.path + "/state.sqlite"
            let state = "sqlite:" + statePath
            let suffix = UUID().uuidString.prefix(8)
            // Characters every encoding changes: / + = & space " \ and a non-ASCII letter.
            let jaggaerSecret = "Jg/\(suffix)+Sec ret=&\"x\\é"
            let bcSecret = "Bc/\(suffix)+Sup3r%Secret=&'y"
            let cachedToken = "cached.\(UUID().uuidString.lowercased())/tok+en="
            var environment = Binaries.environment(state: state, key: key)
            environment["TEST_JAGGAER_SECRET"] = jaggaerSecret
            environment["TEST_BC_SECRET"] = bcSecret
            let file = directory.path + "/hostile.yaml"
            try Self.yaml(upstream.baseURL).write(toFile: file, atomically: true, encoding: .utf8)
            let add = try await Binaries.run(
                "local-runner", ["connections", "add", "--file", file], environment: environment)
            try #require(add.exitCode == 0, "\(add.stderr)")

            var outputs: [String: String] = [:]
            let log = directory.path + "/steps.log"
            for (index, tokens) in ["refuse", "grant", "cached"].enumerated() {
                if tokens == "cached" {
                    // A token another process fetched: this process meets it first in the cache.
                    let store = try SQLiteStateStore(path: statePath)
                    let cache = TokenCache(
                        store: store, keys: try StateKeys(connection: "hostile"),
                        sealer: Vault(masterKey: try MasterKey(base64: key)))
                    for name in ["jaggaer", "businessCentral"] {
                        try await cache.save(
                            name, AccessToken(value: cachedToken, expiresAt: Date().addingTimeInterval(3000)),
                            now: Date())
                    }
                    try await store.close()
                }
                upstream.set(encoding: encoding, tokens: tokens == "grant" ? .grant : .refuse)
                let run = try await Binaries.run(
                    "local-runner", ["run", "--once", "--log", log, "--retry-base-ms", "50"],
                    environment: environment, timeout: .seconds(240))
                #expect(run.exitCode != 0, "a run whose every call failed must not exit 0")
                outputs["run \(index) stdout"] = run.text
                outputs["run \(index) stderr"] = run.stderr
            }
            let letters = try await Binaries.run(
                "local-runner", ["dead-letter", "list", "--json"], environment: environment)
            #expect(letters.exitCode == 0)
            #expect(letters.text.contains("you sent"), "the upstream's words are kept, masked")
            outputs["dead-letter list"] = letters.text
            for record in ["masterdata/vendors", "masterdata/accounts"] {
                let audit = try await Binaries.run(
                    "local-runner", ["audit", record, "--json"], environment: environment)
                outputs["audit \(record)"] = audit.text + audit.stderr
            }
            outputs["steps.log"] = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
            #expect(outputs["steps.log"]?.isEmpty == false)
            for (key, value) in try await snapshot(statePath) {
                outputs["store \(key)"] = String(decoding: value, as: UTF8.self)
            }
            let secrets = [jaggaerSecret, bcSecret, cachedToken, key]
            for (name, text) in outputs {
                for secret in secrets {
                    for shape in Self.shapes(of: secret) {
                        #expect(!text.contains(shape), "a secret leaked into \(name) as \(shape.prefix(12))…")
                    }
                }
                // Tokens the upstream granted: `hostile.<uuid>.<uuid>`.
                #expect(
                    text.range(of: #"hostile\.[0-9a-f-]{36}\.[0-9a-f-]{36}"#, options: .regularExpression) == nil,
                    "a granted token leaked into \(name)")
            }
            await upstream.shutdown()
        } catch {
            await upstream.shutdown()
            throw error
        }
    }
}
