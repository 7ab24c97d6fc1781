import BusinessCentral
import ConnectorCore
import ConnectorFlows
import ConnectorTesting
import Foundation
import Logging
import Synchronization
import Testing

/// An ERP in memory whose create can be made to do things at the worst moment (another process taking the claim,
/// the clock running past the lease), for the write step's recovery branches that a simulator can't reach.
final class FakeERP: ERPConnector, Sendable {
    struct State {
        var documents: [(vendor: String, number: String, ref: ERPDocumentRef)] = []
        var creates = 0
        var lookups = 0
    }
    let state = Mutex(State())
    /// Runs inside `createDraftInvoice`, before the document exists.
    let duringCreate: Mutex<(@Sendable () async throws -> Void)?> = Mutex(nil)

    var system: String { "fake" }
    var constraints: ERPConstraints { .businessCentral }
    var capabilities: ERPCapabilities { ERPCapabilities() }

    func add(vendor: String, number: String) {
        state.withLock {
            $0.documents.append(
                (
                    vendor, number,
                    ERPDocumentRef(
                        system: "fake", id: UUID().uuidString, number: "PI-\($0.documents.count)", status: "Draft")
                ))
        }
    }

    func findInvoices(vendorNumber: String, vendorInvoiceNumber: String) async throws -> [ERPDocumentRef] {
        state.withLock { state in
            state.lookups += 1
            return state.documents.filter { $0.vendor == vendorNumber && $0.number == vendorInvoiceNumber }.map(\.ref)
        }
    }

    func createDraftInvoice(_ invoice: MappedInvoice) async throws -> ERPDocumentRef {
        if let hook = duringCreate.withLock({ $0 }) { try await hook() }
        return state.withLock { state in
            state.creates += 1
            let ref = ERPDocumentRef(
                system: "fake", id: UUID().uuidString, number: "PI-\(state.documents.count)", status: "Draft")
            state.documents.append((invoice.vendorNumber, invoice.vendorInvoiceNumber, ref))
            return ref
        }
    }

    func vendors(after cursor: ChangeCursor?, pageSize: Int) async throws -> ChangePage<Vendor> {
        ChangePage(items: [], next: cursor, hasMore: false)
    }
    func accounts(after cursor: ChangeCursor?, pageSize: Int) async throws -> ChangePage<GLAccount> {
        ChangePage(items: [], next: cursor, hasMore: false)
    }
    func dimensions() async throws -> [ERPDimension] { [] }
    func fitChecks() async -> [FitCheck] { [] }

    var creates: Int { state.withLock { $0.creates } }
}

@Suite("write-erp-invoice recovery branches, against a fake ERP")
struct WriteRecoveryTests {
    let store = InMemoryStateStore()
    let clock = ManualClock(Date(timeIntervalSince1970: 1_800_000_000))
    let erp = FakeERP()

    func handler(owner: String, claimLease: Duration = .seconds(600)) throws -> WriteInvoiceHandler {
        let connection = Connection(
            id: "fake",
            jaggaer: JaggaerSettings(baseURL: "https://x.jaggaer.com", clientId: "c", clientSecret: .sealed("s")),
            erp: ERPSettings(
                BusinessCentralSettings(
                    tenantId: "t", environment: "e", clientId: "c", clientSecret: .sealed("s"), companyId: "x")),
            flow: FlowSettings(ambiguousWriteSettleSeconds: 120)
        )
        let context = StepContext(
            store: store, keys: try StateKeys(connection: "fake"), connection: connection, clock: clock,
            logger: Logger(label: "test"), owner: owner)
        return WriteInvoiceHandler(context: context, erp: erp, claimLease: claimLease)
    }

    static let invoice = MappedInvoice(
        recordId: "jaggaer-invoice-1", source: "jaggaer", sourceId: "1", sourceUpdatedAt: nil, vendorNumber: "V100",
        vendorInvoiceNumber: "INV-'1'", invoiceDate: LocalDate(year: 2026, month: 11, day: 30)!, dueDate: nil,
        postingDate: nil, currencyCode: nil, sourceCurrency: nil, headerDimensions: [],
        lines: [
            MappedLine(
                kind: .item, sourceLineNumber: 1, description: "x", glAccount: "6100", quantity: 1, unitCost: 10,
                taxCode: nil, dimensions: [], poNumber: nil, poLineNumber: nil)
        ],
        expectedTotal: 10, poNumbers: [])

    func event(_ id: String = UUID().uuidString) throws -> CloudEvent {
        CloudEvent(
            id: id, source: "urn:test", type: EventType.invoiceMapped, data: try JSONValue(encoding: Self.invoice),
            connection: "fake", recordid: Self.invoice.recordId)
    }

    var ledger: DedupLedger { DedupLedger(store: store, keys: try! StateKeys(connection: "fake")) }
    static let dedupKey = "invoice/jaggaer/1"

    @Test(
        "a compare-and-swap lost while the create was in flight still records the document, and nothing is written twice"
    )
    func lostCompareAndSwap() async throws {
        let writer = try handler(owner: "a")
        let ledger = self.ledger
        erp.duringCreate.withLock {
            $0 = {
                // Someone moves the claim under the writer (an operator tool, a confused process): its CAS fails.
                let stored = try await ledger.all().first { $0.key.hasSuffix(Self.dedupKey) }!
                var moved = stored.entry
                moved.owner = "intruder"
                _ = try await ledger.store.put(ledger.key(Self.dedupKey), json: moved)
            }
        }
        let result = try await writer.handle(try event(), input: Self.invoice)
        #expect(result.status == .ok)
        #expect(result.events.map(\.type) == [EventType.invoiceWritten])
        let recorded = try #require(try await ledger.all().first?.entry)
        #expect(recorded.phase == .recorded)
        #expect(recorded.document?.id == result.record?.document?.id)
        erp.duringCreate.withLock { $0 = nil }
        #expect(try await handler(owner: "b").handle(try event(), input: Self.invoice).status == .duplicate)
        #expect(erp.creates == 1)
    }

    @Test("the lease running out during a create: a second delivery waits for the settle period instead of writing")
    func leaseRunsOutDuringCreate() async throws {
        let slow = try handler(owner: "slow", claimLease: .seconds(5))
        let other = try handler(owner: "other", claimLease: .seconds(5))
        let clock = self.clock
        let secondAttempt = Mutex<(any Error)?>(nil)
        let event = try event()
        erp.duringCreate.withLock {
            $0 = {
                clock.advance(by: 30)  // well past the 5 s lease, the create still in flight
                do {
                    _ = try await other.handle(event, input: Self.invoice)
                } catch {
                    secondAttempt.withLock { $0 = error }
                }
            }
        }
        let first = try await slow.handle(event, input: Self.invoice)
        erp.duringCreate.withLock { $0 = nil }
        #expect(first.status == .ok)
        let error = try #require(secondAttempt.withLock { $0 } as? ConnectorError)
        #expect(error.code == .inFlight, "the second delivery must wait, not write: \(error)")
        #expect(erp.creates == 1)
        clock.advance(by: 200)
        #expect(try await other.handle(event, input: Self.invoice).status == .duplicate)
        #expect(erp.creates == 1)
    }

    @Test("two documents already in the ERP for the natural key: review with erp.duplicates_exist, claim released")
    func duplicatesExist() async throws {
        erp.add(vendor: "V100", number: "INV-'1'")
        erp.add(vendor: "V100", number: "INV-'1'")
        let result = try await handler(owner: "a").handle(try event(), input: Self.invoice)
        #expect(result.status == .needsReview)
        #expect(result.review?.reasons.map(\.code) == ["erp.duplicates_exist"])
        #expect(erp.creates == 0)
        #expect(try await ledger.all().isEmpty, "the claim is released so a later retry starts clean")
    }
}
