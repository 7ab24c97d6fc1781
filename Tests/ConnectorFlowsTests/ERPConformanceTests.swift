import BusinessCentral
import ConnectorCore
import ConnectorFlows
import ConnectorRuntime
import ConnectorSimulators
import ConnectorTesting
import Foundation
import Testing

/// Business Central's simulator as the conformance suite's backend: data and faults arranged from outside the
/// connector, documents counted in the simulator's own store.
struct BusinessCentralTestBackend: ERPTestBackend {
    let host: SimulatorHost
    let tenant: DemoTenant

    var companyId: String { tenant.credentials.companyId }

    func activeVendor() async throws -> String {
        try #require(tenant.businessCentral.vendors.first { $0.blocked.trimmingCharacters(in: .whitespaces).isEmpty })
            .number
    }

    func expenseAccount() async throws -> String {
        try #require(
            tenant.businessCentral.accounts.first {
                $0.accountType == "Posting" && $0.blocked != true && $0.category == "Expense"
            }
                ?? tenant.businessCentral.accounts.first { $0.accountType == "Posting" && $0.blocked != true }
        ).number
    }

    func addVendors(count: Int, prefix: String) async throws -> [String] {
        var numbers: [String] = []
        for index in 0..<count {
            let number = "\(prefix)\(String(format: "%05d", index))"
            _ = try host.businessCentral.store.upsertVendor(
                companyId: companyId, number: number, displayName: "Conformance \(index)")
            numbers.append(number)
        }
        return numbers
    }

    func documentCount(vendor: String, vendorInvoiceNumber: String) async throws -> Int {
        host.businessCentral.store.allPurchaseInvoices.filter {
            $0.invoice.vendorNumber == vendor && $0.invoice.vendorInvoiceNumber == vendorInvoiceNumber
        }.count
    }

    func dropNextCreateAfterCommit() async throws {
        host.businessCentral.faults.add(
            FaultRule(kind: .dropAfterCommit, system: "bc", method: "POST", endpoint: "purchaseInvoices", count: 1))
    }

    func failReads(status: Int) async throws {
        host.businessCentral.faults.add(
            FaultRule(kind: .status, system: "bc", method: "GET", endpoint: "vendors", status: status))
    }

    func clearFaults() async throws { host.businessCentral.faults.clear() }

    func advanceClock(seconds: Double) async throws { host.clock.advance(by: seconds) }
}

@Suite("ERP adapter conformance", .serialized, .timeLimit(.minutes(5)))
struct ERPConformanceTests {
    @Test("Business Central passes the adapter conformance suite against its simulator")
    func businessCentral() async throws {
        let rig = try await FlowRig.start(invoices: 5)
        do {
            try await ERPConformance.run(
                { try rig.runtime().erpConnector() },
                backend: BusinessCentralTestBackend(host: rig.host, tenant: rig.tenant))
            await rig.stop()
        } catch {
            await rig.stop()
            throw error
        }
    }
}
