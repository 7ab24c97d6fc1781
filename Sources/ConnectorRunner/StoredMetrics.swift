import ConnectorCore
import Foundation
import Hummingbird
import Logging
import NIOCore
import ServiceLifecycle
import Synchronization

/// Where a runner's step metrics go: the Prometheus registry of a long-lived runner or adapter (``RunnerMetrics``),
/// or the store, for the short-lived `trigger` jobs (``StoredMetrics``).
package protocol StepMetricsRecorder: Sendable {
    func stepFinished(step: String, result: StepResult?, duration: Duration)
    func retried(step: String)
    func deadLettered(step: String)
}

/// What one finished step adds to the metrics, the same for every recorder.
package struct StepObservation: Sendable, Equatable {
    package enum Value: Sendable, Equatable {
        case count(Int)
        case seconds(Double)
        /// One observation of a duration histogram.
        case duration(Duration)
    }

    package var name: String
    package var labels: [(String, String)]
    package var value: Value

    package static func == (lhs: StepObservation, rhs: StepObservation) -> Bool {
        lhs.name == rhs.name && lhs.value == rhs.value && lhs.labels.elementsEqual(rhs.labels) { $0 == $1 }
    }

    /// The observations of one step process: its result (`crashed` when none came) and duration; the HTTP requests
    /// it made by system, host and answer; the time it waited for the request budget; the records it moved.
    package static func of(step: String, result: StepResult?, duration: Duration) -> [StepObservation] {
        var observations = [
            StepObservation(
                name: "mlc_step_invocations_total",
                labels: [("step", step), ("status", result?.status.rawValue ?? "crashed")], value: .count(1)),
            StepObservation(name: "mlc_step_duration_seconds", labels: [("step", step)], value: .duration(duration)),
        ]
        guard let result else { return observations }
        for (key, count) in (result.metrics.requests ?? [:]).sorted(by: { $0.key < $1.key }) {
            // `<system> <host> <status>`; a step of an earlier release wrote `<host> <status>`.
            let parts = key.split(separator: " ", maxSplits: 2).map(String.init)
            guard parts.count >= 2, count > 0 else { continue }
            let (system, host, status) = parts.count == 3 ? (parts[0], parts[1], parts[2]) : ("-", parts[0], parts[1])
            observations.append(
                StepObservation(
                    name: "mlc_http_requests_total",
                    labels: [("step", step), ("system", system), ("host", host), ("status", status)],
                    value: .count(count)))
        }
        if let waited = result.metrics.rateLimitWaitMs, waited > 0 {
            observations.append(
                StepObservation(
                    name: "mlc_rate_limit_wait_seconds_total", labels: [("step", step)],
                    value: .seconds(Double(waited) / 1000)))
        }
        if let state = result.record?.state {
            observations.append(
                StepObservation(name: "mlc_records_total", labels: [("state", state.rawValue)], value: .count(1)))
        }
        // Records first seen in a step's output (a poll's captured invoices) start as captured.
        let captured = result.events.filter { $0.type == EventType.invoiceCaptured }.count
        if captured > 0 {
            observations.append(
                StepObservation(
                    name: "mlc_records_total", labels: [("state", RecordState.captured.rawValue)],
                    value: .count(captured)))
        }
        return observations
    }
}

/// The step metrics of short-lived processes (KEDA's `trigger` jobs), kept as counters in the store so that every
/// job's counts add up, and served by one long-lived `local-runner metrics` with the queue depth read at each scrape:
/// the same series `run --metrics` serves.
///
/// A job gathers its counts in memory and adds them at its end (``flush(to:)``), one `increment` per series. Each key
/// is `metrics/` followed by the series as Prometheus writes it, e.g. `metrics/mlc_records_total{state="written"}`;
/// a duration is counted in the first histogram bucket it fits (the exposition makes them cumulative), its sum in
/// microseconds; a wait in seconds is kept in milliseconds. The keys have no expiry: they are cumulative counters,
/// a few dozen series per step.
package final class StoredMetrics: StepMetricsRecorder {
    package static let prefix = "metrics/"
    private let deltas = Mutex<[String: Int64]>([:])

    package init() {}

    /// Series stored in a finer unit than they are exposed in: the factor back to the exposed unit.
    static let scales: [String: Double] = [
        "mlc_step_duration_seconds_sum": 1e-6, "mlc_rate_limit_wait_seconds_total": 1e-3,
    ]
    static let counters = [
        "mlc_step_invocations_total", "mlc_http_requests_total", "mlc_rate_limit_wait_seconds_total",
        "mlc_records_total", "mlc_retries_total", "mlc_dead_letters_total",
    ]
    static let histogram = "mlc_step_duration_seconds"

    package func stepFinished(step: String, result: StepResult?, duration: Duration) {
        for observation in StepObservation.of(step: step, result: result, duration: duration) {
            switch observation.value {
            case .count(let count): add(Self.series(observation.name, observation.labels), Int64(count))
            case .seconds(let seconds):
                add(Self.series(observation.name, observation.labels), Int64((seconds * 1000).rounded()))
            case .duration(let duration):
                let le =
                    RunnerMetrics.durationBuckets.first { duration <= $0 }.map { Self.bound($0.timeInterval) } ?? "+Inf"
                add(Self.series(observation.name + "_bucket", observation.labels + [("le", le)]), 1)
                add(
                    Self.series(observation.name + "_sum", observation.labels),
                    Int64((duration.timeInterval * 1_000_000).rounded()))
                add(Self.series(observation.name + "_count", observation.labels), 1)
            }
        }
    }

    package func retried(step: String) { add(Self.series("mlc_retries_total", [("step", step)]), 1) }

    package func deadLettered(step: String) { add(Self.series("mlc_dead_letters_total", [("step", step)]), 1) }

    private func add(_ series: String, _ delta: Int64) {
        guard delta != 0 else { return }
        deltas.withLock { $0[series, default: 0] += delta }
    }

    /// Adds what this process counted to the store's counters (and forgets it); returns how many series it wrote.
    package func flush(to store: any StateStore) async throws -> Int {
        let pending = deltas.withLock { deltas in
            defer { deltas = [:] }
            return deltas
        }
        // A lost answer may count a series twice; a failed flush loses this job's counts (the job's result line
        // and the queue still tell what happened).
        for (series, delta) in pending.sorted(by: { $0.key < $1.key }) {
            _ = try await store.increment(Self.prefix + series, by: delta, ttl: nil)
        }
        return pending.count
    }

    // MARK: - Series text

    /// A series as the exposition writes it: `name{label="value",...}` with the values escaped.
    static func series(_ name: String, _ labels: [(String, String)]) -> String {
        guard !labels.isEmpty else { return name }
        return name + "{" + labels.map { "\($0.0)=\"\(escaped($0.1))\"" }.joined(separator: ",") + "}"
    }

    static func escaped(_ value: String) -> String {
        var result = ""
        for character in value {
            switch character {
            case "\\": result += "\\\\"
            case "\"": result += "\\\""
            case "\n": result += "\\n"
            default: result.append(character)
            }
        }
        return result
    }

    /// A number as Prometheus reads it: integers without a fraction, others in the shortest exact form.
    static func number(_ value: Double) -> String {
        if value == value.rounded(), abs(value) < 1e15 { return String(Int64(value)) }
        return "\(value)"
    }

    /// A bucket's bound as swift-prometheus writes it in `le` (`0.01`, `1.0`, `+Inf`), so a series keeps its name
    /// whichever process serves it.
    static func bound(_ value: Double) -> String { value.isInfinite ? "+Inf" : "\(value)" }

    // MARK: - Exposition

    /// The text exposition of the stored counters plus each step's queue depth (0 for an empty queue). Entries under
    /// `metrics/` that are not such a series with an integer value are left out and counted in `unreadable`.
    package static func exposition(_ entries: [StoredEntry], queueDepth: [String: Int], steps: [String]) -> (
        text: String, unreadable: Int
    ) {
        var families: [String: [(series: String, value: Double)]] = [:]
        var buckets: [String: [(le: Double, label: String, count: Double)]] = [:]
        var unreadable = 0
        for entry in entries where entry.key.hasPrefix(prefix) {
            let series = String(entry.key.dropFirst(prefix.count))
            let name = String(series.prefix { $0 != "{" })
            guard let count = Int64(String(decoding: entry.value.data, as: UTF8.self)),
                name.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_") }),
                name == series || (series.hasPrefix(name + "{") && series.hasSuffix("}"))
            else {
                unreadable += 1
                continue
            }
            let labels = name == series ? "" : String(series.dropFirst(name.count + 1).dropLast())
            if name == histogram + "_bucket" {
                guard let range = labels.range(of: "le=\"", options: .backwards), labels.hasSuffix("\""),
                    range.lowerBound == labels.startIndex || labels[labels.index(before: range.lowerBound)] == ","
                else {
                    unreadable += 1
                    continue
                }
                let text = String(labels[range.upperBound...].dropLast())
                guard let le = text == "+Inf" ? Double.infinity : Double(text) else {
                    unreadable += 1
                    continue
                }
                var rest = String(labels[..<range.lowerBound])
                if rest.hasSuffix(",") { rest.removeLast() }
                buckets[rest, default: []].append((le, text, Double(count)))
                continue
            }
            let family =
                counters.contains(name)
                ? name : [histogram + "_sum", histogram + "_count"].contains(name) ? histogram : nil
            guard let family else {
                unreadable += 1
                continue
            }
            families[family, default: []].append((series, Double(count) * (scales[name] ?? 1)))
        }
        var lines: [String] = []
        for name in counters where families[name] != nil {
            lines.append("# TYPE \(name) counter")
            for (series, value) in families[name, default: []].sorted(by: { $0.series < $1.series }) {
                lines.append("\(series) \(number(value))")
            }
        }
        if !buckets.isEmpty || families[histogram] != nil {
            lines.append("# TYPE \(histogram) histogram")
            for labels in buckets.keys.sorted() {
                let observed = buckets[labels, default: []]
                var cumulative = 0.0
                let bounds = RunnerMetrics.durationBuckets.map(\.timeInterval) + [.infinity]
                for bound in bounds {
                    cumulative += observed.filter { $0.le == bound }.reduce(0) { $0 + $1.count }
                    let le = bound.isInfinite ? "+Inf" : Self.bound(bound)
                    let all = labels.isEmpty ? "le=\"\(le)\"" : "\(labels),le=\"\(le)\""
                    lines.append("\(histogram)_bucket{\(all)} \(number(cumulative))")
                }
                // Bounds of another release's buckets are left out of the cumulative counts; say so.
                unreadable += observed.filter { bucket in !bounds.contains(bucket.le) }.count
            }
            for (series, value) in families[histogram, default: []].sorted(by: { $0.series < $1.series }) {
                lines.append("\(series) \(number(value))")
            }
        }
        lines.append("# TYPE mlc_queue_depth gauge")
        for step in Set(steps).union(queueDepth.keys).sorted() {
            lines.append("\(series("mlc_queue_depth", [("step", step)])) \(queueDepth[step] ?? 0)")
        }
        return (lines.joined(separator: "\n") + "\n", unreadable)
    }

    /// Reads the store's counters and the queue depth of every step: one scrape.
    package static func scrape(_ store: any StateStore, steps: [String], logger: Logger) async throws -> String {
        let entries = try await store.scanAll(prefix: prefix)
        let queue = WorkQueue(store: store)
        var depth: [String: Int] = [:]
        for step in steps { depth[step] = try await queue.count(step: step) }
        let (text, unreadable) = exposition(entries, queueDepth: depth, steps: steps)
        if unreadable > 0 {
            logger.warning(
                "store entries under metrics/ that are no counter series were left out",
                metadata: ["count": "\(unreadable)"])
        }
        return text
    }

    /// `GET /metrics` (a scrape of the store) and `GET /healthz` on HOST:PORT; a store error is a 503.
    package static func server(
        store: any StateStore, steps: [String], host: String, port: Int, logger: Logger,
        onListening: @escaping @Sendable (Int) -> Void
    ) -> any Service {
        let router = Router()
        router.get("/metrics") { _, _ -> Response in
            do {
                let text = try await scrape(store, steps: steps, logger: logger)
                return Response(
                    status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                    body: .init(byteBuffer: ByteBuffer(string: text)))
            } catch {
                let message = ConnectorError.wrap(error).message
                logger.error("cannot read the metrics from the store", metadata: ["error": "\(message)"])
                return Response(
                    status: .serviceUnavailable, headers: [.contentType: "text/plain; charset=utf-8"],
                    body: .init(byteBuffer: ByteBuffer(string: "the store cannot be read: \(message)\n")))
            }
        }
        router.get("/healthz") { _, _ in "ok" }
        return Application(
            router: router,
            configuration: ApplicationConfiguration(address: .hostname(host, port: port), serverName: nil),
            onServerRunning: { channel in onListening(channel.localAddress?.port ?? port) },
            logger: logger
        )
    }
}
