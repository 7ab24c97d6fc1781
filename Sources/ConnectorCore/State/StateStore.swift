import Foundation

/// A value held in a `StateStore`, with the version of its last write.
package struct StoredValue: Sendable, Hashable {
    package var data: Data
    /// Store-wide increasing version of the last write; the token for compare-and-swap.
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
/// - Versions are store-wide and strictly increasing, so a deleted and re-created key never reuses a version
///   (no ABA for compare-and-swap).
/// - An expired entry behaves exactly like an absent one for every operation.
/// - `scan` returns keys in ascending byte order, strictly after `after`, at most `limit` entries.
/// - Several processes may use one store at once; each operation is atomic on its own.
package protocol StateStore: Sendable {
    func get(_ key: String) async throws -> StoredValue?

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

    /// Removes up to `limit` expired entries for good (rows past their expiry, index members of keys the server
    /// expired) and returns how many went. Expired entries are already invisible; this reclaims their space. Run on
    /// a schedule by the runner.
    func purgeExpired(limit: Int) async throws -> Int

    /// Releases connections and files.
    func close() async throws
}

extension StateStore {
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
