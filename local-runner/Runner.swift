import ConnectorCore
import ConnectorRuntime
import Foundation
import Logging

/// Chains the step executables: keeps every pending event in the store's work queue, runs due items (each in its
/// own process, with per-function concurrency limits), routes the events each step emits to the functions that
/// consume them, retries with backoff, and dead-letters what keeps failing. Nothing is removed from the queue
/// before the step's result and emitted events are stored, so killing the runner loses nothing.
actor Runner {
    struct Options: Sendable {
        var binDirectory: URL
        var environment: [String: String]
        var concurrency: Int = 6
        var logPath: String?
        var maxAttempts: Int = 5
        /// Attempts per connection (from each connection's `flow.maxAttempts`); `maxAttempts` otherwise.
        var maxAttemptsByConnection: [String: Int] = [:]
        var baseBackoff: Duration = .seconds(2)
        var maxBackoff: Duration = .seconds(300)
    }

    struct Stats: Sendable, Codable {
        var invocations = 0
        var byFunction: [String: Int] = [:]
        var byStatus: [String: Int] = [:]
        var byFunctionStatus: [String: Int] = [:]
        var deadLettered = 0
        var retried = 0
        var stepMillis: [String: [Int]] = [:]
    }

    let store: any StateStore
    let queue: WorkQueue
    let options: Options
    let logger: Logger
    private(set) var stats = Stats()
    private var running: [String: Int] = [:]

    init(store: any StateStore, options: Options, logger: Logger) {
        self.store = store
        self.queue = WorkQueue(store: store)
        self.options = options
        self.logger = logger
    }

    /// Puts an event on the queue for every function that consumes its type.
    func submit(_ event: CloudEvent, notBefore: Date = Date()) async throws {
        let consumers = FunctionCatalog.consumers(of: event.type)
        if consumers.isEmpty {
            logger.debug("no function consumes this event type", metadata: ["type": "\(event.type)"])
        }
        for function in consumers {
            try await queue.enqueue(
                WorkItem(function: function.name, event: event, notBefore: notBefore, enqueuedAt: Date()))
        }
    }

    /// Runs queue items until nothing is due and nothing is running. With `waitForDelayed`, also waits for items
    /// scheduled later (retries) up to `deadline`.
    func drain(waitForDelayed: Bool, deadline: Date = .distantFuture) async throws {
        try await withThrowingTaskGroup(of: Void.self) { group in
            var inFlight = 0
            var claimed = Set<String>()
            while true {
                let now = Date()
                let due = try await queue.due(now: now, limit: options.concurrency * 4)
                var started = 0
                for item in due where !claimed.contains(item.id) && inFlight < options.concurrency {
                    let limit = FunctionCatalog.named(item.function)?.concurrency ?? 1
                    guard running[item.function, default: 0] < limit else { continue }
                    claimed.insert(item.id)
                    running[item.function, default: 0] += 1
                    inFlight += 1
                    started += 1
                    group.addTask { try await self.process(item) }
                }
                if inFlight > 0, started == 0 || inFlight >= options.concurrency {
                    try await group.next()
                    inFlight -= 1
                    continue
                }
                if started > 0 { continue }
                if inFlight == 0, !due.isEmpty, due.allSatisfy({ claimed.contains($0.id) }) {
                    // Finished items that are still queued: their removal failed. Run them again (the steps are
                    // idempotent) rather than wait forever.
                    logger.error(
                        "finished items are still queued; running them again", metadata: ["count": "\(due.count)"])
                    claimed.subtract(due.map(\.id))
                    continue
                }
                // Nothing running and nothing due now.
                guard waitForDelayed, let next = try await queue.nextDue(), now < deadline else { return }
                let wait = min(max(next.timeIntervalSince(now), 0.05), max(deadline.timeIntervalSince(now), 0))
                try await Task.sleep(for: .milliseconds(Int64(wait * 1000)))
                if Date() >= deadline { return }
            }
        }
    }

    private func finished(_ item: WorkItem) {
        running[item.function, default: 1] -= 1
    }

    /// Runs one item and settles it: route emitted events, then complete; or reschedule; or dead-letter.
    /// Configuration failures (78) are retried like temporary ones: a rotated secret can take minutes to reach
    /// every Entra region, and an operator can fix a connection while its events wait; after the last attempt
    /// they are dead-lettered, kept for replay.
    private func process(_ item: WorkItem) async throws {
        defer { finished(item) }
        guard let spec = FunctionCatalog.named(item.function) else {
            try await deadLetter(
                item,
                error: .init(
                    code: "runner.unknown_function", message: "no function \(item.function)", retryable: false),
                exitCode: 70)
            return
        }
        let input = try JSONCoding.encode(item.event)
        let output: ChildProcess.Output
        do {
            output = try await ChildProcess.run(
                executable: options.binDirectory.appendingPathComponent(item.function),
                environment: options.environment,
                stdin: input,
                stderrPath: options.logPath,
                timeout: .seconds(spec.timeoutSeconds)
            )
        } catch {
            logger.error(
                "cannot start function",
                metadata: ["function": "\(item.function)", "error": "\(ConnectorError.wrap(error).message)"])
            try await retry(item, result: nil, exitCode: 70, signaled: false)
            return
        }
        stats.invocations += 1
        stats.byFunction[item.function, default: 0] += 1
        stats.stepMillis[item.function, default: []].append(output.durationMs)
        let result = try? JSONCoding.decode(StepResult.self, from: output.stdout)
        stats.byStatus[result?.status.rawValue ?? "crashed", default: 0] += 1
        stats.byFunctionStatus["\(item.function):\(result?.status.rawValue ?? "crashed")", default: 0] += 1

        switch (output.signaled, output.exitCode, result) {
        case (false, 0, let result?):
            for event in result.events {
                try await submit(event, notBefore: Date())
            }
            try await queue.complete(item)
        case (false, 65, _):
            // A malformed event never gets better: dead-lettered at once, kept whole.
            try await deadLetter(item, error: result?.error, exitCode: output.exitCode)
        default:
            try await retry(item, result: result, exitCode: output.exitCode, signaled: output.signaled)
        }
    }

    private func retry(_ item: WorkItem, result: StepResult?, exitCode: Int32, signaled: Bool) async throws {
        if result?.error?.code == ConnectorError.Code.inFlight.rawValue {
            // Another delivery of the same record is at work (or a create is settling): wait for it without
            // spending an attempt; its lease bounds the wait.
            let notBefore = result?.retryAt ?? Date().addingTimeInterval(2)
            try await queue.reschedule(
                item, event: item.event, notBefore: max(notBefore, Date().addingTimeInterval(0.2)))
            return
        }
        let attempt = item.event.attempt
        let maxAttempts = item.event.connection.flatMap { options.maxAttemptsByConnection[$0] } ?? options.maxAttempts
        guard attempt < maxAttempts else {
            let error =
                result?.error
                ?? .init(
                    code: signaled ? "runner.crashed" : "runner.exit_\(exitCode)",
                    message: "step ended without a result (exit \(exitCode))", retryable: true)
            try await deadLetter(item, error: error, exitCode: exitCode)
            return
        }
        var event = item.event
        event.attempt = attempt + 1
        let exponent = Double(min(attempt - 1, 16))
        let backoff = min(options.maxBackoff.timeInterval, options.baseBackoff.timeInterval * pow(2, exponent))
        let jittered = backoff * Double.random(in: 0.5...1.0)
        var notBefore = Date().addingTimeInterval(jittered)
        if let retryAt = result?.retryAt, retryAt > notBefore { notBefore = retryAt }
        stats.retried += 1
        logger.info(
            "retry scheduled",
            metadata: [
                "function": "\(item.function)", "attempt": "\(event.attempt)", "exit": "\(exitCode)",
                "code": "\(result?.error?.code ?? "-")",
            ]
        )
        try await queue.reschedule(item, event: event, notBefore: notBefore)
    }

    private func deadLetter(_ item: WorkItem, error: StepResult.ErrorBody?, exitCode: Int32) async throws {
        let connectionId =
            item.event.connection.flatMap { (try? StateKeys(connection: $0)) != nil ? $0 : nil } ?? "_runner"
        let keys = try StateKeys(connection: connectionId)
        let letter = DeadLetter(
            id: "\(item.function)-\(item.event.id)",
            recordId: item.event.recordid,
            step: item.function,
            event: item.event,
            error: error,
            exitCode: exitCode,
            attempts: item.event.attempt,
            at: Date()
        )
        try await DeadLetterList(store: store, keys: keys).add(letter)
        if let recordId = item.event.recordid {
            try await AuditLog(store: store, keys: keys).setState(
                RecordStatus(
                    recordId: recordId, state: .failed, updatedAt: Date(), lastStep: item.function,
                    reasons: error.map { [ReviewReason($0.code, $0.message)] })
            )
        }
        stats.deadLettered += 1
        logger.warning(
            "dead-lettered",
            metadata: ["function": "\(item.function)", "event": "\(item.event.id)", "exit": "\(exitCode)"])
        try await queue.complete(item)
    }

    func pending() async throws -> Int {
        try await queue.count()
    }
}
