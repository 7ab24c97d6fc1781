import ConnectorCore
import ConnectorSecurity
import Foundation

/// Acumatica push notifications (SM302000, webhook destination): Acumatica sends one custom header of the
/// administrator's choosing with every push; its value is the shared secret. No signing is documented.
package struct AcumaticaPushNotifications: RotatingSecretNotificationSettings {
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

extension AcumaticaPushNotifications {
    package static var secretRotation: SecretRotation<Self> {
        .init(current: ("headerValue", \.headerValue), previous: ("previousHeaderValue", \.previousHeaderValue))
    }

    package func validate(prefix: String) throws {
        let token = CharacterSet.alphanumerics.union(CharacterSet(charactersIn: "!#$%&'*+-.^_`|~"))
        guard !headerName.isEmpty, headerName.unicodeScalars.allSatisfy(token.contains),
            !["accept", "content-type", "content-length", "host"].contains(headerName.lowercased())
        else {
            throw ConnectorError(
                .connectionInvalid,
                "\(prefix).headerName must be an HTTP header name other than Accept, Content-Type, Content-Length or Host"
            )
        }
        for kind in queries.values where !["vendors", "accounts"].contains(kind) {
            throw ConnectorError(
                .connectionInvalid,
                "\(prefix).queries maps to \(kind.prefix(40).debugDescription); expected vendors or accounts")
        }
    }

    package func validateSecret(label: String, _ secret: Secret, prefix: String) throws {
        try SharedSecretRules.check(secret, label: "\(prefix).\(label)", maxLength: 1024)
    }
}

/// Acumatica push notifications as a trigger: accepted only with the configured header carrying the configured
/// value (compared in constant time). The payload's `Query` names the generic inquiry, which the connection maps
/// to the master data it reports on; the change itself is fetched by the sync, never taken from the push.
package struct AcumaticaPushReceiver: ChangeNotificationReceiver {
    package init() {}

    struct Push: Decodable {
        var query: String
        var companyId: String?
        var id: String?
        var inserted: [JSONValue]?
        var deleted: [JSONValue]?

        private enum CodingKeys: String, CodingKey {
            case query = "Query"
            case companyId = "CompanyId"
            case id = "Id"
            case inserted = "Inserted"
            case deleted = "Deleted"
        }
    }

    package func receive(_ input: WebhookRequest, context: NotificationContext) async throws -> NotificationOutcome {
        guard let settings = context.connection.notifications?.typed(AcumaticaPushNotifications.self),
            !context.secrets.isEmpty
        else {
            throw ConnectorError(
                NotificationErrors.notConfigured, kind: .badInput,
                "connection \(context.connection.id) takes no Acumatica push notifications (notifications.acumatica)")
        }
        let presented = input.headers[settings.headerName.lowercased()]
        guard SharedSecretCheck.matches(presented, anyOf: context.secrets) else {
            throw ConnectorError(
                NotificationErrors.unauthenticated, kind: .badInput,
                "the push notification lacks the configured \(settings.headerName) header value")
        }
        guard input.method == "POST" else {
            throw ConnectorError(NotificationErrors.malformed, kind: .badInput, "a push notification is a POST")
        }
        let push: Push = try NotificationErrors.decodeBody(input, "Acumatica push notification")
        var changes = NotificationChanges(entries: 1)
        if let kind = settings.queries[push.query] {
            // An update arrives as the old row in Deleted and the new one in Inserted; only rows that left the
            // result set with nothing in their place need a full read to notice the deletion.
            let deletedOnly = !(push.deleted ?? []).isEmpty && (push.inserted ?? []).isEmpty
            changes.add(kind, full: deletedOnly)
        } else {
            changes.ignore("query \(push.query.prefix(60))")
        }
        if let id = push.id { changes.detail["pushId"] = String(id.prefix(80)) }
        return .changes(changes)
    }
}
