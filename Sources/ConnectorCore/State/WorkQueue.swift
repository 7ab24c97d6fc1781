import Foundation

/// The runner's persistent queue: every event waiting for a step, ordered by when it may run. An item leaves the
/// queue only after its step's result (and the events it emitted) are stored, so a crash loses nothing; it may
/// run twice, which the dedup ledger makes harmless.
package struct WorkItem: Sendable, Codable, Hashable {
    package var id: String
    package var function: String
    package var event: CloudEvent
    package var notBefore: Date
    package var enqueuedAt: Date
    /// Where the item sits in the store; set when it is written or read. Never recomputed from `notBefore`,
    /// whose JSON round trip can move it by a fraction of a millisecond.
    package var queueKey: String?
    /// Since when this item has been waiting on another delivery or a dependency without spending an attempt;
    /// the runner bounds that wait.
    package var waitingSince: Date?

    private enum CodingKeys: String, CodingKey { case id, function, event, notBefore, enqueuedAt, waitingSince }

    package init(
        id: String = UUID().uuidString.lowercased(), function: String, event: CloudEvent, notBefore: Date,
        enqueuedAt: Date
    ) {
        self.id = id
        self.function = function
        self.event = event
        self.notBefore = notBefore
        self.enqueuedAt = enqueuedAt
    }
}

package struct WorkQueue: Sendable {
    package let store: any StateStore
    package let prefix: String

    package init(store: any StateStore, name: String = "runner") {
        self.store = store
        self.prefix = "queue/\(name)/"
    }

    private func newKey(_ item: WorkItem) -> String {
        let millis = max(0, Int64((item.notBefore.timeIntervalSince1970 * 1000).rounded(.down)))
        return prefix + String(format: "%015lld", millis) + "/" + item.id
    }

    @discardableResult
    package func enqueue(_ item: WorkItem) async throws -> WorkItem {
        let key = newKey(item)
        var stored = item
        stored.queueKey = key
        try await store.put(key, json: stored)
        return stored
    }

    private func decode(_ entry: StoredEntry) throws -> WorkItem {
        var item = try JSONCoding.decode(WorkItem.self, from: entry.value.data)
        item.queueKey = entry.key
        return item
    }

    /// Items whose time has come, oldest first. An entry that does not decode (a poison entry: damaged, or
    /// written by something else) never stops the queue: it is handed to `quarantine`, which keeps it whole
    /// elsewhere, and then removed from the queue.
    package func due(
        now: Date, limit: Int,
        quarantine: @Sendable (StoredEntry, String) async throws -> Void = { entry, _ in
            throw ConnectorError(.stateCorrupt, "undecodable queue entry \(entry.key)")
        }
    ) async throws -> [WorkItem] {
        var result: [WorkItem] = []
        var after: String?
        while result.count < limit {
            let page = try await store.scan(prefix: prefix, after: after, limit: limit)
            for entry in page {
                let item: WorkItem
                do {
                    item = try decode(entry)
                } catch {
                    let reason =
                        (error as? DecodingError)?.safeDescription ?? String(describing: type(of: error))
                    try await quarantine(entry, reason)
                    _ = try await store.delete(entry.key, expectedVersion: entry.value.version)
                    continue
                }
                if item.notBefore > now { return result }
                result.append(item)
                if result.count == limit { return result }
            }
            guard page.count == limit, let last = page.last else { return result }
            after = last.key
        }
        return result
    }

    package func all() async throws -> [WorkItem] {
        try await store.scanAll(prefix: prefix).compactMap { try? decode($0) }
    }

    /// When the next item is due, if any (read from the key, so a damaged entry can't hide the time).
    package func nextDue() async throws -> Date? {
        guard let first = try await store.scan(prefix: prefix, after: nil, limit: 1).first else { return nil }
        let stamp = first.key.dropFirst(prefix.count).prefix { $0 != "/" }
        guard let millis = Int64(stamp) else { return Date() }
        return Date(timeIntervalSince1970: Double(millis) / 1000)
    }

    package func complete(_ item: WorkItem) async throws {
        try await store.delete(item.queueKey ?? newKey(item))
    }

    /// Puts the item back for a later attempt: the new entry is written before the old one goes, so a crash in
    /// between leaves a duplicate (harmless), never a loss.
    package func reschedule(_ item: WorkItem, event: CloudEvent, notBefore: Date, waitingSince: Date? = nil)
        async throws
    {
        var next = item
        next.id = UUID().uuidString.lowercased()
        next.event = event
        next.notBefore = notBefore
        next.waitingSince = waitingSince
        try await enqueue(next)
        try await store.delete(item.queueKey ?? newKey(item))
    }

    package func count() async throws -> Int {
        try await store.scanAll(prefix: prefix).count
    }
}
