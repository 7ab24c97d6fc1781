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
    /// The natural-key lookup for several invoices at once (one filtered read per bounded batch where the ERP can):
    /// every key asked for is in the answer, with no documents when the ERP has none. Default: one lookup per key.
    func findInvoices(keys: [InvoiceNaturalKey]) async throws -> [InvoiceNaturalKey: [ERPDocumentRef]]
    /// `findInvoices(keys:)` together with the purchase orders those invoices name (BC: both in one `$batch`
    /// request). Default: the two reads one after the other (no PO read when no numbers are given).
    func lookUp(keys: [InvoiceNaturalKey], purchaseOrderNumbers: [String]) async throws -> InvoiceBatchLookup
    /// Where a document written by the connector stands now (`postDrafts`): how an unanswered post is resolved,
    /// by reading, never by posting again blindly. Nil when the ERP no longer has the document.
    func documentState(_ document: ERPDocumentRef) async throws -> ERPDocumentState?
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
    /// Confirmed purchase orders (with their lines) changed after `cursor` (all when nil), paged like `vendors`
    /// (`confirmedPurchaseOrders`): the ERP → procurement direction of purchase orders.
    func confirmedPurchaseOrders(after cursor: ChangeCursor?, pageSize: Int) async throws
        -> ChangePage<ConfirmedPurchaseOrder>
    /// Confirmed purchase orders by the ERP's own numbers (`confirmedPurchaseOrders`); a number the ERP has no
    /// confirmed order for is simply absent from the answer.
    func confirmedPurchaseOrders(numbers: [String]) async throws -> [ConfirmedPurchaseOrder]
    /// Released products (catalog items) changed after `cursor` (all when nil), paged like `vendors`
    /// (`releasedProducts`): what the procurement system's catalog offers.
    func releasedProducts(after cursor: ChangeCursor?, pageSize: Int) async throws -> ChangePage<CatalogItem>
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
    package func findInvoices(keys: [InvoiceNaturalKey]) async throws -> [InvoiceNaturalKey: [ERPDocumentRef]] {
        var found: [InvoiceNaturalKey: [ERPDocumentRef]] = [:]
        for key in Set(keys) {
            found[key] = try await findInvoices(
                vendorNumber: key.vendorNumber, vendorInvoiceNumber: key.vendorInvoiceNumber)
        }
        return found
    }
    package func lookUp(keys: [InvoiceNaturalKey], purchaseOrderNumbers: [String]) async throws
        -> InvoiceBatchLookup
    {
        let invoices = try await findInvoices(keys: keys)
        let numbers = purchaseOrderNumbers.filter { !$0.isEmpty }
        return InvoiceBatchLookup(
            invoices: invoices, orders: numbers.isEmpty ? [] : try await purchaseOrders(numbers: numbers))
    }
    package func documentState(_ document: ERPDocumentRef) async throws -> ERPDocumentState? {
        throw ERPUnsupported.error(system, "reading a document's posting state")
    }
    package func purchaseOrders(numbers: [String]) async throws -> [ERPPurchaseOrder] {
        throw ERPUnsupported.error(system, "reading purchase orders")
    }
    package func upsertPurchaseOrder(_ order: PurchaseOrderDocument) async throws -> ERPDocumentRef {
        throw ERPUnsupported.error(system, "writing purchase orders")
    }
    package func confirmedPurchaseOrders(after cursor: ChangeCursor?, pageSize: Int) async throws
        -> ChangePage<ConfirmedPurchaseOrder>
    {
        throw ERPUnsupported.error(system, "reading confirmed purchase orders")
    }
    package func confirmedPurchaseOrders(numbers: [String]) async throws -> [ConfirmedPurchaseOrder] {
        throw ERPUnsupported.error(system, "reading confirmed purchase orders")
    }
    package func releasedProducts(after cursor: ChangeCursor?, pageSize: Int) async throws
        -> ChangePage<CatalogItem>
    {
        throw ERPUnsupported.error(system, "reading released products")
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

/// A supplier invoice's natural key in every ERP: the vendor and the vendor's own invoice number.
package struct InvoiceNaturalKey: Sendable, Codable, Hashable, CustomStringConvertible {
    package var vendorNumber: String
    package var vendorInvoiceNumber: String
    package init(vendorNumber: String, vendorInvoiceNumber: String) {
        self.vendorNumber = vendorNumber
        self.vendorInvoiceNumber = vendorInvoiceNumber
    }
    /// `vendor|number`, as the dedup ledger keeps it.
    package var description: String { "\(vendorNumber)|\(vendorInvoiceNumber)" }
}

/// What one batch lookup found: each key's documents (every key asked is present) and the purchase orders.
package struct InvoiceBatchLookup: Sendable {
    package var invoices: [InvoiceNaturalKey: [ERPDocumentRef]]
    package var orders: [ERPPurchaseOrder]
    package init(invoices: [InvoiceNaturalKey: [ERPDocumentRef]], orders: [ERPPurchaseOrder]) {
        self.invoices = invoices
        self.orders = orders
    }
}

/// Whether a document is still an unposted draft or is booked.
package enum ERPDocumentState: String, Sendable, Codable, Hashable {
    case draft
    case posted
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
    /// Whether the write step checks the purchase orders an invoice names against the ERP's (read by number)
    /// before writing: a PO the ERP does not have goes to review as `po.unknown`, one of another vendor as
    /// `po.vendor_mismatch`. (ERPs that link lines to PO lines check this in their own create instead.)
    package var matchesPurchaseOrders: Bool
    /// Whether `findInvoices(keys:)` reads many keys in one request (BC: one filter over a batch of numbers), so
    /// the write step looks up the natural keys of a page of invoices at once instead of one request each.
    package var batchLookups: Bool
    /// Whether the ERP's confirmed purchase orders can be read (`confirmedPurchaseOrders`), for
    /// `push-purchase-orders` to send them to the procurement system (F&O).
    package var confirmedPurchaseOrders: Bool
    /// Whether the ERP's released products can be read as a change page (`releasedProducts`), for the master-data
    /// sync to send them to the procurement system's catalog (F&O).
    package var releasedProducts: Bool

    package init(
        draftSemantics: String = "draft", purchaseOrderLineLinks: Bool = false,
        requiresPurchaseOrderInERP: Bool = false, creditMemos: Bool = false, vendorWrites: Bool = false,
        purchaseOrderWrites: Bool = false, paymentStatus: Bool = false, postDrafts: Bool = false,
        changeNotifications: Bool = false, ambiguousWriteSettle: Duration = .seconds(540),
        matchesPurchaseOrders: Bool = false, batchLookups: Bool = false, confirmedPurchaseOrders: Bool = false,
        releasedProducts: Bool = false
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
        self.matchesPurchaseOrders = matchesPurchaseOrders
        self.batchLookups = batchLookups
        self.confirmedPurchaseOrders = confirmedPurchaseOrders
        self.releasedProducts = releasedProducts
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
