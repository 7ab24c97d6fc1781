import ConnectorCore
import ConnectorRunner
import Foundation
import Logging

/// The Knative Eventing front of one step executable: takes one CloudEvent delivered over HTTP (binary or structured
/// mode), runs the step with the event on stdin exactly as the local runner does (same encoding, environment and
/// timeout), and answers with the step's outcome in the terms Knative acts on.
///
/// Answers:
/// - 200 with the first emitted event as the reply, in binary mode (the broker routes a reply like any event); the
///   further emitted events are POSTed to `K_SINK` (the broker) *before* the answer, so a failed post fails the
///   delivery and Knative delivers again (the steps are idempotent). More than one emitted event with no sink is a
///   500: nothing is answered 2xx while an event would be dropped.
/// - 202 with no body when the step handled the event and emitted nothing (ok, duplicate, needs review).
/// - 400 for a request that is not an acceptable CloudEvent and for a step that refused its event (exit 65):
///   Knative does not retry a 400 and hands the event to the dead-letter sink, kept whole.
/// - 422 when the step failed for good (an upstream refusal or a configuration error that waiting can't heal): also
///   not retried, dead-lettered at once, like the runner does.
/// - 503 (with `Retry-After` when the step says when) for a temporary failure, 502 for an upstream that stayed
///   unavailable, 500 for a crash, a timeout or a step that could not start: Knative retries these per the
///   Trigger's `delivery`, then dead-letters.
///
/// Every error body is JSON: `{"error": {"code", "message", "retryable"}, "exitCode"}`.
package struct StepAdapter: Sendable {
    package struct Answer: Sendable {
        package var status: Int
        package var headers: [(name: String, value: String)]
        package var body: Data

        static func error(_ status: Int, code: String, message: String, retryable: Bool, exitCode: Int32? = nil)
            -> Answer
        {
            var document: [String: JSONValue] = [
                "error": .object([
                    "code": .string(code), "message": .string(message), "retryable": .bool(retryable),
                ])
            ]
            if let exitCode { document["exitCode"] = .number(Decimal(Int(exitCode))) }
            let body = (try? JSONCoding.encode(JSONValue.object(document))) ?? Data()
            return Answer(status: status, headers: [("content-type", "application/json")], body: body)
        }
    }

    package var executable: URL
    package var environment: [String: String]
    package var timeout: Duration
    /// Where emitted events beyond the first go (Knative's `K_SINK`, injected by a SinkBinding).
    package var sink: (@Sendable (CloudEvent) async throws -> Void)?
    package var logger: Logger
    /// Step results, durations, HTTP requests, rate-limit waits and records, as the runner counts them.
    package var metrics: RunnerMetrics?

    package init(
        executable: URL, environment: [String: String], timeout: Duration,
        sink: (@Sendable (CloudEvent) async throws -> Void)?, logger: Logger, metrics: RunnerMetrics? = nil
    ) {
        self.executable = executable
        self.environment = environment
        self.timeout = timeout
        self.sink = sink
        self.logger = logger
        self.metrics = metrics
    }

    /// Handles one delivery; never throws.
    package func handle(headers: [(name: String, value: String)], body: Data) async -> Answer {
        let event: CloudEvent
        let input: Data
        do {
            event = try CloudEventHTTP.decode(headers: headers, body: body)
            input = try JSONCoding.encode(event)
        } catch {
            let wrapped = ConnectorError.wrap(error)
            return .error(400, code: wrapped.code.rawValue, message: wrapped.message, retryable: false)
        }
        let invocation: StepInvocation
        do {
            invocation = try await StepInvocation.run(
                input, executable: executable, environment: environment, stderr: .inherit, timeout: timeout)
        } catch {
            logger.error(
                "cannot start the step",
                metadata: ["step": "\(executable.lastPathComponent)", "error": "\(ConnectorError.wrap(error).message)"])
            return .error(
                500, code: "adapter.step_unavailable", message: "the step could not be started", retryable: true)
        }
        let (output, result) = (invocation.output, invocation.result)
        metrics?.stepFinished(
            step: executable.lastPathComponent, result: result, duration: .milliseconds(output.durationMs))
        var delivery = logger
        // The ids a reader of the logs follows a record by, as in the steps' own lines.
        if let connection = event.connection { delivery[metadataKey: "connection"] = "\(connection)" }
        if let record = event.recordid { delivery[metadataKey: "record"] = "\(record)" }
        if let traceparent = event.traceparent { delivery[metadataKey: "traceparent"] = "\(traceparent)" }
        delivery.info(
            "delivery",
            metadata: [
                "step": "\(executable.lastPathComponent)", "type": "\(event.type)", "event": "\(event.id)",
                "exit": "\(output.exitCode)", "signaled": "\(output.signaled)",
                "status": "\(result?.status.rawValue ?? "crashed")", "code": "\(result?.error?.code ?? "-")",
                "events": "\(result?.events.count ?? 0)", "durationMs": "\(output.durationMs)",
            ])
        return await answer(invocation)
    }

    /// The step's outcome (the runner's rules: ``StepOutcome``) in the terms Knative acts on.
    private func answer(_ invocation: StepInvocation) async -> Answer {
        if !invocation.output.signaled, case .done(let result) = invocation.outcome {
            return await delivered(result.events)
        }
        return Self.failure(invocation, timeout: timeout)
    }

    /// The answer of every HTTP front (Knative's adapter, the Fission environment) for a step that did not finish
    /// its event: 400 for a refused event and 422 for a failure for good (neither is retried), 503 (with
    /// `Retry-After` when the step says when) for a temporary failure, 502 for an upstream that stayed unavailable,
    /// 500 for a crash, a timeout or a step that printed no result. For a finished step (exit 0 with a result) it
    /// answers 500 too: the caller handles those first.
    package static func failure(_ invocation: StepInvocation, timeout: Duration) -> Answer {
        let code = invocation.output.exitCode
        if invocation.output.signaled {
            return .error(
                500, code: "step.crashed", message: "the step was killed (crash or timeout after \(timeout))",
                retryable: true, exitCode: code)
        }
        guard let result = invocation.result else {
            return .error(
                500, code: "step.no_result", message: "the step ended without a result (exit \(code))",
                retryable: true, exitCode: code)
        }
        let error = result.error
        switch invocation.outcome {
        case .done:
            return .error(
                500, code: "step.unexpected", message: "the step finished; nothing failed", retryable: true,
                exitCode: code)
        case .refused:
            return .error(
                400, code: error?.code ?? "event.invalid", message: error?.message ?? "the step refused the event",
                retryable: false, exitCode: code)
        case .failed where code == 78:
            return .error(
                422, code: error?.code ?? "config.invalid", message: error?.message ?? "configuration error",
                retryable: false, exitCode: code)
        case .failed:
            return .error(
                422, code: error?.code ?? "step.failed", message: error?.message ?? "the step failed",
                retryable: false, exitCode: code)
        case .temporary:
            return temporary(code: code, result: result)
        }
    }

    /// 503 for a temporary failure, 502 for an upstream that stayed unavailable, 500 otherwise: Knative retries.
    private static func temporary(code: Int32, result: StepResult) -> Answer {
        let error = result.error
        switch code {
        case 75:
            var answer = Answer.error(
                503, code: error?.code ?? "step.temporary", message: error?.message ?? "temporary failure",
                retryable: true, exitCode: code)
            if let retryAt = result.retryAt {
                answer.headers.append(("retry-after", String(max(1, Int(retryAt.timeIntervalSinceNow.rounded(.up))))))
            }
            return answer
        case 69:
            return .error(
                502, code: error?.code ?? "upstream.unavailable", message: error?.message ?? "upstream unavailable",
                retryable: true, exitCode: code)
        default:
            return .error(
                500, code: error?.code ?? "step.failed", message: error?.message ?? "the step failed (exit \(code))",
                retryable: true, exitCode: code)
        }
    }

    /// The first event is the reply; the others go to the sink first.
    private func delivered(_ events: [CloudEvent]) async -> Answer {
        guard let first = events.first else { return Answer(status: 202, headers: [], body: Data()) }
        if events.count > 1 {
            guard let sink else {
                return .error(
                    500, code: "adapter.no_sink",
                    message:
                        "the step emitted \(events.count) events and K_SINK is not set; only one can be the reply",
                    retryable: true, exitCode: 0)
            }
            for event in events.dropFirst() {
                do {
                    try await sink(event)
                } catch {
                    logger.error(
                        "cannot send an emitted event to K_SINK",
                        metadata: ["type": "\(event.type)", "error": "\(ConnectorError.wrap(error).message)"])
                    return .error(
                        502, code: "adapter.sink_failed", message: "an emitted event could not be sent to the broker",
                        retryable: true, exitCode: 0)
                }
            }
        }
        do {
            let (headers, body) = try CloudEventHTTP.binary(first)
            return Answer(status: 200, headers: headers, body: body)
        } catch {
            return .error(
                500, code: "adapter.reply_failed", message: "the reply event could not be encoded", retryable: true,
                exitCode: 0)
        }
    }
}
