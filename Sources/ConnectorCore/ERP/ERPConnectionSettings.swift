import Foundation
import Synchronization

/// The ERP part of a connection file, `erp.<kind>`, defined by the ERP's own target (`BusinessCentralSettings`
/// in `Sources/BusinessCentral`). The core decodes it through `ERPRegistry` and never names an ERP: fields,
/// secrets, URL checks and validation all come from here.
package protocol ERPConnectionSettings: SettingsSection, Codable, Hashable, Sendable {
    /// The `erp.kind` these settings belong to (`businessCentral`); also their key under `erp`.
    static var kind: String { get }
    /// Whole-number settings and their accepted ranges, by key under `erp.<kind>` (shown in the README).
    static var ranges: [(key: String, range: ClosedRange<Int>)] { get }
    /// The settings of the ERP's change notifications, `notifications.<kind>` (nil: the ERP pushes none).
    static var notificationsType: (any ERPNotificationSettings.Type)? { get }

    /// Every secret field, labelled by its path under `erp.<kind>` (`clientSecret`).
    var secretFields: [(label: String, field: SecretField)] { get }
    /// A copy with every secret field transformed (sealed on `connections add`); labels as in `secretFields`.
    func replacingSecrets(_ transform: (String, SecretField) throws -> SecretField) rethrows -> Self
    /// The URLs the connection calls on the ERP side, for the URL policy.
    var endpoints: [ERPEndpoint] { get }
    /// The value of each whole-number setting named in `ranges`.
    func number(_ key: String) -> Int?
    /// Checks beyond decoding (identifier shapes, ranges), throwing `connection.invalid` that names the setting
    /// with its full path (`prefix` is `erp.<kind>`).
    func validate(prefix: String) throws
    /// Stricter checks run when a connection is added (`connections add`): the identifier shapes of the ERP's
    /// tenant, client and company, which otherwise fail only at run time.
    func validateIdentifiers(prefix: String) throws
    /// Checks of a secret's plaintext (a client secret that looks like an id), by label as in `secretFields`.
    func validateSecret(label: String, _ secret: Secret, prefix: String) throws
}

/// One URL a connection calls on the ERP side (or its identity provider), checked by the URL policy: `https`
/// unless `network.allowHTTP`, and a host under `hostSuffixes` or listed in `network.allowedHosts`.
package struct ERPEndpoint: Sendable, Hashable {
    /// Its path under `erp.<kind>` (`apiBaseURL`).
    package var label: String
    package var url: String
    /// The service it belongs to, for messages (`businessCentral`, `entra`).
    package var service: String
    /// Host suffixes of the cloud service (`api.businesscentral.dynamics.com`); empty when any public host may
    /// serve it (an on-premises or hosted ERP: the customer's own server).
    package var hostSuffixes: [String]
    /// Whether the host must be listed in `network.allowedHosts` whatever it is (an on-premises ERP such as SAP
    /// Business One, which has no cloud domain of its own): with empty `hostSuffixes`, no public host is
    /// accepted just because it is public.
    package var requiresListedHost: Bool

    package init(
        label: String, url: String, service: String, hostSuffixes: [String], requiresListedHost: Bool = false
    ) {
        self.label = label
        self.url = url
        self.service = service
        self.hostSuffixes = hostSuffixes
        self.requiresListedHost = requiresListedHost
    }
}

extension ERPConnectionSettings {
    package static var ranges: [(key: String, range: ClosedRange<Int>)] { [] }
    package func number(_ key: String) -> Int? { nil }
    package static var notificationsType: (any ERPNotificationSettings.Type)? { nil }
    package func validate(prefix: String) throws {}
    package func validateIdentifiers(prefix: String) throws {}
    package func validateSecret(label: String, _ secret: Secret, prefix: String) throws {}
}

/// The change-notification settings of one ERP, `notifications.<kind>` (BC webhooks, Acumatica push
/// notifications), defined by the ERP's target.
package protocol ERPNotificationSettings: SettingsSection, Codable, Hashable, Sendable {
    /// The shared secrets a notification must carry, current first, labelled by path under `notifications.<kind>`.
    var secretFields: [(label: String, field: SecretField)] { get }
    func replacingSecrets(_ transform: (String, SecretField) throws -> SecretField) rethrows -> Self
    func validate(prefix: String) throws
    /// Checks of a shared secret's plaintext (length, characters the ERP's field takes).
    func validateSecret(label: String, _ secret: Secret, prefix: String) throws
    static var ranges: [(key: String, range: ClosedRange<Int>)] { get }
    func number(_ key: String) -> Int?
}

extension ERPNotificationSettings {
    package func validate(prefix: String) throws {}
    package func validateSecret(label: String, _ secret: Secret, prefix: String) throws {}
    package static var ranges: [(key: String, range: ClosedRange<Int>)] { [] }
    package func number(_ key: String) -> Int? { nil }
}

/// Notification settings with one shared secret and, while the ERP side moves to a new one, the previous secret
/// still accepted (BC `clientState` / `previousClientState`, Acumatica `headerValue` / `previousHeaderValue`, F&O and
/// B1 `secret` / `previousSecret`). Each type names its own fields; `secretFields` and `replacingSecrets` come from
/// here, labelled by those names, current first.
package protocol RotatingSecretNotificationSettings: ERPNotificationSettings {
    static var secretRotation: SecretRotation<Self> { get }
}

/// Where a `RotatingSecretNotificationSettings` keeps its current and previous secret, and their labels (their
/// keys under `notifications.<kind>`).
package struct SecretRotation<Settings> {
    package var current: (label: String, field: WritableKeyPath<Settings, SecretField>)
    package var previous: (label: String, field: WritableKeyPath<Settings, SecretField?>)

    package init(
        current: (label: String, field: WritableKeyPath<Settings, SecretField>),
        previous: (label: String, field: WritableKeyPath<Settings, SecretField?>)
    ) {
        self.current = current
        self.previous = previous
    }
}

extension RotatingSecretNotificationSettings {
    package var secretFields: [(label: String, field: SecretField)] {
        let rotation = Self.secretRotation
        let previous: [(label: String, field: SecretField)] =
            self[keyPath: rotation.previous.field].map { [(rotation.previous.label, $0)] } ?? []
        return [(rotation.current.label, self[keyPath: rotation.current.field])] + previous
    }

    package func replacingSecrets(_ transform: (String, SecretField) throws -> SecretField) rethrows -> Self {
        let rotation = Self.secretRotation
        var copy = self
        copy[keyPath: rotation.current.field] = try transform(
            rotation.current.label, self[keyPath: rotation.current.field])
        copy[keyPath: rotation.previous.field] = try self[keyPath: rotation.previous.field].map {
            try transform(rotation.previous.label, $0)
        }
        return copy
    }
}

/// A webhook shared secret: long enough to resist guessing, short enough for the ERP's field, printable ASCII.
package enum SharedSecretRules {
    package static let minLength = 16

    package static func check(_ secret: Secret, label: String, maxLength: Int) throws {
        let length = secret.value.count
        guard length >= minLength, length <= maxLength else {
            throw ConnectorError(
                .connectionInvalid, "\(label) must be \(minLength) to \(maxLength) characters long")
        }
        guard secret.value.unicodeScalars.allSatisfy({ $0.value > 0x20 && $0.value < 0x7F }) else {
            throw ConnectorError(.connectionInvalid, "\(label) must be printable ASCII without spaces")
        }
    }
}

/// The ERP settings types this process knows, by kind. The runtime registers every ERP of the build
/// (`Systems.bootstrap()`); building an `ERPSettings` from a typed value registers its type too, so code that
/// constructs connections can decode them again.
package enum ERPRegistry {
    private static let types = Mutex<[String: any ERPConnectionSettings.Type]>([:])

    package static func register(_ list: [any ERPConnectionSettings.Type]) {
        types.withLock { types in
            for type in list { types[type.kind] = type }
        }
    }

    package static func settingsType(_ kind: String) -> (any ERPConnectionSettings.Type)? {
        types.withLock { $0[kind] }
    }

    /// Every registered kind, sorted.
    package static var kinds: [String] { types.withLock { $0.keys.sorted() } }
}
