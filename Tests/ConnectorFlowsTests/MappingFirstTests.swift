import BusinessCentral
import ConnectorCore
import ConnectorFlows
import ConnectorTesting
import Foundation
import Logging
import Synchronization
import Testing

/// An ERP whose master data the test sets; only the reads the syncs make.
final class MasterDataERP: ERPConnector, Sendable {
    let data = Mutex((vendors: [Vendor](), accounts: [GLAccount](), dimensions: [ERPDimension]()))

    var system: String { "fake" }
    var constraints: ERPConstraints { .businessCentral }
    var capabilities: ERPCapabilities { ERPCapabilities() }

    func findInvoices(vendorNumber: String, vendorInvoiceNumber: String) async throws -> [ERPDocumentRef] { [] }
    func createDraftInvoice(_ invoice: MappedInvoice) async throws -> ERPDocumentRef {
        throw ConnectorError(.unsupported, "not in this test")
    }
    func vendors(after cursor: ChangeCursor?, pageSize: Int) async throws -> ChangePage<Vendor> {
        ChangePage(items: data.withLock { $0.vendors }, next: ChangeCursor("c"), hasMore: false)
    }
    func accounts(after cursor: ChangeCursor?, pageSize: Int) async throws -> ChangePage<GLAccount> {
        ChangePage(items: data.withLock { $0.accounts }, next: ChangeCursor("c"), hasMore: false)
    }
    func dimensions() async throws -> [ERPDimension] { data.withLock { $0.dimensions } }
    func fitChecks() async -> [FitCheck] { [] }
}

@Suite("Mapping first: review items waiting on master data go on after the sync that brings it")
struct MappingFirstTests {
    let store = InMemoryStateStore()
    let clock = ManualClock(Date(timeIntervalSince1970: 1_800_000_000))
    let erp = MasterDataERP()
    let keys = try! StateKeys(connection: "fake")

    var context: StepContext {
        let connection = Connection(
            id: "fake",
            jaggaer: JaggaerSettings(baseURL: "https://x.jaggaer.com", clientId: "c", clientSecret: .sealed("s")),
            erp: ERPSettings(
                BusinessCentralSettings(
                    tenantId: "t", environment: "e", clientId: "c", clientSecret: .sealed("s"), companyId: "x")),
            mapping: MappingRules(
                dimensions: [SegmentDimensionRule(segment: "Fund", dimension: "FUND")], localCurrency: "USD")
        )
        return StepContext(
            store: store, keys: keys, connection: connection, clock: clock, logger: Logger(label: "test"),
            owner: "test")
    }

    func invoice(_ id: String, vendor: String, account: String = "60100", fund: String = "F1") -> SupplierInvoice {
        SupplierInvoice(
            source: "jaggaer", sourceId: id, supplierInvoiceNumber: "INV-\(id)", workflowStatus: "Completed",
            invoiceDate: LocalDate(year: 2026, month: 11, day: 2),
            supplier: SupplierRef(sourceId: "1", number: vendor, name: "Vendor"), currency: "USD", total: 20,
            lines: [
                SupplierInvoiceLine(
                    lineNumber: 1, description: "x", quantity: 2, unitPrice: 10,
                    segments: [
                        AccountingSegment(name: "Account", value: account),
                        AccountingSegment(name: "Fund", value: fund),
                    ])
            ])
    }

    func captured(_ invoice: SupplierInvoice) throws -> CloudEvent {
        CloudEvent(
            id: "\(invoice.recordId)@1", source: "urn:test", type: EventType.invoiceCaptured,
            data: try JSONValue(encoding: invoice), connection: "fake", recordid: invoice.recordId)
    }

    /// Maps the invoice; a review result goes into the queue the way the function main puts it there.
    func transform(_ invoice: SupplierInvoice) async throws -> StepResult {
        let event = try captured(invoice)
        let result = try await TransformInvoiceHandler(context: context, constraints: .businessCentral).handle(
            event, input: invoice)
        if result.status == .needsReview, let reasons = result.review?.reasons {
            try await ReviewQueue(store: store, keys: keys).add(
                ReviewItem(
                    recordId: invoice.recordId, step: TransformInvoiceHandler.step, reasons: reasons, event: event,
                    createdAt: clock.now()))
        }
        return result
    }

    func sync(_ id: String = UUID().uuidString) throws -> CloudEvent {
        CloudEvent(
            id: id, source: "urn:test", type: EventType.masterDataSyncRequested,
            data: try JSONValue(encoding: MasterDataSyncRequest(full: true)), connection: "fake")
    }

    func syncAll(_ event: CloudEvent) async throws -> [CloudEvent] {
        let vendors = try await SyncVendorsHandler(context: context, erp: erp).handle(event, input: .init(full: true))
        let accounts = try await SyncAccountsHandler(context: context, erp: erp).handle(event, input: .init(full: true))
        return vendors.events + accounts.events
    }

    @Test("an invoice waiting on a missing vendor is mapped again after the vendor sync brings it, once")
    func vendorArrives() async throws {
        erp.data.withLock {
            $0.vendors = [Vendor(number: "V1", name: "Known")]
            $0.accounts = [GLAccount(number: "60100", name: "Office", postable: true)]
            $0.dimensions = [ERPDimension(code: "FUND", name: "Fund", values: [DimensionValue(code: "F1", name: "F")])]
        }
        #expect(try await syncAll(try sync()).isEmpty)
        let waiting = invoice("1", vendor: "V9")
        let first = try await transform(waiting)
        #expect(first.status == .needsReview)
        let reason = try #require(first.review?.reasons.first)
        #expect(reason.code == "vendor.unmapped")
        #expect(reason.awaits == AwaitedCode(.vendor, "V9"))
        // An invoice with a problem no sync can fix stays for a person.
        var other = invoice("2", vendor: "V9")
        other.supplierInvoiceNumber = String(repeating: "9", count: 40)
        #expect(try await transform(other).status == .needsReview)

        // A sync that does not bring V9 sends nothing.
        #expect(try await syncAll(try sync()).isEmpty)
        #expect(try await ReviewQueue(store: store, keys: keys).get(waiting.recordId)?.status == .open)

        // V9 arrives: the vendor sync sends the stored event again, and the mapping now succeeds.
        erp.data.withLock { $0.vendors.append(Vendor(number: "V9", name: "Late")) }
        let event = try sync("sync-2")
        let resent = try await SyncVendorsHandler(context: context, erp: erp).handle(event, input: .init(full: true))
        #expect(resent.events.map(\.recordid) == [waiting.recordId])
        #expect(resent.detail?["requeued"] == "1")
        let again = try #require(resent.events.first)
        #expect(again.type == EventType.invoiceCaptured)
        #expect(again.causationid == "sync-2")
        #expect(again.id != (try captured(waiting)).id)
        let item = try #require(try await ReviewQueue(store: store, keys: keys).get(waiting.recordId))
        #expect(item.status == .retried)
        #expect(item.note?.contains("vendor V9") == true)
        let input = try again.decodeData(SupplierInvoice.self)
        let mapped = try await TransformInvoiceHandler(context: context, constraints: .businessCentral).handle(
            again, input: input)
        #expect(mapped.status == .ok)
        #expect(try await ReviewQueue(store: store, keys: keys).get(other.recordId)?.status == .open)

        // The same sync delivered again, and any later sync, send nothing more.
        let redelivered = try await SyncVendorsHandler(context: context, erp: erp).handle(
            event, input: .init(full: true))
        #expect(redelivered.events.isEmpty)
        #expect(try await syncAll(try sync()).isEmpty)
    }

    @Test("an invoice waiting on a vendor and an account goes on only when both are there")
    func everythingAwaited() async throws {
        erp.data.withLock {
            $0.accounts = [GLAccount(number: "60100", name: "Office", postable: true)]
            $0.dimensions = [ERPDimension(code: "FUND", name: "Fund", values: [DimensionValue(code: "F1", name: "F")])]
        }
        _ = try await syncAll(try sync())
        let waiting = invoice("3", vendor: "V9", account: "67100", fund: "F2")
        let result = try await transform(waiting)
        let awaited = Set((result.review?.reasons ?? []).compactMap(\.awaits))
        #expect(
            awaited == [
                AwaitedCode(.vendor, "V9"), AwaitedCode(.account, "67100"),
                AwaitedCode(.dimensionValue, "F2", dimension: "FUND"),
            ])
        erp.data.withLock { $0.vendors = [Vendor(number: "V9", name: "Late")] }
        #expect(try await syncAll(try sync()).isEmpty, "the account and the fund value are still missing")
        erp.data.withLock {
            $0.accounts.append(GLAccount(number: "67100", name: "Lab", postable: true))
            $0.dimensions = [
                ERPDimension(
                    code: "FUND", name: "Fund",
                    values: [DimensionValue(code: "F1", name: "F"), DimensionValue(code: "F2", name: "G")])
            ]
        }
        let resent = try await syncAll(try sync())
        #expect(resent.map(\.recordid) == [waiting.recordId])
    }

    @Test("two syncs racing for the same item send it once")
    func race() async throws {
        erp.data.withLock {
            $0.accounts = [GLAccount(number: "60100", name: "Office", postable: true)]
            $0.dimensions = [ERPDimension(code: "FUND", name: "Fund", values: [DimensionValue(code: "F1", name: "F")])]
        }
        _ = try await syncAll(try sync())
        _ = try await transform(invoice("4", vendor: "V9"))
        // The vendor lands in the table; two syncs look at the queue at once.
        try await MasterData(store: store, keys: keys).vendors.put("V9", Vendor(number: "V9", name: "Late"))
        let requeue = ReviewRequeue(context: context)
        async let a = requeue.requeue(after: try sync(), step: "sync-vendors")
        async let b = requeue.requeue(after: try sync(), step: "sync-accounts")
        let (first, second) = try await (a, b)
        #expect(first.count + second.count == 1)
        #expect(try await ReviewQueue(store: store, keys: keys).get("jaggaer-invoice-4")?.status == .retried)
    }
}
