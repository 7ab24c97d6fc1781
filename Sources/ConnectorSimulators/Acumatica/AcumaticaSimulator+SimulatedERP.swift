import Foundation

extension AcumaticaSimulator: SimulatedERP {
    package var kind: String { "acumatica" }
    package var displayName: String { "Acumatica" }
    package var counterPrefix: String { "acumatica" }
    /// `VendorRef` is 40 characters.
    package var maxVendorInvoiceNumberLength: Int { 40 }
    /// Credit memos become `Debit Adj.` documents.
    package var takesCreditMemos: Bool { true }

    package func documents() -> [SimulatedDocument] {
        store.records("Bill").map { bill in
            let details = bill.details["Details"] ?? []
            let status = bill.string("Status") ?? "?"
            return SimulatedDocument(
                vendorNumber: bill.string("Vendor") ?? "", vendorInvoiceNumber: bill.string("VendorRef") ?? "",
                status: status, draft: bill["Hold"]?.boolValue == true || status == "On Hold", lines: details.count,
                purchaseOrderLinkedLines: details.filter { !($0.string("POOrderNbr") ?? "").isEmpty }.count)
        }
    }

    package func chaosFaults(probability p: Double, seed: UInt64) -> [FaultRule] {
        [
            chaosRule(.dropAfterCommit, "acumatica", "PUT", "Bill", p, seed: seed, salt: 41),
            chaosRule(.dropBeforeCommit, "acumatica", "PUT", "Bill", p / 2, seed: seed, salt: 42),
            // The licence's limit: 429 backs off.
            chaosRule(.status, "acumatica", "PUT", "Bill", p / 2, seed: seed, salt: 43, status: 429, retryAfter: 1),
            chaosRule(.status, "acumatica", "GET", "Bill", p, seed: seed, salt: 44, status: 500),
            chaosRule(.status, "acumatica", "GET", "Bill", p / 2, seed: seed, salt: 45, status: 429),
            chaosRule(.latency, "acumatica", "GET", "Bill", p, seed: seed, salt: 46, latencyMs: 150),
            // Tokens and sessions end under the flow's feet.
            chaosRule(.expireTokens, "acumatica", "GET", "Bill", p / 4, seed: seed, salt: 47),
            chaosRule(.status, "acumatica", "GET", "Vendor", p, seed: seed, salt: 48, status: 503),
            chaosRule(.status, "acumatica", "GET", "Account", p, seed: seed, salt: 49, status: 504),
            chaosRule(.status, "acumatica", "GET", "PurchaseOrder", p, seed: seed, salt: 50, status: 503),
            chaosRule(.status, "acumatica", "POST", "token", p / 2, seed: seed, salt: 51, status: 503),
        ]
    }
}
