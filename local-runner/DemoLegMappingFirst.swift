import ConnectorCore
import ConnectorHTTP
import ConnectorRunner
import ConnectorSimulators
import Foundation

/// The demo's "mapping first" leg (Business Central): an approved invoice from a supplier the ERP does not have yet
/// waits in review on `vendor.unmapped`; the vendor is then created in Business Central, the next vendor sync brings
/// it in, and the invoice is drafted without anyone running `review retry`.
///
/// The leg adds its own invoice to the JAGGAER simulator (a copy of a clean seeded invoice under a new supplier), so
/// the seeded tenant's expectations stay as they are; once drafted, the invoice is taken off JAGGAER's approved list
/// (its status set to `Pending`) so later demo runs on the same simulators count the seeded invoices only. A run on
/// a store where the leg's invoice is already drafted reports that and changes nothing.
enum DemoLegMappingFirst {
    static let invoiceId = 2_990_001
    static let supplierNumber = "LATE-0001"
    static let supplierName = "Late Arrival Lab Supply"
    static let supplierInvoiceNumber = "LATE-INV-0001"

    struct Report: Codable, Sendable {
        var record: String
        var vendor: String
        /// The review reasons the invoice waited on before the vendor existed (empty: it never waited).
        var waitedOn: [String]
        /// Whether the record was drafted after the vendor sync, by the sync's own redelivery.
        var draftedAfterSync: Bool
        var document: String?
        /// Set when an earlier run on this store already drafted the invoice.
        var note: String?
        var met: Bool
    }

    static func run(
        tenant: DemoTenant, runner: Runner, store: any StateStore,
        connections: [(connection: Connection, erp: SimulatorEndpoints.ERP)], endpoints: SimulatorEndpoints
    ) async throws -> Report? {
        guard let (connection, erp) = connections.first(where: { $0.erp.kind == "businessCentral" }) else {
            return nil
        }
        let record = SupplierInvoice.recordId(source: "jaggaer", sourceId: String(invoiceId))
        let keys = try StateKeys(connection: connection.id)
        let audit = AuditLog(store: store, keys: keys)
        if let status = try await audit.status(recordId: record), status.state == .written {
            return Report(
                record: record, vendor: supplierNumber, waitedOn: [], draftedAfterSync: true,
                document: status.document?.number, note: "drafted by an earlier run on this store", met: true)
        }
        guard let invoice = template(tenant) else {
            throw ConnectorError(.internalError, "the demo tenant has no clean USD invoice to copy for the leg")
        }

        // 1. The invoice arrives from a supplier Business Central does not have: it waits in review.
        try await post(endpoints.jaggaer.baseURL, "/_sim/invoices", invoice.serialized())
        try await runner.submit(Schedules.pollEvent(connection: connection.id))
        try await runner.drain(waitForDelayed: true, deadline: Date().addingTimeInterval(300))
        let waiting = try await ReviewQueue(store: store, keys: keys).get(record)
        let waitedOn =
            waiting.map { item in item.status == .open ? item.reasons.map(\.code) : [] } ?? []

        // 2. The vendor is created in Business Central; the next vendor sync brings it in and sends the invoice on.
        let vendor = SimJSON.object(
            SimJSONObject(["number": .string(supplierNumber), "displayName": .string(supplierName)]))
        try await post(erp.baseURL, "/_sim/bc/vendors", vendor.serialized())
        try await runner.submit(Schedules.syncEvent(connection: connection.id, full: true))
        try await runner.drain(waitForDelayed: true, deadline: Date().addingTimeInterval(300))
        let after = try await audit.status(recordId: record)
        let drafted = after?.state == .written

        // 3. Off JAGGAER's approved list, so later runs against the same simulators see the seeded tenant only.
        if var header = invoice["header"]?.objectValue, var document = invoice.objectValue {
            header["workflowStatus"] = .string("Pending")
            document["header"] = .object(header)
            try await post(endpoints.jaggaer.baseURL, "/_sim/invoices", SimJSON.object(document).serialized())
        }
        return Report(
            record: record, vendor: supplierNumber, waitedOn: waitedOn, draftedAfterSync: drafted,
            document: after?.document?.number, note: nil,
            met: waitedOn.contains("vendor.unmapped") && drafted)
    }

    /// A clean seeded invoice (drafted in Business Central, in USD, quoting no purchase order: a PO names its own
    /// vendor, which the new supplier is not) under the leg's new supplier and numbers.
    static func template(_ tenant: DemoTenant) -> SimJSON? {
        let clean = tenant.jaggaerInvoices.first { invoice in
            guard let id = invoice["header"]?["invoiceId"]?.intValue else { return false }
            let lines = invoice["lineList"]?["invoiceLine"]?.arrayValue ?? []
            return tenant.expectations[id] == .drafted
                && invoice["header"]?["total"]?["currency"]?.stringValue == "USD"
                && !lines.isEmpty && lines.allSatisfy { $0["poNumber"]?.stringValue == nil }
        }
        guard let clean, var document = clean.objectValue, var header = clean["header"]?.objectValue,
            var supplier = header["supplier"]?.objectValue
        else { return nil }
        supplier["id"] = .int(1_003_899_001)
        supplier["name"] = .string(supplierName)
        supplier["supplierNumber"] = .string(supplierNumber)
        header["supplier"] = .object(supplier)
        header["invoiceId"] = .int(invoiceId)
        header["supplierInvoiceNumber"] = .string(supplierInvoiceNumber)
        header["workflowStatus"] = .string("Completed")
        header["lastUpdate"] = nil
        document["header"] = .object(header)
        return .object(document)
    }

    private static func post(_ base: String, _ path: String, _ body: [UInt8]) async throws {
        let transport = AsyncHTTPClientTransport()
        do {
            let response = try await transport.send(
                HTTPRequest(
                    method: "POST", url: base.trimmingTrailingSlash + path,
                    headers: [("Content-Type", "application/json")], body: Data(body), timeout: .seconds(30)))
            await transport.shutdown()
            guard response.isSuccess else {
                throw ConnectorError(.upstreamUnavailable, "simulator control \(path) answered \(response.status)")
            }
        } catch {
            await transport.shutdown()
            throw error
        }
    }
}
