import ConnectorCore
import ConnectorSecurity
import Foundation

/// One HTTP request as the webhook gateway received it: the data of `notification.received`.
package struct WebhookRequest: Codable, Sendable, Hashable {
    /// Which protocol the path names: `businessCentral` or `acumatica`.
    package var system: String
    package var method: String
    package var query: [String: String]
    /// Header names in lower case; repeated headers joined with ", ".
    package var headers: [String: String]
    /// The body as UTF-8 text (webhook bodies are JSON).
    package var body: String?

    package init(
        system: String, method: String, query: [String: String] = [:], headers: [String: String] = [:],
        body: String? = nil
    ) {
        self.system = system
        self.method = method
        self.query = query
        self.headers = headers
        self.body = body
    }
}

/// The shared secrets a connection's webhooks are checked against (current first, then the previous one that is
/// still accepted during a rotation).
package struct NotificationSecrets: Sendable {
    package var businessCentralClientStates: [Secret]
    package var acumaticaHeaderValues: [Secret]

    package init(businessCentralClientStates: [Secret] = [], acumaticaHeaderValues: [Secret] = []) {
        self.businessCentralClientStates = businessCentralClientStates
        self.acumaticaHeaderValues = acumaticaHeaderValues
    }
}

/// `handle-erp-notification`: authenticates a webhook request and turns it into delta syncs.
///
/// - Business Central: a `validationToken` query parameter is the subscription handshake, answered 200 with the
///   token as plain text (nothing stored). A notification (`{"value":[…]}`) is accepted only when every entry's
///   `clientState` equals the connection's secret, compared in constant time.
/// - Acumatica push notifications: accepted only with the configured header carrying the configured value.
///
/// A notification is never trusted as data: it names what changed, and the step emits a
/// `masterdata.sync_requested` for that kind, whose sync reads the ERP itself. Deletions ask for a full read.
/// Unauthenticated or unreadable requests are bad input (exit 65): nothing is stored and the gateway answers 401
/// or 400. Duplicate deliveries are harmless: they only start another idempotent delta sync.
package struct NotificationHandler: StepHandler {
    package typealias Input = WebhookRequest
    package static let step = "handle-erp-notification"
    package static let acceptedTypes: Set<String> = [EventType.notificationReceived]

    /// Largest notification body read.
    package static let maxBodyBytes = 4 * 1024 * 1024
    /// Longest validation token echoed back.
    package static let maxValidationTokenLength = 1024

    package enum Code {
        package static let unauthenticated: ConnectorError.Code = "webhook.unauthenticated"
        package static let notConfigured: ConnectorError.Code = "webhook.not_configured"
        package static let malformed: ConnectorError.Code = "webhook.malformed"
    }

    package let context: StepContext
    package let secrets: NotificationSecrets

    package init(context: StepContext, secrets: NotificationSecrets) {
        self.context = context
        self.secrets = secrets
    }

    package func handle(_ event: CloudEvent, input: WebhookRequest) async throws -> StepResult {
        switch input.system {
        case "businessCentral": return try await businessCentral(event, input)
        case "acumatica": return try acumatica(event, input)
        default:
            throw ConnectorError(
                Code.notConfigured, kind: .badInput,
                "no webhook protocol \(input.system.prefix(40).debugDescription); expected businessCentral or acumatica"
            )
        }
    }

    // MARK: Business Central

    struct BCNotificationBody: Decodable {
        var value: [BCNotification]
    }

    struct BCNotification: Decodable {
        var subscriptionId: String?
        var clientState: String?
        var resource: String
        var changeType: String
    }

    private func businessCentral(_ event: CloudEvent, _ input: WebhookRequest) async throws -> StepResult {
        guard context.connection.notifications?.businessCentral != nil, !secrets.businessCentralClientStates.isEmpty
        else {
            throw ConnectorError(
                Code.notConfigured, kind: .badInput,
                "connection \(context.connection.id) takes no Business Central notifications (notifications.businessCentral)"
            )
        }
        if let token = input.query["validationToken"] {
            return try handshake(token)
        }
        guard input.method == "POST" else {
            throw ConnectorError(Code.malformed, kind: .badInput, "a notification is a POST")
        }
        let body: BCNotificationBody = try decodeBody(input, "Business Central notification")
        guard !body.value.isEmpty else {
            // Nothing to authenticate, so nothing to accept (BC never sends an empty batch).
            throw ConnectorError(Code.malformed, kind: .badInput, "the Business Central notification has no entries")
        }
        // Authenticate every entry before acting on any: one forged entry refuses the whole request.
        for entry in body.value
        where !SharedSecretCheck.matches(entry.clientState, anyOf: secrets.businessCentralClientStates) {
            throw ConnectorError(
                Code.unauthenticated, kind: .badInput, "a notification's clientState does not match the connection's")
        }
        let company = try await knownCompanyId()
        var changes = ChangeSet()
        for entry in body.value {
            guard let resource = BCResource(entry.resource) else {
                changes.ignore("unreadable resource")
                continue
            }
            if let company, let resourceCompany = resource.companyId, resourceCompany.lowercased() != company {
                changes.ignore("other company")
                continue
            }
            guard let kind = Self.kind(of: resource.entitySet) else {
                changes.ignore(resource.entitySet)
                continue
            }
            changes.add(kind, full: entry.changeType.lowercased() == "deleted")
        }
        return try result(for: changes, event: event, entries: body.value.count, system: "businessCentral")
    }

    /// The BC entity sets whose changes a sync reads: vendors, and accounts with dimensions.
    static func kind(of entitySet: String) -> String? {
        switch entitySet {
        case "vendors": "vendors"
        case "accounts", "dimensions", "dimensionValues": "accounts"
        default: nil
        }
    }

    /// The company the connection writes to, when known without a request (configured, or looked up before).
    private func knownCompanyId() async throws -> String? {
        guard let bc = context.connection.erp.businessCentral else { return nil }
        if let id = bc.companyId { return id.lowercased() }
        guard let name = bc.companyName else { return nil }
        return try await context.store.get(context.keys.key("erp", "bc-company-id", name), as: String.self)?.value
            .lowercased()
    }

    private func handshake(_ token: String) throws -> StepResult {
        guard !token.isEmpty, token.count <= Self.maxValidationTokenLength,
            token.unicodeScalars.allSatisfy({ $0.value >= 0x20 && $0.value < 0x7F })
        else {
            throw ConnectorError(
                Code.malformed, kind: .badInput, "the validationToken is empty, too long or not printable text")
        }
        return StepResult(
            status: .ok, detail: ["handshake": "answered"],
            reply: HTTPReply(status: 200, contentType: "text/plain; charset=utf-8", body: token))
    }

    // MARK: Acumatica

    struct AcumaticaPush: Decodable {
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

    private func acumatica(_ event: CloudEvent, _ input: WebhookRequest) throws -> StepResult {
        guard let settings = context.connection.notifications?.acumatica, !secrets.acumaticaHeaderValues.isEmpty
        else {
            throw ConnectorError(
                Code.notConfigured, kind: .badInput,
                "connection \(context.connection.id) takes no Acumatica push notifications (notifications.acumatica)")
        }
        let presented = input.headers[settings.headerName.lowercased()]
        guard SharedSecretCheck.matches(presented, anyOf: secrets.acumaticaHeaderValues) else {
            throw ConnectorError(
                Code.unauthenticated, kind: .badInput,
                "the push notification lacks the configured \(settings.headerName) header value")
        }
        guard input.method == "POST" else {
            throw ConnectorError(Code.malformed, kind: .badInput, "a push notification is a POST")
        }
        let push: AcumaticaPush = try decodeBody(input, "Acumatica push notification")
        var changes = ChangeSet()
        if let kind = settings.queries[push.query] {
            // An update arrives as the old row in Deleted and the new one in Inserted; only rows that left the
            // result set with nothing in their place need a full read to notice the deletion.
            let deletedOnly = !(push.deleted ?? []).isEmpty && (push.inserted ?? []).isEmpty
            changes.add(kind, full: deletedOnly)
        } else {
            changes.ignore("query \(push.query.prefix(60))")
        }
        var result = try result(for: changes, event: event, entries: 1, system: "acumatica")
        if let id = push.id { result.detail?["pushId"] = String(id.prefix(80)) }
        return result
    }

    // MARK: Shared

    /// What one request asks to be synced.
    struct ChangeSet {
        /// Kind → whether a full read is needed.
        var kinds: [String: Bool] = [:]
        var ignored: [String: Int] = [:]

        mutating func add(_ kind: String, full: Bool) { kinds[kind] = (kinds[kind] ?? false) || full }
        mutating func ignore(_ reason: String) { ignored[reason, default: 0] += 1 }
    }

    private func result(for changes: ChangeSet, event: CloudEvent, entries: Int, system: String) throws
        -> StepResult
    {
        let source = EventSource.step(Self.step, connection: context.connection.id)
        let events = try changes.kinds.sorted(by: { $0.key < $1.key }).map { kind, full in
            try event.next(
                type: EventType.masterDataSyncRequested, source: source,
                data: MasterDataSyncRequest(full: full ? true : nil, kinds: [kind]),
                recordid: nil, id: "\(event.id)-\(kind)", time: context.clock.now())
        }
        var detail = ["system": system, "entries": String(entries)]
        if !changes.kinds.isEmpty { detail["syncs"] = changes.kinds.keys.sorted().joined(separator: ",") }
        if !changes.ignored.isEmpty {
            detail["ignored"] = changes.ignored.sorted(by: { $0.key < $1.key }).map { "\($0.key)×\($0.value)" }
                .joined(separator: ",")
        }
        return StepResult(status: .ok, events: events, detail: detail, reply: HTTPReply(status: 202))
    }

    private func decodeBody<T: Decodable>(_ input: WebhookRequest, _ what: String) throws -> T {
        guard let body = input.body, !body.isEmpty else {
            throw ConnectorError(Code.malformed, kind: .badInput, "the \(what) has no body")
        }
        guard body.utf8.count <= Self.maxBodyBytes else {
            throw ConnectorError(
                Code.malformed, kind: .badInput, "the \(what) is larger than \(Self.maxBodyBytes) bytes")
        }
        do {
            return try JSONDecoder().decode(T.self, from: Data(body.utf8))
        } catch let error as DecodingError {
            throw ConnectorError(
                Code.malformed, kind: .badInput, "the \(what) is not valid: \(error.safeDescription)")
        } catch {
            throw ConnectorError(Code.malformed, kind: .badInput, "the \(what) is not JSON")
        }
    }

    // MARK: Audit

    /// Headers worth keeping in the audit trail; all others (the Acumatica secret header among them) are dropped.
    static let auditedHeaders: Set<String> = ["content-type", "content-length", "user-agent"]

    /// The request without its credentials: headers outside ``auditedHeaders`` are dropped and every `clientState`
    /// in the body is replaced.
    package static func auditedInput(_ event: CloudEvent) -> CloudEvent {
        guard var request = try? event.data?.decode(WebhookRequest.self) else { return event }
        request.headers = request.headers.filter { auditedHeaders.contains($0.key) }
        request.query = request.query.filter { $0.key != "validationToken" }
        if let body = request.body {
            if let json = try? JSONDecoder().decode(JSONValue.self, from: Data(body.utf8)),
                let encoded = try? JSONCoding.encode(redactingClientState(json))
            {
                request.body = String(decoding: encoded, as: UTF8.self)
            } else {
                request.body = "<\(body.utf8.count) bytes, not JSON>"
            }
        }
        var copy = event
        copy.data = (try? JSONValue(encoding: request)) ?? .null
        return copy
    }

    static func redactingClientState(_ value: JSONValue) -> JSONValue {
        switch value {
        case .object(let members):
            var copy: [String: JSONValue] = [:]
            for (key, member) in members {
                copy[key] = key.lowercased() == "clientstate" ? .string("<redacted>") : redactingClientState(member)
            }
            return .object(copy)
        case .array(let items): return .array(items.map(redactingClientState))
        default: return value
        }
    }

    /// Handshakes change nothing and anyone can send one: they leave no audit entry.
    package static func audits(_ result: StepResult) -> Bool {
        result.detail?["handshake"] == nil
    }
}

/// A BC notification's `resource`: `api/v2.0/companies({id})/vendors({id})`, relative or absolute, possibly with a
/// query (`collection` notifications carry a `$filter`).
struct BCResource {
    var companyId: String?
    var entitySet: String

    init?(_ text: String) {
        var path = Substring(text)
        if let query = path.firstIndex(of: "?") { path = path[..<query] }
        let segments = path.split(separator: "/").map(String.init)
        guard let companyIndex = segments.firstIndex(where: { $0.hasPrefix("companies(") }),
            companyIndex + 1 < segments.count
        else { return nil }
        let company = segments[companyIndex]
        companyId = String(company.dropFirst("companies(".count).dropLast())
        let entity = segments[companyIndex + 1]
        entitySet = String(entity.prefix { $0 != "(" })
        guard !entitySet.isEmpty else { return nil }
    }
}
