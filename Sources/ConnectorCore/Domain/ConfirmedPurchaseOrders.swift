import Foundation

/// A purchase order the ERP confirmed (issued to the vendor), as it goes on to the procurement system: F&O's
/// confirmed purchase orders into JAGGAER. Keyed in the procurement system by the ERP's own PO number.
package struct ConfirmedPurchaseOrder: Sendable, Codable, Hashable {
    /// The ERP's purchase order number (F&O `PurchaseOrderNumber`): the key the procurement system keeps it under.
    package var number: String
    package var vendorNumber: String
    /// The order's name or description, where the ERP keeps one.
    package var name: String?
    package var orderDate: LocalDate?
    package var deliveryDate: LocalDate?
    package var currencyCode: String?
    /// The ERP's own document status (`Backorder`, `Received`, ...), passed on as it is.
    package var status: String?
    package var lines: [Line]

    package struct Line: Sendable, Codable, Hashable {
        /// The ERP's line number (F&O `LineNumber`).
        package var lineNumber: String
        package var itemNumber: String?
        /// The procurement category of a line without an item (F&O `ProcurementCategoryName`).
        package var category: String?
        package var description: String?
        package var quantity: Decimal
        package var unitOfMeasure: String?
        package var unitPrice: Decimal
        /// The line's net amount as the ERP computed it.
        package var amount: Decimal
        package var deliveryDate: LocalDate?

        package init(
            lineNumber: String, itemNumber: String? = nil, category: String? = nil, description: String? = nil,
            quantity: Decimal, unitOfMeasure: String? = nil, unitPrice: Decimal, amount: Decimal,
            deliveryDate: LocalDate? = nil
        ) {
            self.lineNumber = lineNumber
            self.itemNumber = itemNumber
            self.category = category
            self.description = description
            self.quantity = quantity
            self.unitOfMeasure = unitOfMeasure
            self.unitPrice = unitPrice
            self.amount = amount
            self.deliveryDate = deliveryDate
        }
    }

    package init(
        number: String, vendorNumber: String, name: String? = nil, orderDate: LocalDate? = nil,
        deliveryDate: LocalDate? = nil, currencyCode: String? = nil, status: String? = nil, lines: [Line]
    ) {
        self.number = number
        self.vendorNumber = vendorNumber
        self.name = name
        self.orderDate = orderDate
        self.deliveryDate = deliveryDate
        self.currencyCode = currencyCode
        self.status = status
        self.lines = lines
    }

    /// The order's total: the sum of its line amounts.
    package var total: Decimal { lines.reduce(0) { $0 + $1.amount } }
}

/// A change notification that names one purchase order (F&O's "Purchase order confirmed" business event). It is a
/// signal only: the order itself is read from the ERP by its number, never taken from the payload.
package struct PurchaseOrderSignal: Sendable, Codable, Hashable {
    /// The ERP's purchase order number.
    package var number: String
    /// Where the number is unique and the sequence counts (F&O: the legal entity).
    package var scope: String
    /// The sender's ever-increasing (gapped) delivery number (F&O `ControlNumber`): a signal at or below the last
    /// one handled for the same order is a duplicate or a late, reordered delivery.
    package var sequence: Int64
    /// The sender's id of the event (F&O `EventId`), for the audit trail.
    package var eventId: String?
    /// When the sender raised it (F&O `EventTime`).
    package var occurredAt: Date?

    package init(number: String, scope: String, sequence: Int64, eventId: String? = nil, occurredAt: Date? = nil) {
        self.number = number
        self.scope = scope
        self.sequence = sequence
        self.eventId = eventId
        self.occurredAt = occurredAt
    }
}
