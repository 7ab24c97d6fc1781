import ConnectorCore
import ConnectorSecurity
import Foundation

package struct SubscriptionRenewRequest: Codable, Sendable, Hashable {
    /// Renew every subscription now, however long it still has.
    package var force: Bool?
    package init(force: Bool? = nil) { self.force = force }
}

/// `renew-bc-subscription`: keeps one Business Central webhook subscription per configured entity set pointing at
/// the connection's gateway URL, with the current `clientState`. Idempotent: it reads the environment's
/// subscriptions first, creates the missing ones, renews those that expire within `renewBeforeHours` or still
/// carry an old `clientState`, and removes only its own extras (same URL, a resource no longer configured, or a
/// second one for the same resource). Other integrations' subscriptions are never touched, and nothing is torn
/// down when a process stops.
package struct RenewSubscriptionsHandler: StepHandler {
    package typealias Input = SubscriptionRenewRequest
    package static let step = "renew-bc-subscription"
    package static let acceptedTypes: Set<String> = [EventType.subscriptionRenewRequested]

    package let context: StepContext
    /// Nil when the connection's ERP has no webhook subscriptions.
    package let erp: (any ChangeSubscriptions)?
    /// The current `clientState` (nil when notifications are not configured).
    package let clientState: Secret?

    package init(context: StepContext, erp: (any ChangeSubscriptions)?, clientState: Secret?) {
        self.context = context
        self.erp = erp
        self.clientState = clientState
    }

    package static func recordId(for event: CloudEvent) -> String { "subscriptions/businessCentral" }

    package func handle(_ event: CloudEvent, input: SubscriptionRenewRequest) async throws -> StepResult {
        let connection = context.connection
        guard let erp else {
            return StepResult(status: .ok, detail: ["skipped": "the ERP has no webhook subscriptions"])
        }
        guard let plan = erp.subscriptionPlan, let clientState else {
            return StepResult(
                status: .ok, detail: ["skipped": "notifications.\(connection.erp.kind) is not configured"])
        }
        guard let url = connection.notifications?.notificationURL(connection: connection.id, system: plan.system)
        else {
            throw ConnectorError(
                .connectionInvalid, "notifications.publicURL is needed to subscribe to \(plan.system) webhooks")
        }
        let now = context.clock.now()
        let renewBy = now.addingTimeInterval(plan.renewBefore)
        let existing = try await erp.subscriptions().filter { $0.notificationURL == url }
        var wanted: [String: String] = [:]
        for entitySet in plan.entitySets {
            let resource = try await erp.resource(forEntitySet: entitySet)
            wanted[ChangeSubscription.normalize(resource)] = resource
        }
        var counts = ["created": 0, "renewed": 0, "kept": 0, "removed": 0]
        var kept: [ChangeSubscription] = []
        var seen = Set<String>()
        for subscription in existing.sorted(by: { ($0.expiresAt ?? .distantPast) > ($1.expiresAt ?? .distantPast) }) {
            let key = subscription.normalizedResource
            guard wanted[key] != nil, !seen.contains(key) else {
                try await erp.unsubscribe(subscription)
                counts["removed", default: 0] += 1
                continue
            }
            seen.insert(key)
            let current = SharedSecretCheck.matches(subscription.clientState, anyOf: [clientState])
            let expiring = (subscription.expiresAt ?? .distantPast) <= renewBy
            if input.force == true || expiring || !current {
                kept.append(try await handshaking(url) { try await erp.renew(subscription, clientState: clientState) })
                counts["renewed", default: 0] += 1
            } else {
                kept.append(subscription)
                counts["kept", default: 0] += 1
            }
        }
        for (key, resource) in wanted.sorted(by: { $0.key < $1.key }) where !seen.contains(key) {
            kept.append(
                try await handshaking(url) {
                    try await erp.subscribe(resource: resource, notificationURL: url, clientState: clientState)
                })
            counts["created", default: 0] += 1
        }
        let state = SubscriptionState(
            checkedAt: now,
            subscriptions: kept.map { .init(id: $0.id, resource: $0.resource, expiresAt: $0.expiresAt) })
        try await context.store.put(context.keys.key("subscriptions", plan.system), json: state)
        var detail = counts.mapValues(String.init)
        if let next = kept.compactMap(\.expiresAt).min() { detail["earliestExpiry"] = Timestamp.format(next) }
        return StepResult(status: .ok, detail: detail)
    }
}

extension RenewSubscriptionsHandler {
    /// Creating or renewing a subscription makes BC call our own gateway for the handshake first; a 400 then
    /// usually means the handshake failed (the gateway was restarting, or a step crashed), which the next attempt
    /// can fix, so it is retried instead of being final. (BC's error code for a failed handshake is UNCONFIRMED.)
    func handshaking<T>(_ url: String, _ body: () async throws -> T) async throws -> T {
        do {
            return try await body()
        } catch let error as ConnectorError where error.kind == .rejected && error.httpStatus == 400 {
            throw ConnectorError(
                error.code, kind: .temporary,
                "\(error.message); BC's handshake with \(url) may have failed: check that the gateway answers there",
                retryAt: context.clock.now().addingTimeInterval(30), httpStatus: error.httpStatus)
        }
    }
}

/// What the connector last saw of its subscriptions (for operators; BC stays the source of truth).
package struct SubscriptionState: Codable, Sendable, Hashable {
    package struct Entry: Codable, Sendable, Hashable {
        package var id: String
        package var resource: String
        package var expiresAt: Date?
    }
    package var checkedAt: Date
    package var subscriptions: [Entry]
}
