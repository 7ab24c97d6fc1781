import ConnectorCore
import Foundation

package struct MasterDataSyncRequest: Codable, Sendable, Hashable {
    /// Read everything instead of the changes since the last sync (also removes records the ERP deleted).
    package var full: Bool?
    package init(full: Bool? = nil) { self.full = full }
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
        let masterData = MasterData(store: context.store, keys: context.keys)
        let now = context.clock.now()
        let previous = try await masterData.syncState("vendors")
        let full = MasterDataSync.needsFull(previous, requested: input.full, now: now)
        let vendors = try await erp.listVendors(changedSince: full ? nil : previous?.highWater)
        var table: [String: Vendor] = [:]
        for vendor in vendors { table[vendor.number] = vendor }
        if full {
            try await masterData.vendors.replaceAll(table)
        } else {
            for (number, vendor) in table { try await masterData.vendors.put(number, vendor) }
        }
        let highWater = ([previous?.highWater] + vendors.map(\.lastModified)).compactMap { $0 }.max()
        let count = full ? table.count : try await masterData.vendors.all().count
        try await masterData.setSyncState(
            "vendors",
            .init(
                syncedAt: now, fullSyncAt: full ? now : (previous?.fullSyncAt ?? now), highWater: highWater,
                count: count)
        )
        return StepResult(
            status: .ok,
            detail: ["vendors": String(vendors.count), "mode": full ? "full" : "delta", "total": String(count)])
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
        let masterData = MasterData(store: context.store, keys: context.keys)
        let now = context.clock.now()
        let previous = try await masterData.syncState("accounts")
        let full = MasterDataSync.needsFull(previous, requested: input.full, now: now)
        let accounts = try await erp.listAccounts(changedSince: full ? nil : previous?.highWater)
        var table: [String: GLAccount] = [:]
        for account in accounts { table[account.number] = account }
        if full {
            try await masterData.accounts.replaceAll(table)
        } else {
            for (number, account) in table { try await masterData.accounts.put(number, account) }
        }
        // Dimensions have no change stamp on their values: always read whole.
        let dimensions = try await erp.listDimensions()
        try await masterData.dimensions.replaceAll(
            Dictionary(dimensions.map { ($0.code, $0) }, uniquingKeysWith: { first, _ in first }))
        let highWater = ([previous?.highWater] + accounts.map(\.lastModified)).compactMap { $0 }.max()
        let count = full ? table.count : try await masterData.accounts.all().count
        try await masterData.setSyncState(
            "accounts",
            .init(
                syncedAt: now, fullSyncAt: full ? now : (previous?.fullSyncAt ?? now), highWater: highWater,
                count: count)
        )
        return StepResult(
            status: .ok,
            detail: [
                "accounts": String(accounts.count), "dimensions": String(dimensions.count),
                "dimensionValues": String(dimensions.reduce(0) { $0 + $1.values.count }),
                "mode": full ? "full" : "delta",
            ]
        )
    }
}

enum MasterDataSync {
    /// A full read when asked, on the first sync, and at least daily (deletions are invisible to delta reads).
    static func needsFull(_ previous: MasterData.SyncState?, requested: Bool?, now: Date) -> Bool {
        if requested == true { return true }
        guard let previous, previous.highWater != nil else { return true }
        return now.timeIntervalSince(previous.fullSyncAt) > 86400
    }
}
