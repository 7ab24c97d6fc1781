import Foundation

/// An ERP's change-notification subscriptions (Business Central webhooks), kept by `renew-bc-subscription`.
package protocol ChangeSubscriptions: Sendable {
    /// What the connection wants subscribed (nil: its notifications are not configured).
    var subscriptionPlan: SubscriptionPlan? { get }
    /// Every subscription the ERP environment has (other integrations' included).
    func subscriptions() async throws -> [ChangeSubscription]
    /// The ERP's resource path for one entity set of the connection's company.
    func resource(forEntitySet entitySet: String) async throws -> String
    func subscribe(resource: String, notificationURL: String, clientState: Secret) async throws -> ChangeSubscription
    func renew(_ subscription: ChangeSubscription, clientState: Secret) async throws -> ChangeSubscription
    func unsubscribe(_ subscription: ChangeSubscription) async throws
}

package struct ChangeSubscription: Codable, Sendable, Hashable {
    package var id: String
    package var notificationURL: String
    package var resource: String
    package var expiresAt: Date?
    package var etag: String?
    /// The `clientState` the ERP holds for the subscription, to see whether it is the current one. A secret: it is
    /// only compared (in constant time), never logged or stored.
    package var clientState: String?

    package init(
        id: String, notificationURL: String, resource: String, expiresAt: Date?, etag: String?, clientState: String?
    ) {
        self.id = id
        self.notificationURL = notificationURL
        self.resource = resource
        self.expiresAt = expiresAt
        self.etag = etag
        self.clientState = clientState
    }

    /// The entity set and company a resource names, whether BC returned it relative or absolute.
    package var normalizedResource: String { Self.normalize(resource) }

    package static func normalize(_ resource: String) -> String {
        let lower = resource.lowercased()
        guard let range = lower.range(of: "companies(") else { return lower }
        return String(lower[range.lowerBound...])
    }
}

/// The subscriptions a connection wants: the entity sets, and how long before expiry they are renewed.
package struct SubscriptionPlan: Sendable, Hashable {
    /// The system name in the gateway URL (`/webhooks/{connection}/{system}`) and the state key.
    package var system: String
    package var entitySets: [String]
    package var renewBefore: TimeInterval

    package init(system: String, entitySets: [String], renewBefore: TimeInterval) {
        self.system = system
        self.entitySets = entitySets
        self.renewBefore = renewBefore
    }
}
