import ArgumentParser
import ConnectorCore
import ConnectorRunner
import ConnectorRuntime
import ConnectorSecurity
import ConnectorSimulators
import Foundation

/// The fault-injection harness (DESIGN §8): the whole flow, run by real runner processes, against simulators
/// that fail at random (5xx, 429 bursts with Retry-After, latency, dropped connections before and after the ERP
/// committed, expired tokens), with step processes killing themselves at every recovery point and the runner
/// itself killed with SIGKILL and restarted. After each scenario it checks that every mappable invoice is in the
/// ERP exactly once, every other one is in review or dead-letter with a reason, the audit trail is complete,
/// and nothing is left in flight.
struct Chaos: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Runs fault-injection scenarios and checks the exactly-once guarantees.")

    @Option(help: "Scenarios to run (each with its own seed).") var scenarios = 3
    @Option(help: "Invoices per scenario.") var invoices = 60
    @Option(help: "Seed of the first scenario.") var seed: UInt64 = 1
    @Option(help: "Probability that a step kills itself at each recovery point.") var crashRate = 0.03
    @Option(help: "Probability of an HTTP fault per matching request.") var faultRate = 0.12
    @Option(help: "Runner restarts at most (each run is killed at a random moment with probability 0.6).")
    var maxRounds = 40
    @Flag(help: "Print the report as JSON.") var json = false
    @Flag(help: "Keep each scenario's state directory (printed) for inspection.") var keepState = false
    @Option(
        name: .customLong("erp"),
        help: "Run the scenarios against these simulated ERPs (erp.kind, repeatable); default: every one.")
    var erps: [String] = []
    @Option(help: "Instances of a step the runner runs at once, as STEP=N (repeatable; passed to `run --workers`).")
    var workers: [String] = []
    @Option(
        help:
            "Pull-mode workers beside the runner: this many `trigger --step write-erp-invoice` loops, killed at random too."
    )
    var triggers = 0
    @Option(
        help: "Claim visibility timeout of the runner and the triggers, in seconds (default: each step's timeout + 30)."
    )
    var visibilitySeconds: Int?
    @Option(
        help:
            "Connections per scenario, each with its own simulated tenant and systems (its own ERP budget), so the runner and the triggers claim fairly across them."
    )
    var connections = 1
    @Option(
        name: .customLong("state-url"),
        help: "Run the one scenario on this empty store (e.g. redis://127.0.0.1:6379/0) instead of a new SQLite file.")
    var stateURL: String?

    func validate() throws {
        _ = try WorkerCounts.parse(workers)
        guard (0...16).contains(triggers) else { throw ValidationError("--triggers must be between 0 and 16") }
        guard (1...4).contains(connections) else { throw ValidationError("--connections must be between 1 and 4") }
        if stateURL != nil, scenarios != 1 || erps.count != 1 {
            throw ValidationError("--state-url takes one scenario on one --erp (each scenario needs an empty store)")
        }
    }

    struct ScenarioReport: Codable {
        var erp: String
        var seed: UInt64
        /// Connections of the scenario (each its own tenant and simulated systems); the counts below are summed over
        /// them, and a problem names its connection.
        var connections: Int = 1
        /// Drafts each connection's ERP received in the run.
        var draftsByConnection: [String: Int] = [:]
        var invoices: Int
        var expectedDrafts: Int
        var draftsInERP: Int
        var duplicateNaturalKeys: Int
        var missingDrafts: [Int]
        var inReview: Int
        var deadLettered: Int
        var unaccounted: [String]
        var inFlight: Int
        var queued: Int
        var auditGaps: [String]
        var runnerRuns: Int
        var runnerKills: Int
        /// Pull-mode processes killed, and items the others ran to an exit code.
        var triggerKills: Int = 0
        var triggerItems: Int = 0
        var stepCrashes: [String: Int]
        var httpFaults: [String: Int]
        var passed: Bool
        var seconds: Double
    }

    struct Report: Codable {
        var scenarios: [ScenarioReport]
        var faultsInjected: Int
        var duplicates: Int
        var lost: Int
        var passed: Bool
    }

    func run() async throws {
        await guarded {
            var reports: [ScenarioReport] = []
            let kinds = try Self.kinds(erps)
            for kind in kinds {
                for index in 0..<scenarios {
                    let report = try await runScenario(seed: seed &+ UInt64(index), kind: kind)
                    reports.append(report)
                    if !json {
                        print(
                            "\(report.erp) scenario seed \(report.seed)\(report.connections > 1 ? ", \(report.connections) connections" : ""): \(report.passed ? "PASS" : "FAIL") in \(String(format: "%.0f", report.seconds)) s; drafts \(report.draftsInERP)/\(report.expectedDrafts), review \(report.inReview), dead-letter \(report.deadLettered), runner kills \(report.runnerKills), step crashes \(report.stepCrashes.values.reduce(0, +)), HTTP faults \(report.httpFaults.values.reduce(0, +))"
                        )
                        for problem in report.unaccounted + report.auditGaps
                            + report.missingDrafts.map({ "missing draft for invoice \($0)" })
                        {
                            print("  \(problem)")
                        }
                    }
                }
            }
            let faults = reports.reduce(0) {
                $0 + $1.runnerKills + $1.stepCrashes.values.reduce(0, +) + $1.httpFaults.values.reduce(0, +)
            }
            let report = Report(
                scenarios: reports,
                faultsInjected: faults,
                duplicates: reports.reduce(0) { $0 + $1.duplicateNaturalKeys },
                lost: reports.reduce(0) { $0 + $1.missingDrafts.count + $1.unaccounted.count },
                passed: reports.allSatisfy(\.passed)
            )
            if json {
                try printJSON(report)
            } else {
                print(
                    "\(reports.count) scenarios, \(faults) faults injected, \(report.duplicates) duplicates, \(report.lost) lost: \(report.passed ? "PASS" : "FAIL")"
                )
            }
            if !report.passed { throw ArgumentParser.ExitCode(1) }
        }
    }

    /// The ERP kinds asked for, checked against the simulators of this build.
    static func kinds(_ asked: [String]) throws -> [String] {
        let available = SimulatorHost.erpKinds
        for kind in asked where !available.contains(kind) {
            throw ValidationError("--erp \(kind) is no simulated ERP; there are \(available.joined(separator: ", "))")
        }
        return asked.isEmpty ? available : asked
    }

    private func runScenario(seed: UInt64, kind: String) async throws -> ScenarioReport {
        let started = ContinuousClock.now
        var rng = SplitMix64(seed: seed)
        // One tenant and one set of simulated systems per connection: `chaos`, then `chaos-2`, `chaos-3`, ...
        var legs: [Leg] = []
        func shutdown() async { for leg in legs { await leg.host.shutdown() } }
        for index in 0..<connections {
            let legSeed = seed &+ UInt64(index) &* 1_000_003
            let tenant = DemoTenant.generate(invoiceCount: invoices, seed: legSeed)
            let host = try await SimulatorHost.start(tenant: tenant)
            guard let target = host.erps.first(where: { $0.erp.kind == kind }) else {
                await host.shutdown()
                await shutdown()
                throw ValidationError("no simulated \(kind)")
            }
            legs.append(
                Leg(
                    id: index == 0 ? "chaos" : "chaos-\(index + 1)", seed: legSeed, tenant: tenant, host: host,
                    erp: target.erp, seeded: target.erp.documents().count))
        }
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "mlc-chaos-\(seed)-\(UUID().uuidString.prefix(6))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer {
            if keepState {
                print("  state kept in \(directory.path)")
            } else {
                try? FileManager.default.removeItem(at: directory)
            }
        }
        do {
            let url = stateURL ?? "sqlite:" + directory.appendingPathComponent("state.sqlite").path
            let key = MasterKey.generate()
            let store = try await StateStores.open(url, mode: .create)
            guard try await store.scan(prefix: "", after: nil, limit: 1).isEmpty else {
                try await store.close()
                throw ValidationError("the store named by --state-url is not empty; chaos needs an empty one")
            }
            for leg in legs {
                let endpoints = SimulatorEndpoints(host: leg.host, tenant: leg.tenant)
                var connection = try endpoints.connection(id: leg.id, erp: try endpoints.erp(kind))
                connection.flow = FlowSettings(
                    pollIntervalSeconds: 60, pollOverlapSeconds: 300, maxAttempts: 12, retryAfterCapSeconds: 3,
                    ambiguousWriteSettleSeconds: 2)
                connection.jaggaer.pageSize = 20
                try await ConnectionStore(store: store, vault: Vault(masterKey: try MasterKey(base64: key))).save(
                    connection)
                addFaults(leg.host, erp: leg.erp, seed: leg.seed)
            }
            try await store.close()

            let crashLog = directory.appendingPathComponent("crashes.log").path
            let points = [
                "write.claimed", "write.looked-up", "write.sent", "write.created", "write.recorded", "poll.memo-saved",
                "fo.header-written",
                "poll.cursor-moved", "step.handled", "step.audited",
            ]
            var environment = ProcessInfo.processInfo.environment
            environment["MLC_MASTER_KEY"] = key
            environment["MLC_STATE"] = url
            environment["MLC_LOG_LEVEL"] = "error"
            environment["MLC_FAILPOINTS"] = points.map { "\($0)=\(crashRate)" }.joined(separator: ",")
            environment["MLC_FAILPOINTS_LOG"] = crashLog
            let runner = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()

            var runs = 0
            var kills = 0
            var triggerKills = 0
            var triggerItems = 0
            let claimOptions = visibilitySeconds.map { ["--visibility-seconds", String($0)] } ?? []
            let workerOptions = workers.flatMap { ["--workers", $0] } + claimOptions
            while runs < maxRounds {
                runs += 1
                let killAfter: Double? = rng.nextDouble() < 0.6 ? 0.3 + rng.nextDouble() * 3 : nil
                let pid = try ChildProcess.spawn(
                    runner.path,
                    arguments: [
                        "run", "--once", "--concurrency", "4", "--retry-base-ms", "200", "--retry-max-seconds", "3",
                    ] + workerOptions,
                    environment: environment.map { "\($0.key)=\($0.value)" },
                    stdin: "/dev/null",
                    stdout: "/dev/null",
                    stderr: .append(directory.appendingPathComponent("runner.log").path)
                )
                let pullers = Self.startTriggers(
                    triggers, runner: runner, environment: environment, options: claimOptions,
                    seed: seed &* 7919 &+ UInt64(runs), log: directory.appendingPathComponent("trigger.log").path)
                let (status, killed) = await Self.wait(pid, killAfter: killAfter)
                pullers.cancel()
                let pulled = await pullers.value
                triggerKills += pulled.killed
                triggerItems += pulled.ran
                if killed { kills += 1 }
                // 0: all handled; 1: handled, some dead-lettered (verify checks they carry a reason).
                if !killed, status == 0 || status == 1, try await Self.pending(url) == 0 { break }
            }
            // Once the faults stop, whatever they delayed must still finish: one clean run without crashes.
            for leg in legs { leg.host.clearFaults() }
            environment["MLC_FAILPOINTS"] = nil
            let pid = try ChildProcess.spawn(
                runner.path,
                arguments: ["run", "--once", "--retry-base-ms", "200", "--retry-max-seconds", "3"] + claimOptions,
                environment: environment.map { "\($0.key)=\($0.value)" }, stdin: "/dev/null", stdout: "/dev/null",
                stderr: .append(directory.appendingPathComponent("runner.log").path)
            )
            _ = await Self.wait(pid, killAfter: nil)
            runs += 1

            var report = try await verify(legs, url: url, seed: seed)
            report.runnerRuns = runs
            report.runnerKills = kills
            report.triggerKills = triggerKills
            report.triggerItems = triggerItems
            let crashes = (try? String(contentsOfFile: crashLog, encoding: .utf8)) ?? ""
            for line in crashes.split(separator: "\n") {
                report.stepCrashes[String(line.split(separator: " ").first ?? ""), default: 0] += 1
            }
            for leg in legs {
                for (system, injector) in [
                    ("jaggaer", leg.host.jaggaer.faults), ("entra", leg.host.entra.faults),
                    (leg.erp.counterPrefix, leg.erp.faults),
                ] {
                    for (kind, count) in injector.fired {
                        report.httpFaults["\(system) \(kind)", default: 0] += count
                    }
                }
            }
            report.seconds = (ContinuousClock.now - started).timeInterval
            await shutdown()
            return report
        } catch {
            await shutdown()
            throw error
        }
    }

    /// One connection of a scenario: its tenant, its simulated systems and what its ERP held before the run.
    struct Leg {
        var id: String
        var seed: UInt64
        var tenant: DemoTenant
        var host: SimulatorHost
        var erp: any SimulatedERP
        var seeded: Int
    }

    /// Random faults on every endpoint the flow uses (the ERP brings its own); every rule has its own seed.
    private func addFaults(_ host: SimulatorHost, erp: any SimulatedERP, seed: UInt64) {
        let p = faultRate
        func rule(
            _ kind: FaultRule.Kind, _ system: String, _ method: String, _ endpoint: String, _ probability: Double,
            status: Int = 503, retryAfter: Int? = nil, latencyMs: Int = 0, salt: UInt64
        ) -> FaultRule {
            FaultRule(
                kind: kind, system: system, method: method, endpoint: endpoint, probability: probability,
                seed: seed &* 1000 &+ salt, status: status, retryAfter: retryAfter, latencyMs: latencyMs)
        }
        erp.faults.add(erp.chaosFaults(probability: p, seed: seed))
        host.entra.faults.add([rule(.status, "entra", "POST", "token", p, status: 503, salt: 11)])
        host.jaggaer.faults.add([
            rule(.status, "jaggaer", "GET", "invoices", p, status: 500, salt: 12),
            rule(.status, "jaggaer", "GET", "invoices/{id}", p, status: 502, salt: 13),
            rule(.status, "jaggaer", "GET", "invoices/{id}", p / 2, status: 429, retryAfter: 1, salt: 14),
            rule(.dropAfterCommit, "jaggaer", "GET", "invoices/{id}", p / 2, salt: 15),
            rule(.status, "keycloak", "POST", "token", p, status: 500, salt: 16),
        ])
    }

    /// `count` loops of `local-runner trigger --step write-erp-invoice --max 3` beside the runner, each process
    /// killed with SIGKILL at a random moment with probability 0.5 (a dead pull worker: its claim runs out and the
    /// item is delivered again). Cancelling the task ends the loops (a trigger still running is killed too); its
    /// value is how many were killed and how many items the others ran.
    private static func startTriggers(
        _ count: Int, runner: URL, environment: [String: String], options: [String], seed: UInt64, log: String
    ) -> Task<(killed: Int, ran: Int), Never> {
        Task {
            await withTaskGroup(of: (killed: Int, ran: Int).self) { group in
                for slot in 0..<count {
                    group.addTask {
                        var rng = SplitMix64(seed: seed &+ UInt64(slot) &* 104_729)
                        var killed = 0
                        var ran = 0
                        let output = log + ".\(slot).out"
                        while !Task.isCancelled {
                            let killAfter: Double? = rng.nextDouble() < 0.5 ? 0.05 + rng.nextDouble() * 0.6 : nil
                            guard
                                let pid = try? ChildProcess.spawn(
                                    runner.path,
                                    arguments: [
                                        "trigger", "--step", "write-erp-invoice", "--max", "3", "--retry-base-ms",
                                        "200", "--retry-max-seconds", "3",
                                    ] + options,
                                    environment: environment.map { "\($0.key)=\($0.value)" }, stdin: "/dev/null",
                                    stdout: output, stderr: .append(log))
                            else { return (killed, ran) }
                            let (_, wasKilled) = await wait(pid, killAfter: killAfter, cancellable: true)
                            if wasKilled {
                                killed += 1
                            } else if let text = try? String(contentsOfFile: output, encoding: .utf8) {
                                ran += text.components(separatedBy: "\"exitCode\"").count - 1
                            }
                            try? await Task.sleep(for: .milliseconds(50))
                        }
                        return (killed, ran)
                    }
                }
                return await group.reduce((0, 0)) { ($0.0 + $1.killed, $0.1 + $1.ran) }
            }
        }
    }

    /// Waits for the runner; kills it with SIGKILL after `killAfter` seconds if it is still running.
    private static func wait(_ pid: pid_t, killAfter: Double?, cancellable: Bool = false) async -> (Int32, Bool) {
        let deadline = ContinuousClock.now + .seconds(killAfter ?? 900)
        while true {
            if cancellable, Task.isCancelled {
                kill(pid, SIGKILL)
                var status: Int32 = 0
                _ = waitpid(pid, &status, 0)
                return (137, true)
            }
            var status: Int32 = 0
            let result = waitpid(pid, &status, WNOHANG)
            if result == pid {
                return ((status >> 8) & 0xFF, (status & 0x7F) != 0)
            }
            if ContinuousClock.now >= deadline {
                kill(pid, SIGKILL)
                _ = waitpid(pid, &status, 0)
                return (137, true)
            }
            try? await Task.sleep(for: .milliseconds(20))
        }
    }

    private static func pending(_ url: String) async throws -> Int {
        let store = try await StateStores.open(url)
        let count = try await WorkQueue(store: store).count()
        try await store.close()
        return count
    }

    /// Checks every connection of the scenario; one report, counts summed, each problem naming its connection when
    /// there are several.
    private func verify(_ legs: [Leg], url: String, seed: UInt64) async throws -> ScenarioReport {
        let store = try await StateStores.open(url)
        let queued = try await WorkQueue(store: store).count()
        var total: ScenarioReport?
        do {
            for leg in legs {
                var report = try await verify(leg, store: store, queued: queued, seed: seed)
                if legs.count > 1 {
                    report.unaccounted = report.unaccounted.map { "\(leg.id): \($0)" }
                    report.auditGaps = report.auditGaps.map { "\(leg.id): \($0)" }
                    report.unaccounted += report.missingDrafts.map { "\(leg.id): missing draft for invoice \($0)" }
                    report.missingDrafts = []  // an invoice id alone is ambiguous across tenants: named above
                }
                guard var sum = total else {
                    total = report
                    continue
                }
                sum.expectedDrafts += report.expectedDrafts
                sum.draftsInERP += report.draftsInERP
                sum.draftsByConnection.merge(report.draftsByConnection) { $0 + $1 }
                sum.duplicateNaturalKeys += report.duplicateNaturalKeys
                sum.missingDrafts += report.missingDrafts
                sum.inReview += report.inReview
                sum.deadLettered += report.deadLettered
                sum.unaccounted += report.unaccounted
                sum.inFlight += report.inFlight
                sum.auditGaps += report.auditGaps
                sum.passed = sum.passed && report.passed
                total = sum
            }
        } catch {
            try? await store.close()
            throw error
        }
        try await store.close()
        guard var report = total else { throw ValidationError("no connection to check") }
        report.connections = legs.count
        return report
    }

    private func verify(_ leg: Leg, store: any StateStore, queued: Int, seed: UInt64) async throws -> ScenarioReport {
        let (tenant, erp, seeded) = (leg.tenant, leg.erp, leg.seeded)
        let keys = try StateKeys(connection: leg.id)
        let audit = AuditLog(store: store, keys: keys)
        let review = try await ReviewQueue(store: store, keys: keys).list(status: .open)
        let dead = try await DeadLetterList(store: store, keys: keys).list()
        let ledger = try await DedupLedger(store: store, keys: keys).all()

        var natural: [String: Int] = [:]
        let documents = erp.documents()
        for document in documents {
            natural["\(document.vendorNumber)|\(document.vendorInvoiceNumber)", default: 0] += 1
        }
        var missing: [Int] = []
        var unaccounted: [String] = []
        var gaps: [String] = []
        let reviewed = Set(review.map(\.recordId))
        let deadRecords = Set(dead.compactMap(\.recordId))
        var expectedDrafts = 0
        let expectations = tenant.expectations(
            maxVendorInvoiceNumberLength: erp.maxVendorInvoiceNumberLength, takesCreditMemos: erp.takesCreditMemos,
            matchesPurchaseOrders: erp.matchesPurchaseOrders)
        for (id, expected) in expectations.sorted(by: { $0.key < $1.key }) {
            let recordId = "jaggaer-invoice-\(id)"
            let status = try await audit.status(recordId: recordId)
            let entries = try await audit.entries(recordId: recordId)
            switch expected {
            case .notApproved:
                if status != nil { unaccounted.append("\(recordId): not approved but processed") }
            case .drafted, .alreadyInERP:
                if expected == .drafted { expectedDrafts += 1 }
                let invoice = tenant.jaggaerInvoices.first { $0["header"]?["invoiceId"]?.intValue == id }
                let vendor = invoice?["header"]?["supplier"]?["supplierNumber"]?.stringValue ?? ""
                let number = invoice?["header"]?["supplierInvoiceNumber"]?.stringValue ?? ""
                if natural[erp.naturalKey(vendor: vendor, number: number), default: 0] != 1 { missing.append(id) }
                let wanted: RecordState = expected == .drafted ? .written : .alreadyInERP
                if status?.state != wanted {
                    unaccounted.append(
                        "\(recordId): expected \(wanted.rawValue), state \(status?.state.rawValue ?? "none")")
                }
                let steps = Set(entries.map(\.step))
                if !steps.isSuperset(of: ["poll-jaggaer-invoices", "transform-invoice", "write-erp-invoice"]) {
                    gaps.append(
                        "\(recordId): audit trail lacks \(["poll-jaggaer-invoices", "transform-invoice", "write-erp-invoice"].filter { !steps.contains($0) })"
                    )
                }
            case .review(let reason):
                let inReview =
                    reviewed.contains(recordId) && status?.state == .needsReview
                    && (status?.reasons ?? []).contains { $0.code == reason }
                if !inReview, !deadRecords.contains(recordId) {
                    unaccounted.append(
                        "\(recordId): expected review \(reason), state \(status?.state.rawValue ?? "none")")
                }
            }
        }
        let inFlight = ledger.filter { $0.entry.phase != .recorded }.count
        let duplicates = natural.values.filter { $0 > 1 }.count
        var report = ScenarioReport(
            erp: erp.kind, seed: seed, invoices: invoices, expectedDrafts: expectedDrafts,
            draftsInERP: documents.count - seeded, duplicateNaturalKeys: duplicates,
            missingDrafts: missing, inReview: review.count, deadLettered: dead.count, unaccounted: unaccounted,
            inFlight: inFlight, queued: queued, auditGaps: gaps, runnerRuns: 0, runnerKills: 0, stepCrashes: [:],
            httpFaults: [:],
            passed: duplicates == 0 && missing.isEmpty && unaccounted.isEmpty && inFlight == 0 && queued == 0
                && gaps.isEmpty,
            seconds: 0
        )
        report.draftsByConnection = [leg.id: documents.count - seeded]
        return report
    }
}

extension SplitMix64 {
    mutating func nextDouble() -> Double {
        Double(next() >> 11) / Double(1 << 53)
    }
}
