import ConnectorCore
import Foundation
import Logging

/// The ERP's released products into the procurement system's catalog (part of `sync-accounts`, kind `products`),
/// where the tenant uses catalogs (`sink.pushesCatalogItems`, off by default: then nothing is read) and the ERP gives
/// released products (`capabilities.releasedProducts`, F&O).
///
/// Reads the ERP's change page from the stored cursor (F&O: a full read diffed against the last snapshot) and upserts
/// each item by its item number; content sent before is not sent again. The cursor moves after a page every item of
/// which is in the catalog or was refused (listed in the summary; sent again when it changes): an item JAGGAER could
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
    package struct Position: Sendable, Codable, Hashable {
        package var cursor: ChangeCursor?
        package var syncedAt: Date
    }

    /// Runs the push; the summary's entries (`products…`) go into the step's detail.
    package func run(fromStart: Bool, resend: Bool) async throws -> [String: String] {
        guard let sink, sink.pushesCatalogItems else {
            return ["products": "off (jaggaer.writer.catalogItems is false)"]
        }
        guard erp.capabilities.releasedProducts else {
            return ["products": "\(erp.system) gives no released products"]
        }
        let push = ProcurementPush(sink: sink, store: context.store, keys: context.keys, force: resend)
        let cursors = CursorStore<Position>(store: context.store, keys: context.keys, name: Self.cursorName)
        let loaded = try await cursors.load()
        var version = loaded?.version
        var cursor = fromStart ? nil : loaded?.cursor.cursor
        var counts = ProcurementPush.Counts()
        var read = 0
        var refused: [String] = []
        while true {
            let page = try await erp.releasedProducts(after: cursor, pageSize: pageSize)
            read += page.items.count
            for item in page.items {
                do {
                    try await push.push(Self.kind, id: item.itemNumber, content: item, counts: &counts) {
                        try await sink.upsertCatalogItem(item)
                    }
                } catch let error as ConnectorError where error.kind == .rejected {
                    // Sending it again changes nothing until the item (or the settings) change.
                    context.logger.warning(
                        "catalog item refused",
                        metadata: ["item": "\(item.itemNumber)", "code": "\(error.code)", "error": "\(error.message)"])
                    refused.append(item.itemNumber)
                }
            }
            cursor = page.next ?? cursor
            guard
                try await cursors.save(
                    Position(cursor: cursor, syncedAt: context.clock.now()), expectedVersion: version)
            else {
                throw ConnectorError(
                    .inFlight, "another sync moved the released-products cursor; this run stops",
                    retryAt: context.clock.now().addingTimeInterval(30))
            }
            version = try await cursors.load()?.version
            if !page.hasMore { break }
        }
        var detail = [
            "products": String(read), "productsPushed": String(counts.sent),
            "productsUnchanged": String(counts.unchanged), "productsRefused": String(refused.count),
        ]
        if !refused.isEmpty { detail["productsRefusedItems"] = refused.prefix(20).joined(separator: ",") }
        return detail
    }
}
