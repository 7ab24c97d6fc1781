import ConnectorCore
import ConnectorFlows
import ConnectorHTTP
import ConnectorRuntime
import ConnectorSimulators
import ConnectorTesting
import FinanceOperations
import Foundation
import Jaggaer
import Logging
import Testing

/// F&O released products → JAGGAER catalog items (`sync-accounts`, kind `products`), against both simulators:
/// only where `jaggaer.writer.catalogItems` is on.
@Suite("F&O released products reach the JAGGAER catalog", .serialized, .timeLimit(.minutes(5)))
struct FinanceOperationsCatalogPushTests {
    static let putCounter = "jaggaer PUT catalogitems/{number}"
    static let readCounter = "fo GET ReleasedProductsV2"

    static func handler(_ rig: FORig, catalogItems: Bool = true) throws -> SyncAccountsHandler {
        var connection = rig.connection
        connection.jaggaer.writer.catalogItems = catalogItems
        let context = StepContext(
            store: rig.store, keys: try StateKeys(connection: connection.id), connection: connection,
            clock: rig.clock, logger: Logger(label: "test"), owner: "test")
        let runtime = try ConnectionRuntime(
            context: context, vault: rig.vault, http: rig.http, counter: RequestCounter())
        return SyncAccountsHandler(
            context: runtime.context, erp: try runtime.erpConnector(), sink: try runtime.procurementSink())
    }

    static func event(_ request: MasterDataSyncRequest) throws -> CloudEvent {
        CloudEvent(
            source: "urn:test", type: EventType.masterDataSyncRequested, data: try JSONValue(encoding: request),
            connection: "fo", flow: "masterdata")
    }

    /// JAGGAER answers `status` to the PUT of this one catalog item.
    static func failPut(_ rig: FORig, _ number: String, status: Int) {
        rig.host.jaggaer.faults.add(
            FaultRule(
                kind: .status, system: "jaggaer", method: "PUT", endpoint: "catalogitems/{number}",
                pathPrefix: "/j1p/api/public/ji/v1/catalogitems/\(number)", status: status))
    }

    static func cursor(_ rig: FORig) async throws -> CatalogPush.Position? {
        try await CursorStore<CatalogPush.Position>(
            store: rig.store, keys: try StateKeys(connection: "fo"), name: CatalogPush.cursorName
        ).load()?.cursor
    }

    static let products = MasterDataSyncRequest(kinds: ["products"])
    static var ours: [String] { FODemoData.releasedProducts.map(\.number).sorted() }

    @Test("every released product of the company is pushed once with the accounts sync; a re-run sends nothing")
    func pushedOnce() async throws {
        try await FORig.start().run { rig in
            let handler = try Self.handler(rig)
            let request = MasterDataSyncRequest()
            let first = try await handler.handle(try Self.event(request), input: request)
            #expect(first.status == .ok)
            #expect(first.detail?["productsPushed"] == String(Self.ours.count))
            let writes = rig.host.jaggaer.writes
            // Only the pinned company's products (`demf`'s D0001 stays out).
            #expect(writes.catalogItems.keys.sorted() == Self.ours)
            let chair = try #require(writes.catalogItem("A0001"))
            #expect(chair["name"]?.stringValue == "Office chair")
            #expect(chair["unitOfMeasure"]?.stringValue == "ea")
            #expect(chair["unitPrice"]?.decimalValue == Decimal(string: "189.5"))
            #expect(chair["currency"]?.stringValue == "USD")
            // No purchase price: no price and no currency, never 0.
            let service = try #require(writes.catalogItem("S0001"))
            #expect(service["unitPrice"] == nil && service["currency"] == nil)
            #expect(rig.host.jaggaer.counters.count(Self.putCounter) == Self.ours.count)
            #expect(rig.simulator.counters.count(Self.readCounter) == 1)

            let second = try await handler.handle(try Self.event(Self.products), input: Self.products)
            #expect(second.status == .ok)
            #expect(second.detail?["productsPushed"] == "0")
            #expect(rig.host.jaggaer.counters.count(Self.putCounter) == Self.ours.count)
        }
    }

    @Test("a changed released product is sent again, alone")
    func changedProductResent() async throws {
        try await FORig.start().run { rig in
            let handler = try Self.handler(rig)
            _ = try await handler.handle(try Self.event(Self.products), input: Self.products)
            var row = try #require(
                rig.simulator.store.records("ReleasedProductsV2").first { $0["ItemNumber"]?.stringValue == "A0002" })
            row["ProductName"] = .string("Chair mat, hard floor")
            rig.simulator.store.upsert("ReleasedProductsV2", row)
            let before = rig.host.jaggaer.counters.count(Self.putCounter)
            let next = try await handler.handle(try Self.event(Self.products), input: Self.products)
            #expect(next.status == .ok)
            #expect(next.detail?["productsPushed"] == "1")
            #expect(rig.host.jaggaer.counters.count(Self.putCounter) - before == 1)
            #expect(rig.host.jaggaer.writes.catalogItem("A0002")?["name"]?.stringValue == "Chair mat, hard floor")
        }
    }

    @Test("a JAGGAER 5xx fails the sync with the cursor kept; the retry sends what was not sent, nothing twice")
    func outageKeepsProducts() async throws {
        try await FORig.start().run { rig in
            let handler = try Self.handler(rig)
            // JAGGAER fails on the third item (sorted by number): the first two are in the catalog.
            Self.failPut(rig, "A0003", status: 503)
            await #expect(throws: ConnectorError.self) {
                _ = try await handler.handle(try Self.event(Self.products), input: Self.products)
            }
            #expect(rig.host.jaggaer.writes.catalogItems.keys.sorted() == ["A0001", "A0002"])
            #expect(try await Self.cursor(rig) == nil)

            rig.host.jaggaer.faults.clear()
            let before = rig.host.jaggaer.counters.count(Self.putCounter)
            let retried = try await handler.handle(try Self.event(Self.products), input: Self.products)
            #expect(retried.status == .ok)
            #expect(rig.host.jaggaer.writes.catalogItems.keys.sorted() == Self.ours)
            // Only the two not sent yet go out.
            #expect(retried.detail?["productsPushed"] == "2")
            #expect(retried.detail?["productsUnchanged"] == "2")
            #expect(rig.host.jaggaer.counters.count(Self.putCounter) - before == 2)
        }
    }

    @Test("an item JAGGAER refuses goes to review, the others and the cursor go on; the review's retry sends it")
    func refusedItemInReview() async throws {
        try await FORig.start().run { rig in
            let handler = try Self.handler(rig)
            Self.failPut(rig, "A0003", status: 422)
            let first = try await handler.handle(try Self.event(Self.products), input: Self.products)
            #expect(first.status == .ok)
            #expect(first.detail?["productsRefused"] == "1")
            #expect(first.detail?["productsRefusedItems"] == "A0003")
            #expect(first.detail?["productsPushed"] == String(Self.ours.count - 1))
            #expect(rig.host.jaggaer.writes.catalogItems.keys.sorted() == Self.ours.filter { $0 != "A0003" })

            let keys = try StateKeys(connection: "fo")
            let recordId = CatalogPush.recordId(number: "A0003")
            let item = try #require(try await ReviewQueue(store: rig.store, keys: keys).get(recordId))
            #expect(item.status == .open)
            #expect(item.step == SyncAccountsHandler.step)
            #expect(item.reasons.map(\.code) == ["catalog.push_rejected"])
            #expect(item.reasons.first?.message.contains("A0003") == true)
            #expect(try await AuditLog(store: rig.store, keys: keys).status(recordId: recordId)?.state == .needsReview)
            // The refusal does not hold the feed back: the cursor moved past the page.
            #expect(try await Self.cursor(rig) != nil)

            // Once the cause is fixed, the review's retry (what `review retry` sends) sends the refused item alone.
            rig.host.jaggaer.faults.clear()
            let before = rig.host.jaggaer.counters.count(Self.putCounter)
            let retried = try await handler.handle(
                item.event, input: try item.event.decodeData(MasterDataSyncRequest.self))
            #expect(retried.status == .ok)
            #expect(retried.detail?["productsPushed"] == "1")
            #expect(retried.detail?["productsRefused"] == "0")
            #expect(rig.host.jaggaer.counters.count(Self.putCounter) - before == 1)
            #expect(rig.host.jaggaer.writes.catalogItems.keys.sorted() == Self.ours)
        }
    }

    @Test("with jaggaer.writer.catalogItems off (the default), released products are not even read")
    func offReadsNothing() async throws {
        try await FORig.start().run { rig in
            let handler = try Self.handler(rig, catalogItems: false)
            let request = MasterDataSyncRequest()
            let result = try await handler.handle(try Self.event(request), input: request)
            #expect(result.status == .ok)
            #expect(result.detail?["products"]?.hasPrefix("off") == true)
            #expect(rig.simulator.counters.count(Self.readCounter) == 0)
            #expect(rig.host.jaggaer.counters.count(Self.putCounter) == 0)
            #expect(JaggaerWriterSettings().catalogItems == false)
        }
    }

    @Test("the catalog settings are validated, and left out of the writer's revision until set")
    func settings() throws {
        let plain = try JSONCoding.encode(JaggaerWriterSettings())
        #expect(!String(decoding: plain, as: UTF8.self).contains("catalogItem"))
        let decoded = try JSONCoding.decoder.decode(
            JaggaerWriterSettings.self,
            from: Data(#"{"catalogItems": true, "catalogItemFields": {"name": "itemName"}}"#.utf8))
        #expect(decoded.catalogItems && decoded.catalogItemField("name") == "itemName")
        #expect(throws: ConnectorError.self) {
            try JSONCoding.decoder.decode(
                JaggaerWriterSettings.self, from: Data(#"{"catalogItemPath": "/items"}"#.utf8))
        }
        #expect(throws: ConnectorError.self) {
            try JSONCoding.decoder.decode(
                JaggaerWriterSettings.self, from: Data(#"{"catalogItemFields": {"colour": "c"}}"#.utf8))
        }
    }
}
