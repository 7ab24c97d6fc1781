import Foundation
import Synchronization

/// A `StateStore` in process memory: for unit tests and single-process tools. Same semantics as every backend.
package final class InMemoryStateStore: StateStore {
    private struct State {
        var entries: [String: StoredValue] = [:]
        var lastVersion: Int64 = 0
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

    package func put(_ key: String, _ value: Data, ttl: Duration?) async throws -> Int64 {
        let time = now()
        return state.withLock { state in
            state.lastVersion += 1
            state.entries[key] = StoredValue(
                data: value, version: state.lastVersion, expiresAt: expiry(ttl, from: time))
            return state.lastVersion
        }
    }

    /// All items under one lock: no reader sees part of the batch.
    package func putAll(_ items: [(key: String, value: Data, ttl: Duration?)]) async throws {
        let time = now()
        state.withLock { state in
            for item in items {
                state.lastVersion += 1
                state.entries[item.key] = StoredValue(
                    data: item.value, version: state.lastVersion, expiresAt: expiry(item.ttl, from: time))
            }
        }
    }

    package func putIfAbsent(_ key: String, _ value: Data, ttl: Duration?) async throws -> Int64? {
        let time = now()
        return state.withLock { state in
            guard live(state.entries[key], at: time) == nil else { return nil }
            state.lastVersion += 1
            state.entries[key] = StoredValue(
                data: value, version: state.lastVersion, expiresAt: expiry(ttl, from: time))
            return state.lastVersion
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
            state.lastVersion += 1
            state.entries[key] = StoredValue(
                data: newValue, version: state.lastVersion, expiresAt: expiry(ttl, from: time))
            return state.lastVersion
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
            state.lastVersion += 1
            state.entries[key] = StoredValue(
                data: Data(String(sum).utf8),
                version: state.lastVersion,
                expiresAt: current?.expiresAt ?? expiry(ttl, from: time)
            )
            return sum
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
