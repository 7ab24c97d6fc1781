import Foundation

/// One supplier invoice as a simulated ERP holds it, in the same shape for every ERP: what the demo, chaos and
/// bench check (`GET /_sim/erp/documents`).
package struct SimulatedDocument: Sendable, Hashable, Codable {
    package var vendorNumber: String
    package var vendorInvoiceNumber: String
    /// The ERP's status text (`Draft`, `bost_Open`, `On Hold`, …).
    package var status: String
    /// Whether it is an unposted draft (BC draft purchase invoice, B1 draft, Acumatica bill on hold).
    package var draft: Bool
    package var lines: Int
    /// Lines linked to a purchase-order line (B1 `BaseType` 22, Acumatica `POOrderNbr`); 0 where the ERP has none.
    package var purchaseOrderLinkedLines: Int

    package init(
        vendorNumber: String, vendorInvoiceNumber: String, status: String, draft: Bool, lines: Int,
        purchaseOrderLinkedLines: Int
    ) {
        self.vendorNumber = vendorNumber
        self.vendorInvoiceNumber = vendorInvoiceNumber
        self.status = status
        self.draft = draft
        self.lines = lines
        self.purchaseOrderLinkedLines = purchaseOrderLinkedLines
    }
}

/// A simulated ERP as the demo, `local-runner chaos` and `make bench` drive it, the same way for every ERP: what a
/// connection to it looks like, what it holds, and the faults the flow must survive.
package protocol SimulatedERP: Sendable {
    /// The `erp.kind` of a connection to it.
    var kind: String { get }
    /// A name for people (`SAP Business One`).
    var displayName: String { get }
    /// The prefix of its request counters (`bc`, `sapBusinessOne`): requests per written invoice are counted by it.
    var counterPrefix: String { get }
    var faults: FaultInjector { get }
    var counters: RequestCounters { get }
    /// The longest supplier invoice number the ERP takes (the demo tenant's number-length rule).
    var maxVendorInvoiceNumberLength: Int { get }
    /// Whether its adapter writes credit memos (Acumatica `Debit Adj.`) instead of sending them to review.
    var takesCreditMemos: Bool { get }
    /// Whether its adapter checks each new invoice's purchase orders (number and vendor) against this ERP's before
    /// writing (BC), so the demo tenant's PO problems go to review there.
    var matchesPurchaseOrders: Bool { get }
    /// Whether it stores vendor and invoice numbers in upper case (NAV's Code fields).
    var upperCasesNumbers: Bool { get }
    /// Every supplier invoice it holds now, drafts included.
    func documents() -> [SimulatedDocument]
    /// Random faults over every endpoint the flow uses, each rule with its own seed: server errors, 429s, latency,
    /// connections dropped before and after a create committed, and expired tokens or sessions.
    func chaosFaults(probability: Double, seed: UInt64) -> [FaultRule]
}

extension SimulatedERP {
    package var takesCreditMemos: Bool { false }
    package var matchesPurchaseOrders: Bool { false }
    package var upperCasesNumbers: Bool { false }

    /// `vendor|number` as the ERP holds a document for them, to compare with its ``documents()``.
    package func naturalKey(vendor: String, number: String) -> String {
        upperCasesNumbers ? "\(vendor.uppercased())|\(number.uppercased())" : "\(vendor)|\(number)"
    }

    /// `GET /_sim/erp/documents`: the documents as JSON.
    var documentsJSON: SimJSON {
        .object(
            SimJSONObject([
                "value": .array(
                    documents().map { document in
                        .object(
                            SimJSONObject([
                                "vendorNumber": .string(document.vendorNumber),
                                "vendorInvoiceNumber": .string(document.vendorInvoiceNumber),
                                "status": .string(document.status),
                                "draft": .bool(document.draft),
                                "lines": .int(document.lines),
                                "purchaseOrderLinkedLines": .int(document.purchaseOrderLinkedLines),
                            ]))
                    })
            ]))
    }

    /// A rule of `chaosFaults`.
    package func chaosRule(
        _ kind: FaultRule.Kind, _ system: String, _ method: String, _ endpoint: String, _ probability: Double,
        seed: UInt64, salt: UInt64, status: Int = 503, retryAfter: Int? = nil, latencyMs: Int = 0
    ) -> FaultRule {
        FaultRule(
            kind: kind, system: system, method: method, endpoint: endpoint, probability: probability,
            seed: seed &* 1000 &+ salt, status: status, retryAfter: retryAfter, latencyMs: latencyMs)
    }
}

/// Where a simulated ERP is and how a connection reaches it: what `mlc-simulators serve` prints under `erps`.
package struct SimulatedERPEndpoint: Sendable {
    package var erp: any SimulatedERP
    /// Its base URL (the `/_sim/...` control routes are under it).
    package var baseURL: String
    /// The `erp.<kind>` block of a connection file reaching it, credentials in plain text.
    package var settings: SimJSON
    /// `mapping.dimensionValues` a connection needs for this ERP's copy of the demo company (dimension code →
    /// segment value → the ERP's value code), where its codes differ from the segment values.
    package var dimensionValues: [String: [String: String]]

    package init(
        erp: any SimulatedERP, baseURL: String, settings: SimJSON, dimensionValues: [String: [String: String]] = [:]
    ) {
        self.erp = erp
        self.baseURL = baseURL
        self.settings = settings
        self.dimensionValues = dimensionValues
    }

    package var json: SimJSON {
        .object(
            SimJSONObject([
                "kind": .string(erp.kind),
                "name": .string(erp.displayName),
                "baseURL": .string(baseURL),
                "counterPrefix": .string(erp.counterPrefix),
                "maxVendorInvoiceNumberLength": .int(erp.maxVendorInvoiceNumberLength),
                "takesCreditMemos": .bool(erp.takesCreditMemos),
                "matchesPurchaseOrders": .bool(erp.matchesPurchaseOrders),
                "settings": settings,
                "dimensionValues": .object(
                    SimJSONObject(
                        pairs: dimensionValues.sorted { $0.key < $1.key }.map { dimension, values in
                            (
                                dimension,
                                SimJSON.object(
                                    SimJSONObject(
                                        pairs: values.sorted { $0.key < $1.key }.map {
                                            ($0.key, SimJSON.string($0.value))
                                        }))
                            )
                        })),
            ]))
    }
}
