import BusinessCentral
import ConnectorCore
import ConnectorFlows
import ConnectorTesting
import Foundation
import Logging
import Synchronization
import Testing

/// The renewal logic of `renew-bc-subscription` over an in-memory ERP (its HTTP side is covered end to end in
/// `WebhookTests`, against the BC simulator's handshake).
@Suite("Webhook subscription renewal")
struct RenewSubscriptionsTests {
    final class FakeERP: ChangeSubscriptions {
        let state = Mutex<(subscriptions: [ChangeSubscription], calls: [String])>(([], []))
        let clock: ManualClock
        /// As the BC connector derives it from `notifications.businessCentral` (nil: not configured).
        let subscriptionPlan: SubscriptionPlan?
        init(clock: ManualClock, plan: SubscriptionPlan? = defaultPlan) {
            self.clock = clock
            self.subscriptionPlan = plan
        }
        static let defaultPlan = SubscriptionPlan(
            system: "businessCentral", entitySets: ["vendors", "accounts"], renewBefore: 24 * 3600)

        var calls: [String] { state.withLock { $0.calls } }
        var all: [ChangeSubscription] { state.withLock { $0.subscriptions } }

        func subscriptions() async throws -> [ChangeSubscription] { all }
        func resource(forEntitySet entitySet: String) async throws -> String {
            "/api/v2.0/companies(c0ffee00-0000-0000-0000-000000000000)/\(entitySet)"
        }
        func subscribe(resource: String, notificationURL: String, clientState: Secret) async throws
            -> ChangeSubscription
        {
            let subscription = ChangeSubscription(
                id: UUID().uuidString.replacingOccurrences(of: "-", with: ""), notificationURL: notificationURL,
                resource: resource, expiresAt: clock.now().addingTimeInterval(3 * 86400), etag: "W/\"1\"",
                clientState: clientState.value)
            state.withLock {
                $0.subscriptions.append(subscription)
                $0.calls.append("create \(resource.split(separator: "/").last!)")
            }
            return subscription
        }
        func renew(_ subscription: ChangeSubscription, clientState: Secret) async throws -> ChangeSubscription {
            var renewed = subscription
            renewed.expiresAt = clock.now().addingTimeInterval(3 * 86400)
            renewed.clientState = clientState.value
            state.withLock { state in
                state.subscriptions = state.subscriptions.map { $0.id == subscription.id ? renewed : $0 }
                state.calls.append("renew \(subscription.resource.split(separator: "/").last!)")
            }
            return renewed
        }
        func unsubscribe(_ subscription: ChangeSubscription) async throws {
            state.withLock { state in
                state.subscriptions.removeAll { $0.id == subscription.id }
                state.calls.append("delete \(subscription.resource.split(separator: "/").last!)")
            }
        }
        func add(_ subscription: ChangeSubscription) { state.withLock { $0.subscriptions.append(subscription) } }
    }

    static let url = "https://hooks.example.com/webhooks/renew/businessCentral"

    func run(_ erp: FakeERP, clock: ManualClock, clientState: String = "current-state-0123456789", force: Bool = false)
        async throws -> StepResult
    {
        let connection = Connection(
            id: "renew",
            jaggaer: JaggaerSettings(baseURL: "https://x.jaggaer.com", clientId: "c", clientSecret: .sealed("s")),
            erp: ERPSettings(
                BusinessCentralSettings(
                    tenantId: "t", environment: "e", clientId: "c", clientSecret: .sealed("s"), companyName: "C")),
            notifications: NotificationSettings(
                publicURL: "https://hooks.example.com/",
                BusinessCentralNotifications(
                    clientState: .sealed("x"), resources: ["vendors", "accounts"], renewBeforeHours: 24),
                kind: BusinessCentralSettings.kind))
        let store = InMemoryStateStore()
        let context = StepContext(
            store: store, keys: try StateKeys(connection: "renew"), connection: connection, clock: clock,
            logger: Logger(label: "test"), owner: "test")
        let handler = RenewSubscriptionsHandler(context: context, erp: erp, clientState: Secret(clientState))
        let event = CloudEvent(
            source: "urn:test", type: EventType.subscriptionRenewRequested, data: .object([:]), connection: "renew")
        return try await handler.handle(event, input: SubscriptionRenewRequest(force: force))
    }

    @Test("Creates what is missing, keeps what is fresh, renews what expires soon or has an old clientState")
    func lifecycle() async throws {
        let clock = ManualClock(Date(timeIntervalSince1970: 1_800_000_000))
        let erp = FakeERP(clock: clock)
        // Somebody else's subscription on the same resource: never touched.
        erp.add(
            ChangeSubscription(
                id: "other", notificationURL: "https://elsewhere.example.com/hook",
                resource: "/api/v2.0/companies(c0ffee00-0000-0000-0000-000000000000)/vendors", expiresAt: nil,
                etag: nil,
                clientState: nil))
        var result = try await run(erp, clock: clock)
        #expect(result.detail?["created"] == "2")
        #expect(Set(erp.calls) == ["create vendors", "create accounts"])
        #expect(erp.all.filter { $0.notificationURL == Self.url }.count == 2)

        // A day later: nothing to do.
        clock.advance(by: 86400)
        result = try await run(erp, clock: clock)
        #expect(result.detail?["kept"] == "2")
        #expect(erp.calls.count == 2)

        // 1.5 days later they expire within 24 h: both renewed, none created.
        clock.advance(by: 1.5 * 86400)
        result = try await run(erp, clock: clock)
        #expect(result.detail?["renewed"] == "2")
        #expect(result.detail?["created"] == "0")

        // A new clientState: renewed at once, however fresh.
        result = try await run(erp, clock: clock, clientState: "rotated-state-0123456789")
        #expect(result.detail?["renewed"] == "2")
        #expect(
            erp.all.filter { $0.notificationURL == Self.url }.allSatisfy {
                $0.clientState == "rotated-state-0123456789"
            })

        // Our own extras (a duplicate and a resource no longer configured) are removed; the other one stays.
        erp.add(
            ChangeSubscription(
                id: "dup", notificationURL: Self.url,
                resource:
                    "https://api.businesscentral.dynamics.com/v2.0/t/e/api/v2.0/companies(c0ffee00-0000-0000-0000-000000000000)/vendors",
                expiresAt: clock.now().addingTimeInterval(3600), etag: "W/\"9\"",
                clientState: "rotated-state-0123456789"))
        erp.add(
            ChangeSubscription(
                id: "old", notificationURL: Self.url,
                resource: "/api/v2.0/companies(c0ffee00-0000-0000-0000-000000000000)/purchaseInvoices",
                expiresAt: clock.now().addingTimeInterval(86400 * 2), etag: "W/\"3\"", clientState: nil))
        result = try await run(erp, clock: clock, clientState: "rotated-state-0123456789")
        #expect(result.detail?["removed"] == "2")
        #expect(result.detail?["kept"] == "2")
        #expect(Set(erp.all.map(\.id)).isSuperset(of: ["other"]))
        #expect(!erp.all.contains { $0.id == "dup" || $0.id == "old" })
        #expect(erp.all.filter { $0.notificationURL == Self.url }.count == 2)
    }

    @Test("Without notification settings the step does nothing")
    func notConfigured() async throws {
        let clock = ManualClock(Date())
        let erp = FakeERP(clock: clock, plan: nil)
        let connection = Connection(
            id: "renew",
            jaggaer: JaggaerSettings(baseURL: "https://x.jaggaer.com", clientId: "c", clientSecret: .sealed("s")),
            erp: ERPSettings(
                BusinessCentralSettings(
                    tenantId: "t", environment: "e", clientId: "c", clientSecret: .sealed("s"), companyName: "C")))
        let context = StepContext(
            store: InMemoryStateStore(), keys: try StateKeys(connection: "renew"), connection: connection, clock: clock,
            logger: Logger(label: "test"), owner: "test")
        let result = try await RenewSubscriptionsHandler(context: context, erp: erp, clientState: nil).handle(
            CloudEvent(
                source: "s", type: EventType.subscriptionRenewRequested, data: .object([:]), connection: "renew"),
            input: SubscriptionRenewRequest())
        #expect(result.status == .ok)
        #expect(result.detail?["skipped"] != nil)
        #expect(erp.calls.isEmpty)
    }
}
