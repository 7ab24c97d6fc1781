import ConnectorCore
import Foundation

package struct PaymentStatusSyncRequest: Codable, Sendable, Hashable {
    /// Read the ERP's invoices from the beginning instead of from the stored cursor.
    package var fromStart: Bool?
    package init(fromStart: Bool? = nil) { self.fromStart = fromStart }
}

/// `sync-payment-status`: the payment state of the invoices ml-connector wrote into the ERP, set on their JAGGAER
/// invoices through the `ProcurementSink`.
///
/// Reads `erp.paymentStatuses(after:pageSize:)` from the stored cursor, page by page. Each ERP document is traced
/// back to its JAGGAER invoice through the dedup ledger (the write step recorded the ERP document id and the natural
/// key vendor + vendor invoice number); documents ml-connector did not write are skipped. Paid and partly paid
/// invoices are set; an unpaid one only when a payment was reported for it before (a reversed payment). After each
/// page the cursor moves; a failed write keeps it where it was and fails the step. A status already set to the
/// same value is not sent again, so a replay changes nothing.
package struct SyncPaymentStatusHandler: StepHandler {
    package typealias Input = PaymentStatusSyncRequest
    package static let step = "sync-payment-status"
    package static let acceptedTypes: Set<String> = [EventType.paymentStatusSyncRequested]

    package let context: StepContext
    package let erp: any ERPConnector
    package let sink: (any ProcurementSink)?
    package let pageSize: Int

    package init(context: StepContext, erp: any ERPConnector, sink: (any ProcurementSink)?, pageSize: Int = 200) {
        self.context = context
        self.erp = erp
        self.sink = sink
        self.pageSize = pageSize
    }

    package static func recordId(for event: CloudEvent) -> String { "paymentstatus" }

    /// Where the last run stopped in the ERP's feed of paid invoices.
    package struct Position: Sendable, Codable, Hashable {
        package var cursor: ChangeCursor?
        package var syncedAt: Date
    }

    /// What is compared to tell whether a status changed (the digest's content).
    struct Content: Codable, Hashable {
        var state: ERPPaymentStatus.State
        var amount: Decimal
        var paidAmount: Decimal
    }

    package func handle(_ event: CloudEvent, input: PaymentStatusSyncRequest) async throws -> StepResult {
        guard erp.capabilities.paymentStatus else {
            return StepResult(status: .ok, detail: ["skipped": "\(erp.system) gives no payment status"])
        }
        guard let sink else {
            return StepResult(status: .ok, detail: ["skipped": "jaggaer.writer.enabled is false"])
        }
        let push = ProcurementPush(sink: sink, store: context.store, keys: context.keys)
        let cursors = CursorStore<Position>(store: context.store, keys: context.keys, name: "payment-status")
        let loaded = try await cursors.load()
        var version = loaded?.version
        var cursor = input.fromStart == true ? nil : loaded?.cursor.cursor
        let index = try await InvoiceIndex.build(
            ledger: DedupLedger(store: context.store, keys: context.keys), source: sink.system)

        var counts = ProcurementPush.Counts()
        var read = 0
        var unknown = 0
        var notPaid = 0
        var pages = 0
        while true {
            let page = try await erp.paymentStatuses(after: cursor, pageSize: pageSize)
            pages += 1
            read += page.items.count
            for status in page.items {
                guard let invoiceId = index.invoiceId(for: status) else {
                    unknown += 1
                    continue
                }
                if status.state == .unpaid, !(try await push.wasPushed("payment", id: invoiceId)) {
                    notPaid += 1
                    continue
                }
                let update = PaymentStatusUpdate(
                    invoiceId: invoiceId, state: status.state, amount: status.amount, paidAmount: status.paidAmount,
                    document: status.document, changedAt: status.changedAt)
                try await push.push(
                    "payment", id: invoiceId,
                    content: Content(state: status.state, amount: status.amount, paidAmount: status.paidAmount),
                    counts: &counts
                ) {
                    try await sink.setPaymentStatus(update)
                }
            }
            // Checkpoint after the page: a later failure resumes here, never before.
            cursor = page.next ?? cursor
            let position = Position(cursor: cursor, syncedAt: context.clock.now())
            guard try await cursors.save(position, expectedVersion: version) else {
                throw ConnectorError(
                    .inFlight, "another sync-payment-status moved the cursor; this run stops",
                    retryAt: context.clock.now().addingTimeInterval(30))
            }
            version = try await cursors.load()?.version
            if !page.hasMore { break }
        }
        return StepResult(
            status: .ok,
            detail: [
                "read": String(read), "pages": String(pages), "updated": String(counts.sent),
                "unchanged": String(counts.unchanged), "notWrittenByConnector": String(unknown),
                "unpaid": String(notPaid), "pushedTo": sink.system,
            ]
        )
    }
}

/// The invoices ml-connector wrote, by ERP document id and by natural key (vendor number + vendor invoice number),
/// from the dedup ledger's recorded claims (`invoice/<source>/<id>`, and any other document kind under the same
/// `<kind>/<source>/<id>` shape).
struct InvoiceIndex {
    var byDocument: [String: String] = [:]
    var byNaturalKey: [String: String] = [:]
    /// The natural keys in upper case, for ERPs that keep numbers in upper case (NAV's Code fields); a folded key
    /// that two invoices share maps to none (nil), so the fallback never picks one of two.
    var byFoldedKey: [String: String?] = [:]

    static func build(ledger: DedupLedger, source: String) async throws -> InvoiceIndex {
        var index = InvoiceIndex()
        for (key, entry) in try await ledger.all() where entry.phase == .recorded {
            let parts = key.split(separator: "/", maxSplits: 2).map(String.init)
            guard parts.count == 3, parts[1] == source else { continue }
            if let document = entry.document { index.byDocument[document.id.lowercased()] = parts[2] }
            index.byNaturalKey[entry.naturalKey] = parts[2]
            let folded = entry.naturalKey.uppercased()
            if let existing = index.byFoldedKey[folded], existing != parts[2] {
                index.byFoldedKey[folded] = .some(nil)
            } else {
                index.byFoldedKey[folded] = parts[2]
            }
        }
        return index
    }

    func invoiceId(for status: ERPPaymentStatus) -> String? {
        let key = "\(status.vendorNumber)|\(status.vendorInvoiceNumber)"
        if let id = byDocument[status.document.id.lowercased()] ?? byNaturalKey[key] { return id }
        return byFoldedKey[key.uppercased()] ?? nil
    }
}
