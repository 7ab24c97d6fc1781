import BusinessCentral
import ConnectorCore
import ConnectorSecurity
import ConnectorSimulators
import ConnectorStateSQLite
import ConnectorTesting
import Foundation
import Testing

@Suite("Tokens and limits shared by many processes", .serialized, .timeLimit(.minutes(10)))
struct SharedLimitsTests {
    static func connection(_ host: SimulatorHost, _ tenant: DemoTenant, secret: String, budget: Int = 6000)
        -> Connection
    {
        let c = tenant.credentials
        return Connection(
            id: "shared",
            jaggaer: JaggaerSettings(
                baseURL: host.jaggaerBaseURL, tokenURL: host.jaggaerTokenURL, clientId: c.jaggaerClientId,
                clientSecret: .plain(Secret(c.jaggaerClientSecret))),
            erp: ERPSettings(
                BusinessCentralSettings(
                    tenantId: c.entraTenantId, environment: c.businessCentralEnvironment, clientId: c.entraClientId,
                    clientSecret: .plain(Secret(secret)), authorityURL: host.entraAuthorityURL,
                    apiBaseURL: host.businessCentralBaseURL, companyId: c.companyId, requestsPerFiveMinutes: budget
                )
            ),
            network: NetworkSettings(allowHTTP: true, allowedHosts: ["127.0.0.1"])
        )
    }

    /// Runs `count` sync-vendors processes at once; returns their exit codes and results.
    static func burst(_ count: Int, path: String, key: String) async throws -> [(Int32, StepResult?)] {
        try await withThrowingTaskGroup(of: (Int32, StepResult?).self) { group in
            for index in 0..<count {
                group.addTask {
                    let event = Data(
                        #"{"specversion":"1.0","id":"burst-\#(index)-\#(UUID().uuidString)","source":"urn:test","type":"com.mlconnector.masterdata.sync_requested","data":{"full":true},"connection":"shared"}"#
                            .utf8)
                    let run = try await Binaries.run(
                        "sync-vendors", stdin: event,
                        environment: Binaries.environment(state: "sqlite:" + path, key: key))
                    return (run.exitCode, try? JSONCoding.decode(StepResult.self, from: run.stdout))
                }
            }
            var results: [(Int32, StepResult?)] = []
            for try await result in group { results.append(result) }
            return results
        }
    }

    @Test("twelve processes at once fetch one token; after a secret rotation, one more")
    func singleFlightAndRotation() async throws {
        let tenant = DemoTenant.generate(invoiceCount: 5, seed: 4)
        let host = try await SimulatorHost.start(tenant: tenant)
        let directory = try TemporaryDirectory()
        do {
            let path = directory.path + "/state.sqlite"
            let key = MasterKey.generate()
            let vault = Vault(masterKey: try MasterKey(base64: key))
            let store = try SQLiteStateStore(path: path)
            try await ConnectionStore(store: store, vault: vault).save(
                Self.connection(host, tenant, secret: tenant.credentials.entraClientSecret))

            let first = try await Self.burst(12, path: path, key: key)
            #expect(first.allSatisfy { $0.0 == 0 }, "\(first.map(\.0))")
            #expect(host.counters["entra POST token", default: 0] == 1, "one token for twelve processes")

            // The secret is rotated at the identity provider and in the connection; old tokens are revoked.
            let rotated = "rotated-secret-\(UUID().uuidString)"
            host.entra.tokens.rotate(
                to: ClientCredentials(clientId: tenant.credentials.entraClientId, clientSecret: rotated))
            host.entra.tokens.expireAll()
            let stale = try await Self.burst(3, path: path, key: key)
            #expect(stale.allSatisfy { $0.0 == 78 }, "the old secret is refused as a configuration problem")
            try await ConnectionStore(store: store, vault: vault).save(Self.connection(host, tenant, secret: rotated))
            let tokensBefore = host.counters["entra POST token", default: 0]
            let second = try await Self.burst(12, path: path, key: key)
            #expect(second.allSatisfy { $0.0 == 0 }, "\(second.map(\.0))")
            #expect(
                host.counters["entra POST token", default: 0] == tokensBefore + 1, "one new token after the rotation")
            try await store.close()
            await host.shutdown()
        } catch {
            await host.shutdown()
            throw error
        }
    }

    @Test("the shared rate limiter keeps concurrent processes under the ERP's limit")
    func sharedRateLimit() async throws {
        let tenant = DemoTenant.generate(invoiceCount: 5, seed: 4)
        // BC allows 6 requests per second here; the connection's budget is 4 per second (1,200 per 5 minutes). The
        // pacer spaces the admissions; the margin absorbs requests that a loaded machine sends late and so closer
        // together than they were admitted.
        let host = try await SimulatorHost.start(tenant: tenant, options: .init(rateLimit: 6, rateLimitWindow: 1))
        let directory = try TemporaryDirectory()
        do {
            let path = directory.path + "/state.sqlite"
            let key = MasterKey.generate()
            let store = try SQLiteStateStore(path: path)
            try await ConnectionStore(store: store, vault: Vault(masterKey: try MasterKey(base64: key)))
                .save(Self.connection(host, tenant, secret: tenant.credentials.entraClientSecret, budget: 1200))
            try await store.close()
            let started = ContinuousClock.now
            let results = try await Self.burst(15, path: path, key: key)
            let elapsed = ContinuousClock.now - started
            #expect(results.allSatisfy { $0.0 == 0 })
            // Each process reads the vendors once; no request was refused with 429 and retried.
            let vendorReads = host.counters["bc GET vendors", default: 0]
            #expect(vendorReads == 15, "no retries: the limiter kept every request under BC's limit")
            #expect(elapsed >= .seconds(3), "15 requests at 4 per second take at least three seconds")
            await host.shutdown()
        } catch {
            await host.shutdown()
            throw error
        }
    }
}
