// swift-format-ignore-file: AlwaysUseLowerCamelCase

// The names are F&O's OData field names, decoded as they are.
import ConnectorCore
import Foundation

// Field names follow the public OData names of the entities (reference §2.2). Where the reference gives only the
// entity and key, the other names are the ones 3rd-party code uses (UNCONFIRMED: check `$metadata`); every field
// but the key is optional, so an environment that lacks one still reads.

/// An F&O `NoYes` (or boolean) field: JSON `"Yes"`/`"No"`, or `true`/`false`.
package struct FONoYes: Decodable, Sendable, Hashable {
    package var value: Bool
    package init(_ value: Bool) { self.value = value }
    package init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        if let bool = try? c.decode(Bool.self) {
            value = bool
        } else if let text = try? c.decode(String.self) {
            value = text.caseInsensitiveCompare("Yes") == .orderedSame || text == "1"
        } else if let number = try? c.decode(Int.self) {
            value = number != 0
        } else {
            throw DecodingError.dataCorruptedError(in: c, debugDescription: "expected Yes/No or a boolean")
        }
    }
}

/// A number sent as a JSON number or a string.
package struct FONumber: Decodable, Sendable, Hashable {
    package var value: Decimal
    package init(_ value: Decimal) { self.value = value }
    package init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        if let number = try? c.decode(Decimal.self) {
            value = number
        } else if let text = try? c.decode(String.self), let number = Decimal(string: text) {
            value = number
        } else {
            throw DecodingError.dataCorruptedError(in: c, debugDescription: "expected a number")
        }
    }
}

/// `VendorsV2` (key `dataAreaId`, `VendorAccountNumber`).
package struct FOVendor: Decodable, Sendable, Hashable {
    package var dataAreaId: String?
    package var VendorAccountNumber: String
    package var VendorOrganizationName: String?
    /// `VendorBlocked`-style hold: `No`, `Invoice`, `All`, `Payment`, `Requisition`, `Never`.
    package var OnHoldStatus: String?
    package var CurrencyCode: String?
    package var TaxExemptNumber: String?
    package var AddressStreet: String?
    package var AddressCity: String?
    package var AddressState: String?
    package var AddressZipCode: String?
    package var AddressCountryRegionId: String?
    package var PaymentTermsName: String?
}

/// `MainAccounts` (key `ChartOfAccounts`, `MainAccountId`; no `dataAreaId`).
package struct FOMainAccount: Decodable, Sendable, Hashable {
    package var ChartOfAccounts: String
    package var MainAccountId: String
    package var Name: String?
    package var MainAccountType: String?
    package var MainAccountCategory: String?
    package var IsSuspended: FONoYes?
}

/// `DimensionAttributes` (key `DimensionName`).
package struct FODimensionAttribute: Decodable, Sendable, Hashable {
    package var DimensionName: String
}

/// `FinancialDimensionValues` (key `FinancialDimension`, `LegalEntityId`, `DimensionValue`).
package struct FOFinancialDimensionValue: Decodable, Sendable, Hashable {
    package var FinancialDimension: String
    package var LegalEntityId: String?
    package var DimensionValue: String
    package var Description: String?
    package var IsSuspended: FONoYes?
    package var IsBlockedForManualEntry: FONoYes?
}

/// `VendorInvoiceHeaders` (key `dataAreaId`, `HeaderReference`): a pending vendor invoice.
package struct FOVendorInvoiceHeader: Decodable, Sendable, Hashable {
    package var dataAreaId: String
    package var HeaderReference: String
    package var InvoiceNumber: String?
    package var VendorAccount: String?
    package var InvoiceAccount: String?
}

/// `VendorInvoiceLines` (key `dataAreaId`, `HeaderReference`, `InvoiceLineNumber`).
package struct FOVendorInvoiceLine: Decodable, Sendable, Hashable {
    package var dataAreaId: String?
    package var HeaderReference: String
    package var InvoiceLineNumber: FONumber
}

/// `PurchaseOrderHeadersV2` (key `dataAreaId`, `PurchaseOrderNumber`), with `PurchaseOrderLinesV2` expanded.
package struct FOPurchaseOrder: Decodable, Sendable, Hashable {
    package var dataAreaId: String?
    package var PurchaseOrderNumber: String
    package var OrderVendorAccountNumber: String?
    package var PurchaseOrderStatus: String?
    package var CurrencyCode: String?
    // The fields below are passed on to JAGGAER with a confirmed order; their names are UNCONFIRMED (not in the
    // reference): each is optional, so an environment without one still reads.
    package var PurchaseOrderName: String?
    package var AccountingDate: String?
    package var RequestedDeliveryDate: String?
    package var PurchaseOrderLinesV2: [Line]?

    package struct Line: Decodable, Sendable, Hashable {
        package var LineNumber: FONumber
        package var OrderedPurchaseQuantity: FONumber?
        package var PurchasePrice: FONumber?
        package var LineDescription: String?
        package var ItemNumber: String?
        package var ProcurementCategoryName: String?
        package var LineAmount: FONumber?
        package var PurchaseUnitSymbol: String?
        package var RequestedDeliveryDate: String?
    }
}

/// `ReleasedProductsV2` (key `dataAreaId`, `ItemNumber`): a product released to a legal entity. Only the key is
/// from the reference; the other names are UNCONFIRMED, each optional, so an environment without one still reads.
package struct FOReleasedProduct: Decodable, Sendable, Hashable {
    package var dataAreaId: String?
    package var ItemNumber: String
    package var ProductName: String?
    package var SearchName: String?
    package var ProductDescription: String?
    package var PurchaseUnitSymbol: String?
    package var PurchasePrice: FONumber?
    package var ProcurementProductCategoryName: String?
}

/// The answer to `?$count=true&$top=0`.
struct FOCount: Decodable {
    var count: Int?
    enum CodingKeys: String, CodingKey { case count = "@odata.count" }
}
