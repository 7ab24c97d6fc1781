import ConnectorCore
import ConnectorRunner
import ConnectorSimulators
import Foundation

/// The demo's Business Central legs of issue 9 (controlled posting, PO matching), run after the main flow so they
/// do not change its request figures: an operator approves one drafted invoice, `post-erp-invoice` runs, the
/// approval is delivered again, and the simulator's counters must show exactly one `Microsoft.NAV.post`; the
/// tenant's PO problems (a PO BC does not have, a PO of another vendor) must be in review with their reasons.
enum DemoLegBusinessCentral {
    struct Report: Codable, Sendable {
        /// The approved record, and whether it was posted by an earlier run against the same store.
        var record: String?
        var postedBefore: Bool
        /// Approval deliveries sent (the approval, then the same approval again).
        var approvals: Int
        /// `bc POST purchaseInvoices({id})/Microsoft.NAV.post` during the leg: 1, or 0 when posted before.
        var postRequests: Int
        var recordState: String?
        var purchaseOrderUnknown: Int
        var purchaseOrderVendorMismatch: Int
        var expectationsMet: Bool
        var mismatches: [String]
    }

    static let postEndpoint = "bc POST purchaseInvoices({id})/Microsoft.NAV.post"

    static func run(
        runner: Runner, store: any StateStore, tenant: DemoTenant, connection: Connection, summary: DemoSummary?,
        control: SimulatorControl
    ) async throws -> Report {
        let keys = try StateKeys(connection: connection.id)
        let audit = AuditLog(store: store, keys: keys)
        var mismatches: [String] = []
        let candidates = try await audit.allStatuses()
            .filter { ($0.state == .written || $0.state == .posted) && $0.document != nil }
            .sorted { $0.recordId < $1.recordId }
        var report = Report(
            record: candidates.first?.recordId, postedBefore: candidates.first?.state == .posted, approvals: 0,
            postRequests: 0, recordState: nil,
            purchaseOrderUnknown: summary?.reviewByReason["po.unknown"] ?? 0,
            purchaseOrderVendorMismatch: summary?.reviewByReason["po.vendor_mismatch"] ?? 0,
            expectationsMet: false, mismatches: [])
        if let record = report.record {
            let before = try await control.counters()
            let approvals = try await Approve.approvals([record], by: "demo", connection: connection.id, audit: audit)
            // The approval, then the same approval delivered again: one post.
            for delivery in approvals + approvals.map({ redelivery(of: $0, reason: "demo-redelivery") }) {
                try await runner.submit(delivery)
                try await runner.drain(waitForDelayed: true, deadline: Date().addingTimeInterval(120))
                report.approvals += 1
            }
            let delta = try await control.counters().subtracting(before)
            report.postRequests = delta.values[postEndpoint, default: 0]
            report.recordState = try await audit.status(recordId: record)?.state.rawValue
            let expectedPosts = report.postedBefore ? 0 : 1
            if report.postRequests != expectedPosts {
                mismatches.append("\(record): \(report.postRequests) post requests, expected \(expectedPosts)")
            }
            if report.recordState != RecordState.posted.rawValue {
                mismatches.append("\(record): \(report.recordState ?? "nothing") after approval, expected posted")
            }
        } else {
            mismatches.append("no drafted invoice to approve")
        }
        if !(tenant.injected["po.unknown"] ?? []).isEmpty, report.purchaseOrderUnknown == 0 {
            mismatches.append("the invoice naming a PO unknown in BC is not in review as po.unknown")
        }
        if !(tenant.injected["po.vendor_mismatch"] ?? []).isEmpty, report.purchaseOrderVendorMismatch == 0 {
            mismatches.append("the invoice naming another vendor's PO is not in review as po.vendor_mismatch")
        }
        report.mismatches = mismatches
        report.expectationsMet = mismatches.isEmpty
        return report
    }

    static func print(_ report: Report) {
        Swift.print("")
        Swift.print("Business Central posting and PO matching")
        Swift.print(
            "  approved \(report.record ?? "-") (\(report.approvals) deliveries): \(report.postRequests) Microsoft.NAV.post request(s), record \(report.recordState ?? "-")\(report.postedBefore ? " (posted by an earlier run)" : "")"
        )
        Swift.print(
            "  PO unknown in BC: \(report.purchaseOrderUnknown) in review; PO of another vendor: \(report.purchaseOrderVendorMismatch) in review"
        )
        for mismatch in report.mismatches { Swift.print("  MISMATCH: \(mismatch)") }
    }
}
