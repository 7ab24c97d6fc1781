import ConnectorCore
import ConnectorFlows
import ConnectorRuntime
import ConnectorSimulators
import ConnectorTesting
import FinanceOperations
import Foundation
import Jaggaer
import Logging
import Testing

/// F&O confirmed purchase orders → JAGGAER: the scheduled push against both simulators, and the "Purchase order
/// confirmed" business event (parsing, verification, duplicates and late deliveries by `ControlNumber`).
@Suite("F&O confirmed purchase orders reach JAGGAER", .serialized, .timeLimit(.minutes(5)))
struct FinanceOperationsPurchaseOrderPushTests {
    static let secret = "fo-events-0123456789abcdef"

    static func scheduled() -> CloudEvent {
        CloudEvent(
            source: "urn:test", type: EventType.purchaseOrderSyncRequested, data: .object([:]), connection: "fo",
            flow: "purchaseorders")
    }

    static func pushHandler(_ rig: FORig) throws -> PushPurchaseOrdersHandler {
        let runtime = try rig.runtime()
        return PushPurchaseOrdersHandler(
            context: runtime.context, erp: try runtime.erpConnector(), sink: try runtime.procurementSink())
    }

    static func confirmedNumbers(_ rig: FORig) -> [String] {
        rig.simulator.store.records("PurchaseOrderHeadersV2").filter {
            $0["dataAreaId"]?.stringValue == FODemoData.company
                && $0["DocumentApprovalStatus"]?.stringValue == "Confirmed"
        }.compactMap { $0["PurchaseOrderNumber"]?.stringValue }.sorted()
    }

    static let putCounter = "jaggaer PUT erppurchaseorders/{number}"

    @Test("every confirmed purchase order is pushed once; a re-run pushes nothing; unconfirmed ones stay out")
    func scheduledPush() async throws {
        try await FORig.start().run { rig in
            let handler = try Self.pushHandler(rig)
            let confirmed = Self.confirmedNumbers(rig)
            #expect(!confirmed.isEmpty)
            let first = try await handler.handle(Self.scheduled(), input: PurchaseOrderPushRequest())
            #expect(first.status == .ok)
            #expect(first.detail?["pushed"] == String(confirmed.count))
            let writes = rig.host.jaggaer.writes
            #expect(writes.purchaseOrders.keys.sorted() == confirmed)
            #expect(writes.purchaseOrder(FODemoData.unconfirmedPurchaseOrder) == nil)
            #expect(rig.host.jaggaer.counters.count(Self.putCounter) == confirmed.count)
            let number = try #require(confirmed.first)
            let body = try #require(writes.purchaseOrder(number))
            #expect(body["purchaseOrderNumber"]?.stringValue == number)
            #expect(body["supplierNumber"]?.stringValue?.isEmpty == false)
            #expect((body["lines"]?.arrayValue ?? []).isEmpty == false)
            // The order's trail says where it went.
            let status = try await AuditLog(store: rig.store, keys: try StateKeys(connection: "fo"))
                .status(recordId: PushPurchaseOrdersHandler.recordId(number: number))
            #expect(status?.state == .written)

            let second = try await handler.handle(Self.scheduled(), input: PurchaseOrderPushRequest())
            #expect(second.status == .ok)
            #expect(second.detail?["pushed"] == "0")
            #expect(rig.host.jaggaer.counters.count(Self.putCounter) == confirmed.count)
        }
    }

    @Test("a JAGGAER 5xx keeps the orders for the next run, with a replayable trail; nothing is lost")
    func jaggaerOutageKeepsOrders() async throws {
        try await FORig.start().run { rig in
            let handler = try Self.pushHandler(rig)
            let confirmed = Self.confirmedNumbers(rig)
            rig.host.jaggaer.faults.add(
                FaultRule(
                    kind: .status, system: "jaggaer", method: "PUT", endpoint: "erppurchaseorders/{number}",
                    status: 503))
            let failed = try await handler.handle(Self.scheduled(), input: PurchaseOrderPushRequest())
            #expect(failed.status == .retry)
            #expect(failed.error?.retryable == true)
            #expect(rig.host.jaggaer.writes.purchaseOrderCount == 0)
            let keys = try StateKeys(connection: "fo")
            // The cursor stayed: the next run reads the same orders again.
            let cursor = try await CursorStore<PushPurchaseOrdersHandler.Position>(
                store: rig.store, keys: keys, name: PushPurchaseOrdersHandler.cursorName
            ).load()
            #expect(cursor == nil)
            let number = try #require(confirmed.first)
            let recordId = PushPurchaseOrdersHandler.recordId(number: number)
            let audit = AuditLog(store: rig.store, keys: keys)
            #expect(try await audit.status(recordId: recordId)?.state == .failed)
            let trail = try await audit.entries(recordId: recordId)
            let replay = try #require(trail.last?.input)
            #expect(replay.type == EventType.purchaseOrderConfirmed)
            #expect(try replay.decodeData(PurchaseOrderPushRequest.self).numbers == [number])

            rig.host.jaggaer.faults.clear()
            // The replay of one order pushes it alone.
            let replayed = try await handler.handle(replay, input: try replay.decodeData(PurchaseOrderPushRequest.self))
            #expect(replayed.status == .ok)
            #expect(rig.host.jaggaer.writes.purchaseOrder(number) != nil)
            // The next scheduled run sends the rest, and the one replayed is not sent twice.
            let before = rig.host.jaggaer.counters.count(Self.putCounter)
            let next = try await handler.handle(Self.scheduled(), input: PurchaseOrderPushRequest())
            #expect(next.status == .ok)
            #expect(rig.host.jaggaer.writes.purchaseOrders.keys.sorted() == confirmed)
            #expect(rig.host.jaggaer.counters.count(Self.putCounter) - before == confirmed.count - 1)
            #expect(try await audit.status(recordId: recordId)?.state == .written)
        }
    }

    // MARK: Business events

    static func connection(
        _ base: Connection, events: FinanceOperationsBusinessEvents = .init(secret: .plain(Secret(secret)))
    ) -> Connection {
        var connection = base
        connection.notifications = NotificationSettings(events, kind: FinanceOperationsSettings.kind)
        return connection
    }

    static func notificationHandler(_ connection: Connection, store: any StateStore) throws -> NotificationHandler {
        let context = StepContext(
            store: store, keys: try StateKeys(connection: connection.id), connection: connection,
            clock: ManualClock(Date()), logger: Logger(label: "test"), owner: "test")
        return NotificationHandler(
            context: context, receiver: FinanceOperationsModule().notifications, secrets: [Secret(secret)])
    }

    static func received(_ body: String?, query: [String: String] = ["code": secret], headers: [String: String] = [:])
        throws -> (CloudEvent, WebhookRequest)
    {
        let request = WebhookRequest(
            system: FinanceOperationsSettings.kind, method: "POST", query: query, headers: headers, body: body)
        let event = CloudEvent(
            source: "urn:test", type: EventType.notificationReceived, data: try JSONValue(encoding: request),
            connection: "fo", flow: "notifications")
        return (event, request)
    }

    static func payload(
        number: String, control: Int, entity: String = "USMF", id: String = "PurchaseOrderConfirmedBusinessEvent",
        time: String = "/Date(1733220000000)/"
    ) -> String {
        #"{"BusinessEventId":"\#(id)","ControlNumber":\#(control),"EventId":"6F1B7E0A-1C44-4C1B-9E1E-2B8D8E1C0001","EventTime":"\#(time)","LegalEntity":"\#(entity)","MajorVersion":0,"MinorVersion":0,"PurchaseJournal":"\#(number)-1","PurchaseOrderDate":"/Date(1733184000000)/","PurchaseOrderNumber":"\#(number)","PurchaseType":"Purch","TransactionCurrencyAmount":2742,"TransactionCurrencyCode":"USD","VendorAccount":"V-1"}"#
    }

    static func signals(_ result: StepResult) throws -> [PurchaseOrderSignal] {
        try result.events.filter { $0.type == EventType.purchaseOrderConfirmed }.map {
            try #require(try $0.decodeData(PurchaseOrderPushRequest.self).signal)
        }
    }

    @Test("a confirmed-PO business event pushes the order read over OData, once; duplicates and late ones are dropped")
    func businessEventPush() async throws {
        try await FORig.start().run { rig in
            let connection = Self.connection(rig.connection)
            let gateway = try Self.notificationHandler(connection, store: rig.store)
            let push = try Self.pushHandler(rig)
            let number = FODemoData.unconfirmedPurchaseOrder
            let raised = try #require(
                rig.simulator.businessEvents.confirm(rig.simulator.store, company: FODemoData.company, number: number))
            let control = try #require(raised["ControlNumber"]?.intValue)
            let body = String(decoding: SimJSON.object(raised).serialized(), as: UTF8.self)

            let (event, request) = try Self.received(body)
            let accepted = try await gateway.handle(event, input: request)
            #expect(accepted.reply?.status == 202)
            let signal = try #require(try Self.signals(accepted).first)
            #expect(signal.number == number)
            #expect(signal.sequence == Int64(control))
            #expect(signal.scope == FODemoData.company)
            #expect(signal.occurredAt != nil)
            let emitted = try #require(accepted.events.first)
            #expect(emitted.recordid == PushPurchaseOrdersHandler.recordId(number: number))

            let pushed = try await push.handle(emitted, input: try emitted.decodeData(PurchaseOrderPushRequest.self))
            #expect(pushed.status == .ok)
            #expect(pushed.detail?["pushed"] == "1")
            // What JAGGAER got is F&O's order as OData has it, not the event's payload.
            let order = try #require(rig.host.jaggaer.writes.purchaseOrder(number))
            #expect(order["lines"]?.arrayValue?.count == 2)
            #expect(order["totalAmount"]?.decimalValue == Decimal(12) * Decimal(189.5) + Decimal(12) * Decimal(39))
            #expect(order["orderDate"]?.stringValue == "2024-06-03")
            let puts = rig.host.jaggaer.counters.count(Self.putCounter)
            #expect(puts == 1)

            // The same delivery again (F&O retries when it saw no answer): dropped at the gateway.
            let (again, againRequest) = try Self.received(body)
            let duplicate = try await gateway.handle(again, input: againRequest)
            #expect(duplicate.events.isEmpty)
            #expect(duplicate.detail?["ignored"]?.contains("duplicate") == true)
            #expect(duplicate.reply?.status == 202)
            // A copy already queued before the first was handled: dropped by the push step.
            let queued = try await push.handle(emitted, input: try emitted.decodeData(PurchaseOrderPushRequest.self))
            #expect(queued.detail?["dropped"] == "duplicate")
            // An older event of the same order arriving late: dropped too.
            let (late, lateRequest) = try Self.received(Self.payload(number: number, control: control - 1))
            let lateResult = try await gateway.handle(late, input: lateRequest)
            #expect(lateResult.events.isEmpty)
            #expect(lateResult.detail?["ignored"]?.contains("late") == true)
            #expect(rig.host.jaggaer.counters.count(Self.putCounter) == puts)

            // A later confirmation of the same order goes through (and changes nothing in JAGGAER).
            let (newer, newerRequest) = try Self.received(Self.payload(number: number, control: control + 7))
            let newerResult = try await gateway.handle(newer, input: newerRequest)
            let next = try #require(newerResult.events.first)
            let repushed = try await push.handle(next, input: try next.decodeData(PurchaseOrderPushRequest.self))
            #expect(repushed.status == .ok)
            #expect(repushed.detail?["unchanged"] == "1")
        }
    }

    static func standalone() throws -> Connection {
        Self.connection(
            Connection(
                id: "fo",
                jaggaer: JaggaerSettings(baseURL: "https://x.jaggaer.com", clientId: "c", clientSecret: .sealed("s")),
                erp: ERPSettings(
                    FinanceOperationsSettings(
                        tenantId: "contoso.onmicrosoft.com", clientId: "11111111-2222-3333-4444-555555555555",
                        clientSecret: .sealed("s"), environmentURL: "https://contoso.operations.dynamics.com",
                        dataAreaId: "usmf"))))
    }

    @Test("one delivery: an array, another legal entity, another event, duplicates and reordering within it")
    func deliveryScreening() async throws {
        let store = InMemoryStateStore()
        let gateway = try Self.notificationHandler(try Self.standalone(), store: store)
        let body =
            "["
            + [
                Self.payload(number: "PO-2", control: 5012),
                Self.payload(number: "PO-1", control: 5010),
                Self.payload(number: "PO-1", control: 5007),  // older, delivered after the newer one
                Self.payload(number: "PO-1", control: 5010),  // the same event twice
                Self.payload(number: "PO-9", control: 5011, entity: "USRT"),
                Self.payload(number: "PO-3", control: 5013, id: "VendorInvoicePostedBusinessEvent"),
            ].joined(separator: ",") + "]"
        let (event, request) = try Self.received(body)
        let result = try await gateway.handle(event, input: request)
        let kept = try Self.signals(result)
        #expect(kept.map(\.number) == ["PO-2", "PO-1"])
        #expect(kept.map(\.sequence) == [5012, 5010])
        let ignored = result.detail?["ignored"] ?? ""
        #expect(ignored.contains("duplicate×1"))
        #expect(ignored.contains("late×1"))
        #expect(ignored.contains("legal entity USRT"))
        #expect(ignored.contains("event VendorInvoicePostedBusinessEvent"))
        #expect(result.events.map(\.id) == ["po-signal-usmf-5012", "po-signal-usmf-5010"])

        // A single object (F&O sends one event per delivery) with the `/Date(ms)/` time.
        let (single, singleRequest) = try Self.received(Self.payload(number: "PO-4", control: 5020))
        let one = try #require(try Self.signals(try await gateway.handle(single, input: singleRequest)).first)
        #expect(one.occurredAt == Date(timeIntervalSince1970: 1_733_220_000))
        #expect(one.number == "PO-4")
    }

    @Test("a malformed delivery is refused whole with a clear error and leaves nothing; the secret is checked first")
    func refusals() async throws {
        let store = InMemoryStateStore()
        let gateway = try Self.notificationHandler(try Self.standalone(), store: store)
        let good = Self.payload(number: "PO-1", control: 5010)
        let malformed: [String?] = [
            nil, "", "not json", "[]", "3", #"{"ControlNumber":1}"#,
            #"{"BusinessEventId":"PurchaseOrderConfirmedBusinessEvent","LegalEntity":"usmf","PurchaseOrderNumber":"X"}"#,
            Self.payload(number: "PO-1", control: 5010).replacingOccurrences(of: "5010", with: "50.5"),
            Self.payload(number: "PO-1", control: 5010, time: "yesterday"),
            "[\(good), 7]",
            Self.payload(number: "", control: 5010),
        ]
        for body in malformed {
            let (event, request) = try Self.received(body)
            await #expect {
                _ = try await gateway.handle(event, input: request)
            } throws: { error in
                (error as? ConnectorError)?.code == NotificationErrors.malformed
                    && (error as? ConnectorError)?.kind == .badInput
            }
        }
        for query in [[:], ["code": "wrong-secret-0123456789"], ["other": Self.secret]] {
            let (event, request) = try Self.received(good, query: query)
            await #expect {
                _ = try await gateway.handle(event, input: request)
            } throws: { error in
                (error as? ConnectorError)?.code == NotificationErrors.unauthenticated
            }
        }
        // Nothing was recorded: the first good delivery goes through.
        #expect(try await store.scanAll(prefix: "").isEmpty)
        let (event, request) = try Self.received(good)
        #expect(try Self.signals(try await gateway.handle(event, input: request)).count == 1)

        // The secret in a header instead (a relay in front of the gateway adds it).
        let headerOnly = Self.connection(
            try Self.standalone(),
            events: FinanceOperationsBusinessEvents(
                secret: .plain(Secret(Self.secret)), queryParameter: nil, headerName: "X-MLC-Events"))
        let byHeader = try Self.notificationHandler(headerOnly, store: InMemoryStateStore())
        let (viaHeader, viaHeaderRequest) = try Self.received(good, query: [:], headers: ["x-mlc-events": Self.secret])
        #expect(try Self.signals(try await byHeader.handle(viaHeader, input: viaHeaderRequest)).count == 1)
        let (viaQuery, viaQueryRequest) = try Self.received(good)
        await #expect(throws: ConnectorError.self) {
            _ = try await byHeader.handle(viaQuery, input: viaQueryRequest)
        }
        // The audit trail keeps neither the secret's query value nor its header.
        let audited = NotificationHandler.auditedInput(viaQuery)
        let text = String(decoding: try JSONCoding.encode(audited), as: UTF8.self)
        #expect(!text.contains(Self.secret))
    }

    @Test("the business-event settings refuse unknown keys by name and need a place for the secret")
    func settings() throws {
        let decoder = JSONDecoder()
        #expect(throws: ConnectorError.self) {
            _ = try decoder.decode(
                FinanceOperationsBusinessEvents.self, from: Data(#"{"secret":"x","sharedSecret":"y"}"#.utf8))
        }
        let decoded = try decoder.decode(
            FinanceOperationsBusinessEvents.self, from: Data(#"{"secret":"x","headerName":"X-Hook"}"#.utf8))
        #expect(decoded.queryParameter == nil)
        #expect(decoded.headerName == "X-Hook")
        let neither = FinanceOperationsBusinessEvents(secret: .sealed("s"), queryParameter: nil, headerName: nil)
        #expect(throws: ConnectorError.self) { try neither.validate(prefix: "notifications.financeOperations") }
        try FinanceOperationsBusinessEvents(secret: .sealed("s")).validate(prefix: "notifications.financeOperations")
        #expect(throws: ConnectorError.self) {
            try FinanceOperationsBusinessEvents(secret: .sealed("s")).validateSecret(
                label: "secret", Secret("has spaces and /slashes 0123"), prefix: "notifications.financeOperations")
        }
    }

    @Test("the JAGGAER purchase-order path and field names are settings; an unknown name is refused by name")
    func writerSettings() throws {
        let decoder = JSONDecoder()
        let unknown = #expect(throws: ConnectorError.self) {
            try decoder.decode(
                JaggaerWriterSettings.self, from: Data(#"{"purchaseOrderFields": {"vendorNo": "x"}}"#.utf8))
        }
        #expect(unknown?.message.contains("vendorNo") == true)
        #expect(throws: ConnectorError.self) {
            try decoder.decode(JaggaerWriterSettings.self, from: Data(#"{"purchaseOrderPath": "/po/fixed"}"#.utf8))
        }
        let renamed = try decoder.decode(
            JaggaerWriterSettings.self,
            from: Data(
                #"{"purchaseOrderPath":"/custom/{number}","purchaseOrderFields":{"number":"poNumber","lines":"items"},"purchaseOrderLineFields":{"amount":"lineTotal"}}"#
                    .utf8))
        #expect(renamed.purchaseOrderPath == "/custom/{number}")
        let order = ConfirmedPurchaseOrder(
            number: "PO-1", vendorNumber: "V-1", orderDate: LocalDate(year: 2024, month: 6, day: 3),
            currencyCode: "usd",
            lines: [
                .init(lineNumber: "1", description: "Chair", quantity: 2, unitPrice: 10, amount: 20),
                .init(lineNumber: "2", category: "", quantity: 1, unitPrice: 5, amount: 5),
            ])
        guard case .object(let body) = JaggaerWriter.purchaseOrderBody(order, settings: renamed),
            case .array(let lines)? = body["items"], case .object(let first)? = lines.first,
            case .object(let second)? = lines.last
        else {
            Issue.record("the body is not a header with an items array")
            return
        }
        #expect(body["poNumber"] == .string("PO-1"))
        #expect(body["supplierNumber"] == .string("V-1"))
        #expect(body["totalAmount"] == .number(25))
        #expect(body["currency"] == .string("USD"))
        #expect(body["orderDate"] == .string("2024-06-03"))
        #expect(body["description"] == nil)
        #expect(first["lineTotal"] == .number(20))
        #expect(first["description"] == .string("Chair"))
        // Empty values are left out, never sent empty.
        #expect(second["category"] == nil)
    }

    @Test("an ERP without confirmed purchase orders is skipped with the reason")
    func otherERPsSkip() async throws {
        let store = InMemoryStateStore()
        let context = StepContext(
            store: store, keys: try StateKeys(connection: "fo"), connection: try Self.standalone(),
            clock: ManualClock(Date()), logger: Logger(label: "test"), owner: "test")
        let handler = PushPurchaseOrdersHandler(context: context, erp: FakeERP(), sink: nil)
        let result = try await handler.handle(Self.scheduled(), input: PurchaseOrderPushRequest())
        #expect(result.status == .ok)
        #expect(result.detail?["skipped"] == "fake gives no confirmed purchase orders to push")
    }
}
