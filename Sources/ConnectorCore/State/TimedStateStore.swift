import Foundation
import Synchronization

/// The store operations of one process, each with its start and end on the monotonic clock: what `MLC_TIMINGS`
/// reports (`local-runner bench` reads it to say where a step's time goes and how many store round trips an invoice
/// costs). One call is one operation of the store's API; on SQLite one transaction, on Redis and PostgreSQL one
/// round trip except where a backend's native queue operation takes several.
package final class StoreCallLog: Sendable {
    package struct Call: Sendable, Codable, Hashable {
        package var op: String
        package var startNs: UInt64
        package var endNs: UInt64
    }

    private let calls = Mutex<[Call]>([])

    package init() {}

    package func timed<T>(_ op: String, _ body: () async throws -> T) async rethrows -> T {
        let start = MonotonicClock.nanoseconds()
        defer {
            let call = Call(op: op, startNs: start, endNs: MonotonicClock.nanoseconds())
            calls.withLock { $0.append(call) }
        }
        return try await body()
    }

    package var all: [Call] { calls.withLock { $0 } }

    /// Calls and total milliseconds by operation.
    package var summary: [String: Totals] {
        var result: [String: Totals] = [:]
        for call in all {
            result[call.op, default: Totals()].count += 1
            result[call.op, default: Totals()].ms += Double(call.endNs &- call.startNs) / 1e6
        }
        return result
    }

    package struct Totals: Sendable, Codable, Hashable {
        package var count = 0
        package var ms = 0.0
    }
}

/// A store that forwards every operation to `base` and logs it in `log`. Transparent: a base with a native work
/// queue or rate limiter keeps them (their operations are logged too); a base without runs the generic ones over
/// this wrapper, exactly as it would over the base. A backend protocol added later must be forwarded here as well.
package struct TimedStateStore: StateStore, WorkQueueProviding, RateLimiterProviding {
    package let base: any StateStore
    package let log: StoreCallLog

    package init(base: any StateStore, log: StoreCallLog) {
        self.base = base
        self.log = log
    }

    package func get(_ key: String) async throws -> StoredValue? {
        try await log.timed("get") { try await base.get(key) }
    }

    package func getMany(_ keys: [String]) async throws -> [StoredValue?] {
        try await log.timed("getMany") { try await base.getMany(keys) }
    }

    package func commit(_ writes: [StoreWrite]) async throws -> [Int64]? {
        try await log.timed("commit") { try await base.commit(writes) }
    }

    @discardableResult
    package func put(_ key: String, _ value: Data, ttl: Duration?) async throws -> Int64 {
        try await log.timed("put") { try await base.put(key, value, ttl: ttl) }
    }

    package func putIfAbsent(_ key: String, _ value: Data, ttl: Duration?) async throws -> Int64? {
        try await log.timed("putIfAbsent") { try await base.putIfAbsent(key, value, ttl: ttl) }
    }

    package func compareAndSwap(_ key: String, expectedVersion: Int64, newValue: Data, ttl: Duration?) async throws
        -> Int64?
    {
        try await log.timed("compareAndSwap") {
            try await base.compareAndSwap(key, expectedVersion: expectedVersion, newValue: newValue, ttl: ttl)
        }
    }

    @discardableResult
    package func delete(_ key: String) async throws -> Bool {
        try await log.timed("delete") { try await base.delete(key) }
    }

    package func delete(_ key: String, expectedVersion: Int64) async throws -> Bool {
        try await log.timed("delete") { try await base.delete(key, expectedVersion: expectedVersion) }
    }

    package func increment(_ key: String, by delta: Int64, ttl: Duration?) async throws -> Int64 {
        try await log.timed("increment") { try await base.increment(key, by: delta, ttl: ttl) }
    }

    package func scan(prefix: String, after: String?, limit: Int) async throws -> [StoredEntry] {
        try await log.timed("scan") { try await base.scan(prefix: prefix, after: after, limit: limit) }
    }

    package func putAll(_ items: [(key: String, value: Data, ttl: Duration?)]) async throws {
        try await log.timed("putAll") { try await base.putAll(items) }
    }

    package func purgeExpired(limit: Int) async throws -> Int {
        try await log.timed("purgeExpired") { try await base.purgeExpired(limit: limit) }
    }

    package func close() async throws {
        try await log.timed("close") { try await base.close() }
    }

    package func workQueueBackend(name: String) -> any WorkQueueBackend {
        if let native = base as? any WorkQueueProviding {
            return CountingWorkQueueBackend(base: native.workQueueBackend(name: name), log: log)
        }
        return StoreWorkQueue(store: self, name: name)
    }

    package var nativeRateLimiter: (any RateLimiterProviding)? { base.nativeRateLimiter == nil ? nil : self }

    package func reserveRateSlot(_ budget: RateBudget, now: Double, maxWait: Double) async throws -> RateReservation? {
        guard let provider = base.nativeRateLimiter else { return nil }
        return try await log.timed("reserveRateSlot") {
            try await provider.reserveRateSlot(budget, now: now, maxWait: maxWait)
        }
    }

    package func penalizeRate(_ budget: RateBudget, now: Double, retryAfter: Double?) async throws -> Double? {
        guard let provider = base.nativeRateLimiter else { return nil }
        return try await log.timed("penalizeRate") {
            try await provider.penalizeRate(budget, now: now, retryAfter: retryAfter)
        }
    }
}

/// A native work queue whose operations are logged (see `TimedStateStore`).
struct CountingWorkQueueBackend: WorkQueueBackend {
    let base: any WorkQueueBackend
    let log: StoreCallLog

    func enqueue(_ item: WorkItem) async throws -> WorkItem {
        try await log.timed("queue.enqueue") { try await base.enqueue(item) }
    }

    func enqueue(contentsOf items: [WorkItem]) async throws -> [WorkItem] {
        try await log.timed("queue.enqueueMany") { try await base.enqueue(contentsOf: items) }
    }

    func claim(step: String, consumer: String, limit: Int, visibility: Duration, quarantine: QueueQuarantine)
        async throws -> [QueueClaim]
    {
        try await log.timed("queue.claim") {
            try await base.claim(
                step: step, consumer: consumer, limit: limit, visibility: visibility, quarantine: quarantine)
        }
    }

    func claim(
        step: String, consumer: String, limit: Int, visibility: Duration, inFlight: [String: Int], window: Int,
        quarantine: QueueQuarantine
    ) async throws -> [QueueClaim] {
        try await log.timed("queue.claim") {
            try await base.claim(
                step: step, consumer: consumer, limit: limit, visibility: visibility, inFlight: inFlight,
                window: window, quarantine: quarantine)
        }
    }

    var balancesConnections: Bool { base.balancesConnections }

    func ack(_ claim: QueueClaim) async throws -> Bool {
        try await log.timed("queue.ack") { try await base.ack(claim) }
    }

    func complete(_ claim: QueueClaim, enqueueing items: [WorkItem]) async throws -> (items: [WorkItem], acked: Bool) {
        try await log.timed("queue.complete") { try await base.complete(claim, enqueueing: items) }
    }

    func release(_ claim: QueueClaim, as item: WorkItem, notBefore: Date) async throws -> Bool {
        try await log.timed("queue.release") { try await base.release(claim, as: item, notBefore: notBefore) }
    }

    func recover(consumer: String) async throws -> Int {
        try await log.timed("queue.recover") { try await base.recover(consumer: consumer) }
    }

    func count(step: String?) async throws -> Int {
        try await log.timed("queue.count") { try await base.count(step: step) }
    }

    func items(step: String?) async throws -> [WorkItem] {
        try await log.timed("queue.items") { try await base.items(step: step) }
    }

    func remove(_ item: WorkItem) async throws -> Bool {
        try await log.timed("queue.remove") { try await base.remove(item) }
    }

    func nextDue(step: String) async throws -> Date? {
        try await log.timed("queue.nextDue") { try await base.nextDue(step: step) }
    }

    func promoteDue(step: String?) async throws -> Int {
        try await log.timed("queue.promoteDue") { try await base.promoteDue(step: step) }
    }
}
