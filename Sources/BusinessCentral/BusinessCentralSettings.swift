import ConnectorCore
import Foundation

/// Business Central online (API v2.0) with Microsoft Entra client credentials.
package struct BusinessCentralSettings: ERPConnectionSettings {
    package static let kind = "businessCentral"
    package var tenantId: String
    package var environment: String
    package var clientId: String
    package var clientSecret: SecretField
    package var authorityURL: String
    package var apiBaseURL: String
    package var scope: String
    /// The company's id; when absent it is looked up by `companyName` once and cached.
    package var companyId: String?
    package var companyName: String?
    /// BC online allows 6,000 requests per user in a 5-minute window.
    package var requestsPerFiveMinutes: Int
    /// How line dimensions travel: nested in the deep insert (default) or one request per dimension afterwards.
    package var lineDimensions: LineDimensionMode
    /// Whether credit memos are written as purchase credit memos (`purchaseCreditMemos` with
    /// `vendorCreditMemoNumber`, which older builds of API v2.0 lack); off: credit memos wait in review.
    package var purchaseCreditMemos: Bool
    /// Whether an invoice's JAGGAER PO is checked against BC's `purchaseOrders` (number and vendor) before the draft
    /// is written. Off for a tenant whose purchase orders are not kept in BC.
    package var purchaseOrderMatching: Bool
    /// Whether partial payments are read from the Analytics API's `vendorLedgerEntries` (which BC versions have it
    /// is UNCONFIRMED); off: an invoice is unpaid until its status is `Paid`.
    package var analyticsVendorLedgerEntries: Bool
    /// How many days before the newest ledger posting date seen each payment-status run reads again (payments can
    /// be posted back-dated).
    package var vendorLedgerLookbackDays: Int

    package enum LineDimensionMode: String, Sendable, Codable, Hashable, CaseIterable {
        /// `dimensionSetLines` nested inside each deep-inserted line (multi-level deep insert: UNCONFIRMED in the
        /// BC docs; verify on the tenant with `ping-connection`).
        case deepInsert
        /// Create the invoice with lines first, then POST each line's dimension set lines.
        case separateRequests
    }

    package init(
        tenantId: String,
        environment: String,
        clientId: String,
        clientSecret: SecretField,
        authorityURL: String = "https://login.microsoftonline.com",
        apiBaseURL: String = "https://api.businesscentral.dynamics.com",
        scope: String = "https://api.businesscentral.dynamics.com/.default",
        companyId: String? = nil,
        companyName: String? = nil,
        requestsPerFiveMinutes: Int = 6000,
        lineDimensions: LineDimensionMode = .deepInsert,
        purchaseCreditMemos: Bool = false,
        purchaseOrderMatching: Bool = true,
        analyticsVendorLedgerEntries: Bool = false,
        vendorLedgerLookbackDays: Int = 7
    ) {
        self.tenantId = tenantId
        self.environment = environment
        self.clientId = clientId
        self.clientSecret = clientSecret
        self.authorityURL = authorityURL
        self.apiBaseURL = apiBaseURL
        self.scope = scope
        self.companyId = companyId
        self.companyName = companyName
        self.requestsPerFiveMinutes = requestsPerFiveMinutes
        self.lineDimensions = lineDimensions
        self.purchaseCreditMemos = purchaseCreditMemos
        self.purchaseOrderMatching = purchaseOrderMatching
        self.analyticsVendorLedgerEntries = analyticsVendorLedgerEntries
        self.vendorLedgerLookbackDays = vendorLedgerLookbackDays
    }

    private enum CodingKeys: String, CodingKey, CaseIterable {
        case tenantId, environment, clientId, clientSecret, authorityURL, apiBaseURL, scope, companyId, companyName
        case requestsPerFiveMinutes, lineDimensions
        case purchaseCreditMemos
        case purchaseOrderMatching
        case analyticsVendorLedgerEntries, vendorLedgerLookbackDays
    }

    package static var settingKeys: [String] { CodingKeys.allCases.map(\.stringValue) }

    package init(from decoder: any Decoder) throws {
        try SettingsDecoding.checkKeys(decoder, known: Self.settingKeys)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = BusinessCentralSettings(tenantId: "", environment: "", clientId: "", clientSecret: .sealed(""))
        tenantId = try c.decode(String.self, forKey: .tenantId)
        environment = try c.decode(String.self, forKey: .environment)
        clientId = try c.decode(String.self, forKey: .clientId)
        clientSecret = try c.decode(SecretField.self, forKey: .clientSecret)
        authorityURL = try c.decodeIfPresent(String.self, forKey: .authorityURL) ?? d.authorityURL
        apiBaseURL = try c.decodeIfPresent(String.self, forKey: .apiBaseURL) ?? d.apiBaseURL
        scope = try c.decodeIfPresent(String.self, forKey: .scope) ?? d.scope
        companyId = try c.decodeIfPresent(String.self, forKey: .companyId)
        companyName = try c.decodeIfPresent(String.self, forKey: .companyName)
        requestsPerFiveMinutes =
            try c.decodeIfPresent(Int.self, forKey: .requestsPerFiveMinutes) ?? d.requestsPerFiveMinutes
        lineDimensions = try SettingsDecoding.choice(c, .lineDimensions) ?? d.lineDimensions
        purchaseCreditMemos = try c.decodeIfPresent(Bool.self, forKey: .purchaseCreditMemos) ?? d.purchaseCreditMemos
        purchaseOrderMatching =
            try c.decodeIfPresent(Bool.self, forKey: .purchaseOrderMatching) ?? d.purchaseOrderMatching
        analyticsVendorLedgerEntries =
            try c.decodeIfPresent(Bool.self, forKey: .analyticsVendorLedgerEntries) ?? d.analyticsVendorLedgerEntries
        vendorLedgerLookbackDays =
            try c.decodeIfPresent(Int.self, forKey: .vendorLedgerLookbackDays) ?? d.vendorLedgerLookbackDays
    }

    package var tokenURL: String { authorityURL.trimmingTrailingSlash + "/\(tenantId)/oauth2/v2.0/token" }
    package var apiRoot: String { apiBaseURL.trimmingTrailingSlash + "/v2.0/\(tenantId)/\(environment)/api/v2.0" }
}

/// Business Central webhooks (`/api/v2.0/subscriptions`): every notification carries the subscription's
/// `clientState`, which serves as the shared secret.
package struct BusinessCentralNotifications: RotatingSecretNotificationSettings {
    /// Sent as `clientState` when subscribing; a notification whose `clientState` differs is refused.
    package var clientState: SecretField
    /// Still accepted while subscriptions are being moved to a new `clientState` (renewal sets the new one).
    package var previousClientState: SecretField?
    /// Entity sets to subscribe to (webhook-capable in v2.0: vendors, accounts, dimensions, purchaseInvoices, …).
    package var resources: [String]
    /// A subscription lasts 3 days; it is renewed when it would expire within this many hours.
    package var renewBeforeHours: Int

    /// Longest `clientState` accepted. BC's v2 examples say 2048, the 2018 metadata said 250 (UNCONFIRMED for
    /// v2): the smaller bound works on both.
    package static let maxClientStateLength = 250
    /// Shortest `clientState` accepted: it is a shared secret.
    package static let minClientStateLength = 16

    package init(
        clientState: SecretField, previousClientState: SecretField? = nil,
        resources: [String] = ["vendors", "accounts", "dimensions"], renewBeforeHours: Int = 36
    ) {
        self.clientState = clientState
        self.previousClientState = previousClientState
        self.resources = resources
        self.renewBeforeHours = renewBeforeHours
    }

    private enum CodingKeys: String, CodingKey, CaseIterable {
        case clientState, previousClientState, resources, renewBeforeHours
    }
    package static var settingKeys: [String] { CodingKeys.allCases.map(\.stringValue) }

    package init(from decoder: any Decoder) throws {
        try SettingsDecoding.checkKeys(decoder, known: Self.settingKeys)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = BusinessCentralNotifications(clientState: .sealed(""))
        clientState = try c.decode(SecretField.self, forKey: .clientState)
        previousClientState = try c.decodeIfPresent(SecretField.self, forKey: .previousClientState)
        resources = try c.decodeIfPresent([String].self, forKey: .resources) ?? d.resources
        renewBeforeHours = try c.decodeIfPresent(Int.self, forKey: .renewBeforeHours) ?? d.renewBeforeHours
    }
}

extension BusinessCentralSettings {
    package static var notificationsType: (any ERPNotificationSettings.Type)? { BusinessCentralNotifications.self }
    package static var ranges: [(key: String, range: ClosedRange<Int>)] {
        [("requestsPerFiveMinutes", 1...100_000), ("vendorLedgerLookbackDays", 0...366)]
    }
    package func number(_ key: String) -> Int? {
        switch key {
        case "requestsPerFiveMinutes": requestsPerFiveMinutes
        case "vendorLedgerLookbackDays": vendorLedgerLookbackDays
        default: nil
        }
    }

    package var secretFields: [(label: String, field: SecretField)] { [("clientSecret", clientSecret)] }

    package func replacingSecrets(_ transform: (String, SecretField) throws -> SecretField) rethrows -> Self {
        var copy = self
        copy.clientSecret = try transform("clientSecret", clientSecret)
        return copy
    }

    /// Microsoft Entra's sign-in hosts (public and sovereign clouds) and BC online's API host.
    static let entraHosts = [
        "login.microsoftonline.com", "login.microsoftonline.us", "login.chinacloudapi.cn",
        "login.partner.microsoftonline.cn",
    ]

    package var endpoints: [ERPEndpoint] {
        [
            ERPEndpoint(label: "authorityURL", url: authorityURL, service: "entra", hostSuffixes: Self.entraHosts),
            ERPEndpoint(
                label: "apiBaseURL", url: apiBaseURL, service: "businessCentral",
                hostSuffixes: ["api.businesscentral.dynamics.com"]),
        ]
    }

    static func isGUID(_ text: String) -> Bool { UUID(uuidString: text) != nil }

    package func validate(prefix: String) throws {
        let bc = self
        guard !bc.tenantId.isEmpty, !bc.environment.isEmpty, !bc.clientId.isEmpty else {
            throw ConnectorError(.connectionInvalid, "\(prefix) needs tenantId, environment and clientId")
        }
        let authorityPath = URLComponents(string: bc.authorityURL)?.path ?? ""
        if !authorityPath.isEmpty, authorityPath != "/" {
            let first = authorityPath.split(separator: "/").first.map(String.init) ?? ""
            let tenantHint =
                first.isEmpty || first == "oauth2" ? "" : " (\(first.prefix(64)) belongs in \(prefix).tenantId)"
            throw ConnectorError(
                .connectionInvalid,
                "\(prefix).authorityURL must be the authority's base URL only, e.g. https://login.microsoftonline.com; ml-connector adds /{tenantId}/oauth2/v2.0/token itself\(tenantHint)"
            )
        }
        let apiPath = URLComponents(string: bc.apiBaseURL)?.path ?? ""
        if !apiPath.isEmpty, apiPath != "/" {
            let parts = apiPath.split(separator: "/").map(String.init)
            var hint = ""
            if parts.count >= 3, parts[0] == "v2.0" {
                hint =
                    " (here the tenant \(parts[1].prefix(64)) goes in \(prefix).tenantId and the environment \(parts[2].prefix(40)) in \(prefix).environment)"
            }
            throw ConnectorError(
                .connectionInvalid,
                "\(prefix).apiBaseURL must be the base URL only, e.g. https://api.businesscentral.dynamics.com; ml-connector adds /v2.0/{tenantId}/{environment}/api/v2.0 itself\(hint)"
            )
        }
        for (name, value) in [("tenantId", bc.tenantId), ("environment", bc.environment)] {
            guard
                value.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" || $0 == ".") })
            else {
                throw ConnectorError(
                    .connectionInvalid, "\(prefix).\(name) has characters a URL path can't carry")
            }
        }
        if let name = bc.companyName {
            guard !name.trimmingWhitespace(newlines: false).isEmpty, name == name.trimmingWhitespace(newlines: false)
            else {
                throw ConnectorError(
                    .connectionInvalid, "\(prefix).companyName must not be empty or start or end with spaces")
            }
        }
        guard bc.companyId != nil || bc.companyName != nil else {
            throw ConnectorError(.connectionInvalid, "\(prefix) needs companyId or companyName")
        }
        guard scope.hasPrefix("https://"), scope.hasSuffix("/.default") else {
            throw ConnectorError(
                .connectionInvalid,
                "\(prefix).scope must be an application ID URI ending in /.default, e.g. https://api.businesscentral.dynamics.com/.default"
            )
        }
    }

    /// The identifier shapes Entra and Business Central use (a mistake here otherwise fails only at run time, as a
    /// refused token or an unknown company).
    package func validateIdentifiers(prefix: String) throws {
        let bc = self
        guard Self.isGUID(bc.tenantId) || bc.tenantId.contains(".") else {
            throw ConnectorError(
                .connectionInvalid,
                "\(prefix).tenantId must be the Entra tenant id (a GUID) or its domain (e.g. contoso.onmicrosoft.com)")
        }
        guard Self.isGUID(bc.clientId) else {
            throw ConnectorError(
                .connectionInvalid,
                "\(prefix).clientId must be the Entra application (client) id, a GUID such as 11111111-2222-3333-4444-555555555555"
            )
        }
        if let companyId = bc.companyId, !Self.isGUID(companyId) {
            throw ConnectorError(
                .connectionInvalid,
                "\(prefix).companyId must be the company's id (a GUID); give the company's name in \(prefix).companyName instead"
            )
        }
        if let name = bc.companyName, Self.isGUID(name) {
            throw ConnectorError(
                .connectionInvalid, "\(prefix).companyName is a GUID; give it as \(prefix).companyId")
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

extension BusinessCentralNotifications {
    package static var ranges: [(key: String, range: ClosedRange<Int>)] { [("renewBeforeHours", 1...71)] }
    package func number(_ key: String) -> Int? { key == "renewBeforeHours" ? renewBeforeHours : nil }

    package static var secretRotation: SecretRotation<Self> {
        .init(current: ("clientState", \.clientState), previous: ("previousClientState", \.previousClientState))
    }

    package func validate(prefix: String) throws {
        guard !resources.isEmpty, resources.allSatisfy({ !$0.isEmpty && $0.allSatisfy { $0.isLetter || $0.isNumber } })
        else {
            throw ConnectorError(
                .connectionInvalid, "\(prefix).resources must name entity sets such as vendors or accounts")
        }
    }

    package func validateSecret(label: String, _ secret: Secret, prefix: String) throws {
        try SharedSecretRules.check(secret, label: "\(prefix).\(label)", maxLength: Self.maxClientStateLength)
    }
}
