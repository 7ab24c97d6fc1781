import ConnectorCore
import Foundation
import Testing

/// The behaviour a store that runs the shared rate limiter natively (`RateLimiterProviding`) must show: exactly the
/// generic limiter's pacing, penalties and learned pace, one budget shared by several clients, the state kept for a
/// new process. `open(name)` opens one more client on the shared store `name` (a Redis namespace, a PostgreSQL
/// table, a SQLite file), a fresh empty one for a new name.
package enum RateLimiterConformance {
    package typealias Open = @Sendable (_ name: String) async throws -> any StateStore

    package static func run(_ open: Open) async throws {
        try await matchesGeneric(open)
        try await sharedBudget(open)
        try await foreignStates(open)
    }

    /// One step of the script both limiters follow.
    enum Step: Sendable, Hashable {
        case acquire(at: Double, maxWait: Double)
        case penalize(at: Double, retryAfter: Double?)
    }

    /// One outcome: a wait in milliseconds, a refusal with its `retryAt`, or the pace after a penalty.
    enum Outcome: Sendable, Hashable {
        case waited(Duration)
        case refused(Date?)
        case pace(Double)
    }

    /// A reproducible script over 20 simulated minutes: bursts, idle spells long enough to probe back up, 429s
    /// with and without `Retry-After` (some inside one burst), waits over the caller's limit.
    static func script() -> [Step] {
        var seed: UInt64 = 0x5EED
        func next(_ bound: UInt64) -> UInt64 {
            seed = seed &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return (seed >> 33) % bound
        }
        var now = 1_800_000_000.25
        var steps: [Step] = []
        while now < 1_800_001_200 {
            switch next(20) {
            case 0: now += Double(next(40_000)) / 1000  // quiet: up to 40 s
            case 1: steps.append(.penalize(at: now, retryAfter: nil))
            case 2: steps.append(.penalize(at: now, retryAfter: Double(next(5000)) / 1000))
            case 3: steps.append(.acquire(at: now, maxWait: Double(next(2000)) / 1000))
            default:
                steps.append(.acquire(at: now, maxWait: 3600))
                now += Double(next(120)) / 1000
            }
        }
        return steps
    }

    static func play(_ steps: [Step], on limiter: RateLimiter) async throws -> [Outcome] {
        var outcomes: [Outcome] = []
        for step in steps {
            switch step {
            case .acquire(let at, let maxWait):
                do {
                    let wait = try await limiter.acquire(
                        now: Date(timeIntervalSince1970: at), maxWait: .milliseconds(Int64(maxWait * 1000)))
                    outcomes.append(.waited(wait))
                } catch let error as ConnectorError where error.code == .httpRateLimited {
                    outcomes.append(.refused(error.retryAt))
                }
            case .penalize(let at, let retryAfter):
                let pace = try await limiter.penalize(
                    now: Date(timeIntervalSince1970: at), retryAfter: retryAfter.map { .milliseconds(Int64($0 * 1000)) }
                )
                outcomes.append(.pace(pace))
            }
        }
        return outcomes
    }

    /// The native limiter gives exactly the generic one's waits, refusals and paces over a long script, starting
    /// empty and starting from the earlier format (a bare slot); and a generic limiter on the same store (an older
    /// process) reads and continues the native one's state.
    static func matchesGeneric(_ open: Open) async throws {
        let steps = script()
        #expect(steps.count > 500, "\(steps.count) steps")
        #expect(Set(steps.map { if case .penalize = $0 { "p" } else { "a" } }).count == 2)
        for earlier in [nil, "1800000002.5"] {
            let name = "rl" + UUID().uuidString.prefix(8).lowercased()
            let native = try await open(name)
            #expect(native is any RateLimiterProviding, "the store under test runs the limiter natively")
            // What `RateLimiter` actually asks, with no dynamic cast: the store must answer with itself.
            #expect(native.nativeRateLimiter != nil, "the store under test offers its native limiter")
            let reference = InMemoryStateStore(now: { Date(timeIntervalSince1970: 1_800_000_000) })
            #expect(reference.nativeRateLimiter == nil, "the in-memory store has no native limiter")
            if let earlier {
                try await native.put("limit/erp", Data(earlier.utf8), ttl: nil)
                _ = try await reference.put("limit/erp", Data(earlier.utf8), ttl: nil)
            }
            let budget = { (store: any StateStore) in
                RateLimiter(store: store, key: "limit/erp", limit: 20, window: .seconds(1))
            }
            let expected = try await play(steps, on: budget(reference))
            let actual = try await play(steps, on: budget(native))
            #expect(actual.count == expected.count)
            let first = zip(actual, expected).enumerated().first { $0.element.0 != $0.element.1 }
            #expect(
                first == nil, "first difference at step \(first?.offset ?? -1): \(first.map { "\($0.element)" } ?? "")")
            #expect(
                Set(expected.map { if case .refused = $0 { 0 } else if case .pace = $0 { 1 } else { 2 } }).count == 3)
            // The state in the store is the generic one's, bit for bit in its numbers.
            let stored = try #require(try await native.get("limit/erp"))
            let storedReference = try #require(try await reference.get("limit/erp"))
            let decoded = try JSONDecoder().decode(RateLimiter.State.self, from: stored.data)
            #expect(decoded == (try JSONDecoder().decode(RateLimiter.State.self, from: storedReference.data)))
            // An older process (the generic limiter) on the same store continues from the native state.
            let end = Date(timeIntervalSince1970: 1_800_001_300)
            let generic = RateLimiter(store: native, key: "limit/erp", limit: 20, window: .seconds(1), native: false)
            #expect(try await generic.acquire(now: end) == (try await budget(reference).acquire(now: end)))
            #expect(try await budget(native).acquire(now: end) == (try await budget(reference).acquire(now: end)))
            try await native.close()
        }
    }

    /// Two clients share one budget: in no window do their requests together exceed it; a 429 counted by one slows
    /// both; the learned pace outlives both clients, for a new process.
    static func sharedBudget(_ open: Open) async throws {
        let name = "rl" + UUID().uuidString.prefix(8).lowercased()
        let first = try await open(name)
        let second = try await open(name)
        let now = Date(timeIntervalSince1970: Date().timeIntervalSince1970.rounded(.down))
        let limiters = [first, second].map { RateLimiter(store: $0, key: "limit/erp", limit: 10, window: .seconds(1)) }
        let slots = try await withThrowingTaskGroup(of: [Double].self) { group in
            for limiter in limiters {
                group.addTask {
                    var slots: [Double] = []
                    for _ in 0..<40 { slots.append(try await limiter.acquire(now: now).timeInterval) }
                    return slots
                }
            }
            return try await group.reduce([], +).sorted()
        }
        #expect(slots.count == 80 && slots.first == 0)
        // Waits are rounded up to the millisecond: a window 2 ms short of a second holds at most 10 requests.
        for start in slots {
            #expect(slots.filter { $0 >= start && $0 < start + 0.998 }.count <= 10, "window from \(start)")
        }
        #expect(slots.last.map { $0 >= 7.9 } == true, "80 requests at 10/s take 8 s: \(slots.last ?? 0)")

        // A 429 seen by the first client halves the pace for both and holds both back for a cool-down.
        let later = now.addingTimeInterval(20)
        #expect(try await limiters[0].penalize(now: later, retryAfter: nil) == 5)
        let coolDown = try await limiters[1].acquire(now: later)
        // (Waits are rounded up to the millisecond from slots in seconds since 1970: give or take one.)
        #expect(abs(coolDown.timeInterval - 0.8) <= 0.0015, "4 slots at the new pace: \(coolDown)")
        let paced = try await limiters[0].acquire(now: later)
        #expect(abs(paced.timeInterval - 1.0) <= 0.0015, "the first client follows 200 ms later: \(paced)")
        try await first.close()
        try await second.close()

        // A new process starts at the learned pace, not at the ceiling.
        let third = try await open(name)
        let fresh = RateLimiter(store: third, key: "limit/erp", limit: 10, window: .seconds(1))
        #expect(try await fresh.currentRate(now: later) == 5)
        let idle = later.addingTimeInterval(10)
        #expect(try await fresh.acquire(now: idle) == .zero)
        let next = try await fresh.acquire(now: idle)
        #expect(abs(next.timeInterval - 0.2) <= 0.0015, "still 5/s: \(next)")
        try await third.close()
    }

    /// A stored state written by something else (spaces, NaN, hex, garbage) is read exactly as the generic limiter
    /// reads it (the native code may hand such a state to the generic path).
    static func foreignStates(_ open: Open) async throws {
        let now = Date(timeIntervalSince1970: 1_800_000_000)
        let states = [
            #"{ "t": 1800000001.5, "r": 4, "c": 1800000000 }"#, #"{"t":NaN,"r":4,"c":1800000000}"#,
            #"{"t":1800000001.5,"r":4,"c":1800000000,"p":null}"#, #"{"t":1800000001.5,"r":-1,"c":1}"#,
            "1800000003.25", " 1800000003", "0x6B49D200", "garbage", "",
        ]
        for (index, state) in states.enumerated() {
            let name = "rl" + UUID().uuidString.prefix(8).lowercased()
            let native = try await open(name)
            let reference = InMemoryStateStore(now: { now })
            var outcomes: [[Outcome]] = []
            for store in [native, reference] as [any StateStore] {
                try await store.put("limit/erp", Data(state.utf8), ttl: nil)
                let limiter = RateLimiter(store: store, key: "limit/erp", limit: 10, window: .seconds(1))
                outcomes.append(
                    try await play(
                        [
                            .acquire(at: now.timeIntervalSince1970, maxWait: 3600),
                            .penalize(at: now.timeIntervalSince1970 + 0.5, retryAfter: nil),
                            .acquire(at: now.timeIntervalSince1970 + 0.5, maxWait: 3600),
                        ], on: limiter))
            }
            #expect(outcomes[0] == outcomes[1], "state \(index) \(state.debugDescription)")
            try await native.close()
        }
    }
}

extension RateLimiterConformance {
    /// Round trips per acquire (as the backend's own counter reports them) when `clients` stores opened by `open`
    /// race `acquires` times each for one budget, native or through the generic compare-and-swap loop. With `warmUp`
    /// each client first acquires twice on another key (a script loaded once per connection is not counted).
    package static func roundTripsPerAcquire<Store: StateStore>(
        clients: Int, acquires: Int, native: Bool, warmUp: Bool = false,
        open: () async throws -> Store, roundTrips: @escaping @Sendable (Store) -> Int
    ) async throws -> Double {
        let now = Date(timeIntervalSince1970: 1_800_000_000)
        var stores: [Store] = []
        for _ in 0..<clients { stores.append(try await open()) }
        if warmUp {
            for store in stores {
                let limiter = RateLimiter(store: store, key: "warm", limit: 100, window: .seconds(1), native: native)
                for _ in 0..<2 { _ = try await limiter.acquire(now: now) }
            }
        }
        let before = stores.map(roundTrips).reduce(0, +)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for store in stores {
                group.addTask {
                    let limiter = RateLimiter(
                        store: store, key: "limit/erp", limit: 100, window: .seconds(1), native: native)
                    for _ in 0..<acquires { _ = try await limiter.acquire(now: now) }
                }
            }
            try await group.waitForAll()
        }
        let sent = stores.map(roundTrips).reduce(0, +) - before
        for store in stores { try await store.close() }
        return Double(sent) / Double(clients * acquires)
    }
}
