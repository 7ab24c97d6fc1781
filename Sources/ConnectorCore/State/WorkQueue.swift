import Foundation

/// One event waiting for one step. An item leaves the queue only after its step's result (and the events it
/// emitted) are stored, so a crash loses nothing; it may run twice, which the dedup ledger makes harmless.
package struct WorkItem: Sendable, Codable, Hashable {
    package var id: String
    package var function: String
    package var event: CloudEvent
    package var notBefore: Date
    package var enqueuedAt: Date
    /// Where the item sits in its backend (a store key, a stream entry); set when it is written or read, never
    /// recomputed from `notBefore`, whose JSON round trip can move it by a fraction of a millisecond.
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

/// One delivery of an item to one consumer. While the claim is live no other consumer gets the item; when the
/// consumer dies, the claim runs out after its visibility timeout and the item is delivered again.
package struct QueueClaim: Sendable, Hashable {
    package var item: WorkItem
    package var consumer: String
    /// How many times the item has been handed out, this delivery included (1 on the first).
    package var deliveries: Int
    /// The backend's handle on this delivery; an ack or release with a handle whose delivery was superseded (the
    /// claim ran out and someone else holds the item now) does nothing.
    package var token: String

    package init(item: WorkItem, consumer: String, deliveries: Int, token: String) {
        self.item = item
        self.consumer = consumer
        self.deliveries = deliveries
        self.token = token
    }

    package var step: String { item.function }
}

/// Called with a queue entry that is no work item (damaged, or written by something else): it must keep the bytes
/// somewhere whole; the entry then leaves the queue, so one bad entry never stops it.
package typealias QueueQuarantine = @Sendable (_ location: String, _ raw: Data, _ reason: String) async throws -> Void

/// A work queue with claims, one lane per step: what the runner, its workers and the pull-mode `trigger` share.
///
/// Semantics every backend must honour (checked by `WorkQueueConformance`):
/// - `claim` hands an item to one consumer at a time; an item is claimable when its `notBefore` has come and it is
///   not claimed, or its claim is older than the `visibility` the new claimer passes (its holder is taken for dead;
///   this is Redis' `XAUTOCLAIM` min-idle rule, so every consumer of a step should pass the same visibility: by
///   default the step's timeout plus 30 s).
/// - `ack` by the holder of the current delivery removes the item; `release` puts it back (changed, e.g. with the
///   next attempt, and possibly later); both do nothing and return false for a superseded delivery.
/// - `recover(consumer:)` makes every item that consumer holds claimable at once (a restarted runner's own claims).
package protocol WorkQueueBackend: Sendable {
    /// Adds an item to its step's lane (`item.function`), claimable from `item.notBefore`.
    @discardableResult
    func enqueue(_ item: WorkItem) async throws -> WorkItem

    /// Adds several items (the events one step emitted); a backend that can does it in one round trip, all or
    /// nothing. Returns them in order, as `enqueue` would.
    @discardableResult
    func enqueue(contentsOf items: [WorkItem]) async throws -> [WorkItem]

    /// Claims up to `limit` claimable items of `step`, oldest first.
    func claim(step: String, consumer: String, limit: Int, visibility: Duration, quarantine: QueueQuarantine)
        async throws -> [QueueClaim]

    /// Claims up to `limit` claimable items of `step`, fair across connections: each next item is the oldest one of
    /// the connection with the fewest items in flight (`inFlight`: the caller's own running items of this step by
    /// connection, `""` for events that name none; ties go to the oldest item), looking at most `window` items
    /// deep. One connection's backlog queued ahead of another's would otherwise fill every worker of a step while
    /// that connection's ERP budget holds them, and the other connection's items wait behind it.
    ///
    /// A backend that cannot pick out of order hands out its items oldest first (the default: `claim` above).
    func claim(
        step: String, consumer: String, limit: Int, visibility: Duration, inFlight: [String: Int], window: Int,
        quarantine: QueueQuarantine
    ) async throws -> [QueueClaim]

    /// Whether `claim(…inFlight:window:…)` balances connections (false: it claims oldest first).
    var balancesConnections: Bool { get }

    /// Removes the item of a live (or run-out but not yet re-claimed) delivery.
    func ack(_ claim: QueueClaim) async throws -> Bool

    /// What a step that ended does: queues `items` (the events it emitted) and acks `claim`, in one round trip
    /// where the backend can (all or nothing). The items are queued whether or not the ack holds (a superseded
    /// delivery: false); a crash part-way leaves the items queued and the claim live, never the other way round.
    func complete(_ claim: QueueClaim, enqueueing items: [WorkItem]) async throws -> (items: [WorkItem], acked: Bool)

    /// Puts the item back as `item` (same step), claimable from `notBefore`. Written before the old delivery goes,
    /// so a crash in between leaves a duplicate (harmless), never a loss.
    func release(_ claim: QueueClaim, as item: WorkItem, notBefore: Date) async throws -> Bool

    /// Makes every item `consumer` holds claimable now; returns how many.
    func recover(consumer: String) async throws -> Int

    /// Items of one step (or every step), claimed or not.
    func count(step: String?) async throws -> Int

    /// Every item of one step (or every step) with `queueKey` set, claimed or not.
    func items(step: String?) async throws -> [WorkItem]

    /// Removes an item read by `items`, unless it is claimed now; returns whether it was removed.
    func remove(_ item: WorkItem) async throws -> Bool

    /// When `step` next has something to look at: the earliest `notBefore` of its waiting items, or when the
    /// earliest live claim runs out (nil when the lane is empty).
    func nextDue(step: String) async throws -> Date?

    /// Moves the items that became due from a delayed holding area to where consumers (and a platform's scaler,
    /// such as KEDA's Redis Streams lag) see them; returns how many moved. Claims do this too; a scheduler calls it
    /// so a delayed retry wakes a scaled-to-zero step.
    func promoteDue(step: String?) async throws -> Int
}

extension WorkQueueBackend {
    /// One `enqueue` per item (each its own round trip; a crash part-way leaves the first ones queued, never a loss).
    @discardableResult
    package func enqueue(contentsOf items: [WorkItem]) async throws -> [WorkItem] {
        var stored: [WorkItem] = []
        for item in items { stored.append(try await enqueue(item)) }
        return stored
    }

    /// Oldest first: a backend that cannot pick out of order.
    package func claim(
        step: String, consumer: String, limit: Int, visibility: Duration, inFlight: [String: Int], window: Int,
        quarantine: QueueQuarantine
    ) async throws -> [QueueClaim] {
        try await claim(step: step, consumer: consumer, limit: limit, visibility: visibility, quarantine: quarantine)
    }

    package var balancesConnections: Bool { false }

    /// Backends that keep delayed items with the others (the generic queue) have nothing to move.
    package func promoteDue(step: String?) async throws -> Int { 0 }

    /// The items first, then the ack: two round trips.
    package func complete(_ claim: QueueClaim, enqueueing items: [WorkItem]) async throws -> (
        items: [WorkItem], acked: Bool
    ) {
        let stored = items.isEmpty ? [] : try await enqueue(contentsOf: items)
        return (stored, try await ack(claim))
    }
}

/// A native queue that queues a batch of items and acks a claim in one call (a Lua script on Redis, one statement on
/// PostgreSQL): a batch enqueue and a step's end are each one round trip, whatever the number of items.
package protocol SingleTripQueueing: WorkQueueBackend {
    /// Queues `items` in their order and, given a claim whose delivery is still the current one, acks it; all in
    /// one round trip. Returns the items with their queue keys, and whether the claim was acked.
    func queue(_ items: [WorkItem], acking claim: QueueClaim?) async throws -> (items: [WorkItem], acked: Bool)
}

extension SingleTripQueueing {
    @discardableResult
    package func enqueue(contentsOf items: [WorkItem]) async throws -> [WorkItem] {
        if items.count == 1 { return [try await enqueue(items[0])] }
        return items.isEmpty ? [] : try await queue(items, acking: nil).items
    }

    package func complete(_ claim: QueueClaim, enqueueing items: [WorkItem]) async throws -> (
        items: [WorkItem], acked: Bool
    ) {
        try await queue(items, acking: claim)
    }
}

/// A store that implements the work queue natively (Redis Streams) instead of with the generic compare-and-swap
/// claims of `StoreWorkQueue`.
package protocol WorkQueueProviding: StateStore {
    func workQueueBackend(name: String) -> any WorkQueueBackend
}

/// The runner's queue on a store: the store's native backend when it has one, else `StoreWorkQueue`.
package struct WorkQueue: Sendable {
    package let store: any StateStore
    package let name: String
    package let backend: any WorkQueueBackend

    package init(store: any StateStore, name: String = "runner") {
        self.store = store
        self.name = name
        if let native = store as? any WorkQueueProviding {
            backend = native.workQueueBackend(name: name)
        } else {
            backend = StoreWorkQueue(store: store, name: name)
        }
    }

    /// Checks a step name: it names a lane (a key segment, a Redis key part).
    package static func validate(step: String) throws {
        guard let first = step.unicodeScalars.first, ("a"..."z").contains(first), step.count <= 100,
            step.unicodeScalars.allSatisfy({ ("a"..."z").contains($0) || ("0"..."9").contains($0) || $0 == "-" })
        else {
            throw ConnectorError(
                .configInvalid, "\(step.prefix(100).debugDescription) is no step name (lowercase letters, digits, -)")
        }
    }

    @discardableResult
    package func enqueue(_ item: WorkItem) async throws -> WorkItem {
        try Self.validate(step: item.function)
        return try await backend.enqueue(item)
    }

    @discardableResult
    package func enqueue(contentsOf items: [WorkItem]) async throws -> [WorkItem] {
        for item in items { try Self.validate(step: item.function) }
        switch items.count {
        case 0: return []
        case 1: return [try await backend.enqueue(items[0])]
        default: return try await backend.enqueue(contentsOf: items)
        }
    }

    /// The quarantine of callers that name none: an undecodable entry is an error.
    package static let refuseUndecodable: QueueQuarantine = { location, _, _ in
        throw ConnectorError(.stateCorrupt, "undecodable queue entry \(location)")
    }

    package func claim(
        step: String, consumer: String, limit: Int, visibility: Duration,
        quarantine: @escaping QueueQuarantine = WorkQueue.refuseUndecodable
    ) async throws -> [QueueClaim] {
        guard limit > 0 else { return [] }
        try Self.validate(step: step)
        return try await backend.claim(
            step: step, consumer: consumer, limit: limit, visibility: visibility, quarantine: quarantine)
    }

    /// How deep a fair claim looks past the oldest item by default.
    package static let balanceWindow = 256

    /// A claim fair across connections (see `WorkQueueBackend.claim(…inFlight:window:…)`); oldest first on a
    /// backend that cannot pick out of order.
    package func claim(
        step: String, consumer: String, limit: Int, visibility: Duration, inFlight: [String: Int],
        window: Int = WorkQueue.balanceWindow, quarantine: @escaping QueueQuarantine = WorkQueue.refuseUndecodable
    ) async throws -> [QueueClaim] {
        guard limit > 0 else { return [] }
        try Self.validate(step: step)
        return try await backend.claim(
            step: step, consumer: consumer, limit: limit, visibility: visibility, inFlight: inFlight,
            window: max(window, limit), quarantine: quarantine)
    }

    package var balancesConnections: Bool { backend.balancesConnections }

    @discardableResult
    package func ack(_ claim: QueueClaim) async throws -> Bool { try await backend.ack(claim) }

    /// Queues what a step emitted and acks its claim (one round trip where the backend can); false: the delivery
    /// was superseded (the items are queued all the same).
    @discardableResult
    package func complete(_ claim: QueueClaim, enqueueing items: [WorkItem]) async throws -> (
        items: [WorkItem], acked: Bool
    ) {
        for item in items { try Self.validate(step: item.function) }
        return try await backend.complete(claim, enqueueing: items)
    }

    /// Puts the claimed item back for a later attempt as a new item (new id) carrying `event`.
    @discardableResult
    package func release(
        _ claim: QueueClaim, event: CloudEvent? = nil, notBefore: Date = Date(), waitingSince: Date? = nil
    ) async throws -> Bool {
        var next = claim.item
        next.id = UUID().uuidString.lowercased()
        next.queueKey = nil
        if let event { next.event = event }
        next.notBefore = notBefore
        next.waitingSince = waitingSince
        return try await backend.release(claim, as: next, notBefore: notBefore)
    }

    @discardableResult
    package func recover(consumer: String) async throws -> Int { try await backend.recover(consumer: consumer) }

    package func count(step: String? = nil) async throws -> Int { try await backend.count(step: step) }

    package func all(step: String? = nil) async throws -> [WorkItem] { try await backend.items(step: step) }

    @discardableResult
    package func remove(_ item: WorkItem) async throws -> Bool { try await backend.remove(item) }

    package func nextDue(step: String) async throws -> Date? { try await backend.nextDue(step: step) }

    package func promoteDue(step: String? = nil) async throws -> Int { try await backend.promoteDue(step: step) }

    /// The earliest `nextDue` over `steps`.
    package func nextDue(steps: [String]) async throws -> Date? {
        var earliest: Date?
        for step in steps {
            if let due = try await nextDue(step: step), earliest.map({ due < $0 }) ?? true { earliest = due }
        }
        return earliest
    }

    /// Moves items an older version left in the store (`queue/<name>/<millis>/<id>`, one lane for every step) into
    /// their steps' lanes; an entry that is no work item goes to `quarantine`. Returns how many moved.
    @discardableResult
    package func adoptLegacyItems(quarantine: QueueQuarantine) async throws -> Int {
        // Their keys start with the zero-padded time (a step name starts with a letter).
        let prefix = "queue/\(name)/0"
        var moved = 0
        for entry in try await store.scanAll(prefix: prefix) {
            do {
                var item = try JSONCoding.decodeParsingTrees(WorkItem.self, from: entry.value.data)
                try Self.validate(step: item.function)
                item.queueKey = nil
                try await backend.enqueue(item)
                moved += 1
            } catch {
                let reason =
                    (error as? DecodingError)?.safeDescription ?? ConnectorError.wrap(error).message
                try await quarantine(entry.key, entry.value.data, reason)
            }
            _ = try await store.delete(entry.key, expectedVersion: entry.value.version)
        }
        return moved
    }
}
