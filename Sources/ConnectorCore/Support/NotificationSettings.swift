import Foundation

/// Change notifications pushed by the ERP to ml-connector's webhook gateway. A notification is never trusted as
/// data: it only starts a delta sync of the kind of record it names, which reads the ERP itself.
package struct NotificationSettings: Sendable, Codable, Hashable, SettingsSection {
    /// The gateway's public base URL as the ERP reaches it (e.g. `https://hooks.example.com`); the gateway serves
    /// `{publicURL}/webhooks/{connection}/{system}`. Needed to create Business Central subscriptions.
    package var publicURL: String?
    package var businessCentral: BusinessCentralNotifications?
    package var acumatica: AcumaticaPushNotifications?

    package init(
        publicURL: String? = nil, businessCentral: BusinessCentralNotifications? = nil,
        acumatica: AcumaticaPushNotifications? = nil
    ) {
        self.publicURL = publicURL
        self.businessCentral = businessCentral
        self.acumatica = acumatica
    }

    private enum CodingKeys: String, CodingKey, CaseIterable { case publicURL, businessCentral, acumatica }
    package static var settingKeys: [String] { CodingKeys.allCases.map(\.stringValue) }
    package static var nestedSections: [(key: String, isList: Bool, type: any SettingsSection.Type)] {
        [
            ("businessCentral", false, BusinessCentralNotifications.self),
            ("acumatica", false, AcumaticaPushNotifications.self),
        ]
    }

    package init(from decoder: any Decoder) throws {
        try SettingsDecoding.checkKeys(decoder, known: Self.settingKeys)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        publicURL = try c.decodeIfPresent(String.self, forKey: .publicURL)
        businessCentral = try c.decodeIfPresent(BusinessCentralNotifications.self, forKey: .businessCentral)
        acumatica = try c.decodeIfPresent(AcumaticaPushNotifications.self, forKey: .acumatica)
    }

    /// The URL the ERP calls for one system's notifications.
    package func notificationURL(connection: String, system: String) -> String? {
        publicURL.map { "\($0.trimmingTrailingSlash)/webhooks/\(connection)/\(system)" }
    }
}

/// Business Central webhooks (`/api/v2.0/subscriptions`): every notification carries the subscription's
/// `clientState`, which serves as the shared secret.
package struct BusinessCentralNotifications: Sendable, Codable, Hashable, SettingsSection {
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

/// Acumatica push notifications (SM302000, webhook destination): Acumatica sends one custom header of the
/// administrator's choosing with every push; its value is the shared secret. No signing is documented.
package struct AcumaticaPushNotifications: Sendable, Codable, Hashable, SettingsSection {
    /// The header name configured on the push notification (Header Name).
    package var headerName: String
    /// Its value (Header Value).
    package var headerValue: SecretField
    package var previousHeaderValue: SecretField?
    /// Push notification query (the payload's `Query`) → the master data it reports on (`vendors`, `accounts`).
    package var queries: [String: String]

    package init(
        headerName: String = "X-MLC-Webhook-Secret", headerValue: SecretField, previousHeaderValue: SecretField? = nil,
        queries: [String: String] = [:]
    ) {
        self.headerName = headerName
        self.headerValue = headerValue
        self.previousHeaderValue = previousHeaderValue
        self.queries = queries
    }

    private enum CodingKeys: String, CodingKey, CaseIterable {
        case headerName, headerValue, previousHeaderValue, queries
    }
    package static var settingKeys: [String] { CodingKeys.allCases.map(\.stringValue) }

    package init(from decoder: any Decoder) throws {
        try SettingsDecoding.checkKeys(decoder, known: Self.settingKeys)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        headerName = try c.decodeIfPresent(String.self, forKey: .headerName) ?? "X-MLC-Webhook-Secret"
        headerValue = try c.decode(SecretField.self, forKey: .headerValue)
        previousHeaderValue = try c.decodeIfPresent(SecretField.self, forKey: .previousHeaderValue)
        queries = try c.decodeIfPresent([String: String].self, forKey: .queries) ?? [:]
    }
}
