import ConnectorCore
import ConnectorSimulators
import Foundation

/// What a demo run did, checked against the simulated tenant's expected outcomes.
struct DemoSummary: Codable, Sendable {
    struct ERP: Codable, Sendable {
        var purchaseInvoices: Int
        var byStatus: [String: Int]
        /// (vendor, vendor invoice number) pairs held more than once: must be zero.
        var duplicateNaturalKeys: Int
    }
    struct HTTP: Codable, Sendable {
        var businessCentralRequests: Int
        var businessCentralRequestsPerWrittenInvoice: Double?
        var entraTokenRequests: Int
        var jaggaerRequests: Int
        var jaggaerRequestsPerCapturedInvoice: Double?
        var keycloakTokenRequests: Int
        var byEndpoint: [String: Int]
    }
    struct Timings: Codable, Sendable {
        var totalMs: Int
        var syncMs: Int
        var flowMs: Int
        var invoicesPerSecond: Double?
        var stepMedianMs: [String: Int]?
    }

    var state: String
    var invoicesInJaggaer: Int
    var approved: Int
    var drafted: Int
    var draftedThisRun: Int
    var alreadyInERP: Int
    var duplicatesSkippedThisRun: Int
    var sentToReview: Int
    var reviewByReason: [String: Int]
    var failed: Int
    var pending: Int
    var captured: Int
    var expectationsMet: Bool
    var mismatches: [String]
    var erp: ERP
    var http: HTTP
    var timings: Timings
    var stepInvocations: [String: Int]
    var retries: Int

    static func build(
        tenant: DemoTenant,
        store: any StateStore,
        keys: StateKeys,
        stats: Runner.Stats,
        pending: Int,
        counters: SimulatorControl.Counters,
        purchaseInvoices: [JSONValue],
        timings: Timings,
        state: String
    ) async throws -> DemoSummary {
        let audit = AuditLog(store: store, keys: keys)
        var statuses: [String: RecordStatus] = [:]
        for status in try await audit.allStatuses() { statuses[status.recordId] = status }
        let review = try await ReviewQueue(store: store, keys: keys).list(status: .open)
        let dead = try await DeadLetterList(store: store, keys: keys).list()

        var reviewByReason: [String: Int] = [:]
        for item in review {
            for code in Set(item.reasons.map(\.code)) { reviewByReason[code, default: 0] += 1 }
        }

        var mismatches: [String] = []
        var approved = 0
        for (id, expected) in tenant.expectations.sorted(by: { $0.key < $1.key }) {
            let recordId = SupplierInvoice.recordId(source: "jaggaer", sourceId: String(id))
            let actual = statuses[recordId]
            let ok: Bool
            switch expected {
            case .notApproved:
                ok = actual == nil
            case .drafted:
                approved += 1
                ok = actual?.state == .written
            case .alreadyInERP:
                approved += 1
                ok = actual?.state == .alreadyInERP
            case .review(let reason):
                approved += 1
                ok = actual?.state == .needsReview && (actual?.reasons ?? []).contains { $0.code == reason }
            }
            if !ok {
                let got =
                    actual.map { "\($0.state.rawValue)\(($0.reasons ?? []).map { " \($0.code)" }.joined())" }
                    ?? "nothing"
                mismatches.append("invoice \(id): expected \(expected), got \(got)")
            }
        }

        var natural: [String: Int] = [:]
        var byStatus: [String: Int] = [:]
        for invoice in purchaseInvoices {
            let key =
                "\(invoice["vendorNumber"]?.stringValue ?? "")|\(invoice["vendorInvoiceNumber"]?.stringValue ?? "")"
            natural[key, default: 0] += 1
            byStatus[invoice["status"]?.stringValue ?? "?", default: 0] += 1
        }

        let written = stats.byFunctionStatus["write-erp-invoice:ok", default: 0]
        let capturedThisRun =
            stats.byFunctionStatus["transform-invoice:ok", default: 0]
            + stats.byFunctionStatus["transform-invoice:needs_review", default: 0]
        let bcRequests = counters.sum { $0.hasPrefix("bc ") || $0.hasPrefix("businessCentral ") }
        let jaggaerRequests = counters.sum { $0.hasPrefix("jaggaer ") }
        var withTimings = timings
        if timings.flowMs > 0 {
            withTimings.invoicesPerSecond = Double(capturedThisRun) / (Double(timings.flowMs) / 1000)
        }
        withTimings.stepMedianMs = stats.stepMillis.mapValues { values in
            let sorted = values.sorted()
            return sorted.isEmpty ? 0 : sorted[sorted.count / 2]
        }

        return DemoSummary(
            state: state,
            invoicesInJaggaer: tenant.jaggaerInvoices.count,
            approved: approved,
            drafted: statuses.values.filter { $0.state == .written }.count,
            draftedThisRun: written,
            alreadyInERP: statuses.values.filter { $0.state == .alreadyInERP }.count,
            duplicatesSkippedThisRun: stats.byFunctionStatus["write-erp-invoice:duplicate", default: 0],
            sentToReview: review.count,
            reviewByReason: reviewByReason,
            failed: dead.count,
            pending: pending,
            captured: capturedThisRun,
            expectationsMet: mismatches.isEmpty && dead.isEmpty && pending == 0,
            mismatches: Array(mismatches.prefix(25)),
            erp: ERP(
                purchaseInvoices: purchaseInvoices.count, byStatus: byStatus,
                duplicateNaturalKeys: natural.values.filter { $0 > 1 }.count),
            http: HTTP(
                businessCentralRequests: bcRequests,
                businessCentralRequestsPerWrittenInvoice: written > 0 ? Double(bcRequests) / Double(written) : nil,
                entraTokenRequests: counters.sum { $0.hasPrefix("entra ") },
                jaggaerRequests: jaggaerRequests,
                jaggaerRequestsPerCapturedInvoice: capturedThisRun > 0
                    ? Double(jaggaerRequests) / Double(capturedThisRun) : nil,
                keycloakTokenRequests: counters.sum { $0.hasPrefix("keycloak ") },
                byEndpoint: counters.values
            ),
            timings: withTimings,
            stepInvocations: stats.byFunction,
            retries: stats.retried
        )
    }

    func print() {
        func line(_ label: String, _ value: any CustomStringConvertible) {
            Swift.print(label.padding(toLength: 34, withPad: " ", startingAt: 0) + value.description)
        }
        Swift.print("ml-connector demo: JAGGAER ONE → Business Central (simulated, state \(state))")
        Swift.print("")
        line("Invoices in JAGGAER", invoicesInJaggaer)
        line("  approved", approved)
        line("Captured this run", captured)
        line("Drafted in Business Central", "\(drafted) (this run: \(draftedThisRun))")
        line("Already in the ERP (skipped)", alreadyInERP)
        line("Duplicates skipped this run", duplicatesSkippedThisRun)
        line("Sent to review", sentToReview)
        for (reason, count) in reviewByReason.sorted(by: { $0.key < $1.key }) {
            line("  \(reason)", count)
        }
        line("Failed (dead-letter)", failed)
        line("Still queued", pending)
        Swift.print("")
        line(
            "BC purchase invoices",
            "\(erp.purchaseInvoices) \(erp.byStatus.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value)" }.joined(separator: ", "))"
        )
        line("BC duplicate vendor invoice nos.", erp.duplicateNaturalKeys)
        line(
            "BC requests",
            "\(http.businessCentralRequests) (\(http.businessCentralRequestsPerWrittenInvoice.map { String(format: "%.2f", $0) } ?? "-") per written invoice), Entra tokens: \(http.entraTokenRequests)"
        )
        line(
            "JAGGAER requests",
            "\(http.jaggaerRequests) (\(http.jaggaerRequestsPerCapturedInvoice.map { String(format: "%.2f", $0) } ?? "-") per captured invoice), Keycloak tokens: \(http.keycloakTokenRequests)"
        )
        line("Time", "total \(timings.totalMs) ms (sync \(timings.syncMs) ms, flow \(timings.flowMs) ms)")
        if let rate = timings.invoicesPerSecond { line("Throughput", String(format: "%.1f invoices/s", rate)) }
        for (step, ms) in (timings.stepMedianMs ?? [:]).sorted(by: { $0.key < $1.key }) {
            line("  median \(step)", "\(ms) ms (\(stepInvocations[step] ?? 0) runs)")
        }
        line("Retries", retries)
        Swift.print("")
        if expectationsMet {
            Swift.print(
                "All \(invoicesInJaggaer) invoices ended where the tenant expects them. Drafts stay drafts: nothing was posted."
            )
        } else {
            Swift.print("MISMATCHES against the tenant's expected outcomes:")
            for mismatch in mismatches { Swift.print("  \(mismatch)") }
        }
        Swift.print("Inspect a record: local-runner audit jaggaer-invoice-<id> --state \(state)")
    }
}
