import ConnectorCore
import ConnectorRuntime
import Foundation
import Logging

/// Chains the step executables: keeps every pending event in the store's work queue, runs due items (each in its
/// own process, with per-function concurrency limits), routes the events each step emits to the functions that
/// consume them, retries with backoff, and dead-letters what keeps failing. Nothing is removed from the queue
/// before the step's result and emitted events are stored, so killing the runner loses nothing.
package actor Runner {
    /// Why the drain loop woke up.
    enum Wake: Sendable { case stepEnded, tick, graceOver }

    package struct Options: Sendable {
        package var binDirectory: URL
        package var environment: [String: String]
        package var concurrency: Int = 6
        package var logPath: String?
        package var maxAttempts: Int = 5
        /// Attempts per connection (from each connection's `flow.maxAttempts`); `maxAttempts` otherwise.
        package var maxAttemptsByConnection: [String: Int] = [:]
        package var baseBackoff: Duration = .seconds(2)
        package var maxBackoff: Duration = .seconds(300)
        /// The queue this runner works: the shared one, or an operator command's own (so a replay runs only what
        /// it names and what that causes).
        package var queueName: String = "runner"
        /// After a stop is asked for, how long steps in flight may take before they are abandoned (killed; their
        /// items stay queued and run again on the next start).
        package var stopGrace: Duration = .seconds(5)
        /// Longest an item may wait on another delivery or a dependency (`dedup.in_flight`) without spending an
        /// attempt; after that each further wait spends one, so every wait ends in a result or a dead letter.
        package var maxWait: Duration = .seconds(900)
        /// Instances of a step at once (`--workers step=N`), instead of its manifest's `concurrency`.
        package var workers: [String: Int] = [:]
        /// How long a claim keeps an item from other consumers; nil: the step's timeout plus 30 s, so a claim
        /// outlives its step process and runs out only when this runner died.
        package var visibility: Duration?
        /// This runner's name in the queue. Only one runner works a store at a time (`RunnerLock`), so the claims
        /// a previous one left (it was killed) are made claimable again when this one starts.
        package var consumer: String = "runner"
        /// Where step metrics go: Prometheus (`run --metrics`) or the store (`trigger`), when recorded.
        package var metrics: (any StepMetricsRecorder)?
        /// How long the queue loop may go without looking at a step's lane it found empty. In between it claims only
        /// from the lanes that may have work: those it has not found empty, those this runner put an item into (an
        /// emitted event, a retry once it is due), those `nextDue` said are due. Other processes (`trigger` jobs,
        /// other runners' workers) enqueue too, so every lane is still looked at this often (the run loop's idle
        /// poll: each `drain` starts with a look at every lane).
        package var rescan: Duration = .milliseconds(500)
        /// Starts each step at its ``FunctionCatalog/niceness(of:)``: under CPU contention the steps nearest the
        /// end of a flow run first. `run --equal-priority` turns it off.
        package var downstreamFirst = true

        package init(
            binDirectory: URL, environment: [String: String], concurrency: Int = 6, logPath: String? = nil,
            maxAttempts: Int = 5, maxAttemptsByConnection: [String: Int] = [:], baseBackoff: Duration = .seconds(2),
            maxBackoff: Duration = .seconds(300), queueName: String = "runner", stopGrace: Duration = .seconds(5),
            maxWait: Duration = .seconds(900), workers: [String: Int] = [:], visibility: Duration? = nil,
            consumer: String = "runner", metrics: (any StepMetricsRecorder)? = nil,
            rescan: Duration = .milliseconds(500),
            downstreamFirst: Bool = true
        ) {
            self.downstreamFirst = downstreamFirst
            self.binDirectory = binDirectory
            self.environment = environment
            self.concurrency = concurrency
            self.logPath = logPath
            self.maxAttempts = maxAttempts
            self.maxAttemptsByConnection = maxAttemptsByConnection
            self.baseBackoff = baseBackoff
            self.maxBackoff = maxBackoff
            self.queueName = queueName
            self.stopGrace = stopGrace
            self.maxWait = maxWait
            self.workers = workers
            self.visibility = visibility
            self.consumer = consumer
            self.metrics = metrics
            self.rescan = rescan
        }
    }

    package struct Stats: Sendable, Codable {
        package var invocations = 0
        package var byFunction: [String: Int] = [:]
        package var byStatus: [String: Int] = [:]
        package var byFunctionStatus: [String: Int] = [:]
        package var deadLettered = 0
        package var retried = 0
        package var stepMillis: [String: [Int]] = [:]
    }

    package nonisolated let store: any StateStore
    package nonisolated let queue: WorkQueue
    package nonisolated let options: Options
    package nonisolated let logger: Logger
    /// Set by SIGINT / SIGTERM (or a lost runner lock): stop starting steps, finish or abandon those in flight.
    package nonisolated let stop: ManagedFlag
    /// Receives lines meant for the person at the terminal (configuration failures, said once each).
    package nonisolated let report: @Sendable (String) -> Void
    package private(set) var stats = Stats()
    package private(set) var summary = RunSummary()
    /// Running items by step, then by connection (`""`: an event that names none): what a fair claim balances, and
    /// summed, how many of a step run.
    private var runningByConnection: [String: [String: Int]] = [:]
    /// The connections whose items this runner has run.
    private var connectionsSeen: Set<String> = []
    /// Whether the store holds more than one connection (looked up as a drain starts).
    private var severalConnections = false
    /// What the queue loop knows of each step's lane (no entry: nothing, so it may have work).
    private var lanes: [String: Lane] = [:]
    private var reported = Set<String>()
    private var prepared = false

    /// A step's lane as the queue loop last saw it.
    struct Lane {
        /// The last look found nothing claimable (a claim got fewer items than it asked for, or `nextDue` was asked).
        var quiet = false
        /// When that look started.
        var looked = Date.distantPast
        /// When items known to be in the lane since then become claimable: items this runner put there (at the
        /// latest when the enqueue returned, so a look that started before it cannot have seen them) and the
        /// earliest one `nextDue` reported.
        var dues: [Date] = []
    }

    package init(
        store: any StateStore, options: Options, logger: Logger, stop: ManagedFlag = ManagedFlag(),
        report: @escaping @Sendable (String) -> Void = { StandardError.write(Data(($0 + "\n").utf8)) }
    ) {
        self.store = store
        self.queue = WorkQueue(store: store, name: options.queueName)
        self.options = options
        self.logger = logger
        self.stop = stop
        self.report = report
    }

    /// Says a configuration failure once per connection and code, in words, where a person sees it.
    package func reportConfiguration(connection: String?, code: String, message: String) {
        let connectionId = connection ?? "_runner"
        summary.update(connectionId) { summary in
            if summary.configurationErrors[code] == nil { summary.configurationErrors[code] = message }
        }
        guard reported.insert("\(connectionId)|\(code)").inserted else { return }
        report(
            "local-runner: connection \(connectionId): configuration error \(code): \(SecretRedactor.scrub(message))")
    }

    package func noteInterrupted(_ signal: String) {
        summary.interrupted = signal
    }

    package func finalSummary() async -> RunSummary {
        var result = summary
        result.pending = (try? await queue.count()) ?? 0
        return result
    }

    /// Puts an event on the queue for every function that consumes its type.
    package func submit(_ event: CloudEvent, notBefore: Date = Date()) async throws {
        try await submit([event], notBefore: notBefore)
    }

    /// Puts events on the queue for every function that consumes their types, in one batch.
    package func submit(_ events: [CloudEvent], notBefore: Date = Date()) async throws {
        let items = workItems(events, notBefore: notBefore)
        try await queue.enqueue(contentsOf: items)
        for item in items { enqueued(step: item.function, due: notBefore) }
    }

    /// One item per event and function that consumes its type.
    private func workItems(_ events: [CloudEvent], notBefore: Date) -> [WorkItem] {
        var items: [WorkItem] = []
        for event in events {
            let consumers = FunctionCatalog.consumers(of: event.type)
            if consumers.isEmpty {
                logger.debug("no function consumes this event type", metadata: ["type": "\(event.type)"])
            }
            for function in consumers {
                items.append(WorkItem(function: function.name, event: event, notBefore: notBefore, enqueuedAt: Date()))
            }
        }
        return items
    }

    /// This runner put an item into `step`'s lane, claimable from `due`: the loop claims from the lane once it is.
    private func enqueued(step: String, due: Date) {
        lanes[step, default: Lane()].dues.append(max(due, Date()))
    }

    /// A look at `step`'s lane that started at `start` found it `quiet` or not, and `due` the earliest item `nextDue`
    /// reported. Items put there before `start` were seen by the look; those put later are kept.
    private func looked(at step: String, since start: Date, quiet: Bool, due: Date? = nil) {
        var lane = lanes[step] ?? Lane()
        lane.quiet = quiet
        lane.looked = start
        lane.dues.removeAll { $0 <= start }
        if let due { lane.dues.append(due) }
        lanes[step] = lane
    }

    /// Whether the loop claims from `step`'s lane now: it may have work, something put there is due, or it was not
    /// looked at for `rescan`.
    private func mayHaveWork(_ step: String, now: Date) -> Bool {
        guard let lane = lanes[step], lane.quiet else { return true }
        return now.timeIntervalSince(lane.looked) >= options.rescan.timeInterval || lane.dues.contains { $0 <= now }
    }

    /// How many instances of `function` may run at once.
    package func limit(_ function: FunctionSpec) -> Int {
        options.workers[function.name] ?? function.concurrency
    }

    package func visibility(_ function: FunctionSpec) -> Duration {
        options.visibility ?? .seconds(function.timeoutSeconds + 30)
    }

    /// Once per runner: items an older version left in the single-lane layout move to their steps' lanes, and the
    /// claims a killed predecessor left are made claimable again (its steps ran to no result).
    private func prepare() async throws {
        guard !prepared else { return }
        prepared = true
        try await queue.adoptLegacyItems { location, raw, reason in
            try await self.quarantine(location: location, raw: raw, reason: reason)
        }
        let recovered = try await queue.recover(consumer: options.consumer)
        if recovered > 0 {
            logger.info("claims of a stopped runner made claimable again", metadata: ["count": "\(recovered)"])
        }
    }

    /// Runs queue items until nothing is due and nothing is running. With `waitForDelayed`, also waits for items
    /// scheduled later (retries) up to `deadline`. A stop request ends it: no new step starts, the steps in flight
    /// get `stopGrace` to finish and are then abandoned (their items stay queued, so nothing is lost).
    ///
    /// Items are claimed per step (up to the step's worker count) from the shared queue, so other runners' workers
    /// and `local-runner trigger` processes can work the same queue without running an item twice at once.
    package func drain(waitForDelayed: Bool, deadline: Date = .distantFuture) async throws {
        try checkExecutables(FunctionCatalog.all.map(\.name))
        try await prepare()
        try await lookUpConnections()
        let totalLimit = max(options.concurrency, options.workers.values.reduce(0, +))
        // Every lane is looked at first.
        lanes = [:]
        try await withThrowingTaskGroup(of: Wake.self) { group in
            var inFlight = 0
            var tickPending = false
            var lookAtAll = false
            while true {
                if stop.value {
                    try await abandon(group: &group, inFlight: inFlight)
                    return
                }
                var started = 0
                var skipped = false
                let all = lookAtAll
                lookAtAll = false
                for function in FunctionCatalog.all where inFlight < totalLimit {
                    let running = runningByConnection[function.name]?.values.reduce(0, +) ?? 0
                    let free = min(limit(function) - running, totalLimit - inFlight)
                    guard free > 0 else { continue }
                    let start = Date()
                    guard all || mayHaveWork(function.name, now: start) else {
                        skipped = true
                        continue
                    }
                    let claims = try await claim(function, limit: free)
                    looked(at: function.name, since: start, quiet: claims.count < free)
                    for claim in claims {
                        markRunning(claim.item)
                        inFlight += 1
                        started += 1
                        group.addTask {
                            try await self.process(claim)
                            return .stepEnded
                        }
                    }
                }
                if inFlight > 0, started == 0 || inFlight >= totalLimit {
                    // Wake when a step ends (its slot is refilled at once), or after 250 ms at the latest to notice
                    // a stop request while long steps run. One timer at a time.
                    if !tickPending {
                        tickPending = true
                        group.addTask {
                            try? await Task.sleep(for: .milliseconds(250))
                            return .tick
                        }
                    }
                    switch try await group.next() {
                    case .stepEnded: inFlight -= 1
                    case .tick: tickPending = false
                    case .graceOver, nil: break
                    }
                    continue
                }
                if started > 0 { continue }
                // Nothing running and nothing claimable now.
                let now = Date()
                guard waitForDelayed else {
                    // Returns only after a look at every lane found nothing claimable.
                    if skipped {
                        lookAtAll = true
                        continue
                    }
                    return
                }
                // When each lane next has something to look at (this looks at every lane).
                var earliest: Date?
                for step in FunctionCatalog.all.map(\.name) {
                    let start = Date()
                    let due = try await queue.nextDue(step: step)
                    looked(at: step, since: start, quiet: true, due: due)
                    if let due, earliest.map({ due < $0 }) ?? true { earliest = due }
                }
                guard let next = earliest, now < deadline else { return }
                let wait = min(max(next.timeIntervalSince(now), 0.05), max(deadline.timeIntervalSince(now), 0))
                // In slices, so a stop request is seen within a quarter of a second.
                let until = Date().addingTimeInterval(wait)
                while Date() < until, !stop.value {
                    try await Task.sleep(for: .milliseconds(Int64(min(250, until.timeIntervalSinceNow * 1000) + 1)))
                }
                if Date() >= deadline { return }
            }
        }
    }

    /// Waits up to `stopGrace` for the steps in flight, then kills the rest. Their queue items stay: a killed step
    /// is like a crashed one, which every step survives.
    private func abandon(group: inout ThrowingTaskGroup<Wake, any Error>, inFlight: Int) async throws {
        var remaining = inFlight
        guard remaining > 0 else { return }
        logger.info("stopping: waiting for steps in flight", metadata: ["inFlight": "\(remaining)"])
        let grace = options.stopGrace
        group.addTask {
            try? await Task.sleep(for: grace)
            return .graceOver
        }
        while remaining > 0, let wake = try await group.next() {
            if wake == .graceOver { break }
            if wake == .stepEnded { remaining -= 1 }
        }
        if remaining > 0 {
            logger.warning("abandoning steps in flight; their items stay queued", metadata: ["count": "\(remaining)"])
        }
        // Kills what still runs (ChildProcess kills its child on cancellation) and ends the timers.
        group.cancelAll()
    }

    /// Keeps an unreadable queue entry whole in the runner's dead-letter list, so one bad entry can't stop the run.
    private func quarantine(location: String, raw data: Data, reason: String) async throws {
        let keys = try StateKeys(connection: "_runner")
        let raw = String(data: data, encoding: .utf8) ?? data.base64EncodedString()
        let event = CloudEvent(
            source: "urn:mlconnector:runner",
            type: "com.mlconnector.queue.unreadable",
            data: .object([
                "queueKey": .string(location),
                "raw": .string(raw),
                "encoding": .string(String(data: data, encoding: .utf8) == nil ? "base64" : "utf8"),
            ]),
            connection: nil
        )
        let id = "unreadable-" + (location.split(separator: "/").last.map(String.init) ?? UUID().uuidString)
        try await DeadLetterList(store: store, keys: keys).add(
            DeadLetter(
                id: id, recordId: nil, step: "runner", event: event,
                error: .init(
                    code: "runner.unreadable_entry",
                    message: "queue entry \(location) is not a work item: \(reason)", retryable: false),
                exitCode: 65, attempts: 0, at: Date()))
        summary.poisonEntries += 1
        logger.error(
            "unreadable queue entry moved to the dead-letter list",
            metadata: ["key": "\(location)", "deadLetter": "\(id)", "reason": "\(reason)"])
    }

    /// Claims up to `limit` items of `function`'s lane, fair across connections when there are several (each next
    /// item from the connection with the fewest running, so one connection's backlog, held back by its ERP's
    /// request budget, does not keep every worker of a step from another connection's items); oldest first when the
    /// store holds one connection and this runner met no second one, as there is nothing to balance then and the
    /// oldest-first claim looks at less.
    private func claim(_ function: FunctionSpec, limit: Int) async throws -> [QueueClaim] {
        let quarantine: QueueQuarantine = { location, raw, reason in
            try await self.quarantine(location: location, raw: raw, reason: reason)
        }
        guard severalConnections || connectionsSeen.count > 1 else {
            return try await queue.claim(
                step: function.name, consumer: options.consumer, limit: limit, visibility: visibility(function),
                quarantine: quarantine)
        }
        return try await queue.claim(
            step: function.name, consumer: options.consumer, limit: limit, visibility: visibility(function),
            inFlight: runningByConnection[function.name] ?? [:], quarantine: quarantine)
    }

    /// Whether the store holds more than one connection (two keys read, whatever the number).
    private func lookUpConnections() async throws {
        severalConnections = try await store.scan(prefix: StateKeys.connectionsPrefix, after: nil, limit: 2).count > 1
    }

    private func markRunning(_ item: WorkItem) {
        let connection = item.event.connection ?? ""
        runningByConnection[item.function, default: [:]][connection, default: 0] += 1
        if !connection.isEmpty { connectionsSeen.insert(connection) }
    }

    private func finished(_ item: WorkItem) {
        let connection = item.event.connection ?? ""
        runningByConnection[item.function, default: [:]][connection, default: 1] -= 1
        if runningByConnection[item.function]?[connection] == 0 {
            runningByConnection[item.function]?[connection] = nil
        }
    }

    /// Runs one claimed item and settles it: route emitted events, then ack; or release for a retry; or dead-letter.
    /// Configuration failures (78) are retried like temporary ones: a rotated secret can take minutes to reach
    /// every Entra region, and an operator can fix a connection while its events wait; after the last attempt
    /// they are dead-lettered, kept for replay.
    /// Returns the step's exit code (nil when it was abandoned by a stop).
    @discardableResult
    package func process(_ claim: QueueClaim) async throws -> Int32? {
        let item = claim.item
        defer { finished(item) }
        guard let spec = FunctionCatalog.named(item.function) else {
            try await deadLetter(
                claim,
                error: .init(
                    code: "runner.unknown_function", message: "no function \(item.function)", retryable: false),
                exitCode: 70)
            return 70
        }
        let input = try JSONCoding.encode(item.event)
        let invocation: StepInvocation
        do {
            invocation = try await StepInvocation.run(
                input,
                executable: options.binDirectory.appendingPathComponent(item.function),
                environment: options.environment,
                stderr: .file(options.logPath),
                timeout: .seconds(spec.timeoutSeconds),
                niceness: options.downstreamFirst ? FunctionCatalog.niceness(of: item.function) : 0
            )
        } catch is CancellationError {
            // Abandoned by a stop: the item stays claimed by this runner; the next start makes it claimable again
            // (and any other consumer gets it once the claim runs out).
            return nil
        } catch {
            logger.error(
                "cannot start function",
                metadata: ["function": "\(item.function)", "error": "\(ConnectorError.wrap(error).message)"])
            try await retry(claim, result: nil, exitCode: 70, signaled: false)
            return 70
        }
        let (output, result) = (invocation.output, invocation.result)
        stats.invocations += 1
        stats.byFunction[item.function, default: 0] += 1
        stats.stepMillis[item.function, default: []].append(output.durationMs)
        stats.byStatus[result?.status.rawValue ?? "crashed", default: 0] += 1
        stats.byFunctionStatus["\(item.function):\(result?.status.rawValue ?? "crashed")", default: 0] += 1
        account(item, result: result)
        options.metrics?.stepFinished(
            step: item.function, result: result, duration: .milliseconds(output.durationMs))
        if output.exitCode == 78, !output.signaled, let error = result?.error {
            reportConfiguration(connection: item.event.connection, code: error.code, message: error.message)
        }

        switch invocation.outcome {
        case .done(let result):
            // All of a step's events and the ack at once where the store can (one commit on SQLite); elsewhere the
            // events first, then the ack: a crash in between runs the step again, which its dedup ledger makes
            // harmless; nothing emitted is lost.
            try await complete(claim, emitting: result.events)
        case .refused:
            // A malformed event never gets better: dead-lettered at once, kept whole.
            try await deadLetter(claim, error: result?.error, exitCode: output.exitCode)
        case .failed(let result):
            // A configuration error that waiting can't fix (wrong master key, unknown connection, refused URL; said
            // once on the terminal above), or the upstream refused the request itself (a 400 that is not a
            // throttle, a malformed answer): sending it again changes nothing. Kept whole for replay after the fix.
            try await deadLetter(claim, error: result.error, exitCode: output.exitCode)
        case .temporary:
            try await retry(claim, result: result, exitCode: output.exitCode, signaled: output.signaled)
        }
        return output.signaled ? 70 : output.exitCode
    }

    /// Queues a finished step's events and acks its claim, in one round trip where the store can (one commit on
    /// SQLite).
    private func complete(_ claim: QueueClaim, emitting events: [CloudEvent]) async throws {
        let now = Date()
        let (items, acked) = try await queue.complete(claim, enqueueing: workItems(events, notBefore: now))
        for item in items { enqueued(step: item.function, due: now) }
        if !acked { superseded(claim) }
    }

    /// Logs when an ack or release found its delivery superseded: this runner's claim ran out while the step ran,
    /// and another consumer holds the item now (it runs once more; the dedup ledger makes that harmless).
    private func acknowledge(_ claim: QueueClaim) async throws {
        if try await !queue.ack(claim) { superseded(claim) }
    }

    private func superseded(_ claim: QueueClaim) {
        logger.warning(
            "claim ran out before the step ended; another consumer has the item",
            metadata: ["function": "\(claim.step)", "item": "\(claim.item.id)"])
    }

    /// Counts a step's result into the run summary.
    private func account(_ item: WorkItem, result: StepResult?) {
        summary.update(item.event.connection) { summary in
            summary.invocations += 1
            guard let result else { return }
            summary.httpRequests += result.metrics.httpRequests
            summary.captured += result.events.filter { $0.type == EventType.invoiceCaptured }.count
            switch (item.function, result.status) {
            case ("write-erp-invoice", .ok): summary.drafted += 1
            case ("write-erp-invoice", .duplicate): summary.duplicates += 1
            default: break
            }
            if result.status == .needsReview {
                for reason in result.review?.reasons ?? [] { summary.inReview[reason.code, default: 0] += 1 }
            }
            if item.function == "poll-jaggaer-invoices", let text = result.detail?["reconciled"],
                let missed = text.split(separator: " ").first.flatMap({ Int($0) })
            {
                summary.reconciled = (summary.reconciled ?? 0) + missed
            }
            if item.function == "sync-purchase-orders", let written = result.detail?["written"].flatMap({ Int($0) }) {
                summary.purchaseOrdersWritten = (summary.purchaseOrdersWritten ?? 0) + written
            }
        }
    }

    private func retry(_ claim: QueueClaim, result: StepResult?, exitCode: Int32, signaled: Bool) async throws {
        let item = claim.item
        options.metrics?.retried(step: item.function)
        let waiting = [ConnectorError.Code.inFlight.rawValue, ConnectorError.Code.httpRateLimited.rawValue]
        if let code = result?.error?.code, waiting.contains(code) {
            // Another delivery of the same record is at work, a create is settling, a dependency (master data) is
            // not there yet, or the ERP's request budget is used up: wait without spending an attempt, but only up to `maxWait` in all; after that
            // every further wait spends one, so the wait ends in a result or a dead letter with this reason.
            let since = item.waitingSince ?? Date()
            if Date().timeIntervalSince(since) < options.maxWait.timeInterval {
                let notBefore = result?.retryAt ?? Date().addingTimeInterval(2)
                let due = max(notBefore, Date().addingTimeInterval(0.2))
                try await queue.release(claim, event: item.event, notBefore: due, waitingSince: since)
                enqueued(step: item.function, due: due)
                return
            }
        }
        let attempt = item.event.attempt
        let maxAttempts = item.event.connection.flatMap { options.maxAttemptsByConnection[$0] } ?? options.maxAttempts
        guard attempt < maxAttempts else {
            let error =
                result?.error
                ?? .init(
                    code: signaled ? "runner.crashed" : "runner.exit_\(exitCode)",
                    message: "step ended without a result (exit \(exitCode))", retryable: true)
            try await deadLetter(claim, error: error, exitCode: exitCode)
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
        summary.update(item.event.connection) { $0.retries += 1 }
        logger.info(
            "retry scheduled",
            metadata: [
                "function": "\(item.function)", "attempt": "\(event.attempt)", "exit": "\(exitCode)",
                "code": "\(result?.error?.code ?? "-")", "error": "\(result?.error?.message.prefix(300) ?? "-")",
                "retryAt": "\(Timestamp.format(notBefore))",
            ]
        )
        try await queue.release(claim, event: event, notBefore: notBefore, waitingSince: item.waitingSince)
        enqueued(step: item.function, due: notBefore)
    }

    private func deadLetter(_ claim: QueueClaim, error: StepResult.ErrorBody?, exitCode: Int32) async throws {
        let item = claim.item
        options.metrics?.deadLettered(step: item.function)
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
        summary.update(item.event.connection) {
            $0.deadLettered[error?.code ?? "runner.exit_\(exitCode)", default: 0] += 1
        }
        logger.warning(
            "dead-lettered",
            metadata: [
                "function": "\(item.function)", "event": "\(item.event.id)", "exit": "\(exitCode)",
                "code": "\(error?.code ?? "-")", "error": "\(error?.message.prefix(300) ?? "-")",
            ])
        try await acknowledge(claim)
    }

    /// The pull-mode shape (`local-runner trigger`): claims items of one step one at a time, up to `max`, and runs
    /// and settles each exactly as `drain` does. Returns each item's id and its step's exit code.
    package func trigger(step function: FunctionSpec, max: Int) async throws -> [(item: String, exitCode: Int32?)] {
        try checkExecutables([function.name])
        try await lookUpConnections()
        var outcomes: [(item: String, exitCode: Int32?)] = []
        while outcomes.count < max, !stop.value {
            // Fair across connections as the runner's claims are: with nothing of its own in flight, a trigger
            // balances against the live claims of the other consumers (other triggers, a runner) it meets.
            guard let claim = try await claim(function, limit: 1).first else { break }
            markRunning(claim.item)
            outcomes.append((claim.item.id, try await process(claim)))
        }
        return outcomes
    }

    /// Refuses to claim anything (a configuration error, exit 78) when a step this runner would start has no
    /// executable in `binDirectory`: a deployment that lacks a step would otherwise fail each of its items as a
    /// crash, attempt after attempt, into the dead-letter list, and hold every item waiting on it.
    package func checkExecutables(_ steps: [String]) throws {
        let missing = Self.missingExecutables(steps, in: options.binDirectory)
        guard missing.isEmpty else {
            throw ConnectorError(
                .configInvalid,
                "no executable for \(missing.joined(separator: ", ")) in \(options.binDirectory.path) (MLC_FUNCTIONS_BIN "
                    + "names the directory of the step executables; `swift build` builds them)")
        }
    }

    /// The steps of `steps` with no executable file of their name in `directory`.
    package static func missingExecutables(_ steps: [String], in directory: URL) -> [String] {
        steps.filter { !FileManager.default.isExecutableFile(atPath: directory.appendingPathComponent($0).path) }
    }

    package func pending() async throws -> Int {
        try await queue.count()
    }

    /// Removes expired entries from the store (in slices, so a large backlog never holds the store for long) and
    /// counts them into the summary. A failure is logged, never fatal: expired entries are invisible anyway.
    @discardableResult
    package func purgeExpired() async -> Int {
        var total = 0
        do {
            while true {
                let removed = try await store.purgeExpired(limit: 5_000)
                total += removed
                if removed < 5_000 { break }
                await Task.yield()
            }
        } catch {
            logger.warning(
                "retention purge failed", metadata: ["error": "\(ConnectorError.wrap(error).message)"])
        }
        summary.purged = (summary.purged ?? 0) + total
        if total > 0 { logger.info("retention purge", metadata: ["purged": "\(total)"]) }
        return total
    }

    /// Items waiting (claimed or not), by step: one count per step's lane, native on Redis.
    package func queueDepths() async throws -> [String: Int] {
        var depths: [String: Int] = [:]
        for step in FunctionCatalog.all.map(\.name) { depths[step] = try await queue.count(step: step) }
        return depths
    }
}
