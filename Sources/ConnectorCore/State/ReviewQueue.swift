import Foundation

/// A record that needs a person: missing mapping, unmatched PO, rejected by the ERP. The batch goes on without it;
/// the event is kept so the record can be retried once the cause is fixed.
package struct ReviewItem: Sendable, Codable, Hashable {
    package enum Status: String, Sendable, Codable, Hashable { case open, resolved, retried }

    package var recordId: String
    package var step: String
    package var reasons: [ReviewReason]
    /// The event to send again on retry (the input of `step`).
    package var event: CloudEvent
    package var createdAt: Date
    package var status: Status
    package var note: String?

    package init(
        recordId: String,
        step: String,
        reasons: [ReviewReason],
        event: CloudEvent,
        createdAt: Date,
        status: Status = .open,
        note: String? = nil
    ) {
        self.recordId = recordId
        self.step = step
        self.reasons = reasons
        self.event = event
        self.createdAt = createdAt
        self.status = status
        self.note = note
    }
}

package struct ReviewQueue: Sendable {
    package let store: any StateStore
    package let keys: StateKeys

    package init(store: any StateStore, keys: StateKeys) {
        self.store = store
        self.keys = keys
    }

    package func add(_ item: ReviewItem) async throws {
        try await store.put(keys.key("review", item.recordId), JSONCoding.encodeScrubbed(item), ttl: nil)
    }

    package func get(_ recordId: String) async throws -> ReviewItem? {
        try await store.get(keys.key("review", recordId), as: ReviewItem.self)?.value
    }

    package func list(status: ReviewItem.Status? = .open) async throws -> [ReviewItem] {
        try await store.scanAll(prefix: keys.prefix("review"))
            .map { try JSONCoding.decode(ReviewItem.self, from: $0.value.data) }
            .filter { status == nil || $0.status == status }
    }

    package func setStatus(_ recordId: String, _ status: ReviewItem.Status, note: String? = nil) async throws -> Bool {
        let updated = try await store.update(keys.key("review", recordId), as: ReviewItem.self) { current in
            guard var current else { return nil }
            current.status = status
            if let note { current.note = note }
            return current
        }
        return updated != nil
    }
}

/// Events that failed after their last attempt, kept whole for replay.
package struct DeadLetter: Sendable, Codable, Hashable {
    package var id: String
    package var recordId: String?
    package var step: String
    package var event: CloudEvent
    package var error: StepResult.ErrorBody?
    package var exitCode: Int32
    package var attempts: Int
    package var at: Date

    package init(
        id: String,
        recordId: String?,
        step: String,
        event: CloudEvent,
        error: StepResult.ErrorBody?,
        exitCode: Int32,
        attempts: Int,
        at: Date
    ) {
        self.id = id
        self.recordId = recordId
        self.step = step
        self.event = event
        self.error = error
        self.exitCode = exitCode
        self.attempts = attempts
        self.at = at
    }
}

package struct DeadLetterList: Sendable {
    package let store: any StateStore
    package let keys: StateKeys

    package init(store: any StateStore, keys: StateKeys) {
        self.store = store
        self.keys = keys
    }

    package func add(_ letter: DeadLetter) async throws {
        try await store.put(keys.key("deadletter", letter.id), JSONCoding.encodeScrubbed(letter), ttl: nil)
    }

    package func list() async throws -> [DeadLetter] {
        try await store.scanAll(prefix: keys.prefix("deadletter")).map {
            try JSONCoding.decode(DeadLetter.self, from: $0.value.data)
        }
    }

    package func get(_ id: String) async throws -> DeadLetter? {
        try await store.get(keys.key("deadletter", id), as: DeadLetter.self)?.value
    }

    package func remove(_ id: String) async throws {
        try await store.delete(keys.key("deadletter", id))
    }
}
