import Foundation

/// A vendor as the ERP keeps it.
package struct Vendor: Sendable, Codable, Hashable {
    package enum Blocked: String, Sendable, Codable, Hashable {
        case none, payment, all
    }
    package var number: String
    package var name: String
    package var blocked: Blocked
    package var currencyCode: String?
    package var taxRegistrationNumber: String?
    package var erpId: String?
    package var lastModified: Date?
    /// The vendor's postal address, where the ERP gives it (pushed to the procurement system's supplier).
    package var address: PostalAddress?
    /// The vendor's payment terms code (`Net 30`), where the ERP gives it.
    package var paymentTermsCode: String?
    /// The parent vendor's number, where the ERP keeps a vendor hierarchy (NAV: the field `parentVendorField`).
    package var parentNumber: String?

    package init(
        number: String,
        name: String,
        blocked: Blocked = .none,
        currencyCode: String? = nil,
        taxRegistrationNumber: String? = nil,
        erpId: String? = nil,
        lastModified: Date? = nil,
        address: PostalAddress? = nil,
        paymentTermsCode: String? = nil,
        parentNumber: String? = nil
    ) {
        self.parentNumber = parentNumber
        self.number = number
        self.name = name
        self.blocked = blocked
        self.currencyCode = currencyCode
        self.taxRegistrationNumber = taxRegistrationNumber
        self.erpId = erpId
        self.lastModified = lastModified
        self.address = address
        self.paymentTermsCode = paymentTermsCode
    }
}

/// A postal address as ERPs keep a vendor's: up to two street lines, city, state, postal code, ISO country.
package struct PostalAddress: Sendable, Codable, Hashable {
    package var lines: [String]
    package var city: String?
    package var state: String?
    package var postalCode: String?
    package var country: String?

    package init(
        lines: [String], city: String? = nil, state: String? = nil, postalCode: String? = nil, country: String? = nil
    ) {
        self.lines = lines
        self.city = city
        self.state = state
        self.postalCode = postalCode
        self.country = country
    }

    /// Nil when every part is empty (ERPs send empty strings for unset fields).
    package var nonEmpty: PostalAddress? {
        let parts = lines + [city, state, postalCode, country].compactMap { $0 }
        return parts.allSatisfy({ $0.trimmingWhitespace(newlines: false).isEmpty }) ? nil : self
    }
}

/// A general-ledger account from the ERP's chart of accounts.
package struct GLAccount: Sendable, Codable, Hashable {
    package var number: String
    package var name: String
    package var category: String?
    /// Whether documents may post to it directly (a posting account, not blocked, direct posting allowed).
    package var postable: Bool
    package var blocked: Bool
    package var erpId: String?
    package var lastModified: Date?

    package init(
        number: String,
        name: String,
        category: String? = nil,
        postable: Bool,
        blocked: Bool = false,
        erpId: String? = nil,
        lastModified: Date? = nil
    ) {
        self.number = number
        self.name = name
        self.category = category
        self.postable = postable
        self.blocked = blocked
        self.erpId = erpId
        self.lastModified = lastModified
    }
}

/// A dimension (cost center, department, fund ...) with its values.
package struct ERPDimension: Sendable, Codable, Hashable {
    package var code: String
    package var name: String
    package var values: [DimensionValue]
    package var erpId: String?

    package init(code: String, name: String, values: [DimensionValue], erpId: String? = nil) {
        self.code = code
        self.name = name
        self.values = values
        self.erpId = erpId
    }
}

package struct DimensionValue: Sendable, Codable, Hashable {
    package var code: String
    package var name: String
    package var blocked: Bool
    package init(code: String, name: String, blocked: Bool = false) {
        self.code = code
        self.name = name
        self.blocked = blocked
    }
}

/// A dimension code and value on a document or line.
package struct DimensionAssignment: Sendable, Codable, Hashable {
    package var dimension: String
    package var value: String
    package init(dimension: String, value: String) {
        self.dimension = dimension
        self.value = value
    }
}

/// An invoice coded for the ERP: real vendor, G/L accounts and dimensions, ready to be written as a draft.
package struct MappedInvoice: Sendable, Codable, Hashable {
    package var recordId: String
    package var source: String
    package var sourceId: String
    package var sourceUpdatedAt: Date?
    package var vendorNumber: String
    package var vendorInvoiceNumber: String
    package var invoiceDate: LocalDate
    package var dueDate: LocalDate?
    package var postingDate: LocalDate?
    /// ISO currency code; nil means the ERP company's local currency.
    package var currencyCode: String?
    package var sourceCurrency: String?
    package var headerDimensions: [DimensionAssignment]
    package var lines: [MappedLine]
    /// The total the draft must come to (from the procurement system).
    package var expectedTotal: Decimal
    package var poNumbers: [String]
    /// An invoice, or a credit memo (written where the ERP has a document for it: Acumatica `Debit Adj.`).
    package var kind: DocumentKind

    package enum DocumentKind: String, Sendable, Codable, Hashable {
        case invoice, creditMemo
    }

    package init(
        recordId: String,
        source: String,
        sourceId: String,
        sourceUpdatedAt: Date?,
        vendorNumber: String,
        vendorInvoiceNumber: String,
        invoiceDate: LocalDate,
        dueDate: LocalDate?,
        postingDate: LocalDate?,
        currencyCode: String?,
        sourceCurrency: String?,
        headerDimensions: [DimensionAssignment],
        lines: [MappedLine],
        expectedTotal: Decimal,
        poNumbers: [String],
        kind: DocumentKind = .invoice
    ) {
        self.recordId = recordId
        self.source = source
        self.sourceId = sourceId
        self.sourceUpdatedAt = sourceUpdatedAt
        self.vendorNumber = vendorNumber
        self.vendorInvoiceNumber = vendorInvoiceNumber
        self.invoiceDate = invoiceDate
        self.dueDate = dueDate
        self.postingDate = postingDate
        self.currencyCode = currencyCode
        self.sourceCurrency = sourceCurrency
        self.headerDimensions = headerDimensions
        self.lines = lines
        self.expectedTotal = expectedTotal
        self.poNumbers = poNumbers
        self.kind = kind
    }

    private enum CodingKeys: String, CodingKey {
        case recordId, source, sourceId, sourceUpdatedAt, vendorNumber, vendorInvoiceNumber, invoiceDate, dueDate
        case postingDate, currencyCode, sourceCurrency, headerDimensions, lines, expectedTotal, poNumbers, kind
    }

    /// Events written before `kind` existed are invoices.
    package init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        recordId = try c.decode(String.self, forKey: .recordId)
        source = try c.decode(String.self, forKey: .source)
        sourceId = try c.decode(String.self, forKey: .sourceId)
        sourceUpdatedAt = try c.decodeIfPresent(Date.self, forKey: .sourceUpdatedAt)
        vendorNumber = try c.decode(String.self, forKey: .vendorNumber)
        vendorInvoiceNumber = try c.decode(String.self, forKey: .vendorInvoiceNumber)
        invoiceDate = try c.decode(LocalDate.self, forKey: .invoiceDate)
        dueDate = try c.decodeIfPresent(LocalDate.self, forKey: .dueDate)
        postingDate = try c.decodeIfPresent(LocalDate.self, forKey: .postingDate)
        currencyCode = try c.decodeIfPresent(String.self, forKey: .currencyCode)
        sourceCurrency = try c.decodeIfPresent(String.self, forKey: .sourceCurrency)
        headerDimensions = try c.decode([DimensionAssignment].self, forKey: .headerDimensions)
        lines = try c.decode([MappedLine].self, forKey: .lines)
        expectedTotal = try c.decode(Decimal.self, forKey: .expectedTotal)
        poNumbers = try c.decode([String].self, forKey: .poNumbers)
        kind = try c.decodeIfPresent(DocumentKind.self, forKey: .kind) ?? .invoice
    }
}

package struct MappedLine: Sendable, Codable, Hashable {
    package enum Kind: String, Sendable, Codable, Hashable {
        /// A line from the supplier invoice.
        case item
        /// Tax stated by the supplier, booked to the configured tax account.
        case tax
        /// Shipping or handling charges.
        case charge
        /// A header discount (negative amount).
        case discount
    }
    package var kind: Kind
    package var sourceLineNumber: Int?
    package var description: String
    package var glAccount: String
    package var quantity: Decimal
    package var unitCost: Decimal
    package var taxCode: String?
    package var dimensions: [DimensionAssignment]
    package var poNumber: String?
    package var poLineNumber: String?

    package init(
        kind: Kind,
        sourceLineNumber: Int?,
        description: String,
        glAccount: String,
        quantity: Decimal,
        unitCost: Decimal,
        taxCode: String? = nil,
        dimensions: [DimensionAssignment] = [],
        poNumber: String? = nil,
        poLineNumber: String? = nil
    ) {
        self.kind = kind
        self.sourceLineNumber = sourceLineNumber
        self.description = description
        self.glAccount = glAccount
        self.quantity = quantity
        self.unitCost = unitCost
        self.taxCode = taxCode
        self.dimensions = dimensions
        self.poNumber = poNumber
        self.poLineNumber = poLineNumber
    }

    package var amount: Decimal { quantity * unitCost }
}

/// Where a record landed in the ERP.
package struct ERPDocumentRef: Sendable, Codable, Hashable {
    package var system: String
    package var id: String
    package var number: String?
    package var status: String?
    package init(system: String, id: String, number: String?, status: String?) {
        self.system = system
        self.id = id
        self.number = number
        self.status = status
    }
}
