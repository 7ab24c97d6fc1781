import ConnectorCore
import Foundation
import Logging

/// What `sync-purchase-orders` gets: a scheduled request, the continuation of a cycle, or one PO to write again.
package struct PurchaseOrderSyncRequest: Codable, Sendable, Hashable {
    /// Ignore the cursor and read every purchase order again from `flow.pollStartFrom`.
    package var fromStart: Bool?
    /// On a continuation: the cursor version it was issued for; stale continuations are dropped.
    package var cursorVersion: Int64?
    /// On `purchase-order.detected` (a retry from review): the JAGGAER purchase order to write.
    package var purchaseOrderId: String?

    package init(fromStart: Bool? = nil, cursorVersion: Int64? = nil, purchaseOrderId: String? = nil) {
        self.fromStart = fromStart
        self.cursorVersion = cursorVersion
        self.purchaseOrderId = purchaseOrderId
    }
}

/// `sync-purchase-orders`: one page of JAGGAER purchase orders changed since the cursor per invocation, each
/// written to the ERP with `upsertPurchaseOrder` (created, or updated by its PO number), for ERPs that take purchase
/// orders (`capabilities.purchaseOrderWrites`); other ERPs answer ok with "not supported by <erp>".
///
/// The list is read by the same cursor as invoices (``ListPaging``: keyset where the list is sorted by lastUpdate,
/// offset with shift detection otherwise); the cursor is checkpointed after every page and the page's outcome kept
/// under the event's identity, so a redelivery changes nothing. A PO that can't be mapped or that the ERP refuses
/// goes to review with the reason (and is retried from there); it is never dropped.
package struct SyncPurchaseOrdersHandler: StepHandler {
    package typealias Input = PurchaseOrderSyncRequest
    package static let step = "sync-purchase-orders"
    package static let acceptedTypes: Set<String> = [
        EventType.purchaseOrderSyncRequested, EventType.purchaseOrderSyncContinue, EventType.purchaseOrderDetected,
    ]
    package static let cursorName = "jaggaer-purchase-orders"

    package let context: StepContext
    package let source: any ProcurementSource
    package let erp: any ERPConnector

    package init(context: StepContext, source: any ProcurementSource, erp: any ERPConnector) {
        self.context = context
        self.source = source
        self.erp = erp
    }

    package static func recordId(for event: CloudEvent) -> String {
        event.type == EventType.purchaseOrderDetected
            ? (event.recordid ?? "purchase-orders/\(event.id)") : "purchase-orders/jaggaer"
    }

    private struct Memo: Codable, Sendable {
        var result: StepResult
        var cursorBefore: Int64?
        var cursorAfter: InvoicePollCursor?
        var seen: [String: String]
        var cycleIds: [String]?
        var cycleToken: String?
    }

    package func handle(_ event: CloudEvent, input: PurchaseOrderSyncRequest) async throws -> StepResult {
        guard erp.capabilities.purchaseOrderWrites else {
            return StepResult(status: .ok, detail: ["skipped": "not supported by \(erp.system)"])
        }
        if event.type == EventType.purchaseOrderDetected {
            return try await writeOne(event, input: input)
        }
        let store = context.store
        let memoKey = context.keys.key("po-memo", event.identity)
        if let memo = try await store.get(memoKey, as: Memo.self)?.value {
            try await finish(memo)
            var result = memo.result
            result.detail = (result.detail ?? [:]).merging(["redelivered": "true"]) { $1 }
            return result
        }
        let masterData = MasterData(store: store, keys: context.keys)
        guard try await masterData.isReady() else {
            throw ConnectorError(
                .inFlight, kind: .temporary,
                "the ERP's vendors and accounts have not been synced yet: purchase orders are mapped against them",
                retryAt: context.clock.now().addingTimeInterval(15))
        }
        let leaseKey = context.keys.key("lease", Self.step)
        let lease = Lease(store: store, key: leaseKey, owner: "\(context.owner)|\(event.identity)")
        let holderGone: (Lease.Holder) -> Bool = { ProcessLiveness.isGone(host: $0.host, pid: $0.pid) }
        guard try await lease.acquire(ttl: .seconds(300), now: context.clock.now(), breakingIf: holderGone) else {
            if let holder = try await store.get(leaseKey, as: Lease.Holder.self)?.value,
                holder.owner.hasSuffix("|\(event.identity)")
            {
                throw ConnectorError(
                    .inFlight, "this purchase-order sync event is being processed by another process",
                    retryAt: context.clock.now().addingTimeInterval(2))
            }
            return StepResult(
                status: .ok, detail: ["skipped": "another purchase-order sync of this connection is running"])
        }
        do {
            let result = try await syncPage(event, input: input, memoKey: memoKey, masterData: masterData)
            try await lease.release()
            return result
        } catch {
            try? await lease.release()
            throw error
        }
    }

    private func syncPage(
        _ event: CloudEvent, input: PurchaseOrderSyncRequest, memoKey: String, masterData: MasterData
    ) async throws -> StepResult {
        let settings = context.connection.jaggaer
        let flow = context.connection.flow
        let cursors = CursorStore<InvoicePollCursor>(store: context.store, keys: context.keys, name: Self.cursorName)
        let loaded = try await cursors.load()
        if event.type == EventType.purchaseOrderSyncContinue, let expected = input.cursorVersion,
            loaded?.version != expected
        {
            return StepResult(status: .ok, detail: ["skipped": "stale continuation (the cursor has moved on)"])
        }
        var cursor = loaded?.cursor ?? InvoicePollCursor(windowFrom: flow.pollStartFrom)
        if input.fromStart == true {
            cursor = InvoicePollCursor(
                windowFrom: flow.pollStartFrom, cycle: (loaded?.cursor.cycle ?? 0) + 1, recapture: true)
        }
        let paging = ListPaging(
            context: context, order: source.listOrder, noun: "purchase order", namespace: "po-cycle")
        let (startAt, updatedSince) = paging.position(cursor)
        let page = try await source.purchaseOrderHeaders(
            startAt: startAt, pageSize: settings.pageSize, updatedSince: updatedSince)
        let headers = page.items.compactMap { try? $0.get() }
        var restartReason = try await paging.inspect(
            page, headers: headers, startAt: startAt, updatedSince: updatedSince, cursor: cursor)

        var seen: [String: String] = [:]
        var written = 0
        var unchanged = 0
        var reviewed = 0
        var malformed = 0
        for item in page.items {
            let header: InvoiceHeaderSummary
            switch item {
            case .success(let value): header = value
            case .failure(let error):
                malformed += 1
                context.logger.warning(
                    "skipping an unreadable purchase-order header", metadata: ["error": "\(error.message)"])
                continue
            }
            if let updated = header.updatedAt, updated > (cursor.highWater ?? .distantPast) {
                cursor.highWater = updated
            }
            let version = header.updatedAt.map(Timestamp.format) ?? "unknown"
            let seenKey = context.keys.key("seen", "jaggaer-po", header.id)
            if let previous = try await context.store.get(seenKey, as: String.self), previous.value == version,
                cursor.recapture != true
            {
                unchanged += 1
                continue
            }
            if seen[header.id] == version { continue }
            switch try await write(header.id, from: event, masterData: masterData) {
            case .written: written += 1
            case .review: reviewed += 1
            }
            seen[header.id] = version
        }

        let cycleIds = try await paging.countDistinct(headers, malformed: malformed, cursor: &cursor)
        let advanced = try paging.advance(
            cursor, page: page, headers: headers, startAt: startAt, restart: &restartReason)
        var next = advanced.next
        let more = advanced.more
        if !more, restartReason == nil {
            ListPaging.closeCycle(&next, overlapSeconds: flow.pollOverlapSeconds)
        }
        var detail = [
            "written": String(written),
            "unchanged": String(unchanged),
            "review": String(reviewed),
            "malformed": String(malformed),
            "startAt": String(startAt),
            "cycle": String(cursor.cycle),
            "more": String(more),
            "paging": paging.keyset ? "keyset" : "offset",
        ]
        if let total = page.total { detail["total"] = String(total) }
        if let restartReason { detail["restarted"] = restartReason }
        var result = StepResult(status: .ok, detail: detail)
        let memo = Memo(
            result: result, cursorBefore: loaded?.version, cursorAfter: next, seen: seen,
            cycleIds: cycleIds.isEmpty ? nil : cycleIds, cycleToken: cursor.cycleToken)
        if try await context.store.putIfAbsent(memoKey, json: memo, ttl: .seconds(7 * 86400)) == nil {
            if let other = try await context.store.get(memoKey, as: Memo.self)?.value { return other.result }
        }
        let newVersion = try await finish(memo)
        if more, let newVersion {
            result.events.append(
                CloudEvent(
                    id: "po-sync-continue-\(newVersion)",
                    source: EventSource.step(Self.step, connection: context.connection.id),
                    type: EventType.purchaseOrderSyncContinue,
                    time: context.clock.now(),
                    data: try JSONValue(encoding: PurchaseOrderSyncRequest(cursorVersion: newVersion)),
                    connection: event.connection,
                    flow: event.flow,
                    recordid: nil,
                    causationid: event.id
                ))
            var updated = memo
            updated.result = result
            try await context.store.put(memoKey, json: updated, ttl: .seconds(7 * 86400))
        }
        return result
    }

    /// Marks written versions and moves the cursor (idempotent). Returns the new cursor version.
    @discardableResult
    private func finish(_ memo: Memo) async throws -> Int64? {
        var marks = try memo.seen.map { id, version in
            (
                key: context.keys.key("seen", "jaggaer-po", id), value: try JSONCoding.encode(version),
                ttl: Duration?.some(.seconds(90 * 86400))
            )
        }
        if let token = memo.cycleToken {
            marks += try ListPaging.marks(
                context: context, namespace: "po-cycle", token: token, ids: memo.cycleIds ?? [])
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
        return try await context.store.get(key)?.version
    }

    /// `purchase-order.detected` (a retry from review): read and write one purchase order.
    private func writeOne(_ event: CloudEvent, input: PurchaseOrderSyncRequest) async throws -> StepResult {
        guard let id = input.purchaseOrderId, !id.isEmpty else {
            throw ConnectorError(.eventInvalid, "purchase-order.detected needs data.purchaseOrderId")
        }
        let masterData = MasterData(store: context.store, keys: context.keys)
        switch try await write(id, from: event, masterData: masterData) {
        case .written(let document):
            return StepResult(status: .ok, detail: ["written": "1", "document": document.id])
        case .review(let reasons):
            return StepResult(status: .needsReview, review: .init(reasons: reasons))
        }
    }

    static func recordId(purchaseOrder id: String) -> String { "jaggaer-po-\(id)" }

    private enum Outcome {
        case written(ERPDocumentRef)
        case review([ReviewReason])
    }

    /// Reads, maps and upserts one purchase order; a PO that can't be read, mapped or written goes to review.
    private func write(_ id: String, from event: CloudEvent, masterData: MasterData) async throws -> Outcome {
        let recordId = Self.recordId(purchaseOrder: id)
        var reasons: [ReviewReason]
        do {
            let order = try await source.purchaseOrder(id: id)
            switch try await PurchaseOrderMapper(rules: context.connection.mapping, masterData: masterData).map(order) {
            case .mapped(let document):
                do {
                    // The write is kept in the audit trail (the step's result); the record state table is for
                    // invoices, so a PO gets a state only when it needs a person.
                    return .written(try await erp.upsertPurchaseOrder(document))
                } catch let error as ConnectorError where error.kind == .rejected {
                    reasons = [
                        ReviewReason("po.rejected", "\(erp.system) refused the purchase order: \(error.message)")
                    ]
                }
            case .review(let found):
                reasons = found
            }
        } catch let error as ConnectorError where error.kind == .rejected {
            reasons = [ReviewReason("source.unreadable", error.message)]
        }
        let detected = CloudEvent(
            id: "\(recordId)-detected",
            source: EventSource.step(Self.step, connection: context.connection.id),
            type: EventType.purchaseOrderDetected,
            time: context.clock.now(),
            data: try JSONValue(encoding: PurchaseOrderSyncRequest(purchaseOrderId: id)),
            connection: event.connection,
            flow: event.flow,
            recordid: recordId,
            causationid: event.id
        )
        try await context.putUpForReview(recordId: recordId, step: Self.step, reasons: reasons, retry: detected)
        context.logger.warning(
            "purchase order sent to review", metadata: ["record": "\(recordId)", "reasons": "\(reasons.map(\.code))"])
        return .review(reasons)
    }
}

/// JAGGAER purchase order → the ERP's `PurchaseOrderDocument`, coded like an invoice (account segment, dimension
/// rules, the ERP's master data). Nothing is guessed: an unknown vendor, account or dimension value is a reason.
package struct PurchaseOrderMapper: Sendable {
    package let rules: MappingRules
    package let masterData: MasterData

    package init(rules: MappingRules, masterData: MasterData) {
        self.rules = rules
        self.masterData = masterData
    }

    package enum Outcome: Sendable {
        case mapped(PurchaseOrderDocument)
        case review([ReviewReason])
    }

    package func map(_ order: SourcePurchaseOrder) async throws -> Outcome {
        var reasons: [ReviewReason] = []
        var vendorNumber = ""
        if let supplier = order.supplier.number, !supplier.isEmpty {
            vendorNumber = rules.vendors[supplier] ?? supplier
            if let vendor = try await masterData.vendors.get(vendorNumber) {
                if vendor.blocked == .all {
                    reasons.append(
                        ReviewReason(
                            "vendor.blocked", "vendor \(vendorNumber) is blocked in the ERP", field: "supplier"))
                }
            } else {
                reasons.append(
                    ReviewReason(
                        "vendor.unmapped", "supplier \(supplier) has no vendor \(vendorNumber) in the ERP",
                        field: "supplier"))
            }
        } else {
            reasons.append(
                ReviewReason("vendor.missing", "the purchase order names no supplier number", field: "supplier"))
        }
        if order.orderDate == nil {
            reasons.append(ReviewReason("po.date_missing", "the purchase order has no order date", field: "orderDate"))
        }
        if order.lines.isEmpty {
            reasons.append(ReviewReason("po.no_lines", "the purchase order has no lines", field: "lines"))
        }
        var currencyCode: String?
        if let currency = order.currency?.uppercased(), !currency.isEmpty {
            currencyCode = currency == rules.localCurrency?.uppercased() ? nil : currency
        }
        var lines: [PurchaseOrderDocument.Line] = []
        for line in order.lines {
            let field = "lines[\(line.lineNumber)]"
            guard let segment = line.segment(rules.accountSegment), !segment.isEmpty else {
                reasons.append(
                    ReviewReason(
                        "account.missing", "line \(line.lineNumber) has no \(rules.accountSegment) segment",
                        field: field))
                continue
            }
            let account = rules.accounts[segment] ?? segment
            guard let found = try await masterData.accounts.get(account), !found.blocked, found.postable else {
                reasons.append(
                    ReviewReason(
                        "account.unmapped", "G/L account \(account) does not exist in the ERP or takes no postings",
                        field: field))
                continue
            }
            var dimensions: [DimensionAssignment] = []
            for rule in rules.dimensions {
                guard let value = line.segment(rule.segment), !value.isEmpty else {
                    if rule.required {
                        reasons.append(
                            ReviewReason(
                                "dimension.missing",
                                "line \(line.lineNumber) has no \(rule.segment) segment for dimension \(rule.dimension)",
                                field: field))
                    }
                    continue
                }
                let code = rules.dimensionValues[rule.dimension]?[value] ?? value
                guard let dimension = try await masterData.dimensions.get(rule.dimension),
                    let known = dimension.values.first(where: { $0.code == code }), !known.blocked
                else {
                    reasons.append(
                        ReviewReason(
                            "dimension.unmapped",
                            "line \(line.lineNumber): \(rule.segment) \(value) is not an open value of dimension \(rule.dimension)",
                            field: field))
                    continue
                }
                dimensions.append(DimensionAssignment(dimension: rule.dimension, value: code))
            }
            let description = (line.description ?? "Line \(line.lineNumber)")
                .replacingOccurrences(of: "\n", with: " ").trimmingWhitespace(newlines: false)
            lines.append(
                PurchaseOrderDocument.Line(
                    sourceLineNumber: String(line.lineNumber), description: String(description.prefix(100)),
                    glAccount: account, quantity: line.quantity, unitPrice: line.unitPrice, dimensions: dimensions))
        }
        guard reasons.isEmpty, let orderDate = order.orderDate else { return .review(reasons) }
        return .mapped(
            PurchaseOrderDocument(
                sourceNumber: order.number, vendorNumber: vendorNumber, orderDate: orderDate,
                deliveryDate: order.deliveryDate, currencyCode: currencyCode, lines: lines))
    }
}
