import ConnectorCore
import ConnectorRunner
import ConnectorTesting
import Foundation
import Logging
import Testing

/// The trigger jobs' metrics, kept as counters in the store: several jobs add up, and the exposition serves the
/// series `run --metrics` serves, with the same values.
@Suite("Step metrics kept in the store")
struct StoredMetricsTests {
    static func result(status: StepStatus, requests: [String: Int], waitMs: Int?, record: RecordState?) -> StepResult {
        var result = StepResult(status: status)
        result.metrics.requests = requests
        result.metrics.rateLimitWaitMs = waitMs
        if let record { result.record = RecordUpdate(recordId: "r-1", state: record) }
        return result
    }

    /// What two jobs saw, played into a recorder.
    static func play(_ recorder: any StepMetricsRecorder) {
        let written = result(
            status: .ok, requests: ["businessCentral bc.example 201": 1, "entra login.example 200": 1], waitMs: 250,
            record: .written)
        recorder.stepFinished(step: "write-erp-invoice", result: written, duration: .milliseconds(140))
        recorder.stepFinished(step: "write-erp-invoice", result: nil, duration: .seconds(45))
        recorder.stepFinished(
            step: "write-erp-invoice",
            result: result(status: .retry, requests: ["businessCentral bc.example 429": 2], waitMs: nil, record: nil),
            duration: .milliseconds(8))
        recorder.retried(step: "write-erp-invoice")
        recorder.deadLettered(step: "transform-invoice")
    }

    @Test("two jobs' counts add up in the store and expose the same values as the runner's own registry")
    func sameAsRunner() async throws {
        let store = InMemoryStateStore()
        // Two jobs, each flushing what it saw; the runner's registry sees both.
        let runner = RunnerMetrics()
        for _ in 0..<2 {
            let job = StoredMetrics()
            Self.play(job)
            Self.play(runner)
            #expect(try await job.flush(to: store) > 5)
            #expect(try await job.flush(to: store) == 0, "a flush forgets what it wrote")
        }
        let (text, unreadable) = StoredMetrics.exposition(
            try await store.scanAll(prefix: StoredMetrics.prefix), queueDepth: ["write-erp-invoice": 3],
            steps: ["transform-invoice", "write-erp-invoice"])
        #expect(unreadable == 0)
        let stored = PrometheusText.values(text)
        let served = PrometheusText.values(runner.exposition())
        #expect(stored[#"mlc_step_invocations_total{step="write-erp-invoice",status="ok"}"#] == 2)
        #expect(stored[#"mlc_step_invocations_total{step="write-erp-invoice",status="crashed"}"#] == 2)
        #expect(
            stored[
                #"mlc_http_requests_total{step="write-erp-invoice",system="businessCentral",host="bc.example",status="429"}"#
            ]
                == 4)
        #expect(stored[#"mlc_rate_limit_wait_seconds_total{step="write-erp-invoice"}"#] == 0.5)
        #expect(stored[#"mlc_records_total{state="written"}"#] == 2)
        #expect(stored[#"mlc_retries_total{step="write-erp-invoice"}"#] == 2)
        #expect(stored[#"mlc_dead_letters_total{step="transform-invoice"}"#] == 2)
        #expect(stored[#"mlc_step_duration_seconds_bucket{step="write-erp-invoice",le="0.01"}"#] == 2)
        #expect(stored[#"mlc_step_duration_seconds_bucket{step="write-erp-invoice",le="0.25"}"#] == 4)
        #expect(stored[#"mlc_step_duration_seconds_bucket{step="write-erp-invoice",le="30.0"}"#] == 4)
        #expect(stored[#"mlc_step_duration_seconds_bucket{step="write-erp-invoice",le="+Inf"}"#] == 6)
        #expect(stored[#"mlc_step_duration_seconds_count{step="write-erp-invoice"}"#] == 6)
        #expect(abs((stored[#"mlc_step_duration_seconds_sum{step="write-erp-invoice"}"#] ?? 0) - 90.296) < 1e-9)
        #expect(stored[#"mlc_queue_depth{step="write-erp-invoice"}"#] == 3)
        #expect(stored[#"mlc_queue_depth{step="transform-invoice"}"#] == 0, "an empty queue shows as 0")
        // Every series the runner serves for these steps, with the same value.
        for (series, value) in served where !series.hasPrefix("mlc_queue_depth") {
            #expect(
                stored[series].map { abs($0 - value) < 1e-9 } == true, "\(series): \(value) vs \(stored[series] ?? -1)")
        }
        #expect(text.contains("# TYPE mlc_step_duration_seconds histogram"))
        #expect(text.contains("# TYPE mlc_records_total counter"))
    }

    @Test("label values are escaped; foreign or garbled entries under metrics/ are left out and counted")
    func hostileEntries() async throws {
        let store = InMemoryStateStore()
        let job = StoredMetrics()
        job.stepFinished(
            step: "write-erp-invoice",
            result: Self.result(status: .ok, requests: ["jaggaer we\"ird\\host\n 200": 1], waitMs: nil, record: nil),
            duration: .milliseconds(5))
        _ = try await job.flush(to: store)
        _ = try await store.put("metrics/not a series", Data("1".utf8), ttl: nil)
        _ = try await store.put(#"metrics/mlc_records_total{state="x"}"#, Data("one".utf8), ttl: nil)
        _ = try await store.put(#"metrics/mlc_unknown_total{a="b"}"#, Data("1".utf8), ttl: nil)
        _ = try await store.put(#"metrics/mlc_step_duration_seconds_bucket{step="s",le="x"}"#, Data("1".utf8), ttl: nil)
        _ = try await store.put("elsewhere", Data("1".utf8), ttl: nil)
        let (text, unreadable) = StoredMetrics.exposition(
            try await store.scanAll(prefix: ""), queueDepth: [:], steps: [])
        #expect(unreadable == 4)
        #expect(
            text.contains(
                #"mlc_http_requests_total{step="write-erp-invoice",system="jaggaer",host="we\"ird\\host\n",status="200"} 1"#
            ), "\(text)")
        #expect(!text.contains("not a series") && !text.contains("mlc_unknown_total") && !text.contains("one"))
        #expect(!text.contains("elsewhere"))
    }
}
