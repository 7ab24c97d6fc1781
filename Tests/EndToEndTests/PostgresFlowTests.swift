import ConnectorCore
import ConnectorSecurity
import ConnectorSimulators
import ConnectorStatePostgres
import ConnectorTesting
import Foundation
import Testing

/// The whole demo flow with its state in PostgreSQL: the runner and every step process (each opening one connection
/// for its invocation) share one database on a private server.
@Suite("Full flow on a PostgreSQL store", .serialized, .timeLimit(.minutes(15)))
struct PostgresFlowTests {
    @Test("the demo drafts every mappable invoice exactly once on PostgreSQL; a second run books nothing new")
    func demoTwice() async throws {
        let server = try PostgresServerProcess()
        defer { server.stop() }
        try server.createDatabase("flow")
        let state = server.url(database: "flow")
        let fixture = try await FlowTests.Fixture.start()
        let (host, tenant, file) = (fixture.host, fixture.tenant, fixture.file)
        do {
            let key = MasterKey.generate()
            let expectations = tenant.expectations(maxVendorInvoiceNumberLength: 35, matchesPurchaseOrders: true)
            let expectedDrafts = expectations.values.filter { $0 == .drafted }.count

            let (first, firstRun) = try await FlowTests.demo(["--simulators", file], state: state, key: key)
            #expect(firstRun.exitCode == 0)
            #expect(first.expectationsMet, "\(first.mismatches)")
            #expect(first.drafted == expectedDrafts)
            #expect(first.draftedThisRun == expectedDrafts)
            #expect(first.failed == 0)
            #expect(first.erp.duplicateNaturalKeys == 0)
            for text in [firstRun.text, firstRun.stderr] {
                #expect(!text.contains(server.password), "the store's password was printed")
            }
            let bcAfterFirst = host.businessCentral.store.allPurchaseInvoices.count

            let (second, secondRun) = try await FlowTests.demo(
                ["--simulators", file, "--keep-state"], state: state, key: key)
            // (A second run exits 1 on any store: its purchase-order leg finds nothing new to write.)
            let secondLegs = try #require(
                try JSONDecoder().decode(Report.self, from: secondRun.stdout).businessCentralLegs)
            #expect(secondLegs.postRequests == 0, "an approved draft is never posted twice")
            #expect(secondLegs.expectationsMet)
            #expect(second.expectationsMet, "\(second.mismatches)")
            #expect(second.draftedThisRun == 0)
            #expect(second.captured == 0)
            #expect(host.businessCentral.store.allPurchaseInvoices.count == bcAfterFirst)

            // The state really is in PostgreSQL: the connections, the ledger and the sealed token cache.
            let store = try await PostgresStateStore(
                endpoint: try PostgresEndpoint.parse(state), mode: .readOnly)
            let keys = try await store.scanAll(prefix: "").map(\.key)
            #expect(keys.contains { $0.contains("/token/") }, "tokens are cached (sealed)")
            #expect(keys.count > expectedDrafts)
            try await store.close()
            await host.shutdown()
        } catch {
            await host.shutdown()
            throw error
        }
    }

    @Test(
        "the executables on a PostgreSQL URL: no table yet, a wrong password or a stopped server exit with a reason and no password"
    )
    func configurationFailures() async throws {
        let server = try PostgresServerProcess()
        defer { server.stop() }
        try server.createDatabase("empty")
        let key = MasterKey.generate()
        let event = Data(
            #"{"specversion":"1.0","id":"e-1","source":"urn:test","type":"com.mlconnector.poll.requested","data":{},"connection":"acme"}"#
                .utf8)
        let wrong = server.url(database: "empty").replacingOccurrences(of: server.password, with: "not-the-password")
        let cases: [(state: String, exit: Int32, says: String)] = [
            (server.url(database: "empty"), 78, "connections add"),
            (wrong, 78, "refused the credentials"),
        ]
        for (state, exit, says) in cases {
            let list = try await Binaries.run(
                "local-runner", ["connections", "list"], environment: Binaries.environment(state: state, key: key))
            let step = try await Binaries.run(
                "poll-jaggaer-invoices", stdin: event, environment: Binaries.environment(state: state, key: key))
            for run in [list, step] {
                #expect(run.exitCode == exit, "\(run.stderr)")
                let output = run.stderr + run.text
                #expect(output.contains(says), "\(output)")
                #expect(output.contains("PostgreSQL store at mlc@127.0.0.1:\(server.port)/empty"), "\(output)")
                #expect(!output.contains(server.password) && !output.contains("not-the-password"), "\(output)")
            }
        }
        server.stop()
        let down = try await Binaries.run(
            "poll-jaggaer-invoices", stdin: event,
            environment: Binaries.environment(state: server.url(database: "empty"), key: key))
        #expect(down.exitCode == 75, "a stopped server is temporary: \(down.stderr)")
        #expect(!(down.stderr + down.text).contains(server.password))
    }
}
