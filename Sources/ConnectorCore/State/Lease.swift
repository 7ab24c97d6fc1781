import Foundation

/// A time-limited exclusive right (single-flight token refresh, one runner per store), held in the store so it
/// works across processes. A holder that dies simply lets the lease expire.
package struct Lease: Sendable {
    package struct Holder: Sendable, Codable, Hashable {
        package var owner: String
        package var until: Date
        /// Where the holder runs, so a restarted process on the same host can tell that the holder is gone.
        package var host: String?
        package var pid: Int32?
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
        let holder = Holder(
            owner: owner,
            until: now.addingTimeInterval(ttl.timeInterval),
            host: ProcessLiveness.host,
            pid: ProcessLiveness.pid
        )
        if try await store.putIfAbsent(key, json: holder, ttl: ttl) != nil { return true }
        guard let current = try await store.get(key, as: Holder.self) else {
            return try await store.putIfAbsent(key, json: holder, ttl: ttl) != nil
        }
        guard current.value.owner == owner else { return false }
        return try await store.compareAndSwap(key, expectedVersion: current.version, json: holder, ttl: ttl) != nil
    }

    /// Takes the lease even from a holder that `isGone` says has stopped (e.g. a crashed process on this host),
    /// instead of waiting for its lease to run out.
    package func acquire(ttl: Duration, now: Date, breakingIf isGone: (Holder) -> Bool) async throws -> Bool {
        if try await acquire(ttl: ttl, now: now) { return true }
        guard let current = try await store.get(key, as: Holder.self), isGone(current.value) else { return false }
        guard try await store.delete(key, expectedVersion: current.version) else { return false }
        return try await acquire(ttl: ttl, now: now)
    }

    /// Gives the lease back if this owner still holds it.
    package func release() async throws {
        guard let current = try await store.get(key, as: Holder.self), current.value.owner == owner else { return }
        _ = try await store.delete(key, expectedVersion: current.version)
    }
}

/// A request budget shared by every process of a connection, so concurrent steps together stay under an ERP
/// tenant's limit. It paces requests (GCRA: one "theoretical arrival time" per budget, moved with
/// compare-and-swap), so no sliding window of `window` ever holds more than `limit` requests, across windows'
/// edges too. Each caller reserves its slot before it waits, so waiting processes are served in order.
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

    /// Seconds between two requests.
    package var interval: Double { max(window.timeInterval, 0.000_001) / Double(limit) }

    /// Reserves the next slot and returns how long to wait for it (zero when it is free now). When the wait
    /// would exceed `maxWait`, nothing is reserved and the wait is returned as a temporary failure with `retryAt`.
    package func acquire(now: Date, maxWait: Duration = .seconds(3600)) async throws -> Duration {
        let nowSeconds = now.timeIntervalSince1970
        for _ in 0..<100 {
            let current = try await store.get(key)
            let stored = current.flatMap { Double(String(decoding: $0.data, as: UTF8.self)) } ?? nowSeconds
            let slot = max(stored, nowSeconds)
            let wait = slot - nowSeconds
            if wait > maxWait.timeInterval {
                throw ConnectorError(
                    .httpRateLimited,
                    kind: .temporary,
                    "the shared request budget is used up; next slot in \(Int(wait.rounded(.up))) s",
                    retryAt: now.addingTimeInterval(wait)
                )
            }
            let next = Data(String(slot + interval).utf8)
            let ttl = Duration.milliseconds(Int64((wait + interval) * 1000) + 60_000)
            let written: Int64?
            if let current {
                written = try await store.compareAndSwap(
                    key, expectedVersion: current.version, newValue: next, ttl: ttl)
            } else {
                written = try await store.putIfAbsent(key, next, ttl: ttl)
            }
            if written != nil {
                return .milliseconds(Int64((wait * 1000).rounded(.up)))
            }
        }
        throw ConnectorError(.stateUnavailable, kind: .temporary, "too much contention on the rate limiter \(key)")
    }
}
