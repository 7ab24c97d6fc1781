import Foundation
import Synchronization

/// A `StateStore` in process memory: for unit tests and single-process tools. Same semantics as every backend.
package final class InMemoryStateStore: StateStore {
    private struct State {
        var entries: [String: StoredValue] = [:]

        /// The next version of `key`: one more than its current one (live or expired), else a fresh start.
        func nextVersion(_ key: String, at time: Date) -> Int64 {
            entries[key].map { $0.version + 1 } ?? StoreVersion.fresh(at: time)
        }

        /// Writes `key` with its next version and returns that version.
        mutating func write(_ key: String, _ data: Data, expiresAt: Date?, at time: Date) -> Int64 {
            let version = nextVersion(key, at: time)
            entries[key] = StoredValue(data: data, version: version, expiresAt: expiresAt)
            return version
        }
    }

    private let state = Mutex(State())
    private let now: @Sendable () -> Date

    package init(now: @escaping @Sendable () -> Date = { Date() }) {
        self.now = now
    }

    private func live(_ entry: StoredValue?, at time: Date) -> StoredValue? {
        guard let entry else { return nil }
        if let expiry = entry.expiresAt, expiry <= time { return nil }
        return entry
    }

    private func expiry(_ ttl: Duration?, from time: Date) -> Date? {
        ttl.map { time.addingTimeInterval($0.timeInterval) }
    }

    package func get(_ key: String) async throws -> StoredValue? {
        let time = now()
        return state.withLock { live($0.entries[key], at: time) }
    }

    package func getMany(_ keys: [String]) async throws -> [StoredValue?] {
        let time = now()
        return state.withLock { state in keys.map { live(state.entries[$0], at: time) } }
    }

    package func put(_ key: String, _ value: Data, ttl: Duration?) async throws -> Int64 {
        let time = now()
        return state.withLock { state in state.write(key, value, expiresAt: expiry(ttl, from: time), at: time) }
    }

    /// All items under one lock: no reader sees part of the batch.
    package func putAll(_ items: [(key: String, value: Data, ttl: Duration?)]) async throws {
        let time = now()
        state.withLock { state in
            for item in items {
                _ = state.write(item.key, item.value, expiresAt: expiry(item.ttl, from: time), at: time)
            }
        }
    }

    package func putIfAbsent(_ key: String, _ value: Data, ttl: Duration?) async throws -> Int64? {
        let time = now()
        return state.withLock { state in
            guard live(state.entries[key], at: time) == nil else { return nil }
            return state.write(key, value, expiresAt: expiry(ttl, from: time), at: time)
        }
    }

    package func compareAndSwap(_ key: String, expectedVersion: Int64, newValue: Data, ttl: Duration?) async throws
        -> Int64?
    {
        let time = now()
        return state.withLock { state in
            guard let current = live(state.entries[key], at: time), current.version == expectedVersion else {
                return nil
            }
            return state.write(key, newValue, expiresAt: expiry(ttl, from: time), at: time)
        }
    }

    package func delete(_ key: String) async throws -> Bool {
        let time = now()
        return state.withLock { state in
            let existed = live(state.entries[key], at: time) != nil
            state.entries[key] = nil
            return existed
        }
    }

    package func delete(_ key: String, expectedVersion: Int64) async throws -> Bool {
        let time = now()
        return state.withLock { state in
            guard let current = live(state.entries[key], at: time), current.version == expectedVersion else {
                return false
            }
            state.entries[key] = nil
            return true
        }
    }

    package func increment(_ key: String, by delta: Int64, ttl: Duration?) async throws -> Int64 {
        let time = now()
        return try state.withLock { state in
            let current = live(state.entries[key], at: time)
            var value: Int64 = 0
            if let current {
                guard let text = String(data: current.data, encoding: .utf8), let number = Int64(text) else {
                    throw ConnectorError(.stateCorrupt, "\(key) does not hold an integer counter")
                }
                value = number
            }
            let (sum, overflow) = value.addingReportingOverflow(delta)
            guard !overflow else { throw ConnectorError(.stateCorrupt, "counter \(key) overflowed") }
            _ = state.write(
                key, Data(String(sum).utf8), expiresAt: current?.expiresAt ?? expiry(ttl, from: time), at: time)
            return sum
        }
    }

    /// Checks every condition, then applies every write, under one lock: all or nothing for every reader.
    package func commit(_ writes: [StoreWrite]) async throws -> [Int64]? {
        let time = now()
        return try state.withLock { state -> [Int64]? in
            for write in writes {
                switch write {
                case .putIfAbsent(let key, _, _):
                    if live(state.entries[key], at: time) != nil { return nil }
                case .compareAndSwap(let key, let expected, _, _), .deleteIf(let key, let expected):
                    if live(state.entries[key], at: time)?.version != expected { return nil }
                case .append(let counter, _, _, _):
                    if let current = live(state.entries[counter], at: time),
                        Int64(String(decoding: current.data, as: UTF8.self)) == nil
                    {
                        throw ConnectorError(.stateCorrupt, "\(counter) does not hold an integer counter")
                    }
                case .put, .delete:
                    break
                }
            }
            var results: [Int64] = []
            for write in writes {
                switch write {
                case .put(let key, let value, let ttl), .putIfAbsent(let key, let value, let ttl),
                    .compareAndSwap(let key, _, let value, let ttl):
                    results.append(state.write(key, value, expiresAt: expiry(ttl, from: time), at: time))
                case .delete(let key), .deleteIf(let key, _):
                    results.append(live(state.entries[key], at: time) != nil ? 1 : 0)
                    state.entries[key] = nil
                case .append(let counter, let prefix, let value, let ttl):
                    let current = live(state.entries[counter], at: time)
                    let count = (current.flatMap { Int64(String(decoding: $0.data, as: UTF8.self)) } ?? 0) + 1
                    _ = state.write(counter, Data(String(count).utf8), expiresAt: current?.expiresAt, at: time)
                    _ = state.write(
                        StoreWrite.appendedKey(prefix: prefix, sequence: count), value,
                        expiresAt: expiry(ttl, from: time), at: time)
                    results.append(count)
                }
            }
            return results
        }
    }

    package func scan(prefix: String, after: String?, limit: Int) async throws -> [StoredEntry] {
        let time = now()
        return state.withLock { state in
            state.entries
                .filter { key, value in
                    key.hasPrefix(prefix) && live(value, at: time) != nil
                        && (after.map {
                            Array(key.utf8).lexicographicallyPrecedes(Array($0.utf8)) == false && key != $0
                        }
                            ?? true)
                }
                .sorted { Array($0.key.utf8).lexicographicallyPrecedes(Array($1.key.utf8)) }
                .prefix(max(0, limit))
                .map { StoredEntry(key: $0.key, value: $0.value) }
        }
    }

    package func purgeExpired(limit: Int) async throws -> Int {
        let time = now()
        return state.withLock { state in
            let expired = state.entries.filter { entry in entry.value.expiresAt.map { $0 <= time } ?? false }
                .map(\.key).sorted().prefix(max(0, limit))
            for key in expired { state.entries[key] = nil }
            return expired.count
        }
    }

    package func close() async throws {}
}
