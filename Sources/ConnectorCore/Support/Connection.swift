import Foundation

/// How a secret is given in a connection: in the stored form always `sealed` (AES-256-GCM under the master key);
/// in a connection file also as a plain value or a reference to an environment variable or a file, which
/// `connections add` resolves and seals.
package enum SecretField: Sendable, Hashable, Codable {
    case sealed(String)
    case plain(Secret)
    case env(String)
    case file(String)

    private enum CodingKeys: String, CodingKey { case sealed, env, file }

    package init(from decoder: any Decoder) throws {
        if let text = try? decoder.singleValueContainer().decode(String.self) {
            self = .plain(Secret(text))
            return
        }
        try SettingsDecoding.checkKeys(decoder, known: ["env", "file", "sealed"])
        let c = try decoder.container(keyedBy: CodingKeys.self)
        // Counted through `AnySettingsKey` (every key is a known one by now): `allKeys` of another key type would
        // cost a step process one more scan of the executable's conformance records (issue 10's step budget).
        guard try decoder.container(keyedBy: AnySettingsKey.self).allKeys.count <= 1 else {
            throw ConnectorError(
                .connectionInvalid,
                "\(SettingsDecoding.path(decoder.codingPath)) gives a secret in more than one way; use one of env, file or sealed"
            )
        }
        if let sealed = try c.decodeIfPresent(String.self, forKey: .sealed) {
            self = .sealed(sealed)
        } else if let env = try c.decodeIfPresent(String.self, forKey: .env) {
            self = .env(env)
        } else if let file = try c.decodeIfPresent(String.self, forKey: .file) {
            self = .file(file)
        } else {
            throw DecodingError.dataCorrupted(
                .init(
                    codingPath: decoder.codingPath,
                    debugDescription: "a secret is a string, {env: NAME}, {file: PATH} or {sealed: ...}")
            )
        }
    }

    /// Only the sealed form can be written anywhere: encoding a plaintext secret is refused.
    package func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        switch self {
        case .sealed(let value): try c.encode(value, forKey: .sealed)
        case .plain, .env, .file:
            throw EncodingError.invalidValue(
                "<redacted>",
                .init(codingPath: encoder.codingPath, debugDescription: "refusing to write an unsealed secret")
            )
        }
    }
}

/// One connection: a JAGGAER side, an ERP side and the settings between them. Secrets are `SecretField`s.
package struct Connection: Sendable, Codable, Hashable, SettingsSection {
    package var id: String
    package var name: String?
    package var jaggaer: JaggaerSettings
    package var erp: ERPSettings
    package var mapping: MappingRules
    package var flow: FlowSettings
    package var network: NetworkSettings
    /// Change notifications (webhooks) from the ERP; absent means the connection relies on scheduled syncs only.
    package var notifications: NotificationSettings?

    package init(
        id: String,
        name: String? = nil,
        jaggaer: JaggaerSettings,
        erp: ERPSettings,
        mapping: MappingRules = MappingRules(),
        flow: FlowSettings = FlowSettings(),
        network: NetworkSettings = NetworkSettings(),
        notifications: NotificationSettings? = nil
    ) {
        self.notifications = notifications
        self.id = id
        self.name = name
        self.jaggaer = jaggaer
        self.erp = erp
        self.mapping = mapping
        self.flow = flow
        self.network = network
    }

    private enum CodingKeys: String, CodingKey, CaseIterable {
        case id, name, jaggaer, erp, mapping, flow, network, notifications
    }

    package static var settingKeys: [String] { CodingKeys.allCases.map(\.stringValue) }
    package static var nestedSections: [(key: String, isList: Bool, type: any SettingsSection.Type)] {
        [
            ("jaggaer", false, JaggaerSettings.self), ("erp", false, ERPSettings.self),
            ("mapping", false, MappingRules.self), ("flow", false, FlowSettings.self),
            ("network", false, NetworkSettings.self), ("notifications", false, NotificationSettings.self),
        ]
    }

    /// Every leaf setting of a connection file, e.g. `erp.businessCentral.apiBaseURL` (the README's reference).
    package static var settingPaths: [String] { settingPaths(prefix: "") }

    package init(from decoder: any Decoder) throws {
        try SettingsDecoding.checkKeys(decoder, known: Self.settingKeys)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        id = try c.decode(String.self, forKey: .id)
        name = try c.decodeIfPresent(String.self, forKey: .name)
        jaggaer = try c.decode(JaggaerSettings.self, forKey: .jaggaer)
        erp = try c.decode(ERPSettings.self, forKey: .erp)
        mapping = try c.decodeIfPresent(MappingRules.self, forKey: .mapping) ?? MappingRules()
        flow = try c.decodeIfPresent(FlowSettings.self, forKey: .flow) ?? FlowSettings()
        network = try c.decodeIfPresent(NetworkSettings.self, forKey: .network) ?? NetworkSettings()
        notifications = try c.decodeIfPresent(NotificationSettings.self, forKey: .notifications)
    }

    /// All secret fields with a label, for sealing, opening and leak checks.
    package var secretFields: [(label: String, field: SecretField)] {
        var fields: [(String, SecretField)] = [("jaggaer.clientSecret", jaggaer.clientSecret)]
        fields += erp.settings.secretFields.map { ("erp.\(erp.kind).\($0.label)", $0.field) }
        if let notifications, let erpNotifications = notifications.erp {
            fields += erpNotifications.settings.secretFields.map {
                ("notifications.\(erpNotifications.kind).\($0.label)", $0.field)
            }
        }
        return fields
    }

    package func replacingSecrets(_ transform: (String, SecretField) throws -> SecretField) rethrows -> Connection {
        var copy = self
        copy.jaggaer.clientSecret = try transform("jaggaer.clientSecret", jaggaer.clientSecret)
        copy.erp = try erp.replacingSecrets(transform)
        if let erpNotifications = notifications?.erp {
            copy.notifications?.erp = try erpNotifications.replacingSecrets(transform)
        }
        return copy
    }
}

/// JAGGAER ONE (J1P) side. The invoice list path and its parameter names are UNCONFIRMED in public sources, so
/// every one of them is a setting.
package struct JaggaerSettings: Sendable, Codable, Hashable, SettingsSection {
    package var baseURL: String
    /// Full Keycloak token URL; default `{baseURL}/auth/realms/{realm}/protocol/openid-connect/token`.
    package var tokenURL: String?
    package var realm: String
    package var clientId: String
    package var clientSecret: SecretField
    package var invoiceListPath: String
    package var invoicePath: String
    package var startParameter: String
    package var pageSizeParameter: String
    package var updatedSinceParameter: String
    package var statusParameter: String?
    /// Header `workflowStatus` values that mean "approved".
    package var approvedStatuses: [String]
    package var pageSize: Int
    /// How many of a page's invoices the poll fetches at once (each is one request for the invoice with its lines).
    package var invoiceFetchConcurrency: Int
    package var requestsPerMinute: Int?
    /// How the invoice list is ordered (UNCONFIRMED for JAGGAER): `lastUpdate` (ascending by lastUpdate then
    /// invoiceId: the poll pages by keyset), `invoiceId`, `lastUpdate-desc` or `unknown` (paged by offset with
    /// shift detection).
    package var listOrder: ProcurementListOrder
    /// Query parameter and value that ask the list for an order (e.g. `orderBy` = `lastUpdate`); both or neither.
    package var sortParameter: String?
    package var sortValue: String?
    /// Purchase-order list and single-PO paths (UNCONFIRMED: JAGGAER has not published its PO export API).
    package var purchaseOrderListPath: String
    package var purchaseOrderPath: String
    /// Writing suppliers, coding values and payment statuses into JAGGAER (paths UNCONFIRMED, all settings).
    package var writer: JaggaerWriterSettings

    package init(
        baseURL: String,
        tokenURL: String? = nil,
        realm: String = "J1p-integrations",
        clientId: String,
        clientSecret: SecretField,
        invoiceListPath: String = "/j1p/api/public/ji/v1/invoices",
        invoicePath: String = "/j1p/api/public/ji/v1/invoices/{id}",
        startParameter: String = "startAt",
        pageSizeParameter: String = "maxRecords",
        updatedSinceParameter: String = "lastUpdateFrom",
        statusParameter: String? = "workflowStatus",
        approvedStatuses: [String] = ["Completed"],
        pageSize: Int = 50,
        invoiceFetchConcurrency: Int = 4,
        requestsPerMinute: Int? = nil,
        listOrder: ProcurementListOrder = .unknown,
        sortParameter: String? = nil,
        sortValue: String? = nil,
        purchaseOrderListPath: String = "/j1p/api/public/po/v1/purchaseorders",
        purchaseOrderPath: String = "/j1p/api/public/po/v1/purchaseorders/{id}",
        writer: JaggaerWriterSettings = JaggaerWriterSettings()
    ) {
        self.baseURL = baseURL
        self.tokenURL = tokenURL
        self.realm = realm
        self.clientId = clientId
        self.clientSecret = clientSecret
        self.invoiceListPath = invoiceListPath
        self.invoicePath = invoicePath
        self.startParameter = startParameter
        self.pageSizeParameter = pageSizeParameter
        self.updatedSinceParameter = updatedSinceParameter
        self.statusParameter = statusParameter
        self.approvedStatuses = approvedStatuses
        self.pageSize = pageSize
        self.invoiceFetchConcurrency = invoiceFetchConcurrency
        self.requestsPerMinute = requestsPerMinute
        self.listOrder = listOrder
        self.sortParameter = sortParameter
        self.sortValue = sortValue
        self.purchaseOrderListPath = purchaseOrderListPath
        self.purchaseOrderPath = purchaseOrderPath
        self.writer = writer
    }

    private enum CodingKeys: String, CodingKey, CaseIterable {
        case baseURL, tokenURL, realm, clientId, clientSecret, invoiceListPath, invoicePath, startParameter
        case pageSizeParameter, updatedSinceParameter, statusParameter, approvedStatuses, pageSize, requestsPerMinute
        case invoiceFetchConcurrency
        case listOrder, sortParameter, sortValue, purchaseOrderListPath, purchaseOrderPath
        case writer
    }

    package static var settingKeys: [String] { CodingKeys.allCases.map(\.stringValue) }
    package static var nestedSections: [(key: String, isList: Bool, type: any SettingsSection.Type)] {
        [("writer", false, JaggaerWriterSettings.self)]
    }

    package init(from decoder: any Decoder) throws {
        try SettingsDecoding.checkKeys(decoder, known: Self.settingKeys)
        let d = JaggaerSettings(baseURL: "", clientId: "", clientSecret: .sealed(""))
        let c = try decoder.container(keyedBy: CodingKeys.self)
        baseURL = try c.decode(String.self, forKey: .baseURL)
        tokenURL = try c.decodeIfPresent(String.self, forKey: .tokenURL)
        realm = try c.decodeIfPresent(String.self, forKey: .realm) ?? d.realm
        clientId = try c.decode(String.self, forKey: .clientId)
        clientSecret = try c.decode(SecretField.self, forKey: .clientSecret)
        invoiceListPath = try c.decodeIfPresent(String.self, forKey: .invoiceListPath) ?? d.invoiceListPath
        invoicePath = try c.decodeIfPresent(String.self, forKey: .invoicePath) ?? d.invoicePath
        startParameter = try c.decodeIfPresent(String.self, forKey: .startParameter) ?? d.startParameter
        pageSizeParameter = try c.decodeIfPresent(String.self, forKey: .pageSizeParameter) ?? d.pageSizeParameter
        updatedSinceParameter =
            try c.decodeIfPresent(String.self, forKey: .updatedSinceParameter) ?? d.updatedSinceParameter
        statusParameter =
            c.contains(.statusParameter)
            ? try c.decodeIfPresent(String.self, forKey: .statusParameter) : d.statusParameter
        approvedStatuses = try c.decodeIfPresent([String].self, forKey: .approvedStatuses) ?? d.approvedStatuses
        pageSize = try c.decodeIfPresent(Int.self, forKey: .pageSize) ?? d.pageSize
        invoiceFetchConcurrency =
            try c.decodeIfPresent(Int.self, forKey: .invoiceFetchConcurrency) ?? d.invoiceFetchConcurrency
        requestsPerMinute = try c.decodeIfPresent(Int.self, forKey: .requestsPerMinute)
        if let order = try c.decodeIfPresent(String.self, forKey: .listOrder) {
            guard let value = ProcurementListOrder(rawValue: order) else {
                let known = ProcurementListOrder.allCases.map(\.rawValue).joined(separator: ", ")
                throw ConnectorError(.connectionInvalid, "jaggaer.listOrder must be one of \(known)")
            }
            listOrder = value
        } else {
            listOrder = d.listOrder
        }
        sortParameter = try c.decodeIfPresent(String.self, forKey: .sortParameter)
        sortValue = try c.decodeIfPresent(String.self, forKey: .sortValue)
        guard (sortParameter == nil) == (sortValue == nil) else {
            throw ConnectorError(.connectionInvalid, "jaggaer.sortParameter and jaggaer.sortValue go together")
        }
        purchaseOrderListPath =
            try c.decodeIfPresent(String.self, forKey: .purchaseOrderListPath) ?? d.purchaseOrderListPath
        purchaseOrderPath = try c.decodeIfPresent(String.self, forKey: .purchaseOrderPath) ?? d.purchaseOrderPath
        writer = try c.decodeIfPresent(JaggaerWriterSettings.self, forKey: .writer) ?? d.writer
    }

    package var resolvedTokenURL: String {
        tokenURL ?? baseURL.trimmingTrailingSlash + "/auth/realms/\(realm)/protocol/openid-connect/token"
    }
}

/// The ERP side of a connection: `erp.kind` and the settings under `erp.<kind>`, whose type the ERP's own target
/// defines and `ERPRegistry` finds. Written as `{kind: businessCentral, businessCentral: {...}}`.
package struct ERPSettings: Sendable, Codable, Hashable, SettingsSection {
    package let kind: String
    package let settings: any ERPConnectionSettings

    package init(_ settings: some ERPConnectionSettings) {
        ERPRegistry.register([type(of: settings)])
        self.kind = type(of: settings).kind
        self.settings = settings
    }

    /// The settings as the ERP's own type; a configuration error when the connection is for another ERP.
    package func typed<S: ERPConnectionSettings>(_ type: S.Type = S.self) throws -> S {
        guard let typed = settings as? S else {
            throw ConnectorError(
                .connectionInvalid, "erp.kind is \(kind), but a \(S.kind) connection was expected")
        }
        return typed
    }

    /// The settings with every secret field transformed; labels are full paths (`erp.businessCentral.clientSecret`).
    package func replacingSecrets(_ transform: (String, SecretField) throws -> SecretField) rethrows -> ERPSettings {
        func open<S: ERPConnectionSettings>(
            _ settings: S, _ transform: (String, SecretField) throws -> SecretField
        ) rethrows -> ERPSettings {
            ERPSettings(try settings.replacingSecrets { try transform("erp.\(S.kind).\($0)", $1) })
        }
        return try open(settings, transform)
    }

    package static func == (lhs: ERPSettings, rhs: ERPSettings) -> Bool {
        lhs.kind == rhs.kind && AnyHashable(lhs.settings) == AnyHashable(rhs.settings)
    }

    package func hash(into hasher: inout Hasher) {
        hasher.combine(kind)
        hasher.combine(AnyHashable(settings))
    }

    private enum CodingKeys: String, CodingKey { case kind }
    package static var settingKeys: [String] { ["kind"] + ERPRegistry.kinds }
    package static var nestedSections: [(key: String, isList: Bool, type: any SettingsSection.Type)] {
        ERPRegistry.kinds.compactMap { kind in ERPRegistry.settingsType(kind).map { (kind, false, $0) } }
    }

    package init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: AnySettingsKey.self)
        let name = try c.decode(String.self, forKey: AnySettingsKey(stringValue: "kind"))
        guard let type = ERPRegistry.settingsType(name) else {
            let kinds = ERPRegistry.kinds
            throw ConnectorError(
                .connectionInvalid,
                "\(SettingsDecoding.path(decoder.codingPath, "kind")) is \(name.prefix(40).debugDescription); this build supports \(kinds.isEmpty ? "no ERP (the ERP registry was not set up)" : kinds.joined(separator: ", "))"
            )
        }
        try SettingsDecoding.checkKeys(decoder, known: ["kind", name])
        let key = AnySettingsKey(stringValue: name)
        guard c.contains(key) else {
            throw ConnectorError(
                .connectionInvalid,
                "\(SettingsDecoding.path(decoder.codingPath, "kind")) is \(name) but \(SettingsDecoding.path(decoder.codingPath, name)) is missing"
            )
        }
        func decode<S: ERPConnectionSettings>(_ type: S.Type) throws -> any ERPConnectionSettings {
            try c.decode(S.self, forKey: key)
        }
        self.kind = name
        self.settings = try decode(type)
    }

    package func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: AnySettingsKey.self)
        try c.encode(kind, forKey: AnySettingsKey(stringValue: "kind"))
        try c.encode(settings, forKey: AnySettingsKey(stringValue: kind))
    }
}

/// How JAGGAER coding becomes ERP coding.
package struct MappingRules: Sendable, Codable, Hashable, SettingsSection {
    /// Which line segment holds the G/L account.
    package var accountSegment: String
    /// Segment → ERP dimension rules.
    package var dimensions: [SegmentDimensionRule]
    /// Explicit JAGGAER supplier number → ERP vendor number (otherwise: the same number, if the ERP has it).
    package var vendors: [String: String]
    /// Explicit account segment value → ERP G/L account (otherwise: the same number, if the ERP has it).
    package var accounts: [String: String]
    /// Per ERP dimension: segment value → dimension value code (otherwise: the same code, if the ERP has it).
    package var dimensionValues: [String: [String: String]]
    /// JAGGAER line tax code (custom field `TaxCode`) → ERP tax code; unmapped codes leave the ERP's default.
    package var taxCodes: [String: String]
    /// G/L account for the supplier-stated tax (a separate line). Required when an invoice carries tax.
    package var taxAccount: String?
    /// G/L account for shipping and handling charges. Required when an invoice carries them.
    package var chargesAccount: String?
    /// G/L account for header discounts. Required when an invoice carries one.
    package var discountAccount: String?
    /// The ERP company's local currency: invoices in it are written without a currency code.
    package var localCurrency: String?
    /// Largest difference between the coded lines and the JAGGAER total that is still accepted.
    package var totalTolerance: Decimal
    /// Which tax figure is booked: JAGGAER's current tax (`taxCharge1`, the default) or the supplier's own
    /// (`tax1HeaderChargeDetail.supplierTax`). An invoice whose two figures differ goes to review either way.
    package var taxSource: TaxSource

    package enum TaxSource: String, Sendable, Codable, Hashable, CaseIterable {
        case current, supplier
    }

    package init(
        accountSegment: String = "Account",
        dimensions: [SegmentDimensionRule] = [],
        vendors: [String: String] = [:],
        accounts: [String: String] = [:],
        dimensionValues: [String: [String: String]] = [:],
        taxCodes: [String: String] = [:],
        taxAccount: String? = nil,
        chargesAccount: String? = nil,
        discountAccount: String? = nil,
        localCurrency: String? = nil,
        totalTolerance: Decimal = Decimal(string: "0.01")!,
        taxSource: TaxSource = .current
    ) {
        self.accountSegment = accountSegment
        self.dimensions = dimensions
        self.vendors = vendors
        self.accounts = accounts
        self.dimensionValues = dimensionValues
        self.taxCodes = taxCodes
        self.taxAccount = taxAccount
        self.chargesAccount = chargesAccount
        self.discountAccount = discountAccount
        self.localCurrency = localCurrency
        self.totalTolerance = totalTolerance
        self.taxSource = taxSource
    }

    private enum CodingKeys: String, CodingKey, CaseIterable {
        case accountSegment, dimensions, vendors, accounts, dimensionValues, taxCodes, taxAccount, chargesAccount
        case discountAccount, localCurrency, totalTolerance
        case taxSource
    }

    package static var settingKeys: [String] { CodingKeys.allCases.map(\.stringValue) }
    package static var nestedSections: [(key: String, isList: Bool, type: any SettingsSection.Type)] {
        [("dimensions", true, SegmentDimensionRule.self)]
    }

    package init(from decoder: any Decoder) throws {
        try SettingsDecoding.checkKeys(decoder, known: Self.settingKeys)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = MappingRules()
        accountSegment = try c.decodeIfPresent(String.self, forKey: .accountSegment) ?? d.accountSegment
        dimensions = try c.decodeIfPresent([SegmentDimensionRule].self, forKey: .dimensions) ?? []
        vendors = try c.decodeIfPresent([String: String].self, forKey: .vendors) ?? [:]
        accounts = try c.decodeIfPresent([String: String].self, forKey: .accounts) ?? [:]
        dimensionValues = try c.decodeIfPresent([String: [String: String]].self, forKey: .dimensionValues) ?? [:]
        taxCodes = try c.decodeIfPresent([String: String].self, forKey: .taxCodes) ?? [:]
        taxAccount = try c.decodeIfPresent(String.self, forKey: .taxAccount)
        chargesAccount = try c.decodeIfPresent(String.self, forKey: .chargesAccount)
        discountAccount = try c.decodeIfPresent(String.self, forKey: .discountAccount)
        localCurrency = try c.decodeIfPresent(String.self, forKey: .localCurrency)
        totalTolerance = try c.decodeIfPresent(Decimal.self, forKey: .totalTolerance) ?? d.totalTolerance
        if let source = try c.decodeIfPresent(String.self, forKey: .taxSource) {
            guard let value = TaxSource(rawValue: source) else {
                throw DecodingError.dataCorruptedError(
                    forKey: .taxSource, in: c,
                    debugDescription:
                        "mapping.taxSource must be current or supplier, not \(source.prefix(40).debugDescription)")
            }
            taxSource = value
        } else {
            taxSource = d.taxSource
        }
    }
}

package struct SegmentDimensionRule: Sendable, Codable, Hashable, SettingsSection {
    package var segment: String
    package var dimension: String
    /// A line without this segment goes to review when true; otherwise the dimension is left empty.
    package var required: Bool

    package init(segment: String, dimension: String, required: Bool = true) {
        self.segment = segment
        self.dimension = dimension
        self.required = required
    }

    private enum CodingKeys: String, CodingKey, CaseIterable { case segment, dimension, required }
    package static var settingKeys: [String] { CodingKeys.allCases.map(\.stringValue) }

    package init(from decoder: any Decoder) throws {
        try SettingsDecoding.checkKeys(decoder, known: Self.settingKeys)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        segment = try c.decode(String.self, forKey: .segment)
        dimension = try c.decode(String.self, forKey: .dimension)
        required = try c.decodeIfPresent(Bool.self, forKey: .required) ?? true
    }
}

package struct FlowSettings: Sendable, Codable, Hashable, SettingsSection {
    /// Seconds between scheduled polls in `local-runner run`.
    package var pollIntervalSeconds: Int
    /// How far back each poll cycle re-reads, to catch records committed late with an earlier timestamp.
    package var pollOverlapSeconds: Int
    /// Where the very first poll starts.
    package var pollStartFrom: Date?
    /// Attempts per event before it goes to the dead-letter list.
    package var maxAttempts: Int
    /// Longest `Retry-After` a step waits for in-process; longer waits go back to the runner as `retry`.
    package var retryAfterCapSeconds: Int
    /// After an ambiguous create (no answer), how long to wait before trusting "not found in the ERP"; nil: the
    /// ERP's own (`ERPCapabilities.ambiguousWriteSettle`: 540 s for BC online, which cancels after 8 minutes).
    package var ambiguousWriteSettleSeconds: Int?
    /// Seconds between master-data syncs in `local-runner run`.
    package var masterDataIntervalSeconds: Int
    /// Seconds between reconciliation sweeps of the invoice poll (0: never): a cycle that lists every invoice
    /// changed in the last `reconcileLookbackDays` and captures any approved one not captured at that version.
    package var reconcileIntervalSeconds: Int
    package var reconcileLookbackDays: Int
    /// Seconds between JAGGAER purchase-order syncs in `local-runner run`.
    package var purchaseOrderIntervalSeconds: Int
    /// Whether `post-erp-invoice` posts every written draft without an operator's approval. Off by default:
    /// nothing reaches the ledger unreviewed unless the connection says so.
    package var autoPost: Bool
    /// Seconds between payment-status syncs (ERP → JAGGAER) in `local-runner run`.
    package var paymentStatusIntervalSeconds: Int
    /// How long a record's audit entries are kept; then the store expires them.
    package var auditRetentionDays: Int

    package init(
        pollIntervalSeconds: Int = 300,
        pollOverlapSeconds: Int = 300,
        pollStartFrom: Date? = nil,
        maxAttempts: Int = 5,
        retryAfterCapSeconds: Int = 30,
        ambiguousWriteSettleSeconds: Int? = nil,
        masterDataIntervalSeconds: Int = 3600,
        reconcileIntervalSeconds: Int = 86400,
        reconcileLookbackDays: Int = 7,
        purchaseOrderIntervalSeconds: Int = 900,
        autoPost: Bool = false,
        paymentStatusIntervalSeconds: Int = 3600,
        auditRetentionDays: Int = 400
    ) {
        self.pollIntervalSeconds = pollIntervalSeconds
        self.pollOverlapSeconds = pollOverlapSeconds
        self.pollStartFrom = pollStartFrom
        self.maxAttempts = maxAttempts
        self.retryAfterCapSeconds = retryAfterCapSeconds
        self.ambiguousWriteSettleSeconds = ambiguousWriteSettleSeconds
        self.masterDataIntervalSeconds = masterDataIntervalSeconds
        self.reconcileIntervalSeconds = reconcileIntervalSeconds
        self.reconcileLookbackDays = reconcileLookbackDays
        self.purchaseOrderIntervalSeconds = purchaseOrderIntervalSeconds
        self.autoPost = autoPost
        self.paymentStatusIntervalSeconds = paymentStatusIntervalSeconds
        self.auditRetentionDays = auditRetentionDays
    }

    private enum CodingKeys: String, CodingKey, CaseIterable {
        case pollIntervalSeconds, pollOverlapSeconds, pollStartFrom, maxAttempts, retryAfterCapSeconds
        case ambiguousWriteSettleSeconds, masterDataIntervalSeconds
        case reconcileIntervalSeconds, reconcileLookbackDays, purchaseOrderIntervalSeconds
        case autoPost
        case paymentStatusIntervalSeconds
        case auditRetentionDays
    }

    package static var settingKeys: [String] { CodingKeys.allCases.map(\.stringValue) }

    package init(from decoder: any Decoder) throws {
        try SettingsDecoding.checkKeys(decoder, known: Self.settingKeys)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = FlowSettings()
        pollIntervalSeconds = try c.decodeIfPresent(Int.self, forKey: .pollIntervalSeconds) ?? d.pollIntervalSeconds
        pollOverlapSeconds = try c.decodeIfPresent(Int.self, forKey: .pollOverlapSeconds) ?? d.pollOverlapSeconds
        pollStartFrom = try c.decodeIfPresent(Date.self, forKey: .pollStartFrom)
        maxAttempts = try c.decodeIfPresent(Int.self, forKey: .maxAttempts) ?? d.maxAttempts
        retryAfterCapSeconds = try c.decodeIfPresent(Int.self, forKey: .retryAfterCapSeconds) ?? d.retryAfterCapSeconds
        ambiguousWriteSettleSeconds = try c.decodeIfPresent(Int.self, forKey: .ambiguousWriteSettleSeconds)
        masterDataIntervalSeconds =
            try c.decodeIfPresent(Int.self, forKey: .masterDataIntervalSeconds) ?? d.masterDataIntervalSeconds
        reconcileIntervalSeconds =
            try c.decodeIfPresent(Int.self, forKey: .reconcileIntervalSeconds) ?? d.reconcileIntervalSeconds
        reconcileLookbackDays =
            try c.decodeIfPresent(Int.self, forKey: .reconcileLookbackDays) ?? d.reconcileLookbackDays
        purchaseOrderIntervalSeconds =
            try c.decodeIfPresent(Int.self, forKey: .purchaseOrderIntervalSeconds) ?? d.purchaseOrderIntervalSeconds
        autoPost = try c.decodeIfPresent(Bool.self, forKey: .autoPost) ?? d.autoPost
        paymentStatusIntervalSeconds =
            try c.decodeIfPresent(Int.self, forKey: .paymentStatusIntervalSeconds) ?? d.paymentStatusIntervalSeconds
        auditRetentionDays = try c.decodeIfPresent(Int.self, forKey: .auditRetentionDays) ?? d.auditRetentionDays
    }
}

package struct NetworkSettings: Sendable, Codable, Hashable, SettingsSection {
    /// Permits the `http` scheme (only for on-premises systems and the local simulators); hosts are still checked.
    package var allowHTTP: Bool
    /// Hosts (`host` or `host:port`) allowed beyond each system's own domain: an on-premises server, or
    /// `127.0.0.1` for the simulators. Private and loopback addresses are allowed only when listed here;
    /// link-local and cloud metadata addresses never are.
    package var allowedHosts: [String]
    /// Seconds a single HTTP request may take.
    package var requestTimeoutSeconds: Int
    /// PEM CA certificates of the customer's on-premises servers (a B1 Service Layer, a self-hosted Acumatica),
    /// trusted in addition to the system's roots for this connection only. Certificate verification is never
    /// turned off: a server whose certificate chains to neither is refused.
    package var trustedCertificates: [String]

    package init(
        allowHTTP: Bool = false, allowedHosts: [String] = [], requestTimeoutSeconds: Int = 60,
        trustedCertificates: [String] = []
    ) {
        self.allowHTTP = allowHTTP
        self.allowedHosts = allowedHosts
        self.requestTimeoutSeconds = requestTimeoutSeconds
        self.trustedCertificates = trustedCertificates
    }

    private enum CodingKeys: String, CodingKey, CaseIterable {
        case allowHTTP, allowedHosts, requestTimeoutSeconds, trustedCertificates
    }
    private enum RetiredKeys: String, CodingKey { case allowInsecureHTTP }
    package static var settingKeys: [String] { CodingKeys.allCases.map(\.stringValue) }

    package init(from decoder: any Decoder) throws {
        try SettingsDecoding.checkKeys(
            decoder, known: Self.settingKeys,
            retired: [
                "allowInsecureHTTP":
                    "use network.allowHTTP: true to permit http, and list the on-premises or loopback hosts to allow in network.allowedHosts (e.g. [\"127.0.0.1\"] for the simulators)"
            ])
        let c = try decoder.container(keyedBy: CodingKeys.self)
        allowHTTP = try c.decodeIfPresent(Bool.self, forKey: .allowHTTP) ?? false
        allowedHosts = try c.decodeIfPresent([String].self, forKey: .allowedHosts) ?? []
        requestTimeoutSeconds = try c.decodeIfPresent(Int.self, forKey: .requestTimeoutSeconds) ?? 60
        trustedCertificates = try c.decodeIfPresent([String].self, forKey: .trustedCertificates) ?? []
        // Connections stored by earlier versions carry `allowInsecureHTTP`: true still permits http, but no host
        // beyond the systems' own domains until the connection is added again with `allowedHosts`.
        let retired = try decoder.container(keyedBy: RetiredKeys.self)
        if try retired.decodeIfPresent(Bool.self, forKey: .allowInsecureHTTP) == true, !c.contains(.allowHTTP) {
            allowHTTP = true
        }
    }

    package func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(allowHTTP, forKey: .allowHTTP)
        try c.encode(allowedHosts, forKey: .allowedHosts)
        try c.encode(requestTimeoutSeconds, forKey: .requestTimeoutSeconds)
        if !trustedCertificates.isEmpty { try c.encode(trustedCertificates, forKey: .trustedCertificates) }
    }
}

extension String {
    package var trimmingTrailingSlash: String {
        var s = self
        while s.hasSuffix("/") { s.removeLast() }
        return s
    }
}
