import ConnectorCore
import ConnectorHTTP
import ConnectorRunner
import ConnectorRuntime
import ConnectorSecurity
import ConnectorSimulators
import ConnectorTestServers
import Foundation

/// `make bench`'s per-step scaling figure: invoices per second through `local-runner run --once` with 1, 2 and 4
/// workers of `transform-invoice` and `write-erp-invoice`, on each store backend (SQLite; Redis and PostgreSQL on
/// private servers started like the suites start them), against a simulated Business Central that answers every
/// request after a fixed latency (JAGGAER answers at once, so the figure is the ERP-bound steps'). Each point is a
/// fresh tenant, simulators and store. Every process of the run (the runner and each step) counts its store
/// operations (`MLC_TIMINGS`), so each point also says how many store round trips an invoice costs.
///
/// With one connection, Business Central's per-user budget (20 requests/s) is the ceiling: at 100 ms per request one
/// worker already reaches about 45 % of it, so more workers can add at most the rest. With `connections` > 1 each
/// connection is its own Business Central environment and user (a simulator host and tenant of its own, so a budget
/// of its own), as for a group of companies on separate environments; the ceiling is then the sum of the budgets.
enum WorkerScaling {
    struct Point: Codable {
        var backend: String = "sqlite"
        /// Business Central connections in the run, each with its own environment and request budget.
        var connections: Int = 1
        var workers: Int
        var drafted: Int
        /// From the first invoice captured to the last one written (master-data sync before it not counted).
        var seconds: Double
        var invoicesPerSecond: Double?
        var wallSeconds: Double
        var exitCode: Int32
        /// The run summary's count line (`N step invocations, M retries, K HTTP requests`).
        var invocations: String?
        /// Requests of `write-erp-invoice` per written invoice (Business Central, plus any token request).
        var erpRequestsPerInvoice: Double?
        /// Business Central's own bound at this request count: 20 requests/s ÷ requests per invoice, per connection.
        var erpBoundInvoicesPerSecond: Double?
        /// Throughput as a share of that bound.
        var percentOfBound: Double?
        /// The pace of the drafts alone: drafts after the first per second, from the first draft to the last. It
        /// leaves out filling the pipeline (the poll page, the first transform, the first lookup), which the
        /// throughput above counts; on a small tenant that is most of the difference between the two.
        var draftPacePerSecond: Double?
        var draftPacePercentOfBound: Double?
        /// Store operations of the whole run (runner and every step) per written invoice, and by process.
        var storeRoundTripsPerInvoice: Double?
        var storeRoundTripsByProcess: [String: Double]?
    }

    /// Business Central's documented limit per user (`requestsPerFiveMinutes` 6000 by default): 20 requests per second.
    static let erpRequestsPerSecond = 20.0

    enum Backend: String, CaseIterable {
        case sqlite, redis, postgres
    }

    /// A backend's private server for a bench figure, started like the suites start theirs (none for SQLite).
    struct BenchServer {
        var backend: Backend
        var redis: RedisServerProcess?
        var postgres: PostgresServerProcess?

        init(_ backend: Backend) throws {
            self.backend = backend
            switch backend {
            case .sqlite: break
            case .redis: redis = try RedisServerProcess()
            case .postgres: postgres = try PostgresServerProcess()
            }
        }

        func stop() {
            redis?.stop()
            postgres?.stop()
        }

        /// The URL of an empty store: a new SQLite file in `directory`, Redis database `redisDatabase`, or a new
        /// PostgreSQL database `name`.
        func freshStore(in directory: URL, redisDatabase: Int, name: String) throws -> String {
            switch backend {
            case .sqlite: return "sqlite:" + directory.appendingPathComponent("state.sqlite").path
            case .redis: return redis?.url(database: redisDatabase) ?? ""
            case .postgres:
                try postgres?.createDatabase(name)
                return postgres?.url(database: name) ?? ""
            }
        }
    }

    static func measure(
        counts: [Int], invoices: Int, latencyMs: Int, backends: [Backend], connections: [Int] = [1]
    ) async throws -> [Point] {
        var points: [Point] = []
        for connectionCount in connections {
            points += try await measure(
                counts: counts, invoices: invoices, latencyMs: latencyMs, backends: backends,
                connections: connectionCount)
        }
        return points
    }

    static func measure(
        counts: [Int], invoices: Int, latencyMs: Int, backends: [Backend], connections: Int
    ) async throws -> [Point] {
        var points: [Point] = []
        for backend in backends {
            let server = try BenchServer(backend)
            defer { server.stop() }
            for (index, count) in counts.enumerated() {
                let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
                    "mlc-bench-workers-\(UUID().uuidString.prefix(8))")
                try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
                defer { try? FileManager.default.removeItem(at: directory) }
                let url = try server.freshStore(
                    in: directory, redisDatabase: index + 1, name: "bench_\(connections)_\(index)_\(count)")
                var point = try await point(
                    workers: count, invoices: invoices, latencyMs: latencyMs, url: url, directory: directory,
                    connections: connections)
                point.backend = backend.rawValue
                points.append(point)
            }
        }
        return points
    }

    /// One point: `connections` simulated tenants (seeds 42, 43, …), each JAGGAER and Business Central on a host of
    /// its own, each with `invoices` invoices and its own connection; one `run --once` drains them all.
    static func point(
        workers: Int, invoices: Int, latencyMs: Int, url: String, directory: URL, connections: Int = 1
    ) async throws -> Point {
        var hosts: [SimulatorHost] = []
        do {
            let key = MasterKey.generate()
            let store = try await StateStores.open(url, mode: .create)
            var connectionIds: [String] = []
            for index in 0..<max(1, connections) {
                let tenant = DemoTenant.generate(invoiceCount: invoices, seed: 42 + UInt64(index))
                let host = try await SimulatorHost.start(tenant: tenant)
                hosts.append(host)
                let endpoints = SimulatorEndpoints(host: host, tenant: tenant)
                if latencyMs > 0 { try await addLatency(latencyMs, erp: try endpoints.erp("businessCentral")) }
                let id = connections == 1 ? "bench" : "bench-\(index + 1)"
                let connection = try endpoints.connection(id: id, erp: try endpoints.erp("businessCentral"))
                try await ConnectionStore(store: store, vault: Vault(masterKey: try MasterKey(base64: key))).save(
                    connection)
                connectionIds.append(id)
            }
            try await store.close()

            let timings = directory.appendingPathComponent("timings.jsonl").path
            var environment = ProcessInfo.processInfo.environment
            environment["MLC_MASTER_KEY"] = key
            environment["MLC_STATE"] = url
            environment["MLC_LOG_LEVEL"] = "error"
            environment["MLC_TIMINGS"] = timings
            let runner = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
            let arguments =
                ["run", "--once", "--concurrency", String(max(6, 2 * workers + 2))]
                + ["transform-invoice", "write-erp-invoice"].flatMap { ["--workers", "\($0)=\(workers)"] }
            let started = ContinuousClock.now
            let output = try await ChildProcess.run(
                executable: runner, arguments: arguments, environment: environment, stdin: Data(),
                stderrPath: directory.appendingPathComponent("runner.log").path, timeout: .seconds(1800))
            let wall = (ContinuousClock.now - started).timeInterval

            let state = try await StateStores.open(url)
            var first: Date?
            var firstDraft: Date?
            var last: Date?
            var drafted = 0
            for id in connectionIds {
                let audit = AuditLog(store: state, keys: try StateKeys(connection: id))
                for status in try await audit.allStatuses() where status.recordId.hasPrefix("jaggaer-invoice-") {
                    let entries = try await audit.entries(recordId: status.recordId)
                    if let captured = entries.map(\.at).min(), first.map({ captured < $0 }) ?? true {
                        first = captured
                    }
                    guard status.state == .written else { continue }
                    drafted += 1
                    if let written = entries.filter({ $0.step == "write-erp-invoice" }).map(\.at).max() {
                        if last.map({ written > $0 }) ?? true { last = written }
                        if firstDraft.map({ written < $0 }) ?? true { firstDraft = written }
                    }
                }
            }
            try await state.close()
            for host in hosts { await host.shutdown() }
            hosts = []
            var seconds: Double?
            if let first, let last { seconds = last.timeIntervalSince(first) }
            let rate = seconds.flatMap { $0 > 0 ? Double(drafted) / $0 : nil }
            var pace: Double?
            if let firstDraft, let last, drafted > 1, last > firstDraft {
                pace = Double(drafted - 1) / last.timeIntervalSince(firstDraft)
            }

            // Store operations and ERP requests, from every process's timings line.
            var storeCalls: [String: Int] = [:]
            var writeRequests = 0
            let lines = ((try? String(contentsOfFile: timings, encoding: .utf8)) ?? "").split(separator: "\n")
            for line in lines {
                guard let report = try? JSONCoding.decode(ProcessTimings.Report.self, from: Data(line.utf8)) else {
                    continue
                }
                storeCalls[report.process, default: 0] += report.storeSummary.values.reduce(0) { $0 + $1.count }
                if report.process == "write-erp-invoice" { writeRequests += report.httpRequests ?? 0 }
            }
            let perInvoice = drafted > 0 ? Double(writeRequests) / Double(drafted) : nil
            let bound = perInvoice.flatMap { $0 > 0 ? Double(connectionIds.count) * erpRequestsPerSecond / $0 : nil }
            return Point(
                connections: connectionIds.count, workers: workers, drafted: drafted, seconds: seconds ?? 0,
                invoicesPerSecond: rate, wallSeconds: wall, exitCode: output.exitCode,
                invocations: String(decoding: output.stdout, as: UTF8.self).split(separator: "\n")
                    .first { $0.contains("step invocations") }.map { $0.trimmingCharacters(in: .whitespaces) },
                erpRequestsPerInvoice: perInvoice, erpBoundInvoicesPerSecond: bound,
                percentOfBound: rate.flatMap { rate in bound.map { 100 * rate / $0 } },
                draftPacePerSecond: pace,
                draftPacePercentOfBound: pace.flatMap { pace in bound.map { 100 * pace / $0 } },
                storeRoundTripsPerInvoice: drafted > 0 && !storeCalls.isEmpty
                    ? Double(storeCalls.values.reduce(0, +)) / Double(drafted) : nil,
                storeRoundTripsByProcess: drafted > 0 && !storeCalls.isEmpty
                    ? storeCalls.mapValues { Double($0) / Double(drafted) } : nil)
        } catch {
            for host in hosts { await host.shutdown() }
            throw error
        }
    }

    /// Latency on every request to the simulated ERP only: JAGGAER answers at once, so the capture keeps ahead and
    /// the figure is the ERP-bound steps'.
    static func addLatency(_ ms: Int, erp: SimulatorEndpoints.ERP) async throws {
        let transport = AsyncHTTPClientTransport()
        let rule = #"[{"kind":"latency","latencyMs":\#(ms),"count":1000000}]"#
        _ = try await transport.send(
            HTTPRequest(
                method: "POST", url: erp.baseURL + "/_sim/faults", headers: [("Content-Type", "application/json")],
                body: Data(rule.utf8)))
        await transport.shutdown()
    }

    static func report(_ points: [Point], latencyMs: Int) {
        print("")
        print(
            "Per-step scaling (run --once --workers transform-invoice=N --workers write-erp-invoice=N; \(latencyMs) ms per Business Central request; BC bound = \(Int(erpRequestsPerSecond)) requests/s per connection ÷ requests per invoice; with several connections each is its own BC environment and user with its own budget):"
        )
        func format(_ value: Double?, _ digits: Int = 2) -> String {
            value.map { String(format: "%.\(digits)f", $0) } ?? "-"
        }
        for point in points {
            let one = points.first {
                $0.backend == point.backend && $0.connections == point.connections && $0.workers == 1
            }?.invoicesPerSecond
            let speedup = point.workers > 1 ? point.invoicesPerSecond.flatMap { rate in one.map { rate / $0 } } : nil
            let label = point.connections == 1 ? "" : "\(point.connections) BC connections, "
            print(
                "  \(point.backend.padding(toLength: 8, withPad: " ", startingAt: 0)) \(label)\(point.workers) worker\(point.workers == 1 ? " " : "s") per step: \(format(point.invoicesPerSecond)) invoices/s\(speedup.map { " (\(format($0))× one worker)" } ?? ""); \(format(point.percentOfBound, 0)) % of the BC bound \(format(point.erpBoundInvoicesPerSecond)) at \(format(point.erpRequestsPerInvoice)) requests per invoice; drafts paced at \(format(point.draftPacePerSecond)) invoices/s (\(format(point.draftPacePercentOfBound, 0)) %); \(format(point.storeRoundTripsPerInvoice, 1)) store round trips per invoice (\(point.drafted) drafted in \(format(point.seconds, 1)) s; whole run \(format(point.wallSeconds, 1)) s, exit \(point.exitCode); \(point.invocations ?? "-"))"
            )
        }
        if let sample = points.last(where: { $0.storeRoundTripsByProcess != nil }),
            let byProcess = sample.storeRoundTripsByProcess
        {
            print(
                "  store round trips per invoice by process (\(sample.backend), \(sample.workers) workers): "
                    + byProcess.sorted { $0.value > $1.value }.map { "\($0.key) \(format($0.value, 1))" }
                    .joined(separator: ", "))
        }
    }
}
