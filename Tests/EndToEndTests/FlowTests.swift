import ConnectorCore
import ConnectorSecurity
import ConnectorSimulators
import ConnectorTesting
import Foundation
import Testing

/// One connection's summary as `local-runner demo --json` prints it (the fields these tests read).
struct Summary: Decodable {
    struct ERP: Decodable {
        var documents: Int
        var byStatus: [String: Int]
        var duplicateNaturalKeys: Int
        var purchaseOrderLinkedLines: Int
    }
    struct HTTP: Decodable {
        var erpRequests: Int
        var byEndpoint: [String: Int]
    }
    var connection: String
    var erpKind: String
    var approved: Int
    var drafted: Int
    var draftedThisRun: Int
    var alreadyInERP: Int
    var duplicatesSkippedThisRun: Int
    var sentToReview: Int
    var reviewByReason: [String: Int]
    var failed: Int
    var captured: Int
    var expectationsMet: Bool
    var mismatches: [String]
    var erp: ERP
    var http: HTTP
}

/// The whole demo report: one summary per simulated ERP.
struct Report: Decodable {
    /// The demo's Business Central posting leg.
    struct Legs: Decodable {
        var record: String?
        var approvals: Int
        var postRequests: Int
        var recordState: String?
        var expectationsMet: Bool
    }
    var connections: [Summary]
    var expectationsMet: Bool
    var pending: Int
    var businessCentralLegs: Legs?
    var jaggaerWriter: WriterLeg?
}

/// The demo's JAGGAER-writer leg (DemoLegJaggaerWriter.Report).
struct WriterLeg: Decodable {
    struct Counts: Decodable {
        var suppliers: Int
        var activeCodingValues: Int
    }
    struct Payment: Decodable {
        var erpKind: String
        var skipped: String?
        var step: [String: String]?
        var jaggaerPaymentStatus: String?
    }
    var beforeInvoices: Counts
    var payments: [Payment]
    var problems: [String]
    var expectationsMet: Bool
}

@Suite("Full flows through the local runner", .serialized, .timeLimit(.minutes(15)))
struct FlowTests {
    static let invoices = 80

    /// Simulators in this process, described to the runner through the file `mlc-simulators serve` would print.
    struct Fixture {
        var host: SimulatorHost
        var tenant: DemoTenant
        var file: String
        var directory: TemporaryDirectory

        static func start() async throws -> Fixture {
            let tenant = DemoTenant.generate(invoiceCount: invoices, seed: 7)
            let directory = try TemporaryDirectory()
            let host = try await SimulatorHost.start(tenant: tenant)
            // Exactly what `mlc-simulators serve` prints.
            let file = directory.path + "/simulators.json"
            try Data(host.connectionInfo.serialized()).write(to: URL(fileURLWithPath: file))
            return Fixture(host: host, tenant: tenant, file: file, directory: directory)
        }
    }

    /// Runs the demo; returns Business Central's summary (the others are checked to meet their expectations).
    static func demo(_ arguments: [String], state: String, key: String, logLevel: String = "info") async throws -> (
        Summary, Binaries.Run
    ) {
        var environment = Binaries.environment(state: state, key: key)
        environment["MLC_LOG_LEVEL"] = logLevel
        let run = try await Binaries.run(
            "local-runner",
            ["demo", "--json", "--invoices", String(invoices), "--seed", "7", "--state", state] + arguments,
            environment: environment
        )
        guard let report = try? JSONDecoder().decode(Report.self, from: run.stdout),
            let summary = report.connections.first(where: { $0.erpKind == "businessCentral" })
        else {
            Issue.record(
                "demo printed no summary (exit \(run.exitCode)): \(run.text.prefix(500)) \(run.stderr.suffix(2000))")
            throw CancellationError()
        }
        // Vendors and accounts reached JAGGAER before the invoices; a paid BC invoice shows as paid in JAGGAER.
        let writer = report.jaggaerWriter
        #expect(writer?.expectationsMet == true, "\(writer?.problems ?? ["no JAGGAER-writer leg"])")
        #expect((writer?.beforeInvoices.suppliers ?? 0) > 0)
        #expect((writer?.beforeInvoices.activeCodingValues ?? 0) > 0)
        #expect(writer?.payments.first { $0.erpKind == "businessCentral" }?.jaggaerPaymentStatus == "Paid")
        for other in report.connections where other.erpKind != "businessCentral" {
            #expect(other.expectationsMet, "\(other.erpKind): \(other.mismatches)")
            #expect(other.erp.duplicateNaturalKeys == 0, "\(other.erpKind)")
        }
        return (summary, run)
    }

    @Test("the demo drafts every mappable invoice exactly once; a second run against the same store books nothing new")
    func twice() async throws {
        let fixture = try await Fixture.start()
        let (host, tenant, file, directory) = (fixture.host, fixture.tenant, fixture.file, fixture.directory)
        do {
            let state = "sqlite:" + directory.path + "/state.sqlite"
            let key = MasterKey.generate()
            // Business Central also checks each invoice's PO (number and vendor) before writing.
            let expectations = tenant.expectations(maxVendorInvoiceNumberLength: 35, matchesPurchaseOrders: true)
            let expectedDrafts = expectations.values.filter { $0 == .drafted }.count
            let expectedReview = expectations.values.filter { if case .review = $0 { true } else { false } }.count

            let (first, firstRun) = try await Self.demo(["--simulators", file], state: state, key: key)
            #expect(firstRun.exitCode == 0)
            #expect(first.expectationsMet, "\(first.mismatches)")
            #expect(first.drafted == expectedDrafts)
            #expect(first.draftedThisRun == expectedDrafts)
            #expect(first.alreadyInERP == 2)
            #expect(first.sentToReview == expectedReview)
            #expect(first.failed == 0)
            #expect(first.erp.duplicateNaturalKeys == 0)
            // Nothing posts: every invoice the connector made is a draft (the one "Open" was posted by hand in the seed).
            #expect(first.erp.byStatus["Draft", default: 0] == expectedDrafts + 1)
            #expect(first.erp.byStatus["Open", default: 0] == 1)
            #expect(first.reviewByReason["po.unknown", default: 0] >= 1)
            #expect(first.reviewByReason["po.vendor_mismatch", default: 0] >= 1)
            // One deep insert per written invoice, and the natural-key lookups (with the POs they name) in one
            // `$batch` per page of invoices instead of one read per invoice.
            let creates = first.http.byEndpoint["bc POST purchaseInvoices", default: 0]
            let batches = first.http.byEndpoint["bc POST $batch", default: 0]
            let singles = first.http.byEndpoint["bc GET purchaseInvoices", default: 0]
            #expect(creates == expectedDrafts)
            #expect(batches >= 1 && batches <= 4, "\(first.http.byEndpoint)")
            #expect(singles <= 2, "\(first.http.byEndpoint)")
            #expect(first.http.erpRequests <= expectedDrafts + 6, "\(first.http.byEndpoint)")
            // The posting leg: one draft approved, the approval delivered twice, one Microsoft.NAV.post.
            let firstLegs = try #require(
                try JSONDecoder().decode(Report.self, from: firstRun.stdout).businessCentralLegs)
            #expect(firstLegs.approvals == 2)
            #expect(firstLegs.postRequests == 1)
            #expect(firstLegs.recordState == "posted")
            #expect(firstLegs.expectationsMet)
            // The posted draft is the one the JAGGAER-writer leg then pays (both take the first written invoice):
            // the hand-keyed open invoice stays open, the posted one is paid.
            let statuses = host.businessCentral.store.allPurchaseInvoices.map(\.invoice.status)
            #expect(statuses.filter { $0 == "Open" }.count == 1, "\(statuses)")
            #expect(statuses.filter { $0 == "Paid" }.count == 1, "\(statuses)")
            let bcAfterFirst = host.businessCentral.store.allPurchaseInvoices.count
            let firstLeg = try JSONDecoder().decode(Report.self, from: firstRun.stdout).jaggaerWriter
            #expect(firstLeg?.payments.first { $0.erpKind == "businessCentral" }?.step?["updated"] == "1")

            // Same store, same systems: nothing new to capture, nothing booked.
            let (second, secondRun) = try await Self.demo(
                ["--simulators", file, "--keep-state"], state: state, key: key)
            let secondLegs = try #require(
                try JSONDecoder().decode(Report.self, from: secondRun.stdout).businessCentralLegs)
            #expect(secondLegs.record == firstLegs.record)
            #expect(secondLegs.postRequests == 0, "an approved draft is never posted twice")
            #expect(secondLegs.expectationsMet)
            // The same invoice paid again: JAGGAER already shows it, nothing is sent.
            let secondLeg = try JSONDecoder().decode(Report.self, from: secondRun.stdout).jaggaerWriter
            #expect(secondLeg?.payments.first { $0.erpKind == "businessCentral" }?.step?["updated"] == "0")
            #expect(second.expectationsMet, "\(second.mismatches)")
            #expect(second.draftedThisRun == 0)
            #expect(second.captured == 0)
            #expect(host.businessCentral.store.allPurchaseInvoices.count == bcAfterFirst)

            // Replaying everything from the start: every write is recognised, still nothing booked twice.
            let (replay, _) = try await Self.demo(
                ["--simulators", file, "--keep-state", "--from-start"], state: state, key: key)
            #expect(replay.expectationsMet, "\(replay.mismatches)")
            #expect(replay.draftedThisRun == 0)
            #expect(replay.captured == first.captured)
            #expect(replay.duplicatesSkippedThisRun == expectedDrafts + 2)
            #expect(replay.http.byEndpoint["bc POST purchaseInvoices", default: 0] == 0)
            #expect(host.businessCentral.store.allPurchaseInvoices.count == bcAfterFirst)
            #expect(replay.erp.duplicateNaturalKeys == 0)
            await host.shutdown()
        } catch {
            await host.shutdown()
            throw error
        }
    }

    @Test("no secret appears in any output, log line or stored value")
    func noSecretsLeak() async throws {
        let fixture = try await Fixture.start()
        let (host, tenant, file, directory) = (fixture.host, fixture.tenant, fixture.file, fixture.directory)
        do {
            let path = directory.path + "/state.sqlite"
            let key = MasterKey.generate()
            let (summary, run) = try await Self.demo(
                ["--simulators", file], state: "sqlite:" + path, key: key, logLevel: "debug")
            #expect(summary.expectationsMet)
            let secrets = [tenant.credentials.jaggaerClientSecret, tenant.credentials.entraClientSecret, key]
            let logs = (try? String(contentsOfFile: directory.path + "/logs/steps.log", encoding: .utf8)) ?? ""
            let stored = try await snapshot(path)
            var haystacks = ["stdout": run.text, "stderr": run.stderr, "step logs": logs]
            for (storeKey, value) in stored { haystacks["store " + storeKey] = String(decoding: value, as: UTF8.self) }
            for (name, text) in haystacks {
                for secret in secrets { #expect(!text.contains(secret), "a secret leaked into \(name)") }
                #expect(!containsSimulatorToken(text), "an access token leaked into \(name)")
            }
            #expect(stored.keys.contains { $0.contains("/token/") }, "tokens are cached (sealed)")
            #expect(!logs.isEmpty, "the steps logged at debug level, so there was something to search")
            await host.shutdown()
        } catch {
            await host.shutdown()
            throw error
        }
    }
}

/// The simulators issue tokens shaped `sim.<hex>.<base36>`; any such text outside the sealed cache is a leak.
func containsSimulatorToken(_ text: String) -> Bool {
    var rest = Substring(text)
    while let range = rest.range(of: "sim.") {
        let after = rest[range.upperBound...].prefix(8)
        if after.count == 8, after.allSatisfy(\.isHexDigit) { return true }
        rest = rest[range.upperBound...]
    }
    return false
}
