import ConnectorCore
import Foundation

package struct MasterDataSyncRequest: Codable, Sendable, Hashable {
    /// Read everything instead of the changes since the last sync (also removes records the ERP deleted).
    package var full: Bool?
    /// Only these kinds (`vendors`, `accounts`, `products`); all when absent. Change notifications name the kind
    /// they saw.
    package var kinds: [String]?
    /// Send every record to the procurement system again, whatever was sent before (an operator's full sync that
    /// realigns JAGGAER; each send is an idempotent upsert). Scheduled and notified syncs send what changed.
    package var resend: Bool?
    package init(full: Bool? = nil, kinds: [String]? = nil, resend: Bool? = nil) {
        self.full = full
        self.kinds = kinds
        self.resend = resend
    }

    func includes(_ kind: String) -> Bool { kinds?.contains(kind) ?? true }
}

/// `sync-vendors`: ERP vendors into the connection's master-data tables, which the mapping checks codes against,
/// and on into JAGGAER as suppliers through the `ProcurementSink` (when the connection writes to JAGGAER).
///
/// A delta sync pushes each page, then stores it and moves the cursor; a full sync pushes every vendor and makes
/// the ones gone from the ERP inactive. A push that fails fails the step with the cursor where it was, so the
/// next run reads the same vendors again. Records whose content was pushed before are not sent twice, except when
/// the request says `resend` (an operator's full sync, which realigns JAGGAER).
package struct SyncVendorsHandler: StepHandler {
    package typealias Input = MasterDataSyncRequest
    package static let step = "sync-vendors"
    package static let acceptedTypes: Set<String> = [EventType.masterDataSyncRequested]

    package let context: StepContext
    package let erp: any ERPConnector
    /// Where vendors are pushed (JAGGAER); nil: the ERP → store half only.
    package let sink: (any ProcurementSink)?

    package init(context: StepContext, erp: any ERPConnector, sink: (any ProcurementSink)? = nil) {
        self.context = context
        self.erp = erp
        self.sink = sink
    }

    package static func recordId(for event: CloudEvent) -> String { "masterdata/vendors" }

    package func handle(_ event: CloudEvent, input: MasterDataSyncRequest) async throws -> StepResult {
        guard input.includes("vendors") else { return StepResult(status: .ok, detail: ["skipped": "not asked for"]) }
        let masterData = MasterData(store: context.store, keys: context.keys)
        let push = sink.map {
            ProcurementPush(sink: $0, store: context.store, keys: context.keys, force: input.resend == true)
        }
        var pushed = ProcurementPush.Counts()
        var pulled: SupplierPull.Counts?
        // Vendors read that name a parent, for the summary when the sink sends no hierarchy.
        var withParent = 0
        let sync = try await masterData.tracking(
            "vendors", event: event, maxAttempts: context.connection.flow.maxAttempts, now: context.clock.now()
        ) {
            // JAGGAER → ERP first, so the ERP's conflict rule decides a record changed on both sides before the
            // ERP's version is pushed on; what was just written comes back below as "unchanged".
            if let sink, let push, sink.pullsSuppliers, erp.capabilities.vendorWrites {
                pulled = try await SupplierPull(context: context, erp: erp, sink: sink, push: push)
                    .run(event, masterData: masterData)
            }
            return try await MasterDataSync.refresh(
                "vendors", table: masterData.vendors, masterData: masterData, requestedFull: input.full,
                now: context.clock.now(),
                read: { try await erp.vendors(after: $0, pageSize: $1) }, key: \.number,
                onPage: { vendors in
                    withParent += vendors.filter { !($0.parentNumber ?? "").isEmpty }.count
                    try await push?.suppliers(vendors, counts: &pushed)
                },
                onRemoved: { vendors in try await push?.deactivateSuppliers(vendors, counts: &pushed) }
            )
        }
        var detail = ["vendors": String(sync.read), "mode": sync.full ? "full" : "delta", "total": String(sync.total)]
        if let sink {
            detail["pushedTo"] = sink.system
            detail["pushed"] = String(pushed.sent)
            detail["unchanged"] = String(pushed.unchanged)
            if sink.sendsSupplierHierarchy, let push {
                detail["linkedToParent"] = String(pushed.linkedToParent)
                detail["awaitingParent"] = String(try await push.waitingForParent())
            } else if withParent > 0 {
                detail["hierarchy"] =
                    "\(withParent) vendors name a parent vendor; hierarchies were not sent to \(sink.system) (set jaggaer.writer.supplierParentField to the supplier field that takes the parent)"
            }
        }
        if let pulled {
            detail["pulledFrom"] = sink?.system
            detail["pulled"] = String(pulled.read)
            detail["pulledWritten"] = String(pulled.written)
            detail["pulledKept"] = String(pulled.kept)
            detail["pulledEchoes"] = String(pulled.echoes)
            detail["pulledReview"] = String(pulled.review)
        }
        // Mapping first: invoices waiting only for vendors (and codes) the ERP now has go through mapping again.
        let requeued = try await ReviewRequeue(context: context).requeue(after: event, step: Self.step)
        detail["requeued"] = String(requeued.count)
        return StepResult(status: .ok, events: requeued, detail: detail)
    }
}

/// `sync-accounts`: the ERP's chart of accounts and dimensions (with their values) into the master-data tables,
/// and on into JAGGAER as coding values through the `ProcurementSink`: posting accounts under the mapping's account
/// segment (blocked ones inactive), dimension values under the segment their dimension maps to. Checkpointed like
/// `sync-vendors`. Then (kind `products`) the ERP's released products into the catalog, where the tenant uses
/// catalogs (`CatalogPush`).
package struct SyncAccountsHandler: StepHandler {
    package typealias Input = MasterDataSyncRequest
    package static let step = "sync-accounts"
    package static let acceptedTypes: Set<String> = [EventType.masterDataSyncRequested]

    package let context: StepContext
    package let erp: any ERPConnector
    /// Where coding values are pushed (JAGGAER); nil: the ERP → store half only.
    package let sink: (any ProcurementSink)?

    package init(context: StepContext, erp: any ERPConnector, sink: (any ProcurementSink)? = nil) {
        self.context = context
        self.erp = erp
        self.sink = sink
    }

    package static func recordId(for event: CloudEvent) -> String { "masterdata/accounts" }

    package func handle(_ event: CloudEvent, input: MasterDataSyncRequest) async throws -> StepResult {
        let catalog = CatalogPush(context: context, erp: erp, sink: sink)
        guard input.includes("accounts") else {
            guard input.includes("products") else {
                return StepResult(status: .ok, detail: ["skipped": "not asked for"])
            }
            let detail = try await catalog.run(event, fromStart: input.full == true, resend: input.resend == true)
            return StepResult(status: .ok, detail: detail)
        }
        let masterData = MasterData(store: context.store, keys: context.keys)
        let push = sink.map {
            ProcurementPush(sink: $0, store: context.store, keys: context.keys, force: input.resend == true)
        }
        let segment = context.connection.mapping.accountSegment
        var pushed = ProcurementPush.Counts()
        let (sync, dimensions) = try await masterData.tracking(
            "accounts", event: event, maxAttempts: context.connection.flow.maxAttempts, now: context.clock.now()
        ) {
            let sync = try await MasterDataSync.refresh(
                "accounts", table: masterData.accounts, masterData: masterData, requestedFull: input.full,
                now: context.clock.now(),
                read: { try await erp.accounts(after: $0, pageSize: $1) }, key: \.number,
                onPage: { accounts in try await push?.accounts(accounts, segment: segment, counts: &pushed) },
                onRemoved: { accounts in
                    try await push?.accounts(accounts, segment: segment, removed: true, counts: &pushed)
                }
            )
            // Dimensions have no change stamp on their values: always read whole.
            let dimensions = try await erp.dimensions()
            if let push {
                let previous = try await masterData.dimensions.all().map(\.value)
                try await push.dimensions(
                    dimensions, previous: previous, rules: context.connection.mapping.dimensions, counts: &pushed)
            }
            try await masterData.dimensions.replaceAll(
                Dictionary(dimensions.map { ($0.code, $0) }, uniquingKeysWith: { first, _ in first }))
            return (sync, dimensions)
        }
        var detail = [
            "accounts": String(sync.read), "dimensions": String(dimensions.count),
            "dimensionValues": String(dimensions.reduce(0) { $0 + $1.values.count }),
            "mode": sync.full ? "full" : "delta", "total": String(sync.total),
        ]
        if let sink {
            detail["pushedTo"] = sink.system
            detail["pushed"] = String(pushed.sent)
            detail["unchanged"] = String(pushed.unchanged)
        }
        if input.includes("products") {
            detail.merge(
                try await catalog.run(event, fromStart: input.full == true, resend: input.resend == true)
            ) { _, new in new }
        }
        // Mapping first: invoices waiting only for accounts and dimension values the ERP now has go through again.
        let requeued = try await ReviewRequeue(context: context).requeue(after: event, step: Self.step)
        detail["requeued"] = String(requeued.count)
        return StepResult(status: .ok, events: requeued, detail: detail)
    }
}

enum MasterDataSync {
    /// Reads one kind of master data from the ERP (whole, or changed since the last sync) into its table and
    /// records the sync state. Returns how many records were read, the table's size and the mode. `onPage` sees
    /// every page before it is stored; `onRemoved` the records a full read no longer finds, before they go.
    static func refresh<Record: Codable & Sendable>(
        _ kind: String,
        table: MappingTable<Record>,
        masterData: MasterData,
        requestedFull: Bool?,
        now: Date,
        pageSize: Int = 200,
        read: (ChangeCursor?, Int) async throws -> ChangePage<Record>,
        key: (Record) -> String,
        onPage: ([Record]) async throws -> Void = { _ in },
        onRemoved: ([Record]) async throws -> Void = { _ in }
    ) async throws -> (read: Int, total: Int, full: Bool) {
        let previous = try await masterData.syncState(kind)
        let full = needsFull(previous, requested: requestedFull, now: now)
        var cursor = full ? nil : previous?.cursor
        var count = 0
        var everything: [String: Record] = [:]
        while true {
            let page = try await read(cursor, pageSize)
            count += page.items.count
            // Pushed on (to JAGGAER) before the page is stored and the cursor moves: a failed push leaves the cursor
            // where it was, so the page is read and pushed again next time.
            try await onPage(page.items)
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
        if full {
            let removed = try await table.all().filter { everything[$0.key] == nil }.map(\.value)
            if !removed.isEmpty { try await onRemoved(removed) }
            try await table.replaceAll(everything)
        }
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
