import Foundation

/// One accounting segment of a coding string (tenant-defined in JAGGAER: Entity, Fund, Account, Program ...).
package struct AccountingSegment: Sendable, Codable, Hashable {
    package var name: String
    package var value: String
    package var description: String?
    package init(name: String, value: String, description: String? = nil) {
        self.name = name
        self.value = value
        self.description = description
    }
}

/// A supplier as the procurement system knows it.
package struct SupplierRef: Sendable, Codable, Hashable {
    /// The procurement system's internal id.
    package var sourceId: String?
    /// The customer's vendor number (the key shared with the ERP).
    package var number: String?
    package var name: String?
    package init(sourceId: String?, number: String?, name: String?) {
        self.sourceId = sourceId
        self.number = number
        self.name = name
    }
}

package enum InvoiceKind: Sendable, Hashable, Codable {
    case invoice
    case creditMemo
    case other(String)

    package init(sourceValue: String?) {
        switch sourceValue?.lowercased().replacingOccurrences(of: " ", with: "") {
        case nil, "invoice": self = .invoice
        case "creditmemo", "credit": self = .creditMemo
        default: self = .other(sourceValue ?? "")
        }
    }

    package var label: String {
        switch self {
        case .invoice: "invoice"
        case .creditMemo: "creditMemo"
        case .other(let value): value
        }
    }

    package init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        switch text {
        case "invoice": self = .invoice
        case "creditMemo": self = .creditMemo
        default: self = .other(text)
        }
    }

    package func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(label)
    }
}

/// An approved supplier invoice, ERP-neutral, as captured from the procurement system.
package struct SupplierInvoice: Sendable, Codable, Hashable {
    package var source: String
    /// The procurement system's id of the invoice (JAGGAER `invoiceId`): the record key.
    package var sourceId: String
    /// When the procurement system last changed it (JAGGAER `lastUpdate`).
    package var sourceUpdatedAt: Date?
    package var invoiceNumber: String?
    /// The supplier's own invoice number: with the vendor, the natural key in every ERP.
    package var supplierInvoiceNumber: String?
    package var kind: InvoiceKind
    package var workflowStatus: String?
    package var paymentStatus: String?
    package var isPOInvoice: Bool
    package var invoiceDate: LocalDate?
    package var dueDate: LocalDate?
    package var accountingDate: LocalDate?
    package var supplier: SupplierRef
    package var businessUnit: String?
    package var paymentTermsCode: String?
    package var currency: String?
    /// Header total as the procurement system states it (absent in some real payloads: then nothing states what
    /// the lines must come to, and the invoice goes to review rather than being written unchecked).
    package var total: Decimal?
    /// All tax the header carries as its current figure (JAGGAER `taxCharge1` + `taxCharge2`; `taxCharge1` equals
    /// `tax1HeaderChargeDetail.currentTax`).
    package var taxTotal: Decimal
    /// The current figure of the first tax (JAGGAER `tax1HeaderChargeDetail.currentTax`, else `taxCharge1`).
    package var currentTax: Decimal?
    /// The supplier's own figure of the first tax (JAGGAER `tax1HeaderChargeDetail.supplierTax`), when stated; it
    /// can differ from the current one.
    package var supplierTax: Decimal?
    /// The sum of the tax the lines state, when every line states it (a cross-check of the header's tax).
    package var lineTaxTotal: Decimal?
    package var shippingCharge: Decimal
    package var handlingCharge: Decimal
    package var discountAmount: Decimal
    package var segments: [AccountingSegment]
    package var customFields: [String: String]
    package var lines: [SupplierInvoiceLine]

    package init(
        source: String,
        sourceId: String,
        sourceUpdatedAt: Date? = nil,
        invoiceNumber: String? = nil,
        supplierInvoiceNumber: String?,
        kind: InvoiceKind = .invoice,
        workflowStatus: String? = nil,
        paymentStatus: String? = nil,
        isPOInvoice: Bool = false,
        invoiceDate: LocalDate?,
        dueDate: LocalDate? = nil,
        accountingDate: LocalDate? = nil,
        supplier: SupplierRef,
        businessUnit: String? = nil,
        paymentTermsCode: String? = nil,
        currency: String?,
        total: Decimal?,
        taxTotal: Decimal = 0,
        currentTax: Decimal? = nil,
        supplierTax: Decimal? = nil,
        lineTaxTotal: Decimal? = nil,
        shippingCharge: Decimal = 0,
        handlingCharge: Decimal = 0,
        discountAmount: Decimal = 0,
        segments: [AccountingSegment] = [],
        customFields: [String: String] = [:],
        lines: [SupplierInvoiceLine]
    ) {
        self.source = source
        self.sourceId = sourceId
        self.sourceUpdatedAt = sourceUpdatedAt
        self.invoiceNumber = invoiceNumber
        self.supplierInvoiceNumber = supplierInvoiceNumber
        self.kind = kind
        self.workflowStatus = workflowStatus
        self.paymentStatus = paymentStatus
        self.isPOInvoice = isPOInvoice
        self.invoiceDate = invoiceDate
        self.dueDate = dueDate
        self.accountingDate = accountingDate
        self.supplier = supplier
        self.businessUnit = businessUnit
        self.paymentTermsCode = paymentTermsCode
        self.currency = currency
        self.total = total
        self.taxTotal = taxTotal
        self.currentTax = currentTax
        self.supplierTax = supplierTax
        self.lineTaxTotal = lineTaxTotal
        self.shippingCharge = shippingCharge
        self.handlingCharge = handlingCharge
        self.discountAmount = discountAmount
        self.segments = segments
        self.customFields = customFields
        self.lines = lines
    }

    /// The record id used for the audit trail, review queue and dedup ledger.
    package var recordId: String { Self.recordId(source: source, sourceId: sourceId) }

    package static func recordId(source: String, sourceId: String) -> String { "\(source)-invoice-\(sourceId)" }

    /// Sum of quantity × unit price over all lines, exact.
    package var linesNetTotal: Decimal {
        lines.reduce(Decimal(0)) { $0 + $1.netAmount }
    }
}

package struct SupplierInvoiceLine: Sendable, Codable, Hashable {
    package var sourceLineId: String?
    package var lineNumber: Int
    package var description: String?
    package var quantity: Decimal
    package var unitPrice: Decimal
    package var unitOfMeasure: String?
    package var poNumber: String?
    package var poLineNumber: String?
    package var taxable: Bool
    package var taxAmount: Decimal
    package var segments: [AccountingSegment]
    package var customFields: [String: String]
    /// Into how many codings the line's amount is split (JAGGAER splittable distributions); 1 = not split.
    package var distributions: Int

    package init(
        sourceLineId: String? = nil,
        lineNumber: Int,
        description: String?,
        quantity: Decimal,
        unitPrice: Decimal,
        unitOfMeasure: String? = nil,
        poNumber: String? = nil,
        poLineNumber: String? = nil,
        taxable: Bool = false,
        taxAmount: Decimal = 0,
        segments: [AccountingSegment] = [],
        customFields: [String: String] = [:],
        distributions: Int = 1
    ) {
        self.sourceLineId = sourceLineId
        self.lineNumber = lineNumber
        self.description = description
        self.quantity = quantity
        self.unitPrice = unitPrice
        self.unitOfMeasure = unitOfMeasure
        self.poNumber = poNumber
        self.poLineNumber = poLineNumber
        self.taxable = taxable
        self.taxAmount = taxAmount
        self.segments = segments
        self.customFields = customFields
        self.distributions = distributions
    }

    package var netAmount: Decimal { quantity * unitPrice }

    package func segment(_ name: String) -> String? {
        segments.first { $0.name.caseInsensitiveCompare(name) == .orderedSame }?.value
    }
}
