import ConnectorCore
import ConnectorHTTP
import ConnectorRunner
import ConnectorRuntime
import ConnectorSecurity
import ConnectorSimulators
import Foundation

/// `make bench`'s per-step scaling figure: invoices per second through `local-runner run --once` with 1, 2 and 4
/// workers of `transform-invoice` and `write-erp-invoice`, against a simulated Business Central that answers every
/// request after a fixed latency (JAGGAER answers at once, so the figure is the ERP-bound steps'). Each point is a fresh tenant, simulators and SQLite store.
enum WorkerScaling {
    struct Point: Codable {
        var workers: Int
        var drafted: Int
        /// From the first invoice captured to the last one written (master-data sync before it not counted).
        var seconds: Double
        var invoicesPerSecond: Double?
        var wallSeconds: Double
        var exitCode: Int32
        /// The run summary's count line (`N step invocations, M retries, K HTTP requests`).
        var invocations: String?
    }

    static func measure(counts: [Int], invoices: Int, latencyMs: Int) async throws -> [Point] {
        var points: [Point] = []
        for count in counts {
            points.append(try await point(workers: count, invoices: invoices, latencyMs: latencyMs))
        }
        return points
    }

    static func point(workers: Int, invoices: Int, latencyMs: Int) async throws -> Point {
        let tenant = DemoTenant.generate(invoiceCount: invoices, seed: 42)
        let host = try await SimulatorHost.start(tenant: tenant)
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "mlc-bench-workers-\(UUID().uuidString.prefix(8))")
        defer { try? FileManager.default.removeItem(at: directory) }
        do {
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            let endpoints = SimulatorEndpoints(host: host, tenant: tenant)
            if latencyMs > 0 { try await addLatency(latencyMs, erp: try endpoints.erp("businessCentral")) }
            let url = "sqlite:" + directory.appendingPathComponent("state.sqlite").path
            let key = MasterKey.generate()
            let connection = try endpoints.connection(id: "bench", erp: try endpoints.erp("businessCentral"))
            let store = try StateStores.open(url, mode: .create)
            try await ConnectionStore(store: store, vault: Vault(masterKey: try MasterKey(base64: key))).save(
                connection)
            try await store.close()

            var environment = ProcessInfo.processInfo.environment
            environment["MLC_MASTER_KEY"] = key
            environment["MLC_STATE"] = url
            environment["MLC_LOG_LEVEL"] = "error"
            let runner = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
            let arguments =
                ["run", "--once", "--concurrency", String(max(6, 2 * workers + 2))]
                + ["transform-invoice", "write-erp-invoice"].flatMap { ["--workers", "\($0)=\(workers)"] }
            let started = ContinuousClock.now
            let output = try await ChildProcess.run(
                executable: runner, arguments: arguments, environment: environment, stdin: Data(),
                stderrPath: directory.appendingPathComponent("runner.log").path, timeout: .seconds(1800))
            let wall = (ContinuousClock.now - started).timeInterval

            let state = try StateStores.open(url)
            let audit = AuditLog(store: state, keys: try StateKeys(connection: "bench"))
            var first: Date?
            var last: Date?
            var drafted = 0
            for status in try await audit.allStatuses() where status.recordId.hasPrefix("jaggaer-invoice-") {
                let entries = try await audit.entries(recordId: status.recordId)
                if let captured = entries.map(\.at).min(), first.map({ captured < $0 }) ?? true { first = captured }
                guard status.state == .written else { continue }
                drafted += 1
                if let written = entries.filter({ $0.step == "write-erp-invoice" }).map(\.at).max(),
                    last.map({ written > $0 }) ?? true
                {
                    last = written
                }
            }
            try await state.close()
            await host.shutdown()
            var seconds: Double?
            if let first, let last { seconds = last.timeIntervalSince(first) }
            return Point(
                workers: workers, drafted: drafted, seconds: seconds ?? 0,
                invoicesPerSecond: seconds.flatMap { $0 > 0 ? Double(drafted) / $0 : nil }, wallSeconds: wall,
                exitCode: output.exitCode,
                invocations: String(decoding: output.stdout, as: UTF8.self).split(separator: "\n")
                    .first { $0.contains("step invocations") }.map { $0.trimmingCharacters(in: .whitespaces) })
        } catch {
            await host.shutdown()
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
            "Per-step scaling (run --once --workers transform-invoice=N --workers write-erp-invoice=N; \(latencyMs) ms per Business Central request):"
        )
        for point in points {
            let rate = point.invoicesPerSecond.map { String(format: "%.2f", $0) } ?? "-"
            print(
                "  \(point.workers) worker\(point.workers == 1 ? " " : "s") per step: \(rate) invoices/s (\(point.drafted) drafted in \(String(format: "%.1f", point.seconds)) s from first capture to last write; whole run \(String(format: "%.1f", point.wallSeconds)) s, exit \(point.exitCode); \(point.invocations ?? "-"))"
            )
        }
    }
}
