import Foundation
import Synchronization

/// A value held in a `StateStore`, with the version of its last write.
package struct StoredValue: Sendable, Hashable {
    package var data: Data
    /// The version of the last write to this key (it grows with every write to the key); the token for
    /// compare-and-swap. Versions of different keys are unrelated: never compare or order them across keys.
    package var version: Int64
    package var expiresAt: Date?

    package init(data: Data, version: Int64, expiresAt: Date?) {
        self.data = data
        self.version = version
        self.expiresAt = expiresAt
    }
}

package struct StoredEntry: Sendable, Hashable {
    package var key: String
    package var value: StoredValue
    package init(key: String, value: StoredValue) {
        self.key = key
        self.value = value
    }
}

/// The external key-value store that holds all state of ml-connector: tokens, cursors, dedup claims, mappings,
/// the audit trail, the review queue and the runner's queue.
///
/// Semantics every backend must honour (checked by the shared conformance suite):
/// - Versions grow per key: every write to a live (or expired but not yet removed) key gives it a larger version.
///   Nothing orders versions across keys, so no store needs a store-wide counter (on Redis that would be one hot
///   key every write goes through). A key created afresh (absent, deleted or purged before) starts at
///   `StoreVersion.fresh`, a value from the clock (microseconds since 1970 × 1000 plus random low digits), so a
///   deleted and re-created key does not hand a stale compare-and-swap holder its old version back (no ABA); see
///   `StoreVersion` for why that holds.
/// - An expired entry behaves exactly like an absent one for every operation.
/// - `scan` returns keys in ascending byte order, strictly after `after`, at most `limit` entries.
/// - Several processes may use one store at once; each operation is atomic on its own.
package protocol StateStore: Sendable {
    func get(_ key: String) async throws -> StoredValue?

    /// The store's native rate limiter, or nil when `RateLimiter` must run the generic read and compare-and-swap.
    /// A requirement rather than an `as? any RateLimiterProviding` cast: in a step process the first such cast per
    /// type makes the Swift runtime scan every conformance record of the executable (issue 10's step budget). A
    /// `RateLimiterProviding` store answers itself; a wrapper answers for what it wraps.
    var nativeRateLimiter: (any RateLimiterProviding)? { get }

    /// Several keys at once, in ONE round trip on the native backends: one answer per key, in order (nil: absent).
    func getMany(_ keys: [String]) async throws -> [StoredValue?]

    /// Writes unconditionally; `ttl == nil` means the value never expires. Returns the new version.
    @discardableResult
    func put(_ key: String, _ value: Data, ttl: Duration?) async throws -> Int64

    /// Writes only when the key is absent (or expired). Returns the new version, or nil when the key exists.
    func putIfAbsent(_ key: String, _ value: Data, ttl: Duration?) async throws -> Int64?

    /// Replaces the value only if its current version is `expectedVersion`. Returns the new version, or nil on a
    /// version mismatch or when the key is absent.
    func compareAndSwap(_ key: String, expectedVersion: Int64, newValue: Data, ttl: Duration?) async throws -> Int64?

    /// Removes the key; returns whether it existed.
    @discardableResult
    func delete(_ key: String) async throws -> Bool

    /// Removes the key only if its current version is `expectedVersion`.
    func delete(_ key: String, expectedVersion: Int64) async throws -> Bool

    /// Adds `delta` to an integer counter (absent counts as 0) and returns the new value. `ttl` applies when the
    /// counter is created; an existing counter keeps its expiry.
    func increment(_ key: String, by delta: Int64, ttl: Duration?) async throws -> Int64

    /// Entries whose key starts with `prefix`, in ascending key order, strictly after `after`.
    func scan(prefix: String, after: String?, limit: Int) async throws -> [StoredEntry]

    /// Writes several keys unconditionally, atomically where the backend can (one transaction, one sync).
    func putAll(_ items: [(key: String, value: Data, ttl: Duration?)]) async throws

    /// Applies `writes` all or nothing, in ONE round trip on the native backends (one SQLite transaction, one Redis
    /// Lua script, one PostgreSQL statement): when a condition (`putIfAbsent`, `compareAndSwap`, `deleteIf`) does
    /// not hold, nothing is written and the answer is nil. Otherwise one result per write, in order: the new version
    /// for `put`/`putIfAbsent`/`compareAndSwap`, 1 or 0 (existed or not) for the deletes, the sequence number for
    /// `append`. Conditions are checked against the store as it was before the batch, so a batch names each key at
    /// most once.
    func commit(_ writes: [StoreWrite]) async throws -> [Int64]?

    /// Removes up to `limit` expired entries for good (rows past their expiry, index members of keys the server
    /// expired) and returns how many went. Expired entries are already invisible; this reclaims their space. Run on
    /// a schedule by the runner.
    func purgeExpired(limit: Int) async throws -> Int

    /// Releases connections and files.
    func close() async throws
}

/// One write of a `StateStore.commit` batch.
package enum StoreWrite: Sendable, Hashable {
    case put(String, Data, ttl: Duration?)
    /// Fails the batch when the key is live.
    case putIfAbsent(String, Data, ttl: Duration?)
    /// Fails the batch when the key is absent or not at `expectedVersion`.
    case compareAndSwap(String, expectedVersion: Int64, Data, ttl: Duration?)
    case delete(String)
    /// Fails the batch when the key is absent or not at `expectedVersion`.
    case deleteIf(String, expectedVersion: Int64)
    /// Adds one to the integer counter at `counter` (created at 0 without expiry, like `increment`) and writes
    /// `value` at `prefix` followed by the new count as 12 zero-padded digits: an append-only log (the audit trail)
    /// whose sequence is taken in the same round trip as its entry is written.
    case append(counter: String, prefix: String, Data, ttl: Duration?)

    /// The key this write names (for `append`, its counter).
    package var key: String {
        switch self {
        case .put(let key, _, _), .putIfAbsent(let key, _, _), .compareAndSwap(let key, _, _, _), .delete(let key),
            .deleteIf(let key, _):
            key
        case .append(let counter, _, _, _): counter
        }
    }

    /// The key an `append` writes for sequence number `sequence`.
    package static func appendedKey(prefix: String, sequence: Int64) -> String {
        prefix + FixedFormat.decimal(sequence, width: 12)
    }
}

/// Versions given to a key created afresh.
///
/// A new key starts at the clock's microseconds since 1970 × 1000 plus a random 0…999, and every later write adds
/// one. A compare-and-swap holder with a version from an earlier life of the key (since deleted or expired) could
/// only succeed if the new life reached exactly that number. Writes come far slower than 1000 per microsecond per
/// key, so an earlier life's versions stay below any later life's start as long as the clock moves forward. In one
/// process the starts also strictly increase by at least 1000 (a process-local high-water mark, not shared state),
/// so lives begun in the same microsecond cannot meet; across processes (and on the servers, which use their own
/// clock and the client's random digits) two lives begun in the same microsecond differ in their random digits,
/// and a delete and a re-create take longer than that on a network store anyway. On a clock stepped back, a stale
/// version can only come back after about 1000 writes to the key per microsecond the clock went back. The value
/// fits an Int64 until the year 2262.
package enum StoreVersion {
    private static let highWater = Atomic<Int64>(0)

    /// The first version of a key created at `date` (the writer's clock).
    package static func fresh(at date: Date = Date()) -> Int64 {
        let micros = Int64((date.timeIntervalSince1970 * 1_000_000).rounded(.down))
        let candidate = micros * 1000 + Int64.random(in: 0..<1000)
        var current = highWater.load(ordering: .relaxed)
        while true {
            let next = max(candidate, current + 1000)
            let (exchanged, original) = highWater.compareExchange(
                expected: current, desired: next, ordering: .relaxed)
            if exchanged { return next }
            current = original
        }
    }

    /// The random low digits alone, as three decimal digits (servers that read their own clock add these).
    package static func randomDigits() -> String {
        FixedFormat.decimal(Int.random(in: 0..<1000), width: 3)
    }
}

extension StateStore {
    package var nativeRateLimiter: (any RateLimiterProviding)? { nil }

    /// Default for stores without a native batch: checks every condition, then applies the writes one by one.
    /// Neither atomic nor one round trip; the native backends override it.
    package func commit(_ writes: [StoreWrite]) async throws -> [Int64]? {
        for write in writes {
            switch write {
            case .putIfAbsent(let key, _, _):
                if try await get(key) != nil { return nil }
            case .compareAndSwap(let key, let expected, _, _), .deleteIf(let key, let expected):
                if try await get(key)?.version != expected { return nil }
            case .put, .delete, .append:
                break
            }
        }
        var results: [Int64] = []
        for write in writes {
            switch write {
            case .put(let key, let value, let ttl):
                results.append(try await put(key, value, ttl: ttl))
            case .putIfAbsent(let key, let value, let ttl):
                guard let version = try await putIfAbsent(key, value, ttl: ttl) else { return nil }
                results.append(version)
            case .compareAndSwap(let key, let expected, let value, let ttl):
                guard let version = try await compareAndSwap(key, expectedVersion: expected, newValue: value, ttl: ttl)
                else { return nil }
                results.append(version)
            case .delete(let key):
                results.append(try await delete(key) ? 1 : 0)
            case .deleteIf(let key, let expected):
                guard try await delete(key, expectedVersion: expected) else { return nil }
                results.append(1)
            case .append(let counter, let prefix, let value, let ttl):
                let sequence = try await increment(counter, by: 1, ttl: nil)
                try await put(StoreWrite.appendedKey(prefix: prefix, sequence: sequence), value, ttl: ttl)
                results.append(sequence)
            }
        }
        return results
    }

    /// Default: one `get` per key (backends override with one round trip).
    package func getMany(_ keys: [String]) async throws -> [StoredValue?] {
        var values: [StoredValue?] = []
        for key in keys { values.append(try await get(key)) }
        return values
    }

    /// Default: one `put` per item (backends override with a single transaction).
    package func putAll(_ items: [(key: String, value: Data, ttl: Duration?)]) async throws {
        for item in items { try await put(item.key, item.value, ttl: item.ttl) }
    }

    package func get<T: Decodable>(_ key: String, as type: T.Type) async throws -> (value: T, version: Int64)? {
        guard let stored = try await get(key) else { return nil }
        do {
            return (try JSONCoding.decode(T.self, from: stored.data), stored.version)
        } catch let error as DecodingError {
            throw ConnectorError(
                .stateCorrupt, "stored value at \(key) is not a valid \(T.self): \(error.safeDescription)")
        }
    }

    @discardableResult
    package func put(_ key: String, json value: some Encodable, ttl: Duration? = nil) async throws -> Int64 {
        try await put(key, JSONCoding.encode(value), ttl: ttl)
    }

    package func putIfAbsent(_ key: String, json value: some Encodable, ttl: Duration? = nil) async throws -> Int64? {
        try await putIfAbsent(key, JSONCoding.encode(value), ttl: ttl)
    }

    package func compareAndSwap(
        _ key: String,
        expectedVersion: Int64,
        json value: some Encodable,
        ttl: Duration? = nil
    ) async throws -> Int64? {
        try await compareAndSwap(key, expectedVersion: expectedVersion, newValue: JSONCoding.encode(value), ttl: ttl)
    }

    /// Every entry under `prefix`, following pages of `pageSize`.
    package func scanAll(prefix: String, pageSize: Int = 500) async throws -> [StoredEntry] {
        var all: [StoredEntry] = []
        var after: String?
        while true {
            let page = try await scan(prefix: prefix, after: after, limit: pageSize)
            all += page
            guard page.count == pageSize, let last = page.last else { return all }
            after = last.key
        }
    }

    /// Reads, transforms and writes back with compare-and-swap, retrying on concurrent changes.
    /// `transform` returns nil to leave the value unchanged.
    @discardableResult
    package func update<T: Codable & Sendable>(
        _ key: String,
        as type: T.Type,
        ttl: Duration? = nil,
        maxAttempts: Int = 50,
        _ transform: (T?) throws -> T?
    ) async throws -> T? {
        for _ in 0..<maxAttempts {
            let current = try await get(key, as: T.self)
            guard let next = try transform(current?.value) else { return current?.value }
            if let current {
                if try await compareAndSwap(key, expectedVersion: current.version, json: next, ttl: ttl) != nil {
                    return next
                }
            } else if try await putIfAbsent(key, json: next, ttl: ttl) != nil {
                return next
            }
        }
        throw ConnectorError(.stateUnavailable, kind: .temporary, "too much contention updating \(key)")
    }
}

extension Duration {
    /// Whole and fractional seconds as a `TimeInterval`.
    package var timeInterval: TimeInterval {
        let parts = components
        return TimeInterval(parts.seconds) + TimeInterval(parts.attoseconds) / 1e18
    }
}
