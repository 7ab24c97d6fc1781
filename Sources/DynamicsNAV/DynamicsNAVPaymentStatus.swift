import ConnectorCore
import Foundation
import OData

// Payment status from the Vendor Ledger Entries page (page 29, reference §3.2 and §4). A posted invoice is one
// vendor ledger entry (`Document_Type` `Invoice`, negative `Amount`, the vendor's invoice number in
// `External_Document_No`); payments applied to it lower its `Remaining_Amount` and, once nothing remains, clear
// `Open`. The page's OData names are UNCONFIRMED, so each is a setting (`vendorLedgerFields`), checked against
// `$metadata` with the page itself.
//
// NAV keeps no modification stamp on a ledger entry, and applying a payment changes the invoice's entry in place
// (its remaining amount is a FlowField over the detailed entries; applying an existing payment later, or undoing an
// application, posts no new vendor ledger entry at all). The one thing that only grows is `Entry_No`: the feed is an
// `OpenSetFeed` on it (the open invoice entries, `Open eq true`, re-read each pass; the ones closed since read by
// number; then the entries posted since).

/// The payment feed's cursors (`navle:<highest>|<phase>|<position>|<open entries>`, `OpenSetFeed`).
private let ledgerCursorPrefix = "navle:"

extension DynamicsNAVConnector {
    /// The document reference of a vendor ledger entry (`VendorLedgerEntry(<Entry_No>)`).
    func ledgerEntryId(_ entry: NAVRecord) -> String {
        "VendorLedgerEntry(\(entry.number(settings.ledgerField("entryNumber")).map { "\($0)" } ?? "?"))"
    }

    func entryNumber(_ entry: NAVRecord) -> Int64? {
        entry.number(settings.ledgerField("entryNumber")).map { NSDecimalNumber(decimal: $0).int64Value }
    }

    /// Posted invoices whose payment state may have changed since `cursor` (see the comment at the top of the file).
    package func paymentStatuses(after cursor: ChangeCursor?, pageSize: Int) async throws -> ChangePage<
        ERPPaymentStatus
    > {
        guard settings.readsPaymentStatus else {
            throw ConnectorError(
                .unsupported,
                "\(system) reads no payment status: erp.dynamicsNAV.vendorLedgerService is empty (name the published Vendor Ledger Entries page, 29)"
            )
        }
        try await published.check()
        let size = max(1, pageSize)
        var feed =
            try cursor.map { try OpenSetFeed($0, prefix: ledgerCursorPrefix, feed: "Dynamics NAV vendor ledger") }
            ?? .start
        let entry = ODataField(settings.ledgerField("entryNumber"))
        let invoices = ODataFilter.eq(ODataField(settings.ledgerField("documentType")), Self.invoiceType)
        let (rows, hasMore) = try await feed.next(
            size: size,
            openRows: { after, upTo, top in
                try await page(
                    settings.vendorLedgerService,
                    filter: invoices.and(.eq(ODataField(settings.ledgerField("open")), .bool(true)))
                        .and(.gt(entry, .int(after))).and(.le(entry, .int(upTo))),
                    order: [(entry, .asc)], top: top)
            },
            rows: { numbers in try await ledgerEntries(numbers) },
            postedRows: { after, top in
                try await page(
                    settings.vendorLedgerService, filter: invoices.and(.gt(entry, .int(after))),
                    order: [(entry, .asc)], top: top)
            },
            key: entryNumber, isOpen: isOpen)
        return ChangePage(
            items: rows.compactMap(paymentStatus), next: feed.cursor(prefix: ledgerCursorPrefix), hasMore: hasMore)
    }

    func isOpen(_ entry: NAVRecord) -> Bool {
        entry.flag(settings.ledgerField("open")) ?? true
    }

    /// Ledger entries by number, 20 per request (`or` over one field, as NAV filters take).
    func ledgerEntries(_ numbers: [Int64]) async throws -> [NAVRecord] {
        var rows: [NAVRecord] = []
        var start = 0
        let entry = ODataField(settings.ledgerField("entryNumber"))
        while start < numbers.count {
            let chunk = numbers[start..<min(start + 20, numbers.count)]
            start += 20
            rows += try await client.list(
                settings.vendorLedgerService, ODataQuery(filter: .any(chunk.map { .eq(entry, .int($0)) })))
        }
        return rows
    }

    /// An invoice entry's payment state: not open is paid (nothing remains; settled by a payment or a credit memo),
    /// open with less remaining than the amount is partly paid, else unpaid. Amounts are the entry's own (negative
    /// for an invoice, a credit to the vendor), reported as positive numbers in the invoice's currency.
    func paymentStatus(_ entry: NAVRecord) -> ERPPaymentStatus? {
        guard entryNumber(entry) != nil, let vendor = entry.text(settings.ledgerField("vendorNumber")),
            let external = entry.text(settings.ledgerField("externalDocumentNumber")), !external.isEmpty
        else { return nil }
        let amount = abs(entry.number(settings.ledgerField("amount")) ?? 0)
        let remaining = min(amount, abs(entry.number(settings.ledgerField("remainingAmount")) ?? amount))
        let open = isOpen(entry) && !(remaining == 0 && amount != 0)
        let state: ERPPaymentStatus.State = !open ? .paid : remaining < amount ? .partiallyPaid : .unpaid
        return ERPPaymentStatus(
            document: ERPDocumentRef(
                system: system, id: ledgerEntryId(entry), number: entry.text(settings.ledgerField("documentNumber")),
                status: open ? "open" : "closed"),
            vendorNumber: vendor, vendorInvoiceNumber: external, state: state, amount: amount,
            paidAmount: open ? amount - remaining : amount,
            // No stamp on a ledger entry: when the payment was made is not known here.
            changedAt: nil)
    }
}
