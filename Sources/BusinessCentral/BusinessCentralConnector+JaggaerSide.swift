import ConnectorCore
import ConnectorHTTP
import Foundation
import OData

// Payment status for JAGGAER (reference microsoft-apis.md §1.4): `purchaseInvoices.status` becomes `Paid` once
// the posted invoice is paid in full; the API id survives posting (§1.3), so the id recorded for the draft finds
// the paid invoice. Delta by `lastModifiedDateTime`, like vendors and accounts.
//
// With `analyticsVendorLedgerEntries` on, the Analytics API's vendor ledger entries add partial payments
// (BusinessCentralVendorLedger.swift); without it a BC invoice is either unpaid (`Open`) or paid (`Paid`).

extension BusinessCentralConnector {
    /// Purchase invoices changed after the cursor, as payment states: `Paid` is paid (the whole amount), `Open`
    /// unpaid; drafts, invoices in review and cancelled or corrective ones carry no payment and are left out (they
    /// still move the cursor). With the Analytics ledger on, invoices whose ledger entries moved since the cursor's
    /// posting date (less the lookback) are added or refined: partly paid when a payment reduced what remains, paid
    /// when the entry closed. One call follows every `nextLink`, so `hasMore` is always false.
    package func paymentStatuses(after cursor: ChangeCursor?, pageSize: Int) async throws -> ChangePage<
        ERPPaymentStatus
    > {
        let company = try await companyId()
        let position = BCPaymentCursor(cursor)
        let invoices = try await client.changedPurchaseInvoices(companyId: company, modifiedSince: position.modified)
        var statuses: [String: ERPPaymentStatus] = [:]
        var order: [String] = []
        func add(_ status: ERPPaymentStatus) {
            let key = status.document.id.lowercased()
            if statuses[key] == nil { order.append(key) }
            statuses[key] = status
        }
        for invoice in invoices {
            if let status = Self.statusOfDocument(invoice, system: system) { add(status) }
        }
        var ledgerDate = position.ledgerDate
        if settings.analyticsVendorLedgerEntries {
            let from = position.ledgerDate.map { $0.adding(days: -settings.vendorLedgerLookbackDays) }
            let moved = try await client.vendorLedgerRows(companyId: company, postedFrom: from)
            ledgerDate = ([ledgerDate] + moved.map { $0.dvlePostingDate.flatMap(LocalDate.init(parsing:)) })
                .compactMap { $0 }.max()
            let numbers = Set(moved.compactMap(\.purchInvHeaderDocumentNo).filter { !$0.isEmpty })
            if !numbers.isEmpty {
                // Every detailed entry of those invoices (the initial entry is older than the window), and the
                // invoices themselves (the API id the write step recorded, the vendor and the document's total).
                let rows = try await client.vendorLedgerRows(companyId: company, documentNumbers: Array(numbers))
                let ledger = BCInvoiceLedgerState.from(rows)
                let documents = try await client.purchaseInvoices(companyId: company, numbers: Array(numbers))
                for invoice in documents {
                    guard let number = invoice.number, let state = ledger[number],
                        let status = Self.statusOfLedger(invoice, ledger: state, system: system)
                    else { continue }
                    add(status)
                }
            }
        }
        let newest = (invoices.compactMap(\.lastModifiedDateTime) + [position.modified].compactMap { $0 }).max()
        let next = BCPaymentCursor(modified: newest, ledgerDate: ledgerDate)
        return ChangePage(items: order.compactMap { statuses[$0] }, next: next.cursor ?? cursor, hasMore: false)
    }

    /// The state a purchase invoice's `status` gives: `Paid` or `Open`; nil for the others.
    static func statusOfDocument(_ invoice: BCPurchaseInvoice, system: String) -> ERPPaymentStatus? {
        let total = invoice.totalAmountIncludingTax ?? 0
        let state: ERPPaymentStatus.State
        switch invoice.status?.trimmingWhitespace(newlines: false).lowercased() {
        case "paid": state = .paid
        case "open": state = .unpaid
        default: return nil
        }
        return ERPPaymentStatus(
            document: ERPDocumentRef(system: system, id: invoice.id, number: invoice.number, status: invoice.status),
            vendorNumber: invoice.vendorNumber ?? "", vendorInvoiceNumber: invoice.vendorInvoiceNumber ?? "",
            state: state, amount: total, paidAmount: state == .paid ? total : 0,
            changedAt: invoice.lastModifiedDateTime)
    }

    /// The state the ledger gives a posted invoice: paid once its entry is closed, partly paid while a payment
    /// reduced what remains, unpaid otherwise. The paid amount is in the invoice's currency: the ledger's share
    /// paid (local currency) applied to the invoice's total, rounded to cents.
    static func statusOfLedger(
        _ invoice: BCPurchaseInvoice, ledger: BCInvoiceLedgerState, system: String
    ) -> ERPPaymentStatus? {
        let status = invoice.status?.trimmingWhitespace(newlines: false).lowercased()
        guard status == "open" || status == "paid" else { return nil }
        let total = invoice.totalAmountIncludingTax ?? 0
        let state: ERPPaymentStatus.State
        var paid: Decimal
        if !ledger.open || status == "paid" {
            state = .paid
            paid = total
        } else if ledger.paidLCY > 0, ledger.amountLCY > 0 {
            state = .partiallyPaid
            var share = total * ledger.paidLCY / ledger.amountLCY
            paid = Decimal()
            NSDecimalRound(&paid, &share, 2, .plain)
        } else {
            state = .unpaid
            paid = 0
        }
        return ERPPaymentStatus(
            document: ERPDocumentRef(system: system, id: invoice.id, number: invoice.number, status: invoice.status),
            vendorNumber: invoice.vendorNumber ?? "", vendorInvoiceNumber: invoice.vendorInvoiceNumber ?? "",
            state: state, amount: total, paidAmount: paid, changedAt: invoice.lastModifiedDateTime)
    }
}

extension BusinessCentralClient {
    /// Purchase invoices (drafts and posted) changed after `modifiedSince` (all when nil), oldest change first.
    package func changedPurchaseInvoices(companyId: String, modifiedSince: Date?) async throws -> [BCPurchaseInvoice] {
        var query = [
            (
                "$select",
                "id,number,vendorNumber,vendorInvoiceNumber,status,totalAmountIncludingTax,lastModifiedDateTime"
            ),
            ("$orderby", "lastModifiedDateTime asc"),
        ]
        if let modifiedSince {
            query.append(
                (
                    "$filter",
                    try ODataFilter.gt("lastModifiedDateTime", dateTime: modifiedSince).render(.businessCentral)
                ))
        }
        let url = URLBuilder.url(
            apiRoot, path: "/companies(\(try Self.guid(companyId)))/purchaseInvoices", query: query)
        return try await list(url)
    }
}

extension BusinessCentralConnector {
    /// A vendor's address as JAGGAER's supplier gets it; nil when BC has none. (Payment terms: see
    /// BusinessCentralPaymentTerms.swift.)
    static func address(_ vendor: BCVendor) -> PostalAddress? {
        func value(_ text: String?) -> String? {
            guard let text = text?.trimmingWhitespace(newlines: false), !text.isEmpty else { return nil }
            return text
        }
        return PostalAddress(
            lines: [vendor.addressLine1, vendor.addressLine2].compactMap(value), city: value(vendor.city),
            state: value(vendor.state), postalCode: value(vendor.postalCode), country: value(vendor.country)
        ).nonEmpty
    }
}
