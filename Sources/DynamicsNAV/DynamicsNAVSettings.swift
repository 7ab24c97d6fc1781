import ConnectorCore
import Foundation

/// Dynamics NAV 2017/2018 and Business Central on-premises through OData V4 web services (reference §3): UI pages
/// the administrator published under names of their choosing, company-scoped, signed in with a NAV user and its web
/// service access key (NavUserPassword, HTTP Basic) or, where the server has it, OAuth client credentials. The
/// server is the customer's own, so its host must be listed in `network.allowedHosts`.
package struct DynamicsNAVSettings: ERPConnectionSettings {
    package static let kind = "dynamicsNAV"

    package enum Authentication: String, Sendable, Codable, Hashable, CaseIterable {
        /// HTTP Basic with the NAV user name and its web service access key (credential type NavUserPassword).
        case basic
        /// OAuth 2.0 client credentials (BC on-premises 18.11 / 19.5 and later only; reference §3.3).
        case oauth
    }

    /// Where a supplier invoice lands.
    package enum InvoiceDocument: String, Sendable, Codable, Hashable, CaseIterable {
        /// An unposted purchase invoice (page 51), header then lines.
        case purchaseInvoice
        /// General journal lines in `journalTemplate`/`journalBatch`: the G/L lines, then the vendor line.
        case generalJournal
        /// Invoices that quote a purchase order become purchase invoices; the others general journal lines.
        case byPurchaseOrder
    }

    /// The same rule as SAP Business One's, for vendors changed on both sides.
    package enum VendorConflictRule: String, Sendable, Codable, Hashable, CaseIterable {
        case newestWins, erpWins, procurementWins
    }

    /// The OData V4 root with scheme, server, port and server instance: `https://nav.example.com:7048/DynamicsNAV110/ODataV4`.
    package var oDataURL: String
    /// The company by name (case-sensitive, as NAV shows it), or `companyId` (BC only).
    package var company: String?
    /// The company's id (`Company(Id=…)`, BC on-premises; NAV has none).
    package var companyId: String?
    package var authentication: Authentication
    /// The NAV user name (not an e-mail) for `basic`.
    package var username: String?
    /// The user's web service access key (or password) for `basic`.
    package var accessKey: SecretField?
    package var tokenURL: String?
    package var clientId: String?
    package var clientSecret: SecretField?
    package var scope: String?

    /// Published web service names (Web Services page): administrators choose them, so each is a setting.
    package var vendorService: String
    package var purchaseInvoiceService: String
    /// The lines containment of the purchase invoice service (`{service}{subpage part}`).
    package var purchaseInvoiceLines: String
    package var purchaseOrderService: String
    package var purchaseOrderLines: String
    package var journalService: String
    package var accountService: String
    package var dimensionValueService: String
    /// Vendor Ledger Entries (page 29), to find invoices already posted and to read their payment status; empty:
    /// not published, not checked, and no payment status.
    package var vendorLedgerService: String
    /// Field names of the Vendor Ledger Entries page by logical name, overriding `vendorLedgerFieldDefaults`: the
    /// page's OData names are UNCONFIRMED (reference §4), so each is a setting, checked against `$metadata`.
    package var vendorLedgerFields: [String: String]

    package var invoiceDocument: InvoiceDocument
    package var journalTemplate: String
    package var journalBatch: String
    /// The purchase invoice header field that carries the JAGGAER reference (`Your_Reference`, Text[35]).
    package var referenceField: String
    /// The purchase order header field that keeps the JAGGAER PO number.
    package var purchaseOrderNumberField: String
    /// ERP-neutral dimension code → the line field that carries its value (`Shortcut_Dimension_1_Code`, …).
    package var dimensionFields: [String: String]
    /// The purchase line `Type` for a G/L account line, as the server spells the option.
    package var accountLineType: String
    /// The vendor field that names the parent vendor (a hierarchy), as the customer's page exposes it; empty: none.
    package var parentVendorField: String
    /// The vendor field that stamps a change (`Last_Date_Modified`, a date in NAV).
    package var vendorChangeField: String
    package var vendorConflictRule: VendorConflictRule
    package var requestsPerMinute: Int
    package var pageSize: Int

    package init(
        oDataURL: String, company: String? = nil, companyId: String? = nil, authentication: Authentication = .basic,
        username: String? = nil, accessKey: SecretField? = nil, tokenURL: String? = nil, clientId: String? = nil,
        clientSecret: SecretField? = nil, scope: String? = nil, vendorService: String = "VendorCard",
        purchaseInvoiceService: String = "PurchaseInvoice", purchaseInvoiceLines: String = "PurchaseInvoicePurchLines",
        purchaseOrderService: String = "PurchaseOrder", purchaseOrderLines: String = "PurchaseOrderPurchLines",
        journalService: String = "GeneralJournal", accountService: String = "ChartOfAccounts",
        dimensionValueService: String = "DimensionValues", vendorLedgerService: String = "VendorLedgerEntries",
        vendorLedgerFields: [String: String] = [:], invoiceDocument: InvoiceDocument = .purchaseInvoice,
        journalTemplate: String = "", journalBatch: String = "",
        referenceField: String = "Your_Reference", purchaseOrderNumberField: String = "Your_Reference",
        dimensionFields: [String: String] = [:], accountLineType: String = "G/L Account",
        parentVendorField: String = "", vendorChangeField: String = "Last_Date_Modified",
        vendorConflictRule: VendorConflictRule = .erpWins, requestsPerMinute: Int = 600, pageSize: Int = 200
    ) {
        self.oDataURL = oDataURL
        self.company = company
        self.companyId = companyId
        self.authentication = authentication
        self.username = username
        self.accessKey = accessKey
        self.tokenURL = tokenURL
        self.clientId = clientId
        self.clientSecret = clientSecret
        self.scope = scope
        self.vendorService = vendorService
        self.purchaseInvoiceService = purchaseInvoiceService
        self.purchaseInvoiceLines = purchaseInvoiceLines
        self.purchaseOrderService = purchaseOrderService
        self.purchaseOrderLines = purchaseOrderLines
        self.journalService = journalService
        self.accountService = accountService
        self.dimensionValueService = dimensionValueService
        self.vendorLedgerService = vendorLedgerService
        self.vendorLedgerFields = vendorLedgerFields
        self.invoiceDocument = invoiceDocument
        self.journalTemplate = journalTemplate
        self.journalBatch = journalBatch
        self.referenceField = referenceField
        self.purchaseOrderNumberField = purchaseOrderNumberField
        self.dimensionFields = dimensionFields
        self.accountLineType = accountLineType
        self.parentVendorField = parentVendorField
        self.vendorChangeField = vendorChangeField
        self.vendorConflictRule = vendorConflictRule
        self.requestsPerMinute = requestsPerMinute
        self.pageSize = pageSize
    }

    private enum CodingKeys: String, CodingKey, CaseIterable {
        case oDataURL, company, companyId, authentication, username, accessKey, tokenURL, clientId, clientSecret, scope
        case vendorService, purchaseInvoiceService, purchaseInvoiceLines, purchaseOrderService, purchaseOrderLines
        case journalService, accountService, dimensionValueService, vendorLedgerService, vendorLedgerFields
        case invoiceDocument, journalTemplate, journalBatch, referenceField, purchaseOrderNumberField, dimensionFields
        case accountLineType, parentVendorField, vendorChangeField, vendorConflictRule, requestsPerMinute, pageSize
    }

    package static var settingKeys: [String] { CodingKeys.allCases.map(\.stringValue) }

    package init(from decoder: any Decoder) throws {
        try SettingsDecoding.checkKeys(decoder, known: Self.settingKeys)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = DynamicsNAVSettings(oDataURL: "")
        func text(_ key: CodingKeys, _ fallback: String) throws -> String {
            try c.decodeIfPresent(String.self, forKey: key) ?? fallback
        }
        oDataURL = try c.decode(String.self, forKey: .oDataURL)
        company = try c.decodeIfPresent(String.self, forKey: .company)
        companyId = try c.decodeIfPresent(String.self, forKey: .companyId)
        authentication = try SettingsDecoding.choice(c, .authentication) ?? d.authentication
        username = try c.decodeIfPresent(String.self, forKey: .username)
        accessKey = try c.decodeIfPresent(SecretField.self, forKey: .accessKey)
        tokenURL = try c.decodeIfPresent(String.self, forKey: .tokenURL)
        clientId = try c.decodeIfPresent(String.self, forKey: .clientId)
        clientSecret = try c.decodeIfPresent(SecretField.self, forKey: .clientSecret)
        scope = try c.decodeIfPresent(String.self, forKey: .scope)
        vendorService = try text(.vendorService, d.vendorService)
        purchaseInvoiceService = try text(.purchaseInvoiceService, d.purchaseInvoiceService)
        purchaseInvoiceLines = try text(.purchaseInvoiceLines, d.purchaseInvoiceLines)
        purchaseOrderService = try text(.purchaseOrderService, d.purchaseOrderService)
        purchaseOrderLines = try text(.purchaseOrderLines, d.purchaseOrderLines)
        journalService = try text(.journalService, d.journalService)
        accountService = try text(.accountService, d.accountService)
        dimensionValueService = try text(.dimensionValueService, d.dimensionValueService)
        vendorLedgerService = try text(.vendorLedgerService, d.vendorLedgerService)
        vendorLedgerFields = try c.decodeIfPresent([String: String].self, forKey: .vendorLedgerFields) ?? [:]
        for name in vendorLedgerFields.keys.sorted() where Self.vendorLedgerFieldDefaults[name] == nil {
            throw ConnectorError(
                .connectionInvalid,
                "\(SettingsDecoding.path(decoder.codingPath, "vendorLedgerFields")) has no field \(String(name.prefix(40)).debugDescription); it takes \(Self.vendorLedgerFieldDefaults.keys.sorted().joined(separator: ", "))"
            )
        }
        invoiceDocument = try SettingsDecoding.choice(c, .invoiceDocument) ?? d.invoiceDocument
        journalTemplate = try text(.journalTemplate, d.journalTemplate)
        journalBatch = try text(.journalBatch, d.journalBatch)
        referenceField = try text(.referenceField, d.referenceField)
        purchaseOrderNumberField = try text(.purchaseOrderNumberField, d.purchaseOrderNumberField)
        dimensionFields = try c.decodeIfPresent([String: String].self, forKey: .dimensionFields) ?? [:]
        accountLineType = try text(.accountLineType, d.accountLineType)
        parentVendorField = try text(.parentVendorField, d.parentVendorField)
        vendorChangeField = try text(.vendorChangeField, d.vendorChangeField)
        vendorConflictRule = try SettingsDecoding.choice(c, .vendorConflictRule) ?? d.vendorConflictRule
        requestsPerMinute = try c.decodeIfPresent(Int.self, forKey: .requestsPerMinute) ?? d.requestsPerMinute
        pageSize = try c.decodeIfPresent(Int.self, forKey: .pageSize) ?? d.pageSize
    }

    /// The Vendor Ledger Entries fields by logical name, as page 29 names them in the standard application
    /// (`No.` → `No`, reference §3.1); UNCONFIRMED for a customer's page, so each can be renamed.
    package static let vendorLedgerFieldDefaults: [String: String] = [
        "entryNumber": "Entry_No", "vendorNumber": "Vendor_No", "documentType": "Document_Type",
        "documentNumber": "Document_No", "externalDocumentNumber": "External_Document_No", "amount": "Amount",
        "remainingAmount": "Remaining_Amount", "open": "Open",
    ]

    /// The OData name of a Vendor Ledger Entries field (`entryNumber`, `open`, …).
    package func ledgerField(_ name: String) -> String {
        vendorLedgerFields[name] ?? Self.vendorLedgerFieldDefaults[name] ?? name
    }

    /// Whether payment status is read (the Vendor Ledger Entries page is named).
    package var readsPaymentStatus: Bool { !vendorLedgerService.isEmpty }

    /// The OData V4 root without a trailing slash.
    package var root: String { oDataURL.trimmingTrailingSlash }

    /// Whether invoices may become journal lines.
    package var writesJournal: Bool { invoiceDocument != .purchaseInvoice }

    /// The services the flows use, with the setting that names each: checked against `$metadata`.
    package var services: [(setting: String, name: String)] {
        var list = [
            ("vendorService", vendorService), ("purchaseOrderService", purchaseOrderService),
            ("accountService", accountService), ("dimensionValueService", dimensionValueService),
        ]
        if invoiceDocument != .generalJournal { list.append(("purchaseInvoiceService", purchaseInvoiceService)) }
        if writesJournal { list.append(("journalService", journalService)) }
        if !vendorLedgerService.isEmpty { list.append(("vendorLedgerService", vendorLedgerService)) }
        return list
    }

    /// The line fields a dimension can go to: the two shortcut dimensions of the table, and the page's
    /// `ShortcutDimCode3`…`8` (exposed where the subpage shows them; checked against `$metadata`).
    package static let dimensionFieldNames =
        ["Shortcut_Dimension_1_Code", "Shortcut_Dimension_2_Code"] + (3...8).map { "ShortcutDimCode\($0)" }
}

extension DynamicsNAVSettings {
    package static var ranges: [(key: String, range: ClosedRange<Int>)] {
        [("requestsPerMinute", 1...100_000), ("pageSize", 1...20_000)]
    }

    package func number(_ key: String) -> Int? {
        switch key {
        case "requestsPerMinute": requestsPerMinute
        case "pageSize": pageSize
        default: nil
        }
    }

    package var secretFields: [(label: String, field: SecretField)] {
        (accessKey.map { [("accessKey", $0)] } ?? []) + (clientSecret.map { [("clientSecret", $0)] } ?? [])
    }

    package func replacingSecrets(_ transform: (String, SecretField) throws -> SecretField) rethrows -> Self {
        var copy = self
        copy.accessKey = try accessKey.map { try transform("accessKey", $0) }
        copy.clientSecret = try clientSecret.map { try transform("clientSecret", $0) }
        return copy
    }

    /// The customer's own server (and, for OAuth, its identity provider): both must be listed hosts.
    package var endpoints: [ERPEndpoint] {
        var list = [
            ERPEndpoint(
                label: "oDataURL", url: oDataURL, service: "dynamicsNAV", hostSuffixes: [], requiresListedHost: true)
        ]
        if authentication == .oauth, let tokenURL {
            list.append(
                ERPEndpoint(
                    label: "tokenURL", url: tokenURL, service: "entra",
                    hostSuffixes: ["login.microsoftonline.com"]))
        }
        return list
    }

    package func validate(prefix: String) throws {
        let components = URLComponents(string: oDataURL)
        let segments = (components?.path ?? "").split(separator: "/")
        guard let components, components.scheme != nil, components.host?.isEmpty == false, segments.count >= 2,
            segments.last == "ODataV4"
        else {
            throw ConnectorError(
                .connectionInvalid,
                "\(prefix).oDataURL must be the full OData V4 root with scheme, server, port and server instance, e.g. https://nav.example.com:7048/DynamicsNAV110/ODataV4 (no company or service after it)"
            )
        }
        switch (company?.isEmpty == false, companyId?.isEmpty == false) {
        case (true, true), (false, false):
            throw ConnectorError(
                .connectionInvalid,
                "\(prefix): give exactly one of company (the company name, as NAV shows it) or companyId (BC on-premises)"
            )
        default: break
        }
        if let companyId, !companyId.isEmpty, UUID(uuidString: companyId) == nil {
            throw ConnectorError(.connectionInvalid, "\(prefix).companyId must be a GUID")
        }
        switch authentication {
        case .basic:
            guard username?.trimmingWhitespace(newlines: false).isEmpty == false, accessKey != nil else {
                throw ConnectorError(
                    .connectionInvalid,
                    "\(prefix).authentication is basic: give username (the NAV user name, not an e-mail) and accessKey (its web service access key)"
                )
            }
            guard let username, username.unicodeScalars.allSatisfy({ $0.isASCII }), !username.contains(":") else {
                throw ConnectorError(
                    .connectionInvalid,
                    "\(prefix).username must be ASCII without ':' (HTTP Basic cannot carry other characters; reference §3.3)"
                )
            }
        case .oauth:
            guard tokenURL?.isEmpty == false, clientId?.isEmpty == false, clientSecret != nil, scope?.isEmpty == false
            else {
                throw ConnectorError(
                    .connectionInvalid,
                    "\(prefix).authentication is oauth: give tokenURL, clientId, clientSecret and scope (BC on-premises 18.11/19.5 or later; NAV 2017/2018 have no service-to-service OAuth)"
                )
            }
        }
        let names: [(String, String)] =
            [
                ("vendorService", vendorService), ("purchaseInvoiceService", purchaseInvoiceService),
                ("purchaseInvoiceLines", purchaseInvoiceLines), ("purchaseOrderService", purchaseOrderService),
                ("purchaseOrderLines", purchaseOrderLines), ("journalService", journalService),
                ("accountService", accountService), ("dimensionValueService", dimensionValueService),
                ("referenceField", referenceField), ("purchaseOrderNumberField", purchaseOrderNumberField),
                ("vendorChangeField", vendorChangeField),
            ] + (vendorLedgerService.isEmpty ? [] : [("vendorLedgerService", vendorLedgerService)])
            + (vendorLedgerService.isEmpty
                ? []
                : Self.vendorLedgerFieldDefaults.keys.sorted().map { ("vendorLedgerFields.\($0)", ledgerField($0)) })
            + (parentVendorField.isEmpty ? [] : [("parentVendorField", parentVendorField)])
        for (name, value) in names where !Self.isIdentifier(value) {
            throw ConnectorError(
                .connectionInvalid,
                "\(prefix).\(name) \(value.prefix(60).debugDescription) is not an OData name (letters, digits and _, as $metadata spells it)"
            )
        }
        if writesJournal {
            for (name, value) in [("journalTemplate", journalTemplate), ("journalBatch", journalBatch)]
            where value.trimmingWhitespace(newlines: false).isEmpty || value.count > 10 {
                throw ConnectorError(
                    .connectionInvalid,
                    "\(prefix).\(name) must name the general journal \(name == "journalTemplate" ? "template" : "batch") (Code[10]) when invoiceDocument is \(invoiceDocument.rawValue)"
                )
            }
        }
        for (dimension, field) in dimensionFields.sorted(by: { $0.key < $1.key }) {
            guard !dimension.isEmpty, Self.dimensionFieldNames.contains(field) else {
                throw ConnectorError(
                    .connectionInvalid,
                    "\(prefix).dimensionFields.\(dimension.prefix(40)) must be one of \(Self.dimensionFieldNames.joined(separator: ", "))"
                )
            }
        }
        if Set(dimensionFields.values).count != dimensionFields.count {
            throw ConnectorError(.connectionInvalid, "\(prefix).dimensionFields maps two dimensions to the same field")
        }
        if accountLineType.isEmpty {
            throw ConnectorError(.connectionInvalid, "\(prefix).accountLineType must not be empty")
        }
    }

    static func isIdentifier(_ text: String) -> Bool {
        guard let first = text.unicodeScalars.first, text.count <= 120 else { return false }
        return (first.properties.isAlphabetic || first == "_") && first.isASCII
            && text.unicodeScalars.allSatisfy {
                $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || $0 == "_")
            }
    }
}
