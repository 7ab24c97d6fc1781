import Foundation

/// What a flow needs from an ERP. One adapter per ERP (in that ERP's own target) turns the ERP-neutral model into
/// that ERP's documents; the steps see only this protocol and ask `capabilities` instead of assuming one ERP.
///
/// DESIGN §5's table in one protocol: find documents by natural key (drafts included), create a draft invoice
/// (atomic), create or update a purchase order where the ERP takes them, read master data and paid invoices
/// changed since an opaque cursor the adapter owns, in pages, upsert a vendor where the ERP takes them, post a
/// draft, and check the fit. Operations an ERP cannot do throw `erp.unsupported`; `capabilities` says which.
package protocol ERPConnector: Sendable {
    /// Short system name used in dedup keys and document references (`businessCentral`).
    var system: String { get }
    var constraints: ERPConstraints { get }
    var capabilities: ERPCapabilities { get }

    /// Documents already in the ERP for a vendor's invoice number, drafts and posted ones: the natural key of a
    /// supplier invoice. The lookup must match the number exactly (quotes, unicode, the ERP's full length).
    func findInvoices(vendorNumber: String, vendorInvoiceNumber: String) async throws -> [ERPDocumentRef]
    /// Creates an unposted draft (`capabilities.draftSemantics`). Must be atomic: either the whole document exists
    /// afterwards or nothing does. Lines that reference a purchase order are linked to it where the ERP can.
    func createDraftInvoice(_ invoice: MappedInvoice) async throws -> ERPDocumentRef

    /// Vendors changed after `cursor` (all vendors when nil), one page at a time: call again with `next` until
    /// `hasMore` is false. The cursor is the adapter's own (a timestamp, B1's date and time, a skip count).
    func vendors(after cursor: ChangeCursor?, pageSize: Int) async throws -> ChangePage<Vendor>
    /// G/L accounts changed after `cursor`, paged like `vendors`.
    func accounts(after cursor: ChangeCursor?, pageSize: Int) async throws -> ChangePage<GLAccount>
    /// Dimensions (cost centres, subaccount segments) with their values; small, always read whole.
    func dimensions() async throws -> [ERPDimension]

    /// Purchase orders by the procurement system's PO number, as kept on the ERP document (empty when none).
    func purchaseOrders(numbers: [String]) async throws -> [ERPPurchaseOrder]
    /// Creates the purchase order, or updates the one carrying the same source number (`purchaseOrderWrites`).
    func upsertPurchaseOrder(_ order: PurchaseOrderDocument) async throws -> ERPDocumentRef
    /// Invoices (written by ml-connector or not) whose payment state changed after `cursor` (`paymentStatus`).
    func paymentStatuses(after cursor: ChangeCursor?, pageSize: Int) async throws -> ChangePage<ERPPaymentStatus>
    /// Creates the vendor or updates the one with the same number (`vendorWrites`).
    func upsertVendor(_ vendor: Vendor) async throws -> ERPDocumentRef
    /// Posts (books) a reviewed draft (`postDrafts`). Never called for an unreviewed document.
    func postDraft(_ document: ERPDocumentRef) async throws -> ERPDocumentRef

    /// "See if we fit": sign-in, company / endpoint, read permission and a sample count of every entity the flows
    /// read, write permission where it can be checked without writing; each check with its fix.
    func fitChecks() async -> [FitCheck]
    /// Ends the ERP session when the batch is done (B1 `Logout`, Acumatica `auth/logout`); a no-op for tokens.
    func close() async
}

extension ERPConnector {
    package func purchaseOrders(numbers: [String]) async throws -> [ERPPurchaseOrder] {
        throw ERPUnsupported.error(system, "reading purchase orders")
    }
    package func upsertPurchaseOrder(_ order: PurchaseOrderDocument) async throws -> ERPDocumentRef {
        throw ERPUnsupported.error(system, "writing purchase orders")
    }
    package func paymentStatuses(after cursor: ChangeCursor?, pageSize: Int) async throws -> ChangePage<
        ERPPaymentStatus
    > {
        throw ERPUnsupported.error(system, "reading payment status")
    }
    package func upsertVendor(_ vendor: Vendor) async throws -> ERPDocumentRef {
        throw ERPUnsupported.error(system, "writing vendors")
    }
    package func postDraft(_ document: ERPDocumentRef) async throws -> ERPDocumentRef {
        throw ERPUnsupported.error(system, "posting drafts")
    }
    package func close() async {}

    /// Every page of a change feed from `cursor`, and the cursor to continue from next time.
    package func all<Item>(
        from cursor: ChangeCursor?, pageSize: Int = 200,
        _ read: (ChangeCursor?, Int) async throws -> ChangePage<Item>
    ) async throws -> (items: [Item], cursor: ChangeCursor?) {
        var items: [Item] = []
        var position = cursor
        while true {
            let page = try await read(position, pageSize)
            items += page.items
            position = page.next ?? position
            if !page.hasMore { return (items, position) }
        }
    }
}

enum ERPUnsupported {
    static func error(_ system: String, _ what: String) -> ConnectorError {
        ConnectorError(.unsupported, "\(system) does not support \(what) (see its capabilities)")
    }
}

/// A position in an ERP's change feed. Opaque to the flows: only the adapter that wrote it reads it (a timestamp,
/// B1's `UpdateDate` + `UpdateTime`, a skip count for entities without a change stamp).
package struct ChangeCursor: Sendable, Codable, Hashable, CustomStringConvertible {
    package var value: String
    package init(_ value: String) { self.value = value }
    package init(from decoder: any Decoder) throws { value = try decoder.singleValueContainer().decode(String.self) }
    package func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(value)
    }
    package var description: String { value }
}

/// One page of a change feed. `next` is where the following call continues (store it once the page is
/// processed); `hasMore` says whether to call again now.
package struct ChangePage<Item: Sendable>: Sendable {
    package var items: [Item]
    package var next: ChangeCursor?
    package var hasMore: Bool
    package init(items: [Item], next: ChangeCursor?, hasMore: Bool) {
        self.items = items
        self.next = next
        self.hasMore = hasMore
    }
}

/// What an ERP can do, asked by the steps instead of assuming Business Central.
package struct ERPCapabilities: Sendable, Hashable {
    /// How an unreviewed invoice lands: a draft the ERP keeps apart from the ledger (BC purchase invoice, B1
    /// draft, Acumatica bill on hold, F&O pending invoice).
    package var draftSemantics: String
    /// Whether invoice lines can point at purchase-order lines.
    package var purchaseOrderLineLinks: Bool
    /// Whether an invoice whose lines reference a PO must wait until that PO is in the ERP (B1 links line by
    /// line to the PO's `DocEntry`/`LineNum`): the write step then sends it to review as `po.not_in_erp`.
    package var requiresPurchaseOrderInERP: Bool
    package var creditMemos: Bool
    /// Whether vendors can be written into the ERP (B1, NAV).
    package var vendorWrites: Bool
    /// Whether purchase orders can be created or updated in the ERP (B1).
    package var purchaseOrderWrites: Bool
    /// Whether paid invoices can be read back (payment status to the procurement system).
    package var paymentStatus: Bool
    /// Whether a reviewed draft can be posted through the API.
    package var postDrafts: Bool
    /// Whether the ERP pushes change notifications (webhooks, business events).
    package var changeNotifications: Bool
    /// How long after an ambiguous create (no answer) the ERP may still commit it; a lookup's "not found" is
    /// trusted only after this (BC online cancels an operation after 8 minutes).
    package var ambiguousWriteSettle: Duration

    package init(
        draftSemantics: String = "draft", purchaseOrderLineLinks: Bool = false,
        requiresPurchaseOrderInERP: Bool = false, creditMemos: Bool = false, vendorWrites: Bool = false,
        purchaseOrderWrites: Bool = false, paymentStatus: Bool = false, postDrafts: Bool = false,
        changeNotifications: Bool = false, ambiguousWriteSettle: Duration = .seconds(540)
    ) {
        self.draftSemantics = draftSemantics
        self.purchaseOrderLineLinks = purchaseOrderLineLinks
        self.requiresPurchaseOrderInERP = requiresPurchaseOrderInERP
        self.creditMemos = creditMemos
        self.vendorWrites = vendorWrites
        self.purchaseOrderWrites = purchaseOrderWrites
        self.paymentStatus = paymentStatus
        self.postDrafts = postDrafts
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
