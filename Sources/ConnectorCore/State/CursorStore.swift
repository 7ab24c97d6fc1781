import Foundation

/// Named cursors (e.g. the JAGGAER invoice poll position), written with compare-and-swap so two pollers can
/// never both advance from the same position.
package struct CursorStore<Cursor: Codable & Sendable>: Sendable {
    package let store: any StateStore
    package let keys: StateKeys
    package let name: String

    package init(store: any StateStore, keys: StateKeys, name: String) {
        self.store = store
        self.keys = keys
        self.name = name
    }

    private var key: String { keys.key("cursor", name) }

    package func load() async throws -> (cursor: Cursor, version: Int64)? {
        try await store.get(key, as: Cursor.self).map { ($0.value, $0.version) }
    }

    /// Saves `cursor` if the stored version is still `expectedVersion` (nil: no cursor stored yet).
    /// Returns false when another writer moved the cursor first.
    package func save(_ cursor: Cursor, expectedVersion: Int64?) async throws -> Bool {
        if let expectedVersion {
            return try await store.compareAndSwap(key, expectedVersion: expectedVersion, json: cursor) != nil
        }
        return try await store.putIfAbsent(key, json: cursor) != nil
    }

    package func reset() async throws {
        try await store.delete(key)
    }
}
