import ConnectorCore
import ConnectorSecurity
import Foundation

/// `handle-erp-notification`: hands a webhook request to the connection's ERP's receiver (its own target parses and
/// verifies its wire format: BC webhooks, Acumatica push notifications) and turns what it reports into delta syncs.
///
/// A notification is never trusted as data: it names what changed, and the step emits a
/// `masterdata.sync_requested` for that kind, whose sync reads the ERP itself. Deletions ask for a full read.
/// Unauthenticated or unreadable requests are bad input (exit 65): nothing is stored and the gateway answers 401
/// or 400. Duplicate deliveries are harmless: they only start another idempotent delta sync.
package struct NotificationHandler: StepHandler {
    package typealias Input = WebhookRequest
    package static let step = "handle-erp-notification"
    package static let acceptedTypes: Set<String> = [EventType.notificationReceived]

    package typealias Code = NotificationErrors

    package let context: StepContext
    /// The connection's ERP's receiver (nil: the ERP pushes no notifications).
    package let receiver: (any ChangeNotificationReceiver)?
    /// The shared secrets, current first.
    package let secrets: [Secret]

    package init(context: StepContext, receiver: (any ChangeNotificationReceiver)?, secrets: [Secret]) {
        self.context = context
        self.receiver = receiver
        self.secrets = secrets
    }

    package func handle(_ event: CloudEvent, input: WebhookRequest) async throws -> StepResult {
        guard input.system == context.connection.erp.kind, let receiver else {
            throw ConnectorError(
                Code.notConfigured, kind: .badInput,
                "connection \(context.connection.id) takes no \(input.system.prefix(40).debugDescription) notifications; its ERP is \(context.connection.erp.kind)"
            )
        }
        let outcome = try await receiver.receive(
            input,
            context: NotificationContext(
                connection: context.connection, store: context.store, keys: context.keys, secrets: secrets))
        switch outcome {
        case .handshake(let reply):
            return StepResult(status: .ok, detail: ["handshake": "answered"], reply: reply)
        case .changes(var changes):
            // Purchase orders the delivery names: duplicates and late deliveries are dropped here already (read-only:
            // a signal counts as handled only once its order is pushed), each other one goes on to be read and pushed.
            let screened = try await PurchaseOrderSignals(store: context.store, keys: context.keys)
                .screen(changes.purchaseOrders)
            changes.purchaseOrders = screened.kept
            for (reason, count) in screened.dropped { changes.ignored[reason, default: 0] += count }
            return try result(for: changes, event: event, system: input.system)
        }
    }

    private func result(for changes: NotificationChanges, event: CloudEvent, system: String) throws
        -> StepResult
    {
        var changes = changes
        let source = EventSource.step(Self.step, connection: context.connection.id)
        var events = try changes.kinds.sorted(by: { $0.key < $1.key }).map { kind, full in
            try event.next(
                type: EventType.masterDataSyncRequested, source: source,
                data: MasterDataSyncRequest(full: full ? true : nil, kinds: [kind]),
                recordid: nil, id: "\(event.id)-\(kind)", time: context.clock.now())
        }
        // One event per order; its id is the signal's own (scope and sequence), the same on every redelivery.
        events += try changes.purchaseOrders.map { signal in
            try event.next(
                type: EventType.purchaseOrderConfirmed, source: source, data: PurchaseOrderPushRequest(signal: signal),
                recordid: PushPurchaseOrdersHandler.recordId(number: signal.number),
                id: "po-signal-\(signal.scope)-\(signal.sequence)", time: context.clock.now())
        }
        if !changes.purchaseOrders.isEmpty {
            changes.detail["purchaseOrders"] = changes.purchaseOrders.map(\.number).joined(separator: ",")
        }
        var detail = changes.detail.merging(["system": system, "entries": String(changes.entries)]) { _, new in new }
        if !changes.kinds.isEmpty { detail["syncs"] = changes.kinds.keys.sorted().joined(separator: ",") }
        if !changes.ignored.isEmpty {
            detail["ignored"] = changes.ignored.sorted(by: { $0.key < $1.key }).map { "\($0.key)×\($0.value)" }
                .joined(separator: ",")
        }
        return StepResult(status: .ok, events: events, detail: detail, reply: HTTPReply(status: 202))
    }

    // MARK: Audit

    /// Headers worth keeping in the audit trail; all others (the Acumatica secret header among them) are dropped.
    static let auditedHeaders: Set<String> = ["content-type", "content-length", "user-agent"]

    /// The request without its credentials: headers outside ``auditedHeaders`` are dropped and every `clientState`
    /// in the body is replaced.
    package static func auditedInput(_ event: CloudEvent) -> CloudEvent {
        guard var request = try? event.data?.decode(WebhookRequest.self) else { return event }
        request.headers = request.headers.filter { auditedHeaders.contains($0.key) }
        // Query parameters can carry a shared secret (F&O business events: the endpoint URL's `code`): only their names
        // are kept.
        request.query = request.query.filter { $0.key != "validationToken" }.mapValues { _ in "<redacted>" }
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
