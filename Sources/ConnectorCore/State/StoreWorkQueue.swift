import Foundation

/// The work queue over any `StateStore` (SQLite, in memory): one key per item,
/// `queue/<name>/<step>/<millis>/<id>/<connection>` (no last segment for an event that names no valid connection,
/// and for items an older version queued), so a prefix scan walks a step's lane in time order and a fair claim sees
/// each item's connection without decoding it. A claim is written into the item's own entry with
/// compare-and-swap on its version, so of two consumers racing for an item exactly one wins; it records the holder,
/// a token for this delivery and when it was taken (by this machine's clock: the generic queue serves the stores one
/// machine shares).
package struct StoreWorkQueue: WorkQueueBackend {
    package let store: any StateStore
    package let prefix: String
    let now: @Sendable () -> Date

    package init(store: any StateStore, name: String, now: @escaping @Sendable () -> Date = { Date() }) {
        self.store = store
        self.prefix = "queue/\(name)/"
        self.now = now
    }

    struct Held: Codable, Hashable {
        var consumer: String
        var token: String
        /// When the item was claimed: the claim runs out once it is older than the next claimer's visibility.
        var since: Date
        /// When the claim runs out by its holder's own visibility (what `nextDue` reports).
        var until: Date
    }

    /// What an entry holds: the item, its current claim and how often it was handed out.
    struct Entry: Codable {
        var item: WorkItem
        var claim: Held?
        var deliveries: Int
    }

    private func lane(_ step: String) -> String { prefix + step + "/" }

    private func key(_ item: WorkItem) -> String {
        let millis = max(0, Int64((item.notBefore.timeIntervalSince1970 * 1000).rounded(.down)))
        let key = lane(item.function) + FixedFormat.decimal(millis, width: 15) + "/" + item.id
        guard let connection = item.event.connection, (try? StateKeys.validateConnectionId(connection)) != nil,
            !item.id.contains("/")
        else { return key }
        return key + "/" + connection
    }

    /// What a key in `lane` tells without decoding its entry: the item's time (Unix milliseconds) and, when the key
    /// carries it, its connection (`""`: the event names none).
    private static func peek(_ key: String, lane: String) -> (millis: Int64, connection: String?)? {
        guard key.hasPrefix(lane) else { return nil }
        let parts = key.dropFirst(lane.count).split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2 || parts.count == 3, let millis = Int64(parts[0]) else { return nil }
        return (millis, parts.count == 3 ? String(parts[2]) : nil)
    }

    private func decode(_ stored: StoredEntry) throws -> Entry {
        var entry = try JSONCoding.decodeParsingTrees(Entry.self, from: stored.value.data)
        entry.item.queueKey = stored.key
        return entry
    }

    @discardableResult
    package func enqueue(_ item: WorkItem) async throws -> WorkItem {
        var stored = item
        stored.queueKey = key(item)
        try await store.put(stored.queueKey ?? "", json: Entry(item: stored, claim: nil, deliveries: 0))
        return stored
    }

    /// All in one `putAll`: one transaction on SQLite, where each commit is an fsync under the store's one writer
    /// lock (a poll that captured fifty invoices queued them one commit at a time).
    @discardableResult
    package func enqueue(contentsOf items: [WorkItem]) async throws -> [WorkItem] {
        let (stored, writes) = try entries(items)
        try await store.putAll(writes)
        return stored
    }

    /// The items with their keys, and their entries to write.
    private func entries(_ items: [WorkItem]) throws -> (
        items: [WorkItem], writes: [(key: String, value: Data, ttl: Duration?)]
    ) {
        var stored: [WorkItem] = []
        var writes: [(key: String, value: Data, ttl: Duration?)] = []
        for item in items {
            var entry = item
            entry.queueKey = key(item)
            stored.append(entry)
            writes.append(
                (entry.queueKey ?? "", try JSONCoding.encode(Entry(item: entry, claim: nil, deliveries: 0)), nil))
        }
        return (stored, writes)
    }

    /// The items and the ack in one `commit` (one transaction on SQLite instead of two); when the delivery was
    /// superseded in between, the items alone.
    package func complete(_ claim: QueueClaim, enqueueing items: [WorkItem]) async throws -> (
        items: [WorkItem], acked: Bool
    ) {
        let (stored, writes) = try entries(items)
        guard let current = try await current(claim) else {
            if !writes.isEmpty { try await store.putAll(writes) }
            return (stored, false)
        }
        let batch =
            writes.map { StoreWrite.put($0.key, $0.value, ttl: $0.ttl) }
            + [.deleteIf(current.key, expectedVersion: current.value.version)]
        if try await store.commit(batch) != nil { return (stored, true) }
        if !writes.isEmpty { try await store.putAll(writes) }
        return (stored, false)
    }

    package func claim(step: String, consumer: String, limit: Int, visibility: Duration, quarantine: QueueQuarantine)
        async throws -> [QueueClaim]
    {
        var claims: [QueueClaim] = []
        var after: String?
        let pageSize = max(limit * 2, 32)
        while claims.count < limit {
            let time = now()
            let page = try await store.scan(prefix: lane(step), after: after, limit: pageSize)
            // The claimable entries of this page, claimed together in one commit below (one transaction on SQLite
            // instead of one per item); when another consumer won one of them meanwhile, one by one.
            var wanted: [(stored: StoredEntry, entry: Entry, next: Entry, token: String)] = []
            var due = true
            for stored in page {
                guard let entry = try await decode(stored, quarantine: quarantine) else { continue }
                // A millisecond of slack: `notBefore` comes back from JSON rounded to the nearest millisecond.
                if entry.item.notBefore.timeIntervalSince(time) > 0.001 {
                    due = false
                    break
                }
                if let held = entry.claim, time.timeIntervalSince(held.since) < visibility.timeInterval { continue }
                wanted.append(Self.claiming(stored, entry, by: consumer, at: time, visibility: visibility))
                if claims.count + wanted.count == limit { break }
            }
            claims += try await take(wanted, consumer: consumer)
            guard due, claims.count < limit, page.count == pageSize, let last = page.last else { return claims }
            after = last.key
        }
        return claims
    }

    package var balancesConnections: Bool { true }

    /// Fair across connections: walks up to `window` due entries of the lane by key (no decoding, except for keys
    /// without a connection segment), then picks one at a time the oldest entry of the connection with the fewest
    /// in flight (`inFlight`, plus the live claims of other consumers met on the way, plus the picks so far). The
    /// walk stops early once `limit` connections with nothing in flight have a candidate: nothing further back can
    /// come before those.
    package func claim(
        step: String, consumer: String, limit: Int, visibility: Duration, inFlight: [String: Int], window: Int,
        quarantine: QueueQuarantine
    ) async throws -> [QueueClaim] {
        let time = now()
        var load = inFlight
        var wanted: [(stored: StoredEntry, entry: Entry, next: Entry, token: String)] = []
        var looked: Set<String> = []
        for stopEarly in [true, false] {
            let walk = try await candidates(
                in: lane(step), at: time, window: window, inFlight: inFlight, enough: stopEarly ? limit : nil)
            while wanted.count < limit {
                // The connection with the fewest in flight that has a candidate left; ties: the older candidate.
                var best: (connection: String, load: Int, stored: StoredEntry)?
                for connection in walk.order {
                    guard let stored = walk.byConnection[connection]?.first(where: { !looked.contains($0.key) })
                    else { continue }
                    let candidate = (connection, load[connection, default: 0], stored)
                    if let current = best, (current.load, current.stored.key) <= (candidate.1, candidate.2.key) {
                        continue
                    }
                    best = candidate
                }
                guard let (connection, _, stored) = best else { break }
                looked.insert(stored.key)
                guard let entry = try await decode(stored, quarantine: quarantine) else { continue }
                if entry.item.notBefore.timeIntervalSince(time) > 0.001 { continue }
                if let held = entry.claim, time.timeIntervalSince(held.since) < visibility.timeInterval {
                    // In flight elsewhere: it counts towards its connection's load (the caller counts its own).
                    if held.consumer != consumer { load[connection, default: 0] += 1 }
                    continue
                }
                wanted.append(Self.claiming(stored, entry, by: consumer, at: time, visibility: visibility))
                load[connection, default: 0] += 1
            }
            // A walk cut short that left picks wanting (candidates held elsewhere) is done again in full.
            if wanted.count == limit || walk.complete { break }
        }
        return try await take(wanted, consumer: consumer)
    }

    /// The due entries of `lane` by connection in time order (at most `window` entries looked at), and the
    /// connections in the order of their oldest entry; read by key, decoding only entries whose key carries no
    /// connection. With `enough`, the walk stops once that many connections with nothing in flight have an entry:
    /// nothing further back can come before those (`complete` is then false).
    private func candidates(in lane: String, at time: Date, window: Int, inFlight: [String: Int], enough: Int?)
        async throws -> (byConnection: [String: [StoredEntry]], order: [String], complete: Bool)
    {
        let nowMillis = Int64((time.timeIntervalSince1970 * 1000).rounded(.down))
        var byConnection: [String: [StoredEntry]] = [:]
        var order: [String] = []
        var idle = 0
        var seen = 0
        var after: String?
        let pageSize = min(64, max(window, 1))
        while seen < window {
            let page = try await store.scan(prefix: lane, after: after, limit: min(pageSize, window - seen))
            for stored in page {
                seen += 1
                let connection: String
                if let peeked = Self.peek(stored.key, lane: lane) {
                    // A millisecond of slack, as in the oldest-first claim; the decoded `notBefore` is checked too.
                    if peeked.millis > nowMillis + 1 { return (byConnection, order, true) }
                    if let known = peeked.connection {
                        connection = known
                    } else if let entry = try? decode(stored) {
                        if entry.item.notBefore.timeIntervalSince(time) > 0.001 { return (byConnection, order, true) }
                        connection = entry.item.event.connection ?? ""
                    } else {
                        connection = ""  // undecodable: handed to the quarantine when its turn comes
                    }
                } else {
                    connection = ""
                }
                byConnection[connection, default: []].append(stored)
                if byConnection[connection]?.count == 1 {
                    order.append(connection)
                    if let enough, inFlight[connection, default: 0] == 0 {
                        idle += 1
                        if idle >= enough { return (byConnection, order, false) }
                    }
                }
            }
            guard page.count == min(pageSize, window - seen + page.count), let last = page.last else {
                return (byConnection, order, true)
            }
            after = last.key
        }
        // The window's end: what lies beyond is left for later claims.
        return (byConnection, order, true)
    }

    /// The entry decoded, or handed to `quarantine` and removed (nil): one bad entry never stops the queue.
    private func decode(_ stored: StoredEntry, quarantine: QueueQuarantine) async throws -> Entry? {
        do {
            return try decode(stored)
        } catch {
            let reason = (error as? DecodingError)?.safeDescription ?? String(describing: type(of: error))
            try await quarantine(stored.key, stored.value.data, reason)
            _ = try await store.delete(stored.key, expectedVersion: stored.value.version)
            return nil
        }
    }

    /// What claiming `entry` writes: a fresh token, the holder and its times, one more delivery.
    private static func claiming(
        _ stored: StoredEntry, _ entry: Entry, by consumer: String, at time: Date, visibility: Duration
    ) -> (stored: StoredEntry, entry: Entry, next: Entry, token: String) {
        let token = UUID().uuidString.lowercased()
        var next = entry
        next.claim = Held(
            consumer: consumer, token: token, since: time, until: time.addingTimeInterval(visibility.timeInterval))
        next.deliveries += 1
        next.item.queueKey = nil
        return (stored, entry, next, token)
    }

    /// Claims `wanted` in one commit (one transaction on SQLite); when another consumer won one of them meanwhile,
    /// one by one, leaving out those it lost.
    private func take(
        _ wanted: [(stored: StoredEntry, entry: Entry, next: Entry, token: String)], consumer: String
    ) async throws -> [QueueClaim] {
        guard !wanted.isEmpty else { return [] }
        let writes = try wanted.map {
            StoreWrite.compareAndSwap(
                $0.stored.key, expectedVersion: $0.stored.value.version, try JSONCoding.encode($0.next), ttl: nil)
        }
        let together = wanted.count > 1 ? try await store.commit(writes) != nil : false
        var claims: [QueueClaim] = []
        for want in wanted {
            if !together {
                guard
                    try await store.compareAndSwap(
                        want.stored.key, expectedVersion: want.stored.value.version, json: want.next) != nil
                else { continue }  // another consumer won it
            }
            claims.append(
                QueueClaim(
                    item: want.entry.item, consumer: consumer, deliveries: want.next.deliveries, token: want.token))
        }
        return claims
    }

    /// The entry of a delivery when that delivery is still the current one.
    private func current(_ claim: QueueClaim) async throws -> StoredEntry? {
        guard let key = claim.item.queueKey, let stored = try await store.get(key),
            let entry = try? JSONCoding.decodeParsingTrees(Entry.self, from: stored.data),
            entry.claim?.token == claim.token
        else { return nil }
        return StoredEntry(key: key, value: stored)
    }

    package func ack(_ claim: QueueClaim) async throws -> Bool {
        guard let stored = try await current(claim) else { return false }
        return try await store.delete(stored.key, expectedVersion: stored.value.version)
    }

    package func release(_ claim: QueueClaim, as item: WorkItem, notBefore: Date) async throws -> Bool {
        guard let stored = try await current(claim) else { return false }
        var next = item
        next.function = claim.item.function
        next.notBefore = notBefore
        try await enqueue(next)
        // When it was re-claimed by someone else in between (our claim had run out), the copy we wrote is a
        // harmless extra delivery.
        _ = try await store.delete(stored.key, expectedVersion: stored.value.version)
        return true
    }

    package func recover(consumer: String) async throws -> Int {
        var recovered = 0
        for stored in try await store.scanAll(prefix: prefix) {
            guard var entry = try? decode(stored), entry.claim?.consumer == consumer else { continue }
            entry.claim = nil
            entry.item.queueKey = nil
            if try await store.compareAndSwap(stored.key, expectedVersion: stored.value.version, json: entry) != nil {
                recovered += 1
            }
        }
        return recovered
    }

    package func count(step: String?) async throws -> Int {
        try await store.scanAll(prefix: step.map(lane) ?? prefix).count
    }

    package func items(step: String?) async throws -> [WorkItem] {
        try await store.scanAll(prefix: step.map(lane) ?? prefix).compactMap { try? decode($0).item }
    }

    package func remove(_ item: WorkItem) async throws -> Bool {
        guard let key = item.queueKey, let stored = try await store.get(key) else { return false }
        if let entry = try? JSONCoding.decodeParsingTrees(Entry.self, from: stored.data), let held = entry.claim,
            held.until > now()
        {
            return false
        }
        return try await store.delete(key, expectedVersion: stored.version)
    }

    package func nextDue(step: String) async throws -> Date? {
        var earliest: Date?
        var after: String?
        while true {
            let page = try await store.scan(prefix: lane(step), after: after, limit: 64)
            for stored in page {
                guard let entry = try? decode(stored) else { return now() }
                if let limit = earliest, entry.item.notBefore >= limit { return earliest }
                let due = entry.claim.map { max($0.until, entry.item.notBefore) } ?? entry.item.notBefore
                if earliest.map({ due < $0 }) ?? true { earliest = due }
            }
            guard page.count == 64, let last = page.last else { return earliest }
            after = last.key
        }
    }
}
