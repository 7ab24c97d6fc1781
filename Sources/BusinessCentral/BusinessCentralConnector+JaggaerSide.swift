import ConnectorCore
import ConnectorHTTP
import Foundation
import OData

// Payment status for JAGGAER (reference microsoft-apis.md §1.4): `purchaseInvoices.status` becomes `Paid` once
// the posted invoice is paid in full; the API id survives posting (§1.3), so the id recorded for the draft finds
// the paid invoice. Delta by `lastModifiedDateTime`, like vendors and accounts.
//
// Not read yet: the Analytics API's `vendorLedgerEntries` (`vleOpen`, `vleClosedAtDate`), which would also show
// partial payments where the tenant offers it (which BC versions do is UNCONFIRMED). Without it a BC invoice is
// either unpaid (`Open`) or paid (`Paid`), never partly paid.

extension BusinessCentralConnector {
    /// Purchase invoices changed after the cursor, as payment states: `Paid` is paid (the whole amount), `Open`
    /// unpaid; drafts, invoices in review and cancelled or corrective ones carry no payment and are left out (they
    /// still move the cursor). One call follows every `nextLink`, so `hasMore` is always false.
    package func paymentStatuses(after cursor: ChangeCursor?, pageSize: Int) async throws -> ChangePage<
        ERPPaymentStatus
    > {
        let company = try await companyId()
        let invoices = try await client.changedPurchaseInvoices(companyId: company, modifiedSince: Self.since(cursor))
        let statuses = invoices.compactMap { invoice -> ERPPaymentStatus? in
            let total = invoice.totalAmountIncludingTax ?? 0
            let state: ERPPaymentStatus.State
            switch invoice.status?.trimmingCharacters(in: .whitespaces).lowercased() {
            case "paid": state = .paid
            case "open": state = .unpaid
            default: return nil
            }
            return ERPPaymentStatus(
                document: ERPDocumentRef(
                    system: system, id: invoice.id, number: invoice.number, status: invoice.status),
                vendorNumber: invoice.vendorNumber ?? "", vendorInvoiceNumber: invoice.vendorInvoiceNumber ?? "",
                state: state, amount: total, paidAmount: state == .paid ? total : 0,
                changedAt: invoice.lastModifiedDateTime)
        }
        return ChangePage(
            items: statuses, next: Self.cursor(invoices.map(\.lastModifiedDateTime), after: cursor), hasMore: false)
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
            guard let text = text?.trimmingCharacters(in: .whitespaces), !text.isEmpty else { return nil }
            return text
        }
        return PostalAddress(
            lines: [vendor.addressLine1, vendor.addressLine2].compactMap(value), city: value(vendor.city),
            state: value(vendor.state), postalCode: value(vendor.postalCode), country: value(vendor.country)
        ).nonEmpty
    }
}
