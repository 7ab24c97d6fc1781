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
package final class RunnerMetrics: StepMetricsRecorder {
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
        for observation in StepObservation.of(step: step, result: result, duration: duration) {
            switch observation.value {
            case .count(let count):
                Counter(label: observation.name, dimensions: observation.labels, factory: factory).increment(by: count)
            case .seconds(let seconds):
                FloatingPointCounter(label: observation.name, dimensions: observation.labels, factory: factory)
                    .increment(by: seconds)
            case .duration(let duration):
                Metrics.Timer(label: observation.name, dimensions: observation.labels, factory: factory)
                    .recordNanoseconds(Int64(duration.timeInterval * 1_000_000_000))
            }
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
