import Foundation

/// What a flow writes into the procurement system: suppliers from the ERP's vendors, coding values from the chart
/// of accounts and the dimensions, and the payment status of invoices. Never a financial entry.
///
/// Every call is idempotent: an upsert by the ERP's key, or a status set to a value; sending the same content twice
/// changes nothing. The flows skip records whose content they pushed before (a digest per record, see `revision`).
package protocol ProcurementSink: Sendable {
    var system: String { get }
    /// Changes whenever what the sink sends for the same record changes (paths, field names, status values), so
    /// the flows push everything again after such a change instead of trusting their digests.
    var revision: String { get }
    /// Creates the supplier with the vendor's number, or updates the one that has it. A vendor blocked for
    /// everything becomes an inactive supplier; one blocked for payment stays active with a payment hold.
    func upsertSupplier(_ vendor: Vendor) async throws
    /// Creates or updates one coding value (a G/L account or a dimension value) of a coding segment.
    func upsertCodingValue(_ value: CodingValue) async throws
    /// Sets the payment status of one procurement invoice (by the procurement system's own invoice id).
    func setPaymentStatus(_ update: PaymentStatusUpdate) async throws
    /// Creates the purchase order an ERP confirmed, or updates the one with the same ERP number (`order.number`):
    /// sending it again changes nothing.
    func upsertPurchaseOrder(_ order: ConfirmedPurchaseOrder) async throws
    /// Creates the catalog item with the ERP's item number, or updates the one that has it: sending it again
    /// changes nothing.
    func upsertCatalogItem(_ item: CatalogItem) async throws
    /// Whether the ERP's released products go to the procurement system's catalog at all (the tenant uses
    /// catalogs); when false, the sync does not even read them.
    var pushesCatalogItems: Bool { get }

    /// Whether suppliers changed in the procurement system are read back (for ERPs that take vendor writes).
    var pullsSuppliers: Bool { get }
    /// Whether a supplier's parent (`Vendor.parentNumber`) is sent with it (a vendor hierarchy).
    var sendsSupplierHierarchy: Bool { get }
    /// Suppliers changed in the procurement system at or after `cursor` (all when nil), one page at a time, as
    /// vendors (`lastModified` = the procurement system's change time). The cursor is the sink's own; a stamp is
    /// inclusive, so the last records of a page can come again (the flow skips content it already has).
    func suppliers(after cursor: ChangeCursor?, pageSize: Int) async throws -> ChangePage<Vendor>
}

extension ProcurementSink {
    package func upsertPurchaseOrder(_ order: ConfirmedPurchaseOrder) async throws {
        throw ConnectorError(.unsupported, "\(system) does not take purchase orders")
    }
    package func upsertCatalogItem(_ item: CatalogItem) async throws {
        throw ConnectorError(.unsupported, "\(system) does not take catalog items")
    }
    package var pushesCatalogItems: Bool { false }
    /// Whether a supplier's parent (`Vendor.parentNumber`) is sent with it. Off by default: the flows then report
    /// the hierarchies they could not send.
    package var sendsSupplierHierarchy: Bool { false }
    package var pullsSuppliers: Bool { false }
    package func suppliers(after cursor: ChangeCursor?, pageSize: Int) async throws -> ChangePage<Vendor> {
        throw ConnectorError(.unsupported, "\(system) does not list its suppliers")
    }
}

/// One value of a procurement coding segment: a posting G/L account under the account segment, or a dimension
/// value under the segment its dimension maps to. Inactive values stay in place so old documents keep their coding.
package struct CodingValue: Sendable, Codable, Hashable {
    package enum Kind: String, Sendable, Codable, Hashable {
        case account, dimensionValue
    }
    package var kind: Kind
    /// The procurement system's segment name (`Account`, `Fund`, ...).
    package var segment: String
    package var code: String
    package var name: String
    package var active: Bool

    package init(kind: Kind, segment: String, code: String, name: String, active: Bool) {
        self.kind = kind
        self.segment = segment
        self.code = code
        self.name = name
        self.active = active
    }
}

/// The payment state of one procurement invoice, as read from the ERP document it became.
package struct PaymentStatusUpdate: Sendable, Codable, Hashable {
    /// The procurement system's invoice id (JAGGAER `invoiceId`).
    package var invoiceId: String
    package var state: ERPPaymentStatus.State
    package var amount: Decimal
    package var paidAmount: Decimal
    /// The ERP document (its number is sent along as the payment reference).
    package var document: ERPDocumentRef
    package var changedAt: Date?

    package init(
        invoiceId: String, state: ERPPaymentStatus.State, amount: Decimal, paidAmount: Decimal,
        document: ERPDocumentRef, changedAt: Date?
    ) {
        self.invoiceId = invoiceId
        self.state = state
        self.amount = amount
        self.paidAmount = paidAmount
        self.document = document
        self.changedAt = changedAt
    }
}
