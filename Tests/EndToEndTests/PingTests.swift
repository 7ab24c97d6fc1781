import ConnectorCore
import ConnectorSecurity
import ConnectorSimulators
import ConnectorTesting
import Foundation
import Testing

@Suite("local-runner ping: see if we fit", .serialized, .timeLimit(.minutes(5)))
struct PingTests {
    static func ping(
        _ host: SimulatorHost, _ tenant: DemoTenant, directory: TemporaryDirectory, reuse: Bool = false,
        yaml transform: (String) -> String = { $0 }
    ) async throws -> (Binaries.Run, [FitCheck]) {
        let key = MasterKey.generate()
        let state = "sqlite:" + directory.path + "/\(UUID().uuidString.prefix(6)).sqlite"
        var environment = Binaries.environment(state: state, key: key)
        environment["TEST_JAGGAER_SECRET"] = tenant.credentials.jaggaerClientSecret
        let file = directory.path + "/acme.yaml"
        try transform(CLITests.yaml(host: host, tenant: tenant, bcSecret: tenant.credentials.entraClientSecret))
            .write(toFile: file, atomically: true, encoding: .utf8)
        if reuse {
            // A first ping with the file as it was, so a token sits in the shared cache when the change comes.
            let first = directory.path + "/first.yaml"
            try CLITests.yaml(host: host, tenant: tenant, bcSecret: tenant.credentials.entraClientSecret)
                .write(toFile: first, atomically: true, encoding: .utf8)
            _ = try await Binaries.run(
                "local-runner", ["connections", "add", "--file", first], environment: environment)
            #expect(try await Binaries.run("local-runner", ["ping", "acme"], environment: environment).exitCode == 0)
        }
        let add = try await Binaries.run(
            "local-runner", ["connections", "add", "--file", file], environment: environment)
        try #require(add.exitCode == 0, "\(add.stderr)")
        let text = try await Binaries.run("local-runner", ["ping", "acme"], environment: environment)
        let json = try await Binaries.run("local-runner", ["ping", "acme", "--json"], environment: environment)
        #expect(json.exitCode == text.exitCode)
        return (text, try JSONCoding.decode([FitCheck].self, from: json.stdout))
    }

    @Test("a connection that fits passes every check, reads real counts and writes nothing")
    func fits() async throws {
        let tenant = DemoTenant.generate(invoiceCount: 20, seed: 3)
        let host = try await SimulatorHost.start(tenant: tenant)
        let directory = try TemporaryDirectory()
        do {
            let before = host.businessCentral.store.allPurchaseInvoices.count
            let (run, report) = try await Self.ping(host, tenant, directory: directory)
            #expect(run.exitCode == 0, "\(run.text)\(run.stderr)")
            #expect(run.text.contains("fits: every check passed"))
            #expect(!report.contains { $0.outcome == .fail })
            #expect(report.map(\.system).contains("jaggaer") && report.map(\.system).contains("businessCentral"))
            let vendors = try #require(report.first { $0.check == "read vendors" })
            #expect(vendors.detail.hasPrefix("\(tenant.businessCentral.vendors.count) vendors"))
            #expect(report.contains { $0.outcome == .unchecked && $0.check.contains("create") })
            #expect(host.businessCentral.store.allPurchaseInvoices.count == before, "a ping writes nothing")
            await host.shutdown()
        } catch {
            await host.shutdown()
            throw error
        }
    }

    @Test("a wrong secret, a wrong company and a wrong JAGGAER secret each fail with what to change")
    func failuresSayWhatToChange() async throws {
        let tenant = DemoTenant.generate(invoiceCount: 5, seed: 3)
        let host = try await SimulatorHost.start(tenant: tenant)
        let directory = try TemporaryDirectory()
        do {
            // After a working ping (a token in the shared cache), the secret is changed: ping must sign in anew.
            let (wrongSecret, report) = try await Self.ping(host, tenant, directory: directory, reuse: true) {
                $0.replacingOccurrences(of: tenant.credentials.entraClientSecret, with: "not-the-right-secret-1")
            }
            #expect(wrongSecret.exitCode == 1)
            let signIn = try #require(report.first { $0.system == "businessCentral" })
            #expect(signIn.outcome == .fail)
            #expect(signIn.detail.contains("AADSTS7000215"))
            #expect(signIn.fix?.contains("Value (not its Secret ID)") == true)
            #expect(!wrongSecret.text.contains("not-the-right-secret-1"), "the secret is never printed")

            let (wrongCompany, companyReport) = try await Self.ping(host, tenant, directory: directory) {
                $0.replacingOccurrences(
                    of: "companyName: \(tenant.credentials.companyName)", with: "companyName: No Such Co")
            }
            #expect(wrongCompany.exitCode == 1)
            let company = try #require(companyReport.first { $0.check.contains("company") })
            #expect(company.outcome == .fail)
            #expect(company.fix?.contains("companyName") == true)
            #expect(company.detail.contains(tenant.credentials.companyName), "the companies found are named")

            let (jaggaer, jaggaerReport) = try await Self.ping(host, tenant, directory: directory) { yaml in
                var copy = yaml
                copy = copy.replacingOccurrences(of: "{env: TEST_JAGGAER_SECRET}", with: "wrong-jaggaer-secret-1")
                return copy
            }
            #expect(jaggaer.exitCode == 1)
            let jaggaerSignIn = try #require(jaggaerReport.first { $0.system == "jaggaer" })
            #expect(jaggaerSignIn.outcome == .fail)
            #expect(jaggaerSignIn.fix?.contains("jaggaer.clientId") == true)
            #expect(jaggaer.text.contains("FAIL") && jaggaer.text.contains("fix:"))
            await host.shutdown()
        } catch {
            await host.shutdown()
            throw error
        }
    }
}
