import ConnectorCore
import Foundation

package struct BCCompany: Decodable, Sendable, Hashable {
    package var id: String
    package var name: String
    package var displayName: String?
}

package struct BCVendor: Decodable, Sendable, Hashable {
    package var id: String
    package var number: String
    package var displayName: String?
    /// `" "`, `"Payment"` or `"All"`.
    package var blocked: String?
    package var currencyCode: String?
    package var taxRegistrationNumber: String?
    package var lastModifiedDateTime: Date?
    package var addressLine1: String?
    package var addressLine2: String?
    package var city: String?
    package var state: String?
    package var country: String?
    package var postalCode: String?
    /// The vendor's payment terms (a `paymentTerms` id; empty or the all-zero GUID when none).
    package var paymentTermsId: String?
}

/// A payment term (`paymentTerms`, API v2.0 resource `paymentTerm`): the code behind `paymentTermsId`.
package struct BCPaymentTerm: Decodable, Sendable, Hashable {
    package var id: String
    package var code: String
    package var displayName: String?
    /// A BC date formula such as `30D` or `1M`.
    package var dueDateCalculation: String?
}

package struct BCAccount: Decodable, Sendable, Hashable {
    package var id: String
    package var number: String
    package var displayName: String?
    package var category: String?
    package var subCategory: String?
    package var blocked: Bool?
    /// `Posting`, `Heading`, `Total`, `Begin-Total`, `End-Total`.
    package var accountType: String?
    package var directPosting: Bool?
    package var lastModifiedDateTime: Date?
}

package struct BCDimension: Decodable, Sendable, Hashable {
    package var id: String
    package var code: String
    package var displayName: String?
    package var dimensionValues: [BCDimensionValue]?
}

package struct BCDimensionValue: Decodable, Sendable, Hashable {
    package var id: String
    package var code: String
    package var dimensionId: String?
    package var displayName: String?
}

package struct BCPurchaseInvoice: Decodable, Sendable, Hashable {
    package var id: String
    package var number: String?
    package var invoiceDate: String?
    package var dueDate: String?
    package var vendorInvoiceNumber: String?
    package var vendorId: String?
    package var vendorNumber: String?
    package var currencyCode: String?
    package var status: String?
    package var totalAmountExcludingTax: Decimal?
    package var totalAmountIncludingTax: Decimal?
    package var lastModifiedDateTime: Date?
    package var etag: String?

    private enum CodingKeys: String, CodingKey {
        case id, number, invoiceDate, dueDate, vendorInvoiceNumber, vendorId, vendorNumber, currencyCode, status
        case totalAmountExcludingTax, totalAmountIncludingTax, lastModifiedDateTime
        case etag = "@odata.etag"
    }
}

/// A purchase order (`purchaseOrders`, API v2.0): `status` is `Draft`, `In Review` or `Open`.
package struct BCPurchaseOrder: Decodable, Sendable, Hashable {
    package var id: String
    package var number: String
    package var orderDate: String?
    package var vendorId: String?
    package var vendorNumber: String?
    package var status: String?
    package var fullyReceived: Bool?
    package var lastModifiedDateTime: Date?
}

/// The body of a deep insert: the invoice header with its lines (and, by default, each line's dimensions).
package struct BCPurchaseInvoiceCreate: Encodable, Sendable, Hashable {
    package var vendorNumber: String
    package var vendorInvoiceNumber: String
    package var invoiceDate: String
    package var dueDate: String?
    package var postingDate: String?
    package var currencyCode: String?
    package var purchaseInvoiceLines: [Line]

    package struct Line: Encodable, Sendable, Hashable {
        package var sequence: Int
        package var lineType: String
        /// Nil (left out) on a `Comment` line, which carries no account, quantity or cost.
        package var lineObjectNumber: String?
        package var description: String
        package var quantity: Decimal?
        package var unitCost: Decimal?
        package var taxCode: String?
        package var dimensionSetLines: [DimensionSetLine]?

        package init(
            sequence: Int,
            lineType: String = "Account",
            lineObjectNumber: String,
            description: String,
            quantity: Decimal,
            unitCost: Decimal,
            taxCode: String?,
            dimensionSetLines: [DimensionSetLine]?
        ) {
            self.sequence = sequence
            self.lineType = lineType
            self.lineObjectNumber = lineObjectNumber
            self.description = description
            self.quantity = quantity
            self.unitCost = unitCost
            self.taxCode = taxCode
            self.dimensionSetLines = dimensionSetLines
        }

        /// A `Comment` line: text only (the JAGGAER PO reference), no amount.
        package static func comment(sequence: Int, _ text: String) -> Line {
            var line = Line(
                sequence: sequence, lineType: "Comment", lineObjectNumber: "", description: text, quantity: 0,
                unitCost: 0, taxCode: nil, dimensionSetLines: nil)
            line.lineObjectNumber = nil
            line.quantity = nil
            line.unitCost = nil
            return line
        }
    }

    package init(
        vendorNumber: String,
        vendorInvoiceNumber: String,
        invoiceDate: String,
        dueDate: String?,
        postingDate: String?,
        currencyCode: String?,
        purchaseInvoiceLines: [Line]
    ) {
        self.vendorNumber = vendorNumber
        self.vendorInvoiceNumber = vendorInvoiceNumber
        self.invoiceDate = invoiceDate
        self.dueDate = dueDate
        self.postingDate = postingDate
        self.currencyCode = currencyCode
        self.purchaseInvoiceLines = purchaseInvoiceLines
    }
}

package struct DimensionSetLine: Codable, Sendable, Hashable {
    package var code: String
    package var valueCode: String
    package init(code: String, valueCode: String) {
        self.code = code
        self.valueCode = valueCode
    }
}

package struct BCPurchaseInvoiceLine: Decodable, Sendable, Hashable {
    package var id: String
    package var documentId: String?
    package var sequence: Int?
    package var lineType: String?
    package var lineObjectNumber: String?
    package var description: String?
    package var quantity: Decimal?
    package var unitCost: Decimal?
}

/// `{"error": {"code": "...", "message": "..."}}`
struct BCErrorBody: Decodable {
    struct Inner: Decodable {
        var code: String?
        var message: String?
    }
    var error: Inner?
}

struct ODataCollection<T: Decodable>: Decodable {
    var value: [T]
    var nextLink: String?

    private enum CodingKeys: String, CodingKey {
        case value
        case nextLink = "@odata.nextLink"
    }
}
