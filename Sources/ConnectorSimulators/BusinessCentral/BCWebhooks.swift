import AsyncHTTPClient
import Foundation
import Synchronization

// Webhook subscriptions of API v2.0 (`/api/v2.0/subscriptions`), reference §1.8: the subscription registry,
// change collection and batching. The HTTP side (handshake, delivery, retries) is in BCWebhookDelivery.swift.

/// What happened to an entity.
package enum BCChangeType: String, Sendable {
    case created
    case updated
    case deleted
}

/// One change of a webhook-capable entity in a company.
package struct BCEntityChange: Sendable {
    package var companyId: String
    /// `vendors`, `accounts`, `dimensions`, `purchaseInvoices`, …
    package var entitySet: String
    package var entityId: String
    package var changeType: BCChangeType
    /// The entity's new `lastModifiedDateTime` (the simulator clock at the change for deletes).
    package var lastModified: Date

    package init(
        companyId: String,
        entitySet: String,
        entityId: String,
        changeType: BCChangeType,
        lastModified: Date
    ) {
        self.companyId = companyId
        self.entitySet = entitySet
        self.entityId = entityId
        self.changeType = changeType
        self.lastModified = lastModified
    }

    /// The vendors, accounts, dimensions and purchase invoices (lines included) added, changed or removed
    /// between two copies of one company.
    static func diff(before: BCCompanyData, after: BCCompanyData, now: Date) -> [BCEntityChange] {
        let companyId = after.company.id
        func changes<E: BCEntity>(_ set: String, _ old: [E], _ new: [E], lines: (E) -> [SimJSONObject])
            -> [BCEntityChange]
        {
            func fingerprint(_ entity: E) -> [SimJSONObject] {
                [entity.json(select: nil, expand: [], company: after)] + lines(entity)
            }
            func modified(_ entity: E) -> Date {
                entity.value("lastModifiedDateTime").stringValue.flatMap(Timestamps.parseInstant) ?? now
            }
            let oldById = Dictionary(old.map { ($0.id, $0) }, uniquingKeysWith: { first, _ in first })
            let newIds = Set(new.map(\.id))
            var result: [BCEntityChange] = []
            for entity in new {
                if let previous = oldById[entity.id] {
                    guard fingerprint(previous) != fingerprint(entity) else { continue }
                    result.append(
                        BCEntityChange(
                            companyId: companyId, entitySet: set, entityId: entity.id, changeType: .updated,
                            lastModified: modified(entity)))
                } else {
                    result.append(
                        BCEntityChange(
                            companyId: companyId, entitySet: set, entityId: entity.id, changeType: .created,
                            lastModified: modified(entity)))
                }
            }
            for entity in old where !newIds.contains(entity.id) {
                result.append(
                    BCEntityChange(
                        companyId: companyId, entitySet: set, entityId: entity.id, changeType: .deleted,
                        lastModified: now))
            }
            return result
        }
        return changes("vendors", before.vendors, after.vendors) { _ in [] }
            + changes("accounts", before.accounts, after.accounts) { _ in [] }
            + changes("dimensions", before.dimensions, after.dimensions) { _ in [] }
            // A line change notifies the header (reference §1.8).
            + changes("purchaseInvoices", before.purchaseInvoices, after.purchaseInvoices) { invoice in
                invoice.lines.map { line in
                    line.json(
                        select: nil, expand: [ExpandItem(navigation: "dimensionSetLines", nested: [])], company: after)
                }
            }
    }
}

/// Receives the store's changes.
protocol BCChangeObserver: Sendable {
    /// Whether any subscription could be interested in changes of this company (saves diffing otherwise).
    func isWatching(companyId: String) -> Bool
    func record(_ changes: [BCEntityChange])
}

/// Timing of the handshake and of notification delivery. Tests shorten all of it
/// (`POST /_sim/bc/notifications` or ``BCWebhooks/configure(_:)``).
package struct BCWebhookSettings: Sendable {
    /// HTTP method of the handshake call `{notificationUrl}?validationToken=…`, sent with an empty body.
    /// UNCONFIRMED: the docs do not name the method.
    package static let handshakeMethod = "POST"
    /// UNCONFIRMED for v2: the v2 examples say "optionalValueOf2048", the 2018 beta metadata said 250.
    package static let clientStateMaxLength = 2_048
    /// Online limit per environment (`operational-limits-online.md`).
    package static let maxSubscriptions = 200
    /// A subscription expires 3 days after it was created or last renewed.
    package static let lifetime: TimeInterval = 3 * 86_400
    /// More changes than this for one subscription in one window become one `collection` notification.
    package static let collectionThreshold = 1_000
    /// The property named in a `collection` notification's `$filter`. The BC docs write `lastDateTimeModified`
    /// (the entities' property is `lastModifiedDateTime`); the documented text is reproduced. UNCONFIRMED.
    package static let collectionFilterProperty = "lastDateTimeModified"
    /// Default retry schedule: about 36 hours in all, as BC online (reference §1.8); the exact steps are
    /// UNCONFIRMED.
    package static let defaultRetryDelays: [TimeInterval] =
        [30, 60, 300, 900, 1_800] + Array(repeating: 3_600, count: 35)

    /// Real seconds between the first change of a window and its notification (BC: about 30 s).
    package var notificationDelay: TimeInterval
    /// Real seconds to wait before each retry of a notification answered 408, 429, 5xx or not at all; its
    /// length bounds the retries.
    package var retryDelays: [TimeInterval]
    /// Real seconds the subscriber has to answer the handshake (on-prem default 5,000 ms).
    package var handshakeTimeout: TimeInterval
    /// Real seconds the subscriber has to answer one notification POST. UNCONFIRMED value.
    package var deliveryTimeout: TimeInterval

    package init(
        notificationDelay: TimeInterval = 30,
        retryDelays: [TimeInterval] = BCWebhookSettings.defaultRetryDelays,
        handshakeTimeout: TimeInterval = 5,
        deliveryTimeout: TimeInterval = 30
    ) {
        self.notificationDelay = notificationDelay
        self.retryDelays = retryDelays
        self.handshakeTimeout = handshakeTimeout
        self.deliveryTimeout = deliveryTimeout
    }

    var json: SimJSON {
        .object(
            SimJSONObject([
                "delaySeconds": .decimal(Decimal(notificationDelay)),
                "retryDelaysSeconds": .array(retryDelays.map { .decimal(Decimal($0)) }),
                "handshakeTimeoutSeconds": .decimal(Decimal(handshakeTimeout)),
                "deliveryTimeoutSeconds": .decimal(Decimal(deliveryTimeout)),
            ]))
    }
}

/// A webhook subscription (`subscriptions` entity set, not company-scoped).
package struct BCSubscription: Sendable {
    /// 32 lowercase hex digits.
    package var id: String
    package var notificationUrl: String
    /// As the client sent it (relative or absolute).
    package var resource: String
    package var clientState: String
    package var userId: String
    package var lastModified: Date
    package var expiration: Date
    /// Also the `timestamp` property; changes on every update.
    package var rowVersion: Int
    /// The company and entity set `resource` names.
    package var companyId: String
    package var entitySet: String

    /// `W/"…"`, different for every row version.
    package var etag: String {
        let raw = "'\(rowVersion);\(id.prefix(8))\(rowVersion % 97);'"
        return "W/\"" + Data(raw.utf8).base64EncodedString() + "\""
    }

    package func isExpired(at now: Date) -> Bool { expiration <= now }

    /// The entity as the API returns it, `@odata.etag` first.
    var json: SimJSONObject {
        SimJSONObject([
            "@odata.etag": .string(etag),
            "subscriptionId": .string(id),
            "notificationUrl": .string(notificationUrl),
            "resource": .string(resource),
            "userId": .string(userId),
            "lastModifiedDateTime": .string(Timestamps.millis(lastModified)),
            "clientState": .string(clientState),
            "expirationDateTime": .string(Timestamps.millis(expiration)),
            "timestamp": .int(rowVersion),
        ])
    }
}

/// Delivery statistics of one subscription (`GET /_sim/bc/subscriptions`).
package struct BCDeliveryStats: Sendable {
    /// POSTs sent, retries included.
    package var attempts = 0
    /// Batches answered 2xx.
    package var delivered = 0
    /// Batches given up after the last retry.
    package var abandoned = 0
    /// Notification entries in delivered batches.
    package var notifications = 0
    /// Changes waiting for the current window to close.
    package var pending = 0
    /// The last attempt's outcome: an HTTP status or `transport-error`.
    package var lastOutcome: String?
    package var lastAttempt: Date?
    /// Successful handshakes (create and renewals).
    package var handshakes = 0
}

/// The subscriptions of one environment and their pending notifications.
package final class BCWebhooks: Sendable {
    struct Entry {
        var subscription: BCSubscription
        var pending: [BCEntityChange] = []
        /// A delivery task is waiting for this window to close.
        var windowOpen = false
        var stats = BCDeliveryStats()
    }

    struct Removal {
        var subscription: BCSubscription
        var reason: String
        var at: Date
    }

    /// A window that opened: deliver `subscriptionId`'s pending changes after `delay`.
    struct Window {
        var subscriptionId: String
        var delay: TimeInterval
    }

    struct State {
        var entries: [Entry] = []
        var removed: [Removal] = []
        var settings = BCWebhookSettings()
        var rowVersion = 0
        /// Set while the delivery service runs (``run()``); windows opened before it starts are handed over
        /// when it does.
        var windows: AsyncStream<Window>.Continuation?
        var client: HTTPClient?
    }

    let state = Mutex(State())
    let clock: SimulatorClock
    let counters: RequestCounters
    /// The `userId` of subscriptions: the application user of the service principal.
    let userId = UUID().uuidString.lowercased()

    init(clock: SimulatorClock, counters: RequestCounters) {
        self.clock = clock
        self.counters = counters
    }

    // MARK: Settings and inspection (package API)

    /// The current timing.
    package var settings: BCWebhookSettings { state.withLock { $0.settings } }

    /// Replaces the timing; windows already open keep their delay.
    package func configure(_ settings: BCWebhookSettings) {
        state.withLock { $0.settings = settings }
    }

    /// All subscriptions, expired ones included, oldest first.
    package var subscriptions: [BCSubscription] { state.withLock { $0.entries.map(\.subscription) } }

    /// One subscription's delivery statistics.
    package func stats(subscriptionId: String) -> BCDeliveryStats? {
        state.withLock { state in
            state.entries.first { $0.subscription.id == subscriptionId.lowercased() }.map { entry in
                var stats = entry.stats
                stats.pending = entry.pending.count
                return stats
            }
        }
    }

    /// `GET /_sim/bc/subscriptions`: every subscription with its statistics, the removed ones with the reason.
    var controlJSON: SimJSON {
        let now = clock.now()
        return state.withLock { state in
            let value: [SimJSON] = state.entries.map { entry in
                var object = entry.subscription.json
                object["companyId"] = .string(entry.subscription.companyId)
                object["entitySet"] = .string(entry.subscription.entitySet)
                object["expired"] = .bool(entry.subscription.isExpired(at: now))
                let stats = entry.stats
                object["delivery"] = .object(
                    SimJSONObject([
                        "attempts": .int(stats.attempts),
                        "delivered": .int(stats.delivered),
                        "abandoned": .int(stats.abandoned),
                        "notifications": .int(stats.notifications),
                        "pending": .int(entry.pending.count),
                        "handshakes": .int(stats.handshakes),
                        "lastOutcome": stats.lastOutcome.map(SimJSON.string) ?? .null,
                        "lastAttemptDateTime": stats.lastAttempt.map { .string(Timestamps.millis($0)) } ?? .null,
                    ]))
                return .object(object)
            }
            let removed: [SimJSON] = state.removed.map { removal in
                var object = removal.subscription.json
                object["reason"] = .string(removal.reason)
                object["removedDateTime"] = .string(Timestamps.millis(removal.at))
                return .object(object)
            }
            return .object(
                SimJSONObject([
                    "value": .array(value), "removed": .array(removed), "settings": state.settings.json,
                ]))
        }
    }

    // MARK: API operations

    /// The entity sets API v2.0 supports webhooks for (reference §1.8).
    static let supportedEntitySets: Set<String> = [
        "accounts", "companyInformation", "countriesRegions", "currencies", "customerPaymentJournals", "customers",
        "dimensions", "employees", "generalLedgerEntries", "itemCategories", "items", "journals", "paymentMethods",
        "paymentTerms", "purchaseInvoices", "salesCreditMemos", "salesInvoices", "salesOrders", "salesQuotes",
        "shipmentMethods", "unitsOfMeasure", "vendors",
    ]

    static func subscriptionNotFound(_ id: String) -> BCError {
        // UNCONFIRMED wording (the table is "API Webhook Subscription").
        BCError(
            404, "Internal_RecordNotFound",
            "The API Webhook Subscription does not exist. Identification fields and values: Subscription Id='\(id)'")
    }

    /// Parses `resource` (`/api/v2.0/companies({cid})/vendors`, relative or absolute) to company and entity set.
    static func parseResource(_ resource: String, companyExists: (String) -> String?) throws(BCError) -> (
        companyId: String, entitySet: String
    ) {
        // UNCONFIRMED: codes and wording of the resource errors (BC answers 400; the text is not documented).
        func invalid(_ why: String) -> BCError {
            BCError(400, "BadRequest", "The resource '\(resource)' is not valid for a subscription: \(why).")
        }
        guard let marker = resource.range(of: "api/v2.0/", options: .backwards) else {
            throw invalid("expected /api/v2.0/companies({id})/{entitySet}")
        }
        let prefix = resource[..<marker.lowerBound]
        guard prefix.isEmpty || prefix.hasSuffix("/") else {
            throw invalid("expected /api/v2.0/companies({id})/{entitySet}")
        }
        let rest = resource[marker.upperBound...]
        guard !rest.contains("?") else { throw invalid("query options are not allowed") }
        let parts = rest.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        guard parts.count == 2, parts[0].hasPrefix("companies("), parts[0].hasSuffix(")") else {
            throw invalid("expected /api/v2.0/companies({id})/{entitySet}")
        }
        var key = String(parts[0].dropFirst("companies(".count).dropLast())
        if key.hasPrefix("id=") { key.removeFirst(3) }
        if key.hasPrefix("'"), key.hasSuffix("'"), key.count >= 2 { key = String(key.dropFirst().dropLast()) }
        let entitySet = parts[1]
        guard !entitySet.isEmpty, !entitySet.contains("(") else {
            throw invalid("a subscription is for an entity set, not for one entity")
        }
        guard supportedEntitySets.contains(entitySet) else {
            throw BCError(
                400, "BadRequest", "The entity set '\(entitySet)' does not support webhook subscriptions.")
        }
        guard let companyId = companyExists(key) else {
            throw BCError(
                400, "Internal_CompanyNotFound",
                "Cannot process the request because the company '\(key)' cannot be found.")
        }
        return (companyId, entitySet)
    }

    static func validateNotificationUrl(_ text: String) throws(BCError) {
        guard let url = URL(string: text), let scheme = url.scheme?.lowercased(), ["http", "https"].contains(scheme),
            url.host?.isEmpty == false
        else {
            // UNCONFIRMED code and wording.
            throw BCError(400, "BadRequest", "The notificationUrl '\(text)' is not a valid absolute URL.")
        }
    }

    static func validateClientState(_ text: String) throws(BCError) {
        guard text.count <= BCWebhookSettings.clientStateMaxLength else {
            // UNCONFIRMED code and wording (BC's message for a too long text field).
            throw BCError(
                400, "Application_StringExceededLength",
                "The length of the string is \(text.count), but it must be less than or equal to \(BCWebhookSettings.clientStateMaxLength) characters. Value: clientState"
            )
        }
    }

    /// Stores a subscription whose handshake succeeded.
    func insert(notificationUrl: String, resource: String, clientState: String, companyId: String, entitySet: String)
        throws(BCError) -> BCSubscription
    {
        let now = clock.now()
        let result: Result<BCSubscription, BCError> = state.withLock { state in
            guard state.entries.count < BCWebhookSettings.maxSubscriptions else {
                // UNCONFIRMED code and wording.
                return .failure(
                    BCError(
                        400, "Application_DialogException",
                        "You cannot create more than \(BCWebhookSettings.maxSubscriptions) subscriptions in this environment."
                    ))
            }
            state.rowVersion += 1
            let subscription = BCSubscription(
                id: UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased(),
                notificationUrl: notificationUrl, resource: resource, clientState: clientState, userId: userId,
                lastModified: now, expiration: now.addingTimeInterval(BCWebhookSettings.lifetime),
                rowVersion: state.rowVersion, companyId: companyId, entitySet: entitySet)
            var entry = Entry(subscription: subscription)
            entry.stats.handshakes = 1
            state.entries.append(entry)
            return .success(subscription)
        }
        return try result.get()
    }

    func subscription(id: String) -> BCSubscription? {
        state.withLock { state in state.entries.first { $0.subscription.id == id.lowercased() }?.subscription }
    }

    /// Checks `If-Match` against the subscription's current etag.
    func checkIfMatch(id: String, ifMatch: String?) throws(BCError) -> BCSubscription {
        guard let current = subscription(id: id) else { throw Self.subscriptionNotFound(id) }
        try BusinessCentralStore.checkIfMatch(ifMatch, etag: current.etag)
        return current
    }

    /// Applies a renewal whose handshake succeeded: new values, expiry now + 3 days, new etag. `etag` is the
    /// version the request was checked against; another change in the meantime is a conflict.
    func renew(
        id: String,
        etag: String,
        notificationUrl: String,
        resource: String,
        clientState: String,
        companyId: String,
        entitySet: String
    ) throws(BCError) -> BCSubscription {
        let now = clock.now()
        let result: Result<BCSubscription, BCError> = state.withLock { state in
            guard let index = state.entries.firstIndex(where: { $0.subscription.id == id.lowercased() }) else {
                return .failure(Self.subscriptionNotFound(id))
            }
            guard state.entries[index].subscription.etag == etag else {
                return .failure(BCError(409, "Request_EntityChanged", "Another user has already changed the record."))
            }
            state.rowVersion += 1
            var subscription = state.entries[index].subscription
            if subscription.companyId != companyId || subscription.entitySet != entitySet {
                state.entries[index].pending.removeAll()
            }
            subscription.notificationUrl = notificationUrl
            subscription.resource = resource
            subscription.clientState = clientState
            subscription.companyId = companyId
            subscription.entitySet = entitySet
            subscription.lastModified = now
            subscription.expiration = now.addingTimeInterval(BCWebhookSettings.lifetime)
            subscription.rowVersion = state.rowVersion
            state.entries[index].subscription = subscription
            state.entries[index].stats.handshakes += 1
            return .success(subscription)
        }
        return try result.get()
    }

    /// Removes a subscription (API DELETE, or a notification answered with a non-retryable status).
    @discardableResult
    func remove(id: String, reason: String) -> BCSubscription? {
        let now = clock.now()
        return state.withLock { state in
            guard let index = state.entries.firstIndex(where: { $0.subscription.id == id.lowercased() }) else {
                return nil
            }
            let entry = state.entries.remove(at: index)
            state.removed.append(Removal(subscription: entry.subscription, reason: reason, at: now))
            return entry.subscription
        }
    }

    // MARK: Batching

    /// Takes the pending changes of a window that closed and builds the notification body; nil when there is
    /// nothing to send (deleted or expired meanwhile).
    func closeWindow(_ subscriptionId: String) -> (url: String, body: SimJSON, count: Int)? {
        let now = clock.now()
        return state.withLock { state in
            guard let index = state.entries.firstIndex(where: { $0.subscription.id == subscriptionId }) else {
                return nil
            }
            let changes = state.entries[index].pending
            state.entries[index].pending = []
            state.entries[index].windowOpen = false
            let subscription = state.entries[index].subscription
            guard !changes.isEmpty, !subscription.isExpired(at: now) else { return nil }
            let entries = Self.notificationEntries(for: subscription, changes: changes)
            return (
                subscription.notificationUrl, .object(SimJSONObject(["value": .array(entries.map(SimJSON.object))])),
                entries.count
            )
        }
    }

    /// One entry per changed entity (repeated changes of one entity in a window collapse into one — UNCONFIRMED,
    /// the docs only say one notification covers several quick edits), or one `collection` entry for more than
    /// ``BCWebhookSettings/collectionThreshold`` changes.
    static func notificationEntries(for subscription: BCSubscription, changes: [BCEntityChange]) -> [SimJSONObject] {
        var order: [String] = []
        var merged: [String: (first: BCChangeType, last: BCChangeType, modified: Date)] = [:]
        for change in changes {
            if let existing = merged[change.entityId] {
                merged[change.entityId] = (
                    existing.first, change.changeType, max(existing.modified, change.lastModified)
                )
            } else {
                order.append(change.entityId)
                merged[change.entityId] = (change.changeType, change.changeType, change.lastModified)
            }
        }
        let base = "api/v2.0/companies(\(subscription.companyId))/\(subscription.entitySet)"
        func entry(resource: String, changeType: String, modified: Date) -> SimJSONObject {
            SimJSONObject([
                "subscriptionId": .string(subscription.id),
                "clientState": .string(subscription.clientState),
                "expirationDateTime": .string(Timestamps.millis(subscription.expiration)),
                "resource": .string(resource),
                "changeType": .string(changeType),
                "lastModifiedDateTime": .string(Timestamps.millis(modified)),
            ])
        }
        if changes.count > BCWebhookSettings.collectionThreshold {
            let earliest = changes.map(\.lastModified).min() ?? Date()
            let latest = changes.map(\.lastModified).max() ?? earliest
            // `gt` one millisecond before the first change, so that re-reading with the filter finds every change.
            let since = Timestamps.millis(earliest.addingTimeInterval(-0.001))
            return [
                entry(
                    resource: "\(base)?$filter=\(BCWebhookSettings.collectionFilterProperty) gt \(since)",
                    changeType: "collection", modified: latest)
            ]
        }
        return order.compactMap { id in
            guard let change = merged[id] else { return nil }
            let type: BCChangeType =
                change.last == .deleted ? .deleted : change.first == .created ? .created : .updated
            return entry(resource: "\(base)(\(id))", changeType: type.rawValue, modified: change.modified)
        }
    }
}

extension BCWebhooks: BCChangeObserver {
    func isWatching(companyId: String) -> Bool {
        state.withLock { state in
            state.entries.contains { $0.subscription.companyId == companyId }
        }
    }

    func record(_ changes: [BCEntityChange]) {
        let now = clock.now()
        state.withLock { state in
            for index in state.entries.indices {
                let subscription = state.entries[index].subscription
                guard !subscription.isExpired(at: now) else { continue }
                let relevant = changes.filter {
                    $0.companyId == subscription.companyId && $0.entitySet == subscription.entitySet
                }
                guard !relevant.isEmpty else { continue }
                state.entries[index].pending.append(contentsOf: relevant)
                if !state.entries[index].windowOpen {
                    state.entries[index].windowOpen = true
                    state.windows?.yield(
                        Window(subscriptionId: subscription.id, delay: state.settings.notificationDelay))
                }
            }
        }
    }
}
