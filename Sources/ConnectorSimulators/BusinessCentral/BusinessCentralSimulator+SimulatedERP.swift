import Foundation

extension BusinessCentralSimulator: SimulatedERP {
    package var kind: String { "businessCentral" }
    package var displayName: String { "Business Central" }
    package var counterPrefix: String { "bc" }
    /// `vendorInvoiceNumber` is Code[35].
    package var maxVendorInvoiceNumberLength: Int { 35 }
    package var matchesPurchaseOrders: Bool { true }

    package func documents() -> [SimulatedDocument] {
        store.allPurchaseInvoices.map { entry in
            SimulatedDocument(
                vendorNumber: entry.invoice.vendorNumber, vendorInvoiceNumber: entry.invoice.vendorInvoiceNumber,
                status: entry.invoice.status, draft: entry.invoice.status == "Draft", lines: entry.invoice.lines.count,
                purchaseOrderLinkedLines: 0)
        }
    }

    package func chaosFaults(probability p: Double, seed: UInt64) -> [FaultRule] {
        [
            chaosRule(.dropAfterCommit, "bc", "POST", "purchaseInvoices", p, seed: seed, salt: 1),
            chaosRule(.dropBeforeCommit, "bc", "POST", "purchaseInvoices", p / 2, seed: seed, salt: 2),
            chaosRule(
                .status, "bc", "POST", "purchaseInvoices", p / 2, seed: seed, salt: 3, status: 429, retryAfter: 1),
            chaosRule(.status, "bc", "POST", "purchaseInvoices", p / 2, seed: seed, salt: 4, status: 502),
            chaosRule(.status, "bc", "GET", "purchaseInvoices", p, seed: seed, salt: 5, status: 500),
            chaosRule(
                .status, "bc", "GET", "purchaseInvoices", p / 2, seed: seed, salt: 6, status: 429, retryAfter: 10),
            chaosRule(.latency, "bc", "GET", "purchaseInvoices", p, seed: seed, salt: 7, latencyMs: 150),
            chaosRule(.expireTokens, "bc", "GET", "purchaseInvoices", p / 4, seed: seed, salt: 8),
            chaosRule(.status, "bc", "GET", "vendors", p, seed: seed, salt: 9, status: 503),
            chaosRule(.status, "bc", "GET", "accounts", p, seed: seed, salt: 10, status: 504),
            // The page's batch lookup (natural keys and POs in one `$batch`).
            chaosRule(.status, "bc", "POST", "$batch", p, seed: seed, salt: 11, status: 500),
            chaosRule(.status, "bc", "POST", "$batch", p / 2, seed: seed, salt: 12, status: 429, retryAfter: 1),
            chaosRule(.latency, "bc", "POST", "$batch", p, seed: seed, salt: 13, latencyMs: 150),
        ]
    }
}
