import ConnectorCore
import ConnectorRunner
import ConnectorSimulators
import Foundation

/// What a demo run did, for every connection (one per simulated ERP), each checked against the simulated tenant's
/// expected outcomes in that ERP.
struct DemoReport: Codable, Sendable {
    struct Timings: Codable, Sendable {
        var totalMs: Int
        var syncMs: Int
        var flowMs: Int
        var invoicesPerSecond: Double?
        var stepMedianMs: [String: Int]?
    }
    struct HTTP: Codable, Sendable {
        var jaggaerRequests: Int
        var jaggaerRequestsPerCapturedInvoice: Double?
        var keycloakTokenRequests: Int
        var entraTokenRequests: Int
    }

    var state: String
    var connections: [DemoSummary]
    var expectationsMet: Bool
    var pending: Int
    var http: HTTP
    var timings: Timings
    var stepInvocations: [String: Int]
    var retries: Int
    /// The mapping-first leg (Business Central): an invoice blocked on a missing vendor drafted after the vendor sync.
    var mappingFirst: DemoLegMappingFirst.Report?
    /// The purchase-order leg (JAGGAER POs into the ERPs that take them), when it ran.
    var purchaseOrders: DemoPurchaseOrderLeg?
    /// Controlled posting and PO matching in Business Central (issue 9), run after the main flow.
    var businessCentralLegs: DemoLegBusinessCentral.Report?
    /// Suppliers and coding values in JAGGAER before the invoices, and payment status back to JAGGAER.
    var jaggaerWriter: DemoLegJaggaerWriter.Report?
    /// F&O confirmed purchase orders into JAGGAER, on schedule and by business event (issue 11).
    var financeOperationsPurchaseOrders: DemoLegFinanceOperations?

    /// The summary of one ERP's connection.
    func summary(_ kind: String) -> DemoSummary? { connections.first { $0.erpKind == kind } }

    static func build(
        tenant: DemoTenant,
        store: any StateStore,
        connections: [(connection: Connection, erp: SimulatorEndpoints.ERP)],
        run: RunSummary,
        stats: Runner.Stats,
        pending: Int,
        counters: SimulatorControl.Counters,
        control: SimulatorControl,
        timings: Timings,
        state: String
    ) async throws -> DemoReport {
        var summaries: [DemoSummary] = []
        for (connection, erp) in connections {
            summaries.append(
                try await DemoSummary.build(
                    tenant: tenant, store: store, connection: connection, erp: erp,
                    run: run.connections[connection.id] ?? RunSummary.ConnectionSummary(), pending: pending,
                    counters: counters, documents: try await control.documents(erp)))
        }
        let captured = summaries.reduce(0) { $0 + $1.captured }
        let jaggaerRequests = counters.sum { $0.hasPrefix("jaggaer ") }
        var withTimings = timings
        if timings.flowMs > 0 {
            withTimings.invoicesPerSecond = Double(captured) / (Double(timings.flowMs) / 1000)
        }
        withTimings.stepMedianMs = stats.stepMillis.mapValues { values in
            let sorted = values.sorted()
            return sorted.isEmpty ? 0 : sorted[sorted.count / 2]
        }
        return DemoReport(
            state: state, connections: summaries, expectationsMet: summaries.allSatisfy(\.expectationsMet),
            pending: pending,
            http: HTTP(
                jaggaerRequests: jaggaerRequests,
                jaggaerRequestsPerCapturedInvoice: captured > 0 ? Double(jaggaerRequests) / Double(captured) : nil,
                keycloakTokenRequests: counters.sum { $0.hasPrefix("keycloak ") },
                entraTokenRequests: counters.sum { $0.hasPrefix("entra ") }),
            timings: withTimings, stepInvocations: stats.byFunction, retries: stats.retried)
    }

    func print() {
        func line(_ label: String, _ value: any CustomStringConvertible) {
            Swift.print(label.padding(toLength: 36, withPad: " ", startingAt: 0) + value.description)
        }
        Swift.print(
            "ml-connector demo: JAGGAER ONE → \(connections.map(\.erpName).joined(separator: ", ")) (simulated, state \(state))"
        )
        for summary in connections {
            Swift.print("")
            summary.print()
        }
        Swift.print("")
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
        line("Still queued", pending)
        if let leg = mappingFirst {
            line(
                "Mapping first (vendor \(leg.vendor))",
                leg.note
                    ?? (leg.met
                        ? "waited on \(leg.waitedOn.joined(separator: ", ")), drafted after the vendor sync as \(leg.document ?? "?")"
                        : "NOT MET: waited on \(leg.waitedOn), drafted after sync: \(leg.draftedAfterSync)"))
        }
        for text in purchaseOrders?.lines() ?? [] { Swift.print(text) }
        if let legs = businessCentralLegs { DemoLegBusinessCentral.print(legs) }
        if let jaggaerWriter { DemoLegJaggaerWriter.print(jaggaerWriter) }
        for text in financeOperationsPurchaseOrders?.lines() ?? [] { Swift.print(text) }
        Swift.print("")
        if expectationsMet {
            Swift.print(
                "Every invoice ended where the tenant expects it, in every ERP. Drafts stay drafts: only the draft an operator approved was posted, once."
            )
        } else {
            Swift.print("MISMATCHES against the tenant's expected outcomes (see each connection above).")
        }
        Swift.print("Inspect a record: local-runner audit jaggaer-invoice-<id> --connection <id> --state \(state)")
    }
}

/// What a demo run did for one connection, checked against the simulated tenant's expected outcomes.
struct DemoSummary: Codable, Sendable {
    struct ERP: Codable, Sendable {
        /// Supplier invoices the ERP holds (drafts included).
        var documents: Int
        var byStatus: [String: Int]
        var drafts: Int
        /// Invoice lines linked to a purchase-order line.
        var purchaseOrderLinkedLines: Int
        /// (vendor, vendor invoice number) pairs held more than once: must be zero.
        var duplicateNaturalKeys: Int
    }
    struct HTTP: Codable, Sendable {
        /// Requests to the ERP (its API and its sign-in), and per invoice written this run.
        var erpRequests: Int
        var erpRequestsPerWrittenInvoice: Double?
        var byEndpoint: [String: Int]
    }

    var connection: String
    var erpKind: String
    var erpName: String
    var invoicesInJaggaer: Int
    var approved: Int
    var drafted: Int
    var draftedThisRun: Int
    var alreadyInERP: Int
    var duplicatesSkippedThisRun: Int
    var sentToReview: Int
    var reviewByReason: [String: Int]
    var failed: Int
    var captured: Int
    var expectationsMet: Bool
    var mismatches: [String]
    var erp: ERP
    var http: HTTP

    static func build(
        tenant: DemoTenant,
        store: any StateStore,
        connection: Connection,
        erp: SimulatorEndpoints.ERP,
        run: RunSummary.ConnectionSummary,
        pending: Int,
        counters: SimulatorControl.Counters,
        documents: [SimulatedDocument]
    ) async throws -> DemoSummary {
        let keys = try StateKeys(connection: connection.id)
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
        let expectations = tenant.expectations(
            maxVendorInvoiceNumberLength: erp.maxVendorInvoiceNumberLength,
            takesCreditMemos: erp.takesCreditMemos ?? false,
            matchesPurchaseOrders: erp.matchesPurchaseOrders ?? false)
        for (id, expected) in expectations.sorted(by: { $0.key < $1.key }) {
            let recordId = SupplierInvoice.recordId(source: "jaggaer", sourceId: String(id))
            let actual = statuses[recordId]
            let ok: Bool
            switch expected {
            case .notApproved:
                ok = actual == nil
            case .drafted:
                approved += 1
                // A draft an operator approved since (the posting leg) is posted.
                ok = actual?.state == .written || actual?.state == .posted
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
        for document in documents {
            natural["\(document.vendorNumber)|\(document.vendorInvoiceNumber)", default: 0] += 1
            byStatus[document.status, default: 0] += 1
        }
        let prefix = erp.counterPrefix + " "
        let erpCounters = counters.values.filter { $0.key.hasPrefix(prefix) }
        let erpRequests = erpCounters.values.reduce(0, +)
        let duplicates = natural.values.filter { $0 > 1 }.count
        return DemoSummary(
            connection: connection.id,
            erpKind: erp.kind,
            erpName: erp.name,
            invoicesInJaggaer: tenant.jaggaerInvoices.count,
            approved: approved,
            drafted: statuses.values.filter { $0.state == .written }.count,
            draftedThisRun: run.drafted,
            alreadyInERP: statuses.values.filter { $0.state == .alreadyInERP }.count,
            duplicatesSkippedThisRun: run.duplicates,
            sentToReview: review.count,
            reviewByReason: reviewByReason,
            failed: dead.count,
            captured: run.captured,
            expectationsMet: mismatches.isEmpty && dead.isEmpty && pending == 0 && duplicates == 0,
            mismatches: Array(mismatches.prefix(25)),
            erp: ERP(
                documents: documents.count, byStatus: byStatus, drafts: documents.filter(\.draft).count,
                purchaseOrderLinkedLines: documents.reduce(0) { $0 + $1.purchaseOrderLinkedLines },
                duplicateNaturalKeys: duplicates),
            http: HTTP(
                erpRequests: erpRequests,
                erpRequestsPerWrittenInvoice: run.drafted > 0 ? Double(erpRequests) / Double(run.drafted) : nil,
                byEndpoint: erpCounters)
        )
    }

    func print() {
        func line(_ label: String, _ value: any CustomStringConvertible) {
            Swift.print(label.padding(toLength: 36, withPad: " ", startingAt: 0) + value.description)
        }
        Swift.print("\(erpName) (connection \(connection))")
        line("  Invoices in JAGGAER", "\(invoicesInJaggaer) (approved \(approved), captured this run \(captured))")
        line("  Drafted in \(erpName)", "\(drafted) (this run: \(draftedThisRun))")
        line("  Already in the ERP (skipped)", alreadyInERP)
        line("  Duplicates skipped this run", duplicatesSkippedThisRun)
        line("  Sent to review", sentToReview)
        for (reason, count) in reviewByReason.sorted(by: { $0.key < $1.key }) {
            line("    \(reason)", count)
        }
        line("  Failed (dead-letter)", failed)
        line(
            "  Supplier invoices in the ERP",
            "\(erp.documents) (\(erp.byStatus.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value)" }.joined(separator: ", ")))"
        )
        if erp.purchaseOrderLinkedLines > 0 { line("  Lines linked to their PO lines", erp.purchaseOrderLinkedLines) }
        line("  Duplicate vendor invoice numbers", erp.duplicateNaturalKeys)
        line(
            "  \(erpName) requests",
            "\(http.erpRequests) (\(http.erpRequestsPerWrittenInvoice.map { String(format: "%.2f", $0) } ?? "-") per written invoice)"
        )
        if expectationsMet {
            Swift.print("  Every invoice ended where the tenant expects it.")
        } else {
            Swift.print("  MISMATCHES:")
            for mismatch in mismatches { Swift.print("    \(mismatch)") }
        }
    }
}
