import Foundation
import Synchronization

/// One `StateStore` for a long-lived process (the runner, `trigger`, the HTTP adapter's dead-letter sink) that
/// spreads concurrent operations over up to `size` member stores of one network backend, each member one connection
/// (Redis, PostgreSQL). A step invocation does not need this: it opens one store, one connection, for its whole run.
///
/// - Each operation borrows one member for its whole length, so an operation that takes several round trips (a
///   native queue claim, a scan page) stays on one connection; it is handed back when the operation ends.
/// - Members are opened lazily: the pool starts with the member its opener made (so a wrong address or password
///   fails at open), and opens another only when every open member is busy and fewer than `size` exist. Idle ones
///   are reused, the most recently used first, so a quiet process keeps few connections busy.
/// - A member whose operation failed with a connection problem (`stateUnavailable`, other than a configuration
///   refusal) is closed and dropped, and the idle members with it (same server); the next operation that needs one
///   opens a fresh connection. The failed operation still throws its error: nothing is retried here, since a write
///   whose answer was lost may or may not have been applied.
/// - Every operation goes through a member, the native ones included (`commit`, `getMany`, the work queue's claims,
///   the rate limiter): the pool offers `WorkQueueProviding` and `RateLimiterProviding` exactly when its members do.
/// - Store operations made while a member is borrowed by the same task (a queue claim's quarantine callback) use
///   that member, so a nested operation never waits for a second one (no deadlock in a full pool).
///
/// SQLite is never pooled: its store is one local file in WAL mode, where one connection serves a process's
/// concurrent readers and its writes are serialised by the file's single writer lock anyway; more connections
/// would only add lock waits (`StateStores.open` gives SQLite one connection whatever is asked).
package final class PooledStateStore: StateStore, WorkQueueProviding, RateLimiterProviding {
    package typealias Open = @Sendable () async throws -> any StateStore

    /// At most this many members (connections) at once.
    package let size: Int
    /// Says which store this is in errors (e.g. "the Redis store at host:6379/0"; never a password).
    package let label: String
    private let open: Open
    private let nativeQueue: Bool
    /// Whether the members' native queue claims fair across connections.
    fileprivate let nativeQueueBalances: Bool
    private let nativeLimiter: Bool
    private let identity: UInt64
    private let state: Mutex<State>

    private static let identities = Atomic<UInt64>(0)

    /// The members the current task has borrowed, by pool.
    @TaskLocal private static var borrowed: [UInt64: any StateStore] = [:]

    private enum Grant {
        /// An open member to use.
        case member(any StateStore)
        /// A free place: the receiver opens a member for it.
        case slot
    }

    private struct Waiter {
        var id: UInt64
        var continuation: CheckedContinuation<Grant, any Error>
    }

    private struct State {
        var idle: [any StateStore]
        /// Members alive (idle, borrowed or being opened).
        var alive = 1
        /// Members opened over the pool's life, the first included.
        var opened = 1
        /// The most members alive at once.
        var peak = 1
        var waiters: [Waiter] = []
        var nextWaiter: UInt64 = 0
        var closed = false
    }

    /// A pool that starts with `first` (already open) and opens up to `size - 1` more with `open`, all of one
    /// backend.
    package init(first: any StateStore, size: Int, label: String, open: @escaping Open) {
        self.size = max(1, size)
        self.label = label
        self.open = open
        nativeQueue = first is any WorkQueueProviding
        nativeQueueBalances =
            (first as? any WorkQueueProviding)?.workQueueBackend(name: "runner").balancesConnections ?? false
        nativeLimiter = first.nativeRateLimiter != nil
        identity = Self.identities.add(1, ordering: .relaxed).newValue
        state = Mutex(State(idle: [first]))
    }

    /// Members alive now, the most alive at once, and how many were opened over the pool's life.
    package var connections: (alive: Int, peak: Int, opened: Int) {
        state.withLock { ($0.alive, $0.peak, $0.opened) }
    }

    // MARK: - Borrowing

    private var closedError: ConnectorError {
        ConnectorError(.stateUnavailable, kind: .temporary, "\(label) is closed in this process (it is shutting down)")
    }

    /// Whether `error` may have left the member's connection unusable (then it is dropped, not reused). A
    /// cancellation is none: the backends finish a round trip once sent.
    static func isConnectionProblem(_ error: any Error) -> Bool {
        if error is CancellationError { return false }
        guard let error = error as? ConnectorError else { return true }
        return error.code == .stateUnavailable && error.kind != .configuration
    }

    private func acquire() async throws -> any StateStore {
        let id = state.withLock { state in
            state.nextWaiter += 1
            return state.nextWaiter
        }
        let grant: Grant = try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Grant, any Error>) in
                let ready: Result<Grant, any Error>? = state.withLock { state in
                    if state.closed { return .failure(closedError) }
                    if Task.isCancelled { return .failure(CancellationError()) }
                    if let member = state.idle.popLast() { return .success(.member(member)) }
                    if state.alive < size {
                        state.alive += 1
                        state.peak = max(state.peak, state.alive)
                        return .success(.slot)
                    }
                    state.waiters.append(Waiter(id: id, continuation: continuation))
                    return nil
                }
                if let ready { continuation.resume(with: ready) }
            }
        } onCancel: {
            let waiter = state.withLock { state -> Waiter? in
                guard let index = state.waiters.firstIndex(where: { $0.id == id }) else { return nil }
                return state.waiters.remove(at: index)
            }
            waiter?.continuation.resume(throwing: CancellationError())
        }
        switch grant {
        case .member(let member):
            return member
        case .slot:
            let member: any StateStore
            do {
                member = try await open()
            } catch {
                // The place is free again: the next waiter (if any) tries to open a member itself.
                await vacate()
                throw error
            }
            let closed = state.withLock { state in
                state.opened += 1
                return state.closed
            }
            if closed {
                await release(member, drop: true)
                throw closedError
            }
            return member
        }
    }

    /// Gives up a place whose member could not be opened.
    private func vacate() async {
        let next = state.withLock { state -> Waiter? in
            state.alive -= 1
            guard !state.closed, !state.waiters.isEmpty else { return nil }
            state.alive += 1
            return state.waiters.removeFirst()
        }
        next?.continuation.resume(returning: .slot)
    }

    /// Hands a member back: to the first waiter, else to the idle list. A dropped one is closed, and so are the idle
    /// ones (they talk to the same server, which just failed one of them; after a restart each would fail its next
    /// operation in turn); their places go to waiters, who open fresh members.
    private func release(_ member: any StateStore, drop: Bool) async {
        let (handed, slots, closing) = state.withLock {
            state -> ((Waiter, any StateStore)?, [Waiter], [any StateStore]) in
            if drop || state.closed {
                var closing = [member]
                if drop {
                    closing += state.idle
                    state.idle = []
                }
                state.alive -= closing.count
                guard !state.closed else { return (nil, [], closing) }
                let count = min(closing.count, state.waiters.count)
                let slots = Array(state.waiters.prefix(count))
                state.waiters.removeFirst(count)
                state.alive += count
                return (nil, slots, closing)
            }
            if !state.waiters.isEmpty { return ((state.waiters.removeFirst(), member), [], []) }
            state.idle.append(member)
            return (nil, [], [])
        }
        if let handed { handed.0.continuation.resume(returning: .member(handed.1)) }
        for waiter in slots { waiter.continuation.resume(returning: .slot) }
        for member in closing { try? await member.close() }
    }

    /// Runs `body` on a member borrowed for its whole length (the one this task already holds, if any).
    private func borrowing<T>(_ body: (any StateStore) async throws -> T) async throws -> T {
        if let held = Self.borrowed[identity] { return try await body(held) }
        let member = try await acquire()
        var held = Self.borrowed
        held[identity] = member
        do {
            let result = try await Self.$borrowed.withValue(held) { try await body(member) }
            await release(member, drop: false)
            return result
        } catch {
            await release(member, drop: Self.isConnectionProblem(error))
            throw error
        }
    }

    // MARK: - StateStore

    package func get(_ key: String) async throws -> StoredValue? {
        try await borrowing { try await $0.get(key) }
    }

    package func getMany(_ keys: [String]) async throws -> [StoredValue?] {
        try await borrowing { try await $0.getMany(keys) }
    }

    @discardableResult
    package func put(_ key: String, _ value: Data, ttl: Duration?) async throws -> Int64 {
        try await borrowing { try await $0.put(key, value, ttl: ttl) }
    }

    package func putIfAbsent(_ key: String, _ value: Data, ttl: Duration?) async throws -> Int64? {
        try await borrowing { try await $0.putIfAbsent(key, value, ttl: ttl) }
    }

    package func compareAndSwap(_ key: String, expectedVersion: Int64, newValue: Data, ttl: Duration?) async throws
        -> Int64?
    {
        try await borrowing {
            try await $0.compareAndSwap(key, expectedVersion: expectedVersion, newValue: newValue, ttl: ttl)
        }
    }

    @discardableResult
    package func delete(_ key: String) async throws -> Bool {
        try await borrowing { try await $0.delete(key) }
    }

    package func delete(_ key: String, expectedVersion: Int64) async throws -> Bool {
        try await borrowing { try await $0.delete(key, expectedVersion: expectedVersion) }
    }

    package func increment(_ key: String, by delta: Int64, ttl: Duration?) async throws -> Int64 {
        try await borrowing { try await $0.increment(key, by: delta, ttl: ttl) }
    }

    package func scan(prefix: String, after: String?, limit: Int) async throws -> [StoredEntry] {
        try await borrowing { try await $0.scan(prefix: prefix, after: after, limit: limit) }
    }

    package func putAll(_ items: [(key: String, value: Data, ttl: Duration?)]) async throws {
        try await borrowing { try await $0.putAll(items) }
    }

    package func commit(_ writes: [StoreWrite]) async throws -> [Int64]? {
        try await borrowing { try await $0.commit(writes) }
    }

    package func purgeExpired(limit: Int) async throws -> Int {
        try await borrowing { try await $0.purgeExpired(limit: limit) }
    }

    /// Closes the idle members now and the borrowed ones when their operations end; later operations fail.
    package func close() async throws {
        let (idle, waiters) = state.withLock { state -> ([any StateStore], [Waiter]) in
            state.closed = true
            let idle = state.idle
            let waiters = state.waiters
            state.idle = []
            state.waiters = []
            state.alive -= idle.count
            return (idle, waiters)
        }
        for waiter in waiters { waiter.continuation.resume(throwing: closedError) }
        var failure: (any Error)?
        for member in idle {
            do {
                try await member.close()
            } catch {
                failure = failure ?? error
            }
        }
        if let failure { throw failure }
    }

    // MARK: - Native operations

    package func workQueueBackend(name: String) -> any WorkQueueBackend {
        nativeQueue ? PooledWorkQueueBackend(pool: self, name: name) : StoreWorkQueue(store: self, name: name)
    }

    /// Runs `body` on the native queue of a borrowed member.
    fileprivate func withQueue<T>(_ name: String, _ body: (any WorkQueueBackend) async throws -> T) async throws -> T {
        try await borrowing { member in
            let backend =
                (member as? any WorkQueueProviding)?.workQueueBackend(name: name)
                ?? StoreWorkQueue(store: member, name: name)
            return try await body(backend)
        }
    }

    package var nativeRateLimiter: (any RateLimiterProviding)? { nativeLimiter ? self : nil }

    package func reserveRateSlot(_ budget: RateBudget, now: Double, maxWait: Double) async throws -> RateReservation? {
        guard nativeLimiter else { return nil }
        return try await borrowing { member in
            try await member.nativeRateLimiter?.reserveRateSlot(budget, now: now, maxWait: maxWait)
        }
    }

    package func penalizeRate(_ budget: RateBudget, now: Double, retryAfter: Double?) async throws -> Double? {
        guard nativeLimiter else { return nil }
        return try await borrowing { member in
            try await member.nativeRateLimiter?.penalizeRate(budget, now: now, retryAfter: retryAfter)
        }
    }
}

/// The members' native work queue, each operation on one borrowed member (see `PooledStateStore`).
package struct PooledWorkQueueBackend: WorkQueueBackend {
    let pool: PooledStateStore
    let name: String

    package func enqueue(_ item: WorkItem) async throws -> WorkItem {
        try await pool.withQueue(name) { try await $0.enqueue(item) }
    }

    package func enqueue(contentsOf items: [WorkItem]) async throws -> [WorkItem] {
        try await pool.withQueue(name) { try await $0.enqueue(contentsOf: items) }
    }

    package func claim(step: String, consumer: String, limit: Int, visibility: Duration, quarantine: QueueQuarantine)
        async throws -> [QueueClaim]
    {
        try await pool.withQueue(name) {
            try await $0.claim(
                step: step, consumer: consumer, limit: limit, visibility: visibility, quarantine: quarantine)
        }
    }

    package func claim(
        step: String, consumer: String, limit: Int, visibility: Duration, inFlight: [String: Int], window: Int,
        quarantine: QueueQuarantine
    ) async throws -> [QueueClaim] {
        try await pool.withQueue(name) {
            try await $0.claim(
                step: step, consumer: consumer, limit: limit, visibility: visibility, inFlight: inFlight,
                window: window, quarantine: quarantine)
        }
    }

    package var balancesConnections: Bool { pool.nativeQueueBalances }

    package func ack(_ claim: QueueClaim) async throws -> Bool {
        try await pool.withQueue(name) { try await $0.ack(claim) }
    }

    package func complete(_ claim: QueueClaim, enqueueing items: [WorkItem]) async throws -> (
        items: [WorkItem], acked: Bool
    ) {
        try await pool.withQueue(name) { try await $0.complete(claim, enqueueing: items) }
    }

    package func release(_ claim: QueueClaim, as item: WorkItem, notBefore: Date) async throws -> Bool {
        try await pool.withQueue(name) { try await $0.release(claim, as: item, notBefore: notBefore) }
    }

    package func recover(consumer: String) async throws -> Int {
        try await pool.withQueue(name) { try await $0.recover(consumer: consumer) }
    }

    package func count(step: String?) async throws -> Int {
        try await pool.withQueue(name) { try await $0.count(step: step) }
    }

    package func items(step: String?) async throws -> [WorkItem] {
        try await pool.withQueue(name) { try await $0.items(step: step) }
    }

    package func remove(_ item: WorkItem) async throws -> Bool {
        try await pool.withQueue(name) { try await $0.remove(item) }
    }

    package func nextDue(step: String) async throws -> Date? {
        try await pool.withQueue(name) { try await $0.nextDue(step: step) }
    }

    package func promoteDue(step: String?) async throws -> Int {
        try await pool.withQueue(name) { try await $0.promoteDue(step: step) }
    }
}
