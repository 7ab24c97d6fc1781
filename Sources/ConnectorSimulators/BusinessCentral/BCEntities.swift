import Foundation

/// The GUID Business Central shows for "no value" (e.g. `itemId` of an account line).
let emptyGUID = "00000000-0000-0000-0000-000000000000"

/// One Business Central API entity type: its properties (in the order the API emits them) and navigations.
protocol BCEntity: Sendable {
    /// OData type name used in error messages, e.g. `Microsoft.NAV.purchaseInvoice`.
    static var entityType: String { get }
    /// Properties in output order with their types.
    static var properties: [(name: String, type: ODataType)] { get }
    /// Navigation properties `$expand` accepts.
    static var navigations: Set<String> { get }
    /// Default sort: the table's primary key.
    static var defaultOrder: [String] { get }

    var id: String { get }
    /// Row version; the `@odata.etag` changes whenever it does.
    var rowVersion: Int { get }
    /// The JSON value of one property.
    func value(_ property: String) -> SimJSON
    /// The entities of a navigation property, when expanded.
    func navigation(_ name: String, in company: BCCompanyData) -> [any BCEntity]?
}

extension BCEntity {
    static var schema: [String: ODataType] {
        Dictionary(uniqueKeysWithValues: properties.map { ($0.name, $0.type) })
    }

    static var navigations: Set<String> { [] }

    func navigation(_ name: String, in company: BCCompanyData) -> [any BCEntity]? { nil }

    /// `W/"…"`: opaque, different for every row version of every entity.
    var etag: String {
        let raw = "'\(rowVersion);\(id.prefix(8))\(rowVersion % 97);'"
        return "W/\"" + Data(raw.utf8).base64EncodedString() + "\""
    }
}

/// A requested `$expand` item, possibly with a nested `$expand`.
struct ExpandItem: Sendable {
    var navigation: String
    var nested: [ExpandItem]
}

extension BCEntity {
    /// The entity as the API returns it: `@odata.etag`, then the properties (all, or those in `select`),
    /// then expanded navigations.
    func json(select: Set<String>?, expand: [ExpandItem], company: BCCompanyData) -> SimJSONObject {
        var object = SimJSONObject()
        object["@odata.etag"] = .string(etag)
        for (name, _) in Self.properties where select == nil || select?.contains(name) == true {
            object[name] = value(name)
        }
        for item in expand {
            let children = navigation(item.navigation, in: company) ?? []
            object[item.navigation] = .array(
                children.map { .object($0.json(select: nil, expand: item.nested, company: company)) })
        }
        return object
    }
}

// MARK: Company

package struct BCCompany: BCEntity {
    static let entityType = "Microsoft.NAV.company"
    static let properties: [(name: String, type: ODataType)] = [
        ("id", .guid), ("systemVersion", .string), ("name", .string), ("displayName", .string),
        ("businessProfileId", .string), ("systemCreatedAt", .dateTime), ("systemCreatedBy", .guid),
        ("systemModifiedAt", .dateTime), ("systemModifiedBy", .guid),
    ]
    static let defaultOrder = ["name"]

    package var id: String
    package var name: String
    package var displayName: String
    var createdAt: Date
    var rowVersion = 1

    package init(id: String, name: String, displayName: String? = nil, createdAt: Date) {
        self.id = id.lowercased()
        self.name = name
        self.displayName = displayName ?? name
        self.createdAt = createdAt
    }

    func value(_ property: String) -> SimJSON {
        switch property {
        case "id": return .string(id)
        case "systemVersion": return .string("26.0.30643.32772")
        case "name": return .string(name)
        case "displayName": return .string(displayName)
        case "businessProfileId": return .string("")
        case "systemCreatedAt", "systemModifiedAt": return .string(Timestamps.millis(createdAt))
        default: return .string(emptyGUID)
        }
    }
}

// MARK: Vendor

/// A vendor (`vendors` entity set).
package struct BCVendor: BCEntity {
    static let entityType = "Microsoft.NAV.vendor"
    static let properties: [(name: String, type: ODataType)] = [
        ("id", .guid), ("number", .string), ("displayName", .string), ("addressLine1", .string),
        ("addressLine2", .string), ("city", .string), ("state", .string), ("country", .string),
        ("postalCode", .string), ("phoneNumber", .string), ("email", .string), ("website", .string),
        ("taxRegistrationNumber", .string), ("currencyId", .guid), ("currencyCode", .string),
        ("irs1099Code", .string), ("paymentTermsId", .guid), ("paymentMethodId", .guid), ("taxLiable", .bool),
        ("blocked", .string), ("balance", .decimal), ("lastModifiedDateTime", .dateTime),
    ]
    static let defaultOrder = ["number"]

    package var id: String
    package var number: String
    package var displayName: String
    package var addressLine1 = ""
    package var addressLine2 = ""
    package var city = ""
    package var state = ""
    package var country = "US"
    package var postalCode = ""
    package var phoneNumber = ""
    package var email = ""
    package var website = ""
    package var taxRegistrationNumber = ""
    /// Empty for the local currency (USD).
    package var currencyCode = ""
    package var paymentTermsId = emptyGUID
    package var paymentMethodId = emptyGUID
    /// Days from invoice date to due date (from the vendor's payment terms).
    package var paymentDays = 30
    package var taxLiable = false
    /// `" "`, `"Payment"` or `"All"`.
    package var blocked = " "
    package var balance: Decimal = 0
    package var lastModified: Date
    var rowVersion = 1

    package init(id: String, number: String, displayName: String, lastModified: Date) {
        self.id = id.lowercased()
        self.number = number
        self.displayName = displayName
        self.lastModified = lastModified
    }

    func value(_ property: String) -> SimJSON {
        switch property {
        case "id": return .string(id)
        case "number": return .string(number)
        case "displayName": return .string(displayName)
        case "addressLine1": return .string(addressLine1)
        case "addressLine2": return .string(addressLine2)
        case "city": return .string(city)
        case "state": return .string(state)
        case "country": return .string(country)
        case "postalCode": return .string(postalCode)
        case "phoneNumber": return .string(phoneNumber)
        case "email": return .string(email)
        case "website": return .string(website)
        case "taxRegistrationNumber": return .string(taxRegistrationNumber)
        case "currencyId": return .string(emptyGUID)
        case "currencyCode": return .string(currencyCode)
        case "irs1099Code": return .string("")
        case "paymentTermsId": return .string(paymentTermsId)
        case "paymentMethodId": return .string(paymentMethodId)
        case "taxLiable": return .bool(taxLiable)
        case "blocked": return .string(blocked)
        case "balance": return .decimal(balance)
        case "lastModifiedDateTime": return .string(Timestamps.millis(lastModified))
        default: return .null
        }
    }
}

// MARK: G/L account

/// A G/L account (`accounts` entity set, read-only in API v2.0).
package struct BCAccount: BCEntity {
    static let entityType = "Microsoft.NAV.account"
    static let properties: [(name: String, type: ODataType)] = [
        ("id", .guid), ("number", .string), ("displayName", .string), ("category", .string),
        ("subCategory", .string), ("blocked", .bool), ("accountType", .string), ("directPosting", .bool),
        ("netChange", .decimal), ("consolidationTranslationMethod", .string),
        ("consolidationDebitAccount", .string), ("consolidationCreditAccount", .string),
        ("excludeFromConsolidation", .bool), ("lastModifiedDateTime", .dateTime),
    ]
    static let defaultOrder = ["number"]

    package var id: String
    package var number: String
    package var displayName: String
    /// `Assets`, `Liabilities`, `Equity`, `Income`, `Cost of Goods Sold`, `Expense` or `" "`.
    package var category: String
    package var subCategory: String
    package var blocked = false
    /// `Posting`, `Heading`, `Total`, `Begin-Total` or `End-Total`.
    package var accountType = "Posting"
    package var directPosting = true
    package var netChange: Decimal = 0
    package var lastModified: Date
    var rowVersion = 1

    package init(
        id: String,
        number: String,
        displayName: String,
        category: String,
        subCategory: String = "",
        lastModified: Date
    ) {
        self.id = id.lowercased()
        self.number = number
        self.displayName = displayName
        self.category = category
        self.subCategory = subCategory
        self.lastModified = lastModified
    }

    func value(_ property: String) -> SimJSON {
        switch property {
        case "id": return .string(id)
        case "number": return .string(number)
        case "displayName": return .string(displayName)
        case "category": return .string(category)
        case "subCategory": return .string(subCategory)
        case "blocked": return .bool(blocked)
        case "accountType": return .string(accountType)
        case "directPosting": return .bool(directPosting)
        case "netChange": return .decimal(netChange)
        case "consolidationTranslationMethod": return .string("Average Rate (Manual)")
        case "consolidationDebitAccount", "consolidationCreditAccount": return .string("")
        case "excludeFromConsolidation": return .bool(false)
        case "lastModifiedDateTime": return .string(Timestamps.millis(lastModified))
        default: return .null
        }
    }
}

// MARK: Dimensions

/// A dimension (`dimensions` entity set).
package struct BCDimension: BCEntity {
    static let entityType = "Microsoft.NAV.dimension"
    static let properties: [(name: String, type: ODataType)] = [
        ("id", .guid), ("code", .string), ("displayName", .string), ("lastModifiedDateTime", .dateTime),
    ]
    static let navigations: Set<String> = ["dimensionValues"]
    static let defaultOrder = ["code"]

    package var id: String
    package var code: String
    package var displayName: String
    package var lastModified: Date
    var rowVersion = 1

    package init(id: String, code: String, displayName: String, lastModified: Date) {
        self.id = id.lowercased()
        self.code = code
        self.displayName = displayName
        self.lastModified = lastModified
    }

    func value(_ property: String) -> SimJSON {
        switch property {
        case "id": return .string(id)
        case "code": return .string(code)
        case "displayName": return .string(displayName)
        case "lastModifiedDateTime": return .string(Timestamps.millis(lastModified))
        default: return .null
        }
    }

    func navigation(_ name: String, in company: BCCompanyData) -> [any BCEntity]? {
        guard name == "dimensionValues" else { return nil }
        return company.dimensionValues.filter { $0.dimensionId == id }
    }
}

/// A dimension value (`dimensionValues`, top-level or under `dimensions({id})`).
package struct BCDimensionValue: BCEntity {
    static let entityType = "Microsoft.NAV.dimensionValue"
    static let properties: [(name: String, type: ODataType)] = [
        ("id", .guid), ("code", .string), ("dimensionId", .guid), ("displayName", .string),
        ("consolidationCode", .string), ("lastModifiedDateTime", .dateTime),
    ]
    static let defaultOrder = ["dimensionId", "code"]

    package var id: String
    package var code: String
    package var dimensionId: String
    package var displayName: String
    package var consolidationCode = ""
    package var lastModified: Date
    var rowVersion = 1

    package init(id: String, code: String, dimensionId: String, displayName: String, lastModified: Date) {
        self.id = id.lowercased()
        self.code = code
        self.dimensionId = dimensionId.lowercased()
        self.displayName = displayName
        self.lastModified = lastModified
    }

    func value(_ property: String) -> SimJSON {
        switch property {
        case "id": return .string(id)
        case "code": return .string(code)
        case "dimensionId": return .string(dimensionId)
        case "displayName": return .string(displayName)
        case "consolidationCode": return .string(consolidationCode)
        case "lastModifiedDateTime": return .string(Timestamps.millis(lastModified))
        default: return .null
        }
    }
}

/// A dimension on a document or line (`dimensionSetLines`); `id` is the dimension's id.
package struct BCDimensionSetLine: BCEntity, Equatable {
    static let entityType = "Microsoft.NAV.dimensionSetLine"
    static let properties: [(name: String, type: ODataType)] = [
        ("id", .guid), ("code", .string), ("parentId", .guid), ("parentType", .string), ("displayName", .string),
        ("valueId", .guid), ("valueCode", .string), ("valueDisplayName", .string),
    ]
    static let defaultOrder = ["code"]

    package var id: String
    package var code: String
    package var parentId: String
    /// `Purchase Invoice` or `Purchase Invoice Line`.
    package var parentType: String
    package var displayName: String
    package var valueId: String
    package var valueCode: String
    package var valueDisplayName: String
    var rowVersion = 1

    func value(_ property: String) -> SimJSON {
        switch property {
        case "id": return .string(id)
        case "code": return .string(code)
        case "parentId": return .string(parentId)
        case "parentType": return .string(parentType)
        case "displayName": return .string(displayName)
        case "valueId": return .string(valueId)
        case "valueCode": return .string(valueCode)
        case "valueDisplayName": return .string(valueDisplayName)
        default: return .null
        }
    }
}

// MARK: Purchase invoices

/// A purchase invoice line (`purchaseInvoiceLines`).
package struct BCPurchaseInvoiceLine: BCEntity {
    static let entityType = "Microsoft.NAV.purchaseInvoiceLine"
    static let properties: [(name: String, type: ODataType)] = [
        ("id", .guid), ("documentId", .guid), ("sequence", .int), ("itemId", .guid), ("accountId", .guid),
        ("lineType", .string), ("lineObjectNumber", .string), ("description", .string), ("unitOfMeasureId", .guid),
        ("unitOfMeasureCode", .string), ("unitCost", .decimal), ("quantity", .decimal), ("discountAmount", .decimal),
        ("discountPercent", .decimal), ("discountAppliedBeforeTax", .bool), ("amountExcludingTax", .decimal),
        ("taxCode", .string), ("taxPercent", .decimal), ("totalTaxAmount", .decimal), ("amountIncludingTax", .decimal),
        ("invoiceDiscountAllocation", .decimal), ("netAmount", .decimal), ("netTaxAmount", .decimal),
        ("netAmountIncludingTax", .decimal), ("expectedReceiptDate", .date), ("itemVariantId", .guid),
        ("locationId", .guid),
    ]
    static let navigations: Set<String> = ["dimensionSetLines"]
    static let defaultOrder = ["sequence"]

    package var id: String
    package var documentId: String
    package var sequence: Int
    package var accountId = emptyGUID
    /// `Comment`, `Account`, `Item`, `Resource`, `Fixed Asset` or `Charge`.
    package var lineType = "Comment"
    package var lineObjectNumber = ""
    package var description = ""
    package var unitOfMeasureCode = ""
    package var unitCost: Decimal = 0
    package var quantity: Decimal = 0
    package var discountAmount: Decimal = 0
    package var discountPercent: Decimal = 0
    package var taxCode = ""
    package var taxPercent: Decimal = 0
    package var invoiceDiscountAllocation: Decimal = 0
    package var expectedReceiptDate = ""
    package var dimensionSetLines: [BCDimensionSetLine] = []
    var rowVersion = 1

    /// `quantity × unitCost − discountAmount`, rounded to cents.
    package var amountExcludingTax: Decimal { (quantity * unitCost - discountAmount).rounded(scale: 2) }
    package var netAmount: Decimal { amountExcludingTax - invoiceDiscountAllocation }
    package var netTaxAmount: Decimal { (netAmount * taxPercent / 100).rounded(scale: 2) }
    package var totalTaxAmount: Decimal { netTaxAmount }

    func value(_ property: String) -> SimJSON {
        switch property {
        case "id": return .string(id)
        case "documentId": return .string(documentId)
        case "sequence": return .int(sequence)
        case "itemId", "unitOfMeasureId", "itemVariantId", "locationId": return .string(emptyGUID)
        case "accountId": return .string(accountId)
        case "lineType": return .string(lineType)
        case "lineObjectNumber": return .string(lineObjectNumber)
        case "description": return .string(description)
        case "unitOfMeasureCode": return .string(unitOfMeasureCode)
        case "unitCost": return .decimal(unitCost)
        case "quantity": return .decimal(quantity)
        case "discountAmount": return .decimal(discountAmount)
        case "discountPercent": return .decimal(discountPercent)
        case "discountAppliedBeforeTax": return .bool(false)
        case "amountExcludingTax": return .decimal(amountExcludingTax)
        case "taxCode": return .string(taxCode)
        case "taxPercent": return .decimal(taxPercent)
        case "totalTaxAmount": return .decimal(totalTaxAmount)
        case "amountIncludingTax":
            return .decimal(amountExcludingTax + (amountExcludingTax * taxPercent / 100).rounded(scale: 2))
        case "invoiceDiscountAllocation": return .decimal(invoiceDiscountAllocation)
        case "netAmount": return .decimal(netAmount)
        case "netTaxAmount": return .decimal(netTaxAmount)
        case "netAmountIncludingTax": return .decimal(netAmount + netTaxAmount)
        case "expectedReceiptDate":
            return expectedReceiptDate.isEmpty ? .string("0001-01-01") : .string(expectedReceiptDate)
        default: return .null
        }
    }

    func navigation(_ name: String, in company: BCCompanyData) -> [any BCEntity]? {
        name == "dimensionSetLines" ? dimensionSetLines : nil
    }
}

/// A purchase invoice (`purchaseInvoices`): a draft until posted with `Microsoft.NAV.post`.
package struct BCPurchaseInvoice: BCEntity {
    static let entityType = "Microsoft.NAV.purchaseInvoice"
    static let properties: [(name: String, type: ODataType)] = [
        ("id", .guid), ("number", .string), ("invoiceDate", .date), ("postingDate", .date), ("dueDate", .date),
        ("vendorInvoiceNumber", .string), ("vendorId", .guid), ("vendorNumber", .string), ("vendorName", .string),
        ("payToName", .string), ("payToContact", .string), ("payToVendorId", .guid), ("payToVendorNumber", .string),
        ("shipToName", .string), ("shipToContact", .string), ("buyFromAddressLine1", .string),
        ("buyFromAddressLine2", .string), ("buyFromCity", .string), ("buyFromCountry", .string),
        ("buyFromState", .string), ("buyFromPostCode", .string), ("shipToAddressLine1", .string),
        ("shipToAddressLine2", .string), ("shipToCity", .string), ("shipToCountry", .string),
        ("shipToState", .string), ("shipToPostCode", .string), ("payToAddressLine1", .string),
        ("payToAddressLine2", .string), ("payToCity", .string), ("payToCountry", .string), ("payToState", .string),
        ("payToPostCode", .string), ("shortcutDimension1Code", .string), ("shortcutDimension2Code", .string),
        ("currencyId", .guid), ("currencyCode", .string), ("orderId", .guid), ("orderNumber", .string),
        ("purchaser", .string), ("pricesIncludeTax", .bool), ("discountAmount", .decimal),
        ("discountAppliedBeforeTax", .bool), ("totalAmountExcludingTax", .decimal), ("totalTaxAmount", .decimal),
        ("totalAmountIncludingTax", .decimal), ("status", .string), ("lastModifiedDateTime", .dateTime),
    ]
    static let navigations: Set<String> = ["purchaseInvoiceLines", "dimensionSetLines"]
    static let defaultOrder = ["number"]

    package var id: String
    package var number: String
    package var invoiceDate: String
    package var postingDate: String
    package var dueDate: String
    package var vendorInvoiceNumber = ""
    package var vendorId: String
    package var vendorNumber: String
    package var vendorName: String
    package var buyFrom = BCAddress()
    package var shortcutDimension1Code = ""
    package var shortcutDimension2Code = ""
    /// Empty for the local currency; the API shows the local currency code then.
    package var currencyCode = ""
    package var purchaser = ""
    /// The invoice discount amount, allocated to the lines.
    package var discountAmount: Decimal = 0
    /// `Draft`, `Open`, `Paid`, ...
    package var status = "Draft"
    package var lastModified: Date
    package var lines: [BCPurchaseInvoiceLine] = []
    package var dimensionSetLines: [BCDimensionSetLine] = []
    var rowVersion = 1

    package var totalAmountExcludingTax: Decimal { lines.reduce(0) { $0 + $1.netAmount } }
    package var totalTaxAmount: Decimal { lines.reduce(0) { $0 + $1.netTaxAmount } }
    package var totalAmountIncludingTax: Decimal { totalAmountExcludingTax + totalTaxAmount }

    /// Spreads `discountAmount` over the lines in proportion to their amounts (the last line takes the rest).
    mutating func allocateInvoiceDiscount() {
        let base = lines.reduce(Decimal(0)) { $0 + $1.amountExcludingTax }
        var remaining = discountAmount
        let eligible = lines.indices.filter { lines[$0].amountExcludingTax != 0 }
        for index in lines.indices { lines[index].invoiceDiscountAllocation = 0 }
        guard base != 0, discountAmount != 0 else { return }
        for (position, index) in eligible.enumerated() {
            let share: Decimal
            if position == eligible.count - 1 {
                share = remaining
            } else {
                share = (discountAmount * lines[index].amountExcludingTax / base).rounded(scale: 2)
            }
            lines[index].invoiceDiscountAllocation = share
            remaining -= share
        }
    }

    func value(_ property: String) -> SimJSON {
        switch property {
        case "id": return .string(id)
        case "number": return .string(number)
        case "invoiceDate": return .string(invoiceDate)
        case "postingDate": return .string(postingDate)
        case "dueDate": return .string(dueDate)
        case "vendorInvoiceNumber": return .string(vendorInvoiceNumber)
        case "vendorId", "payToVendorId": return .string(vendorId)
        case "vendorNumber", "payToVendorNumber": return .string(vendorNumber)
        case "vendorName", "payToName": return .string(vendorName)
        case "payToContact", "shipToContact", "orderNumber": return .string("")
        case "shipToName": return .string("CRONUS USA, Inc.")
        case "buyFromAddressLine1", "payToAddressLine1": return .string(buyFrom.line1)
        case "buyFromAddressLine2", "payToAddressLine2": return .string(buyFrom.line2)
        case "buyFromCity", "payToCity": return .string(buyFrom.city)
        case "buyFromCountry", "payToCountry": return .string(buyFrom.country)
        case "buyFromState", "payToState": return .string(buyFrom.state)
        case "buyFromPostCode", "payToPostCode": return .string(buyFrom.postCode)
        case "shipToAddressLine1": return .string("7122 South Ashford Street")
        case "shipToAddressLine2": return .string("Westminster")
        case "shipToCity": return .string("Atlanta")
        case "shipToCountry": return .string("US")
        case "shipToState": return .string("GA")
        case "shipToPostCode": return .string("31772")
        case "shortcutDimension1Code": return .string(shortcutDimension1Code)
        case "shortcutDimension2Code": return .string(shortcutDimension2Code)
        case "currencyId", "orderId": return .string(emptyGUID)
        case "currencyCode": return .string(currencyCode.isEmpty ? BCCompanyData.localCurrency : currencyCode)
        case "purchaser": return .string(purchaser)
        case "pricesIncludeTax", "discountAppliedBeforeTax": return .bool(false)
        case "discountAmount": return .decimal(discountAmount)
        case "totalAmountExcludingTax": return .decimal(totalAmountExcludingTax)
        case "totalTaxAmount": return .decimal(totalTaxAmount)
        case "totalAmountIncludingTax": return .decimal(totalAmountIncludingTax)
        case "status": return .string(status)
        case "lastModifiedDateTime": return .string(Timestamps.millis(lastModified))
        default: return .null
        }
    }

    func navigation(_ name: String, in company: BCCompanyData) -> [any BCEntity]? {
        switch name {
        case "purchaseInvoiceLines": return lines
        case "dimensionSetLines": return dimensionSetLines
        default: return nil
        }
    }
}

/// A postal address on a document.
package struct BCAddress: Sendable, Equatable {
    package var line1 = ""
    package var line2 = ""
    package var city = ""
    package var state = ""
    package var country = ""
    package var postCode = ""

    package init() {}
}

// MARK: Purchase order

/// A purchase order (`purchaseOrders`, API v2.0 only; not on the webhook list). Read-only here: the demo company
/// holds the orders its JAGGAER invoices name.
package struct BCPurchaseOrder: BCEntity {
    static let entityType = "Microsoft.NAV.purchaseOrder"
    static let properties: [(name: String, type: ODataType)] = [
        ("id", .guid), ("number", .string), ("orderDate", .date), ("postingDate", .date), ("vendorId", .guid),
        ("vendorNumber", .string), ("vendorName", .string), ("payToVendorId", .guid),
        ("payToVendorNumber", .string), ("currencyId", .guid), ("currencyCode", .string), ("purchaser", .string),
        ("requestedReceiptDate", .date), ("totalAmountExcludingTax", .decimal), ("totalTaxAmount", .decimal),
        ("totalAmountIncludingTax", .decimal), ("fullyReceived", .bool), ("status", .string),
        ("lastModifiedDateTime", .dateTime),
    ]
    static let defaultOrder = ["number"]

    package var id: String
    package var number: String
    package var orderDate: String
    package var vendorId: String
    package var vendorNumber: String
    package var vendorName: String
    /// Empty for the local currency.
    package var currencyCode = ""
    package var totalAmountExcludingTax: Decimal = 0
    package var fullyReceived = false
    /// `Draft`, `In Review` or `Open`.
    package var status = "Open"
    package var lastModified: Date
    var rowVersion = 1

    package init(
        id: String, number: String, orderDate: String, vendorId: String, vendorNumber: String, vendorName: String,
        lastModified: Date
    ) {
        self.id = id.lowercased()
        self.number = number
        self.orderDate = orderDate
        self.vendorId = vendorId.lowercased()
        self.vendorNumber = vendorNumber
        self.vendorName = vendorName
        self.lastModified = lastModified
    }

    func value(_ property: String) -> SimJSON {
        switch property {
        case "id": return .string(id)
        case "number": return .string(number)
        case "orderDate", "postingDate", "requestedReceiptDate": return .string(orderDate)
        case "vendorId", "payToVendorId": return .string(vendorId)
        case "vendorNumber", "payToVendorNumber": return .string(vendorNumber)
        case "vendorName": return .string(vendorName)
        case "currencyId": return .string(emptyGUID)
        case "currencyCode": return .string(currencyCode.isEmpty ? BCCompanyData.localCurrency : currencyCode)
        case "purchaser": return .string("")
        case "totalAmountExcludingTax", "totalAmountIncludingTax": return .decimal(totalAmountExcludingTax)
        case "totalTaxAmount": return .decimal(0)
        case "fullyReceived": return .bool(fullyReceived)
        case "status": return .string(status)
        case "lastModifiedDateTime": return .string(Timestamps.millis(lastModified))
        default: return .null
        }
    }
}
