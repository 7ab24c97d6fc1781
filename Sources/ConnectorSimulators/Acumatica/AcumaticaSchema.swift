import Foundation

/// The value type of a contract field, as far as validation, filtering and rendering need it.
enum AcuFieldType: Sendable, Equatable {
    case string
    case decimal
    case int
    case bool
    /// Rendered as `2026-11-20T12:00:00.000+00:00`; compared as an instant.
    case dateTime

    var name: String {
        switch self {
        case .string: return "StringValue"
        case .decimal: return "DecimalValue"
        case .int: return "IntValue"
        case .bool: return "BooleanValue"
        case .dateTime: return "DateTimeValue"
        }
    }
}

/// One contract entity (top-level or detail) of the `Default` endpoint: its fields in contract order, key
/// fields, and detail collections (reference §3.4; models from `Acumatica.Default_24.200.001/Model`).
struct AcuEntitySchema: Sendable {
    let name: String
    let fields: [(name: String, type: AcuFieldType)]
    let keys: [String]
    let details: [(name: String, schema: AcuEntitySchema)]
    /// Graph and primary view for the `files:put` link of top-level records.
    let graph: String
    let view: String

    init(
        name: String,
        fields: [(String, AcuFieldType)],
        keys: [String],
        details: [(String, AcuEntitySchema)] = [],
        graph: String = "",
        view: String = ""
    ) {
        self.name = name
        self.fields = fields.map { (name: $0.0, type: $0.1) }
        self.keys = keys
        self.details = details.map { (name: $0.0, schema: $0.1) }
        self.graph = graph
        self.view = view
    }

    func type(of field: String) -> AcuFieldType? {
        fields.first { $0.name == field }?.type
    }

    func detail(_ name: String) -> AcuEntitySchema? {
        details.first { $0.name == name }?.schema
    }
}

extension AcuEntitySchema {
    static let vendor = AcuEntitySchema(
        name: "Vendor",
        fields: [
            ("VendorID", .string), ("VendorName", .string), ("LegalName", .string), ("Status", .string),
            ("VendorClass", .string), ("Terms", .string), ("CurrencyID", .string), ("TaxRegistrationID", .string),
            ("PaymentMethod", .string), ("CreatedDateTime", .dateTime), ("LastModifiedDateTime", .dateTime),
        ],
        keys: ["VendorID"], graph: "PX.Objects.AP.VendorMaint", view: "BAccount")

    static let account = AcuEntitySchema(
        name: "Account",
        fields: [
            ("AccountCD", .string), ("AccountID", .int), ("Description", .string), ("Type", .string),
            ("Active", .bool), ("AccountClass", .string), ("AccountGroup", .string), ("CashAccount", .bool),
            ("CurrencyID", .string), ("PostOption", .string), ("LastModifiedDateTime", .dateTime),
        ],
        keys: ["AccountCD"], graph: "PX.Objects.GL.AccountMaint", view: "AccountRecords")

    static let subaccount = AcuEntitySchema(
        name: "Subaccount",
        fields: [
            ("SubaccountCD", .string), ("SubaccountID", .int), ("Description", .string), ("Active", .bool),
            ("LastModifiedDateTime", .dateTime),
        ],
        keys: ["SubaccountCD"], graph: "PX.Objects.GL.SubAccountMaint", view: "SubRecords")

    static let branch = AcuEntitySchema(
        name: "Branch",
        fields: [
            ("BranchID", .string), ("BranchName", .string), ("Active", .bool), ("LastModifiedDateTime", .dateTime),
        ],
        keys: ["BranchID"], graph: "PX.Objects.CS.BranchMaint", view: "BAccount")

    static let purchaseOrderDetail = AcuEntitySchema(
        name: "PurchaseOrderDetail",
        fields: [
            ("LineNbr", .int), ("LineType", .string), ("InventoryID", .string), ("LineDescription", .string),
            ("Account", .string), ("Subaccount", .string), ("Branch", .string), ("UOM", .string),
            ("OrderQty", .decimal), ("UnitCost", .decimal), ("ExtendedCost", .decimal), ("OpenQty", .decimal),
            ("BilledQty", .decimal),
        ],
        keys: ["LineNbr"])

    static let purchaseOrder = AcuEntitySchema(
        name: "PurchaseOrder",
        fields: [
            ("OrderType", .string), ("OrderNbr", .string), ("VendorID", .string), ("VendorRef", .string),
            ("Status", .string), ("Hold", .bool), ("Date", .dateTime), ("CurrencyID", .string),
            ("BranchID", .string), ("Description", .string), ("OrderTotal", .decimal),
            ("LastModifiedDateTime", .dateTime),
        ],
        keys: ["OrderType", "OrderNbr"], details: [("Details", purchaseOrderDetail)],
        graph: "PX.Objects.PO.POOrderEntry", view: "Document")

    static let billDetail = AcuEntitySchema(
        name: "BillDetail",
        fields: [
            ("Branch", .string), ("InventoryID", .string), ("TransactionDescription", .string), ("Qty", .decimal),
            ("UOM", .string), ("UnitCost", .decimal), ("ExtendedCost", .decimal), ("Amount", .decimal),
            ("Account", .string), ("Subaccount", .string), ("Description", .string), ("TaxCategory", .string),
            ("POOrderType", .string), ("POOrderNbr", .string), ("POLine", .int),
        ],
        keys: [])

    static let bill = AcuEntitySchema(
        name: "Bill",
        fields: [
            ("Type", .string), ("ReferenceNbr", .string), ("Vendor", .string), ("LocationID", .string),
            ("VendorRef", .string), ("Date", .dateTime), ("DueDate", .dateTime), ("PostPeriod", .string),
            ("Status", .string), ("Hold", .bool), ("ApprovedForPayment", .bool), ("Amount", .decimal),
            ("Balance", .decimal), ("TaxTotal", .decimal), ("CurrencyID", .string), ("BranchID", .string),
            ("Terms", .string), ("Description", .string), ("LastModifiedDateTime", .dateTime),
        ],
        keys: ["Type", "ReferenceNbr"], details: [("Details", billDetail)],
        graph: "PX.Objects.AP.APInvoiceEntry", view: "Document")

    /// The top-level entities this simulator serves, by contract name.
    static let all: [String: AcuEntitySchema] = [
        "Vendor": vendor, "Account": account, "Subaccount": subaccount, "Branch": branch,
        "PurchaseOrder": purchaseOrder, "Bill": bill,
    ]
}

/// One record: unwrapped field values (absent = empty), detail rows, the system `id` and the `note`.
struct AcuRecord: Sendable, Equatable {
    var id: String
    var fields: [String: SimJSON]
    var details: [String: [AcuRecord]]
    var note: String

    init(id: String = UUID().uuidString.lowercased(), fields: [String: SimJSON] = [:], note: String = "") {
        self.id = id
        self.fields = fields
        self.details = [:]
        self.note = note
    }

    subscript(field: String) -> SimJSON? {
        get { fields[field].flatMap { $0.isNull ? nil : $0 } }
        set { fields[field] = newValue }
    }

    func string(_ field: String) -> String? { self[field]?.stringValue }
    func decimal(_ field: String) -> Decimal? { self[field]?.decimalValue }
    func bool(_ field: String) -> Bool? { self[field]?.boolValue }
    func date(_ field: String) -> Date? { self[field]?.stringValue.flatMap(AcuTime.parse) }
}

/// Date-time text as the contract-based API writes and reads it.
enum AcuTime {
    /// `2026-11-20T12:00:00.123+00:00`.
    static func format(_ date: Date) -> String {
        let text = Timestamps.millis(date)
        return String(text.dropLast()) + "+00:00"
    }

    /// ISO-8601 with an offset or `Z`; also `2026-11-20T12:00:00` and `2026-11-20` (taken as UTC).
    static func parse(_ text: String) -> Date? {
        if let instant = Timestamps.parseInstant(text) { return instant }
        if let instant = Timestamps.parseInstant(text + "Z") { return instant }
        return Timestamps.parseDay(text)
    }

    /// Midnight UTC of the day of `date`, formatted.
    static func day(_ date: Date) -> String { format(Timestamps.parseDay(Timestamps.day(date)) ?? date) }
}

/// `$select` / `$expand` as the renderer needs them.
struct AcuProjection: Sendable {
    /// Top-level fields to return; nil = all.
    var select: Set<String>?
    /// Per detail collection: fields to return (`Details/Qty`); nil = all.
    var detailSelect: [String: Set<String>]
    /// Detail collections to return.
    var expand: Set<String>

    static let everything = AcuProjection(select: nil, detailSelect: [:], expand: [])
}

extension AcuRecord {
    /// The record's JSON: system fields unwrapped (`id`, `rowNumber`), `note` and every ordinary field wrapped
    /// (`{"value": …}`, an empty field as `{}`), expanded details as arrays, `custom`, and `_links` on top-level
    /// records.
    func json(
        schema: AcuEntitySchema,
        rowNumber: Int,
        projection: AcuProjection,
        links: (base: String, topLevel: Bool)?
    ) -> SimJSON {
        var object = SimJSONObject()
        object["id"] = .string(id)
        object["rowNumber"] = .int(rowNumber)
        object["note"] = .object(SimJSONObject(["value": .string(note)]))
        for field in schema.fields {
            if let select = projection.select, !select.contains(field.name) { continue }
            if let value = self[field.name] {
                object[field.name] = .object(SimJSONObject(["value": value]))
            } else {
                object[field.name] = .object(SimJSONObject())
            }
        }
        for detail in schema.details where projection.expand.contains(detail.name) {
            let rows = details[detail.name] ?? []
            let nested = AcuProjection(
                select: projection.detailSelect[detail.name], detailSelect: [:], expand: [])
            object[detail.name] = .array(
                rows.enumerated().map { index, row in
                    row.json(schema: detail.schema, rowNumber: index + 1, projection: nested, links: nil)
                })
        }
        object["custom"] = .object(SimJSONObject())
        if let links, links.topLevel {
            object["_links"] = .object(
                SimJSONObject([
                    "self": .string("\(links.base)/\(schema.name)/\(id)"),
                    "files:put": .string(
                        "\(links.base)/files/\(schema.graph)/\(schema.view)/\(id)/{filename}"),
                ]))
        }
        return .object(object)
    }
}
