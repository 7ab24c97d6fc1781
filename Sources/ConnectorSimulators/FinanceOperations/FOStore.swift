import Foundation
import Synchronization

/// One public entity of the F&O `/data` service as the simulator serves it (reference §2.2).
struct FOEntity: Sendable {
    var set: String
    /// The AOT-style type name used in write errors (`VendorInvoiceLineEntity`).
    var typeName: String
    /// Every key field; a key in a URL must name all of them (reference §2.1).
    var keys: [String]
    /// Company-specific (has `dataAreaId`): reads see the principal's default company unless `cross-company=true`.
    var companySpecific: Bool
    var fields: [String: FOFieldType]
    /// The navigation property `$expand` may name (first level only), and the entity it leads to.
    var navigation: (name: String, target: String, join: [String])? = nil

    static let vendors = FOEntity(
        set: "VendorsV2", typeName: "VendVendorV2Entity", keys: ["dataAreaId", "VendorAccountNumber"],
        companySpecific: true,
        fields: [
            "dataAreaId": .string, "VendorAccountNumber": .string, "VendorOrganizationName": .string,
            "OnHoldStatus": .enumeration("CustVendorBlocked"), "CurrencyCode": .string, "TaxExemptNumber": .string,
            "AddressStreet": .string, "AddressCity": .string, "AddressState": .string, "AddressZipCode": .string,
            "AddressCountryRegionId": .string, "PaymentTermsName": .string, "VendorGroupId": .string,
        ])
    static let mainAccounts = FOEntity(
        set: "MainAccounts", typeName: "MainAccountEntity", keys: ["ChartOfAccounts", "MainAccountId"],
        companySpecific: false,
        fields: [
            "ChartOfAccounts": .string, "MainAccountId": .string, "Name": .string,
            "MainAccountType": .enumeration("DimensionLedgerAccountType"), "MainAccountCategory": .string,
            "IsSuspended": .enumeration("NoYes"),
        ])
    static let dimensionAttributes = FOEntity(
        set: "DimensionAttributes", typeName: "DimensionAttributeEntity", keys: ["DimensionName"],
        companySpecific: false, fields: ["DimensionName": .string, "ReportColumnName": .string])
    static let dimensionValues = FOEntity(
        set: "FinancialDimensionValues", typeName: "DimensionFinancialDimensionValueEntity",
        keys: ["FinancialDimension", "LegalEntityId", "DimensionValue"], companySpecific: false,
        fields: [
            "FinancialDimension": .string, "LegalEntityId": .string, "DimensionValue": .string, "Description": .string,
            "IsSuspended": .enumeration("NoYes"), "IsBlockedForManualEntry": .enumeration("NoYes"),
        ])
    static let invoiceHeaders = FOEntity(
        set: "VendorInvoiceHeaders", typeName: "VendorInvoiceHeaderEntity", keys: ["dataAreaId", "HeaderReference"],
        companySpecific: true,
        fields: [
            "dataAreaId": .string, "HeaderReference": .string, "InvoiceNumber": .string, "VendorAccount": .string,
            "InvoiceAccount": .string, "InvoiceDate": .dateTime, "DueDate": .dateTime, "PostingDate": .dateTime,
            "Currency": .string, "DimensionDisplayValue": .string, "InvoiceDescription": .string,
        ])
    static let invoiceLines = FOEntity(
        set: "VendorInvoiceLines", typeName: "VendorInvoiceLineEntity",
        keys: ["dataAreaId", "HeaderReference", "InvoiceLineNumber"], companySpecific: true,
        fields: [
            "dataAreaId": .string, "HeaderReference": .string, "InvoiceLineNumber": .number, "Currency": .string,
            "LineDescription": .string, "Quantity": .number, "UnitPrice": .number, "NetAmount": .number,
            "ProcurementCategoryName": .string, "ItemNumber": .string, "PurchaseOrder": .string,
            "PurchLineNumber": .number, "DimensionDisplayValue": .string,
        ])
    static let purchaseOrders = FOEntity(
        set: "PurchaseOrderHeadersV2", typeName: "PurchPurchaseOrderHeaderV2Entity",
        keys: ["dataAreaId", "PurchaseOrderNumber"], companySpecific: true,
        fields: [
            "dataAreaId": .string, "PurchaseOrderNumber": .string, "OrderVendorAccountNumber": .string,
            "PurchaseOrderStatus": .enumeration("PurchStatus"),
            "DocumentApprovalStatus": .enumeration("VersioningDocumentState"), "CurrencyCode": .string,
            "PurchaseOrderName": .string, "AccountingDate": .dateTime, "RequestedDeliveryDate": .dateTime,
        ],
        navigation: ("PurchaseOrderLinesV2", "PurchaseOrderLinesV2", ["dataAreaId", "PurchaseOrderNumber"]))
    static let purchaseOrderLines = FOEntity(
        set: "PurchaseOrderLinesV2", typeName: "PurchPurchaseOrderLineV2Entity",
        keys: ["dataAreaId", "PurchaseOrderNumber", "LineNumber"], companySpecific: true,
        fields: [
            "dataAreaId": .string, "PurchaseOrderNumber": .string, "LineNumber": .number, "ItemNumber": .string,
            "ProcurementCategoryName": .string, "OrderedPurchaseQuantity": .number, "PurchasePrice": .number,
            "LineAmount": .number, "LineDescription": .string, "PurchaseUnitSymbol": .string,
            "RequestedDeliveryDate": .dateTime,
        ])

    /// Products released to a legal entity: key `dataAreaId` + `ItemNumber`; the other field names are UNCONFIRMED
    /// (not in the reference), and the simulator serves only these.
    static let releasedProducts = FOEntity(
        set: "ReleasedProductsV2", typeName: "EcoResReleasedProductV2Entity", keys: ["dataAreaId", "ItemNumber"],
        companySpecific: true,
        fields: [
            "dataAreaId": .string, "ItemNumber": .string, "ProductNumber": .string, "ProductName": .string,
            "SearchName": .string, "ProductDescription": .string, "PurchaseUnitSymbol": .string,
            "PurchasePrice": .number, "ProcurementProductCategoryName": .string,
        ])

    /// Vendor transactions (`VendTrans`), read-only. The entity set's name is UNCONFIRMED (reference §2.2); the
    /// simulator serves it as `VendorTransactions` with the Common Data Model's `VendPaymentBIVendTrans` attribute
    /// names, plus `RecId` and `SettleAmountCur`. `Closed` and `LastSettleDate` are `1900-01-01T12:00:00Z` (F&O's
    /// empty date) while nothing closed or settled the transaction; an invoice is `TransType` `Purch`, its
    /// `AmountCur` negative (a credit to the vendor).
    static let vendorTransactions = FOEntity(
        set: "VendorTransactions", typeName: "VendPaymentBIVendTransEntity", keys: ["dataAreaId", "RecId"],
        companySpecific: true,
        fields: [
            "dataAreaId": .string, "RecId": .number, "AccountNum": .string, "Invoice": .string, "Voucher": .string,
            "TransType": .enumeration("LedgerTransType"), "TransDate": .dateTime, "Closed": .dateTime,
            "LastSettleDate": .dateTime, "DueDate": .dateTime, "InvoiceReleaseDate": .dateTime,
            "AmountCur": .number, "AmountMST": .number, "SettleAmountCur": .number, "CurrencyCode": .string,
        ])

    static let all: [FOEntity] = [
        vendors, mainAccounts, dimensionAttributes, dimensionValues, invoiceHeaders, invoiceLines, purchaseOrders,
        purchaseOrderLines, releasedProducts, vendorTransactions,
    ]

    static func named(_ set: String) -> FOEntity? { all.first { $0.set == set } }

    /// The row's key, case-insensitive as F&O compares it.
    func key(of row: SimJSONObject) -> String {
        keys.map { Self.text(row[$0]).lowercased() }.joined(separator: "\u{1F}")
    }

    static func text(_ value: SimJSON?) -> String {
        switch value {
        case .string(let text)?: return text
        case .number(let text)?: return Decimal(string: text).map { "\($0)" } ?? text
        case .bool(let flag)?: return flag ? "true" : "false"
        default: return ""
        }
    }
}

/// The data of one simulated F&O environment: rows per entity set, across every legal entity.
package final class FOStore: Sendable {
    private struct State {
        var rows: [String: [SimJSONObject]] = [:]
        var nextHeader = 1
        /// The next `RecId`: large, as F&O's are, so a client that keeps them in 32 bits fails here.
        var nextRecId: Int64 = 5_637_144_576
        var nextVoucher = 1
        /// Procurement categories lines may be coded to (`ProcurementCategoryName`).
        var categories: Set<String> = []
        /// Whether an invoice number may be used twice for a vendor (`VENDINVOICEINUSERECOVERENABLE`).
        var reuseInvoiceNumbers = false
        var etag = 1
    }

    private let state = Mutex(State())

    package init() {}

    func rows(_ entity: FOEntity) -> [SimJSONObject] { state.withLock { $0.rows[entity.set] ?? [] } }

    /// Every row of an entity set, every legal entity (tests and the demo's checks).
    package func records(_ set: String) -> [SimJSONObject] { state.withLock { $0.rows[set] ?? [] } }

    func row(_ entity: FOEntity, key: String) -> SimJSONObject? {
        state.withLock { $0.rows[entity.set]?.first { entity.key(of: $0) == key } }
    }

    /// Adds or replaces a row by key (seeding and tests).
    package func upsert(_ set: String, _ row: SimJSONObject) {
        guard let entity = FOEntity.named(set) else { return }
        state.withLock { state in
            var rows = state.rows[set] ?? []
            let key = entity.key(of: row)
            if let index = rows.firstIndex(where: { entity.key(of: $0) == key }) {
                rows[index] = row
            } else {
                rows.append(row)
            }
            state.rows[set] = rows
        }
    }

    package func addCategories(_ names: [String]) { state.withLock { $0.categories.formUnion(names) } }

    package var reuseInvoiceNumbers: Bool {
        get { state.withLock { $0.reuseInvoiceNumbers } }
        set { state.withLock { $0.reuseInvoiceNumbers = newValue } }
    }

    /// Inserts a created row after `check` (run under the lock) approves it; returns it as stored.
    func insert(
        _ entity: FOEntity, _ row: SimJSONObject,
        check: (SimJSONObject, [String: [SimJSONObject]], Set<String>, Bool)
            throws(FOError) -> SimJSONObject
    ) throws(FOError) -> SimJSONObject {
        try state.withLock { (state: inout State) throws(FOError) -> SimJSONObject in
            var stored = row
            if entity.set == FOEntity.invoiceHeaders.set {
                stored["HeaderReference"] = .string(String(format: "APINV-%06d", state.nextHeader))
            }
            stored = try check(stored, state.rows, state.categories, state.reuseInvoiceNumbers)
            let key = entity.key(of: stored)
            guard !(state.rows[entity.set] ?? []).contains(where: { entity.key(of: $0) == key }) else {
                throw FOError.writeFailed(
                    entity.typeName, "Cannot create a record in \(entity.typeName). The record already exists.")
            }
            if entity.set == FOEntity.invoiceHeaders.set { state.nextHeader += 1 }
            state.etag += 1
            stored["@odata.etag"] = .string("W/\"\(state.etag)\"")
            state.rows[entity.set, default: []].append(stored)
            return stored
        }
    }

    /// F&O's empty date.
    static let emptyDate = "1900-01-01T12:00:00Z"

    /// Adds a vendor transaction with the next `RecId` (seeding and tests); returns the `RecId`.
    @discardableResult
    package func addVendorTransaction(_ fields: SimJSONObject) -> Int64 {
        state.withLock { state in
            let id = state.nextRecId
            state.nextRecId += 1
            var row = SimJSONObject([
                "RecId": .int(Int(id)), "Closed": .string(Self.emptyDate), "LastSettleDate": .string(Self.emptyDate),
                "SettleAmountCur": .int(0), "Voucher": .string(String(format: "APV-%06d", state.nextVoucher)),
            ])
            state.nextVoucher += 1
            for (key, value) in fields { row[key] = value }
            state.rows[FOEntity.vendorTransactions.set, default: []].append(row)
            return id
        }
    }

    /// Posts a pending vendor invoice, as AP does in F&O (never over OData): the header and its lines leave
    /// `VendorInvoiceHeaders`/`VendorInvoiceLines` and the invoice becomes an open vendor transaction (`Purch`, the
    /// lines' total as a negative `AmountCur`). Then pays `amount` of it (all of it when nil): a `Payment`
    /// transaction settled against the invoice, which gets `LastSettleDate` and `SettleAmountCur` and, once nothing
    /// remains, `Closed`. An invoice already posted is only paid. Returns the invoice transaction's `RecId`, or nil
    /// when the company holds no such invoice (pending or posted).
    package func pay(company: String, vendor: String, invoiceNumber: String, amount: Decimal?, today: String) -> Int64?
    {
        let area = company.lowercased()
        let day = "\(today)T12:00:00Z"
        return state.withLock { (state: inout State) -> Int64? in
            let set = FOEntity.vendorTransactions.set
            func invoiceIndex() -> Int? {
                (state.rows[set] ?? []).firstIndex {
                    FOEntity.text($0["dataAreaId"]).lowercased() == area && FOEntity.text($0["TransType"]) == "Purch"
                        && FOEntity.text($0["AccountNum"]).lowercased() == vendor.lowercased()
                        && FOEntity.text($0["Invoice"]) == invoiceNumber
                }
            }
            func add(_ fields: SimJSONObject) -> Int64 {
                let id = state.nextRecId
                state.nextRecId += 1
                var row = SimJSONObject([
                    "dataAreaId": .string(area), "RecId": .int(Int(id)), "AccountNum": .string(vendor),
                    "Voucher": .string(String(format: "APV-%06d", state.nextVoucher)), "TransDate": .string(day),
                    "Closed": .string(Self.emptyDate), "LastSettleDate": .string(Self.emptyDate),
                    "SettleAmountCur": .int(0),
                ])
                state.nextVoucher += 1
                for (key, value) in fields { row[key] = value }
                state.rows[set, default: []].append(row)
                return id
            }
            if invoiceIndex() == nil {
                guard
                    let header = (state.rows[FOEntity.invoiceHeaders.set] ?? []).first(where: {
                        FOEntity.text($0["dataAreaId"]).lowercased() == area
                            && FOEntity.text($0["VendorAccount"]).lowercased() == vendor.lowercased()
                            && FOEntity.text($0["InvoiceNumber"]) == invoiceNumber
                    })
                else { return nil }
                let reference = FOEntity.text(header["HeaderReference"]).lowercased()
                func own(_ line: SimJSONObject) -> Bool {
                    FOEntity.text(line["dataAreaId"]).lowercased() == area
                        && FOEntity.text(line["HeaderReference"]).lowercased() == reference
                }
                let lines = (state.rows[FOEntity.invoiceLines.set] ?? []).filter(own)
                let total = lines.reduce(Decimal(0)) { $0 + ($1["NetAmount"]?.decimalValue ?? 0) }
                state.rows[FOEntity.invoiceLines.set]?.removeAll(where: own)
                state.rows[FOEntity.invoiceHeaders.set]?.removeAll {
                    FOEntity.text($0["dataAreaId"]).lowercased() == area
                        && FOEntity.text($0["HeaderReference"]).lowercased() == reference
                }
                _ = add(
                    SimJSONObject([
                        "TransType": .string("Purch"), "Invoice": .string(invoiceNumber), "AmountCur": .decimal(-total),
                        "AmountMST": .decimal(-total), "CurrencyCode": header["Currency"] ?? .string("USD"),
                        "DueDate": header["DueDate"] ?? .string(Self.emptyDate),
                    ]))
            }
            guard let index = invoiceIndex(), var invoice = state.rows[set]?[index] else { return nil }
            let id = Int64(FOEntity.text(invoice["RecId"])) ?? 0
            let total = abs(invoice["AmountCur"]?.decimalValue ?? 0)
            let settled = abs(invoice["SettleAmountCur"]?.decimalValue ?? 0)
            let paid = min(total - settled, amount ?? (total - settled))
            guard paid > 0 else { return id }
            _ = add(
                SimJSONObject([
                    "TransType": .string("Payment"), "Invoice": .string(""), "AmountCur": .decimal(paid),
                    "AmountMST": .decimal(paid), "SettleAmountCur": .decimal(paid), "Closed": .string(day),
                    "LastSettleDate": .string(day), "CurrencyCode": invoice["CurrencyCode"] ?? .string("USD"),
                ]))
            invoice["SettleAmountCur"] = .decimal(-(settled + paid))
            invoice["LastSettleDate"] = .string(day)
            if settled + paid >= total { invoice["Closed"] = .string(day) }
            state.rows[set]?[index] = invoice
            return id
        }
    }

    /// Deletes the row with `key`; a header takes its lines with it.
    func delete(_ entity: FOEntity, key: String) -> Bool {
        state.withLock { state in
            guard let row = state.rows[entity.set]?.first(where: { entity.key(of: $0) == key }) else { return false }
            state.rows[entity.set]?.removeAll { entity.key(of: $0) == key }
            if entity.set == FOEntity.invoiceHeaders.set {
                let area = FOEntity.text(row["dataAreaId"]).lowercased()
                let reference = FOEntity.text(row["HeaderReference"]).lowercased()
                state.rows[FOEntity.invoiceLines.set]?.removeAll {
                    FOEntity.text($0["dataAreaId"]).lowercased() == area
                        && FOEntity.text($0["HeaderReference"]).lowercased() == reference
                }
            }
            return true
        }
    }
}
