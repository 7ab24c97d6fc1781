import Foundation

/// What a flow needs from an ERP. One adapter per ERP (in that ERP's own target) turns the ERP-neutral model into
/// that ERP's documents; the steps see only this protocol and ask `capabilities` instead of assuming one ERP.
package protocol ERPConnector: Sendable {
    /// Short system name used in dedup keys and document references (`businessCentral`).
    var system: String { get }
    var constraints: ERPConstraints { get }
    var capabilities: ERPCapabilities { get }

    /// Documents already in the ERP for a vendor's invoice number: the natural key of a supplier invoice.
    func findInvoices(vendorNumber: String, vendorInvoiceNumber: String) async throws -> [ERPDocumentRef]
    /// Creates an unposted draft. Must be atomic: either the whole document exists afterwards or nothing does.
    func createDraftInvoice(_ invoice: MappedInvoice) async throws -> ERPDocumentRef
    func listVendors(changedSince: Date?) async throws -> [Vendor]
    func listAccounts(changedSince: Date?) async throws -> [GLAccount]
    func listDimensions() async throws -> [ERPDimension]
    /// "See if we fit": sign-in, company / endpoint, read permission and a sample count of every entity the flows
    /// read, write permission where it can be checked without writing; each check with its fix.
    func fitChecks() async -> [FitCheck]
}

extension ERPConnector {
    package var capabilities: ERPCapabilities { ERPCapabilities() }
}

/// What an ERP can do, asked by the steps instead of assuming Business Central.
package struct ERPCapabilities: Sendable, Hashable {
    /// How an unreviewed invoice lands: a draft the ERP keeps apart from the ledger (BC purchase invoice, B1
    /// draft, Acumatica bill on hold, F&O pending invoice).
    package var draftSemantics: String
    /// Whether invoice lines can point at purchase-order lines.
    package var purchaseOrderLineLinks: Bool
    package var creditMemos: Bool
    /// Whether vendors can be written into the ERP (B1, NAV).
    package var vendorWrites: Bool
    /// Whether the ERP pushes change notifications (webhooks, business events).
    package var changeNotifications: Bool
    /// How long after an ambiguous create (no answer) the ERP may still commit it; a lookup's "not found" is
    /// trusted only after this (BC online cancels an operation after 8 minutes).
    package var ambiguousWriteSettle: Duration

    package init(
        draftSemantics: String = "draft", purchaseOrderLineLinks: Bool = false, creditMemos: Bool = false,
        vendorWrites: Bool = false, changeNotifications: Bool = false, ambiguousWriteSettle: Duration = .seconds(540)
    ) {
        self.draftSemantics = draftSemantics
        self.purchaseOrderLineLinks = purchaseOrderLineLinks
        self.creditMemos = creditMemos
        self.vendorWrites = vendorWrites
        self.changeNotifications = changeNotifications
        self.ambiguousWriteSettle = ambiguousWriteSettle
    }
}

/// Field limits and rules of an ERP's document, checked during mapping so the write never fails on them.
package struct ERPConstraints: Sendable, Hashable {
    package var maxVendorInvoiceNumberLength: Int
    package var maxLineDescriptionLength: Int
    package var supportsCreditMemos: Bool

    package init(maxVendorInvoiceNumberLength: Int, maxLineDescriptionLength: Int, supportsCreditMemos: Bool) {
        self.maxVendorInvoiceNumberLength = maxVendorInvoiceNumberLength
        self.maxLineDescriptionLength = maxLineDescriptionLength
        self.supportsCreditMemos = supportsCreditMemos
    }
}

/// What a flow needs from the procurement system.
package protocol ProcurementSource: Sendable {
    var system: String { get }
    /// One page of invoice headers changed at or after `updatedSince`.
    func invoiceHeaders(startAt: Int, pageSize: Int, updatedSince: Date?) async throws -> InvoiceHeaderPage
    /// One invoice with its lines, in the ERP-neutral model.
    func invoice(id: String) async throws -> SupplierInvoice
    /// The procurement side's part of the fit report.
    func fitChecks() async -> [FitCheck]
}

package struct InvoiceHeaderSummary: Sendable, Hashable {
    package var id: String
    package var updatedAt: Date?
    package var workflowStatus: String?
    package init(id: String, updatedAt: Date?, workflowStatus: String?) {
        self.id = id
        self.updatedAt = updatedAt
        self.workflowStatus = workflowStatus
    }
}

package struct InvoiceHeaderPage: Sendable {
    package var items: [Result<InvoiceHeaderSummary, ConnectorError>]
    /// How many items the page carried (for paging), malformed ones included.
    package var returned: Int
    package var total: Int?
    package init(items: [Result<InvoiceHeaderSummary, ConnectorError>], returned: Int, total: Int?) {
        self.items = items
        self.returned = returned
        self.total = total
    }
}
