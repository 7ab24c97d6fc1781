import ConnectorCore
import ConnectorSecurity
import ConnectorSimulators
import ConnectorTesting
import Foundation
import Testing

@Suite("local-runner commands", .serialized, .timeLimit(.minutes(10)))
struct CLITests {
    static func yaml(host: SimulatorHost, tenant: DemoTenant, bcSecret: String) -> String {
        let c = tenant.credentials
        return """
            id: acme
            name: ACME test
            jaggaer:
              baseURL: \(host.jaggaerBaseURL)
              tokenURL: \(host.jaggaerTokenURL)
              clientId: \(c.jaggaerClientId)
              clientSecret: {env: TEST_JAGGAER_SECRET}
              pageSize: 20
            erp:
              kind: businessCentral
              businessCentral:
                tenantId: \(c.entraTenantId)
                environment: \(c.businessCentralEnvironment)
                clientId: \(c.entraClientId)
                clientSecret: "\(bcSecret)"
                authorityURL: \(host.entraAuthorityURL)
                apiBaseURL: \(host.businessCentralBaseURL)
                companyName: \(c.companyName)
            mapping:
              accountSegment: Account
              dimensions:
                - {segment: Fund, dimension: FUND}
                - {segment: Financial_Unit, dimension: DEPARTMENT}
                - {segment: Program, dimension: PROGRAM}
              taxAccount: "22500"
              chargesAccount: "62300"
              discountAccount: "54800"
              localCurrency: USD
            network:
              allowInsecureHTTP: true

            """
    }

    @Test("keys, connections add/list/remove: secrets sealed, masked, and the wrong key refused with 78")
    func connections() async throws {
        let tenant = DemoTenant.generate(invoiceCount: 10, seed: 5)
        let host = try await SimulatorHost.start(tenant: tenant)
        let directory = try TemporaryDirectory()
        do {
            let keyRun = try await Binaries.run(
                "local-runner", ["keys", "generate"], environment: ["PATH": "/usr/bin:/bin"])
            let key = keyRun.text.trimmingCharacters(in: .whitespacesAndNewlines)
            #expect(keyRun.exitCode == 0)
            #expect(Data(base64Encoded: key)?.count == 32)
            let file = directory.path + "/acme.yaml"
            try Self.yaml(host: host, tenant: tenant, bcSecret: tenant.credentials.entraClientSecret).write(
                toFile: file, atomically: true, encoding: .utf8)
            let state = "sqlite:" + directory.path + "/state.sqlite"
            var environment = Binaries.environment(state: state, key: key)
            environment["TEST_JAGGAER_SECRET"] = tenant.credentials.jaggaerClientSecret

            let add = try await Binaries.run(
                "local-runner", ["connections", "add", "--file", file], environment: environment)
            #expect(add.exitCode == 0, "\(add.stderr)")
            let stored = try await snapshot(directory.path + "/state.sqlite")
            for value in stored.values {
                let text = String(decoding: value, as: UTF8.self)
                #expect(
                    !text.contains(tenant.credentials.jaggaerClientSecret)
                        && !text.contains(tenant.credentials.entraClientSecret))
            }

            let list = try await Binaries.run(
                "local-runner", ["connections", "list", "--json"], environment: environment)
            #expect(list.exitCode == 0)
            #expect(list.text.contains("acme") && list.text.contains("********"))
            #expect(!list.text.contains(tenant.credentials.entraClientSecret))

            var wrong = environment
            wrong["MLC_MASTER_KEY"] = MasterKey.generate()
            let refused = try await Binaries.run("local-runner", ["connections", "list"], environment: wrong)
            #expect(refused.exitCode == 78)
            #expect(refused.stderr.contains("config.master_key_mismatch"))
            wrong["MLC_MASTER_KEY"] = nil
            #expect(try await Binaries.run("local-runner", ["connections", "list"], environment: wrong).exitCode == 78)

            var broken = environment
            broken["TEST_JAGGAER_SECRET"] = nil
            let unresolved = try await Binaries.run(
                "local-runner", ["connections", "add", "--file", file], environment: broken)
            #expect(unresolved.exitCode == 78, "an {env: ...} secret that is not set is a configuration error")

            let insecure = directory.path + "/insecure.yaml"
            try Self.yaml(host: host, tenant: tenant, bcSecret: "x-secret-value").replacingOccurrences(
                of: "  allowInsecureHTTP: true", with: "  allowInsecureHTTP: false"
            )
            .write(toFile: insecure, atomically: true, encoding: .utf8)
            let rejected = try await Binaries.run(
                "local-runner", ["connections", "add", "--file", insecure], environment: environment)
            #expect(rejected.exitCode == 78)
            #expect(rejected.stderr.contains("security.url_rejected"))

            #expect(
                try await Binaries.run("local-runner", ["connections", "remove", "acme"], environment: environment)
                    .exitCode == 0)
            #expect(
                try await Binaries.run("local-runner", ["connections", "remove", "acme"], environment: environment)
                    .exitCode == 78)
            await host.shutdown()
        } catch {
            await host.shutdown()
            throw error
        }
    }

    @Test("run --once drafts the invoices, audit shows a record's trail, invoke replays a stored event safely")
    func runOnceAuditInvoke() async throws {
        let tenant = DemoTenant.generate(invoiceCount: 30, seed: 9)
        let host = try await SimulatorHost.start(tenant: tenant)
        let directory = try TemporaryDirectory()
        do {
            let key = MasterKey.generate()
            let file = directory.path + "/acme.yaml"
            try Self.yaml(host: host, tenant: tenant, bcSecret: tenant.credentials.entraClientSecret).write(
                toFile: file, atomically: true, encoding: .utf8)
            let state = "sqlite:" + directory.path + "/state.sqlite"
            var environment = Binaries.environment(state: state, key: key)
            environment["TEST_JAGGAER_SECRET"] = tenant.credentials.jaggaerClientSecret
            #expect(
                try await Binaries.run(
                    "local-runner", ["connections", "add", "--file", file], environment: environment
                ).exitCode == 0)

            let run = try await Binaries.run("local-runner", ["run", "--once"], environment: environment)
            #expect(run.exitCode == 0, "\(run.stderr.suffix(1500))")
            let drafted = tenant.expectations.filter { $0.value == .drafted }.map(\.key).sorted()
            #expect(host.businessCentral.store.allPurchaseInvoices.count == drafted.count + 2)

            let id = try #require(drafted.first)
            let audit = try await Binaries.run(
                "local-runner", ["audit", "jaggaer-invoice-\(id)", "--json"], environment: environment)
            #expect(audit.exitCode == 0)
            struct Trail: Decodable {
                struct Status: Decodable { var state: String }
                struct Entry: Decodable {
                    var step: String
                    var status: String
                    var input: CloudEvent?
                }
                var status: Status?
                var entries: [Entry]
            }
            let trail = try JSONCoding.decode(Trail.self, from: audit.stdout)
            #expect(trail.status?.state == "written")
            #expect(trail.entries.map(\.step) == ["poll-jaggaer-invoices", "transform-invoice", "write-erp-invoice"])
            let written = try #require(trail.entries.last?.input)

            let replay = try await Binaries.run(
                "local-runner", ["invoke", "write-erp-invoice"], stdin: try JSONCoding.encode(written),
                environment: environment)
            #expect(replay.exitCode == 0)
            #expect(try JSONCoding.decode(StepResult.self, from: replay.stdout).status == .duplicate)
            #expect(host.businessCentral.store.allPurchaseInvoices.count == drafted.count + 2, "a replay books nothing")

            let unknown = try await Binaries.run("local-runner", ["audit", "no-such-record"], environment: environment)
            #expect(unknown.exitCode == 65)
            await host.shutdown()
        } catch {
            await host.shutdown()
            throw error
        }
    }
}
