import ConnectorCore
import Foundation
import Logging

/// What `push-purchase-orders` gets: the scheduled sync (`purchaseorders.sync_requested`, shared with
/// `sync-purchase-orders`, which handles the other direction), or one order the ERP confirmed
/// (`purchaseorder.confirmed`: a business event's signal, or a replay of an order that failed).
package struct PurchaseOrderPushRequest: Codable, Sendable, Hashable {
    /// Read the ERP's confirmed orders as if for the first time (every order is compared with what was sent).
    package var fromStart: Bool?
    /// Send every order again, whatever was sent before (an operator's realignment; each send is an upsert).
    package var resend: Bool?
    /// A business event naming one order: dropped when it is a duplicate or a late delivery.
    package var signal: PurchaseOrderSignal?
    /// Orders to push by their ERP numbers (a replay).
    package var numbers: [String]?

    package init(
        fromStart: Bool? = nil, resend: Bool? = nil, signal: PurchaseOrderSignal? = nil, numbers: [String]? = nil
    ) {
        self.fromStart = fromStart
        self.resend = resend
        self.signal = signal
        self.numbers = numbers
    }
}

/// `push-purchase-orders`: the ERP's confirmed purchase orders into JAGGAER through the `ProcurementSink`, for ERPs
/// that read them (`capabilities.confirmedPurchaseOrders`, F&O); others answer ok with the reason they are skipped.
///
/// Scheduled: reads the ERP's change page of confirmed orders from the stored cursor (F&O: a full read diffed against
/// the last snapshot) and upserts each order by its ERP number; content sent before is not sent again. The cursor
/// moves only when every order of the run was sent (or went to review because JAGGAER refused it): an order that
/// failed keeps the cursor where it was, so the next run reads it again. Each failed order leaves an audit entry in its
/// own trail (`erp-po-<number>`) with an event that pushes it alone (`local-runner replay erp-po-<number>`), and the
/// step answers `retry`.
///
/// Signalled (`purchaseorder.confirmed`): the order is read from the ERP by number, never taken from the event,
/// and pushed. A signal whose sequence is at or below the last one handled for the same order (a duplicate, or a
/// late, reordered delivery) is dropped with the reason; the sequence is recorded only after the push.
package struct PushPurchaseOrdersHandler: StepHandler {
    package typealias Input = PurchaseOrderPushRequest
    package static let step = "push-purchase-orders"
    package static let acceptedTypes: Set<String> = [
        EventType.purchaseOrderSyncRequested, EventType.purchaseOrderConfirmed,
    ]
    package static let cursorName = "erp-confirmed-purchase-orders"
    /// The digest kind of a pushed order (`pushed/erp-purchase-orders/<number>`).
    static let kind = "erp-purchase-orders"

    package let context: StepContext
    package let erp: any ERPConnector
    /// Where orders are pushed (JAGGAER); nil when `jaggaer.writer.enabled` is false.
    package let sink: (any ProcurementSink)?
    package let pageSize: Int

    package init(context: StepContext, erp: any ERPConnector, sink: (any ProcurementSink)?, pageSize: Int = 200) {
        self.context = context
        self.erp = erp
        self.sink = sink
        self.pageSize = pageSize
    }

    package static func recordId(for event: CloudEvent) -> String {
        event.type == EventType.purchaseOrderConfirmed
            ? (event.recordid ?? "erp-po/\(event.id)") : "purchase-orders/erp"
    }

    /// The audit trail of one ERP purchase order.
    package static func recordId(number: String) -> String { "erp-po-\(number)" }

    /// Where the last scheduled run stopped in the ERP's feed of confirmed orders.
    package typealias Position = PushPosition

    package func handle(_ event: CloudEvent, input: PurchaseOrderPushRequest) async throws -> StepResult {
        guard erp.capabilities.confirmedPurchaseOrders else {
            return StepResult(
                status: .ok, detail: ["skipped": "\(erp.system) gives no confirmed purchase orders to push"])
        }
        guard let sink else {
            return StepResult(status: .ok, detail: ["skipped": "jaggaer.writer.enabled is false"])
        }
        let push = ProcurementPush(
            sink: sink, store: context.store, keys: context.keys, force: input.resend == true)
        if event.type == EventType.purchaseOrderConfirmed {
            return try await pushNamed(event, input: input, sink: sink, push: push)
        }
        return try await sync(event, input: input, sink: sink, push: push)
    }

    // MARK: One order, by number

    private func pushNamed(
        _ event: CloudEvent, input: PurchaseOrderPushRequest, sink: any ProcurementSink, push: ProcurementPush
    ) async throws -> StepResult {
        let signals = PurchaseOrderSignals(store: context.store, keys: context.keys)
        if let signal = input.signal {
            if let dropped = try await signals.verdict(signal) {
                context.logger.info(
                    "purchase-order signal dropped",
                    metadata: ["number": "\(signal.number)", "sequence": "\(signal.sequence)", "reason": "\(dropped)"])
                return StepResult(
                    status: .ok,
                    detail: [
                        "dropped": dropped.reason, "number": signal.number, "sequence": String(signal.sequence),
                    ])
            }
        }
        let numbers = input.signal.map { [$0.number] } ?? (input.numbers ?? []).filter { !$0.isEmpty }
        guard !numbers.isEmpty else {
            throw ConnectorError(.eventInvalid, "purchaseorder.confirmed needs data.signal or data.numbers")
        }
        let orders = try await erp.confirmedPurchaseOrders(numbers: numbers)
        var counts = ProcurementPush.Counts()
        var notConfirmed: [String] = []
        var reasons: [ReviewReason] = []
        var failure: ConnectorError?
        for number in numbers {
            guard let order = orders.first(where: { $0.number.uppercased() == number.uppercased() }) else {
                notConfirmed.append(number)
                continue
            }
            switch try await send(order, sink: sink, push: push, counts: &counts) {
            case .pushed: break
            case .refused(let reason): reasons.append(reason)
            case .failed(let error): failure = failure ?? error
            }
        }
        if let failure {
            // Nothing is marked handled: the runner retries this event, and replays it after its last attempt.
            throw failure
        }
        if let signal = input.signal, reasons.isEmpty { try await signals.markHandled(signal) }
        var detail = [
            "pushedTo": sink.system, "pushed": String(counts.sent), "unchanged": String(counts.unchanged),
            "numbers": numbers.joined(separator: ","),
        ]
        if !notConfirmed.isEmpty {
            // Changed again since the event (no longer confirmed): its next confirmation sends it.
            detail["notConfirmed"] = notConfirmed.joined(separator: ",")
        }
        if let signal = input.signal {
            detail["sequence"] = String(signal.sequence)
            detail["scope"] = signal.scope
        }
        let recordId = numbers.count == 1 ? Self.recordId(number: numbers[0]) : nil
        if !reasons.isEmpty {
            return StepResult(
                status: .needsReview, review: .init(reasons: reasons),
                record: recordId.map { RecordUpdate(recordId: $0, state: .needsReview) }, detail: detail)
        }
        let written = recordId.flatMap { id in
            notConfirmed.isEmpty
                ? RecordUpdate(
                    recordId: id, state: .written,
                    document: ERPDocumentRef(system: sink.system, id: numbers[0], number: numbers[0], status: "pushed"))
                : nil
        }
        return StepResult(status: .ok, record: written, detail: detail)
    }

    // MARK: The scheduled change page

    private func sync(
        _ event: CloudEvent, input: PurchaseOrderPushRequest, sink: any ProcurementSink, push: ProcurementPush
    ) async throws -> StepResult {
        let feed = FeedPush<ConfirmedPurchaseOrder>(
            context: context, cursorName: Self.cursorName,
            conflict: "another push-purchase-orders moved the cursor; this run stops")
        let tally = try await feed.run(
            fromStart: input.fromStart == true,
            read: { try await erp.confirmedPurchaseOrders(after: $0, pageSize: pageSize) }, id: \.number,
            push: { order, counts in
                switch try await send(order, sink: sink, push: push, counts: &counts) {
                case .pushed(let sent):
                    // Unchanged content may still be an order whose trail says it failed (a replay sent it since).
                    let stale =
                        sent
                        ? true
                        : try await audit.status(recordId: Self.recordId(number: order.number))?.state != .written
                    if stale { try await recordPushed(order, event: event, sink: sink) }
                    return .pushed
                case .refused(let reason):
                    try await sendToReview(order.number, reason: reason, event: event)
                    return .refused
                case .failed(let error):
                    try await recordFailure(order.number, error: error, event: event)
                    return .failed(error)
                }
            })
        var detail = [
            "read": String(tally.read), "pages": String(tally.pages), "pushed": String(tally.counts.sent),
            "unchanged": String(tally.counts.unchanged), "review": String(tally.refused.count),
            "failed": String(tally.failed.count), "pushedTo": sink.system,
        ]
        guard let first = tally.failed.first else { return StepResult(status: .ok, detail: detail) }
        detail["kept"] = tally.failed.map(\.id).joined(separator: ",")
        return StepResult(
            status: .retry, retryAt: first.error.retryAt ?? context.clock.now().addingTimeInterval(60),
            error: .init(
                code: first.error.code.rawValue,
                message:
                    "\(tally.failed.count) purchase order(s) could not be sent to \(sink.system) (\(first.id): \(first.error.message)); the cursor stays, so the next run sends them again",
                retryable: true),
            detail: detail)
    }

    // MARK: Sending one order

    private enum Sent {
        /// In JAGGAER now; `sent` is false when the same content was sent before.
        case pushed(sent: Bool)
        /// JAGGAER refused it: sending it again changes nothing until someone looks.
        case refused(ReviewReason)
        /// Not sent this time (JAGGAER unavailable, throttled, timed out): send again later.
        case failed(ConnectorError)
    }

    private func send(
        _ order: ConfirmedPurchaseOrder, sink: any ProcurementSink, push: ProcurementPush,
        counts: inout ProcurementPush.Counts
    ) async throws -> Sent {
        guard !order.vendorNumber.isEmpty else {
            return .refused(
                ReviewReason(
                    "po.vendor_missing", "purchase order \(order.number) names no vendor account", field: "vendor"))
        }
        do {
            let sent = try await push.push(Self.kind, id: order.number, content: order, counts: &counts) {
                try await sink.upsertPurchaseOrder(order)
            }
            return .pushed(sent: sent)
        } catch let error as ConnectorError {
            switch error.kind {
            case .rejected:
                return .refused(
                    ReviewReason(
                        "po.push_rejected", "\(sink.system) refused purchase order \(order.number): \(error.message)"))
            case .temporary, .unavailable, .conflict:
                return .failed(error)
            case .badInput, .configuration, .internalError:
                // Not about this order (credentials, settings): the whole run stops where it is.
                throw error
            }
        }
    }

    /// The replay event of one order: `purchaseorder.confirmed` naming it, in its own trail.
    private func replayEvent(_ number: String, after event: CloudEvent) throws -> CloudEvent {
        try event.next(
            type: EventType.purchaseOrderConfirmed,
            source: EventSource.step(Self.step, connection: context.connection.id),
            data: PurchaseOrderPushRequest(numbers: [number]), recordid: Self.recordId(number: number),
            id: "\(Self.recordId(number: number))-\(event.id)", time: context.clock.now())
    }

    private var audit: AuditLog {
        AuditLog(
            store: context.store, keys: context.keys,
            retention: .seconds(Int64(context.connection.flow.auditRetentionDays) * 86_400))
    }

    private func entry(
        _ event: CloudEvent, status: StepStatus, input: CloudEvent?, error: ConnectorError? = nil,
        reasons: [ReviewReason]? = nil, detail: [String: String]
    ) -> AuditEntry {
        AuditEntry(
            at: context.clock.now(), step: Self.step, eventId: event.id, eventType: event.type, attempt: event.attempt,
            status: status, durationMs: 0, httpRequests: 0, input: input, emitted: [],
            error: error.map {
                StepResult.ErrorBody(code: $0.code.rawValue, message: $0.message, retryable: $0.retryable)
            },
            reasons: reasons, detail: detail)
    }

    private func recordPushed(_ order: ConfirmedPurchaseOrder, event: CloudEvent, sink: any ProcurementSink)
        async throws
    {
        let recordId = Self.recordId(number: order.number)
        _ = try await audit.append(
            recordId: recordId,
            entry(
                event, status: .ok, input: try replayEvent(order.number, after: event),
                detail: ["pushedTo": sink.system, "lines": String(order.lines.count)]))
        _ = try await audit.setState(
            RecordStatus(
                recordId: recordId, state: .written, updatedAt: context.clock.now(), lastStep: Self.step,
                document: ERPDocumentRef(system: sink.system, id: order.number, number: order.number, status: "pushed"))
        )
    }

    /// A failed order's trail: the error, and the event that pushes it alone (what a replay runs).
    private func recordFailure(_ number: String, error: ConnectorError, event: CloudEvent) async throws {
        let recordId = Self.recordId(number: number)
        _ = try await audit.append(
            recordId: recordId,
            entry(
                event, status: .retry, input: try replayEvent(number, after: event), error: error,
                detail: ["note": "not sent; the cursor stays and the next run sends it again"]))
        _ = try await audit.setState(
            RecordStatus(recordId: recordId, state: .failed, updatedAt: context.clock.now(), lastStep: Self.step))
        context.logger.warning(
            "purchase order not sent; kept for the next run",
            metadata: ["record": "\(recordId)", "code": "\(error.code)", "error": "\(error.message)"])
    }

    private func sendToReview(_ number: String, reason: ReviewReason, event: CloudEvent) async throws {
        let recordId = Self.recordId(number: number)
        let replay = try replayEvent(number, after: event)
        _ = try await audit.append(
            recordId: recordId, entry(event, status: .needsReview, input: replay, reasons: [reason], detail: [:]))
        try await context.putUpForReview(recordId: recordId, step: Self.step, reasons: [reason], retry: replay)
    }
}

/// The sequence numbers of purchase-order signals already handled (F&O `ControlNumber`, per legal entity): a signal
/// seen before, or one at or below the last handled for the same order, is dropped. Recorded only after the order
/// was pushed, so a signal whose push failed is handled when it comes again.
package struct PurchaseOrderSignals: Sendable {
    package let store: any StateStore
    package let keys: StateKeys
    /// How long a handled sequence number is remembered (F&O resends from its error log for days at most).
    static let keepFor: Duration = .seconds(35 * 86400)

    package init(store: any StateStore, keys: StateKeys) {
        self.store = store
        self.keys = keys
    }

    /// Why a signal is dropped.
    package enum Dropped: Sendable, Hashable, CustomStringConvertible {
        /// This very signal (scope and sequence) was handled before.
        case duplicate
        /// A later signal of the same order was handled already (a late, reordered delivery).
        case late(last: Int64)

        package var reason: String {
            switch self {
            case .duplicate: "duplicate"
            case .late: "late"
            }
        }
        package var description: String {
            switch self {
            case .duplicate: "duplicate"
            case .late(let last): "late (the last handled for this order is \(last))"
            }
        }
    }

    private func seenKey(_ signal: PurchaseOrderSignal) -> String {
        keys.key("po-signal", "seen", signal.scope.lowercased(), String(signal.sequence))
    }

    private func lastKey(_ signal: PurchaseOrderSignal) -> String {
        keys.key("po-signal", "last", signal.scope.lowercased(), signal.number.uppercased())
    }

    /// Nil when the signal is to be handled; otherwise why it is dropped. Reads only.
    package func verdict(_ signal: PurchaseOrderSignal) async throws -> Dropped? {
        if try await store.get(seenKey(signal)) != nil { return .duplicate }
        if let last = try await store.get(lastKey(signal), as: Int64.self)?.value, signal.sequence <= last {
            return signal.sequence == last ? .duplicate : .late(last: last)
        }
        return nil
    }

    /// Records the signal as handled: its own key, and the order's highest sequence.
    package func markHandled(_ signal: PurchaseOrderSignal) async throws {
        _ = try await store.put(seenKey(signal), json: signal.number, ttl: Self.keepFor)
        let key = lastKey(signal)
        while true {
            guard let stored = try await store.get(key, as: Int64.self) else {
                if try await store.putIfAbsent(key, json: signal.sequence, ttl: Self.keepFor) != nil { return }
                continue
            }
            if stored.value >= signal.sequence { return }
            if try await store.compareAndSwap(key, expectedVersion: stored.version, json: signal.sequence) != nil {
                return
            }
        }
    }

    /// The signals of one delivery worth sending on: one per order (its highest sequence; lower ones of the same
    /// order in the delivery are late), none already handled. Returns the kept signals and the dropped counts.
    package func screen(_ signals: [PurchaseOrderSignal]) async throws -> (
        kept: [PurchaseOrderSignal], dropped: [String: Int]
    ) {
        var dropped: [String: Int] = [:]
        var seen = Set<String>()
        var best: [String: PurchaseOrderSignal] = [:]
        var order: [String] = []
        for signal in signals {
            guard seen.insert("\(signal.scope.lowercased())|\(signal.sequence)").inserted else {
                dropped["duplicate", default: 0] += 1
                continue
            }
            let key = "\(signal.scope.lowercased())|\(signal.number.uppercased())"
            if let current = best[key] {
                dropped["late", default: 0] += 1
                if signal.sequence > current.sequence { best[key] = signal }
            } else {
                best[key] = signal
                order.append(key)
            }
        }
        var kept: [PurchaseOrderSignal] = []
        for key in order {
            guard let signal = best[key] else { continue }
            if let verdict = try await verdict(signal) {
                dropped[verdict.reason, default: 0] += 1
            } else {
                kept.append(signal)
            }
        }
        return (kept, dropped)
    }
}
