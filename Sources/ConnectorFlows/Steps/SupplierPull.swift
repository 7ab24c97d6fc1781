import ConnectorCore
import Foundation

/// The JAGGAER → ERP half of `sync-vendors` (for ERPs with `capabilities.vendorWrites`): suppliers changed in the
/// procurement system since a checkpointed cursor are upserted into the ERP with `upsertVendor`, which applies the
/// ERP's conflict rule (SAP Business One: `vendorConflictRule`).
///
/// No loops, no erased data:
/// - A supplier whose content equals what was last pushed to it (the push digest, `pushed/suppliers/<number>`) is
///   the echo of our own write, or a record both sides already agree on: skipped.
/// - After a supplier is written into the ERP, its digest becomes the push digest (both sides hold that content),
///   and its JAGGAER copy is kept (`pulled/suppliers/<number>`): when the ERP's vendor comes back through the
///   ERP → JAGGAER push, fields the ERP's vendor model lacks (B1: address, payment terms, payment hold) are taken
///   from that copy (``ProcurementPush/merged(_:)``) instead of being sent empty, so nothing is pushed back and
///   nothing JAGGAER had is erased.
/// - A supplier the ERP refuses goes to review with the reason and is kept (`pull-pending/<number>`); every later
///   run tries the kept ones again first. Any other failure fails the step with the cursor where it was.
struct SupplierPull {
    let context: StepContext
    let erp: any ERPConnector
    let sink: any ProcurementSink
    let push: ProcurementPush
    static let kind = "jaggaer-suppliers"

    struct Counts: Sendable {
        var read = 0
        var written = 0
        var kept = 0
        var echoes = 0
        var review = 0
    }

    func run(_ event: CloudEvent, masterData: MasterData) async throws -> Counts {
        var counts = Counts()
        let store = context.store
        // Kept refusals first; the same content coming again in the list (its stamp is inclusive) is not tried twice.
        var retried: [String: String] = [:]
        for entry in try await store.scanAll(prefix: context.keys.prefix("pull-pending")) {
            let vendor = try JSONCoding.decode(Vendor.self, from: entry.value.data)
            retried[vendor.number] = try push.digest(ProcurementPush.content(vendor))
            try await apply(vendor, event: event, counts: &counts)
        }
        let previous = try await masterData.syncState(Self.kind)
        var cursor = previous?.cursor
        while true {
            let page = try await sink.suppliers(after: cursor, pageSize: 100)
            counts.read += page.items.count
            for vendor in page.items {
                if let digest = retried[vendor.number], digest == (try push.digest(ProcurementPush.content(vendor))) {
                    continue
                }
                try await apply(vendor, event: event, counts: &counts)
            }
            cursor = page.next ?? cursor
            let now = context.clock.now()
            try await masterData.setSyncState(
                Self.kind,
                .init(syncedAt: now, fullSyncAt: previous?.fullSyncAt ?? now, cursor: cursor, count: counts.read))
            if !page.hasMore { break }
        }
        return counts
    }

    private func apply(_ supplier: Vendor, event: CloudEvent, counts: inout Counts) async throws {
        let keys = context.keys
        let store = context.store
        let pendingKey = keys.key("pull-pending", supplier.number)
        let content = ProcurementPush.content(supplier)
        let digest = try push.digest(content)
        if try await push.storedDigest("suppliers", id: supplier.number) == digest {
            counts.echoes += 1
            _ = try await store.delete(pendingKey)
            return
        }
        let result: ERPDocumentRef
        do {
            result = try await erp.upsertVendor(supplier)
        } catch let error as ConnectorError where error.kind == .rejected || error.kind == .badInput {
            let recordId = "suppliers/\(supplier.number)"
            let reasons = [
                ReviewReason(
                    "vendor.rejected",
                    "\(erp.system) refused the JAGGAER supplier \(supplier.number.prefix(40)): \(error.message)")
            ]
            try await store.put(pendingKey, json: supplier)
            let retry = CloudEvent(
                id: "\(recordId)-retry",
                source: EventSource.step(SyncVendorsHandler.step, connection: context.connection.id),
                type: EventType.masterDataSyncRequested, time: context.clock.now(),
                data: try JSONValue(encoding: MasterDataSyncRequest(kinds: ["vendors"])),
                connection: event.connection, flow: event.flow, recordid: recordId, causationid: event.id)
            try await context.putUpForReview(
                recordId: recordId, step: SyncVendorsHandler.step, reasons: reasons, retry: retry)
            counts.review += 1
            return
        }
        // The JAGGAER copy fills what the ERP's vendor model lacks when the vendor is pushed back.
        try await store.put(keys.key("pulled", "suppliers", supplier.number), json: content)
        if result.status == "kept" {
            // The ERP won the conflict: JAGGAER keeps its version until the ERP's vendor changes and is pushed.
            counts.kept += 1
        } else {
            try await push.remember("suppliers", id: supplier.number, digest: digest)
            counts.written += 1
        }
        _ = try await store.delete(pendingKey)
    }
}
