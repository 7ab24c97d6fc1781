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
// application, posts no new vendor ledger entry at all). The one thing that only grows is `Entry_No`. So one pass of
// the feed is:
// 1. the invoice entries that are open now, up to the highest entry number seen (`Open eq true`, keyset on
//    `Entry_No`), compared with the ones that were open at the last pass: an entry that was open and is no longer
//    is read by its number (closed: paid);
// 2. the invoice entries posted since (`Entry_No gt` the highest seen), open or not.
// The cursor carries the highest entry number, the phase and position within the pass, and the entry numbers of
// the open invoices (what "was open at the last pass" means). Statuses that did not change are left unsent by the
// step's digest, so reading every open invoice each pass costs reads, never writes.

/// The payment feed's position (`navle:<highest>|<phase>|<position>|<open entries>`).
struct NAVLedgerCursor: Sendable, Hashable {
    enum Phase: String, Sendable { case open, new }

    /// The highest invoice entry number seen by a finished `new` phase.
    var highest: Int64
    var phase: Phase
    /// The last entry number read in the current phase.
    var position: Int64
    /// Entry numbers of the invoices that were open when last read, ascending.
    var open: [Int64]

    static let start = NAVLedgerCursor(highest: 0, phase: .new, position: 0, open: [])

    init(highest: Int64, phase: Phase, position: Int64, open: [Int64]) {
        self.highest = highest
        self.phase = phase
        self.position = position
        self.open = open
    }

    init(_ cursor: ChangeCursor) throws {
        let parts = cursor.value.split(separator: "|", omittingEmptySubsequences: false).map(String.init)
        guard parts.count == 4, parts[0].hasPrefix("navle:"), let highest = Int64(parts[0].dropFirst(6)),
            let phase = Phase(rawValue: parts[1]), let position = Int64(parts[2])
        else {
            throw ConnectorError(
                .configInvalid, "\(cursor.value.prefix(40)) is not a Dynamics NAV vendor ledger cursor")
        }
        let open = parts[3].split(separator: ",").compactMap { Int64($0) }
        self.init(highest: highest, phase: phase, position: position, open: open)
    }

    var cursor: ChangeCursor {
        ChangeCursor("navle:\(highest)|\(phase.rawValue)|\(position)|\(open.map(String.init).joined(separator: ","))")
    }
}

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
        var state = try cursor.map(NAVLedgerCursor.init) ?? .start
        let entry = ODataField(settings.ledgerField("entryNumber"))
        let invoices = ODataFilter.eq(ODataField(settings.ledgerField("documentType")), Self.invoiceType)
        var rows: [NAVRecord]
        let hasMore: Bool
        switch state.phase {
        case .open:
            rows = try await page(
                settings.vendorLedgerService,
                filter: invoices.and(.eq(ODataField(settings.ledgerField("open")), .bool(true)))
                    .and(.gt(entry, .int(state.position))).and(.le(entry, .int(state.highest))),
                order: [(entry, .asc)], top: size)
            let full = rows.count >= size
            let lower = state.position
            let upper = full ? (rows.last.flatMap(entryNumber) ?? state.highest) : state.highest
            let openNow = Set(rows.filter { isOpen($0) }.compactMap(entryNumber))
            let inRange = state.open.filter { $0 > lower && $0 <= upper }
            // Open at the last pass, not open now: closed since (or reversed); read them by number.
            rows += try await ledgerEntries(inRange.filter { !openNow.contains($0) })
            state.open = (state.open.filter { $0 <= lower || $0 > upper } + openNow).sorted()
            if full {
                state.position = upper
            } else {
                state.phase = .new
                state.position = state.highest
            }
            hasMore = true
        case .new:
            rows = try await page(
                settings.vendorLedgerService, filter: invoices.and(.gt(entry, .int(state.position))),
                order: [(entry, .asc)], top: size)
            let last = rows.compactMap(entryNumber).max() ?? state.position
            state.open = Array(Set(state.open).union(rows.filter { isOpen($0) }.compactMap(entryNumber))).sorted()
            state.highest = max(state.highest, last)
            if rows.count >= size {
                state.position = last
                hasMore = true
            } else {
                // The pass is done: the next one starts again with the open invoices.
                state.phase = .open
                state.position = 0
                hasMore = false
            }
        }
        return ChangePage(items: rows.compactMap(paymentStatus), next: state.cursor, hasMore: hasMore)
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
