import ConnectorCore
import ConnectorRunner
import ConnectorRuntime
import Foundation

/// `make bench`'s step budget (issue 10: a step's ok path, whole process, at most 20 ms and 30 MiB median): where one
/// step invocation's time goes, from the parent's spawn to the reaped exit. Each run sets `MLC_TIMINGS` (the step
/// appends its marks and every store operation to a file) and `MLC_TIMINGS_SPAWN_NS` (the monotonic instant just
/// before the spawn); CPU time (user + system) comes from `wait4`, peak memory from GNU time, the time spent in
/// `fsync` from strace, and the dynamic loader's own share from `LD_DEBUG=statistics`.
enum StepBreakdown {
    struct Phase: Codable {
        /// The mark the phase ends at.
        var name: String
        var what: String
        var medianMs: Double
        /// Of which in store operations (median over the runs), and how many.
        var storeMs: Double
        var storeCalls: Int
    }

    struct Figure: Codable {
        var function: String
        var event: String
        var runs: Int
        var wallMedianMs: Double
        var wallP90Ms: Double
        /// User + system CPU time of the step process.
        var cpuMedianMs: Double
        var userMedianMs: Double
        var systemMedianMs: Double
        var peakRSSMedianMiB: Double?
        var phases: [Phase]
        /// Store operations per run (median) and the operations of the median run, in order.
        var storeCalls: Int
        var storeOps: [String]
        var fsyncCalls: Int?
        var fsyncMs: Double?
        /// The dynamic loader's startup time (`LD_DEBUG=statistics`, cycles converted at the TSC rate) and the
        /// shared objects it loads.
        var loaderMs: Double?
        var sharedObjects: Int?
        /// Median time the step waited for the ERP's shared request budget (its result's `rateLimitWaitMs`): the
        /// ERP's limit, not the step's own cost, counted in the handler's phase.
        var rateLimitWaitMedianMs: Double?
        /// Median HTTP requests per run (its result's `httpRequests`).
        var httpRequestsMedian: Double?
    }

    static let descriptions: [String: String] = [
        "main": "process start to main (exec, dynamic linking, Swift runtime, static initializers)",
        "bootstrap": "log handler and ERP registry",
        "event": "read stdin, decode the CloudEvent",
        "key": "decode the event's data, master key",
        "storeOpen": "store open (file, pragmas, schema check)",
        "connection": "connection load (store read, decrypt, decode, validate)",
        "httpClient": "HTTP client creation (MLC_HTTP_CLIENT: sockets by default, or AsyncHTTPClient)",
        "handled": "handler: store round trips and ERP requests",
        "recorded": "audit trail, record state, review queue",
        "httpShutdown": "HTTP client shutdown",
        "storeClose": "store close",
        "result": "encode and write the result",
        "exit": "exit, teardown and reap (parent's wait, result file read)",
    ]

    /// Runs `function` `runs` times, one after the other; `event(i)` gives the input of run `i` (a fresh invoice per
    /// run for a real ok path).
    static func measure(
        function: String, label: String, runs: Int, environment: [String: String], event: (Int) throws -> Data
    ) async throws -> Figure {
        let executable = functionsDirectory().appendingPathComponent(function)
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent(
            "mlc-breakdown-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: scratch) }
        var walls: [Double] = []
        var users: [Double] = []
        var systems: [Double] = []
        var phaseRuns: [[String: (ms: Double, storeMs: Double, storeCalls: Int)]] = []
        var order: [String] = []
        var opsByRun: [(Double, [String])] = []
        var waits: [Double] = []
        var requests: [Double] = []
        var index = 0
        for _ in 0..<max(1, runs) {
            let path = scratch.appendingPathComponent("timings-\(index).jsonl").path
            var env = environment
            env["MLC_TIMINGS"] = path
            let input = try event(index)
            index += 1
            let spawn = MonotonicClock.nanoseconds()
            env["MLC_TIMINGS_SPAWN_NS"] = String(spawn)
            let output = try await ChildProcess.run(
                executable: executable, environment: env, stdin: input, stderrPath: nil, timeout: .seconds(60))
            let end = MonotonicClock.nanoseconds()
            walls.append(output.elapsedMs)
            if let result = try? JSONCoding.decode(StepResult.self, from: output.stdout) {
                waits.append(Double(result.metrics.rateLimitWaitMs ?? 0))
                requests.append(Double(result.metrics.httpRequests))
            }
            users.append(output.userMs)
            systems.append(output.systemMs)
            guard let line = try? String(contentsOfFile: path, encoding: .utf8).split(separator: "\n").last,
                let report = try? JSONCoding.decode(ProcessTimings.Report.self, from: Data(line.utf8))
            else { continue }
            let calls = report.store ?? []
            var previous = spawn
            var phases: [String: (ms: Double, storeMs: Double, storeCalls: Int)] = [:]
            let marks = report.marks.map { ($0.name, $0.ns) } + [("exit", end)]
            for (name, ns) in marks {
                let inside = calls.filter { $0.startNs >= previous && $0.endNs <= ns }
                let storeMs = inside.reduce(0.0) { $0 + Double($1.endNs &- $1.startNs) / 1e6 }
                let ms = Double(ns &- previous) / 1e6
                phases[name] = (ms: ms, storeMs: storeMs, storeCalls: inside.count)
                if !order.contains(name) { order.append(name) }
                previous = ns
            }
            phaseRuns.append(phases)
            opsByRun.append(
                (
                    output.elapsedMs,
                    calls.map { "\($0.op) \(String(format: "%.2f", Double($0.endNs &- $0.startNs) / 1e6))" }
                )
            )
        }
        guard !opsByRun.isEmpty else {
            // Every run failed or wrote no timings (a step that cannot start, a wrapper that hides MLC_TIMINGS).
            throw ConnectorError(
                .internalError,
                "\(function) [\(label)]: none of \(max(1, runs)) runs recorded its timings; run it by hand to see why")
        }
        let phases = order.map { name in
            let values = phaseRuns.compactMap { $0[name] }
            return Phase(
                name: name, what: descriptions[name] ?? name, medianMs: median(values.map(\.ms)),
                storeMs: median(values.map(\.storeMs)), storeCalls: Int(median(values.map { Double($0.storeCalls) })))
        }
        let medianRun = opsByRun.sorted { $0.0 < $1.0 }[opsByRun.count / 2]
        let cpu = zip(users, systems).map { $0 + $1 }
        let rss = try await peakRSS(executable: executable, environment: environment, event: { try event(index + $0) })
        index += 5
        let fsync = try await fsyncTime(
            executable: executable, environment: environment, event: { try event(index + $0) })
        index += 5
        let loader = try await loaderStatistics(
            executable: executable, environment: environment, event: try event(index))
        let sortedWalls = walls.sorted()
        return Figure(
            function: function, event: label, runs: walls.count, wallMedianMs: median(walls),
            wallP90Ms: sortedWalls[min(sortedWalls.count - 1, Int(Double(sortedWalls.count) * 0.9))],
            cpuMedianMs: median(cpu), userMedianMs: median(users), systemMedianMs: median(systems),
            peakRSSMedianMiB: rss, phases: phases,
            storeCalls: Int(median(phaseRuns.map { Double($0.values.reduce(0) { $0 + $1.storeCalls }) })),
            storeOps: medianRun.1, fsyncCalls: fsync?.calls, fsyncMs: fsync?.ms, loaderMs: loader?.ms,
            sharedObjects: loader?.objects, rateLimitWaitMedianMs: waits.isEmpty ? nil : median(waits),
            httpRequestsMedian: requests.isEmpty ? nil : median(requests))
    }

    static func median(_ values: [Double]) -> Double {
        guard !values.isEmpty else { return 0 }
        let sorted = values.sorted()
        return sorted.count % 2 == 1
            ? sorted[sorted.count / 2] : (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
    }

    /// Median peak RSS of 5 runs through GNU time, which forks (posix_spawn's vfork would charge this process's
    /// memory to the child's high-water mark).
    static func peakRSS(executable: URL, environment: [String: String], event: (Int) throws -> Data) async throws
        -> Double?
    {
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/time") else { return nil }
        let report = FileManager.default.temporaryDirectory.appendingPathComponent("mlc-rss-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: report) }
        var peaks: [Double] = []
        for run in 0..<5 {
            _ = try await ChildProcess.run(
                executable: URL(fileURLWithPath: "/usr/bin/time"),
                arguments: ["-f", "%M", "-o", report, executable.path],
                environment: environment, stdin: try event(run), stderrPath: nil, timeout: .seconds(60))
            let text = (try? String(contentsOfFile: report, encoding: .utf8)) ?? ""
            if let kib = text.split(separator: "\n").last.flatMap({ Double($0.trimmingCharacters(in: .whitespaces)) }) {
                peaks.append(kib / 1024)
            }
        }
        return peaks.isEmpty ? nil : median(peaks)
    }

    /// Median over 5 runs of the calls to fsync/fdatasync and the time spent in them, from `strace -T` (when
    /// installed; strace slows the process, not the time inside the calls).
    static func fsyncTime(executable: URL, environment: [String: String], event: (Int) throws -> Data) async throws
        -> (calls: Int, ms: Double)?
    {
        let strace = ["/usr/bin/strace", "/bin/strace"].first { FileManager.default.isExecutableFile(atPath: $0) }
        guard let strace else { return nil }
        var counts: [Double] = []
        var times: [Double] = []
        for run in 0..<5 {
            let trace = FileManager.default.temporaryDirectory.appendingPathComponent("mlc-strace-\(UUID().uuidString)")
                .path
            defer { try? FileManager.default.removeItem(atPath: trace) }
            _ = try await ChildProcess.run(
                executable: URL(fileURLWithPath: strace),
                arguments: ["-f", "-T", "-e", "trace=fsync,fdatasync", "-o", trace, executable.path],
                environment: environment, stdin: try event(run), stderrPath: nil, timeout: .seconds(60))
            guard let text = try? String(contentsOfFile: trace, encoding: .utf8) else { continue }
            var count = 0
            var total = 0.0
            for line in text.split(separator: "\n") where line.contains("sync(") && line.hasSuffix(">") {
                guard let open = line.lastIndex(of: "<"),
                    let seconds = Double(line[line.index(after: open)..<line.index(before: line.endIndex)])
                else { continue }
                count += 1
                total += seconds * 1000
            }
            counts.append(Double(count))
            times.append(total)
        }
        return counts.isEmpty ? nil : (Int(median(counts)), median(times))
    }

    /// The dynamic loader's startup time from `LD_DEBUG=statistics` (cycles, converted at the TSC rate the kernel
    /// reports in /proc/cpuinfo) and the number of shared objects the step loads (from `LD_DEBUG=files`).
    static func loaderStatistics(executable: URL, environment: [String: String], event: Data) async throws
        -> (ms: Double?, objects: Int?)?
    {
        let base = FileManager.default.temporaryDirectory.appendingPathComponent("mlc-ld-\(UUID().uuidString)").path
        var env = environment
        env["LD_DEBUG"] = "statistics,files"
        env["LD_DEBUG_OUTPUT"] = base
        let output = try await ChildProcess.run(
            executable: executable, environment: env, stdin: event, stderrPath: nil, timeout: .seconds(60))
        let path = "\(base).\(output.pid)"
        defer { try? FileManager.default.removeItem(atPath: path) }
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return nil }
        let lines = text.split(separator: "\n")
        let cycles = lines.first { $0.contains("total startup time in dynamic loader") }
            .flatMap { $0.split(separator: ":").last?.split(separator: " ").first }.flatMap { Double($0) }
        let objects = Set(
            lines.filter { $0.contains("file=") && $0.contains("generating link map") }
                .compactMap { $0.split(separator: "file=").last?.split(separator: " ").first.map(String.init) }
        ).count
        let megahertz = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8))?.split(separator: "\n")
            .first { $0.hasPrefix("cpu MHz") }.flatMap { $0.split(separator: ":").last }
            .flatMap { Double($0.trimmingCharacters(in: .whitespaces)) }
        let ms = cycles.flatMap { cycles in megahertz.map { cycles / ($0 * 1000) } }
        return (ms, objects > 0 ? objects : nil)
    }

    static func report(_ figures: [Figure]) {
        print("")
        print(
            "Step budget (bar: ok path ≤ 20 ms wall and ≤ 30 MiB peak RSS, median; release build; CPU = user + system of the step process; the store held open by this process, as under `run` and `trigger`):"
        )
        for figure in figures {
            print(
                "  \(figure.function) [\(figure.event)], \(figure.runs) runs: wall median \(format(figure.wallMedianMs)) ms (p90 \(format(figure.wallP90Ms))), CPU median \(format(figure.cpuMedianMs)) ms (user \(format(figure.userMedianMs)), system \(format(figure.systemMedianMs))), peak RSS median \(figure.peakRSSMedianMiB.map { format($0) } ?? "-") MiB"
            )
            for phase in figure.phases {
                let store =
                    phase.storeCalls > 0
                    ? " (store: \(phase.storeCalls) call\(phase.storeCalls == 1 ? "" : "s"), \(format(phase.storeMs)) ms)"
                    : ""
                print(
                    "      \(format(phase.medianMs).leftPadding(7)) ms  \(phase.what)\(store)")
            }
            print(
                "      store operations: \(figure.storeCalls) per run; median run: \(figure.storeOps.isEmpty ? "-" : figure.storeOps.joined(separator: ", ")) (ms)"
            )
            if let requests = figure.httpRequestsMedian, requests > 0 {
                let wait = figure.rateLimitWaitMedianMs ?? 0
                print(
                    "      ERP: \(format(requests)) HTTP requests per run; \(format(wait)) ms waiting for the ERP's request budget (rate limiter, in the handler's time); wall without that wait \(format(figure.wallMedianMs - wait)) ms"
                )
            }
            if let calls = figure.fsyncCalls, let ms = figure.fsyncMs {
                print("      fsync/fdatasync: \(calls) calls, \(format(ms)) ms in them (strace -T, median of 5)")
            }
            if figure.loaderMs != nil || figure.sharedObjects != nil {
                print(
                    "      dynamic loader: \(figure.loaderMs.map { format($0) } ?? "-") ms startup (LD_DEBUG=statistics), \(figure.sharedObjects.map(String.init) ?? "-") shared objects"
                )
            }
        }
    }

    static func format(_ value: Double) -> String { String(format: "%.2f", value) }
}

extension String {
    fileprivate func leftPadding(_ width: Int) -> String {
        count >= width ? self : String(repeating: " ", count: width - count) + self
    }
}
