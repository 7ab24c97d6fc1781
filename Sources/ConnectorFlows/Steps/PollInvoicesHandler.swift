import ConnectorCore
import Foundation
import Logging

/// What the poll step gets: a scheduled request, the continuation of a cycle, or one invoice to (re)capture.
package struct PollRequest: Codable, Sendable, Hashable {
    /// Ignore the cursor and start the cycle from the configured start (used by `replay --from-start`).
    package var fromStart: Bool?
    /// On `poll.continue`: the cursor version this continuation was issued for; stale continuations are dropped.
    package var cursorVersion: Int64?
    /// On `invoice.detected`: the invoice to fetch.
    package var invoiceId: String?

    package init(fromStart: Bool? = nil, cursorVersion: Int64? = nil, invoiceId: String? = nil) {
        self.fromStart = fromStart
        self.cursorVersion = cursorVersion
        self.invoiceId = invoiceId
    }
}

/// Position of the JAGGAER invoice poll. A cycle reads every header changed at or after `windowFrom`, page by page
/// (`nextStartAt`); the next cycle starts at the newest change seen minus the overlap, so records committed late
/// with an earlier timestamp are read again. Re-reads are cheap: a header already captured at the same
/// `lastUpdate` is skipped without fetching it.
package struct InvoicePollCursor: Codable, Sendable, Hashable {
    package var windowFrom: Date?
    package var nextStartAt: Int
    package var highWater: Date?
    package var cycle: Int
    /// Set for a cycle started with `fromStart`: capture every invoice again, even one already captured at the
    /// same version (replay; the dedup ledger keeps the ERP side exactly-once).
    package var recapture: Bool?

    package init(
        windowFrom: Date?, nextStartAt: Int = 1, highWater: Date? = nil, cycle: Int = 1, recapture: Bool? = nil
    ) {
        self.windowFrom = windowFrom
        self.nextStartAt = nextStartAt
        self.highWater = highWater
        self.cycle = cycle
        self.recapture = recapture
    }
}

/// `poll-jaggaer-invoices`: one page of approved invoices per invocation, each fetched with its lines and emitted
/// as `invoice.captured`; the cursor is checkpointed after every page.
///
/// Redelivery of the same event returns the same result: the page's outcome is stored under the event's identity
/// before the cursor moves, so a crash between the two neither loses nor skips a page.
package struct PollInvoicesHandler: StepHandler {
    package typealias Input = PollRequest
    package static let step = "poll-jaggaer-invoices"
    package static let acceptedTypes: Set<String> = [
        EventType.pollRequested, EventType.pollContinue, EventType.invoiceDetected,
    ]
    package static let cursorName = "jaggaer-invoices"

    package let context: StepContext
    package let source: any ProcurementSource

    package init(context: StepContext, source: any ProcurementSource) {
        self.context = context
        self.source = source
    }

    package static func recordId(for event: CloudEvent) -> String {
        event.type == EventType.invoiceDetected ? (event.recordid ?? "poll/\(event.id)") : "poll/jaggaer-invoices"
    }

    private struct Memo: Codable, Sendable {
        var result: StepResult
        var cursorBefore: Int64?
        var cursorAfter: InvoicePollCursor?
        var seen: [String: String]
    }

    package func handle(_ event: CloudEvent, input: PollRequest) async throws -> StepResult {
        if event.type == EventType.invoiceDetected {
            return try await captureOne(event, input: input)
        }
        let store = context.store
        let memoKey = context.keys.key("poll-memo", event.identity)
        if let memo = try await store.get(memoKey, as: Memo.self)?.value {
            try await finish(memo)
            var result = memo.result
            result.detail = (result.detail ?? [:]).merging(["redelivered": "true"]) { $1 }
            return result
        }

        // One poll per connection at a time. The holder is named with its event, so a redelivery of an event
        // whose first delivery is still running (its runner died, the step did not) waits for it and then gets
        // its stored page, instead of being dropped.
        let leaseKey = context.keys.key("lease", "poll-jaggaer-invoices")
        let lease = Lease(store: store, key: leaseKey, owner: "\(context.owner)|\(event.identity)")
        let holderGone: (Lease.Holder) -> Bool = { ProcessLiveness.isGone(host: $0.host, pid: $0.pid) }
        guard try await lease.acquire(ttl: .seconds(300), now: context.clock.now(), breakingIf: holderGone) else {
            if let holder = try await store.get(leaseKey, as: Lease.Holder.self)?.value,
                holder.owner.hasSuffix("|\(event.identity)")
            {
                throw ConnectorError(
                    .inFlight,
                    "this poll event is being processed by another process",
                    retryAt: context.clock.now().addingTimeInterval(2)
                )
            }
            return StepResult(status: .ok, detail: ["skipped": "another poll of this connection is running"])
        }
        do {
            let result = try await pollPage(event, input: input, memoKey: memoKey)
            try await lease.release()
            return result
        } catch {
            try? await lease.release()
            throw error
        }
    }

    private func pollPage(_ event: CloudEvent, input: PollRequest, memoKey: String) async throws -> StepResult {
        let settings = context.connection.jaggaer
        let flow = context.connection.flow
        let cursors = CursorStore<InvoicePollCursor>(store: context.store, keys: context.keys, name: Self.cursorName)
        let loaded = try await cursors.load()
        if event.type == EventType.pollContinue, let expected = input.cursorVersion, loaded?.version != expected {
            return StepResult(status: .ok, detail: ["skipped": "stale continuation (the cursor has moved on)"])
        }
        var cursor = loaded?.cursor ?? InvoicePollCursor(windowFrom: flow.pollStartFrom)
        if input.fromStart == true {
            cursor = InvoicePollCursor(
                windowFrom: flow.pollStartFrom, cycle: (loaded?.cursor.cycle ?? 0) + 1, recapture: true)
        }

        let page = try await source.invoiceHeaders(
            startAt: cursor.nextStartAt, pageSize: settings.pageSize, updatedSince: cursor.windowFrom)
        var events: [CloudEvent] = []
        var seen: [String: String] = [:]
        var malformed = 0
        var notApproved = 0
        var alreadyCaptured = 0
        var sentToReview = 0
        for item in page.items {
            let header: InvoiceHeaderSummary
            switch item {
            case .success(let value): header = value
            case .failure(let error):
                malformed += 1
                context.logger.warning("skipping an unreadable invoice header", metadata: ["error": "\(error.message)"])
                continue
            }
            if let updated = header.updatedAt, updated > (cursor.highWater ?? .distantPast) {
                cursor.highWater = updated
            }
            guard let status = header.workflowStatus, settings.approvedStatuses.contains(status) else {
                notApproved += 1
                continue
            }
            let version = header.updatedAt.map(Timestamp.format) ?? "unknown"
            let seenKey = context.keys.key("seen", "jaggaer-invoice", header.id)
            if let previous = try await context.store.get(seenKey, as: String.self), previous.value == version,
                cursor.recapture != true
            {
                alreadyCaptured += 1
                continue
            }
            switch try await capture(header.id, version: version, from: event) {
            case .event(let captured): events.append(captured)
            case .review: sentToReview += 1
            }
            seen[header.id] = version
        }

        // Where the next invocation continues.
        let more =
            page.returned >= settings.pageSize && page.returned > 0
            && (page.total.map { cursor.nextStartAt - 1 + page.returned < $0 } ?? true)
        var next = cursor
        if more {
            next.nextStartAt += page.returned
        } else {
            let overlap = TimeInterval(flow.pollOverlapSeconds)
            next.windowFrom = cursor.highWater.map { $0.addingTimeInterval(-overlap) } ?? cursor.windowFrom
            next.nextStartAt = 1
            next.cycle += 1
            next.recapture = nil
        }
        var detail = [
            "captured": String(events.count),
            "alreadyCaptured": String(alreadyCaptured),
            "notApproved": String(notApproved),
            "malformed": String(malformed),
            "unreadable": String(sentToReview),
            "startAt": String(cursor.nextStartAt),
            "cycle": String(cursor.cycle),
            "more": String(more),
        ]
        if let total = page.total { detail["total"] = String(total) }
        var result = StepResult(status: .ok, events: events, detail: detail)
        let memo = Memo(result: result, cursorBefore: loaded?.version, cursorAfter: next, seen: seen)
        // Store the outcome first, then move the cursor: a crash in between is repaired on redelivery.
        if try await context.store.putIfAbsent(memoKey, json: memo, ttl: .seconds(7 * 86400)) == nil {
            // A concurrent delivery of the same event got there first: return its result.
            if let other = try await context.store.get(memoKey, as: Memo.self)?.value { return other.result }
        }
        FailPoint.hit("poll.memo-saved")
        let newVersion = try await finish(memo)
        FailPoint.hit("poll.cursor-moved")
        if more, let newVersion {
            let continuation = CloudEvent(
                id: "poll-continue-\(newVersion)",
                source: EventSource.step(Self.step, connection: context.connection.id),
                type: EventType.pollContinue,
                time: context.clock.now(),
                data: try JSONValue(encoding: PollRequest(cursorVersion: newVersion)),
                connection: event.connection,
                flow: event.flow,
                recordid: nil,
                causationid: event.id
            )
            result.events.append(continuation)
            // Keep the memo in step with what is returned, so a redelivery returns the continuation too.
            var updated = memo
            updated.result = result
            try await context.store.put(memoKey, json: updated, ttl: .seconds(7 * 86400))
        }
        return result
    }

    /// Marks captured versions and moves the cursor (idempotent). Returns the new cursor version.
    @discardableResult
    private func finish(_ memo: Memo) async throws -> Int64? {
        try await context.store.putAll(
            try memo.seen.map { id, version in
                (
                    context.keys.key("seen", "jaggaer-invoice", id), try JSONCoding.encode(version),
                    Duration.seconds(90 * 86400)
                )
            }
        )
        guard let after = memo.cursorAfter else { return nil }
        let key = context.keys.key("cursor", Self.cursorName)
        if let before = memo.cursorBefore {
            if let version = try await context.store.compareAndSwap(key, expectedVersion: before, json: after) {
                return version
            }
        } else if let version = try await context.store.putIfAbsent(key, json: after) {
            return version
        }
        // Already moved (by this memo on an earlier delivery, or by another poller).
        return try await context.store.get(key)?.version
    }

    /// `invoice.detected`: fetch and emit one invoice (review retries and manual re-captures).
    private func captureOne(_ event: CloudEvent, input: PollRequest) async throws -> StepResult {
        guard let id = input.invoiceId, !id.isEmpty else {
            throw ConnectorError(.eventInvalid, "invoice.detected needs data.invoiceId")
        }
        switch try await capture(id, version: nil, from: event) {
        case .event(let captured):
            return StepResult(status: .ok, events: [captured], detail: ["captured": "1"])
        case .review(let reason):
            return StepResult(status: .needsReview, review: .init(reasons: [reason]))
        }
    }

    private enum Capture {
        case event(CloudEvent)
        case review(ReviewReason)
    }

    private func capture(_ id: String, version: String?, from event: CloudEvent) async throws -> Capture {
        let recordId = SupplierInvoice.recordId(source: source.system, sourceId: id)
        do {
            let invoice = try await source.invoice(id: id)
            let stamp = invoice.sourceUpdatedAt.map(Timestamp.format) ?? version ?? "unknown"
            return .event(
                try event.next(
                    type: EventType.invoiceCaptured,
                    source: EventSource.step(Self.step, connection: context.connection.id),
                    data: invoice,
                    recordid: recordId,
                    id: "\(recordId)@\(stamp)",
                    time: context.clock.now()
                ))
        } catch let error as ConnectorError where error.kind == .rejected {
            // This one invoice can't be read (gone, or malformed): it goes to review; the page goes on.
            let reason = ReviewReason("source.unreadable", error.message)
            let detected = CloudEvent(
                id: "\(recordId)-detected",
                source: EventSource.step(Self.step, connection: context.connection.id),
                type: EventType.invoiceDetected,
                time: context.clock.now(),
                data: try JSONValue(encoding: PollRequest(invoiceId: id)),
                connection: event.connection,
                flow: event.flow,
                recordid: recordId,
                causationid: event.id
            )
            try await ReviewQueue(store: context.store, keys: context.keys).add(
                ReviewItem(
                    recordId: recordId,
                    step: Self.step,
                    reasons: [reason],
                    event: detected,
                    createdAt: context.clock.now()
                )
            )
            try await AuditLog(store: context.store, keys: context.keys).setState(
                RecordStatus(
                    recordId: recordId, state: .needsReview, updatedAt: context.clock.now(), lastStep: Self.step,
                    reasons: [reason])
            )
            return .review(reason)
        }
    }
}
