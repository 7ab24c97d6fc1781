import ConnectorCore
import ConnectorHTTP
import ConnectorRunner
import ConnectorRuntime
import Foundation

/// The demo's purchase-order leg (issue 9, JAGGAER purchase orders into the ERPs that take them): after the
/// master-data sync and before the invoice poll, `sync-purchase-orders` runs for every connection, so an ERP that
/// takes purchase orders (SAP Business One) holds JAGGAER's POs before the invoices quoting them arrive, and those
/// invoices are drafted against them instead of waiting in review as `po.not_in_erp`.
struct DemoPurchaseOrderLeg: Codable, Sendable {
    struct PerConnection: Codable, Sendable {
        var connection: String
        var erpKind: String
        var takesPurchaseOrders: Bool
        var written: Int
        var inReview: Int
    }

    var connections: [PerConnection]
    /// Every ERP that takes purchase orders got some, none that doesn't did, and none was dead-lettered.
    var expectationsMet: Bool

    static func run(
        runner: Runner, store: any StateStore, connections: [(connection: Connection, erp: SimulatorEndpoints.ERP)]
    ) async throws -> DemoPurchaseOrderLeg {
        let before = await runner.summary
        for (connection, _) in connections {
            try await runner.submit(Schedules.purchaseOrderEvent(connection: connection.id))
        }
        try await runner.drain(waitForDelayed: true, deadline: Date().addingTimeInterval(300))
        let after = await runner.summary
        var results: [PerConnection] = []
        var met = true
        for (connection, erp) in connections {
            let takes = (try? Systems.erp(erp.kind))?.capabilities.purchaseOrderWrites ?? false
            let written =
                (after.connections[connection.id]?.purchaseOrdersWritten ?? 0)
                - (before.connections[connection.id]?.purchaseOrdersWritten ?? 0)
            let review = try await ReviewQueue(store: store, keys: try StateKeys(connection: connection.id))
                .list(status: .open).filter { $0.step == SyncPurchaseOrdersStep.name }.count
            let dead =
                (after.connections[connection.id]?.deadLettered.values.reduce(0, +) ?? 0)
                - (before.connections[connection.id]?.deadLettered.values.reduce(0, +) ?? 0)
            if dead > 0 || (takes && written == 0) || (!takes && written > 0) { met = false }
            results.append(
                PerConnection(
                    connection: connection.id, erpKind: erp.kind, takesPurchaseOrders: takes, written: written,
                    inReview: review))
        }
        return DemoPurchaseOrderLeg(connections: results, expectationsMet: met)
    }

    func lines() -> [String] {
        ["JAGGAER purchase orders (before the invoice poll):"]
            + connections.map { entry in
                entry.takesPurchaseOrders
                    ? "  \(entry.erpKind): \(entry.written) written, \(entry.inReview) in review"
                    : "  \(entry.erpKind): not supported by the ERP"
            }
    }
}

/// The step's name as the runner knows it (the executable under functions/).
enum SyncPurchaseOrdersStep {
    static let name = "sync-purchase-orders"
}
