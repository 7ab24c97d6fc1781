import Foundation

/// Change notifications pushed by the ERP to ml-connector's webhook gateway. A notification is never trusted as
/// data: it only starts a delta sync of the kind of record it names, which reads the ERP itself.
///
/// Written as `{publicURL: ..., <kind>: {...}}`, where `<kind>` is an ERP whose target defines notification
/// settings (`ERPConnectionSettings.notificationsType`).
package struct NotificationSettings: Sendable, Codable, Hashable, SettingsSection {
    /// The gateway's public base URL as the ERP reaches it (e.g. `https://hooks.example.com`); the gateway serves
    /// `{publicURL}/webhooks/{connection}/{system}`. Needed to create Business Central subscriptions.
    package var publicURL: String?
    /// The ERP's own notification settings.
    package var erp: ERPNotifications?

    package init(publicURL: String? = nil, erp: ERPNotifications? = nil) {
        self.publicURL = publicURL
        self.erp = erp
    }

    package init(publicURL: String? = nil, _ settings: some ERPNotificationSettings, kind: String) {
        self.publicURL = publicURL
        self.erp = ERPNotifications(kind: kind, settings: settings)
    }

    /// The settings of one ERP's notifications as its own type, when the connection has them.
    package func typed<S: ERPNotificationSettings>(_ type: S.Type = S.self) -> S? {
        erp?.settings as? S
    }

    static var notifyingKinds: [(kind: String, type: any ERPNotificationSettings.Type)] {
        ERPRegistry.kinds.compactMap { kind in
            ERPRegistry.settingsType(kind)?.notificationsType.map { (kind, $0) }
        }
    }

    package static var settingKeys: [String] { ["publicURL"] + notifyingKinds.map(\.kind) }
    package static var nestedSections: [(key: String, isList: Bool, type: any SettingsSection.Type)] {
        notifyingKinds.map { ($0.kind, false, $0.type) }
    }

    package init(from decoder: any Decoder) throws {
        try SettingsDecoding.checkKeys(decoder, known: Self.settingKeys)
        let c = try decoder.container(keyedBy: AnySettingsKey.self)
        publicURL = try c.decodeIfPresent(String.self, forKey: AnySettingsKey(stringValue: "publicURL"))
        let present = Self.notifyingKinds.filter { c.contains(AnySettingsKey(stringValue: $0.kind)) }
        guard present.count <= 1 else {
            throw ConnectorError(
                .connectionInvalid,
                "\(SettingsDecoding.path(decoder.codingPath)) configures \(present.map(\.kind).joined(separator: " and ")); a connection has one ERP"
            )
        }
        if let (kind, type) = present.first {
            func decode<S: ERPNotificationSettings>(_ type: S.Type) throws -> any ERPNotificationSettings {
                try c.decode(S.self, forKey: AnySettingsKey(stringValue: kind))
            }
            erp = ERPNotifications(kind: kind, settings: try decode(type))
        }
    }

    package func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: AnySettingsKey.self)
        try c.encodeIfPresent(publicURL, forKey: AnySettingsKey(stringValue: "publicURL"))
        if let erp { try c.encode(erp.settings, forKey: AnySettingsKey(stringValue: erp.kind)) }
    }

    /// The URL the ERP calls for one system's notifications.
    package func notificationURL(connection: String, system: String) -> String? {
        publicURL.map { "\($0.trimmingTrailingSlash)/webhooks/\(connection)/\(system)" }
    }
}

/// One ERP's notification settings with the kind they belong to.
package struct ERPNotifications: Sendable, Hashable {
    package let kind: String
    package let settings: any ERPNotificationSettings

    package init(kind: String, settings: any ERPNotificationSettings) {
        self.kind = kind
        self.settings = settings
    }

    package func replacingSecrets(_ transform: (String, SecretField) throws -> SecretField) rethrows
        -> ERPNotifications
    {
        func open<S: ERPNotificationSettings>(
            _ settings: S, _ transform: (String, SecretField) throws -> SecretField
        ) rethrows -> ERPNotifications {
            ERPNotifications(
                kind: kind, settings: try settings.replacingSecrets { try transform("notifications.\(kind).\($0)", $1) }
            )
        }
        return try open(settings, transform)
    }

    package static func == (lhs: ERPNotifications, rhs: ERPNotifications) -> Bool {
        lhs.kind == rhs.kind && AnyHashable(lhs.settings) == AnyHashable(rhs.settings)
    }

    package func hash(into hasher: inout Hasher) {
        hasher.combine(kind)
        hasher.combine(AnyHashable(settings))
    }
}
