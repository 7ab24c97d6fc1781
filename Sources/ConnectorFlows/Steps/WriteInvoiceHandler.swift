import ConnectorCore
import Foundation
import Logging
import Synchronization

/// `write-erp-invoice`: the exactly-once write of a draft invoice (DESIGN §8).
///
/// 1. Claim the record in the dedup ledger (put-if-absent). A recorded claim means done: `duplicate`.
/// 2. Ask the ERP for the vendor's invoice number. Found: record it, write nothing.
/// 3. Mark the claim `requestSent`, create the draft (one atomic request), record the ERP id.
///
/// A claim left `requestSent` by a crash, a timeout or a dropped connection is resolved by reading the ERP after
/// a settle period, never by writing blindly. Drafts are never posted here.
package struct WriteInvoiceHandler: StepHandler {
    package typealias Input = MappedInvoice
    package static let step = "write-erp-invoice"
    package static let acceptedTypes: Set<String> = [EventType.invoiceMapped]

    package let context: StepContext
    package let erp: any ERPConnector
    /// How long an in-flight claim is presumed to belong to a live process.
    package let claimLease: Duration
    /// How long after an ambiguous create the ERP is given before "not found" is trusted (BC online cancels an
    /// operation after 8 minutes).
    package let settle: Duration

    package init(
        context: StepContext, erp: any ERPConnector, claimLease: Duration = .seconds(600), settle: Duration? = nil
    ) {
        self.context = context
        self.erp = erp
        self.claimLease = claimLease
        self.settle =
            settle ?? context.connection.flow.ambiguousWriteSettleSeconds.map { .seconds($0) }
            ?? erp.capabilities.ambiguousWriteSettle
    }

    package static func recordId(for event: CloudEvent) -> String {
        if let id = event.recordid { return id }
        if let invoice = try? event.data?.decode(MappedInvoice.self) { return invoice.recordId }
        return "\(step)/\(event.id)"
    }

    package func handle(_ event: CloudEvent, input invoice: MappedInvoice) async throws -> StepResult {
        // A look-ahead started beside the create (see `LookupBatch.lookAhead`) ends before the step does.
        let ahead = Mutex<Task<Void, Never>?>(nil)
        do {
            let result = try await write(event, invoice, ahead: ahead)
            await ahead.withLock { $0 }?.value
            return result
        } catch {
            await ahead.withLock { $0 }?.value
            throw error
        }
    }

    private func write(_ event: CloudEvent, _ invoice: MappedInvoice, ahead: borrowing Mutex<Task<Void, Never>?>)
        async throws -> StepResult
    {
        let ledger = DedupLedger(store: context.store, keys: context.keys)
        let dedupKey = "invoice/\(invoice.source)/\(invoice.sourceId)"
        let naturalKey = "\(invoice.vendorNumber)|\(invoice.vendorInvoiceNumber)"
        let now = context.clock.now()
        let fresh = DedupLedger.Entry(
            phase: .claimed,
            owner: context.owner,
            attempt: event.attempt,
            claimedAt: now,
            updatedAt: now,
            leaseUntil: now.addingTimeInterval(claimLease.timeInterval),
            naturalKey: naturalKey
        )

        var entry: DedupLedger.Entry
        var version: Int64
        var previousPhase: DedupLedger.Phase?
        switch try await ledger.claim(dedupKey, entry: fresh) {
        case .acquired(let claimed, let claimedVersion):
            entry = claimed
            version = claimedVersion
        case .existing(let existing, let existingVersion):
            if existing.phase == .recorded {
                return duplicate(invoice, existing, note: "already written by an earlier delivery")
            }
            if existing.leaseUntil > now, existing.owner != context.owner, !existing.ownerIsGone {
                // Usually the other delivery finishes within seconds: look again soon, not only when its lease ends.
                throw ConnectorError(
                    .inFlight,
                    "another process is writing this invoice (claimed \(Timestamp.format(existing.claimedAt)))",
                    retryAt: min(existing.leaseUntil, now.addingTimeInterval(5))
                )
            }
            if existing.phase == .requestSent {
                // A create may still be on its way into the ERP (its sender crashed or lost the answer): give it
                // the settle period to land before a lookup's "not found" is trusted.
                let settled = existing.updatedAt.addingTimeInterval(settle.timeInterval)
                if settled > now {
                    throw ConnectorError(.inFlight, "an earlier create of this invoice is settling", retryAt: settled)
                }
            }
            // The owner stopped, or its settle period is over: take the claim over.
            previousPhase = existing.phase
            var takeover = existing
            takeover.owner = context.owner
            takeover.host = ProcessLiveness.host
            takeover.pid = ProcessLiveness.pid
            takeover.attempt = event.attempt
            takeover.updatedAt = now
            takeover.leaseUntil = now.addingTimeInterval(claimLease.timeInterval)
            takeover.naturalKey = naturalKey
            guard let newVersion = try await ledger.advance(dedupKey, from: existingVersion, to: takeover) else {
                throw ConnectorError(
                    .inFlight, "the claim changed while taking it over", retryAt: now.addingTimeInterval(2))
            }
            entry = takeover
            version = newVersion
        }

        FailPoint.hit("write.claimed")
        // Ask the ERP first: the invoice may have been keyed by hand, or written by a request whose answer we lost.
        // A fresh claim (no delivery of ours has sent this invoice) may use the page's batch lookup; a claim taken
        // over always asks for this invoice alone.
        let lookups = LookupBatch(store: context.store, keys: context.keys, clock: context.clock)
        let existing: [ERPDocumentRef]
        if previousPhase == nil && erp.capabilities.batchLookups {
            let lookup = try await lookups.documents(for: invoice, erp: erp)
            existing = lookup.documents
            if lookup.ready {
                // Its answer came from another writer's batch: ask now for the keys no writer has taken yet.
                // Its failure costs this invoice nothing: it is logged, and the keys' own writers ask for them.
                let erp = erp
                let logger = context.logger
                let own = LookupBatch.naturalKey(invoice)
                ahead.withLock {
                    $0 = Task {
                        do {
                            try await lookups.lookAhead(excluding: own, erp: erp)
                        } catch {
                            logger.warning(
                                "the look-ahead lookup failed; its invoices' writers look them up themselves",
                                metadata: ["error": "\((error as? ConnectorError)?.message ?? "\(type(of: error))")"])
                        }
                    }
                }
            }
        } else {
            existing = try await erp.findInvoices(
                vendorNumber: invoice.vendorNumber, vendorInvoiceNumber: invoice.vendorInvoiceNumber)
        }
        if existing.count > 1 {
            _ = try await ledger.release(dedupKey, version: version)
            return review(
                invoice,
                ReviewReason(
                    "erp.duplicates_exist",
                    "the ERP already holds \(existing.count) documents for vendor \(invoice.vendorNumber) invoice \(invoice.vendorInvoiceNumber)"
                )
            )
        }
        if let document = existing.first {
            let ours = previousPhase == .requestSent
            entry.phase = .recorded
            entry.document = document
            entry.foundExisting = !ours
            entry.updatedAt = context.clock.now()
            guard try await ledger.advance(dedupKey, from: version, to: entry) != nil else {
                throw ConnectorError(
                    .inFlight, "the claim changed while recording", retryAt: context.clock.now().addingTimeInterval(2))
            }
            if ours {
                return written(invoice, document, event: event, recovered: true)
            }
            return duplicate(invoice, entry, note: "the ERP already had this vendor invoice number")
        }

        // Nothing in the ERP. Where the ERP cannot link lines to PO lines, its purchase orders are checked here:
        // an invoice naming a PO the ERP does not have, or one of another vendor, waits in review.
        if erp.capabilities.matchesPurchaseOrders, !invoice.poNumbers.isEmpty {
            let orders = try await lookups.orders(invoice.poNumbers, erp: erp)
            if let reason = Self.purchaseOrderProblem(invoice, orders: orders, system: erp.system) {
                _ = try await ledger.release(dedupKey, version: version)
                return review(invoice, reason)
            }
        }

        // Write it.
        FailPoint.hit("write.looked-up")
        entry.phase = .requestSent
        entry.updatedAt = context.clock.now()
        guard let sentVersion = try await ledger.advance(dedupKey, from: version, to: entry) else {
            throw ConnectorError(
                .inFlight, "the claim changed before writing", retryAt: context.clock.now().addingTimeInterval(2))
        }
        version = sentVersion
        FailPoint.hit("write.sent")
        let document: ERPDocumentRef
        do {
            document = try await erp.createDraftInvoice(invoice)
        } catch let error as ConnectorError {
            return try await afterFailedCreate(
                error, event: event, invoice: invoice, ledger: ledger, dedupKey: dedupKey, entry: entry,
                version: version)
        }
        FailPoint.hit("write.created")
        entry.phase = .recorded
        entry.document = document
        entry.updatedAt = context.clock.now()
        if try await ledger.advance(dedupKey, from: version, to: entry) == nil {
            // Only this owner moves a requestSent claim within its lease; a mismatch means the lease ran out while
            // the request was in flight. The document exists either way; record it unconditionally.
            try await context.store.put(ledger.key(dedupKey), json: entry)
        }
        FailPoint.hit("write.recorded")
        try? await lookups.forget(LookupBatch.naturalKey(invoice))
        return written(invoice, document, event: event, recovered: false)
    }

    /// Why the ERP's purchase orders do not fit the invoice (`po.unknown`, `po.vendor_mismatch`), or nil.
    static func purchaseOrderProblem(_ invoice: MappedInvoice, orders: [String: ERPPurchaseOrder?], system: String)
        -> ReviewReason?
    {
        for number in invoice.poNumbers where !number.isEmpty {
            guard let found = orders[number], let order = found else {
                return ReviewReason(
                    "po.unknown",
                    "purchase order \(number.prefix(60)) is not in \(system); the invoice can be written once the PO is there",
                    field: "poNumber")
            }
            if order.vendorNumber.uppercased() != invoice.vendorNumber.uppercased() {
                return ReviewReason(
                    "po.vendor_mismatch",
                    "purchase order \(number.prefix(60)) belongs to vendor \(order.vendorNumber.prefix(40)) in \(system), not to the invoice's vendor \(invoice.vendorNumber.prefix(40))",
                    field: "poNumber")
            }
        }
        return nil
    }

    private func afterFailedCreate(
        _ error: ConnectorError,
        event: CloudEvent,
        invoice: MappedInvoice,
        ledger: DedupLedger,
        dedupKey: String,
        entry: DedupLedger.Entry,
        version: Int64
    ) async throws -> StepResult {
        if error.code == .ambiguousWrite {
            // The create may have happened. Look right away (the usual case: committed, answer lost).
            if let found = try? await erp.findInvoices(
                vendorNumber: invoice.vendorNumber, vendorInvoiceNumber: invoice.vendorInvoiceNumber),
                found.count == 1, let document = found.first
            {
                var recorded = entry
                recorded.phase = .recorded
                recorded.document = document
                recorded.updatedAt = context.clock.now()
                try await context.store.put(ledger.key(dedupKey), json: recorded)
                // Recovered: the ERP has the document, so the flow goes on exactly as after a normal write.
                return written(invoice, document, event: event, recovered: true)
            }
            // Not visible (yet): keep the claim as requestSent and come back after the settle period.
            var pending = entry
            let until = context.clock.now().addingTimeInterval(settle.timeInterval)
            pending.leaseUntil = until
            pending.owner = "settling"
            pending.pid = nil
            pending.updatedAt = context.clock.now()
            _ = try await ledger.advance(dedupKey, from: version, to: pending)
            throw ConnectorError(
                .ambiguousWrite, "\(error.message); will check the ERP again after \(Int(settle.timeInterval)) s",
                retryAt: until)
        }
        // The request did not create anything: free the claim so a later attempt starts clean.
        _ = try await ledger.release(dedupKey, version: version)
        if error.kind == .rejected {
            // An ERP-specific reason (a purchase order not in the ERP, …) keeps its code, so the review list says
            // exactly what is missing; anything else the ERP refused is `erp.rejected`.
            let code = Self.specificReviewCodes.contains(error.code) ? error.code.rawValue : "erp.rejected"
            return review(invoice, ReviewReason(code, error.message))
        }
        throw error
    }

    private func written(_ invoice: MappedInvoice, _ document: ERPDocumentRef, event: CloudEvent, recovered: Bool)
        -> StepResult
    {
        var detail = ["erpId": document.id, "erpNumber": document.number ?? "", "erpStatus": document.status ?? ""]
        if recovered { detail["recovered"] = "true" }
        var events: [CloudEvent] = []
        if let next = try? event.next(
            type: EventType.invoiceWritten,
            source: EventSource.step(Self.step, connection: context.connection.id),
            data: document,
            recordid: invoice.recordId,
            id: "\(invoice.recordId)/written",
            time: context.clock.now()
        ) {
            events.append(next)
        }
        // `flow.autoPost`: the connection approves every draft it writes for post-erp-invoice (off by default).
        if context.connection.flow.autoPost, erp.capabilities.postDrafts,
            let approval = try? event.next(
                type: EventType.invoiceApproved,
                source: EventSource.step(Self.step, connection: context.connection.id),
                data: InvoiceApproval(
                    recordId: invoice.recordId, source: invoice.source, sourceId: invoice.sourceId,
                    approvedBy: "flow.autoPost"),
                recordid: invoice.recordId,
                id: "\(invoice.recordId)/auto-approved",
                time: context.clock.now()
            )
        {
            events.append(approval)
            detail["autoPost"] = "true"
        }
        return StepResult(
            status: .ok,
            events: events,
            record: RecordUpdate(recordId: invoice.recordId, state: .written, document: document),
            detail: detail
        )
    }

    private func duplicate(_ invoice: MappedInvoice, _ entry: DedupLedger.Entry, note: String) -> StepResult {
        StepResult(
            status: .duplicate,
            record: RecordUpdate(
                recordId: invoice.recordId,
                state: entry.foundExisting ? .alreadyInERP : .written,
                document: entry.document
            ),
            detail: ["note": note, "erpId": entry.document?.id ?? "", "erpNumber": entry.document?.number ?? ""]
        )
    }

    /// Refusals that name what a person must fix, kept as their own review reason.
    static let specificReviewCodes: Set<ConnectorError.Code> = [.purchaseOrderNotFound, .creditMemoUnsupported]

    private func review(_ invoice: MappedInvoice, _ reason: ReviewReason) -> StepResult {
        StepResult(
            status: .needsReview,
            review: .init(reasons: [reason]),
            record: RecordUpdate(recordId: invoice.recordId, state: .needsReview)
        )
    }
}
