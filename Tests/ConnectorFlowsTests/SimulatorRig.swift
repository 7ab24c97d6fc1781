import ConnectorCore
import ConnectorFlows
import ConnectorHTTP
import ConnectorRuntime
import ConnectorSecurity
import ConnectorSimulators
import ConnectorTesting
import Foundation
import Logging

/// What the simulator rigs of this target (`FlowRig`, `NAVRig`, `FORig`, `B1Rig`) share: the simulators on
/// loopback, an in-memory store, a manual clock, one HTTP client and a vault under a fresh master key.
final class SimulatorRigParts: Sendable {
    let host: SimulatorHost
    let tenant: DemoTenant
    let store = InMemoryStateStore()
    let clock = ManualClock(Date())
    let http = AsyncHTTPClientTransport()
    let vault = Vault(masterKey: try! MasterKey(base64: MasterKey.generate()))

    init(host: SimulatorHost, tenant: DemoTenant) {
        self.host = host
        self.tenant = tenant
    }
}

/// A rig: the shared parts and its connection, run through the real wiring (`ConnectionRuntime`).
protocol SimulatorRig: Sendable {
    var parts: SimulatorRigParts { get }
    var connection: Connection { get }
}

extension SimulatorRig {
    var host: SimulatorHost { parts.host }
    var tenant: DemoTenant { parts.tenant }
    var store: InMemoryStateStore { parts.store }
    var clock: ManualClock { parts.clock }
    var http: AsyncHTTPClientTransport { parts.http }
    var vault: Vault { parts.vault }

    func runtime(owner: String = "test-\(UUID().uuidString.prefix(6))") throws -> ConnectionRuntime {
        let context = StepContext(
            store: store, keys: try StateKeys(connection: connection.id), connection: connection, clock: clock,
            logger: Logger(label: "test"), owner: owner
        )
        return try ConnectionRuntime(context: context, vault: vault, http: http, counter: RequestCounter())
    }

    func connector() throws -> any ERPConnector { try runtime().erpConnector() }

    func stop() async {
        await http.shutdown()
        await host.shutdown()
    }

    /// Runs the body, then shuts the client and the simulators down, whether it threw or not.
    func run(_ body: (Self) async throws -> Void) async throws {
        do {
            try await body(self)
            await stop()
        } catch {
            await stop()
            throw error
        }
    }
}

extension Connection {
    /// A connection to the simulators of `host`: JAGGAER with the tenant's credentials (pages of 10), the given ERP,
    /// plain HTTP to loopback allowed.
    static func onSimulators(
        id: String, host: SimulatorHost, tenant: DemoTenant, erp: ERPSettings,
        mapping: MappingRules = MappingRules(
            dimensions: [], taxAccount: "22500", chargesAccount: "62300", discountAccount: "54800",
            localCurrency: "USD"),
        settleSeconds: Int = 60
    ) -> Connection {
        let credentials = tenant.credentials
        return Connection(
            id: id,
            jaggaer: JaggaerSettings(
                baseURL: host.jaggaerBaseURL, tokenURL: host.jaggaerTokenURL, clientId: credentials.jaggaerClientId,
                clientSecret: .plain(Secret(credentials.jaggaerClientSecret)), pageSize: 10
            ),
            erp: erp,
            mapping: mapping,
            flow: FlowSettings(ambiguousWriteSettleSeconds: settleSeconds),
            network: NetworkSettings(allowHTTP: true, allowedHosts: ["127.0.0.1"], requestTimeoutSeconds: 10)
        )
    }
}
