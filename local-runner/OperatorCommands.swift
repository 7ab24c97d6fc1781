import ArgumentParser
import ConnectorCore
import ConnectorRunner
import ConnectorRuntime
import ConnectorSecurity
import Foundation
import Logging

/// How an operator command's events were handled.
enum OperatorRun {
    /// Run here, in a queue of their own: only these events and what they cause ran.
    case ran(Runner.Stats, RunSummary)
    /// A runner is working this store: the events were queued for it.
    case queued(for: String)
}

/// Runs events through the steps from the command line. Only what is named runs: the events go to a queue of the
/// command's own (not the shared one, whose other items are the running runner's business), under the store's
/// runner lock. When a `run` holds the lock, the events are queued for it instead; when another operator command
/// holds it, the command is refused. Items still waiting when the command ends (retries scheduled later) move to
/// the shared queue, so nothing is lost.
func runNow(
    _ events: [CloudEvent], state: any StateStore, stateURL: String, concurrency: Int = 4,
    afterQueued: () async throws -> Void = {}
) async throws -> OperatorRun {
    let logger = runnerLogger()
    let lock: RunnerLock
    do {
        lock = try await RunnerLock.acquire(state, kind: .operatorCommand)
    } catch let held as RunnerLock.Held {
        guard held.kind == .runner else {
            throw ConnectorError(
                .configInvalid, "\(held.description) is working this store; try again when it has finished")
        }
        let shared = WorkQueue(store: state)
        for event in events {
            for function in FunctionCatalog.consumers(of: event.type) {
                try await shared.enqueue(
                    WorkItem(function: function.name, event: event, notBefore: Date(), enqueuedAt: Date()))
            }
        }
        try await afterQueued()
        return .queued(for: held.description)
    }
    let stop = StopSignal()
    lock.startRenewing(logger: logger) { stop.flag.set() }
    var environment = ProcessInfo.processInfo.environment
    environment["MLC_STATE"] = stateURL
    let queueName = "operator-\(UUID().uuidString.prefix(8).lowercased())"
    let runner = Runner(
        store: state,
        options: .init(
            binDirectory: functionsDirectory(), environment: environment, concurrency: concurrency,
            logPath: try stepLogPath(nil, stateURL: stateURL), queueName: queueName),
        logger: logger,
        stop: stop.flag
    )
    do {
        for event in events { try await runner.submit(event) }
        try await afterQueued()
        try await runner.drain(waitForDelayed: true, deadline: Date().addingTimeInterval(600))
    } catch {
        _ = try? await handOver(queueName: queueName, state: state)
        await lock.release()
        throw error
    }
    let moved = try await handOver(queueName: queueName, state: state)
    if stop.requested, let signal = stop.signalName { await runner.noteInterrupted(signal) }
    var summary = await runner.finalSummary()
    summary.pending = moved
    await lock.release()
    return .ran(await runner.stats, summary)
}

/// Moves what is left in an operator command's queue to the shared queue (written there before it is removed
/// here, so a crash in between duplicates an item, which the steps make harmless, and never loses one).
@discardableResult
func handOver(queueName: String, state: any StateStore) async throws -> Int {
    let own = WorkQueue(store: state, name: queueName)
    let shared = WorkQueue(store: state)
    // Items of steps abandoned by a stop are still claimed by this command's runner: nobody else works this queue.
    try await own.recover(consumer: "runner")
    var moved = 0
    for item in try await own.all() {
        var copy = item
        copy.queueKey = nil
        try await shared.enqueue(copy)
        try await own.remove(item)
        moved += 1
    }
    return moved
}

/// Prints how an operator run went; returns the summary's exit code (non-zero when something was dead-lettered).
func describe(_ run: OperatorRun, what: String) -> Int32 {
    switch run {
    case .queued(let holder):
        print("\(what): queued for \(holder), which runs it; follow it with `local-runner audit <record>`")
        return 0
    case .ran(let stats, let summary):
        print(
            "\(what): \(stats.byFunctionStatus.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", "))"
        )
        for line in summary.lines() { print(line) }
        return summary.exitCode
    }
}

/// A fresh delivery of a stored event: new id (so per-event memos do not answer for it), attempt 1, same record.
func redelivery(of event: CloudEvent, reason: String) -> CloudEvent {
    var copy = event
    copy.id = "\(event.id)/\(reason)-\(UUID().uuidString.prefix(8).lowercased())"
    copy.attempt = 1
    copy.time = Date()
    copy.causationid = event.id
    return copy
}

struct Review: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "The review queue: records that need a person (missing mapping, unmatched PO, ERP rejection).",
        subcommands: [List.self, Show.self, Resolve.self, Retry.self]
    )

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Lists open review items (all with --all).")
        @OptionGroup var store: StoreOptions
        @Option(help: "The connection (default: the only one).") var connection: String?
        @Flag(help: "Include resolved and retried items.") var all = false
        @Flag(help: "Print as JSON.") var json = false

        func run() async throws {
            await guarded {
                let state = try await store.open(.readOnly)
                let id = try await resolveConnection(connection, state: state)
                let items = try await ReviewQueue(store: state, keys: try StateKeys(connection: id)).list(
                    status: all ? nil : .open)
                try await state.close()
                if json {
                    try printJSON(items)
                    return
                }
                if items.isEmpty { print("nothing to review") }
                for item in items.sorted(by: { $0.createdAt < $1.createdAt }) {
                    let reasons = item.reasons.map { "\($0.code): \($0.message)" }.joined(separator: "; ")
                    print(
                        "\(item.recordId) [\(item.status.rawValue)] at \(item.step), \(Timestamp.format(item.createdAt))\n  \(reasons)"
                    )
                }
            }
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Shows one review item with the event that will be retried.")
        @OptionGroup var store: StoreOptions
        @Option(help: "The connection (default: the only one).") var connection: String?
        @Argument(help: "The record id.") var record: String

        func run() async throws {
            await guarded {
                let state = try await store.open(.readOnly)
                let id = try await resolveConnection(connection, state: state)
                let item = try await ReviewQueue(store: state, keys: try StateKeys(connection: id)).get(record)
                try await state.close()
                guard let item else {
                    throw ConnectorError(
                        .eventInvalid, kind: .badInput, "no review item for \(record.debugDescription)")
                }
                try printJSON(item)
            }
        }
    }

    struct Resolve: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Closes a review item without retrying it (handled by hand).")
        @OptionGroup var store: StoreOptions
        @Option(help: "The connection (default: the only one).") var connection: String?
        @Argument(help: "The record id.") var record: String
        @Option(help: "Why it is closed (kept in the audit trail).") var note: String

        func run() async throws {
            await guarded {
                let state = try await store.open()
                let id = try await resolveConnection(connection, state: state)
                let keys = try StateKeys(connection: id)
                guard try await ReviewQueue(store: state, keys: keys).setStatus(record, .resolved, note: note) else {
                    throw ConnectorError(
                        .eventInvalid, kind: .badInput, "no review item for \(record.debugDescription)")
                }
                try await AuditLog(
                    store: state, keys: keys,
                    retention: .seconds(Int64(try await auditRetentionDays(connection: id, state: state)) * 86_400)
                ).append(
                    recordId: record,
                    AuditEntry(
                        at: Date(), step: "operator", eventId: "-", eventType: "review.resolved", attempt: 1,
                        status: .ok,
                        durationMs: 0, httpRequests: 0, input: nil, emitted: [], error: nil, reasons: nil,
                        detail: ["note": note]
                    )
                )
                try await state.close()
                print("\(record) resolved")
            }
        }
    }

    struct Retry: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Sends a review item's event through its step again (after the mapping or master data was fixed)."
        )
        @OptionGroup var store: StoreOptions
        @Option(help: "The connection (default: the only one).") var connection: String?
        @Argument(help: "Record ids to retry; with --all every open item.") var records: [String] = []
        @Flag(help: "Retry every open item.") var all = false

        func run() async throws {
            await guarded {
                let state = try await store.open()
                let id = try await resolveConnection(connection, state: state)
                let queue = ReviewQueue(store: state, keys: try StateKeys(connection: id))
                var items: [ReviewItem] = []
                if all {
                    items = try await queue.list(status: .open)
                } else {
                    for record in records {
                        guard let item = try await queue.get(record) else {
                            throw ConnectorError(
                                .eventInvalid, kind: .badInput, "no review item for \(record.debugDescription)")
                        }
                        items.append(item)
                    }
                }
                guard !items.isEmpty else {
                    print("nothing to retry")
                    return
                }
                let run = try await runNow(
                    items.map { redelivery(of: $0.event, reason: "review-retry") }, state: state, stateURL: store.url()
                ) {
                    for item in items {
                        _ = try await queue.setStatus(item.recordId, .retried, note: "retried by operator")
                    }
                }
                let still = try await queue.list(status: .open).filter { open in
                    items.contains { $0.recordId == open.recordId }
                }
                try await state.close()
                let code = describe(run, what: "retried \(items.count)")
                if case .ran = run {
                    for item in still {
                        print(
                            "  still in review: \(item.recordId): \(item.reasons.map(\.code).joined(separator: ", "))")
                    }
                }
                if code != 0 { throw ArgumentParser.ExitCode(code) }
            }
        }
    }
}

struct DeadLetters: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dead-letter",
        abstract: "Events that failed after their last attempt, kept whole.",
        subcommands: [List.self, Replay.self]
    )

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Lists dead letters.")
        @OptionGroup var store: StoreOptions
        @Option(help: "The connection (default: the only one).") var connection: String?
        @Flag(help: "Print as JSON.") var json = false

        func run() async throws {
            await guarded {
                let state = try await store.open(.readOnly)
                let id = try await resolveConnection(connection, state: state)
                var letters = try await DeadLetterList(store: state, keys: try StateKeys(connection: id)).list()
                if id != "_runner" {
                    // The runner's own: unreadable queue entries and events without a usable connection.
                    letters += try await DeadLetterList(store: state, keys: try StateKeys(connection: "_runner")).list()
                }
                try await state.close()
                if json {
                    try printJSON(letters)
                    return
                }
                if letters.isEmpty { print("no dead letters") }
                for letter in letters {
                    print(
                        "\(letter.id): \(letter.step) after \(letter.attempts) attempt(s), exit \(letter.exitCode), \(letter.error.map { "\($0.code): \($0.message)" } ?? "no result")"
                    )
                }
            }
        }
    }

    struct Replay: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Sends dead letters through their step again; removed when they succeed.")
        @OptionGroup var store: StoreOptions
        @Option(help: "The connection (default: the only one).") var connection: String?
        @Argument(help: "Dead-letter ids; with --all every one.") var ids: [String] = []
        @Flag(help: "Replay every dead letter.") var all = false

        func run() async throws {
            await guarded {
                let state = try await store.open()
                let id = try await resolveConnection(connection, state: state)
                let list = DeadLetterList(store: state, keys: try StateKeys(connection: id))
                var letters: [DeadLetter] = []
                if all {
                    letters = try await list.list()
                } else {
                    for letterId in ids {
                        guard let letter = try await list.get(letterId) else {
                            throw ConnectorError(
                                .eventInvalid, kind: .badInput, "no dead letter \(letterId.debugDescription)")
                        }
                        letters.append(letter)
                    }
                }
                for letter in letters where FunctionCatalog.consumers(of: letter.event.type).isEmpty {
                    throw ConnectorError(
                        .eventInvalid, kind: .badInput,
                        "dead letter \(letter.id) holds \(letter.event.type), which no step consumes (an unreadable queue entry kept for inspection); it can't be replayed"
                    )
                }
                // Off the list once queued again: if it fails again it comes back with its new error.
                let run = try await runNow(
                    letters.map { redelivery(of: $0.event, reason: "replay") }, state: state, stateURL: store.url()
                ) {
                    for letter in letters { try await list.remove(letter.id) }
                }
                let remaining = try await list.list().count
                try await state.close()
                let code = describe(run, what: "replayed \(letters.count); dead letters now: \(remaining)")
                if code != 0 { throw ArgumentParser.ExitCode(code) }
            }
        }
    }
}

struct Replay: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Runs a record again from its stored events; safe because the dedup ledger refuses a second booking.",
        discussion: """
            By default the record is mapped again from the invoice as it was captured (with today's mappings). \
            --refetch reads the invoice from JAGGAER again first.
            """
    )
    @OptionGroup var store: StoreOptions
    @Option(help: "The connection (default: the only one).") var connection: String?
    @Argument(help: "The record id, e.g. jaggaer-invoice-2526304.") var record: String
    @Option(help: "Start at this step (default: the first step that has a stored input).") var fromStep: String?
    @Flag(help: "Fetch the invoice from JAGGAER again instead of using the captured copy.") var refetch = false

    func run() async throws {
        await guarded {
            let state = try await store.open()
            let id = try await resolveConnection(connection, state: state)
            let entries = try await AuditLog(store: state, keys: try StateKeys(connection: id)).entries(
                recordId: record)
            guard !entries.isEmpty else {
                throw ConnectorError(
                    .eventInvalid, kind: .badInput, "no record \(record.debugDescription) in connection \(id)")
            }
            let event: CloudEvent
            if refetch {
                guard record.hasPrefix("jaggaer-invoice-") else {
                    throw ConnectorError(.eventInvalid, kind: .badInput, "--refetch applies to JAGGAER invoice records")
                }
                event = CloudEvent(
                    source: "urn:mlconnector:operator",
                    type: EventType.invoiceDetected,
                    data: .object(["invoiceId": .string(String(record.dropFirst("jaggaer-invoice-".count)))]),
                    connection: id,
                    flow: "invoices",
                    recordid: record
                )
            } else {
                let candidates = entries.filter { $0.input != nil && (fromStep == nil || $0.step == fromStep) }
                guard let stored = candidates.first?.input else {
                    throw ConnectorError(
                        .eventInvalid, kind: .badInput,
                        "record \(record) has no stored input\(fromStep.map { " for step \($0)" } ?? "")")
                }
                event = redelivery(of: stored, reason: "replay")
            }
            let run = try await runNow([event], state: state, stateURL: store.url())
            let status = try await AuditLog(store: state, keys: try StateKeys(connection: id)).status(recordId: record)
            try await state.close()
            let code = describe(run, what: "replayed \(record) from \(event.type)")
            if case .ran = run, let status {
                print("now: \(status.state.rawValue)\(status.document.map { ", ERP \($0.number ?? $0.id)" } ?? "")")
            }
            if code != 0 { throw ArgumentParser.ExitCode(code) }
        }
    }
}

/// How long an operator's audit entry is kept: the connection's `flow.auditRetentionDays`, like the steps' entries,
/// read where the master key is at hand; the default period where it is not (resolving a review needs no key).
func auditRetentionDays(connection id: String, state: any StateStore) async throws -> Int {
    guard let key = try? MasterKey.fromEnvironment() else { return FlowSettings().auditRetentionDays }
    let (usable, _) = try await Run.checkConnections(state: state, ids: [id], vault: Vault(masterKey: key))
    return usable.first?.flow.auditRetentionDays ?? FlowSettings().auditRetentionDays
}
