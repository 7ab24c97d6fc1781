import ConnectorSimulators
import Foundation
import Testing

@Suite("Starting and stopping simulators", .serialized)
struct SimulatorHostTests {
    @Test("several hosts run side by side on distinct ephemeral ports and stop cleanly")
    func severalHosts() async throws {
        let first = try await SimulatorHost.start(tenant: smallTenant)
        let second = try await SimulatorHost.start(tenant: smallTenant)
        let urls = [
            first.jaggaerBaseURL, first.entraAuthorityURL, first.businessCentralBaseURL, second.jaggaerBaseURL,
            second.entraAuthorityURL, second.businessCentralBaseURL,
        ]
        #expect(Set(urls).count == 6)
        #expect(urls.allSatisfy { $0.hasPrefix("http://127.0.0.1:") && !$0.hasSuffix(":0") })
        #expect(try await HTTP.get(first.businessCentralBaseURL + "/_sim/counters").status == 200)
        #expect(try await HTTP.get(second.businessCentralBaseURL + "/_sim/counters").status == 200)
        await first.shutdown()
        await #expect(throws: (any Error).self) {
            _ = try await HTTP.get(first.businessCentralBaseURL + "/_sim/counters")
        }
        #expect(try await HTTP.get(second.businessCentralBaseURL + "/_sim/counters").status == 200)
        await second.shutdown()
        await #expect(throws: (any Error).self) { _ = try await HTTP.get(second.jaggaerBaseURL + "/_sim/counters") }
    }

    @Test("a fixed port that is taken makes start fail without leaving servers running")
    func portInUse() async throws {
        let running = try await SimulatorHost.start(tenant: smallTenant)
        let taken = Int(running.businessCentralBaseURL.split(separator: ":").last ?? "") ?? 0
        await #expect(throws: (any Error).self) {
            let host = try await SimulatorHost.start(tenant: smallTenant, options: .init(businessCentralPort: taken))
            await host.shutdown()
        }
        await running.shutdown()
    }

    @Test("withSimulators returns the body's value and exposes URLs and credentials")
    func scoped() async throws {
        let info = try await withSimulators(tenant: smallTenant) { host in
            #expect(
                host.jaggaerTokenURL == host.jaggaerBaseURL
                    + "/auth/realms/J1p-integrations/protocol/openid-connect/token")
            #expect(
                host.entraTokenURL
                    == "\(host.entraAuthorityURL)/\(host.tenant.credentials.entraTenantId)/oauth2/v2.0/token")
            #expect(
                host.businessCentralAPIURL.hasSuffix(
                    "/v2.0/\(host.tenant.credentials.entraTenantId)/production/api/v2.0"))
            return host.connectionInfo
        }
        #expect(info["entra"]?["scope"] == .string("https://api.businesscentral.dynamics.com/.default"))
        #expect(info["businessCentral"]?["companyName"] == .string("CRONUS USA, Inc."))
        #expect(info["jaggaer"]?["clientSecret"] == .string(smallTenant.credentials.jaggaerClientSecret))
    }
}
