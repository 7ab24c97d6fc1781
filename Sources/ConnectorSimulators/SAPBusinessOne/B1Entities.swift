import Foundation

/// The Service Layer entity sets the simulator serves (reference §2.4).
package enum B1EntitySet: String, Sendable, CaseIterable {
    case businessPartners = "BusinessPartners"
    case chartOfAccounts = "ChartOfAccounts"
    case dimensions = "Dimensions"
    case profitCenters = "ProfitCenters"
    case purchaseOrders = "PurchaseOrders"
    case purchaseInvoices = "PurchaseInvoices"
    case drafts = "Drafts"

    /// The key property (`CardCode`, `Code`, `DimensionCode`, `CenterCode`, `DocEntry`).
    var keyField: String {
        switch self {
        case .businessPartners: return "CardCode"
        case .chartOfAccounts: return "Code"
        case .dimensions: return "DimensionCode"
        case .profitCenters: return "CenterCode"
        case .purchaseOrders, .purchaseInvoices, .drafts: return "DocEntry"
        }
    }

    var keyIsInt: Bool { self == .dimensions || isDocument }

    var isDocument: Bool { self == .purchaseOrders || self == .purchaseInvoices || self == .drafts }

    var schema: B1Schema {
        switch self {
        case .businessPartners: return B1Schemas.businessPartner
        case .chartOfAccounts: return B1Schemas.account
        case .dimensions: return B1Schemas.dimension
        case .profitCenters: return B1Schemas.profitCenter
        case .purchaseOrders, .purchaseInvoices, .drafts: return B1Schemas.document
        }
    }

    /// Header and line table of a document set, as B1 names them in messages (`OPCH.CardCode`).
    var tables: (header: String, lines: String) {
        switch self {
        case .purchaseOrders: return ("OPOR", "POR1")
        case .drafts: return ("ODRF", "DRF1")
        default: return ("OPCH", "PCH1")
        }
    }

    /// `BoObjectTypes` number of a document set (22 purchase order, 18 A/P invoice, 112 draft).
    var objectType: Int {
        switch self {
        case .purchaseOrders: return 22
        case .drafts: return 112
        default: return 18
        }
    }
}

/// Property lists of the entity types. A body naming anything else is refused with
/// "Property 'X' of 'Document' is invalid" (-1000), as the Service Layer does; `U_*` user-defined fields are kept as
/// given on documents and business partners.
enum B1Schemas {
    static let businessPartner = B1Schema(
        typeName: "BusinessPartner",
        fields: [
            "CardCode": .string, "CardName": .string, "CardForeignName": .string, "CardType": .enumeration,
            "GroupCode": .int, "FederalTaxID": .string, "Currency": .string, "Valid": .enumeration,
            "Frozen": .enumeration, "PaymentBlock": .enumeration, "EmailAddress": .string, "Phone1": .string,
            "Address": .string, "City": .string, "ZipCode": .string, "Country": .string, "County": .string,
            "PayTermsGrpCode": .int, "Notes": .string, "CreateDate": .date, "CreateTime": .time,
            "UpdateDate": .date, "UpdateTime": .time, "CurrentAccountBalance": .decimal,
        ],
        allowsUDFs: true)

    static let account = B1Schema(
        typeName: "ChartOfAccount",
        fields: [
            "Code": .string, "Name": .string, "ForeignName": .string, "FormatCode": .string,
            "ActiveAccount": .enumeration, "AcctCurrency": .string, "AccountType": .enumeration,
            "FatherAccountKey": .string, "Balance": .decimal, "FrozenFor": .enumeration, "ValidFor": .enumeration,
            "LockManualTransaction": .enumeration, "ControlAccount": .enumeration, "Level": .int,
            "CreateDate": .date, "UpdateDate": .date, "UpdateTime": .time,
        ],
        allowsUDFs: false)

    static let dimension = B1Schema(
        typeName: "Dimension",
        fields: [
            "DimensionCode": .int, "DimensionName": .string, "IsActive": .enumeration,
            "DimensionDescription": .string,
        ],
        allowsUDFs: false)

    static let profitCenter = B1Schema(
        typeName: "ProfitCenter",
        fields: [
            "CenterCode": .string, "CenterName": .string, "InWhichDimension": .int, "Active": .enumeration,
            "EffectiveFrom": .date, "EffectiveTo": .date, "CostCenterType": .string,
        ],
        allowsUDFs: false)

    static let document = B1Schema(
        typeName: "Document",
        fields: [
            "DocEntry": .int, "DocNum": .int, "DocType": .enumeration, "DocObjectCode": .enumeration,
            "DocDate": .date, "DocDueDate": .date, "TaxDate": .date, "CardCode": .string, "CardName": .string,
            "NumAtCard": .string, "DocCurrency": .string, "DocRate": .decimal, "DocTotal": .decimal,
            "DocTotalFc": .decimal, "VatSum": .decimal, "PaidToDate": .decimal, "DocumentStatus": .enumeration,
            "Cancelled": .enumeration, "Comments": .string, "JournalMemo": .string, "Reference1": .string,
            "Reference2": .string, "Series": .int, "DiscountPercent": .decimal, "PaymentGroupCode": .int,
            "BPL_IDAssignedToInvoice": .int, "CreateDate": .date, "CreationDate": .date, "UpdateDate": .date,
            "UpdateTime": .time, "DocumentLines": .collection,
        ],
        allowsUDFs: true)

    static let line = B1Schema(
        typeName: "Document_Line",
        fields: [
            "LineNum": .int, "ItemCode": .string, "ItemDescription": .string, "AccountCode": .string,
            "Quantity": .decimal, "UnitPrice": .decimal, "Price": .decimal, "PriceAfterVAT": .decimal,
            "LineTotal": .decimal, "Currency": .string, "DiscountPercent": .decimal, "TaxCode": .string,
            "VatGroup": .string, "ProjectCode": .string, "CostingCode": .string, "CostingCode2": .string,
            "CostingCode3": .string, "CostingCode4": .string, "CostingCode5": .string, "BaseType": .int,
            "BaseEntry": .int, "BaseLine": .int, "RemainingOpenQuantity": .decimal, "LineStatus": .enumeration,
            "WarehouseCode": .string, "UoMCode": .string, "FreeText": .string, "ShipDate": .date,
        ],
        allowsUDFs: true)

    /// `CostingCode`, `CostingCode2` … `CostingCode5` and the dimension each one takes.
    static let costingCodes: [(field: String, dimension: Int)] = [
        ("CostingCode", 1), ("CostingCode2", 2), ("CostingCode3", 3), ("CostingCode4", 4), ("CostingCode5", 5),
    ]
}

/// The data of the simulated company database.
package struct B1CompanyData: Sendable {
    package var businessPartners: [SimJSONObject] = []
    package var chartOfAccounts: [SimJSONObject] = []
    package var dimensions: [SimJSONObject] = []
    package var profitCenters: [SimJSONObject] = []
    package var purchaseOrders: [SimJSONObject] = []
    package var purchaseInvoices: [SimJSONObject] = []
    package var drafts: [SimJSONObject] = []
    /// Next `DocEntry` per document set.
    package var nextDocEntry: [String: Int] = [:]
    /// Next `DocNum` per document set (primary numbering series).
    package var nextDocNum: [String: Int] = [:]
    /// The company's local currency (documents of a BP without a currency are in it).
    package var localCurrency = "USD"

    package init() {}

    /// Five dimensions (B1 always has five; only the first is active in a new company).
    package static func defaultDimensions(names: [String] = [], active: Int = 1) -> [SimJSONObject] {
        (1...5).map { code in
            let name = code <= names.count ? names[code - 1] : "Dimension \(code)"
            return SimJSONObject([
                "DimensionCode": .int(code), "DimensionName": .string(name),
                "IsActive": .string(code <= active ? "tYES" : "tNO"), "DimensionDescription": .string(name),
            ])
        }
    }

    package subscript(entitySet: B1EntitySet) -> [SimJSONObject] {
        get {
            switch entitySet {
            case .businessPartners: return businessPartners
            case .chartOfAccounts: return chartOfAccounts
            case .dimensions: return dimensions
            case .profitCenters: return profitCenters
            case .purchaseOrders: return purchaseOrders
            case .purchaseInvoices: return purchaseInvoices
            case .drafts: return drafts
            }
        }
        set {
            switch entitySet {
            case .businessPartners: businessPartners = newValue
            case .chartOfAccounts: chartOfAccounts = newValue
            case .dimensions: dimensions = newValue
            case .profitCenters: profitCenters = newValue
            case .purchaseOrders: purchaseOrders = newValue
            case .purchaseInvoices: purchaseInvoices = newValue
            case .drafts: drafts = newValue
            }
        }
    }

    /// The index of the row whose key is `key` (text as in the URL, quotes removed).
    func index(of key: String, in set: B1EntitySet) -> Int? {
        let field = set.keyField
        return self[set].firstIndex { row in
            guard let value = row[field] else { return false }
            if set.keyIsInt { return value.intValue.map(String.init) == key }
            return value.stringValue == key
        }
    }

    /// The business partner with this `CardCode`.
    package func businessPartner(_ code: String) -> SimJSONObject? {
        businessPartners.first { $0["CardCode"]?.stringValue == code }
    }

    /// The G/L account with this `Code`.
    package func account(_ code: String) -> SimJSONObject? {
        chartOfAccounts.first { $0["Code"]?.stringValue == code }
    }

    /// The profit centre (distribution rule) with this `CenterCode`.
    package func profitCenter(_ code: String) -> SimJSONObject? {
        profitCenters.first { $0["CenterCode"]?.stringValue == code }
    }

    /// Takes the next `DocEntry` and `DocNum` of a document set.
    mutating func takeNumbers(_ set: B1EntitySet) -> (docEntry: Int, docNum: Int) {
        let entry = nextDocEntry[set.rawValue] ?? 1
        let defaultNum: Int
        switch set {
        case .purchaseOrders: defaultNum = 4_000
        case .purchaseInvoices: defaultNum = 7_000
        default: defaultNum = 1
        }
        let number = nextDocNum[set.rawValue] ?? defaultNum
        nextDocEntry[set.rawValue] = entry + 1
        nextDocNum[set.rawValue] = number + 1
        return (entry, number)
    }
}
