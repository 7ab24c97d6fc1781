import ConnectorSimulators
import ConnectorTesting
import Foundation
import Testing

/// The SAP Business One Service Layer simulator as the conformance suite's backend: data and faults arranged from
/// outside the connector, documents (drafts and A/P invoices) counted in the simulator's own store. For the B1
/// adapter's conformance test, once the adapter is in: `ERPConformance.run(…, backend:
/// SAPBusinessOneTestBackend(host: rig.host))`.
struct SAPBusinessOneTestBackend: ERPTestBackend {
    let host: SimulatorHost
    /// The entity set the adapter creates documents in (`Drafts` for draft invoices).
    var createEndpoint = "Drafts"

    var simulator: SAPBusinessOneSimulator { host.sapBusinessOne }

    func activeVendor() async throws -> String {
        let company = simulator.store.snapshot
        let vendor = company.businessPartners.first {
            $0["CardType"]?.stringValue == "cSupplier" && $0["Frozen"]?.stringValue == "tNO"
                && $0["Currency"]?.stringValue == company.localCurrency
        }
        return try #require(vendor?["CardCode"]?.stringValue)
    }

    func expenseAccount() async throws -> String {
        let account = simulator.store.snapshot.chartOfAccounts.first {
            $0["AccountType"]?.stringValue == "at_Expenses" && $0["ActiveAccount"]?.stringValue == "tYES"
                && $0["FrozenFor"]?.stringValue != "tYES" && $0["ControlAccount"]?.stringValue != "tYES"
        }
        return try #require(account?["Code"]?.stringValue)
    }

    func addVendors(count: Int, prefix: String) async throws -> [String] {
        simulator.store.addVendors(count: count, prefix: prefix)
    }

    func documentCount(vendor: String, vendorInvoiceNumber: String) async throws -> Int {
        let counts = simulator.store.documentCount(cardCode: vendor, numAtCard: vendorInvoiceNumber)
        return counts.drafts + counts.invoices
    }

    func dropNextCreateAfterCommit() async throws {
        simulator.faults.add(
            .dropAfterCommit(
                system: SAPBusinessOneSimulator.system, method: "POST", endpoint: createEndpoint, count: 1))
    }

    func failReads(status: Int) async throws {
        simulator.faults.add(
            FaultRule(
                kind: .status, system: SAPBusinessOneSimulator.system, method: "GET", endpoint: "BusinessPartners",
                status: status))
    }

    func clearFaults() async throws { simulator.faults.clear() }

    func advanceClock(seconds: Double) async throws { host.clock.advance(by: seconds) }
}

@Suite("SAP Business One test backend")
struct SAPBusinessOneTestBackendTests {
    @Test("the backend arranges what the conformance suite needs in the B1 simulator")
    func backend() async throws {
        try await withSimulators(tenant: DemoTenant.generate(invoiceCount: 5, seed: 3)) { host in
            let backend = SAPBusinessOneTestBackend(host: host)
            let vendor = try await backend.activeVendor()
            let account = try await backend.expenseAccount()
            #expect(host.sapBusinessOne.store.snapshot.businessPartner(vendor) != nil)
            #expect(host.sapBusinessOne.store.snapshot.account(account)?["ActiveAccount"]?.stringValue == "tYES")
            let added = try await backend.addVendors(count: 3, prefix: "CF")
            #expect(added.count == 3)
            #expect(added.allSatisfy { host.sapBusinessOne.store.snapshot.businessPartner($0) != nil })
            #expect(try await backend.documentCount(vendor: vendor, vendorInvoiceNumber: "none") == 0)
            try await backend.failReads(status: 503)
            #expect(host.sapBusinessOne.faults.activeRules.count == 1)
            try await backend.clearFaults()
            #expect(host.sapBusinessOne.faults.activeRules.isEmpty)
        }
    }
}
