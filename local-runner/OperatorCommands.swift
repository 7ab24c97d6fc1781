import ArgumentParser
import ConnectorCore
import ConnectorRuntime
import ConnectorSecurity
import Foundation
import Logging

/// Runs events through the steps from the command line: queue them, then work the queue until it is empty
/// (the same runner as `run`, so retries, routing and dead-lettering behave the same).
func runNow(_ events: [CloudEvent], state: any StateStore, stateURL: String, concurrency: Int = 4) async throws
    -> Runner.Stats
{
    var environment = ProcessInfo.processInfo.environment
    environment["MLC_STATE"] = stateURL
    let runner = Runner(
        store: state,
        options: .init(
            binDirectory: functionsDirectory(), environment: environment, concurrency: concurrency,
            logPath: defaultLogPath(stateURL)),
        logger: runnerLogger()
    )
    for event in events { try await runner.submit(event) }
    try await runner.drain(waitForDelayed: true, deadline: Date().addingTimeInterval(600))
    return await runner.stats
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
                let state = try store.open(.readOnly)
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
                let state = try store.open(.readOnly)
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
                let state = try store.open()
                let id = try await resolveConnection(connection, state: state)
                let keys = try StateKeys(connection: id)
                guard try await ReviewQueue(store: state, keys: keys).setStatus(record, .resolved, note: note) else {
                    throw ConnectorError(
                        .eventInvalid, kind: .badInput, "no review item for \(record.debugDescription)")
                }
                try await AuditLog(store: state, keys: keys).append(
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
                let state = try store.open()
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
                for item in items {
                    _ = try await queue.setStatus(item.recordId, .retried, note: "retried by operator")
                }
                let stats = try await runNow(
                    items.map { redelivery(of: $0.event, reason: "review-retry") }, state: state, stateURL: store.url())
                let still = try await queue.list(status: .open).filter { open in
                    items.contains { $0.recordId == open.recordId }
                }
                try await state.close()
                print(
                    "retried \(items.count): \(stats.byFunctionStatus.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", "))"
                )
                for item in still {
                    print("  still in review: \(item.recordId): \(item.reasons.map(\.code).joined(separator: ", "))")
                }
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
                let state = try store.open(.readOnly)
                let id = try await resolveConnection(connection, state: state)
                let letters = try await DeadLetterList(store: state, keys: try StateKeys(connection: id)).list()
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
                let state = try store.open()
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
                // Taken off the list first: if it fails again it comes back with its new error.
                for letter in letters { try await list.remove(letter.id) }
                let stats = try await runNow(
                    letters.map { redelivery(of: $0.event, reason: "replay") }, state: state, stateURL: store.url())
                let remaining = try await list.list().count
                try await state.close()
                print(
                    "replayed \(letters.count); dead letters now: \(remaining); \(stats.byFunctionStatus.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", "))"
                )
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
            let state = try store.open()
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
            let stats = try await runNow([event], state: state, stateURL: store.url())
            let status = try await AuditLog(store: state, keys: try StateKeys(connection: id)).status(recordId: record)
            try await state.close()
            print(
                "replayed \(record) from \(event.type): \(stats.byFunctionStatus.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", "))"
            )
            if let status {
                print("now: \(status.state.rawValue)\(status.document.map { ", ERP \($0.number ?? $0.id)" } ?? "")")
            }
        }
    }
}
