import ConnectorSimulators
import ConnectorTesting
import Foundation

/// Acumatica's simulator as the conformance suite's backend (ready for the Acumatica adapter): data and faults
/// arranged from outside the connector, bills counted in the simulator's own store.
struct AcumaticaTestBackend: ERPTestBackend {
    let host: SimulatorHost

    func activeVendor() async throws -> String {
        let vendor = host.tenant.businessCentral.vendors.first {
            $0.blocked.trimmingCharacters(in: .whitespaces).isEmpty && $0.currencyCode.isEmpty
        }
        guard let vendor else { throw AcumaticaBackendError("the demo tenant has no active vendor") }
        return vendor.number
    }

    /// An active expense account of the demo chart (`60100`, Office Supplies).
    func expenseAccount() async throws -> String { "60100" }

    func addVendors(count: Int, prefix: String) async throws -> [String] {
        host.acumatica.addVendors(count: count, prefix: prefix)
    }

    func documentCount(vendor: String, vendorInvoiceNumber: String) async throws -> Int {
        host.acumatica.billCount(vendor: vendor, vendorRef: vendorInvoiceNumber)
    }

    func dropNextCreateAfterCommit() async throws {
        host.acumatica.faults.add(
            FaultRule(kind: .dropAfterCommit, system: "acumatica", method: "PUT", endpoint: "Bill", count: 1))
    }

    func failReads(status: Int) async throws {
        host.acumatica.faults.add(
            FaultRule(kind: .status, system: "acumatica", method: "GET", endpoint: "Vendor", status: status))
    }

    func clearFaults() async throws { host.acumatica.faults.clear() }

    func advanceClock(seconds: Double) async throws { host.clock.advance(by: seconds) }
}

struct AcumaticaBackendError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
