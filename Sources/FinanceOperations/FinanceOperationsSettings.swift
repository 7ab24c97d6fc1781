import ConnectorCore
import Foundation

/// Dynamics 365 Finance & Operations (`/data` OData) with Microsoft Entra client credentials.
///
/// Every connection names its own environment host (`https://contoso.operations.dynamics.com`): there is no shared
/// API host as with Business Central, and the token is asked for that environment (`https://<host>/.default`).
package struct FinanceOperationsSettings: ERPConnectionSettings {
    package static let kind = "financeOperations"
    package var tenantId: String
    package var clientId: String
    package var clientSecret: SecretField
    package var authorityURL: String
    /// The environment's URL, scheme and host only: `https://contoso.operations.dynamics.com`.
    package var environmentURL: String
    /// The Entra scope; by default the environment's own `https://<host>/.default`. The v1 docs name the
    /// environment URL as the resource; the `/.default` form is from 3rd-party use (reference §2.1, UNCONFIRMED).
    package var scope: String?
    /// The legal entity every read and write is pinned to. When absent, the principal's default company is used:
    /// read once without `cross-company` and kept in the store (`local-runner ping` shows which it is).
    package var dataAreaId: String?
    /// The chart of accounts the legal entity's ledger uses (`MainAccounts` belong to a chart, not a company);
    /// when absent every main account is read, which is right only where there is one chart.
    package var chartOfAccounts: String?
    /// The financial dimensions synced to JAGGAER (`DimensionAttributes.DimensionName`); empty: all of them.
    package var dimensions: [String]
    /// The namespace of enum literals (`Microsoft.Dynamics.DataEntities.NoYes'Yes'`, reference §2.3).
    package var enumNamespace: String
    /// The field and enum that say a purchase order is confirmed on `PurchaseOrderHeadersV2`. Not in the reference
    /// (UNCONFIRMED): check `$metadata`; default `DocumentApprovalStatus` of `VersioningDocumentState`, `Confirmed`.
    package var confirmedStatusField: String
    package var confirmedStatusEnum: String
    package var confirmedStatusValue: String
    /// The entity set of released products pushed as JAGGAER catalog items (`jaggaer.writer.catalogItems`). Not in
    /// the reference (UNCONFIRMED): default `ReleasedProductsV2`; check the environment's `$metadata`.
    package var releasedProductEntity: String
    /// Whether invoice lines quoting a purchase order are matched to it (`PurchaseOrder` + `PurchLineNumber`) when
    /// the order is in F&O for the same vendor; off: every line is written by account.
    package var purchaseOrderLinks: Bool
    /// The `VendorInvoiceLines` field a line's coding (the mapped JAGGAER account) goes in. F&O codes a non-PO
    /// invoice line by procurement category (its posting profile names the main account); the documented field is
    /// `ProcurementCategoryName` (reference §2.2). Another field of `$metadata` can be named here.
    package var lineAccountField: String
    /// The legal entity's accounting currency, written on invoices that name no currency of their own (a line's
    /// `Currency` is required, reference §2.2).
    package var accountingCurrency: String
    /// A shared request budget per environment (the user-based limit was 6,000 requests per 5 minutes; 429 with
    /// `Retry-After` is what really paces the connector, reference §2.5).
    package var requestsPerFiveMinutes: Int
    /// The entity set of vendor transactions (`VendTrans`), read for payment status; empty (the default): no payment
    /// status. Its OData collection name is UNCONFIRMED (reference §2.2: the Common Data Model lists
    /// `VendPaymentBIVendTrans`, "Vendor transactions"): name the set the environment's `/data/$metadata` lists.
    package var vendorTransactionEntity: String
    /// Field names of the vendor transaction entity by logical name, overriding `vendorTransactionFieldDefaults`
    /// (the Common Data Model's attribute names; every one UNCONFIRMED as an OData name).
    package var vendorTransactionFields: [String: String]
    /// The enum of the transaction type field (`LedgerTransType`, UNCONFIRMED) and the members that make a
    /// transaction an invoice (`Purch`: a posted purchase invoice, UNCONFIRMED), written in F&O's enum syntax.
    package var transactionTypeEnum: String
    package var invoiceTransactionTypes: [String]

    package init(
        tenantId: String,
        clientId: String,
        clientSecret: SecretField,
        environmentURL: String,
        authorityURL: String = "https://login.microsoftonline.com",
        scope: String? = nil,
        dataAreaId: String? = nil,
        chartOfAccounts: String? = nil,
        dimensions: [String] = [],
        enumNamespace: String = "Microsoft.Dynamics.DataEntities",
        confirmedStatusField: String = "DocumentApprovalStatus",
        confirmedStatusEnum: String = "VersioningDocumentState",
        confirmedStatusValue: String = "Confirmed",
        releasedProductEntity: String = "ReleasedProductsV2",
        purchaseOrderLinks: Bool = true,
        lineAccountField: String = "ProcurementCategoryName",
        accountingCurrency: String = "USD",
        requestsPerFiveMinutes: Int = 6000,
        vendorTransactionEntity: String = "",
        vendorTransactionFields: [String: String] = [:],
        transactionTypeEnum: String = "LedgerTransType",
        invoiceTransactionTypes: [String] = ["Purch"]
    ) {
        self.vendorTransactionEntity = vendorTransactionEntity
        self.vendorTransactionFields = vendorTransactionFields
        self.transactionTypeEnum = transactionTypeEnum
        self.invoiceTransactionTypes = invoiceTransactionTypes
        self.accountingCurrency = accountingCurrency
        self.lineAccountField = lineAccountField
        self.tenantId = tenantId
        self.clientId = clientId
        self.clientSecret = clientSecret
        self.environmentURL = environmentURL
        self.authorityURL = authorityURL
        self.scope = scope
        self.dataAreaId = dataAreaId
        self.chartOfAccounts = chartOfAccounts
        self.dimensions = dimensions
        self.enumNamespace = enumNamespace
        self.confirmedStatusField = confirmedStatusField
        self.confirmedStatusEnum = confirmedStatusEnum
        self.confirmedStatusValue = confirmedStatusValue
        self.releasedProductEntity = releasedProductEntity
        self.purchaseOrderLinks = purchaseOrderLinks
        self.requestsPerFiveMinutes = requestsPerFiveMinutes
    }

    private enum CodingKeys: String, CodingKey, CaseIterable {
        case tenantId, clientId, clientSecret, authorityURL, environmentURL, scope, dataAreaId, chartOfAccounts
        case dimensions, enumNamespace, confirmedStatusField, confirmedStatusEnum, confirmedStatusValue
        case releasedProductEntity
        case purchaseOrderLinks, lineAccountField, accountingCurrency, requestsPerFiveMinutes
        case vendorTransactionEntity, vendorTransactionFields, transactionTypeEnum, invoiceTransactionTypes
    }

    package static var settingKeys: [String] { CodingKeys.allCases.map(\.stringValue) }

    package init(from decoder: any Decoder) throws {
        try SettingsDecoding.checkKeys(decoder, known: Self.settingKeys)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = FinanceOperationsSettings(tenantId: "", clientId: "", clientSecret: .sealed(""), environmentURL: "")
        tenantId = try c.decode(String.self, forKey: .tenantId)
        clientId = try c.decode(String.self, forKey: .clientId)
        clientSecret = try c.decode(SecretField.self, forKey: .clientSecret)
        environmentURL = try c.decode(String.self, forKey: .environmentURL)
        authorityURL = try c.decodeIfPresent(String.self, forKey: .authorityURL) ?? d.authorityURL
        scope = try c.decodeIfPresent(String.self, forKey: .scope)
        dataAreaId = try c.decodeIfPresent(String.self, forKey: .dataAreaId)
        chartOfAccounts = try c.decodeIfPresent(String.self, forKey: .chartOfAccounts)
        dimensions = try c.decodeIfPresent([String].self, forKey: .dimensions) ?? d.dimensions
        enumNamespace = try c.decodeIfPresent(String.self, forKey: .enumNamespace) ?? d.enumNamespace
        confirmedStatusField =
            try c.decodeIfPresent(String.self, forKey: .confirmedStatusField) ?? d.confirmedStatusField
        confirmedStatusEnum = try c.decodeIfPresent(String.self, forKey: .confirmedStatusEnum) ?? d.confirmedStatusEnum
        confirmedStatusValue =
            try c.decodeIfPresent(String.self, forKey: .confirmedStatusValue) ?? d.confirmedStatusValue
        releasedProductEntity =
            try c.decodeIfPresent(String.self, forKey: .releasedProductEntity) ?? d.releasedProductEntity
        purchaseOrderLinks = try c.decodeIfPresent(Bool.self, forKey: .purchaseOrderLinks) ?? d.purchaseOrderLinks
        lineAccountField = try c.decodeIfPresent(String.self, forKey: .lineAccountField) ?? d.lineAccountField
        accountingCurrency =
            try c.decodeIfPresent(String.self, forKey: .accountingCurrency) ?? d.accountingCurrency
        requestsPerFiveMinutes =
            try c.decodeIfPresent(Int.self, forKey: .requestsPerFiveMinutes) ?? d.requestsPerFiveMinutes
        vendorTransactionEntity =
            try c.decodeIfPresent(String.self, forKey: .vendorTransactionEntity) ?? d.vendorTransactionEntity
        vendorTransactionFields =
            try c.decodeIfPresent([String: String].self, forKey: .vendorTransactionFields) ?? [:]
        for name in vendorTransactionFields.keys.sorted() where Self.vendorTransactionFieldDefaults[name] == nil {
            throw ConnectorError(
                .connectionInvalid,
                "\(SettingsDecoding.path(decoder.codingPath, "vendorTransactionFields")) has no field \(String(name.prefix(40)).debugDescription); it takes \(Self.vendorTransactionFieldDefaults.keys.sorted().joined(separator: ", "))"
            )
        }
        transactionTypeEnum =
            try c.decodeIfPresent(String.self, forKey: .transactionTypeEnum) ?? d.transactionTypeEnum
        invoiceTransactionTypes =
            try c.decodeIfPresent([String].self, forKey: .invoiceTransactionTypes) ?? d.invoiceTransactionTypes
    }

    /// The vendor transaction fields by logical name, as the Common Data Model names `VendPaymentBIVendTrans`'s
    /// attributes (AccountsPayable); `recordId` (`RecId`, the one key that only grows) and `settledAmount`
    /// (`SettleAmountCur`) are not in that list. All UNCONFIRMED as OData names: check `$metadata`.
    package static let vendorTransactionFieldDefaults: [String: String] = [
        "recordId": "RecId", "vendorAccount": "AccountNum", "invoice": "Invoice", "voucher": "Voucher",
        "transactionType": "TransType", "transactionDate": "TransDate", "closed": "Closed",
        "lastSettleDate": "LastSettleDate", "amount": "AmountCur", "settledAmount": "SettleAmountCur",
        "currency": "CurrencyCode",
    ]

    /// The OData name of a vendor transaction field (`recordId`, `closed`, …).
    package func transactionField(_ name: String) -> String {
        vendorTransactionFields[name] ?? Self.vendorTransactionFieldDefaults[name] ?? name
    }

    /// Whether payment status is read (the vendor transaction entity is named).
    package var readsPaymentStatus: Bool { !vendorTransactionEntity.isEmpty }

    package var tokenURL: String { authorityURL.trimmingTrailingSlash + "/\(tenantId)/oauth2/v2.0/token" }
    /// `https://<host>/data`.
    package var serviceRoot: String { environmentURL.trimmingTrailingSlash + "/data" }
    /// The scope asked for: the setting, or the environment's own `https://<host>/.default`.
    package var effectiveScope: String { scope ?? environmentURL.trimmingTrailingSlash + "/.default" }
    /// The environment's host, for messages.
    package var environmentHost: String { URLComponents(string: environmentURL)?.host ?? environmentURL }
}

extension FinanceOperationsSettings {
    package static var notificationsType: (any ERPNotificationSettings.Type)? { FinanceOperationsBusinessEvents.self }
    package static var ranges: [(key: String, range: ClosedRange<Int>)] { [("requestsPerFiveMinutes", 1...100_000)] }
    package func number(_ key: String) -> Int? { key == "requestsPerFiveMinutes" ? requestsPerFiveMinutes : nil }

    package var secretFields: [(label: String, field: SecretField)] { [("clientSecret", clientSecret)] }

    package func replacingSecrets(_ transform: (String, SecretField) throws -> SecretField) rethrows -> Self {
        var copy = self
        copy.clientSecret = try transform("clientSecret", clientSecret)
        return copy
    }

    static let entraHosts = [
        "login.microsoftonline.com", "login.microsoftonline.us", "login.chinacloudapi.cn",
        "login.partner.microsoftonline.cn",
    ]

    /// F&O cloud hosts: `{env}.operations.dynamics.com` and `{env}.sandbox.operations.dynamics.com` (reference §2.1).
    /// Other hosts (a cloud-hosted tier-1 box) must be listed in `network.allowedHosts`.
    static let environmentHostSuffixes = ["operations.dynamics.com"]

    package var endpoints: [ERPEndpoint] {
        [
            ERPEndpoint(label: "authorityURL", url: authorityURL, service: "entra", hostSuffixes: Self.entraHosts),
            ERPEndpoint(
                label: "environmentURL", url: environmentURL, service: "financeOperations",
                hostSuffixes: Self.environmentHostSuffixes),
        ]
    }

    static func isGUID(_ text: String) -> Bool { UUID(uuidString: text) != nil }

    /// A legal entity id (`usmf`): up to 4 characters in F&O; letters, digits, `_` and `-` only here.
    static func isCompanyId(_ text: String) -> Bool {
        !text.isEmpty && text.count <= 8
            && text.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_" || $0 == "-") }
    }

    package func validate(prefix: String) throws {
        guard !tenantId.isEmpty, !clientId.isEmpty, !environmentURL.isEmpty else {
            throw ConnectorError(.connectionInvalid, "\(prefix) needs tenantId, clientId and environmentURL")
        }
        guard let components = URLComponents(string: environmentURL), components.host?.isEmpty == false else {
            throw ConnectorError(
                .connectionInvalid,
                "\(prefix).environmentURL must be the environment's URL, e.g. https://contoso.operations.dynamics.com")
        }
        let path = components.path
        guard path.isEmpty || path == "/", components.query == nil else {
            let hint = path.lowercased().hasPrefix("/data") ? " (ml-connector adds /data itself)" : ""
            throw ConnectorError(
                .connectionInvalid,
                "\(prefix).environmentURL must be the environment's scheme and host only, e.g. https://contoso.operations.dynamics.com\(hint)"
            )
        }
        let authorityPath = URLComponents(string: authorityURL)?.path ?? ""
        if !authorityPath.isEmpty, authorityPath != "/" {
            throw ConnectorError(
                .connectionInvalid,
                "\(prefix).authorityURL must be the authority's base URL only, e.g. https://login.microsoftonline.com; ml-connector adds /{tenantId}/oauth2/v2.0/token itself"
            )
        }
        guard tenantId.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == ".") }) else {
            throw ConnectorError(.connectionInvalid, "\(prefix).tenantId has characters a URL path can't carry")
        }
        if let dataAreaId, !Self.isCompanyId(dataAreaId) {
            throw ConnectorError(
                .connectionInvalid, "\(prefix).dataAreaId must be a legal entity id such as usmf (letters and digits)")
        }
        if let scope {
            guard scope.hasPrefix("https://") || scope.hasPrefix("http://"), scope.hasSuffix("/.default") else {
                throw ConnectorError(
                    .connectionInvalid,
                    "\(prefix).scope must be the environment's URL followed by /.default, e.g. https://contoso.operations.dynamics.com/.default"
                )
            }
        }
        var names: [(String, String)] = [
            ("enumNamespace", enumNamespace), ("confirmedStatusField", confirmedStatusField),
            ("confirmedStatusEnum", confirmedStatusEnum), ("lineAccountField", lineAccountField),
            ("releasedProductEntity", releasedProductEntity), ("transactionTypeEnum", transactionTypeEnum),
        ]
        // Empty is allowed: no payment status.
        if readsPaymentStatus { names.append(("vendorTransactionEntity", vendorTransactionEntity)) }
        for (name, field) in vendorTransactionFields.sorted(by: { $0.key < $1.key }) {
            names.append(("vendorTransactionFields.\(name)", field))
        }
        for (name, value) in names {
            let steps = value.split(separator: ".", omittingEmptySubsequences: false)
            guard !value.isEmpty,
                steps.allSatisfy({ step in
                    !step.isEmpty && step.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_") }
                })
            else {
                throw ConnectorError(.connectionInvalid, "\(prefix).\(name) must be an OData name (letters, digits, _)")
            }
        }
        guard accountingCurrency.count == 3, accountingCurrency.allSatisfy({ $0.isASCII && $0.isLetter }) else {
            throw ConnectorError(
                .connectionInvalid, "\(prefix).accountingCurrency must be an ISO currency code such as USD")
        }
        guard !confirmedStatusValue.isEmpty else {
            throw ConnectorError(.connectionInvalid, "\(prefix).confirmedStatusValue must not be empty")
        }
        // Enum members go in `Namespace.Enum'Member'`: a quote would end the literal.
        guard !invoiceTransactionTypes.isEmpty,
            invoiceTransactionTypes.allSatisfy({ member in
                !member.isEmpty && member.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_") }
            })
        else {
            throw ConnectorError(
                .connectionInvalid,
                "\(prefix).invoiceTransactionTypes must name at least one member of \(transactionTypeEnum) (letters, digits, _), e.g. [\"Purch\"]"
            )
        }
    }

    package func validateIdentifiers(prefix: String) throws {
        guard Self.isGUID(tenantId) || tenantId.contains(".") else {
            throw ConnectorError(
                .connectionInvalid,
                "\(prefix).tenantId must be the Entra tenant id (a GUID) or its domain (e.g. contoso.onmicrosoft.com)")
        }
        guard Self.isGUID(clientId) else {
            throw ConnectorError(
                .connectionInvalid,
                "\(prefix).clientId must be the Entra application (client) id, a GUID such as 11111111-2222-3333-4444-555555555555"
            )
        }
    }

    package func validateSecret(label: String, _ secret: Secret, prefix: String) throws {
        if label == "clientSecret", Self.isGUID(secret.value) {
            throw ConnectorError(
                .connectionInvalid,
                "\(prefix).\(label) is a GUID, which is the client secret's ID in Entra, not its value; copy the secret's Value (shown once when it is created)"
            )
        }
    }
}
