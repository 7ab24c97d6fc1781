import ConnectorCore
import Foundation
import Logging

/// The ERP's released products into the procurement system's catalog (part of `sync-accounts`, kind `products`),
/// where the tenant uses catalogs (`sink.pushesCatalogItems`, off by default: then nothing is read) and the ERP gives
/// released products (`capabilities.releasedProducts`, F&O).
///
/// Reads the ERP's change page from the stored cursor (F&O: a full read diffed against the last snapshot) and upserts
/// each item by its item number; content sent before is not sent again. An item JAGGAER refuses goes to review
/// (`catalog-items/<number>`) and is listed in the summary; it is sent again when it changes, or when the review is
/// retried. The cursor moves after a page every item of which is in the catalog or in review: an item JAGGAER could
/// not take now (5xx, throttled, timed out) fails the step with the cursor where it was, so the retry, and the next
/// run, read it again.
package struct CatalogPush: Sendable {
    package static let cursorName = "erp-released-products"
    /// The digest kind of a pushed item (`pushed/catalog-items/<number>`).
    package static let kind = "catalog-items"

    let context: StepContext
    let erp: any ERPConnector
    let sink: (any ProcurementSink)?
    let pageSize: Int

    package init(context: StepContext, erp: any ERPConnector, sink: (any ProcurementSink)?, pageSize: Int = 200) {
        self.context = context
        self.erp = erp
        self.sink = sink
        self.pageSize = pageSize
    }

    /// Where the last run stopped in the ERP's feed of released products.
    package typealias Position = PushPosition

    /// The review record of a refused item (`catalog-items/<number>`).
    package static func recordId(number: String) -> String { "\(kind)/\(number)" }

    /// Runs the push; the summary's entries (`products…`) go into the step's detail. `event` is the sync's own (a
    /// refused item's review names it as its cause).
    package func run(_ event: CloudEvent, fromStart: Bool, resend: Bool) async throws -> [String: String] {
        guard let sink, sink.pushesCatalogItems else {
            return ["products": "off (jaggaer.writer.catalogItems is false)"]
        }
        guard erp.capabilities.releasedProducts else {
            return ["products": "\(erp.system) gives no released products"]
        }
        let push = ProcurementPush(sink: sink, store: context.store, keys: context.keys, force: resend)
        let feed = FeedPush<CatalogItem>(
            context: context, cursorName: Self.cursorName,
            conflict: "another sync moved the released-products cursor; this run stops")
        let tally = try await feed.run(
            fromStart: fromStart, read: { try await erp.releasedProducts(after: $0, pageSize: pageSize) },
            id: \.itemNumber,
            push: { item, counts in
                do {
                    try await push.push(Self.kind, id: item.itemNumber, content: item, counts: &counts) {
                        try await sink.upsertCatalogItem(item)
                    }
                    return .pushed
                } catch let error as ConnectorError where error.kind == .rejected {
                    // Sending it again changes nothing until the item (or the settings) change: a person looks.
                    context.logger.warning(
                        "catalog item refused",
                        metadata: ["item": "\(item.itemNumber)", "code": "\(error.code)", "error": "\(error.message)"])
                    try await sendToReview(item, error: error, sink: sink, event: event)
                    return .refused
                }
            })
        var detail = [
            "products": String(tally.read), "productsPushed": String(tally.counts.sent),
            "productsUnchanged": String(tally.counts.unchanged), "productsRefused": String(tally.refused.count),
        ]
        if !tally.refused.isEmpty { detail["productsRefusedItems"] = tally.refused.prefix(20).joined(separator: ",") }
        return detail
    }

    /// A refused item goes to review; its retry reads the released products from the start (`products`, full), which
    /// sends it again, and only what is not in the catalog with the same content.
    private func sendToReview(_ item: CatalogItem, error: ConnectorError, sink: any ProcurementSink, event: CloudEvent)
        async throws
    {
        let recordId = Self.recordId(number: item.itemNumber)
        let retry = CloudEvent(
            id: "\(recordId)-retry",
            source: EventSource.step(SyncAccountsHandler.step, connection: context.connection.id),
            type: EventType.masterDataSyncRequested, time: context.clock.now(),
            data: try JSONValue(encoding: MasterDataSyncRequest(full: true, kinds: ["products"])),
            connection: event.connection, flow: event.flow, recordid: recordId, causationid: event.id)
        try await context.putUpForReview(
            recordId: recordId, step: SyncAccountsHandler.step,
            reasons: [
                ReviewReason(
                    "catalog.push_rejected",
                    "\(sink.system) refused catalog item \(item.itemNumber.prefix(40)): \(error.message)")
            ], retry: retry)
    }
}
