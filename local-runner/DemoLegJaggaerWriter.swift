import ConnectorCore
import ConnectorHTTP
import ConnectorRunner
import Foundation

/// The demo's JAGGAER-writer legs: vendors and accounts reach JAGGAER (as suppliers and coding values) before any
/// invoice is polled, and an invoice paid in the ERP shows as paid in JAGGAER after `sync-payment-status`.
enum DemoLegJaggaerWriter {
    /// What the simulated JAGGAER tenant holds from the ERP side (its `GET /_sim/jaggaer/writes` counts).
    struct Counts: Codable, Sendable, Hashable {
        var suppliers: Int
        var activeSuppliers: Int
        var codingValues: Int
        var activeCodingValues: Int
        var paymentStatuses: Int
    }

    /// One connection's payment leg.
    struct Payment: Codable, Sendable {
        var connection: String
        var erpKind: String
        /// Why the leg did not run for this ERP (its simulator offers no way to pay an invoice), or nil.
        var skipped: String?
        var jaggaerInvoiceId: String?
        var vendorInvoiceNumber: String?
        /// What the step said (`updated`, `unchanged`, …).
        var step: [String: String]?
        /// The payment status JAGGAER shows afterwards, read back from the simulator.
        var jaggaerPaymentStatus: String?
    }

    struct Report: Codable, Sendable {
        /// Before the first invoice poll, right after the master-data sync.
        var beforeInvoices: Counts
        var payments: [Payment]
        var problems: [String]
        var expectationsMet: Bool
    }

    private static func request(_ method: String, _ url: String, body: JSONValue? = nil) async throws -> HTTPResponse {
        let transport = AsyncHTTPClientTransport()
        do {
            let response = try await transport.send(
                HTTPRequest(
                    method: method, url: url, headers: [("Content-Type", "application/json")],
                    body: try body.map { try JSONCoding.encode($0) }, timeout: .seconds(30)))
            await transport.shutdown()
            return response
        } catch {
            await transport.shutdown()
            throw error
        }
    }

    private static func writes(_ endpoints: SimulatorEndpoints) async throws -> JSONValue {
        let response = try await request(
            "GET", endpoints.jaggaer.baseURL.trimmingTrailingSlash + "/_sim/jaggaer/writes")
        guard response.isSuccess else {
            throw ConnectorError(.upstreamUnavailable, "the JAGGAER simulator's writes answered \(response.status)")
        }
        return try JSONCoding.decode(JSONValue.self, from: response.body)
    }

    /// The JAGGAER simulator's counts now.
    static func counts(_ endpoints: SimulatorEndpoints) async throws -> Counts {
        guard let counts = try await writes(endpoints)["counts"] else {
            throw ConnectorError(.upstreamMalformed, "the JAGGAER simulator's writes have no counts")
        }
        return try counts.decode(Counts.self)
    }

    /// How a simulated ERP is told that a drafted document was paid: Business Central's `/_sim/erp/pay` (posts the
    /// draft and pays it), NAV's `/_sim/nav/pay` and F&O's `/_sim/fo/pay` (post it, then settle a payment against
    /// it), Acumatica's `bills/pay` (releases and closes the bill). SAP Business One's drafts are not
    /// invoices until someone posts them, so there is nothing to pay.
    static func payControl(_ kind: String, natural: [String], document: ERPDocumentRef?) -> (String, JSONValue)? {
        switch kind {
        case "businessCentral":
            return (
                "/_sim/erp/pay",
                .object([
                    "vendorNumber": .string(natural.first ?? ""), "vendorInvoiceNumber": .string(natural.last ?? ""),
                ])
            )
        case "dynamicsNAV":
            // Posts the invoice (purchase invoice or journal document) and pays it in full, as finance would.
            return (
                "/_sim/nav/pay",
                .object([
                    "vendorNumber": .string(natural.first ?? ""), "vendorInvoiceNumber": .string(natural.last ?? ""),
                ])
            )
        case "financeOperations":
            // Posts the pending vendor invoice (a vendor transaction) and settles a payment against it, as AP would.
            return (
                "/_sim/fo/pay",
                .object([
                    "vendorNumber": .string(natural.first ?? ""), "vendorInvoiceNumber": .string(natural.last ?? ""),
                ])
            )
        case "acumatica":
            guard let number = document?.number else { return nil }
            return ("/_sim/acumatica/bills/pay", .object(["type": .string("Bill"), "referenceNbr": .string(number)]))
        default:
            return nil
        }
    }

    /// Pays one invoice ml-connector drafted in each simulated ERP that can be told to (Business Central), runs
    /// `sync-payment-status` for those connections, and reads the status back from JAGGAER.
    static func payments(
        beforeInvoices: Counts, endpoints: SimulatorEndpoints, store: any StateStore,
        connections: [(connection: Connection, erp: SimulatorEndpoints.ERP)], runner: Runner
    ) async throws -> Report {
        var payments: [Payment] = []
        var problems: [String] = []
        if beforeInvoices.suppliers == 0 { problems.append("no supplier reached JAGGAER before the invoices") }
        if beforeInvoices.activeCodingValues == 0 {
            problems.append("no coding value reached JAGGAER before the invoices")
        }
        var paid: [(index: Int, connection: String)] = []
        // What JAGGAER showed before this run paid anything: an invoice already Paid there (a run against a kept
        // store) may rightly not come back from a feed without change stamps (NAV's ledger entries).
        let before = try await writes(endpoints)
        var stale = 0
        var attempted = 0
        for (connection, erp) in connections {
            var payment = Payment(connection: connection.id, erpKind: erp.kind)
            let keys = try StateKeys(connection: connection.id)
            // The first invoice this connection wrote (recorded in the dedup ledger), in a stable order.
            let written = try await DedupLedger(store: store, keys: keys).all()
                .filter {
                    $0.entry.phase == .recorded && !$0.entry.foundExisting && $0.key.hasPrefix("invoice/jaggaer/")
                }
                .sorted { $0.key < $1.key }
            guard let first = written.first else {
                payment.skipped = "no invoice was written"
                payments.append(payment)
                continue
            }
            let natural = first.entry.naturalKey.split(separator: "|", maxSplits: 1).map(String.init)
            guard let (path, body) = payControl(erp.kind, natural: natural, document: first.entry.document) else {
                payment.skipped =
                    erp.kind == "sapBusinessOne"
                    ? "the demo has no way to pay a drafted \(erp.name) document (B1 drafts are not invoices)"
                    : "ml-connector reads no payment status from \(erp.name) yet"
                payments.append(payment)
                continue
            }
            attempted += 1
            let response = try await request("POST", erp.baseURL.trimmingTrailingSlash + path, body: body)
            guard response.isSuccess else {
                if response.status == 404 {
                    // A kept store with new simulators: the ERP no longer holds what the store says was written.
                    payment.skipped = "\(erp.name) no longer holds the invoice the store recorded (new simulators?)"
                    stale += 1
                } else {
                    payment.skipped = "the \(erp.name) simulator cannot pay an invoice (HTTP \(response.status))"
                }
                payments.append(payment)
                continue
            }
            payment.jaggaerInvoiceId = String(first.key.dropFirst("invoice/jaggaer/".count))
            payment.vendorInvoiceNumber = natural.last
            try await runner.submit(Schedules.paymentStatusEvent(connection: connection.id))
            paid.append((payments.count, connection.id))
            payments.append(payment)
        }
        guard !paid.isEmpty else {
            // Only a problem when an ERP that can be paid failed for another reason than a stale store.
            if attempted > stale { problems.append("no simulated ERP could pay an invoice") }
            return Report(
                beforeInvoices: beforeInvoices, payments: payments, problems: problems,
                expectationsMet: problems.isEmpty)
        }
        try await runner.drain(waitForDelayed: true, deadline: Date().addingTimeInterval(300))
        let after = try await writes(endpoints)
        for (index, connectionId) in paid {
            let keys = try StateKeys(connection: connectionId)
            let audit = AuditLog(store: store, keys: keys)
            if let entry = try await audit.entries(recordId: "paymentstatus").last {
                payments[index].step = entry.detail
            }
            let id = payments[index].jaggaerInvoiceId ?? ""
            let status = after["paymentStatuses"]?[id]?["paymentStatus"]?.stringValue
            payments[index].jaggaerPaymentStatus = status
            // The same JAGGAER invoice may have been set by another connection: this one's step must have seen it too.
            let seen =
                (Int(payments[index].step?["updated"] ?? "") ?? 0)
                + (Int(payments[index].step?["unchanged"] ?? "") ?? 0)
            let alreadyPaid = before["paymentStatuses"]?[id]?["paymentStatus"]?.stringValue == "Paid"
            if seen == 0, !alreadyPaid {
                problems.append("\(payments[index].erpKind): sync-payment-status did not see the paid invoice \(id)")
            }
            if status != "Paid" {
                problems.append(
                    "\(payments[index].erpKind): invoice \(id) was paid in the ERP but JAGGAER shows \(status ?? "no payment status")"
                )
            }
        }
        return Report(
            beforeInvoices: beforeInvoices, payments: payments, problems: problems, expectationsMet: problems.isEmpty)
    }

    static func print(_ report: Report) {
        Swift.print("")
        Swift.print(
            "JAGGAER before invoices: \(report.beforeInvoices.suppliers) suppliers (\(report.beforeInvoices.activeSuppliers) active), \(report.beforeInvoices.codingValues) coding values (\(report.beforeInvoices.activeCodingValues) active)"
        )
        for payment in report.payments {
            if let skipped = payment.skipped {
                Swift.print("  payment status, \(payment.erpKind): not shown (\(skipped))")
            } else {
                Swift.print(
                    "  payment status, \(payment.erpKind): invoice \(payment.jaggaerInvoiceId ?? "?") posted and paid in the simulated ERP → JAGGAER shows \(payment.jaggaerPaymentStatus ?? "nothing") (step: \(payment.step?["updated"] ?? "?") updated, \(payment.step?["unchanged"] ?? "?") unchanged)"
                )
            }
        }
        if report.payments.contains(where: { $0.skipped == nil }) {
            Swift.print("  (the demo pays that invoice through the simulator's control; ml-connector posts nothing)")
        }
        for problem in report.problems { Swift.print("  PROBLEM: \(problem)") }
    }
}
