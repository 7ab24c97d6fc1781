import ConnectorCore
import ConnectorSecurity
import Foundation

/// `notifications.financeOperations`: F&O business events delivered to an HTTPS endpoint (reference §2.6), the
/// endpoint being the gateway's `{publicURL}/webhooks/{connection}/financeOperations`.
///
/// F&O signs nothing and sends no header of the administrator's choosing: the HTTPS endpoint is a URL (kept in
/// Key Vault), so the shared secret travels in it, as a query parameter (`?code=<secret>`, the way Azure Functions
/// keys travel), or in a header where a relay in front of the gateway adds one. Which one is a setting.
package struct FinanceOperationsBusinessEvents: RotatingSecretNotificationSettings {
    /// The shared secret a delivery must carry.
    package var secret: SecretField
    package var previousSecret: SecretField?
    /// The query parameter of the endpoint URL that carries the secret (nil: a header does).
    package var queryParameter: String?
    /// The header that carries the secret instead (nil: the query parameter does).
    package var headerName: String?
    /// The business event id of "Purchase order confirmed" (reference §2.6); other events are ignored.
    package var purchaseOrderConfirmedEventId: String

    package init(
        secret: SecretField, previousSecret: SecretField? = nil, queryParameter: String? = "code",
        headerName: String? = nil, purchaseOrderConfirmedEventId: String = "PurchaseOrderConfirmedBusinessEvent"
    ) {
        self.secret = secret
        self.previousSecret = previousSecret
        self.queryParameter = queryParameter
        self.headerName = headerName
        self.purchaseOrderConfirmedEventId = purchaseOrderConfirmedEventId
    }

    private enum CodingKeys: String, CodingKey, CaseIterable {
        case secret, previousSecret, queryParameter, headerName, purchaseOrderConfirmedEventId
    }
    package static var settingKeys: [String] { CodingKeys.allCases.map(\.stringValue) }

    package init(from decoder: any Decoder) throws {
        try SettingsDecoding.checkKeys(decoder, known: Self.settingKeys)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        secret = try c.decode(SecretField.self, forKey: .secret)
        previousSecret = try c.decodeIfPresent(SecretField.self, forKey: .previousSecret)
        headerName = try c.decodeIfPresent(String.self, forKey: .headerName)
        // The query parameter is the default carrier; naming a header alone switches to it.
        queryParameter =
            c.contains(.queryParameter)
            ? try c.decodeIfPresent(String.self, forKey: .queryParameter) : (headerName == nil ? "code" : nil)
        purchaseOrderConfirmedEventId =
            try c.decodeIfPresent(String.self, forKey: .purchaseOrderConfirmedEventId)
            ?? "PurchaseOrderConfirmedBusinessEvent"
    }

    package func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(secret, forKey: .secret)
        try c.encodeIfPresent(previousSecret, forKey: .previousSecret)
        // Written even when nil, so a header-only configuration decodes the same way again.
        try c.encode(queryParameter, forKey: .queryParameter)
        try c.encodeIfPresent(headerName, forKey: .headerName)
        try c.encode(purchaseOrderConfirmedEventId, forKey: .purchaseOrderConfirmedEventId)
    }
}

extension FinanceOperationsBusinessEvents {
    package static var secretRotation: SecretRotation<Self> {
        .init(current: ("secret", \.secret), previous: ("previousSecret", \.previousSecret))
    }

    package func validate(prefix: String) throws {
        let token = CharacterSet.alphanumerics.union(CharacterSet(charactersIn: "!#$%&'*+-.^_`|~"))
        guard queryParameter != nil || headerName != nil else {
            throw ConnectorError(
                .connectionInvalid, "\(prefix) needs queryParameter or headerName: where the shared secret travels")
        }
        if let queryParameter {
            guard !queryParameter.isEmpty, queryParameter.count <= 64,
                queryParameter.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_" || $0 == "-") })
            else {
                throw ConnectorError(
                    .connectionInvalid, "\(prefix).queryParameter must be a query parameter name such as code")
            }
        }
        if let headerName {
            guard !headerName.isEmpty, headerName.unicodeScalars.allSatisfy(token.contains),
                !["accept", "content-type", "content-length", "host", "authorization"].contains(headerName.lowercased())
            else {
                throw ConnectorError(
                    .connectionInvalid,
                    "\(prefix).headerName must be an HTTP header name other than Accept, Authorization, Content-Type, Content-Length or Host"
                )
            }
        }
        guard !purchaseOrderConfirmedEventId.trimmingWhitespace(newlines: false).isEmpty else {
            throw ConnectorError(.connectionInvalid, "\(prefix).purchaseOrderConfirmedEventId must not be empty")
        }
    }

    package func validateSecret(label: String, _ secret: Secret, prefix: String) throws {
        // It travels in a URL: characters a query string carries without escaping only.
        try SharedSecretRules.check(secret, label: "\(prefix).\(label)", maxLength: 256)
        guard secret.value.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "-._~".contains($0)) }) else {
            throw ConnectorError(
                .connectionInvalid, "\(prefix).\(label) must be letters, digits and - . _ ~ only (it travels in a URL)")
        }
    }
}

/// One F&O business event as delivered to an HTTPS endpoint (reference §2.6; the payload's exact schema is
/// UNCONFIRMED, "Download schema" in F&O shows it). Only the fields the connector needs are read; the rest of the
/// payload (amounts, vendor) is never used as data.
struct FOBusinessEvent: Sendable {
    var businessEventId: String
    var controlNumber: Int64?
    var eventId: String?
    var eventTime: Date?
    var legalEntity: String?
    var purchaseOrderNumber: String?

    /// Reads one event object; a field of the wrong type is an error naming it (never its value).
    init(_ value: JSONValue, index: Int) throws {
        guard case .object(let fields) = value else {
            throw Self.malformed("event \(index) is not a JSON object")
        }
        func string(_ name: String) throws -> String? {
            switch fields[name] {
            case nil, .null?: return nil
            case .string(let text)?: return text
            default: throw Self.malformed("event \(index): \(name) must be a string")
            }
        }
        guard let id = try string("BusinessEventId"), !id.isEmpty else {
            throw Self.malformed("event \(index) has no BusinessEventId")
        }
        businessEventId = id
        switch fields["ControlNumber"] {
        case nil, .null?: controlNumber = nil
        case .number(let number)?:
            // A whole number prints without a fraction; anything else is not a control number.
            guard let whole = Int64("\(number)"), whole >= 0 else {
                throw Self.malformed("event \(index): ControlNumber must be a whole number")
            }
            controlNumber = whole
        case .string(let text)?:
            guard let whole = Int64(text), whole >= 0 else {
                throw Self.malformed("event \(index): ControlNumber must be a whole number")
            }
            controlNumber = whole
        default: throw Self.malformed("event \(index): ControlNumber must be a whole number")
        }
        eventId = try string("EventId")
        legalEntity = try string("LegalEntity")
        purchaseOrderNumber = try string("PurchaseOrderNumber")
        if let time = try string("EventTime") {
            guard let date = Self.date(time) else {
                throw Self.malformed("event \(index): EventTime must be /Date(milliseconds)/ or an ISO 8601 instant")
            }
            eventTime = date
        }
    }

    /// `/Date(1700000000000)/` (milliseconds since 1970, optionally with an offset `+0100`), or an ISO 8601 instant.
    static func date(_ text: String) -> Date? {
        if text.hasPrefix("/Date("), text.hasSuffix(")/") {
            var inner = text.dropFirst("/Date(".count).dropLast(")/".count)
            // The offset says which zone the sender was in; the instant is the milliseconds alone.
            if let sign = inner.dropFirst().firstIndex(where: { $0 == "+" || $0 == "-" }) {
                let offset = inner[sign...].dropFirst()
                guard offset.count == 4, offset.allSatisfy(\.isNumber) else { return nil }
                inner = inner[..<sign]
            }
            guard let milliseconds = Int64(inner) else { return nil }
            return Date(timeIntervalSince1970: Double(milliseconds) / 1000)
        }
        return Timestamp.parse(text)
    }

    static func malformed(_ message: String) -> ConnectorError {
        ConnectorError(NotificationErrors.malformed, kind: .badInput, "F&O business event: \(message)")
    }
}

/// F&O business events as a trigger: the delivery must carry the shared secret (constant-time compare, current and
/// previous); the body is one event object or an array of them. A "Purchase order confirmed" event of the
/// connection's legal entity becomes a ``PurchaseOrderSignal`` (number, legal entity, `ControlNumber`): the order is
/// then read over OData by its number, never taken from the payload. Events of another legal entity, and other
/// business events, are dropped with the reason. A malformed event refuses the whole delivery (400, nothing
/// accepted): F&O keeps it in its error log, from where it can be sent again.
package struct FinanceOperationsBusinessEventReceiver: ChangeNotificationReceiver {
    package init() {}

    package func receive(_ input: WebhookRequest, context: NotificationContext) async throws -> NotificationOutcome {
        guard let settings = context.connection.notifications?.typed(FinanceOperationsBusinessEvents.self),
            !context.secrets.isEmpty
        else {
            throw ConnectorError(
                NotificationErrors.notConfigured, kind: .badInput,
                "connection \(context.connection.id) takes no F&O business events (notifications.financeOperations)")
        }
        let presented =
            settings.headerName.flatMap { input.headers[$0.lowercased()] }
            ?? settings.queryParameter.flatMap { input.query[$0] }
        guard SharedSecretCheck.matches(presented, anyOf: context.secrets) else {
            let carrier =
                settings.headerName.map { "the \($0) header" } ?? "the \(settings.queryParameter ?? "code") parameter"
            throw ConnectorError(
                NotificationErrors.unauthenticated, kind: .badInput,
                "the business event lacks the configured shared secret in \(carrier)")
        }
        guard input.method == "POST" else {
            throw ConnectorError(NotificationErrors.malformed, kind: .badInput, "a business event is a POST")
        }
        let body: JSONValue = try NotificationErrors.decodeBody(input, "F&O business event")
        let items: [JSONValue]
        switch body {
        case .array(let array): items = array
        case .object: items = [body]
        default: throw FOBusinessEvent.malformed("the body is neither an event object nor an array of them")
        }
        guard !items.isEmpty else { throw FOBusinessEvent.malformed("the body holds no event") }
        let events = try items.enumerated().map { try FOBusinessEvent($1, index: $0) }
        let area = try await legalEntity(context)
        var changes = NotificationChanges(entries: events.count)
        for (index, event) in events.enumerated() {
            guard event.businessEventId == settings.purchaseOrderConfirmedEventId else {
                changes.ignore("event \(event.businessEventId.prefix(60))")
                continue
            }
            guard let number = event.purchaseOrderNumber, !number.isEmpty else {
                throw FOBusinessEvent.malformed("event \(index) has no PurchaseOrderNumber")
            }
            guard let entity = event.legalEntity, !entity.isEmpty else {
                throw FOBusinessEvent.malformed("event \(index) has no LegalEntity")
            }
            guard let control = event.controlNumber else {
                throw FOBusinessEvent.malformed("event \(index) has no ControlNumber")
            }
            guard entity.lowercased() == area.lowercased() else {
                changes.ignore("legal entity \(entity.prefix(8)) (the connection's is \(area))")
                continue
            }
            changes.purchaseOrders.append(
                PurchaseOrderSignal(
                    number: number, scope: area.lowercased(), sequence: control, eventId: event.eventId,
                    occurredAt: event.eventTime))
        }
        return .changes(changes)
    }

    /// The connection's legal entity: the setting, or the default company the connector read and kept (ping).
    func legalEntity(_ context: NotificationContext) async throws -> String {
        let settings = try context.connection.erp.typed(FinanceOperationsSettings.self)
        if let area = settings.dataAreaId { return area }
        if let cached = try await context.store.get(
            context.keys.key("erp", "fo-default-company"), as: String.self)
        {
            return cached.value
        }
        throw ConnectorError(
            NotificationErrors.notConfigured, kind: .badInput,
            "connection \(context.connection.id) does not know its legal entity yet, so business events can't be checked against it: set erp.financeOperations.dataAreaId (or run local-runner ping once)"
        )
    }
}
