import BusinessCentral
import ConnectorCore
import ConnectorFlows
import ConnectorHTTP
import ConnectorRuntime
import ConnectorSecurity
import ConnectorSimulators
import ConnectorTesting
import Foundation
import Logging
import Testing

/// Business Central counts its request limit per user of an environment, not per company: connections to two
/// companies of one environment under one app registration must spend one budget, or together they send twice the
/// allowance and meet 429s.
@Suite("Request budgets shared by connections")
struct SharedBudgetTests {
    @Test("a budget key depends on the scope only, and an empty scope keeps the connection's own")
    func budgetKeys() throws {
        let first = try StateKeys(connection: "first")
        let second = try StateKeys(connection: "second")
        let scope = ["https://api.example/v2.0/t/production/api/v2.0", "client"]
        let shared = SystemEnvironment.budgetKey("businessCentral", scope: scope, keys: first)
        #expect(shared.hasPrefix("shared/ratelimit/businessCentral/"))
        #expect(shared == SystemEnvironment.budgetKey("businessCentral", scope: scope, keys: second))
        #expect(!shared.contains("api.example") && !shared.contains("client"))
        #expect(
            shared != SystemEnvironment.budgetKey("businessCentral", scope: [scope[0], "other-client"], keys: first))
        #expect(shared != SystemEnvironment.budgetKey("financeOperations", scope: scope, keys: first))
        // The parts are separated, so moving text from one to the other is another scope.
        #expect(
            SystemEnvironment.budgetKey("x", scope: ["ab", "c"], keys: first)
                != SystemEnvironment.budgetKey("x", scope: ["a", "bc"], keys: first))
        #expect(
            SystemEnvironment.budgetKey("businessCentral", scope: [], keys: first)
                == first.key("ratelimit", "businessCentral"))
    }

    @Test("two companies of one BC environment under one client id pace on one budget; another environment has its own")
    func businessCentralCompaniesShare() async throws {
        let rig = try await FlowRig.start(invoices: 2)
        try await rig.run { rig in
            var settings = try rig.connection.erp.typed(BusinessCentralSettings.self)
            func connection(_ id: String, _ change: (inout BusinessCentralSettings) -> Void) -> Connection {
                var copy = rig.connection
                copy.id = id
                var edited = settings
                change(&edited)
                copy.erp = ERPSettings(edited)
                return copy
            }
            settings.requestsPerFiveMinutes = 3000
            let connections = [
                connection("company-a") { _ in },
                // Another company of the same environment: the company id is not part of the user's allowance.
                connection("company-b") { $0.companyId = UUID().uuidString.lowercased() },
                // The same app in another environment of the tenant: a budget of its own.
                connection("other-environment") { $0.environment = "Sandbox" },
            ]
            // The manual clock moves only by the sleeps asked of it: a paced request sleeps the rest of its interval.
            var waits: [[Duration]] = []
            for connection in connections {
                let context = StepContext(
                    store: rig.store, keys: try StateKeys(connection: connection.id), connection: connection,
                    clock: rig.clock, logger: Logger(label: "test"), owner: "test")
                let runtime = try ConnectionRuntime(
                    context: context, vault: rig.vault, http: rig.http, counter: RequestCounter())
                let before = rig.clock.sleeps.count
                // The answer does not matter (the second company and the second environment do not exist in the
                // simulator): the request spends the budget before it is sent.
                _ = try? await runtime.erpConnector().vendors(after: nil, pageSize: 1)
                waits.append(Array(rig.clock.sleeps[before...]))
            }
            // 3000 requests per 5 minutes: one every 0.1 s. The first company's requests take their turns; the
            // second company's first request waits its turn behind them on the same budget (on a budget of its own
            // it would go at once); the other environment's goes at once, on a budget of its own.
            #expect(waits[1].first.map { abs($0.timeInterval - 0.1) < 0.005 } == true, "\(waits)")
            #expect(waits[2].isEmpty, "\(waits)")
            let budgets = try await rig.store.scanAll(prefix: "shared/ratelimit/businessCentral/")
            #expect(budgets.count == 2, "\(budgets.map(\.key))")
            let own = try await rig.store.scanAll(prefix: "conn/")
            #expect(own.filter { $0.key.contains("/ratelimit/") }.isEmpty, "\(own.map(\.key))")
        }
    }
}
