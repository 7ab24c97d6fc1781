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
                read: { try await erp.vendors(after: $0, pageSize: $1) }, key: \.number
            )
        }
        // Mapping first: invoices waiting only for vendors (and codes) the ERP now has go through mapping again.
        let requeued = try await ReviewRequeue(context: context).requeue(after: event, step: Self.step)
        return StepResult(
            status: .ok,
            events: requeued,
            detail: [
                "vendors": String(sync.read), "mode": sync.full ? "full" : "delta", "total": String(sync.total),
                "requeued": String(requeued.count),
            ]
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
                read: { try await erp.accounts(after: $0, pageSize: $1) }, key: \.number
            )
            // Dimensions have no change stamp on their values: always read whole.
            let dimensions = try await erp.dimensions()
            try await masterData.dimensions.replaceAll(
                Dictionary(dimensions.map { ($0.code, $0) }, uniquingKeysWith: { first, _ in first }))
            return (sync, dimensions)
        }
        // Mapping first: invoices waiting only for accounts and dimension values the ERP now has go through again.
        let requeued = try await ReviewRequeue(context: context).requeue(after: event, step: Self.step)
        return StepResult(
            status: .ok,
            events: requeued,
            detail: [
                "requeued": String(requeued.count),
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
        pageSize: Int = 200,
        read: (ChangeCursor?, Int) async throws -> ChangePage<Record>,
        key: (Record) -> String
    ) async throws -> (read: Int, total: Int, full: Bool) {
        let previous = try await masterData.syncState(kind)
        let full = needsFull(previous, requested: requestedFull, now: now)
        var cursor = full ? nil : previous?.cursor
        var count = 0
        var everything: [String: Record] = [:]
        while true {
            let page = try await read(cursor, pageSize)
            count += page.items.count
            if full {
                // A full read replaces the table at the end (deleted records drop out), so it is kept whole.
                for record in page.items { everything[key(record)] = record }
            } else {
                // A delta read checkpoints per page: a failure later resumes after the last stored page.
                for record in page.items { try await table.put(key(record), record) }
                try await masterData.setSyncState(
                    kind,
                    .init(
                        syncedAt: now, fullSyncAt: previous?.fullSyncAt ?? now, cursor: page.next ?? cursor,
                        count: previous?.count ?? 0))
            }
            cursor = page.next ?? cursor
            if !page.hasMore { break }
        }
        if full { try await table.replaceAll(everything) }
        let total = full ? everything.count : try await table.all().count
        try await masterData.setSyncState(
            kind,
            .init(syncedAt: now, fullSyncAt: full ? now : (previous?.fullSyncAt ?? now), cursor: cursor, count: total)
        )
        return (count, total, full)
    }

    /// A full read when asked, on the first sync, and at least daily (deletions are invisible to delta reads).
    static func needsFull(_ previous: MasterData.SyncState?, requested: Bool?, now: Date) -> Bool {
        if requested == true { return true }
        guard let previous, previous.cursor != nil else { return true }
        return now.timeIntervalSince(previous.fullSyncAt) > 86400
    }
}
