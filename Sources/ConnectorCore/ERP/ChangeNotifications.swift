import Foundation

/// One HTTP request as the webhook gateway received it: the data of `notification.received`.
package struct WebhookRequest: Codable, Sendable, Hashable {
    /// Which ERP's protocol the path names (`/webhooks/{connection}/{system}`): an ERP kind.
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

/// An ERP's change notifications (BC webhooks, Acumatica push notifications), parsed and verified by the ERP's
/// own target. A notification is never trusted as data: it only names which kinds of master data changed, and
/// the flow starts a delta sync that reads the ERP itself.
package protocol ChangeNotificationReceiver: Sendable {
    /// Verifies one delivery against the connection's shared secrets (current first) in constant time, and reads
    /// what it reports. Throws `NotificationErrors` codes (bad input: the gateway answers 401 or 400, nothing is
    /// stored) when it is unauthenticated, malformed or not configured.
    func receive(_ request: WebhookRequest, context: NotificationContext) async throws -> NotificationOutcome
}

/// What a receiver may look at: the connection (its notification settings), the store (a cached company id),
/// and the plaintext shared secrets.
package struct NotificationContext: Sendable {
    package var connection: Connection
    package var store: any StateStore
    package var keys: StateKeys
    /// The shared secrets a delivery may carry, current first (then the previous one during a rotation).
    package var secrets: [Secret]

    package init(connection: Connection, store: any StateStore, keys: StateKeys, secrets: [Secret]) {
        self.connection = connection
        self.store = store
        self.keys = keys
        self.secrets = secrets
    }
}

package enum NotificationOutcome: Sendable {
    /// A subscription handshake: answer with this reply, sync nothing, audit nothing.
    case handshake(HTTPReply)
    /// The master-data kinds the delivery reports changed.
    case changes(NotificationChanges)
}

/// What one delivery asks to be synced.
package struct NotificationChanges: Sendable, Hashable {
    /// Kind (`vendors`, `accounts`) → whether a full read is needed (a deletion is invisible to a delta read).
    package var kinds: [String: Bool] = [:]
    /// Entries skipped, by reason.
    package var ignored: [String: Int] = [:]
    /// Entries the delivery carried.
    package var entries: Int
    /// Extra audit detail (Acumatica's push id).
    package var detail: [String: String] = [:]
    /// Purchase orders the delivery names (F&O business events): each is read from the ERP and pushed on.
    package var purchaseOrders: [PurchaseOrderSignal] = []

    package init(entries: Int) { self.entries = entries }

    package mutating func add(_ kind: String, full: Bool) { kinds[kind] = (kinds[kind] ?? false) || full }
    package mutating func ignore(_ reason: String) { ignored[reason, default: 0] += 1 }
}

/// The error codes of webhook handling, shared by every ERP's receiver.
package enum NotificationErrors {
    package static let unauthenticated: ConnectorError.Code = "webhook.unauthenticated"
    package static let notConfigured: ConnectorError.Code = "webhook.not_configured"
    package static let malformed: ConnectorError.Code = "webhook.malformed"

    /// Largest notification body read.
    package static let maxBodyBytes = 4 * 1024 * 1024

    /// Decodes a JSON body, refusing an empty, oversized or invalid one as bad input.
    package static func decodeBody<T: Decodable>(_ input: WebhookRequest, _ what: String) throws -> T {
        guard let body = input.body, !body.isEmpty else {
            throw ConnectorError(malformed, kind: .badInput, "the \(what) has no body")
        }
        guard body.utf8.count <= maxBodyBytes else {
            throw ConnectorError(malformed, kind: .badInput, "the \(what) is larger than \(maxBodyBytes) bytes")
        }
        do {
            return try JSONDecoder().decode(T.self, from: Data(body.utf8))
        } catch let error as DecodingError {
            throw ConnectorError(malformed, kind: .badInput, "the \(what) is not valid: \(error.safeDescription)")
        } catch {
            throw ConnectorError(malformed, kind: .badInput, "the \(what) is not JSON")
        }
    }
}
