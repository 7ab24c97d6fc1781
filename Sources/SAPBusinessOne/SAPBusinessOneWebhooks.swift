import ConnectorCore
import ConnectorSecurity
import Foundation

/// SAP Business One webhooks (Service Layer, 10.0 FP 2602 and later), optional: polling stays the default and the
/// catch-up path. The subscription is registered on the B1 side (Event Subscription, `OEVC`/`AEVC1`); the
/// wire format is UNCONFIRMED in public sources (reference §2.6), so the header, its encoding and the object
/// names are settings. A delivery only names which kind of master data changed: the sync reads B1 itself.
package struct SAPBusinessOneNotifications: RotatingSecretNotificationSettings {
    package enum Authentication: String, Sendable, Codable, Hashable, CaseIterable {
        /// HMAC-SHA256 of the body under the shared secret, in `signatureHeader` (B1's default `AuthType`).
        case hmac
        /// The shared secret itself in `signatureHeader`.
        case header
    }

    /// The shared secret (HMAC key, or the header's value).
    package var secret: SecretField
    /// Still accepted while the subscription moves to a new secret.
    package var previousSecret: SecretField?
    package var authentication: Authentication
    /// The header carrying the signature or the secret (UNCONFIRMED name: set it to what the subscription sends).
    package var signatureHeader: String
    /// How the HMAC is written (UNCONFIRMED).
    package var signatureEncoding: SharedSecretCheck.SignatureEncoding
    /// B1 business object (`BizObject` / `ObjectType` of the delivery) → the master data it reports on.
    package var objects: [String: String]

    package static let defaultObjects = [
        "BusinessPartners": "vendors", "oBusinessPartners": "vendors", "2": "vendors",
        "ChartOfAccounts": "accounts", "oChartOfAccounts": "accounts", "1": "accounts",
        "ProfitCenters": "accounts", "oProfitCenter": "accounts", "61": "accounts",
    ]

    package init(
        secret: SecretField, previousSecret: SecretField? = nil, authentication: Authentication = .hmac,
        signatureHeader: String = "X-SAP-Signature", signatureEncoding: SharedSecretCheck.SignatureEncoding = .hex,
        objects: [String: String] = defaultObjects
    ) {
        self.secret = secret
        self.previousSecret = previousSecret
        self.authentication = authentication
        self.signatureHeader = signatureHeader
        self.signatureEncoding = signatureEncoding
        self.objects = objects
    }

    private enum CodingKeys: String, CodingKey, CaseIterable {
        case secret, previousSecret, authentication, signatureHeader, signatureEncoding, objects
    }
    package static var settingKeys: [String] { CodingKeys.allCases.map(\.stringValue) }

    package init(from decoder: any Decoder) throws {
        try SettingsDecoding.checkKeys(decoder, known: Self.settingKeys)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = SAPBusinessOneNotifications(secret: .sealed(""))
        secret = try c.decode(SecretField.self, forKey: .secret)
        previousSecret = try c.decodeIfPresent(SecretField.self, forKey: .previousSecret)
        authentication = try SettingsDecoding.choice(c, .authentication) ?? d.authentication
        signatureHeader = try c.decodeIfPresent(String.self, forKey: .signatureHeader) ?? d.signatureHeader
        signatureEncoding = try SettingsDecoding.choice(c, .signatureEncoding) ?? d.signatureEncoding
        objects = try c.decodeIfPresent([String: String].self, forKey: .objects) ?? d.objects
    }

    package static var secretRotation: SecretRotation<Self> {
        .init(current: ("secret", \.secret), previous: ("previousSecret", \.previousSecret))
    }

    package func validate(prefix: String) throws {
        let token = CharacterSet.alphanumerics.union(CharacterSet(charactersIn: "!#$%&'*+-.^_`|~"))
        guard !signatureHeader.isEmpty, signatureHeader.unicodeScalars.allSatisfy(token.contains) else {
            throw ConnectorError(.connectionInvalid, "\(prefix).signatureHeader must be an HTTP header name")
        }
        for kind in objects.values where !["vendors", "accounts"].contains(kind) {
            throw ConnectorError(
                .connectionInvalid,
                "\(prefix).objects maps to \(kind.prefix(40).debugDescription); expected vendors or accounts")
        }
    }

    package func validateSecret(label: String, _ secret: Secret, prefix: String) throws {
        try SharedSecretRules.check(secret, label: "\(prefix).\(label)", maxLength: 1024)
    }
}

/// Verifies a B1 webhook delivery (HMAC or shared-secret header, constant time) and reads which business objects
/// it reports: one object or a list, `BizObject` / `ObjectType` with `TransType` (a deletion asks for a full read).
package struct SAPBusinessOneWebhookReceiver: ChangeNotificationReceiver {
    package init() {}

    package func receive(_ input: WebhookRequest, context: NotificationContext) async throws -> NotificationOutcome {
        guard let settings = context.connection.notifications?.typed(SAPBusinessOneNotifications.self),
            !context.secrets.isEmpty
        else {
            throw ConnectorError(
                NotificationErrors.notConfigured, kind: .badInput,
                "connection \(context.connection.id) takes no SAP Business One webhooks (notifications.sapBusinessOne)")
        }
        guard input.method == "POST" else {
            throw ConnectorError(NotificationErrors.malformed, kind: .badInput, "a webhook delivery is a POST")
        }
        let presented = input.headers[settings.signatureHeader.lowercased()]
        let authentic: Bool
        switch settings.authentication {
        case .hmac:
            authentic = SharedSecretCheck.hmacSHA256Matches(
                presented, body: Data((input.body ?? "").utf8), keys: context.secrets,
                encoding: settings.signatureEncoding)
        case .header:
            authentic = SharedSecretCheck.matches(presented, anyOf: context.secrets)
        }
        guard authentic else {
            throw ConnectorError(
                NotificationErrors.unauthenticated, kind: .badInput,
                "the delivery's \(settings.signatureHeader) does not match the connection's secret")
        }
        let body: JSONValue = try NotificationErrors.decodeBody(input, "SAP Business One webhook delivery")
        let entries: [JSONValue]
        switch body {
        case .array(let items): entries = items
        case .object(let members):
            if case .array(let items)? = members["value"] ?? members["events"] ?? members["Events"] {
                entries = items
            } else {
                entries = [body]
            }
        default:
            throw ConnectorError(
                NotificationErrors.malformed, kind: .badInput, "the SAP Business One webhook delivery is not an object")
        }
        var changes = NotificationChanges(entries: entries.count)
        for entry in entries {
            guard let object = Self.field(entry, ["BizObject", "ObjectType", "objectType", "bizObject", "Object"])
            else {
                changes.ignore("no object type")
                continue
            }
            guard let kind = settings.objects[object] else {
                changes.ignore("object \(object.prefix(40))")
                continue
            }
            let transaction = Self.field(entry, ["TransType", "transType", "EventType", "eventType"])?.lowercased()
            changes.add(kind, full: transaction == "deleted" || transaction == "d")
        }
        return .changes(changes)
    }

    /// A member's text (string or number), whichever of the spellings the delivery uses.
    static func field(_ value: JSONValue, _ names: [String]) -> String? {
        guard case .object(let members) = value else { return nil }
        for name in names {
            switch members[name] {
            case .string(let text)?: return text
            case .number(let number)?: return number.description
            default: continue
            }
        }
        return nil
    }
}
