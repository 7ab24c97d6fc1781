import ConnectorCore
import ConnectorHTTP
import Foundation
import OData

// Partial payments from the Analytics API (reference microsoft-apis.md §1.4; MicrosoftDocs
// dev-itpro/api-analytics/resources/dynamics_vendorledgerentry.md). API v2.0 has no vendor ledger entry entity, and a
// purchase invoice's `status` only says `Open` or `Paid`. The Analytics API's `vendorLedgerEntries` joins each vendor
// ledger entry (`vle…`) with its detailed entries (`dvle…`), one row per detailed entry:
// - the invoice's entry is found by `purchInvHeaderDocumentNo`, the posted invoice's number;
// - its amount is the sum of `dvleAmountLCY` over the detailed entries with `dvleLedgerEntryAmount` true (the
//   initial entry), its remaining amount the sum over all of them (applications of payments reduce it), both
//   negative for an invoice (a credit to the vendor), in local currency;
// - `vleOpen` false means closed: paid in full.
// Which BC versions serve the Analytics API is UNCONFIRMED, so reading it is a connection setting
// (`erp.businessCentral.analyticsVendorLedgerEntries`, off by default). It has no change stamp: each run reads the
// rows posted since the newest posting date seen, less `vendorLedgerLookbackDays` (payments can be posted with an
// earlier date), and the step's digest leaves statuses that did not change unsent.

/// One row of `vendorLedgerEntries` (Analytics API v1.0): a vendor ledger entry with one of its detailed entries.
package struct BCVendorLedgerRow: Decodable, Sendable, Hashable {
    package var vleEntryNo: Int
    package var vleOpen: Bool?
    package var vleClosedAtDate: String?
    package var dvleEntryNo: Int?
    package var dvlePostingDate: String?
    package var dvleLedgerEntryAmount: Bool?
    package var dvleAmountLCY: Decimal?
    package var dvleVendorNo: String?
    package var purchInvHeaderDocumentNo: String?

    package init(
        vleEntryNo: Int, vleOpen: Bool?, vleClosedAtDate: String?, dvleEntryNo: Int?, dvlePostingDate: String?,
        dvleLedgerEntryAmount: Bool?, dvleAmountLCY: Decimal?, dvleVendorNo: String?, purchInvHeaderDocumentNo: String?
    ) {
        self.vleEntryNo = vleEntryNo
        self.vleOpen = vleOpen
        self.vleClosedAtDate = vleClosedAtDate
        self.dvleEntryNo = dvleEntryNo
        self.dvlePostingDate = dvlePostingDate
        self.dvleLedgerEntryAmount = dvleLedgerEntryAmount
        self.dvleAmountLCY = dvleAmountLCY
        self.dvleVendorNo = dvleVendorNo
        self.purchInvHeaderDocumentNo = purchInvHeaderDocumentNo
    }

    static let select =
        "vleEntryNo,vleOpen,vleClosedAtDate,dvleEntryNo,dvlePostingDate,dvleLedgerEntryAmount,dvleAmountLCY,dvleVendorNo,purchInvHeaderDocumentNo"
}

/// What the ledger says of one posted invoice.
package struct BCInvoiceLedgerState: Sendable, Hashable {
    package var documentNumber: String
    /// The invoice's amount in local currency (positive).
    package var amountLCY: Decimal
    /// What is still owed in local currency (positive; 0 once paid).
    package var remainingLCY: Decimal
    package var open: Bool

    package init(documentNumber: String, amountLCY: Decimal, remainingLCY: Decimal, open: Bool) {
        self.documentNumber = documentNumber
        self.amountLCY = amountLCY
        self.remainingLCY = remainingLCY
        self.open = open
    }

    /// The entries of the rows, one vendor ledger entry per posted invoice number (the first entry when a number
    /// has several, which BC does not allow for invoices). Detailed entries seen twice (overlapping reads) count once.
    package static func from(_ rows: [BCVendorLedgerRow]) -> [String: BCInvoiceLedgerState] {
        var entries: [String: (entry: Int, open: Bool, details: [Int: (Decimal, Bool)])] = [:]
        for row in rows {
            guard let number = row.purchInvHeaderDocumentNo, !number.isEmpty else { continue }
            var entry = entries[number] ?? (row.vleEntryNo, row.vleOpen ?? true, [:])
            guard entry.entry == row.vleEntryNo else { continue }
            if let open = row.vleOpen { entry.open = open }
            if let detail = row.dvleEntryNo, let amount = row.dvleAmountLCY {
                entry.details[detail] = (amount, row.dvleLedgerEntryAmount ?? false)
            }
            entries[number] = entry
        }
        var states: [String: BCInvoiceLedgerState] = [:]
        for (number, entry) in entries {
            let amount = entry.details.values.filter(\.1).reduce(Decimal(0)) { $0 + $1.0 }
            let remaining = entry.details.values.reduce(Decimal(0)) { $0 + $1.0 }
            states[number] = BCInvoiceLedgerState(
                documentNumber: number, amountLCY: -amount, remainingLCY: -remaining, open: entry.open)
        }
        return states
    }

    /// Paid in local currency: the amount less what remains, never below 0 or above the amount.
    package var paidLCY: Decimal { max(0, min(amountLCY, amountLCY - remainingLCY)) }
}

extension BusinessCentralClient {
    /// `…/api/microsoft/analytics/v1.0`, beside `…/api/v2.0`.
    package var analyticsRoot: String {
        let suffix = "/api/v2.0"
        guard apiRoot.hasSuffix(suffix) else { return apiRoot }
        return String(apiRoot.dropLast(suffix.count)) + "/api/microsoft/analytics/v1.0"
    }

    /// Ledger rows whose detailed entry was posted on or after `postedFrom` (all rows when nil).
    package func vendorLedgerRows(companyId: String, postedFrom: LocalDate?) async throws -> [BCVendorLedgerRow] {
        var query = [("$select", BCVendorLedgerRow.select)]
        if let postedFrom {
            query.append(("$filter", "dvlePostingDate ge \(postedFrom)"))
        }
        return try await analyticsList(companyId: companyId, query: query)
    }

    /// Every row of the invoices with these posted numbers (`or` over one field; 20 numbers per request).
    package func vendorLedgerRows(companyId: String, documentNumbers: [String]) async throws -> [BCVendorLedgerRow] {
        var rows: [BCVendorLedgerRow] = []
        var start = 0
        let numbers = Array(Set(documentNumbers)).sorted()
        while start < numbers.count {
            let chunk = Array(numbers[start..<min(start + 20, numbers.count)])
            let filter = try ODataFilter.isIn("purchInvHeaderDocumentNo", chunk).render(.businessCentral)
            rows += try await analyticsList(
                companyId: companyId, query: [("$select", BCVendorLedgerRow.select), ("$filter", filter)])
            start += 20
        }
        return rows
    }

    /// Purchase invoices by number (posted numbers included), 20 numbers per request.
    package func purchaseInvoices(companyId: String, numbers: [String]) async throws -> [BCPurchaseInvoice] {
        var invoices: [BCPurchaseInvoice] = []
        var start = 0
        let numbers = Array(Set(numbers)).sorted()
        while start < numbers.count {
            let chunk = Array(numbers[start..<min(start + 20, numbers.count)])
            let filter = try ODataFilter.isIn("number", chunk).render(.businessCentral)
            let url = URLBuilder.url(
                apiRoot, path: "/companies(\(try Self.guid(companyId)))/purchaseInvoices",
                query: [
                    (
                        "$select",
                        "id,number,vendorNumber,vendorInvoiceNumber,status,totalAmountIncludingTax,lastModifiedDateTime"
                    ),
                    ("$filter", filter),
                ])
            invoices += try await list(url) as [BCPurchaseInvoice]
            start += 20
        }
        return invoices
    }

    private func analyticsList(companyId: String, query: [(String, String)]) async throws -> [BCVendorLedgerRow] {
        let url = URLBuilder.url(
            analyticsRoot, path: "/companies(\(try Self.guid(companyId)))/vendorLedgerEntries", query: query)
        do {
            return try await list(url)
        } catch let error as ConnectorError where error.httpStatus == 404 {
            throw ConnectorError(
                .connectionInvalid,
                "Business Central does not serve the Analytics API's vendorLedgerEntries (404): turn off erp.businessCentral.analyticsVendorLedgerEntries, or check that the environment's version has the Analytics API"
            )
        }
    }
}

/// The payment feed's position: the newest `lastModifiedDateTime` of a purchase invoice read, and the newest posting
/// date of a ledger row read. Written `<timestamp>` (invoices only, as before) or `<timestamp>|ledger=<date>`.
struct BCPaymentCursor: Hashable {
    var modified: Date?
    var ledgerDate: LocalDate?

    init(modified: Date?, ledgerDate: LocalDate?) {
        self.modified = modified
        self.ledgerDate = ledgerDate
    }

    init(_ cursor: ChangeCursor?) {
        guard let cursor else { return }
        let parts = cursor.value.components(separatedBy: "|ledger=")
        modified = parts[0].isEmpty ? nil : Timestamp.parse(parts[0])
        ledgerDate = parts.count > 1 ? LocalDate(parsing: parts[1]) : nil
    }

    var cursor: ChangeCursor? {
        guard modified != nil || ledgerDate != nil else { return nil }
        let stamp = modified.map(Timestamp.format) ?? ""
        return ChangeCursor(stamp + (ledgerDate.map { "|ledger=\($0)" } ?? ""))
    }
}

extension LocalDate {
    /// The date `days` later (earlier when negative).
    func adding(days: Int) -> LocalDate {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC") ?? .gmt
        let start =
            calendar.date(from: DateComponents(year: year, month: month, day: day)) ?? Date(timeIntervalSince1970: 0)
        return LocalDate(utcDayOf: start.addingTimeInterval(Double(days) * 86_400))
    }
}
