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

/// Position of the JAGGAER invoice poll. A cycle reads every header changed at or after `windowFrom`; the next
/// cycle starts at the newest change seen minus the overlap, so records committed late with an earlier timestamp
/// are read again. Re-reads are cheap: a header already captured at the same `lastUpdate` is skipped without
/// fetching it.
///
/// How a cycle pages depends on the list's order (`jaggaer.listOrder`):
/// - ascending by (lastUpdate, id): a keyset (`keyUpdatedAt`, `keyId`; `keyTies` rows at exactly `keyUpdatedAt`
///   already read). A record that changes mid-cycle moves behind the keyset and is read again; none is skipped.
/// - any other order: by offset (`nextStartAt`), watching for a shifted list (the first id of a page already read
///   this cycle, the server's `startAt` not the one asked for, `totRecords` changing, fewer distinct ids read than
///   listed): the cycle then restarts from its window.
/// Every `reconcileIntervalSeconds` a cycle is a reconciliation sweep over the last `reconcileLookbackDays`.
package struct InvoicePollCursor: Codable, Sendable, Hashable {
    package var windowFrom: Date?
    package var nextStartAt: Int
    package var highWater: Date?
    package var cycle: Int
    /// Set for a cycle started with `fromStart`: capture every invoice again, even one already captured at the
    /// same version (replay; the dedup ledger keeps the ERP side exactly-once).
    package var recapture: Bool?
    /// Keyset position of this cycle (lastUpdate order only).
    package var keyUpdatedAt: Date?
    package var keyId: String?
    package var keyTies: Int?
    /// Offset paging: restarts of this cycle, `totRecords` at its first page, the ids of its first page and the
    /// number of distinct ids read so far.
    package var restarts: Int?
    package var cycleTotal: Int?
    package var firstPageIds: [String]?
    package var distinct: Int?
    /// Set while this cycle is a reconciliation sweep: changes before `sweepCoveredBefore` had been read by
    /// earlier cycles, so an approved one captured now was missed; `reconciled` counts them.
    package var sweepCoveredBefore: Date?
    package var reconciled: Int?
    package var lastSweepAt: Date?
    /// The server's `startAt` minus the one asked for on a first page (0, or -1 for a list that counts from 0):
    /// later pages are expected to answer with the same difference.
    package var startAtDelta: Int?

    package init(
        windowFrom: Date?, nextStartAt: Int = 1, highWater: Date? = nil, cycle: Int = 1, recapture: Bool? = nil
    ) {
        self.windowFrom = windowFrom
        self.nextStartAt = nextStartAt
        self.highWater = highWater
        self.cycle = cycle
        self.recapture = recapture
    }

    /// Names this cycle (and restart) in the cycle's seen-id keys.
    var cycleToken: String { "\(cycle).\(restarts ?? 0)" }

    /// The same cycle from its window again (after a shifted page).
    func restarted() -> InvoicePollCursor {
        var next = self
        next.nextStartAt = 1
        next.keyUpdatedAt = nil
        next.keyId = nil
        next.keyTies = nil
        next.restarts = (restarts ?? 0) + 1
        next.cycleTotal = nil
        next.firstPageIds = nil
        next.distinct = nil
        return next
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
        /// Ids read on this page, marked as read in the cycle `cycleToken` (offset paging's shift detection).
        var cycleIds: [String]?
        var cycleToken: String?
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
        let now = context.clock.now()
        let cursors = CursorStore<InvoicePollCursor>(store: context.store, keys: context.keys, name: Self.cursorName)
        let loaded = try await cursors.load()
        if event.type == EventType.pollContinue, let expected = input.cursorVersion, loaded?.version != expected {
            return StepResult(status: .ok, detail: ["skipped": "stale continuation (the cursor has moved on)"])
        }
        var cursor = loaded?.cursor ?? InvoicePollCursor(windowFrom: flow.pollStartFrom)
        if input.fromStart == true {
            cursor = InvoicePollCursor(
                windowFrom: flow.pollStartFrom, cycle: (loaded?.cursor.cycle ?? 0) + 1, recapture: true)
            cursor.lastSweepAt = loaded?.cursor.lastSweepAt
        }

        let paging = ListPaging(context: context, order: source.listOrder, noun: "invoice", namespace: "poll-cycle")
        let keyset = paging.keyset
        let (startAt, updatedSince) = paging.position(cursor)
        let page = try await source.invoiceHeaders(
            startAt: startAt, pageSize: settings.pageSize, updatedSince: updatedSince)
        let headers = page.items.compactMap { try? $0.get() }
        var restartReason = try await paging.inspect(
            page, headers: headers, startAt: startAt, updatedSince: updatedSince, cursor: cursor)

        var events: [CloudEvent] = []
        var seen: [String: String] = [:]
        var malformed = 0
        var notApproved = 0
        var alreadyCaptured = 0
        var sentToReview = 0
        var reconciledHere = 0
        var wanted: [(id: String, version: String)] = []
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
            if seen[header.id] == version { continue }
            wanted.append((header.id, version))
            seen[header.id] = version
            if let covered = cursor.sweepCoveredBefore, let updated = header.updatedAt, updated < covered {
                reconciledHere += 1
                context.logger.warning(
                    "reconciliation found an invoice the poll had missed", metadata: ["invoiceId": "\(header.id)"])
            }
        }
        for captured in try await captureAll(wanted, from: event, concurrency: settings.invoiceFetchConcurrency) {
            switch captured {
            case .event(let captured): events.append(captured)
            case .review: sentToReview += 1
            }
        }
        if cursor.sweepCoveredBefore != nil { cursor.reconciled = (cursor.reconciled ?? 0) + reconciledHere }

        let cycleIds = try await paging.countDistinct(headers, malformed: malformed, cursor: &cursor)
        let advanced = try paging.advance(
            cursor, page: page, headers: headers, startAt: startAt, restart: &restartReason)
        var next = advanced.next
        let more = advanced.more
        var finished: [String: String] = [:]
        if !more, restartReason == nil { finished = endCycle(&next, now: now) }
        var detail = [
            "captured": String(events.count),
            "alreadyCaptured": String(alreadyCaptured),
            "notApproved": String(notApproved),
            "malformed": String(malformed),
            "unreadable": String(sentToReview),
            "startAt": String(startAt),
            "cycle": String(cursor.cycle),
            "more": String(more),
            "paging": keyset ? "keyset" : "offset",
        ]
        if let total = page.total { detail["total"] = String(total) }
        if let restartReason { detail["restarted"] = restartReason }
        if cursor.sweepCoveredBefore != nil { detail["sweep"] = "true" }
        detail.merge(finished) { $1 }
        var result = StepResult(status: .ok, events: events, detail: detail)
        let memo = Memo(
            result: result, cursorBefore: loaded?.version, cursorAfter: next, seen: seen,
            cycleIds: cycleIds.isEmpty ? nil : cycleIds, cycleToken: cursor.cycleToken)
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

    /// Ends a cycle: the next starts at the newest change seen minus the overlap, or is a reconciliation sweep.
    /// Returns what to report.
    private func endCycle(_ next: inout InvoicePollCursor, now: Date) -> [String: String] {
        let flow = context.connection.flow
        var report: [String: String] = [:]
        ListPaging.closeCycle(&next, overlapSeconds: flow.pollOverlapSeconds)
        if next.sweepCoveredBefore != nil {
            let missed = next.reconciled ?? 0
            report["reconciled"] = "\(missed) missed"
            if missed > 0 {
                context.logger.warning(
                    "reconciliation sweep captured invoices the poll had missed", metadata: ["missed": "\(missed)"])
            }
            next.sweepCoveredBefore = nil
            next.reconciled = nil
            next.lastSweepAt = now
        } else if let last = next.lastSweepAt {
            let interval = TimeInterval(flow.reconcileIntervalSeconds)
            if interval > 0, now.timeIntervalSince(last) >= interval {
                // The next cycle lists every invoice changed in the lookback range again.
                let lookback = now.addingTimeInterval(-TimeInterval(flow.reconcileLookbackDays) * 86400)
                next.sweepCoveredBefore = next.windowFrom ?? now
                next.windowFrom = max(lookback, flow.pollStartFrom ?? lookback)
                next.reconciled = 0
                report["nextCycle"] = "reconciliation sweep"
            }
        } else {
            next.lastSweepAt = now
        }
        return report
    }

    /// Marks captured versions and moves the cursor (idempotent). Returns the new cursor version.
    @discardableResult
    private func finish(_ memo: Memo) async throws -> Int64? {
        var marks = try memo.seen.map { id, version in
            (
                key: context.keys.key("seen", "jaggaer-invoice", id), value: try JSONCoding.encode(version),
                ttl: Duration?.some(.seconds(90 * 86400))
            )
        }
        if let token = memo.cycleToken {
            marks += try ListPaging.marks(
                context: context, namespace: "poll-cycle", token: token, ids: memo.cycleIds ?? [])
        }
        try await context.store.putAll(marks)
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

    /// Fetches the page's invoices, up to `concurrency` at once (`jaggaer.invoiceFetchConcurrency`; the shared
    /// JAGGAER request budget still paces them), and returns the captures in page order. One request at a time made
    /// a page of 50 take 50 round trips before its first invoice could go on.
    private func captureAll(_ wanted: [(id: String, version: String)], from event: CloudEvent, concurrency: Int)
        async throws -> [Capture]
    {
        guard concurrency > 1, wanted.count > 1 else {
            var captures: [Capture] = []
            for (id, version) in wanted { captures.append(try await capture(id, version: version, from: event)) }
            return captures
        }
        return try await withThrowingTaskGroup(of: (Int, Capture).self) { group in
            var captures = [Capture?](repeating: nil, count: wanted.count)
            var next = 0
            func start(_ index: Int) {
                let (id, version) = wanted[index]
                group.addTask { (index, try await self.capture(id, version: version, from: event)) }
            }
            while next < min(concurrency, wanted.count) {
                start(next)
                next += 1
            }
            while let (index, capture) = try await group.next() {
                captures[index] = capture
                if next < wanted.count {
                    start(next)
                    next += 1
                }
            }
            return captures.compactMap { $0 }
        }
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
            try await context.putUpForReview(recordId: recordId, step: Self.step, reasons: [reason], retry: detected)
            return .review(reason)
        }
    }
}
