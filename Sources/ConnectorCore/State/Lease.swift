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
///
/// The configured limit is a ceiling, not a promise: the limit an ERP really enforces is often unknown (BC
/// on-premises, a sandbox, a licence tier) and its 429 may carry no `Retry-After`. The budget therefore learns it,
/// for every process at once (AIMD): each 429 any process sees halves the pace (at most once per two seconds, so
/// one burst of 429s counts once, and never below a 64th of the ceiling) and holds every caller back until the
/// `Retry-After` or a short cool-down; a 429 that names its `Retry-After` slows the pace by a fifth only (the
/// server is pacing us). After each `probeInterval` (30 s) without a 429 the pace grows by a quarter, back up to
/// the ceiling. The learned pace lives in the store with the slot (kept for a day), so a new process starts at it
/// instead of finding the limit again.
package struct RateLimiter: Sendable {
    package let store: any StateStore
    package let key: String
    package let limit: Int
    package let window: Duration
    /// How long without a 429 before the pace is raised a step.
    package let probeInterval: Duration
    /// Whether a store that runs the limiter natively (`RateLimiterProviding`) does so; false forces the generic
    /// read and compare-and-swap (for comparisons).
    package let native: Bool

    /// The shared state: next free slot, learned pace (requests per second), when the pace last changed and when
    /// the last 429 was counted.
    package struct State: Sendable, Codable, Hashable {
        package var slot: Double
        package var rate: Double
        package var changedAt: Double
        package var penalizedAt: Double?

        enum CodingKeys: String, CodingKey {
            case slot = "t"
            case rate = "r"
            case changedAt = "c"
            case penalizedAt = "p"
        }
    }

    package init(
        store: any StateStore, key: String, limit: Int, window: Duration, probeInterval: Duration = .seconds(30),
        native: Bool = true
    ) {
        self.store = store
        self.key = key
        self.limit = max(1, limit)
        self.window = window
        self.probeInterval = probeInterval
        self.native = native
    }

    /// The configured ceiling in requests per second.
    package var ceiling: Double { Double(limit) / max(window.timeInterval, 0.000_001) }
    /// The pace never drops below a 64th of the ceiling (six halvings), nor below one request per ten minutes.
    package var floor: Double { max(ceiling / 64, 1.0 / 600) }

    /// Seconds between two requests at the configured ceiling.
    package var interval: Double { 1 / ceiling }

    /// How long the learned pace is remembered after the last request.
    package static let memory: Duration = .seconds(86400)

    func decode(_ stored: StoredValue?, now: Double) -> State {
        Self.decode(stored, now: now, budget: budget)
    }

    /// The state stored for `budget` (none: a fresh one at the ceiling; the earlier format: the slot alone), as
    /// every limiter reads it, the generic one and the native ones that run in-process (SQLite).
    package static func decode(_ stored: StoredValue?, now: Double, budget: RateBudget) -> State {
        guard let stored else { return State(slot: now, rate: budget.ceiling, changedAt: now) }
        if let state = try? JSONDecoder().decode(State.self, from: stored.data), state.rate > 0 {
            return State(
                slot: state.slot, rate: min(max(state.rate, budget.floor), budget.ceiling), changedAt: state.changedAt,
                penalizedAt: state.penalizedAt)
        }
        // The earlier format: the slot alone.
        let slot = Double(String(decoding: stored.data, as: UTF8.self)) ?? now
        return State(slot: slot, rate: budget.ceiling, changedAt: now)
    }

    private func write(_ state: State, over current: StoredValue?) async throws -> Bool {
        let data = try JSONEncoder().encode(state)
        if let current {
            return try await store.compareAndSwap(
                key, expectedVersion: current.version, newValue: data, ttl: Self.memory)
                != nil
        }
        return try await store.putIfAbsent(key, data, ttl: Self.memory) != nil
    }

    /// The budget's parameters, as a store that runs the limiter natively needs them.
    package var budget: RateBudget {
        RateBudget(
            key: key, ceiling: ceiling, floor: floor, probeInterval: probeInterval.timeInterval, memory: Self.memory)
    }

    /// One reservation on `state` at `now`: the state to write and the wait, or nil and the wait when it would
    /// exceed `maxWait`. The native backends (`RateLimiterProviding`) compute exactly this, in the store.
    package func reserve(_ state: State, now: Double, maxWait: Double) -> (next: State?, wait: Double) {
        Self.reserve(state, now: now, maxWait: maxWait, budget: budget)
    }

    /// `reserve` for `budget` (see there).
    package static func reserve(_ state: State, now: Double, maxWait: Double, budget: RateBudget) -> (
        next: State?, wait: Double
    ) {
        var state = state
        let slot = max(state.slot, now)
        let wait = slot - now
        if wait > maxWait { return (nil, wait) }
        // Probe back up: a quiet period at the learned pace earns a step towards the ceiling.
        if state.rate < budget.ceiling, now - state.changedAt >= budget.probeInterval {
            state.rate = min(budget.ceiling, state.rate * 1.25)
            state.changedAt = now
        }
        state.slot = slot + 1 / state.rate
        return (state, wait)
    }

    /// One 429 counted on `state` at `now`: the state to write, or nil when nothing changes. See `penalize`.
    package func penalized(_ state: State, now: Double, retryAfter: Double?) -> State? {
        Self.penalized(state, now: now, retryAfter: retryAfter, budget: budget)
    }

    /// `penalized` for `budget` (see there).
    package static func penalized(_ state: State, now: Double, retryAfter: Double?, budget: RateBudget) -> State? {
        let floor = budget.floor
        var state = state
        if let penalizedAt = state.penalizedAt, now - penalizedAt < 2 {
            // Part of a burst already counted; only a longer Retry-After still moves the slot.
            guard let retryAfter, state.slot < now + retryAfter else { return nil }
        } else {
            // A 429 that names its wait is the server pacing us: honour the wait, slow down a little. One
            // without is all there is to learn from: halve.
            state.rate = max(floor, state.rate * (retryAfter == nil ? 0.5 : 0.8))
            state.changedAt = now
            state.penalizedAt = now
        }
        let coolDown = retryAfter ?? min(30, 4 / state.rate)
        state.slot = max(state.slot, now + coolDown)
        return state
    }

    private func refusal(wait: Double, now: Date) -> ConnectorError {
        ConnectorError(
            .httpRateLimited,
            kind: .temporary,
            "the shared request budget is used up; next slot in \(Int(wait.rounded(.up))) s",
            retryAt: now.addingTimeInterval(wait)
        )
    }

    /// Reserves the next slot and returns how long to wait for it (zero when it is free now). When the wait
    /// would exceed `maxWait`, nothing is reserved and the wait is returned as a temporary failure with `retryAt`.
    ///
    /// On a store that runs the limiter natively (`RateLimiterProviding`: Redis, PostgreSQL, SQLite) this is one
    /// atomic round trip (one write transaction on SQLite); elsewhere a read and a compare-and-swap, retried under
    /// contention.
    package func acquire(now: Date, maxWait: Duration = .seconds(3600)) async throws -> Duration {
        let nowSeconds = now.timeIntervalSince1970
        if native, let provider = store.nativeRateLimiter,
            let outcome = try await provider.reserveRateSlot(budget, now: nowSeconds, maxWait: maxWait.timeInterval)
        {
            switch outcome {
            case .reserved(let wait): return .milliseconds(Int64((wait * 1000).rounded(.up)))
            case .refused(let wait): throw refusal(wait: wait, now: now)
            }
        }
        for _ in 0..<100 {
            let current = try await store.get(key)
            let (next, wait) = reserve(decode(current, now: nowSeconds), now: nowSeconds, maxWait: maxWait.timeInterval)
            guard let next else { throw refusal(wait: wait, now: now) }
            if try await write(next, over: current) {
                return .milliseconds(Int64((wait * 1000).rounded(.up)))
            }
        }
        throw ConnectorError(.stateUnavailable, kind: .temporary, "too much contention on the rate limiter \(key)")
    }

    /// Counts a 429: halves the learned pace (once per two seconds across all processes) and holds every caller
    /// back until `retryAfter`, or for a short cool-down of a few slots at the new pace when the ERP named none.
    /// Returns the pace now in force, in requests per second.
    @discardableResult
    package func penalize(now: Date, retryAfter: Duration?) async throws -> Double {
        let nowSeconds = now.timeIntervalSince1970
        if native, let provider = store.nativeRateLimiter,
            let rate = try await provider.penalizeRate(budget, now: nowSeconds, retryAfter: retryAfter?.timeInterval)
        {
            return rate
        }
        for _ in 0..<100 {
            let current = try await store.get(key)
            let state = decode(current, now: nowSeconds)
            guard let next = penalized(state, now: nowSeconds, retryAfter: retryAfter?.timeInterval) else {
                return state.rate
            }
            if try await write(next, over: current) { return next.rate }
        }
        throw ConnectorError(.stateUnavailable, kind: .temporary, "too much contention on the rate limiter \(key)")
    }

    /// The pace in force now (requests per second), for reports and tests.
    package func currentRate(now: Date) async throws -> Double {
        decode(try await store.get(key), now: now.timeIntervalSince1970).rate
    }
}

/// What a native rate limiter needs to know of one budget (see `RateLimiter`; rates in requests per second, times
/// in seconds since 1970).
package struct RateBudget: Sendable, Hashable {
    package var key: String
    package var ceiling: Double
    package var floor: Double
    package var probeInterval: Double
    /// How long the state is kept after its last change.
    package var memory: Duration

    package init(key: String, ceiling: Double, floor: Double, probeInterval: Double, memory: Duration) {
        self.key = key
        self.ceiling = ceiling
        self.floor = floor
        self.probeInterval = probeInterval
        self.memory = memory
    }
}

/// The outcome of one native reservation: reserved with the wait until its slot, or refused (nothing reserved)
/// because the wait would exceed the caller's limit.
package enum RateReservation: Sendable, Hashable {
    case reserved(wait: Double)
    case refused(wait: Double)
}

/// A store that runs the shared rate limiter natively, each operation ONE atomic round trip (a Lua script on
/// Redis, one statement on PostgreSQL, one write transaction on SQLite) instead of a read and a compare-and-swap retried under contention. It must
/// compute exactly `RateLimiter.reserve` and `RateLimiter.penalized` on the state `RateLimiter.decode` reads from
/// the entry at `budget.key` (JSON `RateLimiter.State`, or the earlier bare slot), and write it back as that JSON
/// through the store's ordinary entry (new version, expiry `budget.memory`), so the generic limiter and
/// `currentRate` read the same state. Either may answer nil for "not this time" (a stored state it does not read
/// exactly as `decode` would, a race creating the entry): the generic read and compare-and-swap then runs instead.
package protocol RateLimiterProviding: StateStore {
    func reserveRateSlot(_ budget: RateBudget, now: Double, maxWait: Double) async throws -> RateReservation?
    /// Returns the pace in force after the 429.
    func penalizeRate(_ budget: RateBudget, now: Double, retryAfter: Double?) async throws -> Double?
}

extension RateLimiterProviding {
    package var nativeRateLimiter: (any RateLimiterProviding)? { self }
}
