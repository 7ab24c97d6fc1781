import ConnectorCore
import Foundation

/// Acumatica ERP through its contract-based REST API (`/entity/{endpoint}/{version}`), facts in the reference §3.
/// The instance is the customer's (cloud `*.acumatica.com`, or a self-hosted site listed in
/// `network.allowedHosts`); the endpoint name and version are pinned because fields change between versions.
package struct AcumaticaSettings: ERPConnectionSettings {
    package static let kind = "acumatica"

    package enum Authentication: String, Sendable, Codable, Hashable, CaseIterable {
        /// OAuth 2.0 from the instance's identity server: password grant once, then the refresh token
        /// (scope `api offline_access`); no API-user session is held between requests.
        case oauth
        /// `POST /entity/auth/login` with session cookies and a guaranteed `auth/logout` when a batch ends.
        case cookie
    }

    /// The site's base URL, e.g. `https://acme.acumatica.com` or `https://erp.example.com/AcumaticaERP`.
    package var instanceURL: String
    /// Web service endpoint (SM207060), e.g. `Default`.
    package var endpointName: String
    /// Its version, e.g. `24.200.001`.
    package var endpointVersion: String
    /// The tenant's login name (cookie sign-in's `tenant`; OAuth's client id names it too).
    package var tenant: String?
    /// The branch to sign in to (cookie sign-in), when the tenant has several.
    package var branch: String?
    package var authentication: Authentication
    /// OAuth client id from Connected Applications (SM303010): `GUID@Tenant`.
    package var clientId: String?
    package var clientSecret: SecretField?
    /// The integration user (both sign-in methods use it; OAuth through the password grant).
    package var username: String
    package var password: SecretField
    package var scope: String
    /// The licence's API requests per minute, shared by every process of the connection (UNCONFIRMED default:
    /// licences differ; 429s teach the limiter a lower one).
    package var requestsPerMinute: Int
    /// Document type of a supplier invoice and of a credit memo (`Bill`, `Debit Adj.`).
    package var billType: String
    package var creditMemoType: String
    /// PO order type of JAGGAER purchase orders in Acumatica (`Normal`).
    package var purchaseOrderType: String
    /// Dimension codes whose values, in this order, make up a detail line's segmented `Subaccount`.
    package var subaccountSegments: [String]
    /// Written between subaccount segments (UNCONFIRMED whether the API wants the separator; `""` to omit it).
    package var subaccountSeparator: String
    /// The dimension whose value is a detail line's `Branch`, when branches are coded per line.
    package var branchDimension: String?
    /// The PurchaseOrder field that holds JAGGAER's PO number (`OrderNbr` when Acumatica's orders carry JAGGAER's
    /// numbers, else e.g. `VendorRef`), used to link bill lines to purchase-order lines.
    package var purchaseOrderNumberField: String
    /// The Bill actions run after the bill is taken off hold, in order (reference §3.4): `Release` (its name is
    /// UNCONFIRMED, hence a setting); `["Approve", "Release"]` where an approval map holds bills for approval.
    package var postActions: [String]

    package init(
        instanceURL: String, endpointName: String = "Default", endpointVersion: String = "24.200.001",
        tenant: String? = nil, branch: String? = nil, authentication: Authentication = .oauth,
        clientId: String? = nil, clientSecret: SecretField? = nil, username: String, password: SecretField,
        scope: String = "api offline_access", requestsPerMinute: Int = 50, billType: String = "Bill",
        creditMemoType: String = "Debit Adj.", purchaseOrderType: String = "Normal",
        subaccountSegments: [String] = [], subaccountSeparator: String = "-", branchDimension: String? = nil,
        purchaseOrderNumberField: String = "OrderNbr", postActions: [String] = ["Release"]
    ) {
        self.instanceURL = instanceURL
        self.endpointName = endpointName
        self.endpointVersion = endpointVersion
        self.tenant = tenant
        self.branch = branch
        self.authentication = authentication
        self.clientId = clientId
        self.clientSecret = clientSecret
        self.username = username
        self.password = password
        self.scope = scope
        self.requestsPerMinute = requestsPerMinute
        self.billType = billType
        self.creditMemoType = creditMemoType
        self.purchaseOrderType = purchaseOrderType
        self.subaccountSegments = subaccountSegments
        self.subaccountSeparator = subaccountSeparator
        self.branchDimension = branchDimension
        self.purchaseOrderNumberField = purchaseOrderNumberField
        self.postActions = postActions
    }

    private enum CodingKeys: String, CodingKey, CaseIterable {
        case instanceURL, endpointName, endpointVersion, tenant, branch, authentication, clientId, clientSecret
        case username, password, scope, requestsPerMinute, billType, creditMemoType, purchaseOrderType
        case subaccountSegments, subaccountSeparator, branchDimension, purchaseOrderNumberField, postActions
    }

    package static var settingKeys: [String] { CodingKeys.allCases.map(\.stringValue) }

    package init(from decoder: any Decoder) throws {
        try SettingsDecoding.checkKeys(decoder, known: Self.settingKeys)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = AcumaticaSettings(instanceURL: "", username: "", password: .sealed(""))
        instanceURL = try c.decode(String.self, forKey: .instanceURL)
        endpointName = try c.decodeIfPresent(String.self, forKey: .endpointName) ?? d.endpointName
        endpointVersion = try c.decodeIfPresent(String.self, forKey: .endpointVersion) ?? d.endpointVersion
        tenant = try c.decodeIfPresent(String.self, forKey: .tenant)
        branch = try c.decodeIfPresent(String.self, forKey: .branch)
        authentication = try SettingsDecoding.choice(c, .authentication) ?? d.authentication
        clientId = try c.decodeIfPresent(String.self, forKey: .clientId)
        clientSecret = try c.decodeIfPresent(SecretField.self, forKey: .clientSecret)
        username = try c.decode(String.self, forKey: .username)
        password = try c.decode(SecretField.self, forKey: .password)
        scope = try c.decodeIfPresent(String.self, forKey: .scope) ?? d.scope
        requestsPerMinute = try c.decodeIfPresent(Int.self, forKey: .requestsPerMinute) ?? d.requestsPerMinute
        billType = try c.decodeIfPresent(String.self, forKey: .billType) ?? d.billType
        creditMemoType = try c.decodeIfPresent(String.self, forKey: .creditMemoType) ?? d.creditMemoType
        purchaseOrderType = try c.decodeIfPresent(String.self, forKey: .purchaseOrderType) ?? d.purchaseOrderType
        subaccountSegments = try c.decodeIfPresent([String].self, forKey: .subaccountSegments) ?? []
        subaccountSeparator =
            try c.decodeIfPresent(String.self, forKey: .subaccountSeparator) ?? d.subaccountSeparator
        branchDimension = try c.decodeIfPresent(String.self, forKey: .branchDimension)
        purchaseOrderNumberField =
            try c.decodeIfPresent(String.self, forKey: .purchaseOrderNumberField) ?? d.purchaseOrderNumberField
        postActions = try c.decodeIfPresent([String].self, forKey: .postActions) ?? d.postActions
    }

    /// `{instanceURL}/entity/{endpointName}/{endpointVersion}`.
    package var entityRoot: String {
        instanceURL.trimmingTrailingSlash + "/entity/\(endpointName)/\(endpointVersion)"
    }
    /// `{instanceURL}/identity/connect/token`.
    package var tokenURL: String { instanceURL.trimmingTrailingSlash + "/identity/connect/token" }
}

extension AcumaticaSettings {
    package static var notificationsType: (any ERPNotificationSettings.Type)? { AcumaticaPushNotifications.self }
    package static var ranges: [(key: String, range: ClosedRange<Int>)] { [("requestsPerMinute", 1...100_000)] }
    package func number(_ key: String) -> Int? { key == "requestsPerMinute" ? requestsPerMinute : nil }

    package var secretFields: [(label: String, field: SecretField)] {
        [("password", password)] + (clientSecret.map { [("clientSecret", $0)] } ?? [])
    }

    package func replacingSecrets(_ transform: (String, SecretField) throws -> SecretField) rethrows -> Self {
        var copy = self
        copy.password = try transform("password", password)
        copy.clientSecret = try clientSecret.map { try transform("clientSecret", $0) }
        return copy
    }

    /// Acumatica's cloud sites; a self-hosted site must be listed in `network.allowedHosts`.
    package var endpoints: [ERPEndpoint] {
        [ERPEndpoint(label: "instanceURL", url: instanceURL, service: "acumatica", hostSuffixes: ["acumatica.com"])]
    }

    package func validate(prefix: String) throws {
        guard !username.isEmpty else {
            throw ConnectorError(.connectionInvalid, "\(prefix).username must name the integration user")
        }
        for (name, value) in [("endpointName", endpointName), ("endpointVersion", endpointVersion)] {
            guard !value.isEmpty,
                value.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "." || $0 == "_" || $0 == "-") })
            else {
                throw ConnectorError(
                    .connectionInvalid, "\(prefix).\(name) must be a plain name such as Default or 24.200.001")
            }
        }
        let parts = endpointVersion.split(separator: ".")
        guard parts.count == 3, parts.allSatisfy({ Int($0) != nil }) else {
            throw ConnectorError(
                .connectionInvalid,
                "\(prefix).endpointVersion is \(endpointVersion.prefix(40).debugDescription); give the version as on Web Service Endpoints (SM207060), e.g. 24.200.001"
            )
        }
        let path = URLComponents(string: instanceURL)?.path ?? ""
        if path.lowercased().contains("/entity") {
            throw ConnectorError(
                .connectionInvalid,
                "\(prefix).instanceURL must be the site's base URL (e.g. https://acme.acumatica.com); ml-connector adds /entity/{endpointName}/{endpointVersion} itself"
            )
        }
        if authentication == .oauth {
            guard let clientId, clientSecret != nil else {
                throw ConnectorError(
                    .connectionInvalid,
                    "\(prefix).authentication is oauth: give clientId (GUID@Tenant, from Connected Applications SM303010) and clientSecret, or set authentication: cookie"
                )
            }
            let pieces = clientId.split(separator: "@", omittingEmptySubsequences: false)
            guard pieces.count == 2, UUID(uuidString: String(pieces[0])) != nil, !pieces[1].isEmpty else {
                throw ConnectorError(
                    .connectionInvalid,
                    "\(prefix).clientId must be the Connected Application's id with its tenant, GUID@Tenant (e.g. 88358B02-A48D-A50E-F710-39C1636C30F6@MyTenant)"
                )
            }
        }
        for segment in subaccountSegments where segment.isEmpty {
            throw ConnectorError(.connectionInvalid, "\(prefix).subaccountSegments must name dimensions")
        }
        if Set(subaccountSegments).count != subaccountSegments.count {
            throw ConnectorError(.connectionInvalid, "\(prefix).subaccountSegments names a dimension twice")
        }
        if let branchDimension, branchDimension.isEmpty || subaccountSegments.contains(branchDimension) {
            throw ConnectorError(
                .connectionInvalid,
                "\(prefix).branchDimension must name a dimension that is not also a subaccount segment")
        }
        let plainName = { (name: String) in
            !name.isEmpty && name.count <= 100 && name.first?.isLetter == true
                && name.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_") }
        }
        guard plainName(purchaseOrderNumberField) else {
            throw ConnectorError(
                .connectionInvalid,
                "\(prefix).purchaseOrderNumberField must be a PurchaseOrder field name such as OrderNbr or VendorRef")
        }
        for action in postActions where !plainName(action) {
            throw ConnectorError(
                .connectionInvalid,
                "\(prefix).postActions must list Bill action names such as Approve or Release")
        }
    }
}
