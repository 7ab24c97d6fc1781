import ConnectorCore
import Foundation

/// One run of a step executable, the way the runner, the webhook gateway and the platform adapters all run one: the
/// event (already encoded) on stdin, the step's result read from stdout, the process killed after `timeout`.
package struct StepInvocation: Sendable {
    package var output: ChildProcess.Output
    /// The step's result; nil when it printed none that decodes (a crash, a kill, a timeout).
    package var result: StepResult?

    package init(output: ChildProcess.Output, result: StepResult?) {
        self.output = output
        self.result = result
    }

    /// Runs `executable` (with `arguments`, e.g. the script a Fission environment runs with `/bin/sh`) with
    /// `input` on stdin.
    /// - Throws: when the process cannot be started, and `CancellationError` when the caller gave up on it (the
    ///   child is killed).
    package static func run(
        _ input: Data, executable: URL, arguments: [String] = [], environment: [String: String],
        stderr: ChildProcess.ErrorOutput, timeout: Duration, niceness: Int32 = 0
    ) async throws -> StepInvocation {
        let output = try await ChildProcess.run(
            executable: executable, arguments: arguments, environment: environment, stdin: input, stderr: stderr,
            timeout: timeout, niceness: niceness)
        return StepInvocation(
            output: output, result: try? JSONCoding.decodeParsingTrees(StepResult.self, from: output.stdout))
    }

    /// What the exit means for the event.
    package var outcome: StepOutcome {
        StepOutcome(signaled: output.signaled, exitCode: output.exitCode, result: result)
    }
}

/// What a step's exit means for its event, the same wherever the step runs: the runner acks, dead-letters or
/// retries; the Knative adapter answers 2xx, 4xx (not retried) or 5xx (retried).
package enum StepOutcome: Sendable, Hashable {
    /// Exit 0 with a result: its events go on, the event is done.
    case done(StepResult)
    /// Exit 65: the event is malformed and never gets better; kept whole (dead-lettered) at once.
    case refused(StepResult?)
    /// Failed for good: a configuration error that waiting can't fix (exit 78, see ``mayHeal(_:)``), or an error the
    /// step marked not retryable (the upstream refused the request itself). Kept whole for replay after the fix.
    case failed(StepResult)
    /// Everything else may pass: a temporary failure (75), an upstream that stayed unavailable (69), a configuration
    /// error that can heal, a crash, a timeout, a step that printed no result.
    case temporary

    package init(signaled: Bool, exitCode: Int32, result: StepResult?) {
        guard !signaled else {
            self = .temporary
            return
        }
        switch (exitCode, result) {
        case (0, let result?): self = .done(result)
        case (65, let result): self = .refused(result)
        case (78, let result?) where !Self.mayHeal(result.error?.code): self = .failed(result)
        case (let code, let result?) where code != 78 && result.error?.retryable == false: self = .failed(result)
        default: self = .temporary
        }
    }

    /// Configuration failures that can heal by themselves: a rotated secret takes minutes to reach every Entra
    /// region, and an app's consent or a token endpoint can come back. Those are retried like temporary ones.
    package static func mayHeal(_ code: String?) -> Bool {
        guard let code else { return true }
        return ["auth.rejected", "auth.failed", "state.unavailable"].contains(code)
    }
}
