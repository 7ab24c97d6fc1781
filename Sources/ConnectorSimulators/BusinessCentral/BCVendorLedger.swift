import Foundation

// Vendor ledger entries as the Analytics API v1.0 serves them (MicrosoftDocs dev-itpro/api-analytics/resources/
// dynamics_vendorledgerentry.md): `GET …/api/microsoft/analytics/v1.0/companies({id})/vendorLedgerEntries`,
// read-only, one row per detailed vendor ledger entry joined with its vendor ledger entry (`vle…`, `dvle…`) and the
// posted purchase invoice's header (`purchInvHeader…`). The standard API v2.0 has no such entity (reference §1.4).
//
// Posting a purchase invoice writes its entry with an `Initial Entry` detailed entry of minus the amount including
// tax (a credit to the vendor); each payment applied writes an `Application` detailed entry of plus the amount paid;
// the entry closes when nothing remains. Amounts are the invoice's own (the simulator keeps no exchange rates, so
// an invoice in a foreign currency is booked at rate 1).

/// A vendor ledger entry of a posted purchase invoice with its detailed entries.
package struct BCVendorLedgerEntry: Sendable {
    package struct Detail: Sendable {
        var entryNumber: Int
        var postingDate: String
        var entryType: String
        var documentType: String
        var documentNumber: String
        var amount: Decimal
        var ledgerEntryAmount: Bool
        var appliedEntryNumber: Int
    }

    var entryNumber: Int
    var vendorNumber: String
    var documentNumber: String
    var postingDate: String
    var documentDate: String
    var dueDate: String
    var paymentTermsCode: String
    var open = true
    var closedAtDate = "0001-01-01"
    var details: [Detail] = []

    /// What remains to be paid (positive).
    var remaining: Decimal { -details.reduce(Decimal(0)) { $0 + $1.amount } }

    var rows: [BCVendorLedgerRow] { details.map { BCVendorLedgerRow(entry: self, detail: $0) } }
}

/// One row of the Analytics API's `vendorLedgerEntries`.
struct BCVendorLedgerRow: BCEntity {
    static let entityType = "Microsoft.NAV.vendorLedgerEntry"
    static let properties: [(name: String, type: ODataType)] = [
        ("vleEntryNo", .int), ("vleDueDate", .date), ("vleOpen", .bool), ("vlePostingDate", .date),
        ("vleDocumentDate", .date), ("vleDimensionSetID", .int), ("vleClosedAtDate", .date), ("vleReasonCode", .string),
        ("dvleEntryNo", .int), ("dvlePostingDate", .date), ("dvleLedgerEntryAmount", .bool), ("dvleEntryType", .string),
        ("dvleDocumentType", .string), ("dvleDocumentNo", .string), ("dvleInitialEntryDueDate", .date),
        ("dvleAmountLCY", .decimal), ("dvleVendorNo", .string), ("dvleApplicationNo", .int),
        ("dvleAppliedVendLedgerEntryNo", .int), ("purchInvHeaderDocumentNo", .string),
        ("purchInvHeaderPaymentTermsCode", .string), ("purchInvHeaderPmtDiscountDate", .date),
    ]
    static let defaultOrder = ["vleEntryNo", "dvleEntryNo"]

    let entry: BCVendorLedgerEntry
    let detail: BCVendorLedgerEntry.Detail

    var id: String { "\(entry.entryNumber)-\(detail.entryNumber)" }
    var rowVersion: Int { detail.entryNumber }

    func value(_ property: String) -> SimJSON {
        switch property {
        case "vleEntryNo": return .int(entry.entryNumber)
        case "vleDueDate": return .string(entry.dueDate)
        case "vleOpen": return .bool(entry.open)
        case "vlePostingDate": return .string(entry.postingDate)
        case "vleDocumentDate": return .string(entry.documentDate)
        case "vleDimensionSetID": return .int(0)
        case "vleClosedAtDate": return .string(entry.closedAtDate)
        case "vleReasonCode": return .string("")
        case "dvleEntryNo": return .int(detail.entryNumber)
        case "dvlePostingDate": return .string(detail.postingDate)
        case "dvleLedgerEntryAmount": return .bool(detail.ledgerEntryAmount)
        case "dvleEntryType": return .string(detail.entryType)
        case "dvleDocumentType": return .string(detail.documentType)
        case "dvleDocumentNo": return .string(detail.documentNumber)
        case "dvleInitialEntryDueDate": return .string(entry.dueDate)
        case "dvleAmountLCY": return .decimal(detail.amount)
        case "dvleVendorNo": return .string(entry.vendorNumber)
        case "dvleApplicationNo": return .int(0)
        case "dvleAppliedVendLedgerEntryNo": return .int(detail.appliedEntryNumber)
        case "purchInvHeaderDocumentNo": return .string(entry.documentNumber)
        case "purchInvHeaderPaymentTermsCode": return .string(entry.paymentTermsCode)
        case "purchInvHeaderPmtDiscountDate": return .string("0001-01-01")
        default: return .null
        }
    }
}

extension BCCompanyData {
    /// Writes the vendor ledger entry of a purchase invoice being posted (its `number` already the posted one).
    mutating func openLedgerEntry(for invoice: BCPurchaseInvoice, postingDate: String) {
        let detail = BCVendorLedgerEntry.Detail(
            entryNumber: nextDetailedLedgerEntryNumber, postingDate: postingDate, entryType: "Initial Entry",
            documentType: "Invoice", documentNumber: invoice.number, amount: -invoice.totalAmountIncludingTax,
            ledgerEntryAmount: true, appliedEntryNumber: nextLedgerEntryNumber)
        nextDetailedLedgerEntryNumber += 1
        vendorLedgerEntries.append(
            BCVendorLedgerEntry(
                entryNumber: nextLedgerEntryNumber, vendorNumber: invoice.vendorNumber,
                documentNumber: invoice.number, postingDate: postingDate, documentDate: invoice.invoiceDate,
                dueDate: invoice.dueDate, paymentTermsCode: "", details: [detail]))
        nextLedgerEntryNumber += 1
    }

    /// Applies a payment of `amount` (nil: what remains) to the posted invoice's entry; returns what remains.
    mutating func applyPayment(invoiceNumber: String, amount: Decimal?, postingDate: String) throws(BCError)
        -> Decimal
    {
        guard let index = vendorLedgerEntries.firstIndex(where: { $0.documentNumber == invoiceNumber }) else {
            throw BCError(
                404, "Internal_RecordNotFound", "The vendor ledger entry of invoice \(invoiceNumber) does not exist.")
        }
        var entry = vendorLedgerEntries[index]
        let remaining = entry.remaining
        let paid = amount ?? remaining
        guard paid > 0, paid <= remaining else {
            throw BCError(
                400, "Application_DialogException",
                "The payment of \(paid) is not between 0 and the remaining amount \(remaining) of invoice \(invoiceNumber)."
            )
        }
        let paymentEntry = nextLedgerEntryNumber
        nextLedgerEntryNumber += 1
        entry.details.append(
            BCVendorLedgerEntry.Detail(
                entryNumber: nextDetailedLedgerEntryNumber, postingDate: postingDate, entryType: "Application",
                documentType: "Payment", documentNumber: "PAY\(paymentEntry)", amount: paid,
                ledgerEntryAmount: false, appliedEntryNumber: paymentEntry))
        nextDetailedLedgerEntryNumber += 1
        if entry.remaining == 0 {
            entry.open = false
            entry.closedAtDate = postingDate
        }
        vendorLedgerEntries[index] = entry
        return entry.remaining
    }
}
