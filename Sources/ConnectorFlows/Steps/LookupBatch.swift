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

    /// The ERP's documents for a freshly claimed invoice: a batch result when one is ready (consumed), else one
    /// batch lookup of this key and the pending ones, else (another writer is on it and did not answer in time, or
    /// its batch failed) the single lookup.
    package func documents(for invoice: MappedInvoice, erp: any ERPConnector) async throws -> [ERPDocumentRef] {
        let key = Self.naturalKey(invoice)
        if let found = try await consume(key) { return found }
        let own = try await store.get(pendingKey(key), as: Pending.self)
        if let own, let taken = own.value.takenAt, clock.now().timeIntervalSince(taken) < Self.takenTimeout {
            // Another writer's batch includes this key: wait for its answer.
            // Real time: the other writer works in real time whatever clock this step is given.
            let deadline = ContinuousClock.now + Self.waitForOthers
            while ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(50))
                if let found = try await consume(key) { return found }
            }
            return try await single(key, erp: erp)
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
            // The orders the batch names are read in the same request (BC: one `$batch`).
            let numbers =
                erp.capabilities.matchesPurchaseOrders
                ? Array(Set(batch.flatMap(\.poNumbers).filter { !$0.isEmpty })).sorted() : []
            let read = try await erp.lookUp(keys: batch.map(\.key), purchaseOrderNumbers: numbers)
            let found = read.invoices
            _ = try await remember(numbers, read.orders)
            let now = clock.now()
            var items: [(key: String, value: Data, ttl: Duration?)] = []
            for pending in batch where pending.key != key {
                let result = Found(documents: found[pending.key] ?? [], lookedUpAt: now)
                items.append((resultKey(pending.key), try JSONCoding.encode(result), Self.resultTTL))
            }
            try await store.putAll(items)
            for pending in batch { _ = try await store.delete(pendingKey(pending.key)) }
            return found[key] ?? []
        } catch {
            // Give the others back (they look up alone after their wait), and answer this one alone.
            for pending in batch where pending.key != key {
                var free = pending
                free.takenAt = nil
                _ = try? await store.put(pendingKey(pending.key), json: free, ttl: Self.pendingTTL)
            }
            return try await single(key, erp: erp)
        }
    }

    /// Pending keys no live writer has taken, marked as taken by this one (compare-and-swap, so each key is in one
    /// batch only).
    private func takeOthers(excluding own: InvoiceNaturalKey) async throws -> [Pending] {
        let now = clock.now()
        var taken: [Pending] = []
        var after: String?
        while taken.count < Self.maxBatch - 1 {
            let page = try await store.scan(prefix: keys.prefix("lookup", "pending"), after: after, limit: 200)
            for entry in page {
                guard taken.count < Self.maxBatch - 1,
                    var pending = try? JSONCoding.decode(Pending.self, from: entry.value.data), pending.key != own
                else { continue }
                if let at = pending.takenAt, now.timeIntervalSince(at) < Self.takenTimeout { continue }
                pending.takenAt = now
                if try await store.compareAndSwap(
                    entry.key, expectedVersion: entry.value.version, json: pending, ttl: Self.pendingTTL) != nil
                {
                    taken.append(pending)
                }
            }
            guard page.count == 200, let last = page.last else { break }
            after = last.key
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
        let now = clock.now()
        var result: [String: ERPPurchaseOrder?] = [:]
        var items: [(key: String, value: Data, ttl: Duration?)] = []
        for number in numbers {
            let matches = read.filter { $0.sourceNumber == number }
            let order = matches.first { $0.open } ?? matches.first
            result[number] = .some(order)
            items.append(
                (orderKey(number), try JSONCoding.encode(Order(order: order, lookedUpAt: now)), Self.resultTTL))
        }
        if !items.isEmpty { try await store.putAll(items) }
        return result
    }
}
