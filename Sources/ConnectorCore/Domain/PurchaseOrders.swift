import Foundation

/// A purchase order as the ERP holds it, found by the procurement system's PO number: what an invoice line needs
/// to link to it (B1 `BaseEntry`/`BaseLine`, Acumatica `POOrderType`/`POOrderNbr`/`POLine`).
package struct ERPPurchaseOrder: Sendable, Codable, Hashable {
    /// The procurement system's PO number, as kept on the ERP document.
    package var sourceNumber: String
    /// The ERP's key of the document (B1 `DocEntry`, Acumatica `OrderNbr`, BC id).
    package var id: String
    /// The user-facing number (B1 `DocNum`).
    package var number: String?
    /// The ERP's order type where it has several (Acumatica `Normal`).
    package var orderType: String?
    package var vendorNumber: String
    package var open: Bool
    package var lines: [Line]

    package struct Line: Sendable, Codable, Hashable {
        /// The procurement system's PO line number, when the ERP line keeps it; otherwise matched by position.
        package var sourceLineNumber: String?
        /// The ERP's line key (B1 `LineNum`, Acumatica `LineNbr`).
        package var lineId: String
        package var quantity: Decimal
        package var openQuantity: Decimal
        package var unitPrice: Decimal
        package init(
            sourceLineNumber: String?, lineId: String, quantity: Decimal, openQuantity: Decimal, unitPrice: Decimal
        ) {
            self.sourceLineNumber = sourceLineNumber
            self.lineId = lineId
            self.quantity = quantity
            self.openQuantity = openQuantity
            self.unitPrice = unitPrice
        }
    }

    package init(
        sourceNumber: String, id: String, number: String?, orderType: String? = nil, vendorNumber: String,
        open: Bool, lines: [Line]
    ) {
        self.sourceNumber = sourceNumber
        self.id = id
        self.number = number
        self.orderType = orderType
        self.vendorNumber = vendorNumber
        self.open = open
        self.lines = lines
    }

    /// The ERP line for a procurement PO line number: by the kept source line number, else by 1-based position.
    package func line(forSourceLine sourceLine: String) -> Line? {
        if let kept = lines.first(where: { $0.sourceLineNumber == sourceLine }) { return kept }
        guard let position = Int(sourceLine), position >= 1, position <= lines.count,
            lines.allSatisfy({ $0.sourceLineNumber == nil })
        else { return nil }
        return lines[position - 1]
    }
}

/// A purchase order to create or update in the ERP (from the procurement system), coded like an invoice.
package struct PurchaseOrderDocument: Sendable, Codable, Hashable {
    /// The procurement system's PO number; the ERP document keeps it and is found by it.
    package var sourceNumber: String
    package var vendorNumber: String
    package var orderDate: LocalDate
    package var deliveryDate: LocalDate?
    package var currencyCode: String?
    package var headerDimensions: [DimensionAssignment]
    package var lines: [Line]

    package struct Line: Sendable, Codable, Hashable {
        package var sourceLineNumber: String
        package var description: String
        package var glAccount: String
        package var quantity: Decimal
        package var unitPrice: Decimal
        package var dimensions: [DimensionAssignment]
        package init(
            sourceLineNumber: String, description: String, glAccount: String, quantity: Decimal, unitPrice: Decimal,
            dimensions: [DimensionAssignment] = []
        ) {
            self.sourceLineNumber = sourceLineNumber
            self.description = description
            self.glAccount = glAccount
            self.quantity = quantity
            self.unitPrice = unitPrice
            self.dimensions = dimensions
        }
    }

    package init(
        sourceNumber: String, vendorNumber: String, orderDate: LocalDate, deliveryDate: LocalDate? = nil,
        currencyCode: String? = nil, headerDimensions: [DimensionAssignment] = [], lines: [Line]
    ) {
        self.sourceNumber = sourceNumber
        self.vendorNumber = vendorNumber
        self.orderDate = orderDate
        self.deliveryDate = deliveryDate
        self.currencyCode = currencyCode
        self.headerDimensions = headerDimensions
        self.lines = lines
    }
}

/// Where an ERP invoice stands in payment, for the payment status sent back to the procurement system.
package struct ERPPaymentStatus: Sendable, Codable, Hashable {
    package enum State: String, Sendable, Codable, Hashable {
        case unpaid, partiallyPaid, paid
    }
    package var document: ERPDocumentRef
    package var vendorNumber: String
    package var vendorInvoiceNumber: String
    package var state: State
    package var amount: Decimal
    package var paidAmount: Decimal
    package var changedAt: Date?

    package init(
        document: ERPDocumentRef, vendorNumber: String, vendorInvoiceNumber: String, state: State, amount: Decimal,
        paidAmount: Decimal, changedAt: Date?
    ) {
        self.document = document
        self.vendorNumber = vendorNumber
        self.vendorInvoiceNumber = vendorInvoiceNumber
        self.state = state
        self.amount = amount
        self.paidAmount = paidAmount
        self.changedAt = changedAt
    }
}
