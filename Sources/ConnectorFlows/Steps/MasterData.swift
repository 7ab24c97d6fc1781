import ConnectorCore
import Foundation

/// The ERP's master data as last synced into the store: what mapping checks codes against.
package struct MasterData: Sendable {
    package struct SyncState: Sendable, Codable, Hashable {
        package var syncedAt: Date
        package var fullSyncAt: Date
        /// Where the next delta read continues: the ERP adapter's own cursor (nil: read everything).
        package var cursor: ChangeCursor?
        package var count: Int

        package init(syncedAt: Date, fullSyncAt: Date, cursor: ChangeCursor?, count: Int) {
            self.syncedAt = syncedAt
            self.fullSyncAt = fullSyncAt
            self.cursor = cursor
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

    /// Why the last sync of a kind failed; cleared by the next successful sync. `final` when no further attempt
    /// will follow (the last attempt, or an error that retrying can't fix): steps waiting on that kind stop
    /// waiting and send their records to review with this reason.
    package struct SyncFailure: Sendable, Codable, Hashable {
        package var kind: String
        package var code: String
        package var message: String
        package var attempt: Int
        package var final: Bool
        package var at: Date

        package init(kind: String, code: String, message: String, attempt: Int, final: Bool, at: Date) {
            self.kind = kind
            self.code = code
            self.message = message
            self.attempt = attempt
            self.final = final
            self.at = at
        }
    }

    package func syncFailure(_ kind: String) async throws -> SyncFailure? {
        try await store.get(keys.key("masterdata-failure", kind), as: SyncFailure.self)?.value
    }

    package func recordSyncFailure(_ failure: SyncFailure) async throws {
        try await store.put(keys.key("masterdata-failure", failure.kind), JSONCoding.encodeScrubbed(failure), ttl: nil)
    }

    package func clearSyncFailure(_ kind: String) async throws {
        try await store.delete(keys.key("masterdata-failure", kind))
    }

    /// Runs one sync of `kind`, keeping its failure on record for the steps that wait on it.
    package func tracking<T: Sendable>(
        _ kind: String, event: CloudEvent, maxAttempts: Int, now: Date, _ body: () async throws -> T
    ) async throws -> T {
        do {
            let result = try await body()
            try? await clearSyncFailure(kind)
            return result
        } catch {
            let wrapped = ConnectorError.wrap(error)
            let final = event.attempt >= maxAttempts || !wrapped.retryable
            try? await recordSyncFailure(
                SyncFailure(
                    kind: kind, code: wrapped.code.rawValue, message: wrapped.message, attempt: event.attempt,
                    final: final, at: now))
            throw error
        }
    }

    /// Whether vendors and accounts have been synced at least once; mapping cannot decide before that.
    /// Whether vendors and accounts have been synced at least once (both read in one round trip).
    package func isReady() async throws -> Bool {
        let states = try await store.getMany([keys.key("masterdata", "vendors"), keys.key("masterdata", "accounts")])
        return states.allSatisfy { $0 != nil }
    }
}
