import Foundation

/// `jaggaer.writer`: how suppliers, coding values and payment statuses are written into JAGGAER ONE.
///
/// JAGGAER has not published these APIs (UNCONFIRMED, reference §1.10): the defaults follow the documented invoice
/// API's conventions (`/j1p/api/public/ji/v1/…`, the same Keycloak bearer token, JSON bodies, the
/// `returnCode`/`returnMessage` envelope), and every path and field name is a setting so a tenant's real names can
/// be set without a code change. Each call is a `PUT` of the whole record to its own path: an upsert by key.
package struct JaggaerWriterSettings: Sendable, Codable, Hashable, SettingsSection {
    /// Whether the master-data syncs and `sync-payment-status` write to JAGGAER at all (off: they only fill the
    /// connection's mapping tables, and payment status is not synced).
    package var enabled: Bool
    /// `PUT` path of one supplier; `{number}` is the ERP vendor number.
    package var supplierPath: String
    /// `PUT` path of one coding value; `{segment}` is the JAGGAER segment, `{code}` the value.
    package var codingValuePath: String
    /// `PUT` path of one invoice's payment status; `{id}` is the JAGGAER invoice id.
    package var paymentStatusPath: String
    /// Body field names of a supplier, overriding the defaults by logical name (see `supplierFieldDefaults`).
    package var supplierFields: [String: String]
    /// Body field names of a coding value (see `codingFieldDefaults`).
    package var codingFields: [String: String]
    /// Body field names of a payment status (see `paymentStatusFieldDefaults`).
    package var paymentStatusFields: [String: String]
    /// JAGGAER's payment status value per ERP state (`paid`, `partiallyPaid`, `unpaid`).
    package var paymentStatusValues: [String: String]
    /// Whether `sync-vendors` also reads suppliers changed in JAGGAER and upserts them into an ERP that takes
    /// vendor writes (`capabilities.vendorWrites`, e.g. SAP Business One), under the ERP's conflict rule.
    package var pullSuppliers: Bool
    /// `GET` path of the supplier list (UNCONFIRMED): paged with `start` and filtered with
    /// `flt=LASTMODTIME>=yyyyMMddHHmmss` like the documented `ja/v1/companyprofiles` list (reference §1.5), each
    /// item in the supplier body's shape plus its change stamp (`supplierFields.lastModified`).
    package var supplierListPath: String
    /// The list envelope's array of suppliers (`returnCompanyData`, as the `ja` supplier list names it).
    package var supplierListKey: String
    /// `PUT` path of one purchase order the ERP confirmed; `{number}` is the ERP's PO number. JAGGAER's PO import
    /// is UNCONFIRMED (no public path, reference §1.2): the default follows the `po/v1` module of the PO export
    /// and keeps ERP orders under their own path, apart from the orders JAGGAER issues itself.
    package var purchaseOrderPath: String
    /// Body field names of a purchase order's header (see `purchaseOrderFieldDefaults`; `lines` names the array
    /// of lines). UNCONFIRMED shape: a flat header with the invoice API's names where it has them.
    package var purchaseOrderFields: [String: String]
    /// Body field names of a purchase order line (see `purchaseOrderLineFieldDefaults`).
    package var purchaseOrderLineFields: [String: String]
    /// The supplier body field that carries the parent supplier's number (a vendor hierarchy). JAGGAER's supplier
    /// model as we know it has no parent field (UNCONFIRMED, reference §1.10): nil (the default) sends no hierarchy,
    /// and `sync-vendors` says so in its summary. When set, the field is written, and read back by the supplier pull.
    package var supplierParentField: String?
    /// Whether the ERP's released products are sent to JAGGAER as catalog items (the tenant uses catalogs). Off by
    /// default: nothing is read or sent. Only ERPs that give released products (`capabilities.releasedProducts`).
    package var catalogItems: Bool
    /// `PUT` path of one catalog item; `{number}` is the ERP's item number. JAGGAER's catalog item import is
    /// UNCONFIRMED (no public path): the default follows the invoice API's `ji/v1` module like the supplier path.
    package var catalogItemPath: String
    /// Body field names of a catalog item (see `catalogItemFieldDefaults`). UNCONFIRMED shape.
    package var catalogItemFields: [String: String]

    package static let supplierFieldDefaults: [String: String] = [
        "number": "supplierNumber", "name": "name", "active": "active", "paymentHold": "paymentHold",
        "taxId": "taxId", "currency": "currency", "paymentTerms": "paymentTermsCode", "address": "address",
        "lastModified": "lastModTime",
    ]
    package static let codingFieldDefaults: [String: String] = [
        "segment": "segmentName", "code": "code", "name": "description", "active": "active",
    ]
    package static let paymentStatusFieldDefaults: [String: String] = [
        "status": "paymentStatus", "amount": "invoiceAmount", "paidAmount": "paidAmount", "paidAt": "paymentDate",
        "reference": "erpReference",
    ]
    package static let purchaseOrderFieldDefaults: [String: String] = [
        "number": "purchaseOrderNumber", "supplier": "supplierNumber", "name": "description", "orderDate": "orderDate",
        "deliveryDate": "requestedDeliveryDate", "currency": "currency", "total": "totalAmount", "status": "erpStatus",
        "lines": "lines",
    ]
    package static let purchaseOrderLineFieldDefaults: [String: String] = [
        "lineNumber": "lineNumber", "itemNumber": "itemNumber", "category": "category", "description": "description",
        "quantity": "quantity", "unitOfMeasure": "unitOfMeasure", "unitPrice": "unitPrice", "amount": "amount",
        "deliveryDate": "requestedDeliveryDate",
    ]
    package static let catalogItemFieldDefaults: [String: String] = [
        "itemNumber": "itemNumber", "name": "name", "description": "description", "unitOfMeasure": "unitOfMeasure",
        "unitPrice": "unitPrice", "currency": "currency", "category": "category",
    ]
    package static let paymentStatusValueDefaults: [String: String] = [
        "paid": "Paid", "partiallyPaid": "Partially Paid", "unpaid": "Payable",
    ]

    package init(
        enabled: Bool = true,
        supplierPath: String = "/j1p/api/public/ji/v1/suppliers/{number}",
        codingValuePath: String = "/j1p/api/public/ji/v1/accountingcodes/{segment}/{code}",
        paymentStatusPath: String = "/j1p/api/public/ji/v1/invoices/{id}/paymentstatus",
        supplierFields: [String: String] = [:],
        codingFields: [String: String] = [:],
        paymentStatusFields: [String: String] = [:],
        paymentStatusValues: [String: String] = [:],
        pullSuppliers: Bool = true,
        supplierListPath: String = "/j1p/api/public/ji/v1/suppliers",
        supplierListKey: String = "returnCompanyData",
        purchaseOrderPath: String = "/j1p/api/public/po/v1/erppurchaseorders/{number}",
        purchaseOrderFields: [String: String] = [:],
        purchaseOrderLineFields: [String: String] = [:],
        supplierParentField: String? = nil,
        catalogItems: Bool = false,
        catalogItemPath: String = "/j1p/api/public/ji/v1/catalogitems/{number}",
        catalogItemFields: [String: String] = [:]
    ) {
        self.enabled = enabled
        self.supplierPath = supplierPath
        self.codingValuePath = codingValuePath
        self.paymentStatusPath = paymentStatusPath
        self.supplierFields = supplierFields
        self.codingFields = codingFields
        self.paymentStatusFields = paymentStatusFields
        self.paymentStatusValues = paymentStatusValues
        self.pullSuppliers = pullSuppliers
        self.supplierListPath = supplierListPath
        self.supplierListKey = supplierListKey
        self.purchaseOrderPath = purchaseOrderPath
        self.purchaseOrderFields = purchaseOrderFields
        self.purchaseOrderLineFields = purchaseOrderLineFields
        self.supplierParentField = supplierParentField
        self.catalogItems = catalogItems
        self.catalogItemPath = catalogItemPath
        self.catalogItemFields = catalogItemFields
    }

    private enum CodingKeys: String, CodingKey, CaseIterable {
        case enabled, supplierPath, codingValuePath, paymentStatusPath, supplierFields, codingFields
        case paymentStatusFields, paymentStatusValues
        case pullSuppliers, supplierListPath, supplierListKey
        case purchaseOrderPath, purchaseOrderFields, purchaseOrderLineFields
        case supplierParentField
        case catalogItems, catalogItemPath, catalogItemFields
    }

    package static var settingKeys: [String] { CodingKeys.allCases.map(\.stringValue) }

    package init(from decoder: any Decoder) throws {
        try SettingsDecoding.checkKeys(decoder, known: Self.settingKeys)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = JaggaerWriterSettings()
        enabled = try c.decodeIfPresent(Bool.self, forKey: .enabled) ?? d.enabled
        supplierPath = try c.decodeIfPresent(String.self, forKey: .supplierPath) ?? d.supplierPath
        codingValuePath = try c.decodeIfPresent(String.self, forKey: .codingValuePath) ?? d.codingValuePath
        paymentStatusPath = try c.decodeIfPresent(String.self, forKey: .paymentStatusPath) ?? d.paymentStatusPath
        pullSuppliers = try c.decodeIfPresent(Bool.self, forKey: .pullSuppliers) ?? d.pullSuppliers
        supplierListPath = try c.decodeIfPresent(String.self, forKey: .supplierListPath) ?? d.supplierListPath
        supplierListKey = try c.decodeIfPresent(String.self, forKey: .supplierListKey) ?? d.supplierListKey
        purchaseOrderPath = try c.decodeIfPresent(String.self, forKey: .purchaseOrderPath) ?? d.purchaseOrderPath
        catalogItems = try c.decodeIfPresent(Bool.self, forKey: .catalogItems) ?? d.catalogItems
        catalogItemPath = try c.decodeIfPresent(String.self, forKey: .catalogItemPath) ?? d.catalogItemPath
        guard supplierListPath.hasPrefix("/"), !supplierListPath.contains("?") else {
            throw ConnectorError(
                .connectionInvalid,
                "\(SettingsDecoding.path(decoder.codingPath, "supplierListPath")) must start with / and hold no query")
        }
        supplierParentField = try c.decodeIfPresent(String.self, forKey: .supplierParentField)
        if let field = supplierParentField {
            guard !field.trimmingWhitespace(newlines: false).isEmpty else {
                throw ConnectorError(
                    .connectionInvalid,
                    "\(SettingsDecoding.path(decoder.codingPath, "supplierParentField")) must name a field (leave it out to send no hierarchy)"
                )
            }
        }
        guard !supplierListKey.trimmingWhitespace(newlines: false).isEmpty else {
            throw ConnectorError(
                .connectionInvalid, "\(SettingsDecoding.path(decoder.codingPath, "supplierListKey")) must name a field")
        }
        for (key, path, placeholders) in [
            (CodingKeys.supplierPath, supplierPath, ["{number}"]),
            (.codingValuePath, codingValuePath, ["{segment}", "{code}"]),
            (.paymentStatusPath, paymentStatusPath, ["{id}"]),
            (.purchaseOrderPath, purchaseOrderPath, ["{number}"]),
            (.catalogItemPath, catalogItemPath, ["{number}"]),
        ] where !path.hasPrefix("/") || placeholders.contains(where: { !path.contains($0) }) {
            throw ConnectorError(
                .connectionInvalid,
                "\(SettingsDecoding.path(decoder.codingPath, key.stringValue)) must start with / and hold \(placeholders.joined(separator: " and "))"
            )
        }
        func names(_ key: CodingKeys, _ defaults: [String: String]) throws -> [String: String] {
            let given = try c.decodeIfPresent([String: String].self, forKey: key) ?? [:]
            for (name, field) in given.sorted(by: { $0.key < $1.key }) {
                let path = SettingsDecoding.path(decoder.codingPath, "\(key.stringValue).\(name)")
                guard defaults[name] != nil else {
                    throw ConnectorError(
                        .connectionInvalid,
                        "\(SettingsDecoding.path(decoder.codingPath, key.stringValue)) has no field \(String(name.prefix(40)).debugDescription); it takes \(defaults.keys.sorted().joined(separator: ", "))"
                    )
                }
                guard !field.trimmingWhitespace(newlines: false).isEmpty else {
                    throw ConnectorError(.connectionInvalid, "\(path) must name a field")
                }
            }
            return given
        }
        supplierFields = try names(.supplierFields, Self.supplierFieldDefaults)
        codingFields = try names(.codingFields, Self.codingFieldDefaults)
        paymentStatusFields = try names(.paymentStatusFields, Self.paymentStatusFieldDefaults)
        paymentStatusValues = try names(.paymentStatusValues, Self.paymentStatusValueDefaults)
        purchaseOrderFields = try names(.purchaseOrderFields, Self.purchaseOrderFieldDefaults)
        purchaseOrderLineFields = try names(.purchaseOrderLineFields, Self.purchaseOrderLineFieldDefaults)
        catalogItemFields = try names(.catalogItemFields, Self.catalogItemFieldDefaults)
    }

    /// Settings added after the first release are written only when set: a writer's `revision` (the encoded
    /// settings, part of every pushed record's digest) stays what it was for a connection that does not use them,
    /// so an upgrade does not send every supplier and coding value again.
    package func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(enabled, forKey: .enabled)
        try c.encode(supplierPath, forKey: .supplierPath)
        try c.encode(codingValuePath, forKey: .codingValuePath)
        try c.encode(paymentStatusPath, forKey: .paymentStatusPath)
        try c.encode(supplierFields, forKey: .supplierFields)
        try c.encode(codingFields, forKey: .codingFields)
        try c.encode(paymentStatusFields, forKey: .paymentStatusFields)
        try c.encode(paymentStatusValues, forKey: .paymentStatusValues)
        try c.encode(pullSuppliers, forKey: .pullSuppliers)
        try c.encode(supplierListPath, forKey: .supplierListPath)
        try c.encode(supplierListKey, forKey: .supplierListKey)
        if purchaseOrderPath != Self().purchaseOrderPath { try c.encode(purchaseOrderPath, forKey: .purchaseOrderPath) }
        if !purchaseOrderFields.isEmpty { try c.encode(purchaseOrderFields, forKey: .purchaseOrderFields) }
        if !purchaseOrderLineFields.isEmpty { try c.encode(purchaseOrderLineFields, forKey: .purchaseOrderLineFields) }
        try c.encodeIfPresent(supplierParentField, forKey: .supplierParentField)
        if catalogItems { try c.encode(catalogItems, forKey: .catalogItems) }
        if catalogItemPath != Self().catalogItemPath { try c.encode(catalogItemPath, forKey: .catalogItemPath) }
        if !catalogItemFields.isEmpty { try c.encode(catalogItemFields, forKey: .catalogItemFields) }
    }

    /// The field name of a supplier's logical field.
    package func supplierField(_ name: String) -> String {
        supplierFields[name] ?? Self.supplierFieldDefaults[name] ?? name
    }
    package func codingField(_ name: String) -> String { codingFields[name] ?? Self.codingFieldDefaults[name] ?? name }
    package func paymentStatusField(_ name: String) -> String {
        paymentStatusFields[name] ?? Self.paymentStatusFieldDefaults[name] ?? name
    }
    package func purchaseOrderField(_ name: String) -> String {
        purchaseOrderFields[name] ?? Self.purchaseOrderFieldDefaults[name] ?? name
    }
    package func purchaseOrderLineField(_ name: String) -> String {
        purchaseOrderLineFields[name] ?? Self.purchaseOrderLineFieldDefaults[name] ?? name
    }
    package func catalogItemField(_ name: String) -> String {
        catalogItemFields[name] ?? Self.catalogItemFieldDefaults[name] ?? name
    }
    package func paymentStatusValue(_ state: ERPPaymentStatus.State) -> String {
        paymentStatusValues[state.rawValue] ?? Self.paymentStatusValueDefaults[state.rawValue] ?? state.rawValue
    }
}
