import ConnectorCore
import Foundation

/// The write step's request budget (issue 9: at most 1.05 ERP requests per written invoice on a steady flow).
///
/// DESIGN §8 asks the ERP by natural key before every create. Asked one invoice at a time that is a second request
/// per invoice; asked for a page at once it is one request per page. So:
///
/// - `transform-invoice` registers each mapped invoice's natural key (and PO numbers) as *pending*, short-lived.
/// - `write-erp-invoice`, for a FRESHLY acquired claim only, uses a recent batch result for its key when there is
///   one (and consumes it), else takes its own key plus the pending ones not taken by another writer and asks the
///   ERP for all of them at once (`findInvoices(keys:)`, the purchase orders they name too), storing each result
///   for its writer for `resultTTL`.
/// - A claim taken over (`claimed` by a stopped owner, `requestSent`, settling), and anything this path cannot
///   answer, looks up per invoice as before: a batch result is never trusted for a write that may already have
///   happened.
///
/// - A writer that found its result ready looks ahead, alongside its own create: when at least `lookaheadMinimum`
///   pending keys are not taken and fewer than `lookaheadLowWater` answers are left (or, with the answers nearly
///   gone, at least `lookaheadUrgentMinimum` keys and fewer than `lookaheadUrgentLowWater` answers), it takes them
///   and asks for them then. Without that, a batch is only taken when a
///   writer finds no result, and every writer whose key is in it waits one ERP round trip with nothing sent: a
///   stall per batch, of the ERP's latency, in which the request budget goes unused.
///
/// A batch result is at most `resultTTL` old when used; the claim on the record is held from before the result is
/// read until the create, so no other delivery of the same invoice writes in between (DESIGN §8's check-then-write,
/// with the check moved a few seconds earlier for a document no delivery of ours has sent).
package struct LookupBatch: Sendable {
    package let store: any StateStore
    package let keys: StateKeys
    package let clock: any WallClock

    /// How long a registered key waits for its write.
    package static let pendingTTL: Duration = .seconds(900)
    /// How long a batch result may be used.
    package static let resultTTL: Duration = .seconds(60)
    /// Most keys looked up together (the ERP client splits them further into reads within its URL limits).
    package static let maxBatch = 100
    /// How long a writer whose key another writer is looking up waits for that result before asking alone.
    package static let waitForOthers: Duration = .seconds(3)
    /// A taken key whose taker has not stored results after this is taken again (the taker stopped).
    package static let takenTimeout: TimeInterval = 30
    /// A look-ahead asks for the untaken keys once at least 20 are waiting (a batch that keeps lookups within 0.05
    /// requests per invoice) and fewer than 10 answers are left for the writers (stored, or being asked for by
    /// another writer): late enough that the batch is large, early enough that the writers do not run out while it
    /// is asked for.
    package static let lookaheadMinimum = 20
    package static let lookaheadLowWater = 10
    /// Fewer keys are asked for ahead only when the writers are about to run out: with fewer than 4 answers left
    /// (about one lookup's round trip of creates at the ERP's pace) a batch of at least 4 untaken keys is asked for
    /// rather than stopping every writer behind for one round trip when the last answer is used. That happens as a
    /// flow fills and as it drains, where keys arrive too slowly for a batch of 20.
    package static let lookaheadUrgentMinimum = 4
    package static let lookaheadUrgentLowWater = 4

    package init(store: any StateStore, keys: StateKeys, clock: any WallClock) {
        self.store = store
        self.keys = keys
        self.clock = clock
    }

    struct Pending: Codable, Sendable {
        var key: InvoiceNaturalKey
        var poNumbers: [String]
        var registeredAt: Date
        var takenAt: Date?
    }

    struct Found: Codable, Sendable {
        var documents: [ERPDocumentRef]
        var lookedUpAt: Date
    }

    struct Order: Codable, Sendable {
        /// Nil: the ERP has no purchase order of that number.
        var order: ERPPurchaseOrder?
        var lookedUpAt: Date
    }

    func pendingKey(_ key: InvoiceNaturalKey) -> String { keys.key("lookup", "pending", key.description) }
    func resultKey(_ key: InvoiceNaturalKey) -> String { keys.key("lookup", "result", key.description) }
    func orderKey(_ number: String) -> String { keys.key("lookup", "po", number) }

    /// Called by `transform-invoice` for every mapped invoice.
    package func register(_ invoice: MappedInvoice) async throws {
        let pending = Pending(
            key: Self.naturalKey(invoice), poNumbers: invoice.poNumbers, registeredAt: clock.now(), takenAt: nil)
        try await store.put(pendingKey(pending.key), json: pending, ttl: Self.pendingTTL)
    }

    package static func naturalKey(_ invoice: MappedInvoice) -> InvoiceNaturalKey {
        InvoiceNaturalKey(vendorNumber: invoice.vendorNumber, vendorInvoiceNumber: invoice.vendorInvoiceNumber)
    }

    /// What a freshly claimed invoice's lookup found, and whether the answer was ready (another writer's batch).
    package struct Lookup: Sendable {
        package var documents: [ERPDocumentRef]
        /// Taken from another writer's batch: this writer sent no lookup, so it may look ahead (`lookAhead`).
        package var ready: Bool
    }

    /// The ERP's documents for a freshly claimed invoice: a batch result when one is ready (consumed), else one
    /// batch lookup of this key and the pending ones, else (another writer is on it and did not answer in time, or
    /// its batch failed) the single lookup.
    package func documents(for invoice: MappedInvoice, erp: any ERPConnector) async throws -> Lookup {
        let key = Self.naturalKey(invoice)
        if let found = try await consume(key) { return Lookup(documents: found, ready: true) }
        let own = try await store.get(pendingKey(key), as: Pending.self)
        if let own, let taken = own.value.takenAt, clock.now().timeIntervalSince(taken) < Self.takenTimeout {
            // Another writer's batch includes this key: wait for its answer, which usually comes one ERP round trip
            // after it was taken. Looked for every 10 ms for a second (each look is one read), then every 50 ms.
            // Real time: the other writer works in real time whatever clock this step is given.
            let start = ContinuousClock.now
            let deadline = start + Self.waitForOthers
            while ContinuousClock.now < deadline {
                try await Task.sleep(
                    for: ContinuousClock.now - start < .seconds(1) ? .milliseconds(10) : .milliseconds(50))
                if let found = try await consume(key) { return Lookup(documents: found, ready: true) }
            }
            return Lookup(documents: try await single(key, erp: erp), ready: false)
        }
        var batch: [Pending] = [
            own?.value ?? Pending(key: key, poNumbers: invoice.poNumbers, registeredAt: clock.now(), takenAt: nil)
        ]
        if let own {
            var mine = own.value
            mine.takenAt = clock.now()
            if try await store.compareAndSwap(
                pendingKey(key), expectedVersion: own.version, json: mine, ttl: Self.pendingTTL) == nil
            {
                // Taken a moment ago by another writer.
                return try await documents(for: invoice, erp: erp)
            }
        }
        batch += try await takeOthers(excluding: key)
        do {
            let found = try await lookUp(batch, answering: key, erp: erp)
            return Lookup(documents: found[key] ?? [], ready: false)
        } catch {
            // Give the others back (they look up alone after their wait), and answer this one alone.
            await giveBack(batch.filter { $0.key != key })
            return Lookup(documents: try await single(key, erp: erp), ready: false)
        }
    }

    /// Called by a writer whose result was ready, alongside its create: when at least `lookaheadMinimum` pending keys
    /// are not taken by any writer and fewer than `lookaheadLowWater` answers are left (or at least
    /// `lookaheadUrgentMinimum` keys and fewer than `lookaheadUrgentLowWater` answers), takes them and looks them up
    /// now, so their writers find their results ready instead of waiting for a batch taken when they arrive. A failed
    /// lookup gives the keys back (their writers then look them up as before) and is thrown for the caller to report.
    package func lookAhead(excluding own: InvoiceNaturalKey, erp: any ERPConnector) async throws {
        let batch = try await takeOthers(excluding: own) { free, beingAsked in
            let lowWater = free >= Self.lookaheadMinimum ? Self.lookaheadLowWater : Self.lookaheadUrgentLowWater
            guard free >= Self.lookaheadUrgentMinimum, beingAsked < lowWater else { return false }
            let stored = try await store.scan(prefix: keys.prefix("lookup", "result"), after: nil, limit: lowWater)
            return beingAsked + stored.count < lowWater
        }
        guard !batch.isEmpty else { return }
        do {
            _ = try await lookUp(batch, answering: nil, erp: erp)
        } catch {
            await giveBack(batch)
            throw error
        }
    }

    /// One request for `batch` (the orders it names with it, where the ERP reads them in the same request): each
    /// key's result is stored for its writer (but `answering`'s, returned to the caller), and the keys are no
    /// longer pending.
    private func lookUp(_ batch: [Pending], answering: InvoiceNaturalKey?, erp: any ERPConnector) async throws
        -> [InvoiceNaturalKey: [ERPDocumentRef]]
    {
        // The orders the batch names are read in the same request (BC: one `$batch`).
        let numbers =
            erp.capabilities.matchesPurchaseOrders
            ? Array(Set(batch.flatMap(\.poNumbers).filter { !$0.isEmpty })).sorted() : []
        let read = try await erp.lookUp(keys: batch.map(\.key), purchaseOrderNumbers: numbers)
        let found = read.invoices
        // The orders, the answers and the pending keys' removal in one commit (one transaction on SQLite, where
        // each commit waits for the store's one write lock), not one per key.
        var writes = try orderWrites(numbers, read.orders).writes
        let now = clock.now()
        for pending in batch where pending.key != answering {
            let result = Found(documents: found[pending.key] ?? [], lookedUpAt: now)
            writes.append(.put(resultKey(pending.key), try JSONCoding.encode(result), ttl: Self.resultTTL))
        }
        writes += batch.map { .delete(pendingKey($0.key)) }
        _ = try await store.commit(writes)
        return found
    }

    /// Marks keys untaken again after their batch failed.
    private func giveBack(_ batch: [Pending]) async {
        for pending in batch {
            var free = pending
            free.takenAt = nil
            _ = try? await store.put(pendingKey(pending.key), json: free, ttl: Self.pendingTTL)
        }
    }

    /// Pending keys no live writer has taken, marked as taken by this one (compare-and-swap, so each key is in one
    /// batch only); none when `worthIt(free, beingAsked)` says no (`beingAsked`: keys another writer is asking for).
    private func takeOthers(
        excluding own: InvoiceNaturalKey, worthIt: (Int, Int) async throws -> Bool = { _, _ in true }
    ) async throws -> [Pending] {
        let now = clock.now()
        var free: [(key: String, version: Int64, pending: Pending)] = []
        var beingAsked = 0
        var after: String?
        scanning: while true {
            let page = try await store.scan(prefix: keys.prefix("lookup", "pending"), after: after, limit: 200)
            for entry in page {
                guard var pending = try? JSONCoding.decode(Pending.self, from: entry.value.data), pending.key != own
                else { continue }
                if let at = pending.takenAt, now.timeIntervalSince(at) < Self.takenTimeout {
                    beingAsked += 1
                    continue
                }
                pending.takenAt = now
                free.append((entry.key, entry.value.version, pending))
                if free.count >= Self.maxBatch - 1 { break scanning }
            }
            guard page.count == 200, let last = page.last else { break }
            after = last.key
        }
        guard !free.isEmpty, try await worthIt(free.count, beingAsked) else { return [] }
        // All in one commit when no other writer took one of them meanwhile (the usual case); else one by one.
        let all = try free.map {
            StoreWrite.compareAndSwap(
                $0.key, expectedVersion: $0.version, try JSONCoding.encode($0.pending), ttl: Self.pendingTTL)
        }
        if try await store.commit(all) != nil { return free.map(\.pending) }
        var taken: [Pending] = []
        for candidate in free {
            if try await store.compareAndSwap(
                candidate.key, expectedVersion: candidate.version, json: candidate.pending, ttl: Self.pendingTTL)
                != nil
            {
                taken.append(candidate.pending)
            }
        }
        return taken
    }

    private func consume(_ key: InvoiceNaturalKey) async throws -> [ERPDocumentRef]? {
        guard let stored = try await store.get(resultKey(key), as: Found.self) else { return nil }
        guard try await store.delete(resultKey(key), expectedVersion: stored.version) else { return nil }
        guard clock.now().timeIntervalSince(stored.value.lookedUpAt) <= Self.resultTTL.timeInterval else { return nil }
        return stored.value.documents
    }

    private func single(_ key: InvoiceNaturalKey, erp: any ERPConnector) async throws -> [ERPDocumentRef] {
        try await erp.findInvoices(vendorNumber: key.vendorNumber, vendorInvoiceNumber: key.vendorInvoiceNumber)
    }

    /// Forgets any batch result for a key (after its document is recorded, so no stale "not found" outlives it).
    package func forget(_ key: InvoiceNaturalKey) async throws {
        _ = try await store.delete(resultKey(key))
    }

    /// The ERP's purchase orders for these numbers: recent reads from the store, the rest in one read. A number
    /// maps to nil when the ERP has no such order.
    package func orders(_ numbers: [String], erp: any ERPConnector) async throws -> [String: ERPPurchaseOrder?] {
        var result: [String: ERPPurchaseOrder?] = [:]
        var missing: [String] = []
        let now = clock.now()
        for number in Set(numbers.filter { !$0.isEmpty }) {
            if let cached = try await store.get(orderKey(number), as: Order.self),
                now.timeIntervalSince(cached.value.lookedUpAt) <= Self.resultTTL.timeInterval
            {
                result[number] = .some(cached.value.order)
            } else {
                missing.append(number)
            }
        }
        guard !missing.isEmpty else { return result }
        let read = try await erp.purchaseOrders(numbers: missing.sorted())
        for (number, order) in try await remember(missing, read) { result[number] = .some(order) }
        return result
    }

    /// Keeps what a read found for each number asked (nil: not in the ERP) for `resultTTL`.
    private func remember(_ numbers: [String], _ read: [ERPPurchaseOrder]) async throws -> [String: ERPPurchaseOrder?] {
        let (result, writes) = try orderWrites(numbers, read)
        if !writes.isEmpty { _ = try await store.commit(writes) }
        return result
    }

    /// What a read found for each number asked (nil: not in the ERP), and the writes that keep it for `resultTTL`.
    private func orderWrites(_ numbers: [String], _ read: [ERPPurchaseOrder]) throws -> (
        orders: [String: ERPPurchaseOrder?], writes: [StoreWrite]
    ) {
        let now = clock.now()
        var result: [String: ERPPurchaseOrder?] = [:]
        var writes: [StoreWrite] = []
        for number in numbers {
            let matches = read.filter { $0.sourceNumber == number }
            let order = matches.first { $0.open } ?? matches.first
            result[number] = .some(order)
            writes.append(
                .put(orderKey(number), try JSONCoding.encode(Order(order: order, lookedUpAt: now)), ttl: Self.resultTTL)
            )
        }
        return (result, writes)
    }
}
