import Foundation

/// Where a business record stands. Ranks only move forward; a terminal success is never downgraded.
package enum RecordState: String, Sendable, Codable, Hashable, CaseIterable {
    case captured
    case mapped
    case needsReview = "needs_review"
    case failed
    case written
    /// The ERP already had the document (keyed by hand, or written by an earlier run); nothing was booked.
    case alreadyInERP = "already_in_erp"
    case posted

    package var rank: Int {
        switch self {
        case .captured: 1
        case .mapped, .needsReview, .failed: 2
        case .written, .alreadyInERP: 4
        case .posted: 5
        }
    }

    package var isTerminalSuccess: Bool { rank >= 4 }
}

/// One line of a record's audit trail: what a step got, what it did, how long it took.
package struct AuditEntry: Sendable, Codable, Hashable {
    package var sequence: Int64
    package var at: Date
    package var step: String
    package var eventId: String
    package var eventType: String
    package var attempt: Int
    package var status: StepStatus
    package var durationMs: Int
    package var httpRequests: Int
    /// The input event as received: what `replay` sends again.
    package var input: CloudEvent?
    package var emitted: [String]
    package var error: StepResult.ErrorBody?
    package var reasons: [ReviewReason]?
    package var detail: [String: String]?
    /// The W3C trace id of the invocation (the same for every step of a record's path through one trace).
    package var traceId: String?

    package init(
        sequence: Int64 = 0,
        at: Date,
        step: String,
        eventId: String,
        eventType: String,
        attempt: Int,
        status: StepStatus,
        durationMs: Int,
        httpRequests: Int,
        input: CloudEvent?,
        emitted: [String],
        error: StepResult.ErrorBody?,
        reasons: [ReviewReason]?,
        detail: [String: String]?,
        traceId: String? = nil
    ) {
        self.sequence = sequence
        self.at = at
        self.step = step
        self.eventId = eventId
        self.eventType = eventType
        self.attempt = attempt
        self.status = status
        self.durationMs = durationMs
        self.httpRequests = httpRequests
        self.input = input
        self.emitted = emitted
        self.error = error
        self.reasons = reasons
        self.detail = detail
        self.traceId = traceId
    }
}

/// The summary of a record: its current state and where it landed.
package struct RecordStatus: Sendable, Codable, Hashable {
    package var recordId: String
    package var state: RecordState
    package var updatedAt: Date
    package var lastStep: String
    package var document: ERPDocumentRef?
    package var reasons: [ReviewReason]?

    package init(
        recordId: String,
        state: RecordState,
        updatedAt: Date,
        lastStep: String,
        document: ERPDocumentRef? = nil,
        reasons: [ReviewReason]? = nil
    ) {
        self.recordId = recordId
        self.state = state
        self.updatedAt = updatedAt
        self.lastStep = lastStep
        self.document = document
        self.reasons = reasons
    }
}

/// The audit trail of every record, and the record index with forward-only state.
package struct AuditLog: Sendable {
    package let store: any StateStore
    package let keys: StateKeys
    /// How long an entry is kept (`flow.auditRetentionDays`); nil: for good. The sequence counter never expires, so
    /// a later entry never takes an earlier one's number.
    package let retention: Duration?

    package init(store: any StateStore, keys: StateKeys, retention: Duration? = nil) {
        self.store = store
        self.keys = keys
        self.retention = retention
    }

    /// Appends an entry to the record's trail in one round trip (the sequence is taken and the entry written by
    /// one `commit`); returns its sequence number.
    @discardableResult
    package func append(recordId: String, _ entry: AuditEntry) async throws -> Int64 {
        guard let sequence = try await store.commit([try appending(recordId: recordId, entry)])?.first else {
            throw ConnectorError(.stateCorrupt, "the store refused an unconditional audit append for \(recordId)")
        }
        return sequence
    }

    /// The write that appends `entry` to the record's trail, for a `commit` batch: the record's counter
    /// `auditseq/<record>` (it never expires, so a later entry never takes an earlier one's number) and the entry
    /// at `audit/<record>/<sequence>`. The sequence lives in the key; `entries` puts it back into each entry.
    package func appending(recordId: String, _ entry: AuditEntry) throws -> StoreWrite {
        var entry = entry
        entry.sequence = 0
        return .append(
            counter: keys.key("auditseq", recordId), prefix: keys.prefix("audit", recordId),
            try JSONCoding.encodeScrubbed(entry), ttl: retention)
    }

    package func entries(recordId: String) async throws -> [AuditEntry] {
        try await store.scanAll(prefix: keys.prefix("audit", recordId)).map { stored in
            var entry = try JSONCoding.decode(AuditEntry.self, from: stored.value.data)
            if let sequence = stored.key.split(separator: "/").last.flatMap({ Int64($0) }) { entry.sequence = sequence }
            return entry
        }
    }

    /// The record key of `recordId` (its `RecordStatus`).
    package func recordKey(_ recordId: String) -> String { keys.key("records", recordId) }

    /// What `setState` stores when the record stands at `current`: nil when `status` does not move it forward.
    package static func advanced(_ current: RecordStatus?, to status: RecordStatus) -> RecordStatus? {
        guard let current else { return status }
        if status.state.rank < current.state.rank { return nil }
        if current.state.isTerminalSuccess, status.state == current.state { return nil }
        var next = status
        if next.document == nil { next.document = current.document }
        return next
    }

    /// Moves the record's state forward. A lower-ranked state never replaces a higher one, so a late or replayed
    /// step can't turn a written invoice back into "mapped". Returns the state now stored.
    @discardableResult
    package func setState(_ status: RecordStatus) async throws -> RecordStatus {
        let stored = try await store.update(keys.key("records", status.recordId), as: RecordStatus.self) { current in
            Self.advanced(current, to: status)
        }
        return stored ?? status
    }

    package func status(recordId: String) async throws -> RecordStatus? {
        try await store.get(keys.key("records", recordId), as: RecordStatus.self)?.value
    }

    package func allStatuses() async throws -> [RecordStatus] {
        try await store.scanAll(prefix: keys.prefix("records")).map {
            try JSONCoding.decode(RecordStatus.self, from: $0.value.data)
        }
    }
}
