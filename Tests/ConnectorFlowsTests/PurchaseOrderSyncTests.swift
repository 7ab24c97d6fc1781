import ConnectorCore
import ConnectorFlows
import ConnectorRuntime
import ConnectorSimulators
import Foundation
import Logging
import SAPBusinessOne
import Testing

/// `sync-purchase-orders`: JAGGAER purchase orders into SAP Business One (which takes them), checkpointed per page,
/// idempotent, bad ones to review; an ERP without purchase-order writes answers "not supported".
@Suite("Purchase orders from JAGGAER into the ERP", .serialized, .timeLimit(.minutes(5)))
struct PurchaseOrderSyncTests {
    /// A B1 company without purchase orders: they come from JAGGAER.
    static func rig(invoices: Int = 24) async throws -> B1Rig {
        let tenant = DemoTenant.generate(invoiceCount: invoices, seed: 11)
        let host = try await SimulatorHost.start(tenant: tenant, options: .init(sapBusinessOnePurchaseOrders: false))
        return B1Rig(host: host, tenant: tenant) { _ in }
    }

    static func event(_ rig: B1Rig, _ type: String, _ data: some Encodable, id: String = UUID().uuidString) throws
        -> CloudEvent
    {
        CloudEvent(
            id: id, source: "urn:test", type: type, data: try JSONValue(encoding: data),
            connection: rig.connection.id)
    }

    static func syncMasterData(_ rig: B1Rig) async throws {
        let runtime = try rig.runtime()
        let sync = try event(rig, EventType.masterDataSyncRequested, MasterDataSyncRequest(full: true))
        _ = try await SyncVendorsHandler(context: runtime.context, erp: try runtime.erpConnector()).handle(
            sync, input: .init(full: true))
        _ = try await SyncAccountsHandler(context: runtime.context, erp: try runtime.erpConnector()).handle(
            sync, input: .init(full: true))
    }

    static func handler(_ rig: B1Rig) throws -> SyncPurchaseOrdersHandler {
        let runtime = try rig.runtime()
        return SyncPurchaseOrdersHandler(
            context: runtime.context, source: try runtime.procurementSource(), erp: try runtime.erpConnector())
    }

    /// One sync request and its continuations; the details of every page.
    static func drain(_ handler: SyncPurchaseOrdersHandler, _ rig: B1Rig, first: CloudEvent? = nil) async throws
        -> [[String: String]]
    {
        var details: [[String: String]] = []
        var next: CloudEvent? =
            try first ?? event(rig, EventType.purchaseOrderSyncRequested, PurchaseOrderSyncRequest())
        while let current = next {
            try #require(details.count < 50)
            let result = try await handler.handle(current, input: try current.decodeData(PurchaseOrderSyncRequest.self))
            details.append(result.detail ?? [:])
            next = result.events.first { $0.type == EventType.purchaseOrderSyncContinue }
        }
        return details
    }

    static func sum(_ details: [[String: String]], _ key: String) -> Int {
        details.reduce(0) { $0 + (Int($1[key] ?? "0") ?? 0) }
    }

    @Test("every JAGGAER PO reaches B1 once; a replay writes nothing; a change updates; invoices link to them")
    func intoB1() async throws {
        try await Self.rig().run { rig in
            let jaggaerOrders = rig.host.jaggaer.purchaseOrders.all
            try #require(jaggaerOrders.count >= 3)
            try await Self.syncMasterData(rig)
            let handler = try Self.handler(rig)
            let start = try Self.event(
                rig, EventType.purchaseOrderSyncRequested, PurchaseOrderSyncRequest(), id: "po-1")
            let details = try await Self.drain(handler, rig, first: start)
            let written = Self.sum(details, "written")
            let reviewed = Self.sum(details, "review")
            #expect(written + reviewed == jaggaerOrders.count, "\(details)")
            #expect(written > 0)
            let rows = try await rig.rows("PurchaseOrders")
            #expect(rows.count == written)
            let numbers = Set(rows.compactMap { $0["NumAtCard"] as? String })
            #expect(numbers.count == rows.count, "one B1 PO per JAGGAER PO number")

            // Every PO not written is in review with its reason, and can be retried from there.
            let review = try await ReviewQueue(store: rig.store, keys: try StateKeys(connection: rig.connection.id))
                .list(status: .open).filter { $0.step == SyncPurchaseOrdersHandler.step }
            #expect(review.count == reviewed)
            #expect(review.allSatisfy { !$0.reasons.isEmpty && $0.event.type == EventType.purchaseOrderDetected })

            // Redelivery returns the stored page without asking anyone; a new sync finds nothing changed.
            rig.host.resetCounters()
            let again = try await handler.handle(start, input: PurchaseOrderSyncRequest())
            #expect(again.detail?["redelivered"] == "true")
            #expect(rig.host.counters.values.reduce(0, +) == 0)
            let quiet = try await Self.drain(handler, rig)
            #expect(Self.sum(quiet, "written") == 0)
            #expect(try await rig.rows("PurchaseOrders").count == written)

            // A PO changed in JAGGAER is written again (an update of the same B1 document).
            let changedNumber = try #require(numbers.sorted().first)
            var changed = try #require(
                jaggaerOrders.first { $0["header"]?["purchaseOrderNumber"]?.stringValue == changedNumber })
            let later = Date().addingTimeInterval(60)
            changed.setHeader("lastUpdate", .string(ISO8601DateFormatter().string(from: later)))
            try rig.host.jaggaer.purchaseOrders.upsert(changed)
            let delta = try await Self.drain(handler, rig)
            #expect(Self.sum(delta, "written") == 1, "\(delta)")
            #expect(try await rig.rows("PurchaseOrders").count == written, "updated, not created again")

            // An invoice quoting a PO that came from JAGGAER links to the B1 PO's lines.
            let erp = try rig.connector()
            let found = try await erp.purchaseOrders(numbers: [changedNumber])
            #expect(found.count == 1)
            await erp.close()
        }
    }

    @Test("a PO whose supplier is no B1 vendor goes to review with the reason, and is never lost")
    func unknownVendor() async throws {
        try await Self.rig(invoices: 6).run { rig in
            try await Self.syncMasterData(rig)
            var order = try #require(rig.host.jaggaer.purchaseOrders.all.first)
            order.setHeader("purchaseOrderId", .int(3_999_001))
            order.setHeader("purchaseOrderNumber", .string("PO-NO-VENDOR"))
            order.setHeader(
                "supplier", .object(SimJSONObject(["id": .int(1), "supplierNumber": .string("NOT-A-VENDOR")])))
            try rig.host.jaggaer.purchaseOrders.upsert(order)
            let details = try await Self.drain(try Self.handler(rig), rig)
            #expect(Self.sum(details, "review") >= 1)
            let review = try await ReviewQueue(store: rig.store, keys: try StateKeys(connection: rig.connection.id))
                .get("jaggaer-po-3999001")
            #expect(review?.reasons.map(\.code) == ["vendor.unmapped"])
            #expect(try await rig.rows("PurchaseOrders").allSatisfy { $0["NumAtCard"] as? String != "PO-NO-VENDOR" })
        }
    }

    @Test("an ERP that takes no purchase orders answers ok, not supported, and reads nothing")
    func notSupported() async throws {
        let rig = try await FlowRig.start(invoices: 5)
        do {
            let runtime = try rig.runtime()
            let handler = SyncPurchaseOrdersHandler(
                context: runtime.context, source: try runtime.procurementSource(), erp: try runtime.erpConnector())
            rig.host.resetCounters()
            let result = try await handler.handle(
                try rig.event(EventType.purchaseOrderSyncRequested, data: PurchaseOrderSyncRequest()),
                input: PurchaseOrderSyncRequest())
            #expect(result.status == .ok)
            #expect(result.detail?["skipped"] == "not supported by businessCentral")
            #expect(rig.host.counters.values.reduce(0, +) == 0)
            await rig.stop()
        } catch {
            await rig.stop()
            throw error
        }
    }
}
