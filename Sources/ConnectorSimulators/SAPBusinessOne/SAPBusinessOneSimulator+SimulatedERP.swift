import Foundation

extension SAPBusinessOneSimulator: SimulatedERP {
    package var kind: String { "sapBusinessOne" }
    package var displayName: String { "SAP Business One" }
    package var counterPrefix: String { Self.system }
    /// `NumAtCard` is 100 characters.
    package var maxVendorInvoiceNumberLength: Int { 100 }

    package func documents() -> [SimulatedDocument] {
        let data = store.snapshot
        func document(_ row: SimJSONObject, draft: Bool) -> SimulatedDocument {
            let lines = row["DocumentLines"]?.arrayValue ?? []
            return SimulatedDocument(
                vendorNumber: row["CardCode"]?.stringValue ?? "",
                vendorInvoiceNumber: row["NumAtCard"]?.stringValue ?? "",
                status: draft ? "Draft" : (row["DocumentStatus"]?.stringValue ?? "?"), draft: draft, lines: lines.count,
                purchaseOrderLinkedLines: lines.filter { $0["BaseType"]?.intValue == 22 }.count)
        }
        return data.drafts.map { document($0, draft: true) } + data.purchaseInvoices.map { document($0, draft: false) }
    }

    package func chaosFaults(probability p: Double, seed: UInt64) -> [FaultRule] {
        let system = Self.system
        return [
            chaosRule(.dropAfterCommit, system, "POST", "Drafts", p, seed: seed, salt: 21),
            chaosRule(.dropBeforeCommit, system, "POST", "Drafts", p / 2, seed: seed, salt: 22),
            chaosRule(.status, system, "POST", "Drafts", p / 2, seed: seed, salt: 23, status: 502),
            chaosRule(.status, system, "GET", "Drafts", p, seed: seed, salt: 24, status: 500),
            chaosRule(.status, system, "GET", "PurchaseInvoices", p, seed: seed, salt: 25, status: 503),
            chaosRule(.latency, system, "GET", "PurchaseInvoices", p, seed: seed, salt: 26, latencyMs: 150),
            // The session ends under the flow's feet: one sign-in again, and the request replayed.
            chaosRule(.expireSessions, system, "GET", "Drafts", p / 2, seed: seed, salt: 27),
            chaosRule(.expireSessions, system, "POST", "Drafts", p / 4, seed: seed, salt: 28),
            chaosRule(.status, system, "GET", "PurchaseOrders", p, seed: seed, salt: 29, status: 503),
            chaosRule(.status, system, "GET", "BusinessPartners", p, seed: seed, salt: 30, status: 503),
            chaosRule(.status, system, "GET", "ChartOfAccounts", p, seed: seed, salt: 31, status: 504),
            chaosRule(.status, system, "POST", "Login", p / 2, seed: seed, salt: 32, status: 503),
        ]
    }
}
