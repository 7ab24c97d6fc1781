import Foundation

/// Everything one simulated Business Central company holds.
package struct BCCompanyData: Sendable {
    /// The local currency: documents in it have an empty currency code internally and show this code in the API.
    package static let localCurrency = "USD"

    package var company: BCCompany
    package var vendors: [BCVendor] = []
    package var accounts: [BCAccount] = []
    package var dimensions: [BCDimension] = []
    package var dimensionValues: [BCDimensionValue] = []
    package var purchaseInvoices: [BCPurchaseInvoice] = []
    /// Purchase credit memos (`purchaseCreditMemos`), drafts and posted.
    package var purchaseCreditMemos: [BCPurchaseCreditMemo] = []
    /// Payment terms (`paymentTerms`), the codes behind a vendor's `paymentTermsId`.
    package var paymentTerms: [BCPaymentTerm]
    /// Next purchase credit memo number ("Purchase Credit Memo Nos.").
    package var nextCreditMemoNumber = 104_001
    /// Purchase orders (read-only through the API here).
    package var purchaseOrders: [BCPurchaseOrder] = []
    /// Foreign currencies set up in the company (the local currency is always accepted).
    package var currencies: Set<String> = ["EUR", "CAD", "GBP", "MXN"]
    /// Units of measure set up in the company.
    package var unitsOfMeasure: Set<String> = ["EA", "PCS", "BOX", "PACK", "SET", "HOUR", "DAY", "LB", "GAL"]
    /// Tax group codes accepted as a line `taxCode` (purchase lines carry no sales tax here: `taxPercent` is 0).
    package var taxGroups: Set<String> = ["NONTAXABLE", "TAXABLE", "SUPPLIES", "LABOR", "FURNITURE", "MATERIALS"]
    /// Global dimension 1 and 2, shown as `shortcutDimension1Code` / `shortcutDimension2Code`.
    package var shortcutDimensionCodes = ("DEPARTMENT", "FUND")
    /// Next draft purchase invoice number ("Purchase Invoice Nos.").
    package var nextInvoiceNumber = 108_001
    /// Next posted purchase invoice number ("Posted Invoice Nos."): posting renumbers the invoice, as BC does.
    package var nextPostedNumber = 109_001
    /// Vendor ledger entries of posted purchase invoices, with their detailed entries (Analytics API).
    package var vendorLedgerEntries: [BCVendorLedgerEntry] = []
    package var nextLedgerEntryNumber = 1
    package var nextDetailedLedgerEntryNumber = 1

    package init(company: BCCompany) {
        self.company = company
        self.paymentTerms = BCPaymentTerm.standard(createdAt: company.createdAt)
    }

    func vendor(id: String) -> BCVendor? { vendors.first { $0.id == id.lowercased() } }
    func vendor(number: String) -> BCVendor? { vendors.first { $0.number == number } }
    func account(id: String) -> BCAccount? { accounts.first { $0.id == id.lowercased() } }
    func account(number: String) -> BCAccount? { accounts.first { $0.number == number } }
    func dimension(id: String) -> BCDimension? { dimensions.first { $0.id == id.lowercased() } }
    func dimension(code: String) -> BCDimension? { dimensions.first { $0.code == code } }
    func dimensionValue(id: String) -> BCDimensionValue? { dimensionValues.first { $0.id == id.lowercased() } }
    func dimensionValue(dimensionId: String, code: String) -> BCDimensionValue? {
        dimensionValues.first { $0.dimensionId == dimensionId && $0.code == code }
    }
    func invoiceIndex(id: String) -> Int? { purchaseInvoices.firstIndex { $0.id == id.lowercased() } }
}

// MARK: Request-body validation

/// Which properties of an entity a request body may set.
struct BodyRules {
    var entityType: String
    var schema: [String: ODataType]
    /// Properties the client may set.
    var writable: Set<String>
    /// Navigation properties accepted for deep insert.
    var navigations: Set<String>
}

extension BodyRules {
    /// Checks names and JSON types of a request body's properties.
    /// - Throws: `BadRequest` for unknown properties and wrong types, `BadRequest_InvalidOperation` for
    ///   read-only properties.
    func validate(_ body: SimJSONObject) throws(BCError) {
        for (name, value) in body {
            if name.hasPrefix("@") || name.contains("@odata.") { continue }
            if navigations.contains(name) {
                guard value.arrayValue != nil else {
                    throw BCError.badBody("Invalid Request Body: '\(name)' must be a JSON array.")
                }
                continue
            }
            guard let type = schema[name] else {
                throw BCError.badBody(
                    "The property '\(name)' does not exist on type '\(entityType)'. Make sure to only use property names that are defined by the type."
                )
            }
            // UNCONFIRMED for API pages: setting a read-only property is rejected with the documented
            // `BadRequest_InvalidOperation` ("Control '…' is read-only") rather than silently ignored.
            guard writable.contains(name) else {
                throw BCError(400, "BadRequest_InvalidOperation", "Control '\(name)' is read-only.")
            }
            try Self.checkType(name: name, value: value, type: type)
        }
    }

    static func checkType(name: String, value: SimJSON, type: ODataType) throws(BCError) {
        let ok: Bool
        switch (type, value) {
        case (.string, .string), (.bool, .bool), (.decimal, .number): ok = true
        case (.int, .number): ok = value.intValue != nil
        case (.guid, .string(let text)): ok = isGUID(text)
        case (.date, .string(let text)): ok = Timestamps.parseDay(text) != nil
        case (.dateTime, .string(let text)): ok = Timestamps.parseInstant(text) != nil
        default: ok = false
        }
        guard ok else {
            if type == .date {
                throw BCError.badBody("Unable to convert value to Date: '\(name)' must be a date like 2024-02-14.")
            }
            throw BCError.badBody(
                "Cannot convert the literal '\(value.text)' to the expected type '\(type.edmName)' for property '\(name)'."
            )
        }
    }
}

func isGUID(_ text: String) -> Bool {
    let parts = text.split(separator: "-", omittingEmptySubsequences: false)
    guard parts.map(\.count) == [8, 4, 4, 4, 12] else { return false }
    return parts.allSatisfy { $0.allSatisfy(\.isHexDigit) }
}

extension BCPurchaseInvoice {
    /// Properties a client may send. `id` is accepted but ignored (whether BC honours a client-chosen id is
    /// UNCONFIRMED); address, pay-to and ship-to properties are accepted and not stored.
    static let writableOnCreate: Set<String> = [
        "id", "invoiceDate", "postingDate", "dueDate", "vendorInvoiceNumber", "vendorId", "vendorNumber", "vendorName",
        "payToName", "payToContact", "payToVendorId", "payToVendorNumber", "shipToName", "shipToContact",
        "buyFromAddressLine1", "buyFromAddressLine2", "buyFromCity", "buyFromCountry", "buyFromState",
        "buyFromPostCode", "shipToAddressLine1", "shipToAddressLine2", "shipToCity", "shipToCountry", "shipToState",
        "shipToPostCode", "payToAddressLine1", "payToAddressLine2", "payToCity", "payToCountry", "payToState",
        "payToPostCode", "shortcutDimension1Code", "shortcutDimension2Code", "currencyId", "currencyCode",
        "purchaser", "discountAmount", "discountAppliedBeforeTax",
    ]
    static var createRules: BodyRules {
        BodyRules(
            entityType: entityType, schema: schema, writable: writableOnCreate,
            navigations: ["purchaseInvoiceLines", "dimensionSetLines"])
    }
    /// PATCH cannot deep-update (`odata-known-limitations.md`), so no navigations.
    static var patchRules: BodyRules {
        BodyRules(
            entityType: entityType, schema: schema, writable: writableOnCreate.subtracting(["id"]), navigations: [])
    }
}

extension BCPurchaseInvoiceLine {
    static let writable: Set<String> = [
        "id", "sequence", "itemId", "accountId", "lineType", "lineObjectNumber", "description", "unitOfMeasureId",
        "unitOfMeasureCode", "unitCost", "quantity", "discountAmount", "discountPercent", "discountAppliedBeforeTax",
        "taxCode", "expectedReceiptDate", "itemVariantId", "locationId",
    ]
    static var rules: BodyRules {
        BodyRules(entityType: entityType, schema: schema, writable: writable, navigations: ["dimensionSetLines"])
    }
    static let lineTypes: Set<String> = ["Comment", "Account", "Item", "Resource", "Fixed Asset", "Charge"]
}

extension BCDimensionSetLine {
    static var rules: BodyRules {
        BodyRules(
            entityType: entityType, schema: schema,
            writable: ["id", "code", "parentId", "parentType", "valueId", "valueCode"],
            navigations: [])
    }
}

// MARK: Building documents

extension BCCompanyData {
    /// Validates a body's `dimensionSetLines` and resolves them against the company's dimensions.
    /// Entries name the dimension by `code` or `id` and the value by `valueCode` or `valueId`.
    func dimensionSetLines(from array: [SimJSON], parentId: String, parentType: String) throws(BCError)
        -> [BCDimensionSetLine]
    {
        var result: [BCDimensionSetLine] = []
        for entry in array {
            guard let object = entry.objectValue else {
                throw BCError.badBody("Invalid Request Body: each dimensionSetLine must be a JSON object.")
            }
            try BCDimensionSetLine.rules.validate(object)
            let dimension: BCDimension
            if let id = object["id"]?.stringValue, id != emptyGUID {
                guard let found = self.dimension(id: id) else {
                    throw BCError(
                        400, "Internal_RecordNotFound",
                        "The Dimension does not exist. Identification fields and values: Id='\(id)'")
                }
                if let code = object["code"]?.stringValue, code != found.code {
                    throw BCError(
                        400, "Application_DialogException",
                        "The dimension id '\(id)' and the code '\(code)' refer to different dimensions.")
                }
                dimension = found
            } else if let code = object["code"]?.stringValue, !code.isEmpty {
                guard let found = self.dimension(code: code) else {
                    throw BCError(
                        400, "Internal_RecordNotFound",
                        "The Dimension does not exist. Identification fields and values: Code='\(code)'")
                }
                dimension = found
            } else {
                throw BCError(400, "Application_DialogException", "A dimension code or id must be provided.")
            }
            let value: BCDimensionValue
            if let valueId = object["valueId"]?.stringValue, valueId != emptyGUID {
                guard let found = dimensionValue(id: valueId), found.dimensionId == dimension.id else {
                    throw BCError(
                        400, "Internal_RecordNotFound",
                        "The Dimension Value does not exist. Identification fields and values: Dimension Code='\(dimension.code)',Id='\(valueId)'"
                    )
                }
                if let code = object["valueCode"]?.stringValue, code != found.code {
                    throw BCError(
                        400, "Application_DialogException",
                        "The value id '\(valueId)' and the value code '\(code)' refer to different dimension values.")
                }
                value = found
            } else if let code = object["valueCode"]?.stringValue, !code.isEmpty {
                guard let found = dimensionValue(dimensionId: dimension.id, code: code) else {
                    throw BCError(
                        400, "Internal_RecordNotFound",
                        "The Dimension Value does not exist. Identification fields and values: Dimension Code='\(dimension.code)',Code='\(code)'"
                    )
                }
                value = found
            } else {
                throw BCError(
                    400, "Application_DialogException",
                    "A valueCode or valueId must be provided for dimension \(dimension.code).")
            }
            if result.contains(where: { $0.id == dimension.id }) {
                throw BCError(
                    400, "Internal_EntityWithSameKeyExists",
                    "The Dimension Set Entry already exists. Identification fields and values: Dimension Code='\(dimension.code)'"
                )
            }
            result.append(
                BCDimensionSetLine(
                    id: dimension.id, code: dimension.code, parentId: parentId, parentType: parentType,
                    displayName: dimension.displayName, valueId: value.id, valueCode: value.code,
                    valueDisplayName: value.displayName))
        }
        return result
    }

    /// Builds a validated line for `invoice` (not yet added to it).
    func line(from object: SimJSONObject, for invoice: BCPurchaseInvoice, id: String) throws(BCError)
        -> BCPurchaseInvoiceLine
    {
        try BCPurchaseInvoiceLine.rules.validate(object)
        var line = BCPurchaseInvoiceLine(id: id, documentId: invoice.id, sequence: 0)
        let maxSequence = invoice.lines.map(\.sequence).max() ?? 0
        if let sequence = object["sequence"]?.intValue {
            if invoice.lines.contains(where: { $0.sequence == sequence }) {
                throw BCError(
                    400, "Internal_EntityWithSameKeyExists",
                    "The Purchase Line already exists. Identification fields and values: Document Type='Invoice',Document No.='\(invoice.number)',Line No.='\(sequence)'"
                )
            }
            line.sequence = sequence
        } else {
            line.sequence = (maxSequence / 10_000 + 1) * 10_000
        }
        for (name, _) in [
            ("itemId", "Item"), ("unitOfMeasureId", "Unit of Measure"), ("itemVariantId", "Item Variant"),
            ("locationId", "Location"),
        ] {
            if let value = object[name]?.stringValue, value != emptyGUID {
                throw BCError(
                    400, "Internal_RecordNotFound",
                    "The record referenced by \(name) does not exist. Identification fields and values: Id='\(value)'")
            }
        }
        let accountId = object["accountId"]?.stringValue.flatMap { $0 == emptyGUID ? nil : $0 }
        var lineType = object["lineType"]?.stringValue ?? (accountId != nil ? "Account" : "Comment")
        if lineType == " " { lineType = "Comment" }
        guard BCPurchaseInvoiceLine.lineTypes.contains(lineType) else {
            throw BCError.badBody(
                "Cannot convert the literal '\(lineType)' to the expected type 'Microsoft.NAV.invoiceLineAggLineType'.")
        }
        line.lineType = lineType
        let objectNumber = object["lineObjectNumber"]?.stringValue ?? ""
        switch lineType {
        case "Account":
            let account: BCAccount
            if let accountId {
                guard let found = self.account(id: accountId) else {
                    throw BCError(
                        400, "Internal_RecordNotFound",
                        "The G/L Account does not exist. Identification fields and values: Id='\(accountId)'")
                }
                if !objectNumber.isEmpty, objectNumber != found.number {
                    throw BCError(
                        400, "Application_DialogException",
                        "The accountId and the lineObjectNumber '\(objectNumber)' refer to different G/L accounts.")
                }
                account = found
            } else {
                guard !objectNumber.isEmpty else {
                    throw BCError(
                        400, "Application_DialogException",
                        "A lineObjectNumber or an accountId must be provided for an Account line.")
                }
                guard let found = self.account(number: objectNumber) else {
                    throw BCError(
                        400, "Internal_RecordNotFound",
                        "The G/L Account does not exist. Identification fields and values: No.='\(objectNumber)'")
                }
                account = found
            }
            guard account.accountType == "Posting" else {
                throw BCError(
                    400, "Application_FieldValidationException",
                    "Account Type must be equal to 'Posting'  in G/L Account: No.=\(account.number). Current value is '\(account.accountType)'."
                )
            }
            guard !account.blocked else {
                throw BCError(
                    400, "Application_FieldValidationException",
                    "Blocked must be equal to 'No'  in G/L Account: No.=\(account.number). Current value is 'Yes'.")
            }
            guard account.directPosting else {
                throw BCError(
                    400, "Application_FieldValidationException",
                    "Direct Posting must be equal to 'Yes'  in G/L Account: No.=\(account.number). Current value is 'No'."
                )
            }
            line.accountId = account.id
            line.lineObjectNumber = account.number
            line.description = account.displayName
        case "Comment":
            // UNCONFIRMED wording: a Comment line cannot carry an account, item or amounts.
            let hasAmounts = [object["quantity"], object["unitCost"]].contains {
                $0?.decimalValue.map { $0 != 0 } ?? false
            }
            if !objectNumber.isEmpty || hasAmounts {
                throw BCError(
                    400, "Application_DialogException",
                    "The line has lineType 'Comment' and cannot have a lineObjectNumber, quantity or unitCost. Set lineType (for example 'Account')."
                )
            }
        default:
            let table = lineType == "Fixed Asset" ? "Fixed Asset" : lineType == "Charge" ? "Item Charge" : lineType
            throw BCError(
                400, "Internal_RecordNotFound",
                "The \(table) does not exist. Identification fields and values: No.='\(objectNumber)'")
        }
        if let description = object["description"]?.stringValue {
            guard description.count <= 100 else {
                throw BCError(
                    400, "Application_StringExceededLength",
                    "The length of the string is \(description.count), but it must be less than or equal to 100 characters. Value: \(description)"
                )
            }
            line.description = description
        }
        if let code = object["unitOfMeasureCode"]?.stringValue, !code.isEmpty {
            guard unitsOfMeasure.contains(code) else {
                throw BCError(
                    400, "Internal_RecordNotFound",
                    "The Unit of Measure does not exist. Identification fields and values: Code='\(code)'")
            }
            line.unitOfMeasureCode = code
        }
        if let code = object["taxCode"]?.stringValue, !code.isEmpty {
            guard taxGroups.contains(code) else {
                throw BCError(
                    400, "Internal_RecordNotFound",
                    "The Tax Group does not exist. Identification fields and values: Code='\(code)'")
            }
            line.taxCode = code
        }
        line.quantity = object["quantity"]?.decimalValue ?? 0
        line.unitCost = object["unitCost"]?.decimalValue ?? 0
        let gross = (line.quantity * line.unitCost).rounded(scale: 2)
        if let amount = object["discountAmount"]?.decimalValue {
            line.discountAmount = amount.rounded(scale: 2)
            line.discountPercent = gross == 0 ? 0 : (amount * 100 / gross).rounded(scale: 5)
        } else if let percent = object["discountPercent"]?.decimalValue {
            guard (0...100).contains(percent) else {
                throw BCError(
                    400, "Application_FieldValidationException",
                    "Line Discount % must be between 0 and 100 in Purchase Line: Line No.=\(line.sequence).")
            }
            line.discountPercent = percent
            line.discountAmount = (gross * percent / 100).rounded(scale: 2)
        }
        if let date = object["expectedReceiptDate"]?.stringValue { line.expectedReceiptDate = date }
        if let dims = object["dimensionSetLines"]?.arrayValue {
            // UNCONFIRMED: multi-level deep insert (line → dimensionSetLines) is not documented for BC; the
            // simulator accepts it atomically with the rest of the document.
            line.dimensionSetLines = try dimensionSetLines(
                from: dims, parentId: id, parentType: "Purchase Invoice Line")
        }
        return line
    }

    /// Applies header properties of a POST or PATCH body to `invoice`.
    func applyHeader(_ object: SimJSONObject, to invoice: inout BCPurchaseInvoice, isCreate: Bool) throws(BCError) {
        if let number = object["vendorInvoiceNumber"]?.stringValue {
            guard number.count <= 35 else {
                throw BCError(
                    400, "Application_StringExceededLength",
                    "The length of the string is \(number.count), but it must be less than or equal to 35 characters. Value: \(number)"
                )
            }
            invoice.vendorInvoiceNumber = number
        }
        var vendor: BCVendor?
        if let vendorId = object["vendorId"]?.stringValue, vendorId != emptyGUID {
            guard let found = self.vendor(id: vendorId) else {
                throw BCError(
                    400, "Internal_RecordNotFound",
                    "The Vendor does not exist. Identification fields and values: Id='\(vendorId)'")
            }
            if let number = object["vendorNumber"]?.stringValue, !number.isEmpty, number != found.number {
                throw BCError(
                    400, "Application_DialogException",
                    "The vendorId and the vendorNumber '\(number)' refer to different vendors.")
            }
            vendor = found
        } else if let number = object["vendorNumber"]?.stringValue, !number.isEmpty {
            guard let found = self.vendor(number: number) else {
                throw BCError(
                    400, "Internal_RecordNotFound",
                    "The Vendor does not exist. Identification fields and values: No.='\(number)'")
            }
            vendor = found
        } else if isCreate {
            throw BCError(400, "Application_DialogException", "A vendorNumber or a vendorId must be provided.")
        }
        if let vendor {
            guard vendor.blocked != "All" else {
                throw BCError(
                    400, "Application_DialogException",
                    "You cannot create this type of document when Vendor \(vendor.number) is blocked with type All")
            }
            invoice.vendorId = vendor.id
            invoice.vendorNumber = vendor.number
            invoice.vendorName = vendor.displayName
            invoice.buyFrom.line1 = vendor.addressLine1
            invoice.buyFrom.line2 = vendor.addressLine2
            invoice.buyFrom.city = vendor.city
            invoice.buyFrom.state = vendor.state
            invoice.buyFrom.country = vendor.country
            invoice.buyFrom.postCode = vendor.postalCode
            if isCreate { invoice.currencyCode = vendor.currencyCode }
        }
        if let date = object["invoiceDate"]?.stringValue {
            invoice.invoiceDate = date
            if object["dueDate"] == nil, let day = Timestamps.parseDay(date) {
                let days = self.vendor(id: invoice.vendorId)?.paymentDays ?? 30
                invoice.dueDate = Timestamps.day(day.addingTimeInterval(TimeInterval(days * 86_400)))
            }
        }
        if let date = object["postingDate"]?.stringValue { invoice.postingDate = date }
        if let date = object["dueDate"]?.stringValue { invoice.dueDate = date }
        if let code = object["currencyCode"]?.stringValue {
            if code.isEmpty || code == Self.localCurrency {
                invoice.currencyCode = ""
            } else {
                guard currencies.contains(code) else {
                    throw BCError(
                        400, "Internal_RecordNotFound",
                        "The Currency does not exist. Identification fields and values: Code='\(code)'")
                }
                invoice.currencyCode = code
            }
        }
        if let currencyId = object["currencyId"]?.stringValue, currencyId != emptyGUID {
            throw BCError(
                400, "Internal_RecordNotFound",
                "The Currency does not exist. Identification fields and values: Id='\(currencyId)'")
        }
        if let purchaser = object["purchaser"]?.stringValue { invoice.purchaser = purchaser }
        for (index, name) in ["shortcutDimension1Code", "shortcutDimension2Code"].enumerated() {
            guard let code = object[name]?.stringValue else { continue }
            let dimensionCode = index == 0 ? shortcutDimensionCodes.0 : shortcutDimensionCodes.1
            if !code.isEmpty {
                guard let dimension = dimension(code: dimensionCode),
                    dimensionValue(dimensionId: dimension.id, code: code) != nil
                else {
                    throw BCError(
                        400, "Internal_RecordNotFound",
                        "The Dimension Value does not exist. Identification fields and values: Dimension Code='\(dimensionCode)',Code='\(code)'"
                    )
                }
            }
            if index == 0 { invoice.shortcutDimension1Code = code } else { invoice.shortcutDimension2Code = code }
        }
        if let discount = object["discountAmount"]?.decimalValue {
            guard discount >= 0 else {
                throw BCError(400, "Application_DialogException", "The invoice discount amount cannot be negative.")
            }
            invoice.discountAmount = discount.rounded(scale: 2)
        }
    }
}
