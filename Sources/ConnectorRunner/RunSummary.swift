import ConnectorCore
import Foundation

/// What a run did, per connection: the end-of-run report of `run --once`, `run`, `demo` and the operator
/// commands, and the basis of their exit code (non-zero when anything was dead-lettered or a configuration error
/// stopped a connection).
package struct RunSummary: Sendable, Codable {
    package struct ConnectionSummary: Sendable, Codable {
        /// Invoices read from JAGGAER (`invoice.captured` events emitted).
        package var captured = 0
        /// Drafts created in the ERP (including creates recovered after a lost answer).
        package var drafted = 0
        /// Invoices the ERP already held, or that an earlier delivery had written: nothing written.
        package var duplicates = 0
        /// Records sent to review, by reason code.
        package var inReview: [String: Int] = [:]
        /// Events dead-lettered after their last attempt, by error code.
        package var deadLettered: [String: Int] = [:]
        /// Configuration errors that stopped work, by code, with the first message (said once on the terminal).
        package var configurationErrors: [String: String] = [:]
        /// HTTP requests the steps sent (from their results).
        package var httpRequests = 0
        /// Step invocations.
        package var invocations = 0
        /// Retries scheduled.
        package var retries = 0
        /// Invoices the poll's reconciliation sweeps found missed and captured (nil: no sweep ended).
        package var reconciled: Int?
        /// JAGGAER purchase orders written to the ERP by `sync-purchase-orders`.
        package var purchaseOrdersWritten: Int?

        package var failed: Bool { !deadLettered.isEmpty || !configurationErrors.isEmpty }

        package init() {}
    }

    package var connections: [String: ConnectionSummary] = [:]
    /// Queue entries that could not be read at all (kept whole in the runner's dead-letter list).
    package var poisonEntries = 0
    /// Items still queued when the run ended (waiting for a later attempt, or left by a stop).
    package var pending = 0
    /// Set when a signal stopped the run before its queue was empty.
    package var interrupted: String?
    /// Expired entries (audit entries past `flow.auditRetentionDays`, spent claims, caches) removed from the store
    /// by the runner's retention purge; nil when no purge ran.
    package var purged: Int?

    package init() {}

    package mutating func update(_ connection: String?, _ change: (inout ConnectionSummary) -> Void) {
        change(&connections[connection ?? "_runner", default: ConnectionSummary()])
    }

    package var deadLetteredTotal: Int {
        connections.values.reduce(poisonEntries) { $0 + $1.deadLettered.values.reduce(0, +) }
    }
    package var hasConfigurationErrors: Bool { connections.values.contains { !$0.configurationErrors.isEmpty } }

    /// The runner's exit code: 78 when a configuration error stopped a connection, 1 when anything was
    /// dead-lettered, 130/143 when a signal stopped the run, 0 otherwise.
    package var exitCode: Int32 {
        if hasConfigurationErrors { return 78 }
        if deadLetteredTotal > 0 { return 1 }
        if let interrupted { return interrupted == "SIGTERM" ? 143 : 130 }
        return 0
    }

    /// The summary in words, one block per connection.
    package func lines() -> [String] {
        var lines: [String] = []
        for (id, summary) in connections.sorted(by: { $0.key < $1.key }) {
            lines.append("connection \(id):")
            lines.append(
                "  captured \(summary.captured), drafted \(summary.drafted), duplicates skipped \(summary.duplicates), in review \(summary.inReview.values.reduce(0, +)), dead-lettered \(summary.deadLettered.values.reduce(0, +))"
            )
            if let reconciled = summary.reconciled {
                lines.append("  reconciled: \(reconciled) missed")
            }
            if let written = summary.purchaseOrdersWritten {
                lines.append("  purchase orders written to the ERP: \(written)")
            }
            for (code, count) in summary.inReview.sorted(by: { $0.key < $1.key }) {
                lines.append("  in review: \(code) ×\(count)")
            }
            for (code, count) in summary.deadLettered.sorted(by: { $0.key < $1.key }) {
                lines.append("  dead-lettered: \(code) ×\(count)")
            }
            for (code, message) in summary.configurationErrors.sorted(by: { $0.key < $1.key }) {
                lines.append("  configuration error: \(code): \(message)")
            }
            lines.append(
                "  \(summary.invocations) step invocations, \(summary.retries) retries, \(summary.httpRequests) HTTP requests"
            )
        }
        if poisonEntries > 0 {
            lines.append(
                "\(poisonEntries) unreadable queue entr\(poisonEntries == 1 ? "y" : "ies") moved to the dead-letter list (`local-runner dead-letter list --connection _runner`)"
            )
        }
        if let purged, purged > 0 {
            lines.append("retention: purged \(purged) expired entr\(purged == 1 ? "y" : "ies") from the store")
        }
        if pending > 0 { lines.append("\(pending) item(s) still queued; the next run picks them up") }
        if let interrupted { lines.append("stopped by \(interrupted); nothing lost, queued work stays in the store") }
        if deadLetteredTotal > 0 {
            lines.append("see `local-runner dead-letter list`; replay with `local-runner dead-letter replay <id>`")
        }
        if connections.values.contains(where: { !$0.inReview.isEmpty }) {
            lines.append("see `local-runner review list`")
        }
        return lines
    }
}
