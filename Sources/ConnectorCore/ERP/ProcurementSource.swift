import Foundation

/// What a flow needs from the procurement system.
package protocol ProcurementSource: Sendable {
    var system: String { get }
    /// How the invoice list is ordered (from the connection: the server's behaviour is not documented). Decides
    /// whether the poll can page by a keyset on (lastUpdate, id) or must page by offset and watch for shifts.
    var listOrder: ProcurementListOrder { get }
    /// One page of invoice headers changed at or after `updatedSince`.
    func invoiceHeaders(startAt: Int, pageSize: Int, updatedSince: Date?) async throws -> InvoiceHeaderPage
    /// One invoice with its lines, in the ERP-neutral model.
    func invoice(id: String) async throws -> SupplierInvoice
    /// The procurement side's part of the fit report.
    func fitChecks() async -> [FitCheck]
    /// One page of purchase-order headers changed at or after `updatedSince` (`workflowStatus` carries the PO's
    /// status), listed in the same order as invoices (`listOrder`).
    func purchaseOrderHeaders(startAt: Int, pageSize: Int, updatedSince: Date?) async throws -> InvoiceHeaderPage
    /// One purchase order with its lines.
    func purchaseOrder(id: String) async throws -> SourcePurchaseOrder
}

/// The order in which the procurement system lists records changed since a date (`jaggaer.listOrder`).
package enum ProcurementListOrder: String, Sendable, Codable, Hashable, CaseIterable {
    /// Ascending by (lastUpdate, id): the poll pages by a keyset and cannot skip a record that changes mid-cycle.
    case lastUpdate
    /// Ascending by id (what real JAGGAER tenants were seen to serve): paged by offset, shifts detected.
    case invoiceId
    /// Newest change first: paged by offset, shifts detected.
    case lastUpdateDescending = "lastUpdate-desc"
    /// Not known: paged by offset, shifts detected.
    case unknown

    /// Whether a keyset cursor on (lastUpdate, id) is possible.
    package var allowsKeyset: Bool { self == .lastUpdate }
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
    /// The 1-based position the server says this page starts at (its `startAt`), when it says.
    package var startAt: Int?
    package init(
        items: [Result<InvoiceHeaderSummary, ConnectorError>], returned: Int, total: Int?, startAt: Int? = nil
    ) {
        self.items = items
        self.returned = returned
        self.total = total
        self.startAt = startAt
    }
}

/// A purchase order as the procurement system holds it (read for the ERPs that take purchase orders).
package struct SourcePurchaseOrder: Sendable, Codable, Hashable {
    package var source: String
    package var sourceId: String
    /// The PO number invoices quote on their lines (`poNumber`): the key the ERP document keeps.
    package var number: String
    package var sourceUpdatedAt: Date?
    package var status: String?
    package var supplier: SupplierRef
    package var orderDate: LocalDate?
    package var deliveryDate: LocalDate?
    package var currency: String?
    package var total: Decimal?
    package var lines: [Line]

    package struct Line: Sendable, Codable, Hashable {
        package var lineNumber: Int
        package var description: String?
        package var quantity: Decimal
        package var unitPrice: Decimal
        package var unitOfMeasure: String?
        package var segments: [AccountingSegment]
        package init(
            lineNumber: Int, description: String?, quantity: Decimal, unitPrice: Decimal, unitOfMeasure: String?,
            segments: [AccountingSegment]
        ) {
            self.lineNumber = lineNumber
            self.description = description
            self.quantity = quantity
            self.unitPrice = unitPrice
            self.unitOfMeasure = unitOfMeasure
            self.segments = segments
        }

        package func segment(_ name: String) -> String? {
            segments.first { $0.name.caseInsensitiveCompare(name) == .orderedSame }?.value
        }
    }

    package init(
        source: String, sourceId: String, number: String, sourceUpdatedAt: Date?, status: String?,
        supplier: SupplierRef, orderDate: LocalDate?, deliveryDate: LocalDate?, currency: String?, total: Decimal?,
        lines: [Line]
    ) {
        self.source = source
        self.sourceId = sourceId
        self.number = number
        self.sourceUpdatedAt = sourceUpdatedAt
        self.status = status
        self.supplier = supplier
        self.orderDate = orderDate
        self.deliveryDate = deliveryDate
        self.currency = currency
        self.total = total
        self.lines = lines
    }

    package var recordId: String { "\(source)-po-\(sourceId)" }
}
