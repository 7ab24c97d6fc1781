import ConnectorCore
import Foundation

/// The ERP's master data as last synced into the store: what mapping checks codes against.
package struct MasterData: Sendable {
    package struct SyncState: Sendable, Codable, Hashable {
        package var syncedAt: Date
        package var fullSyncAt: Date
        /// Largest `lastModified` seen, for the next delta read.
        package var highWater: Date?
        package var count: Int

        package init(syncedAt: Date, fullSyncAt: Date, highWater: Date?, count: Int) {
            self.syncedAt = syncedAt
            self.fullSyncAt = fullSyncAt
            self.highWater = highWater
            self.count = count
        }
    }

    package let store: any StateStore
    package let keys: StateKeys

    package init(store: any StateStore, keys: StateKeys) {
        self.store = store
        self.keys = keys
    }

    package var vendors: MappingTable<Vendor> { MappingTable(store: store, keys: keys, table: "erp-vendors") }
    package var accounts: MappingTable<GLAccount> { MappingTable(store: store, keys: keys, table: "erp-accounts") }
    package var dimensions: MappingTable<ERPDimension> {
        MappingTable(store: store, keys: keys, table: "erp-dimensions")
    }

    package func syncState(_ kind: String) async throws -> SyncState? {
        try await store.get(keys.key("masterdata", kind), as: SyncState.self)?.value
    }

    package func setSyncState(_ kind: String, _ state: SyncState) async throws {
        try await store.put(keys.key("masterdata", kind), json: state)
    }

    /// Whether vendors and accounts have been synced at least once; mapping cannot decide before that.
    package func isReady() async throws -> Bool {
        let vendors = try await syncState("vendors")
        let accounts = try await syncState("accounts")
        return vendors != nil && accounts != nil
    }
}
