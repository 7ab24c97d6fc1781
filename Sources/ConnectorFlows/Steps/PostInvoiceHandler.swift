import ConnectorCore
import Foundation

/// An approval to post a draft the connector wrote: from an operator (`local-runner approve <record>`), an approval
/// system (`com.mlconnector.invoice.approved`), or the write step itself when the connection sets `flow.autoPost`.
package struct InvoiceApproval: Sendable, Codable, Hashable {
    package var recordId: String
    /// The procurement system and its invoice id: the write step's dedup key (`invoice/<source>/<sourceId>`).
    package var source: String
    package var sourceId: String
    /// Who approved (an operator's name, `autoPost`).
    package var approvedBy: String

    package init(recordId: String, source: String, sourceId: String, approvedBy: String) {
        self.recordId = recordId
        self.source = source
        self.sourceId = sourceId
        self.approvedBy = approvedBy
    }
}

/// `post-erp-invoice`: the controlled posting of an approved draft (DESIGN §5), exactly once.
///
/// Only a draft the write step recorded as created by the connector is posted, only on an approval event. The post
/// is claimed in the dedup ledger (`post/<system>/<document id>`) like a write: `claimed → requestSent → recorded`.
/// Before posting, and whenever a post's outcome is unknown (a crash, a lost answer, a claim taken over), the step
/// reads the document's state from the ERP: posted means done, recorded and never posted again; draft after the
/// settle period means the post did not happen and may be sent. A post is never sent blindly.
package struct PostInvoiceHandler: StepHandler {
    package typealias Input = InvoiceApproval
    package static let step = "post-erp-invoice"
    package static let acceptedTypes: Set<String> = [EventType.invoiceApproved]

    package let context: StepContext
    package let erp: any ERPConnector
    package let claimLease: Duration
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
        if let approval = try? event.data?.decode(InvoiceApproval.self) { return approval.recordId }
        return "\(step)/\(event.id)"
    }

    package func handle(_ event: CloudEvent, input approval: InvoiceApproval) async throws -> StepResult {
        guard erp.capabilities.postDrafts else {
            throw ConnectorError(.unsupported, "\(erp.system) does not post drafts through its API; post it in the ERP")
        }
        let ledger = DedupLedger(store: context.store, keys: context.keys)
        let writeKey = "invoice/\(approval.source)/\(approval.sourceId)"
        guard let written = try await ledger.load(writeKey) else {
            throw ConnectorError(
                .eventInvalid, kind: .badInput,
                "\(approval.recordId) has no draft written by ml-connector; nothing to post")
        }
        guard written.entry.phase == .recorded, let draft = written.entry.document else {
            throw ConnectorError(
                .inFlight, "\(approval.recordId) is still being written; posting once its draft is recorded",
                retryAt: context.clock.now().addingTimeInterval(5))
        }
        if written.entry.foundExisting {
            return review(
                approval,
                ReviewReason(
                    "post.not_drafted_by_connector",
                    "\(erp.system) document \(draft.number ?? draft.id) was already in the ERP (keyed by hand or by another system), not drafted by ml-connector; post it in the ERP"
                ))
        }

        let postKey = "post/\(erp.system)/\(draft.id)"
        let now = context.clock.now()
        let fresh = DedupLedger.Entry(
            phase: .claimed, owner: context.owner, attempt: event.attempt, claimedAt: now, updatedAt: now,
            leaseUntil: now.addingTimeInterval(claimLease.timeInterval), naturalKey: written.entry.naturalKey,
            document: draft)
        var entry: DedupLedger.Entry
        var version: Int64
        switch try await ledger.claim(postKey, entry: fresh) {
        case .acquired(let claimed, let claimedVersion):
            entry = claimed
            version = claimedVersion
        case .existing(let existing, let existingVersion):
            if existing.phase == .recorded {
                return StepResult(
                    status: .duplicate,
                    record: RecordUpdate(recordId: approval.recordId, state: .posted, document: existing.document),
                    detail: [
                        "note": "already posted", "erpId": existing.document?.id ?? "",
                        "erpNumber": existing.document?.number ?? "",
                    ])
            }
            if existing.leaseUntil > now, existing.owner != context.owner, !existing.ownerIsGone {
                throw ConnectorError(
                    .inFlight, "another process is posting this invoice",
                    retryAt: min(existing.leaseUntil, now.addingTimeInterval(5)))
            }
            if existing.phase == .requestSent {
                // A post may still be on its way: posted already means done; a draft is trusted only after the
                // settle period.
                if let state = try await erp.documentState(draft), state == .posted {
                    return try await record(
                        approval, postKey: postKey, draft: draft, entry: existing, version: existingVersion,
                        event: event, foundPosted: false, recovered: true)
                }
                let settled = existing.updatedAt.addingTimeInterval(settle.timeInterval)
                if settled > now {
                    throw ConnectorError(.inFlight, "an earlier post of this invoice is settling", retryAt: settled)
                }
            }
            var takeover = existing
            takeover.owner = context.owner
            takeover.host = ProcessLiveness.host
            takeover.pid = ProcessLiveness.pid
            takeover.attempt = event.attempt
            takeover.updatedAt = now
            takeover.leaseUntil = now.addingTimeInterval(claimLease.timeInterval)
            guard let newVersion = try await ledger.advance(postKey, from: existingVersion, to: takeover) else {
                throw ConnectorError(
                    .inFlight, "the claim changed while taking it over", retryAt: now.addingTimeInterval(2))
            }
            entry = takeover
            version = newVersion
        }

        // Read before posting: a person may have posted (or deleted) the draft in the ERP meanwhile.
        switch try await erp.documentState(draft) {
        case .posted:
            return try await record(
                approval, postKey: postKey, draft: draft, entry: entry, version: version, event: event,
                foundPosted: true, recovered: false)
        case nil:
            _ = try await ledger.release(postKey, version: version)
            return review(
                approval,
                ReviewReason(
                    "post.draft_missing",
                    "\(erp.system) no longer has draft \(draft.number ?? draft.id); it was deleted in the ERP"))
        case .draft:
            break
        }

        entry.phase = .requestSent
        entry.updatedAt = context.clock.now()
        guard let sentVersion = try await ledger.advance(postKey, from: version, to: entry) else {
            throw ConnectorError(
                .inFlight, "the claim changed before posting", retryAt: context.clock.now().addingTimeInterval(2))
        }
        version = sentVersion
        FailPoint.hit("post.sent")
        let posted: ERPDocumentRef
        do {
            posted = try await erp.postDraft(draft)
        } catch let error as ConnectorError {
            if error.code == .ambiguousWrite {
                if let state = try? await erp.documentState(draft), state == .posted {
                    return try await record(
                        approval, postKey: postKey, draft: draft, entry: entry, version: version, event: event,
                        foundPosted: false, recovered: true)
                }
                var pending = entry
                let until = context.clock.now().addingTimeInterval(settle.timeInterval)
                pending.leaseUntil = until
                pending.owner = "settling"
                pending.pid = nil
                pending.updatedAt = context.clock.now()
                _ = try await ledger.advance(postKey, from: version, to: pending)
                throw ConnectorError(
                    .ambiguousWrite,
                    "\(error.message); will read the invoice's status after \(Int(settle.timeInterval)) s",
                    retryAt: until)
            }
            // Refused or failed before posting: the draft stays a draft; free the claim.
            _ = try await ledger.release(postKey, version: version)
            if error.kind == .rejected {
                return review(approval, ReviewReason("erp.post_rejected", error.message))
            }
            throw error
        }
        FailPoint.hit("post.posted")
        return try await record(
            approval, postKey: postKey, draft: posted, entry: entry, version: version, event: event,
            foundPosted: false, recovered: false)
    }

    /// Records the post for good and reports it.
    private func record(
        _ approval: InvoiceApproval, postKey: String, draft document: ERPDocumentRef, entry: DedupLedger.Entry,
        version: Int64,
        event: CloudEvent, foundPosted: Bool, recovered: Bool
    ) async throws -> StepResult {
        let ledger = DedupLedger(store: context.store, keys: context.keys)
        var recorded = entry
        recorded.phase = .recorded
        recorded.document = document
        recorded.foundExisting = foundPosted
        recorded.updatedAt = context.clock.now()
        if try await ledger.advance(postKey, from: version, to: recorded) == nil {
            // The post happened either way; record it unconditionally.
            try await context.store.put(ledger.key(postKey), json: recorded)
        }
        var detail = [
            "erpId": document.id, "erpNumber": document.number ?? "", "erpStatus": document.status ?? "",
            "approvedBy": approval.approvedBy,
        ]
        if recovered { detail["recovered"] = "true" }
        if foundPosted {
            detail["note"] = "already posted in the ERP (not by ml-connector); recorded, not posted again"
        }
        var events: [CloudEvent] = []
        if !foundPosted,
            let next = try? event.next(
                type: EventType.invoicePosted,
                source: EventSource.step(Self.step, connection: context.connection.id),
                data: document, recordid: approval.recordId, id: "\(approval.recordId)/posted",
                time: context.clock.now())
        {
            events.append(next)
        }
        return StepResult(
            status: foundPosted ? .duplicate : .ok, events: events,
            record: RecordUpdate(recordId: approval.recordId, state: .posted, document: document), detail: detail)
    }

    private func review(_ approval: InvoiceApproval, _ reason: ReviewReason) -> StepResult {
        StepResult(
            status: .needsReview, review: .init(reasons: [reason]),
            record: RecordUpdate(recordId: approval.recordId, state: .needsReview))
    }
}
