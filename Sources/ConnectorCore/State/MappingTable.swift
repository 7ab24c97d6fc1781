import Foundation

/// A named table of source key → target value for one connection: explicit mapping rules (JAGGAER supplier number
/// → ERP vendor number, segment value → G/L account ...) and the ERP master-data snapshot the mapping checks
/// against (vendors, accounts, dimension values).
package struct MappingTable<Value: Codable & Sendable>: Sendable {
    package let store: any StateStore
    package let keys: StateKeys
    package let table: String

    package init(store: any StateStore, keys: StateKeys, table: String) {
        self.store = store
        self.keys = keys
        self.table = table
    }

    package func get(_ sourceKey: String) async throws -> Value? {
        try await store.get(keys.key("map", table, sourceKey), as: Value.self)?.value
    }

    package func put(_ sourceKey: String, _ value: Value) async throws {
        try await store.put(keys.key("map", table, sourceKey), json: value)
    }

    package func remove(_ sourceKey: String) async throws {
        try await store.delete(keys.key("map", table, sourceKey))
    }

    package func all() async throws -> [(key: String, value: Value)] {
        let prefix = keys.prefix("map", table)
        return try await store.scanAll(prefix: prefix).map { entry in
            (
                StateKeys.unescape(String(entry.key.dropFirst(prefix.count))),
                try JSONCoding.decode(Value.self, from: entry.value.data)
            )
        }
    }

    /// Replaces the whole table: writes every value, then removes keys that are no longer present.
    package func replaceAll(_ values: [String: Value]) async throws {
        try await store.putAll(
            try values.map { key, value in (keys.key("map", table, key), try JSONCoding.encode(value), nil) })
        for (key, _) in try await all() where values[key] == nil {
            try await remove(key)
        }
    }
}
