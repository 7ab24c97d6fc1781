import Foundation

/// A purchase credit memo (`purchaseCreditMemos`, API v2.0 page "APIV2 - Purchase Credit Memos"): a draft until
/// posted. Its header names differ from a purchase invoice's (`creditMemoDate`, `vendorCreditMemoNumber`, lines in
/// `purchaseCreditMemoLines`); the rules for vendors, lines, dimensions and amounts are the same, so the document is
/// kept as a purchase document and shown under the credit memo's names.
package struct BCPurchaseCreditMemo: BCEntity {
    static let entityType = "Microsoft.NAV.purchaseCreditMemo"
    static let properties: [(name: String, type: ODataType)] = [
        ("id", .guid), ("number", .string), ("creditMemoDate", .date), ("postingDate", .date), ("dueDate", .date),
        ("vendorId", .guid), ("vendorNumber", .string), ("vendorName", .string), ("vendorCreditMemoNumber", .string),
        ("payToVendorId", .guid), ("payToVendorNumber", .string), ("payToName", .string),
        ("buyFromAddressLine1", .string), ("buyFromAddressLine2", .string), ("buyFromCity", .string),
        ("buyFromCountry", .string), ("buyFromState", .string), ("buyFromPostCode", .string),
        ("payToAddressLine1", .string), ("payToAddressLine2", .string), ("payToCity", .string),
        ("payToCountry", .string), ("payToState", .string), ("payToPostCode", .string),
        ("shortcutDimension1Code", .string), ("shortcutDimension2Code", .string), ("currencyId", .guid),
        ("currencyCode", .string), ("paymentTermsId", .guid), ("shipmentMethodId", .guid), ("purchaser", .string),
        ("pricesIncludeTax", .bool), ("discountAmount", .decimal), ("discountAppliedBeforeTax", .bool),
        ("totalAmountExcludingTax", .decimal), ("totalTaxAmount", .decimal), ("totalAmountIncludingTax", .decimal),
        ("status", .string), ("lastModifiedDateTime", .dateTime), ("invoiceId", .guid), ("invoiceNumber", .string),
        ("vendorReturnReasonId", .guid),
    ]
    static let navigations: Set<String> = ["purchaseCreditMemoLines", "dimensionSetLines"]
    static let defaultOrder = ["number"]

    /// Header names the client may set on create (the page's editable fields the simulator models).
    static let writableOnCreate: Set<String> = [
        "id", "creditMemoDate", "postingDate", "dueDate", "vendorId", "vendorNumber", "vendorCreditMemoNumber",
        "currencyCode", "purchaser", "discountAmount", "shortcutDimension1Code", "shortcutDimension2Code",
    ]
    static var createRules: BodyRules {
        BodyRules(
            entityType: entityType, schema: schema, writable: writableOnCreate,
            navigations: ["purchaseCreditMemoLines", "dimensionSetLines"])
    }

    /// The credit memo's names → the purchase document's.
    static let headerNames = [
        "creditMemoDate": "invoiceDate", "vendorCreditMemoNumber": "vendorInvoiceNumber",
        "purchaseCreditMemoLines": "purchaseInvoiceLines",
    ]

    package var document: BCPurchaseInvoice

    package var id: String { document.id }
    var rowVersion: Int { document.rowVersion }
    package var number: String { document.number }
    package var vendorNumber: String { document.vendorNumber }
    package var vendorCreditMemoNumber: String { document.vendorInvoiceNumber }
    package var status: String { document.status }
    package var totalAmountIncludingTax: Decimal { document.totalAmountIncludingTax }

    func value(_ property: String) -> SimJSON {
        switch property {
        case "creditMemoDate": return document.value("invoiceDate")
        case "vendorCreditMemoNumber": return document.value("vendorInvoiceNumber")
        case "paymentTermsId", "shipmentMethodId", "invoiceId", "vendorReturnReasonId": return .string(emptyGUID)
        case "invoiceNumber": return .string("")
        default: return document.value(property)
        }
    }

    func navigation(_ name: String, in company: BCCompanyData) -> [any BCEntity]? {
        switch name {
        case "purchaseCreditMemoLines": return document.lines
        case "dimensionSetLines": return document.dimensionSetLines
        default: return nil
        }
    }
}

extension BusinessCentralStore {
    /// `POST purchaseCreditMemos`: header and lines in one deep insert, atomic like an invoice's.
    func createCreditMemo(companyId: String, body: SimJSONObject) throws(BCError) -> BCPurchaseCreditMemo {
        let now = clock.now()
        return try write(companyId: companyId) { company, nextVersion throws(BCError) in
            try BCPurchaseCreditMemo.createRules.validate(body)
            var translated = SimJSONObject()
            for (name, value) in body {
                translated[BCPurchaseCreditMemo.headerNames[name] ?? name] = value
            }
            let today = Timestamps.day(now)
            var document = BCPurchaseInvoice(
                id: Self.newId(), number: String(company.nextCreditMemoNumber), invoiceDate: today,
                postingDate: today, dueDate: today, vendorId: emptyGUID, vendorNumber: "", vendorName: "",
                lastModified: now)
            try company.applyHeader(translated, to: &document, isCreate: true)
            if let dims = translated["dimensionSetLines"]?.arrayValue {
                document.dimensionSetLines = try company.dimensionSetLines(
                    from: dims, parentId: document.id, parentType: "Purchase Credit Memo")
            }
            for entry in translated["purchaseInvoiceLines"]?.arrayValue ?? [] {
                guard let object = entry.objectValue else {
                    throw BCError.badBody("Invalid Request Body: each purchaseCreditMemoLine must be a JSON object.")
                }
                var line = try company.line(from: object, for: document, id: Self.newId())
                line.rowVersion = nextVersion()
                document.lines.append(line)
            }
            document.allocateInvoiceDiscount()
            document.rowVersion = nextVersion()
            company.nextCreditMemoNumber += 1
            let memo = BCPurchaseCreditMemo(document: document)
            company.purchaseCreditMemos.append(memo)
            return memo
        }
    }
}
