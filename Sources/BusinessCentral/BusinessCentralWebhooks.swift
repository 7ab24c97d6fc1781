import ConnectorCore
import ConnectorSecurity
import Foundation

/// Business Central webhooks (`/api/v2.0/subscriptions`).
///
/// A `validationToken` query parameter is the subscription handshake, answered 200 with the token as plain text
/// (nothing stored). A notification (`{"value":[…]}`) is accepted only when every entry's `clientState` equals
/// one of the connection's secrets, compared in constant time; one forged entry refuses the whole request.
/// Deletions ask for a full read; entries about another company or an entity the flows don't read are ignored.
package struct BusinessCentralWebhooks: ChangeNotificationReceiver {
    /// Longest validation token echoed back.
    package static let maxValidationTokenLength = 1024

    package init() {}

    struct Body: Decodable {
        var value: [Entry]
    }

    struct Entry: Decodable {
        var subscriptionId: String?
        var clientState: String?
        var resource: String
        var changeType: String
    }

    package func receive(_ input: WebhookRequest, context: NotificationContext) async throws -> NotificationOutcome {
        guard context.connection.notifications?.typed(BusinessCentralNotifications.self) != nil,
            !context.secrets.isEmpty
        else {
            throw ConnectorError(
                NotificationErrors.notConfigured, kind: .badInput,
                "connection \(context.connection.id) takes no Business Central notifications (notifications.businessCentral)"
            )
        }
        if let token = input.query["validationToken"] {
            return .handshake(try Self.handshake(token))
        }
        guard input.method == "POST" else {
            throw ConnectorError(NotificationErrors.malformed, kind: .badInput, "a notification is a POST")
        }
        let body: Body = try NotificationErrors.decodeBody(input, "Business Central notification")
        guard !body.value.isEmpty else {
            // Nothing to authenticate, so nothing to accept (BC never sends an empty batch).
            throw ConnectorError(
                NotificationErrors.malformed, kind: .badInput, "the Business Central notification has no entries")
        }
        for entry in body.value where !SharedSecretCheck.matches(entry.clientState, anyOf: context.secrets) {
            throw ConnectorError(
                NotificationErrors.unauthenticated, kind: .badInput,
                "a notification's clientState does not match the connection's")
        }
        let company = try await Self.knownCompanyId(context)
        var changes = NotificationChanges(entries: body.value.count)
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
        return .changes(changes)
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
    static func knownCompanyId(_ context: NotificationContext) async throws -> String? {
        guard let bc = try? context.connection.erp.typed(BusinessCentralSettings.self) else { return nil }
        if let id = bc.companyId { return id.lowercased() }
        guard let name = bc.companyName else { return nil }
        return try await context.store.get(context.keys.key("erp", "bc-company-id", name), as: String.self)?.value
            .lowercased()
    }

    static func handshake(_ token: String) throws -> HTTPReply {
        guard !token.isEmpty, token.count <= maxValidationTokenLength,
            token.unicodeScalars.allSatisfy({ $0.value >= 0x20 && $0.value < 0x7F })
        else {
            throw ConnectorError(
                NotificationErrors.malformed, kind: .badInput,
                "the validationToken is empty, too long or not printable text")
        }
        return HTTPReply(status: 200, contentType: "text/plain; charset=utf-8", body: token)
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
