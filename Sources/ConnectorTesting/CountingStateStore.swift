import ConnectorCore
import Foundation
import Synchronization

/// A `StateStore` that forwards to another and counts the operations it was asked for, by name. On the network
/// backends every operation is one round trip (a `scanAll` is one per page, and is counted as such through
/// `scan`), on SQLite one transaction, so the counts are the store round trips a piece of code makes. The native
/// rate limiter of the store inside stays in use (one counted operation each).
package final class CountingStateStore: StateStore, RateLimiterProviding {
    package let inner: any StateStore
    private let counts = Mutex<[String: Int]>([:])

    package init(_ inner: any StateStore) {
        self.inner = inner
    }

    /// Operations so far, by name (`get`, `getMany`, `put`, `commit`, …).
    package var byOperation: [String: Int] { counts.withLock { $0 } }
    /// All operations so far.
    package var total: Int { counts.withLock { $0.values.reduce(0, +) } }

    package func reset() { counts.withLock { $0 = [:] } }

    private func count(_ name: String) { counts.withLock { $0[name, default: 0] += 1 } }

    package func get(_ key: String) async throws -> StoredValue? {
        count("get")
        return try await inner.get(key)
    }

    package func getMany(_ keys: [String]) async throws -> [StoredValue?] {
        count("getMany")
        return try await inner.getMany(keys)
    }

    package func put(_ key: String, _ value: Data, ttl: Duration?) async throws -> Int64 {
        count("put")
        return try await inner.put(key, value, ttl: ttl)
    }

    package func putIfAbsent(_ key: String, _ value: Data, ttl: Duration?) async throws -> Int64? {
        count("putIfAbsent")
        return try await inner.putIfAbsent(key, value, ttl: ttl)
    }

    package func compareAndSwap(_ key: String, expectedVersion: Int64, newValue: Data, ttl: Duration?) async throws
        -> Int64?
    {
        count("compareAndSwap")
        return try await inner.compareAndSwap(key, expectedVersion: expectedVersion, newValue: newValue, ttl: ttl)
    }

    package func delete(_ key: String) async throws -> Bool {
        count("delete")
        return try await inner.delete(key)
    }

    package func delete(_ key: String, expectedVersion: Int64) async throws -> Bool {
        count("deleteIf")
        return try await inner.delete(key, expectedVersion: expectedVersion)
    }

    package func increment(_ key: String, by delta: Int64, ttl: Duration?) async throws -> Int64 {
        count("increment")
        return try await inner.increment(key, by: delta, ttl: ttl)
    }

    package func scan(prefix: String, after: String?, limit: Int) async throws -> [StoredEntry] {
        count("scan")
        return try await inner.scan(prefix: prefix, after: after, limit: limit)
    }

    package func putAll(_ items: [(key: String, value: Data, ttl: Duration?)]) async throws {
        count("putAll")
        try await inner.putAll(items)
    }

    package func commit(_ writes: [StoreWrite]) async throws -> [Int64]? {
        count("commit")
        return try await inner.commit(writes)
    }

    package func purgeExpired(limit: Int) async throws -> Int {
        count("purgeExpired")
        return try await inner.purgeExpired(limit: limit)
    }

    package func close() async throws {
        try await inner.close()
    }

    package var nativeRateLimiter: (any RateLimiterProviding)? { inner.nativeRateLimiter == nil ? nil : self }

    package func reserveRateSlot(_ budget: RateBudget, now: Double, maxWait: Double) async throws -> RateReservation? {
        guard let native = inner.nativeRateLimiter else { return nil }
        count("rateLimiter")
        return try await native.reserveRateSlot(budget, now: now, maxWait: maxWait)
    }

    package func penalizeRate(_ budget: RateBudget, now: Double, retryAfter: Double?) async throws -> Double? {
        guard let native = inner.nativeRateLimiter else { return nil }
        count("rateLimiter")
        return try await native.penalizeRate(budget, now: now, retryAfter: retryAfter)
    }
}
