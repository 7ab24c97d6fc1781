import ConnectorCore
import ConnectorRuntime
import ConnectorSimulators
import ConnectorStateSQLite
import ConnectorTesting
import Foundation
import Testing

/// Per-step scaling: several workers of a step on the shared queue (runner workers, pull-mode `trigger` processes),
/// with step processes, runners and triggers killed at random, on SQLite, Redis and PostgreSQL.
@Suite("Per-step workers and pull mode", .serialized, .timeLimit(.minutes(20)))
struct WorkersTests {
    struct Report: Decodable {
        struct Scenario: Decodable {
            var erp: String
            var stepCrashes: [String: Int]
            var runnerKills: Int
            var triggerKills: Int
            var triggerItems: Int
            var draftsInERP: Int
            var expectedDrafts: Int
            var connections: Int
            var draftsByConnection: [String: Int]
            var passed: Bool
        }
        var scenarios: [Scenario]
        var duplicates: Int
        var lost: Int
        var passed: Bool
    }

    static func chaos(_ extra: [String]) async throws -> (Report, Binaries.Run) {
        let run = try await Binaries.run(
            "local-runner",
            [
                "chaos", "--scenarios", "1", "--invoices", "40", "--seed", "5", "--erp", "businessCentral",
                "--workers", "write-erp-invoice=4", "--workers", "transform-invoice=4", "--triggers", "2",
                "--visibility-seconds", "8", "--json",
            ] + extra,
            environment: ["PATH": "/usr/bin:/bin", "MLC_FUNCTIONS_BIN": Binaries.directory.path],
            timeout: .seconds(900)
        )
        let report = try JSONCoding.decode(Report.self, from: run.stdout)
        return (report, run)
    }

    static func check(_ report: Report, _ run: Binaries.Run) {
        #expect(report.passed, "\(run.text.suffix(3000))\(run.stderr.suffix(2000))")
        #expect(report.duplicates == 0)
        #expect(report.lost == 0)
        let scenario = report.scenarios.first
        #expect(scenario?.stepCrashes.values.reduce(0, +) ?? 0 > 0, "step processes were killed")
        #expect(scenario.map { $0.draftsInERP == $0.expectedDrafts } == true)
        #expect(scenario?.triggerItems ?? 0 > 0, "the pull-mode processes took part")
        #expect(scenario?.triggerKills ?? 0 > 0, "some were killed holding claims")
        #expect(run.exitCode == 0)
    }

    @Test(
        "SQLite: write and transform ×4 in the runner, two trigger loops beside it, crashes and kills: 0 duplicates, 0 lost"
    )
    func sqliteWorkers() async throws {
        let (report, run) = try await Self.chaos([])
        Self.check(report, run)
    }

    @Test(
        "Redis Streams: every step ×4 on a real redis-server, two connections (claims fair across them): 0 duplicates, 0 lost"
    )
    func redisWorkers() async throws {
        let server = try RedisServerProcess()
        defer { server.stop() }
        // Issue 10's bar: 4 workers of every step, not only of the two that carry the invoices.
        let others = try InfraManifestTests.manifests().map(\.name).filter {
            !["write-erp-invoice", "transform-invoice"].contains($0)
        }
        #expect(others.count >= 8)
        let (report, run) = try await Self.chaos(
            ["--state-url", server.url(), "--connections", "2"] + others.flatMap { ["--workers", "\($0)=4"] })
        Self.check(report, run)
        Self.checkBothConnections(report)
    }

    @Test(
        "PostgreSQL: the same on a real server (FOR UPDATE SKIP LOCKED claims), two connections: 0 duplicates, 0 lost")
    func postgresWorkers() async throws {
        let server = try PostgresServerProcess()
        defer { server.stop() }
        try server.createDatabase("chaos")
        let (report, run) = try await Self.chaos(["--state-url", server.url(database: "chaos"), "--connections", "2"])
        Self.check(report, run)
        Self.checkBothConnections(report)
    }

    /// Both connections' invoices were drafted (a scenario's counts are summed over its connections).
    static func checkBothConnections(_ report: Report) {
        #expect(report.scenarios.first?.connections == 2)
        let drafts = report.scenarios.first?.draftsByConnection ?? [:]
        #expect(drafts.keys.sorted() == ["chaos", "chaos-2"] && drafts.values.allSatisfy { $0 > 0 }, "\(drafts)")
    }

    @Test(
        "trigger: the whole flow by pull-mode processes alone; a bad event exits 65; --workers and --step are checked")
    func triggerOnly() async throws {
        let rig = try await RunnerBehaviourTests.Rig.start(invoices: 20)
        do {
            let erp = try #require(rig.host.erps.first { $0.erp.kind == "businessCentral" }?.erp)
            let seeded = erp.documents().count
            let empty = try await rig.cli(["trigger", "--step", "transform-invoice"])
            #expect(empty.exitCode == 0, "\(empty.stderr)")
            #expect(empty.text.contains("\"ran\":[]"), "\(empty.text)")
            let unknown = try await rig.cli(["trigger", "--step", "no-such-step"])
            #expect(unknown.exitCode != 0)
            #expect(unknown.stderr.contains("--step names no step"), "\(unknown.stderr)")
            let workers = try await rig.cli(["run", "--once", "--workers", "write-erp-invoice"])
            #expect(workers.exitCode != 0)
            #expect(workers.stderr.contains("--workers expects STEP=N"), "\(workers.stderr)")

            let names = try JSONCoding.decode(
                [[String: JSONValue]].self, from: try await rig.cli(["functions", "--json"]).stdout
            ).compactMap { $0["name"]?.stringValue }
            #expect(names.contains("write-erp-invoice"))
            let store = try SQLiteStateStore(path: rig.statePath)
            let queue = WorkQueue(store: store)
            func put(_ step: String, _ event: CloudEvent) async throws {
                try await queue.enqueue(WorkItem(function: step, event: event, notBefore: Date(), enqueuedAt: Date()))
            }
            let sync = CloudEvent(
                source: "urn:test", type: EventType.masterDataSyncRequested, data: .object([:]), connection: "acme",
                flow: "masterdata")
            try await put("sync-vendors", sync)
            try await put("sync-accounts", sync)
            try await store.close()
            // `--log -`: the step's own log lines come out on the trigger's stderr, where a platform collects them.
            let logged = try await rig.cli(
                ["trigger", "--step", "sync-vendors", "--log", "-"], environment: ["MLC_LOG_LEVEL": "debug"])
            #expect(logged.exitCode == 0, "\(logged.text) \(logged.stderr.suffix(800))")
            #expect(logged.stderr.contains("\"step\":\"sync-vendors\""), "\(logged.stderr.suffix(1500))")

            /// Triggers for every step until the queue is empty.
            func drainByTriggers() async throws {
                let deadline = Date().addingTimeInterval(240)
                while try await rig.queued() > 0, Date() < deadline {
                    for name in names {
                        let run = try await rig.cli([
                            "trigger", "--step", name, "--max", "20", "--retry-base-ms", "100",
                        ])
                        #expect(
                            run.exitCode == 0 || run.exitCode == 75, "\(name): \(run.text) \(run.stderr.suffix(500))")
                    }
                    try await Task.sleep(for: .milliseconds(200))
                }
            }
            try await drainByTriggers()
            let again = try SQLiteStateStore(path: rig.statePath)
            try await WorkQueue(store: again).enqueue(
                WorkItem(
                    function: "poll-jaggaer-invoices",
                    event: CloudEvent(
                        source: "urn:test", type: EventType.pollRequested, data: .object([:]), connection: "acme",
                        flow: "invoices"),
                    notBefore: Date(), enqueuedAt: Date()))
            try await WorkQueue(store: again).enqueue(
                WorkItem(
                    function: "transform-invoice",
                    event: CloudEvent(
                        source: "urn:test", type: EventType.invoiceCaptured, data: .string("not an invoice"),
                        connection: "acme", flow: "invoices"),
                    notBefore: Date(), enqueuedAt: Date()))
            try await again.close()
            // A log that cannot be written is refused before anything is claimed (a pod's working directory is
            // often read-only), instead of failing every step's start and dead-lettering each item.
            let unwritable = try await rig.cli([
                "trigger", "--step", "transform-invoice", "--log", "/proc/no-such-dir/steps.log",
            ])
            #expect(unwritable.exitCode == 78, "\(unwritable.text) \(unwritable.stderr.suffix(800))")
            #expect(unwritable.stderr.contains("cannot write the steps' log /proc/no-such-dir/steps.log"))
            #expect(unwritable.stderr.contains("--log -"), "\(unwritable.stderr)")
            #expect(try await rig.queued() == 2, "nothing was claimed")
            let bad = try await rig.cli(["trigger", "--step", "transform-invoice"])
            #expect(bad.exitCode == 65, "\(bad.text) \(bad.stderr.suffix(800))")
            #expect(bad.stderr.contains("transform-invoice item"), "\(bad.stderr)")
            try await drainByTriggers()
            #expect(try await rig.queued() == 0)
            let drafted = rig.tenant.expectations.filter { $0.value == .drafted }.count
            #expect(drafted > 0)
            #expect(erp.documents().count - seeded == drafted, "every mappable invoice drafted once, by triggers alone")
            // Every job added its step metrics to the store; `metrics` serves their sum and the (empty) queues.
            let scraped = try await rig.cli(["metrics", "--print"])
            #expect(scraped.exitCode == 0, "\(scraped.stderr)")
            let values = PrometheusText.values(scraped.text)
            let writes = values.filter { $0.key.hasPrefix(#"mlc_step_invocations_total{step="write-erp-invoice","#) }
            #expect(
                (values[#"mlc_step_invocations_total{step="write-erp-invoice",status="ok"}"#] ?? 0) >= Double(drafted))
            #expect(
                values[#"mlc_step_duration_seconds_count{step="write-erp-invoice"}"#] == writes.values.reduce(0, +),
                "one duration per invocation")
            #expect(
                values[#"mlc_step_invocations_total{step="transform-invoice",status="failed"}"#] == 1, "the bad event")
            #expect((1...20).contains(values[#"mlc_records_total{state="captured"}"#] ?? 0), "the polled invoices")
            #expect(
                values.keys.contains {
                    $0.hasPrefix(#"mlc_http_requests_total{step="write-erp-invoice",system="businessCentral","#)
                })
            for name in names { #expect(values[#"mlc_queue_depth{step="\#(name)"}"#] == 0, "\(name)") }
            await rig.host.shutdown()
        } catch {
            await rig.host.shutdown()
            throw error
        }
    }
}
