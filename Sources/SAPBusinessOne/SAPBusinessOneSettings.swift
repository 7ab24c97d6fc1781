import ConnectorCore
import Foundation

/// SAP Business One through its Service Layer (reference §2), signed in with a company database, a user and a
/// password (a cookie session, `B1SESSION` + `ROUTEID`). The Service Layer runs on the customer's (or its
/// partner's) own server, so its host must be listed in `network.allowedHosts`.
package struct SAPBusinessOneSettings: ERPConnectionSettings {
    package static let kind = "sapBusinessOne"

    /// How an unreviewed invoice lands.
    package enum DraftMode: String, Sendable, Codable, Hashable, CaseIterable {
        /// A document draft (`Drafts`, `DocObjectCode` `oPurchaseInvoices`), kept off the ledger until a person
        /// (or `postDraft`) turns it into an A/P invoice.
        case draft
        /// An A/P invoice (`PurchaseInvoices`) directly, posted on creation.
        case invoice
    }

    /// Which side's change wins when a business partner changed in both systems since the last sync.
    package enum VendorConflictRule: String, Sendable, Codable, Hashable, CaseIterable {
        /// The later change wins, comparing the procurement record's change time with B1's `UpdateDate` +
        /// `UpdateTime` (read in `timeZone`).
        case newestWins
        /// B1 is the master: an existing business partner is never overwritten, only missing ones are created.
        case erpWins
        /// The procurement system is the master: an existing business partner is always updated.
        case procurementWins
    }

    /// The full Service Layer root with scheme, host, port and version: `https://b1.example.com:50000/b1s/v1`
    /// (or `/b1s/v2`).
    package var serviceLayerURL: String
    /// The company database to sign in to (`CompanyDB`, e.g. `SBODEMOUS`).
    package var companyDB: String
    package var username: String
    package var password: SecretField
    /// Error codes that mean "the session is gone" besides HTTP 401: `301` is documented (reference §2.2); others
    /// seen on a tenant can be added here (UNCONFIRMED which, hence a setting).
    package var sessionTimeoutCodes: [String]
    package var draftMode: DraftMode
    /// Where the JAGGAER PO number is kept on a B1 purchase order: `NumAtCard` (the vendor reference) or a
    /// user-defined field such as `U_JaggaerPO`.
    package var purchaseOrderNumberField: String
    /// ERP-neutral dimension code → the line field that carries its distribution rule (`CostingCode` for
    /// dimension 1 … `CostingCode5`).
    package var costingCodes: [String: String]
    /// Requests per minute for every process of the connection together. The Service Layer documents no limit
    /// (UNCONFIRMED): this protects the customer's server; 429s teach the limiter a lower one.
    package var requestsPerMinute: Int
    package var vendorConflictRule: VendorConflictRule
    /// The company's time zone: `UpdateDate`/`UpdateTime` are local times of the B1 server (IANA name).
    package var timeZone: String
    /// Records per Service Layer page (`Prefer: odata.maxpagesize`; the server's default is 20).
    package var pageSize: Int

    package init(
        serviceLayerURL: String, companyDB: String, username: String, password: SecretField,
        sessionTimeoutCodes: [String] = ["301"], draftMode: DraftMode = .draft,
        purchaseOrderNumberField: String = "NumAtCard", costingCodes: [String: String] = [:],
        requestsPerMinute: Int = 600, vendorConflictRule: VendorConflictRule = .erpWins, timeZone: String = "UTC",
        pageSize: Int = 100
    ) {
        self.serviceLayerURL = serviceLayerURL
        self.companyDB = companyDB
        self.username = username
        self.password = password
        self.sessionTimeoutCodes = sessionTimeoutCodes
        self.draftMode = draftMode
        self.purchaseOrderNumberField = purchaseOrderNumberField
        self.costingCodes = costingCodes
        self.requestsPerMinute = requestsPerMinute
        self.vendorConflictRule = vendorConflictRule
        self.timeZone = timeZone
        self.pageSize = pageSize
    }

    private enum CodingKeys: String, CodingKey, CaseIterable {
        case serviceLayerURL, companyDB, username, password, sessionTimeoutCodes, draftMode
        case purchaseOrderNumberField, costingCodes, requestsPerMinute, vendorConflictRule, timeZone, pageSize
    }

    package static var settingKeys: [String] { CodingKeys.allCases.map(\.stringValue) }

    package init(from decoder: any Decoder) throws {
        try SettingsDecoding.checkKeys(decoder, known: Self.settingKeys)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = SAPBusinessOneSettings(serviceLayerURL: "", companyDB: "", username: "", password: .sealed(""))
        serviceLayerURL = try c.decode(String.self, forKey: .serviceLayerURL)
        companyDB = try c.decode(String.self, forKey: .companyDB)
        username = try c.decode(String.self, forKey: .username)
        password = try c.decode(SecretField.self, forKey: .password)
        sessionTimeoutCodes =
            try c.decodeIfPresent([String].self, forKey: .sessionTimeoutCodes) ?? d.sessionTimeoutCodes
        draftMode = try SettingsDecoding.choice(c, .draftMode) ?? d.draftMode
        purchaseOrderNumberField =
            try c.decodeIfPresent(String.self, forKey: .purchaseOrderNumberField) ?? d.purchaseOrderNumberField
        costingCodes = try c.decodeIfPresent([String: String].self, forKey: .costingCodes) ?? [:]
        requestsPerMinute = try c.decodeIfPresent(Int.self, forKey: .requestsPerMinute) ?? d.requestsPerMinute
        vendorConflictRule = try SettingsDecoding.choice(c, .vendorConflictRule) ?? d.vendorConflictRule
        timeZone = try c.decodeIfPresent(String.self, forKey: .timeZone) ?? d.timeZone
        pageSize = try c.decodeIfPresent(Int.self, forKey: .pageSize) ?? d.pageSize
    }

    /// The Service Layer root without a trailing slash.
    package var root: String { serviceLayerURL.trimmingTrailingSlash }

    /// `v1` (OData v3 conventions, `odata.nextLink`) or `v2` (OData v4).
    package var isV2: Bool { root.hasSuffix("/b1s/v2") }

    /// The line fields a dimension can be mapped to.
    package static let costingCodeFields = [
        "CostingCode", "CostingCode2", "CostingCode3", "CostingCode4", "CostingCode5",
    ]

    package var companyTimeZone: TimeZone { TimeZone(identifier: timeZone) ?? TimeZone(identifier: "UTC")! }
}

extension SAPBusinessOneSettings {
    /// Optional webhooks (FP 2602+), `notifications.sapBusinessOne`.
    package static var notificationsType: (any ERPNotificationSettings.Type)? { SAPBusinessOneNotifications.self }

    package static var ranges: [(key: String, range: ClosedRange<Int>)] {
        [("requestsPerMinute", 1...100_000), ("pageSize", 1...1000)]
    }

    package func number(_ key: String) -> Int? {
        switch key {
        case "requestsPerMinute": requestsPerMinute
        case "pageSize": pageSize
        default: nil
        }
    }

    package var secretFields: [(label: String, field: SecretField)] { [("password", password)] }

    package func replacingSecrets(_ transform: (String, SecretField) throws -> SecretField) rethrows -> Self {
        var copy = self
        copy.password = try transform("password", password)
        return copy
    }

    /// The customer's own server: no cloud domain, so the host must be listed in `network.allowedHosts`.
    package var endpoints: [ERPEndpoint] {
        [
            ERPEndpoint(
                label: "serviceLayerURL", url: serviceLayerURL, service: "sapBusinessOne", hostSuffixes: [],
                requiresListedHost: true)
        ]
    }

    package func validate(prefix: String) throws {
        let components = URLComponents(string: serviceLayerURL)
        let path = components?.path ?? ""
        let trimmed = path.hasSuffix("/") ? String(path.dropLast()) : path
        guard let components, components.scheme != nil, components.host?.isEmpty == false,
            trimmed == "/b1s/v1" || trimmed == "/b1s/v2"
        else {
            var hint = ""
            if trimmed.hasPrefix("/b1s/v1/") || trimmed.hasPrefix("/b1s/v2/") {
                hint = "; leave out \(trimmed.dropFirst(8).prefix(40)) (ml-connector adds the entity paths itself)"
            } else if trimmed.isEmpty {
                hint = "; the path /b1s/v1 (or /b1s/v2) is missing"
            }
            throw ConnectorError(
                .connectionInvalid,
                "\(prefix).serviceLayerURL must be the Service Layer root with scheme, host, port and version, e.g. https://b1.example.com:50000/b1s/v1\(hint)"
            )
        }
        for (name, value) in [("companyDB", companyDB), ("username", username)] {
            guard !value.trimmingWhitespace(newlines: false).isEmpty else {
                throw ConnectorError(.connectionInvalid, "\(prefix).\(name) must not be empty")
            }
        }
        guard !sessionTimeoutCodes.isEmpty,
            sessionTimeoutCodes.allSatisfy({ code in
                !code.isEmpty && code.count <= 20 && code.allSatisfy { $0.isASCII && ($0.isNumber || $0 == "-") }
            })
        else {
            throw ConnectorError(
                .connectionInvalid,
                "\(prefix).sessionTimeoutCodes must list Service Layer error codes such as \"301\" (digits, optionally negative)"
            )
        }
        let field = purchaseOrderNumberField
        let isUDF =
            field.hasPrefix("U_") && field.count > 2 && field.count <= 50
            && field.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_") }
        guard field == "NumAtCard" || isUDF else {
            throw ConnectorError(
                .connectionInvalid,
                "\(prefix).purchaseOrderNumberField must be NumAtCard or a user-defined field of the purchase order such as U_JaggaerPO"
            )
        }
        for (dimension, target) in costingCodes.sorted(by: { $0.key < $1.key }) {
            guard !dimension.isEmpty, Self.costingCodeFields.contains(target) else {
                throw ConnectorError(
                    .connectionInvalid,
                    "\(prefix).costingCodes.\(dimension.prefix(40)) must be one of \(Self.costingCodeFields.joined(separator: ", "))"
                )
            }
        }
        let targets = costingCodes.values.sorted()
        if Set(targets).count != targets.count {
            throw ConnectorError(
                .connectionInvalid, "\(prefix).costingCodes maps two dimensions to the same CostingCode field")
        }
        guard TimeZone(identifier: timeZone) != nil else {
            throw ConnectorError(
                .connectionInvalid,
                "\(prefix).timeZone \(timeZone.prefix(60).debugDescription) is not an IANA time zone such as Europe/Berlin"
            )
        }
    }
}
