import ConnectorCore
import Foundation
import Hummingbird
import Logging
import Metrics
import Prometheus
import ServiceLifecycle

/// The runner's Prometheus metrics, recorded through swift-metrics into this runner's own registry (no global
/// bootstrap, so tests and several runners in one process stay apart) and served as text at `/metrics`.
///
/// - `mlc_step_invocations_total{step,status}`: step results (`crashed` when no result came).
/// - `mlc_step_duration_seconds{step}`: histogram of a step's whole process time.
/// - `mlc_http_requests_total{step,system,host,status}`: the requests steps made, by system (`jaggaer` or the ERP's
///   kind, its token requests included), host and answer (`error`: none came).
/// - `mlc_rate_limit_wait_seconds_total{step}`: time steps waited for the shared request budget.
/// - `mlc_records_total{state}`: records moved to a state (captured, written, needs review, posted…).
/// - `mlc_retries_total{step}`, `mlc_dead_letters_total{step}`.
/// - `mlc_queue_depth{step}`: items waiting for each step, read from the queue at each scrape.
package final class RunnerMetrics: Sendable {
    package let registry = PrometheusCollectorRegistry()
    private let factory: PrometheusMetricsFactory

    package static let durationBuckets: [Duration] = [
        .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100), .milliseconds(250),
        .milliseconds(500), .seconds(1), .seconds(2.5), .seconds(5), .seconds(10), .seconds(30), .seconds(60),
    ]

    package init() {
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.defaultDurationHistogramBuckets = Self.durationBuckets
        self.factory = factory
    }

    /// One step process ended, with its result when it printed one.
    package func stepFinished(step: String, result: StepResult?, duration: Duration) {
        Counter(
            label: "mlc_step_invocations_total",
            dimensions: [("step", step), ("status", result?.status.rawValue ?? "crashed")], factory: factory
        ).increment()
        Metrics.Timer(label: "mlc_step_duration_seconds", dimensions: [("step", step)], factory: factory)
            .recordNanoseconds(Int64(duration.timeInterval * 1_000_000_000))
        guard let result else { return }
        for (key, count) in result.metrics.requests ?? [:] {
            // `<system> <host> <status>`; a step of an earlier release wrote `<host> <status>`.
            let parts = key.split(separator: " ", maxSplits: 2).map(String.init)
            guard parts.count >= 2, count > 0 else { continue }
            let (system, host, status) = parts.count == 3 ? (parts[0], parts[1], parts[2]) : ("-", parts[0], parts[1])
            Counter(
                label: "mlc_http_requests_total",
                dimensions: [("step", step), ("system", system), ("host", host), ("status", status)],
                factory: factory
            ).increment(by: count)
        }
        if let waited = result.metrics.rateLimitWaitMs, waited > 0 {
            FloatingPointCounter(
                label: "mlc_rate_limit_wait_seconds_total", dimensions: [("step", step)], factory: factory
            ).increment(by: Double(waited) / 1000)
        }
        if let state = result.record?.state {
            Counter(label: "mlc_records_total", dimensions: [("state", state.rawValue)], factory: factory).increment()
        }
        // Records first seen in a step's output (a poll's captured invoices) start as captured.
        let captured = result.events.filter { $0.type == EventType.invoiceCaptured }.count
        if captured > 0 {
            Counter(
                label: "mlc_records_total", dimensions: [("state", RecordState.captured.rawValue)], factory: factory
            )
            .increment(by: captured)
        }
    }

    package func retried(step: String) {
        Counter(label: "mlc_retries_total", dimensions: [("step", step)], factory: factory).increment()
    }

    package func deadLettered(step: String) {
        Counter(label: "mlc_dead_letters_total", dimensions: [("step", step)], factory: factory).increment()
    }

    /// Sets the queue depth of every step (0 for steps with nothing waiting, so a drained queue shows as such).
    package func queueDepth(_ depths: [String: Int], steps: [String]) {
        for step in Set(steps).union(depths.keys) {
            Gauge(label: "mlc_queue_depth", dimensions: [("step", step)], factory: factory)
                .record(depths[step] ?? 0)
        }
    }

    /// The text exposition format.
    package func exposition() -> String { registry.emitToString() }

    /// `GET /metrics` (and `/healthz`) on HOST:PORT; `refresh` runs before each scrape (the queue depth).
    package func server(host: String, port: Int, logger: Logger, refresh: @escaping @Sendable () async -> Void)
        -> any Service
    {
        let router = Router()
        router.get("/metrics") { _, _ -> Response in
            await refresh()
            return Response(
                status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                body: .init(byteBuffer: ByteBuffer(string: self.exposition())))
        }
        router.get("/healthz") { _, _ in "ok" }
        return Application(
            router: router,
            configuration: ApplicationConfiguration(address: .hostname(host, port: port), serverName: nil),
            onServerRunning: { channel in
                logger.info(
                    "metrics listening",
                    metadata: ["url": "http://\(host):\(channel.localAddress?.port ?? port)/metrics"])
            },
            logger: logger
        )
    }
}
