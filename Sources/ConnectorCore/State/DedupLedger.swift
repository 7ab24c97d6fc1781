import Foundation

/// The exactly-once ledger for ERP writes (DESIGN §8): a claim per business record, put-if-absent like a BullMQ
/// jobId, moved through recovery points with compare-and-swap.
///
/// `claimed → requestSent → recorded`. A claim whose owner stopped (its lease ran out) is resolved by asking the
/// ERP for the document by its natural key, never by writing again blindly.
package struct DedupLedger: Sendable {
    package enum Phase: String, Sendable, Codable, Hashable {
        /// Claimed; the ERP has not been asked to write yet.
        case claimed
        /// The create request may have reached the ERP: the outcome is unknown until checked.
        case requestSent
        /// The ERP confirmed the document and its id is recorded: done, for good.
        case recorded
    }

    package struct Entry: Sendable, Codable, Hashable {
        package var phase: Phase
        package var owner: String
        package var attempt: Int
        package var claimedAt: Date
        package var updatedAt: Date
        /// Until when the owner is presumed alive and working.
        package var leaseUntil: Date
        package var naturalKey: String
        package var document: ERPDocumentRef?
        /// True when the document was found in the ERP instead of created by us.
        package var foundExisting: Bool
        /// Where the owner runs, so a crash on this host is noticed before the lease runs out.
        package var host: String?
        package var pid: Int32?

        package init(
            phase: Phase,
            owner: String,
            attempt: Int,
            claimedAt: Date,
            updatedAt: Date,
            leaseUntil: Date,
            naturalKey: String,
            document: ERPDocumentRef? = nil,
            foundExisting: Bool = false,
            host: String? = ProcessLiveness.host,
            pid: Int32? = ProcessLiveness.pid
        ) {
            self.phase = phase
            self.owner = owner
            self.attempt = attempt
            self.claimedAt = claimedAt
            self.updatedAt = updatedAt
            self.leaseUntil = leaseUntil
            self.naturalKey = naturalKey
            self.document = document
            self.foundExisting = foundExisting
            self.host = host
            self.pid = pid
        }

        /// Whether the owner is known to have stopped (crashed on this host).
        package var ownerIsGone: Bool { ProcessLiveness.isGone(host: host, pid: pid) }
    }

    package enum ClaimOutcome: Sendable {
        /// This caller owns the record now.
        case acquired(Entry, version: Int64)
        /// Someone claimed it before; look at the entry to decide.
        case existing(Entry, version: Int64)
    }

    package let store: any StateStore
    package let keys: StateKeys

    package init(store: any StateStore, keys: StateKeys) {
        self.store = store
        self.keys = keys
    }

    package func key(_ dedupKey: String) -> String { keys.key("dedup", dedupKey) }

    package func claim(_ dedupKey: String, entry: Entry) async throws -> ClaimOutcome {
        for _ in 0..<5 {
            if let version = try await store.putIfAbsent(key(dedupKey), json: entry) {
                return .acquired(entry, version: version)
            }
            if let existing = try await store.get(key(dedupKey), as: Entry.self) {
                return .existing(existing.value, version: existing.version)
            }
        }
        throw ConnectorError(.stateUnavailable, kind: .temporary, "could not claim \(dedupKey)")
    }

    /// Moves the entry to its next recovery point; nil when another process changed it in between.
    package func advance(_ dedupKey: String, from version: Int64, to entry: Entry) async throws -> Int64? {
        try await store.compareAndSwap(key(dedupKey), expectedVersion: version, json: entry)
    }

    package func load(_ dedupKey: String) async throws -> (entry: Entry, version: Int64)? {
        try await store.get(key(dedupKey), as: Entry.self).map { ($0.value, $0.version) }
    }

    /// Gives a claim up (only when no request was sent), so a later attempt can claim afresh.
    package func release(_ dedupKey: String, version: Int64) async throws -> Bool {
        try await store.delete(key(dedupKey), expectedVersion: version)
    }

    /// All entries, for reports and the fault harness' "nothing left in flight" check.
    package func all() async throws -> [(key: String, entry: Entry)] {
        try await store.scanAll(prefix: keys.prefix("dedup")).map { stored in
            (
                StateKeys.unescape(String(stored.key.dropFirst(keys.prefix("dedup").count))),
                try JSONCoding.decode(Entry.self, from: stored.value.data)
            )
        }
    }
}
