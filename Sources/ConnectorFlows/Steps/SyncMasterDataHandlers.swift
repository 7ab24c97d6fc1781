import ConnectorCore
import Foundation

package struct MasterDataSyncRequest: Codable, Sendable, Hashable {
    /// Read everything instead of the changes since the last sync (also removes records the ERP deleted).
    package var full: Bool?
    /// Only these kinds (`vendors`, `accounts`); all when absent. Change notifications name the kind they saw.
    package var kinds: [String]?
    package init(full: Bool? = nil, kinds: [String]? = nil) {
        self.full = full
        self.kinds = kinds
    }

    func includes(_ kind: String) -> Bool { kinds?.contains(kind) ?? true }
}

/// `sync-vendors`: ERP vendors into the connection's master-data tables, which the mapping checks codes against.
///
/// Scope today: the ERP → store half. Pushing vendors on to JAGGAER waits for JAGGAER's supplier API, which is not
/// publicly documented (UNCONFIRMED; see the reference notes).
package struct SyncVendorsHandler: StepHandler {
    package typealias Input = MasterDataSyncRequest
    package static let step = "sync-vendors"
    package static let acceptedTypes: Set<String> = [EventType.masterDataSyncRequested]

    package let context: StepContext
    package let erp: any ERPConnector

    package init(context: StepContext, erp: any ERPConnector) {
        self.context = context
        self.erp = erp
    }

    package static func recordId(for event: CloudEvent) -> String { "masterdata/vendors" }

    package func handle(_ event: CloudEvent, input: MasterDataSyncRequest) async throws -> StepResult {
        guard input.includes("vendors") else { return StepResult(status: .ok, detail: ["skipped": "not asked for"]) }
        let masterData = MasterData(store: context.store, keys: context.keys)
        let sync = try await masterData.tracking(
            "vendors", event: event, maxAttempts: context.connection.flow.maxAttempts, now: context.clock.now()
        ) {
            try await MasterDataSync.refresh(
                "vendors", table: masterData.vendors, masterData: masterData, requestedFull: input.full,
                now: context.clock.now(),
                read: { try await erp.listVendors(changedSince: $0) }, key: \.number, modified: \.lastModified
            )
        }
        return StepResult(
            status: .ok,
            detail: ["vendors": String(sync.read), "mode": sync.full ? "full" : "delta", "total": String(sync.total)]
        )
    }
}

/// `sync-accounts`: the ERP's chart of accounts and dimensions (with their values) into the master-data tables.
///
/// Scope today: the ERP → store half (the mapping tables). Pushing accounts as JAGGAER coding values waits for
/// JAGGAER's import API, which is not publicly documented (UNCONFIRMED).
package struct SyncAccountsHandler: StepHandler {
    package typealias Input = MasterDataSyncRequest
    package static let step = "sync-accounts"
    package static let acceptedTypes: Set<String> = [EventType.masterDataSyncRequested]

    package let context: StepContext
    package let erp: any ERPConnector

    package init(context: StepContext, erp: any ERPConnector) {
        self.context = context
        self.erp = erp
    }

    package static func recordId(for event: CloudEvent) -> String { "masterdata/accounts" }

    package func handle(_ event: CloudEvent, input: MasterDataSyncRequest) async throws -> StepResult {
        guard input.includes("accounts") else { return StepResult(status: .ok, detail: ["skipped": "not asked for"]) }
        let masterData = MasterData(store: context.store, keys: context.keys)
        let (sync, dimensions) = try await masterData.tracking(
            "accounts", event: event, maxAttempts: context.connection.flow.maxAttempts, now: context.clock.now()
        ) {
            let sync = try await MasterDataSync.refresh(
                "accounts", table: masterData.accounts, masterData: masterData, requestedFull: input.full,
                now: context.clock.now(),
                read: { try await erp.listAccounts(changedSince: $0) }, key: \.number, modified: \.lastModified
            )
            // Dimensions have no change stamp on their values: always read whole.
            let dimensions = try await erp.listDimensions()
            try await masterData.dimensions.replaceAll(
                Dictionary(dimensions.map { ($0.code, $0) }, uniquingKeysWith: { first, _ in first }))
            return (sync, dimensions)
        }
        return StepResult(
            status: .ok,
            detail: [
                "accounts": String(sync.read), "dimensions": String(dimensions.count),
                "dimensionValues": String(dimensions.reduce(0) { $0 + $1.values.count }),
                "mode": sync.full ? "full" : "delta", "total": String(sync.total),
            ]
        )
    }
}

enum MasterDataSync {
    /// Reads one kind of master data from the ERP (whole, or changed since the last sync) into its table and
    /// records the sync state. Returns how many records were read, the table's size and the mode.
    static func refresh<Record: Codable & Sendable>(
        _ kind: String,
        table: MappingTable<Record>,
        masterData: MasterData,
        requestedFull: Bool?,
        now: Date,
        read: (Date?) async throws -> [Record],
        key: (Record) -> String,
        modified: (Record) -> Date?
    ) async throws -> (read: Int, total: Int, full: Bool) {
        let previous = try await masterData.syncState(kind)
        let full = needsFull(previous, requested: requestedFull, now: now)
        let records = try await read(full ? nil : previous?.highWater)
        let byKey = Dictionary(records.map { (key($0), $0) }, uniquingKeysWith: { _, last in last })
        if full {
            try await table.replaceAll(byKey)
        } else {
            for (recordKey, record) in byKey { try await table.put(recordKey, record) }
        }
        let highWater = ([previous?.highWater] + records.map(modified)).compactMap { $0 }.max()
        let total = full ? byKey.count : try await table.all().count
        try await masterData.setSyncState(
            kind,
            .init(
                syncedAt: now, fullSyncAt: full ? now : (previous?.fullSyncAt ?? now), highWater: highWater,
                count: total)
        )
        return (records.count, total, full)
    }

    /// A full read when asked, on the first sync, and at least daily (deletions are invisible to delta reads).
    static func needsFull(_ previous: MasterData.SyncState?, requested: Bool?, now: Date) -> Bool {
        if requested == true { return true }
        guard let previous, previous.highWater != nil else { return true }
        return now.timeIntervalSince(previous.fullSyncAt) > 86400
    }
}
