import Foundation

/// A time-limited exclusive right (single-flight token refresh, one runner per store), held in the store so it
/// works across processes. A holder that dies simply lets the lease expire.
package struct Lease: Sendable {
    package struct Holder: Sendable, Codable, Hashable {
        package var owner: String
        package var until: Date
    }

    package let store: any StateStore
    package let key: String
    package let owner: String

    package init(store: any StateStore, key: String, owner: String) {
        self.store = store
        self.key = key
        self.owner = owner
    }

    /// Takes the lease for `ttl`, or renews it when this owner already holds it. Returns false when someone else
    /// holds it.
    package func acquire(ttl: Duration, now: Date) async throws -> Bool {
        let holder = Holder(owner: owner, until: now.addingTimeInterval(ttl.timeInterval))
        if try await store.putIfAbsent(key, json: holder, ttl: ttl) != nil { return true }
        guard let current = try await store.get(key, as: Holder.self) else {
            return try await store.putIfAbsent(key, json: holder, ttl: ttl) != nil
        }
        guard current.value.owner == owner else { return false }
        return try await store.compareAndSwap(key, expectedVersion: current.version, json: holder, ttl: ttl) != nil
    }

    /// Gives the lease back if this owner still holds it.
    package func release() async throws {
        guard let current = try await store.get(key, as: Holder.self), current.value.owner == owner else { return }
        _ = try await store.delete(key, expectedVersion: current.version)
    }
}

/// A request budget shared by every process of a connection (fixed windows counted in the store), so concurrent
/// steps together stay under an ERP tenant's limit.
package struct RateLimiter: Sendable {
    package let store: any StateStore
    package let key: String
    package let limit: Int
    package let window: Duration

    package init(store: any StateStore, key: String, limit: Int, window: Duration) {
        self.store = store
        self.key = key
        self.limit = max(1, limit)
        self.window = window
    }

    /// Takes one request from the budget. Returns how long to wait first (zero when there is room now).
    package func acquire(now: Date) async throws -> Duration {
        let windowSeconds = max(window.timeInterval, 0.001)
        let nowSeconds = now.timeIntervalSince1970
        let index = Int64((nowSeconds / windowSeconds).rounded(.down))
        let count = try await store.increment("\(key)/\(index)", by: 1, ttl: window * 2)
        if count <= Int64(limit) { return .zero }
        // Over budget in this window: wait for a window with room. Each later window is shared the same way.
        let overflowWindows = (count - 1) / Int64(limit)
        let nextStart = Double(index + overflowWindows) * windowSeconds
        let wait = max(0, nextStart - nowSeconds)
        return .milliseconds(Int64((wait * 1000).rounded(.up)))
    }
}
