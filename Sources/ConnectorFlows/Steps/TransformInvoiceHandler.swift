import ConnectorCore
import Foundation

/// `transform-invoice`: pure mapping of a captured invoice to ERP coding (vendor, G/L accounts, dimensions, tax,
/// charges, currency, PO references). No HTTP; reads only the mapping rules and the synced ERP master data.
package struct TransformInvoiceHandler: StepHandler {
    package typealias Input = SupplierInvoice
    package static let step = "transform-invoice"
    package static let acceptedTypes: Set<String> = [EventType.invoiceCaptured]

    package let context: StepContext
    /// The ERP's document limits (from its module in the registry).
    package let constraints: ERPConstraints

    /// Whether the ERP looks up natural keys in batches (`ERPCapabilities.batchLookups`): each mapped invoice's key
    /// is then registered for the write step's next batch (``LookupBatch``).
    package let batchLookups: Bool

    package init(context: StepContext, constraints: ERPConstraints, batchLookups: Bool = false) {
        self.context = context
        self.constraints = constraints
        self.batchLookups = batchLookups
    }

    package static func recordId(for event: CloudEvent) -> String {
        if let id = event.recordid { return id }
        if let invoice = try? event.data?.decode(SupplierInvoice.self) { return invoice.recordId }
        return "\(step)/\(event.id)"
    }

    package func handle(_ event: CloudEvent, input invoice: SupplierInvoice) async throws -> StepResult {
        let masterData = MasterData(store: context.store, keys: context.keys)
        guard try await masterData.isReady() else {
            // A sync that failed for good will not bring the data: the invoice waits in review with the reason,
            // instead of waiting without end. (It is retried from review once the sync works.)
            var reasons: [ReviewReason] = []
            for kind in ["vendors", "accounts"] where try await masterData.syncState(kind) == nil {
                if let failure = try await masterData.syncFailure(kind), failure.final {
                    reasons.append(
                        ReviewReason(
                            "masterdata.sync_failed",
                            "the ERP's \(kind) could not be synced (\(failure.code) after \(failure.attempt) attempt(s)): \(failure.message)"
                        ))
                }
            }
            if !reasons.isEmpty {
                return StepResult(
                    status: .needsReview,
                    review: .init(reasons: reasons),
                    record: RecordUpdate(recordId: invoice.recordId, state: .needsReview)
                )
            }
            throw ConnectorError(
                .inFlight,
                kind: .temporary,
                "the ERP's vendors and accounts have not been synced yet (run sync-vendors and sync-accounts)",
                retryAt: context.clock.now().addingTimeInterval(15)
            )
        }
        let mapper = InvoiceMapper(
            rules: context.connection.mapping,
            constraints: constraints,
            approvedStatuses: context.connection.jaggaer.approvedStatuses,
            masterData: masterData
        )
        switch try await mapper.map(invoice) {
        case .mapped(let mapped):
            if batchLookups {
                try await LookupBatch(store: context.store, keys: context.keys, clock: context.clock).register(mapped)
            }
            let next = try event.next(
                type: EventType.invoiceMapped,
                source: EventSource.step(Self.step, connection: context.connection.id),
                data: mapped,
                recordid: invoice.recordId,
                id: "\(event.id)/mapped",
                time: context.clock.now()
            )
            return StepResult(
                status: .ok,
                events: [next],
                record: RecordUpdate(recordId: invoice.recordId, state: .mapped),
                detail: [
                    "vendor": mapped.vendorNumber, "lines": String(mapped.lines.count),
                    "total": "\(mapped.expectedTotal)",
                ]
            )
        case .review(let reasons):
            return StepResult(
                status: .needsReview,
                review: .init(reasons: reasons),
                record: RecordUpdate(recordId: invoice.recordId, state: .needsReview)
            )
        }
    }
}
