import ConnectorCore
import ConnectorRunner
import Foundation
import Testing

/// Running a step and reading what its exit means: the one rule the runner, the gateway and the Knative adapter share.
@Suite("Step invocation and outcomes")
struct StepInvocationTests {
    static func failure(_ code: String, retryable: Bool) -> StepResult {
        StepResult(status: .failed, error: .init(code: code, message: "m", retryable: retryable))
    }

    @Test("steps nearer the end of a flow start at a higher CPU priority; the child really runs at it")
    func downstreamFirst() async throws {
        #expect(FunctionCatalog.stepsAfter("post-erp-invoice") == 0)
        #expect(FunctionCatalog.stepsAfter("write-erp-invoice") == 1)
        #expect(FunctionCatalog.stepsAfter("transform-invoice") == 2)
        #expect(FunctionCatalog.stepsAfter("poll-jaggaer-invoices") == 3)
        #expect(FunctionCatalog.niceness(of: "write-erp-invoice") < FunctionCatalog.niceness(of: "transform-invoice"))
        #expect(
            FunctionCatalog.niceness(of: "transform-invoice") < FunctionCatalog.niceness(of: "poll-jaggaer-invoices"))
        for spec in FunctionCatalog.all {
            #expect((0...12).contains(FunctionCatalog.niceness(of: spec.name)), "\(spec.name)")
        }
        // The priority is set just after the spawn; the child reads its own after a pause.
        let output = try await ChildProcess.run(
            executable: URL(fileURLWithPath: "/bin/sh"), arguments: ["-c", "sleep 0.3; nice"], environment: [:],
            stdin: Data(), stderr: .discard, timeout: .seconds(10), niceness: 6)
        let base = getpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0)
        #expect(String(decoding: output.stdout, as: UTF8.self) == "\(min(19, base + 6))\n")
    }

    @Test("a step inherits no descriptor of the parent beyond stdin, stdout and stderr, even one without O_CLOEXEC")
    func noInheritedDescriptors() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("mlc-fd-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        // A file held open for writing (as a test writing a script, or a database) without O_CLOEXEC.
        let leaked = open(directory.appendingPathComponent("held").path, O_WRONLY | O_CREAT, 0o600)
        #expect(leaked > 2)
        defer { close(leaked) }
        let output = try await ChildProcess.run(
            executable: URL(fileURLWithPath: "/bin/sh"),
            arguments: ["-c", "for fd in /proc/$$/fd/*; do echo ${fd##*/}; done"], environment: [:], stdin: Data(),
            stderr: .discard, timeout: .seconds(10))
        let descriptors = String(decoding: output.stdout, as: UTF8.self).split(separator: "\n").compactMap { Int($0) }
        #expect(!descriptors.contains(Int(leaked)), "inherited: \(descriptors)")
        #expect(Set(descriptors).isSuperset(of: [0, 1, 2]))
    }

    @Test("exit code, signal and result map to done, refused, failed for good or temporary")
    func outcomes() {
        let ok = StepResult.ok()
        #expect(StepOutcome(signaled: false, exitCode: 0, result: ok) == .done(ok))
        #expect(StepOutcome(signaled: false, exitCode: 0, result: nil) == .temporary)
        #expect(StepOutcome(signaled: true, exitCode: 137, result: nil) == .temporary)
        #expect(StepOutcome(signaled: true, exitCode: 0, result: ok) == .temporary)
        // A malformed event: refused with or without a result.
        let bad = Self.failure("event.invalid", retryable: false)
        #expect(StepOutcome(signaled: false, exitCode: 65, result: bad) == .refused(bad))
        #expect(StepOutcome(signaled: false, exitCode: 65, result: nil) == .refused(nil))
        // Configuration: what waiting can heal is retried, the rest fails for good.
        let config = Self.failure("config.invalid", retryable: false)
        #expect(StepOutcome(signaled: false, exitCode: 78, result: config) == .failed(config))
        for code in ["auth.rejected", "auth.failed", "state.unavailable"] {
            let healing = Self.failure(code, retryable: false)
            #expect(StepOutcome(signaled: false, exitCode: 78, result: healing) == .temporary, "\(code)")
        }
        #expect(StepOutcome(signaled: false, exitCode: 78, result: nil) == .temporary)
        // An upstream refusal fails for good; a temporary failure or an unavailable upstream is retried.
        let refusal = Self.failure("erp.rejected", retryable: false)
        #expect(StepOutcome(signaled: false, exitCode: 69, result: refusal) == .failed(refusal))
        let temporary = Self.failure("http.unavailable", retryable: true)
        #expect(StepOutcome(signaled: false, exitCode: 75, result: temporary) == .temporary)
        #expect(StepOutcome(signaled: false, exitCode: 69, result: temporary) == .temporary)
        #expect(StepOutcome(signaled: false, exitCode: 70, result: nil) == .temporary)
        #expect(StepOutcome.mayHeal(nil))
        #expect(!StepOutcome.mayHeal("connection.unknown"))
    }

    @Test("the event reaches the step on stdin and its result is read from stdout")
    func runsTheStep() async throws {
        let steps = try FakeSteps()
        defer { steps.remove() }
        let result = StepResult(
            status: .retry, retryAt: Date(timeIntervalSince1970: 2_000_000_000),
            error: .init(code: "http.unavailable", message: "later", retryable: true))
        try steps.step("transform-invoice", exit: 75, result: result)
        let sent = event(EventType.invoiceCaptured, recordid: "r-1")
        let invocation = try await StepInvocation.run(
            try JSONCoding.encode(sent), executable: steps.directory.appendingPathComponent("transform-invoice"),
            environment: ["PATH": "/usr/bin:/bin"], stderr: .discard, timeout: .seconds(10))
        #expect(try steps.inputs("transform-invoice") == [sent])
        #expect(invocation.output.exitCode == 75)
        #expect(!invocation.output.signaled)
        #expect(invocation.result == result)
        #expect(invocation.outcome == .temporary)
    }

    @Test("a step past its timeout is killed: signaled, no result, retried")
    func timeout() async throws {
        let steps = try FakeSteps()
        defer { steps.remove() }
        try steps.step("slow", result: .ok(), sleepSeconds: 30)
        let started = ContinuousClock.now
        let invocation = try await StepInvocation.run(
            Data("{}".utf8), executable: steps.directory.appendingPathComponent("slow"),
            environment: ["PATH": "/usr/bin:/bin"], stderr: .discard, timeout: .milliseconds(300))
        #expect(ContinuousClock.now - started < .seconds(10))
        #expect(invocation.output.signaled)
        #expect(invocation.result == nil)
        #expect(invocation.outcome == .temporary)
    }

    @Test("a step that cannot be started is an error, not an outcome")
    func missingExecutable() async throws {
        let steps = try FakeSteps()
        defer { steps.remove() }
        await #expect(throws: (any Error).self) {
            _ = try await StepInvocation.run(
                Data("{}".utf8), executable: steps.directory.appendingPathComponent("absent"), environment: [:],
                stderr: .discard, timeout: .seconds(5))
        }
    }
}
