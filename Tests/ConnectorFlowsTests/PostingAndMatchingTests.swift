import BusinessCentral
import ConnectorCore
import ConnectorFlows
import ConnectorTesting
import Foundation
import Logging
import Synchronization
import Testing

/// An ERP in memory that matches POs, looks up in batches and posts, counting every call.
final class PostingERP: ERPConnector, Sendable {
    struct State {
        var documents: [(key: InvoiceNaturalKey, ref: ERPDocumentRef)] = []
        var orders: [ERPPurchaseOrder] = []
        var creates = 0
        var singleLookups = 0
        var batchLookups = 0
        var batchSizes: [Int] = []
        /// Batch lookups still to refuse (each counted in `batchSizes` first).
        var failingBatchLookups = 0
        var orderReads = 0
        var posts = 0
        /// The next post: answered normally, lost after posting, lost before posting, or refused.
        var postOutcome: PostOutcome = .normal
    }
    enum PostOutcome { case normal, lostAfterCommit, lostBeforeCommit, refused }
    let state = Mutex(State())

    var system: String { "fake" }
    var constraints: ERPConstraints { .businessCentral }
    var capabilities: ERPCapabilities {
        ERPCapabilities(postDrafts: true, matchesPurchaseOrders: true, batchLookups: true)
    }

    func findInvoices(vendorNumber: String, vendorInvoiceNumber: String) async throws -> [ERPDocumentRef] {
        let key = InvoiceNaturalKey(vendorNumber: vendorNumber, vendorInvoiceNumber: vendorInvoiceNumber)
        return state.withLock { state in
            state.singleLookups += 1
            return state.documents.filter { $0.key == key }.map(\.ref)
        }
    }

    func lookUp(keys: [InvoiceNaturalKey], purchaseOrderNumbers: [String]) async throws -> InvoiceBatchLookup {
        try state.withLock { state in
            state.batchLookups += 1
            state.batchSizes.append(keys.count)
            if state.failingBatchLookups > 0 {
                state.failingBatchLookups -= 1
                throw ConnectorError(.upstreamUnavailable, "the batch lookup failed")
            }
            var found: [InvoiceNaturalKey: [ERPDocumentRef]] = [:]
            for key in keys { found[key] = state.documents.filter { $0.key == key }.map(\.ref) }
            return InvoiceBatchLookup(
                invoices: found, orders: state.orders.filter { purchaseOrderNumbers.contains($0.sourceNumber) })
        }
    }

    func purchaseOrders(numbers: [String]) async throws -> [ERPPurchaseOrder] {
        state.withLock { state in
            state.orderReads += 1
            return state.orders.filter { numbers.contains($0.sourceNumber) }
        }
    }

    func createDraftInvoice(_ invoice: MappedInvoice) async throws -> ERPDocumentRef {
        state.withLock { state in
            state.creates += 1
            let ref = ERPDocumentRef(
                system: "fake", id: UUID().uuidString, number: "PI-\(state.documents.count)", status: "Draft")
            state.documents.append(
                (
                    InvoiceNaturalKey(
                        vendorNumber: invoice.vendorNumber, vendorInvoiceNumber: invoice.vendorInvoiceNumber), ref
                ))
            return ref
        }
    }

    func postDraft(_ document: ERPDocumentRef) async throws -> ERPDocumentRef {
        let outcome = state.withLock { state in
            let outcome = state.postOutcome
            state.postOutcome = .normal
            return outcome
        }
        switch outcome {
        case .refused:
            throw ConnectorError(.upstreamRejected, kind: .rejected, "There is nothing to post.")
        case .lostBeforeCommit:
            throw ConnectorError(.ambiguousWrite, "the connection dropped")
        case .normal, .lostAfterCommit:
            let posted: ERPDocumentRef = try state.withLock { state in
                guard let index = state.documents.firstIndex(where: { $0.ref.id == document.id }) else {
                    throw ConnectorError(.upstreamRejected, kind: .rejected, "no such draft")
                }
                guard state.documents[index].ref.status == "Draft" else {
                    throw ConnectorError(.upstreamRejected, kind: .rejected, "already posted")
                }
                state.posts += 1
                state.documents[index].ref.status = "Open"
                return state.documents[index].ref
            }
            if outcome == .lostAfterCommit { throw ConnectorError(.ambiguousWrite, "the answer was lost") }
            return posted
        }
    }

    func documentState(_ document: ERPDocumentRef) async throws -> ERPDocumentState? {
        state.withLock { state in
            state.documents.first { $0.ref.id == document.id }.map { $0.ref.status == "Draft" ? .draft : .posted }
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

    var snapshot: State { state.withLock { $0 } }
}

@Suite("PO matching, batch lookups and controlled posting (write-erp-invoice, post-erp-invoice)")
struct PostingAndMatchingTests {
    let store = InMemoryStateStore()
    let clock = ManualClock(Date(timeIntervalSince1970: 1_800_000_000))
    let erp = PostingERP()

    func context(owner: String = "a") throws -> StepContext {
        let connection = Connection(
            id: "fake",
            jaggaer: JaggaerSettings(baseURL: "https://x.jaggaer.com", clientId: "c", clientSecret: .sealed("s")),
            erp: ERPSettings(
                BusinessCentralSettings(
                    tenantId: "t", environment: "e", clientId: "c", clientSecret: .sealed("s"), companyId: "x")),
            flow: FlowSettings(ambiguousWriteSettleSeconds: 120)
        )
        return StepContext(
            store: store, keys: try StateKeys(connection: "fake"), connection: connection, clock: clock,
            logger: Logger(label: "test"), owner: owner)
    }

    static func invoice(_ id: Int, vendor: String = "V100", po: String? = nil) -> MappedInvoice {
        MappedInvoice(
            recordId: "jaggaer-invoice-\(id)", source: "jaggaer", sourceId: String(id), sourceUpdatedAt: nil,
            vendorNumber: vendor, vendorInvoiceNumber: "INV-\(id)",
            invoiceDate: LocalDate(year: 2026, month: 11, day: 30)!,
            dueDate: nil, postingDate: nil, currencyCode: nil, sourceCurrency: nil, headerDimensions: [],
            lines: [
                MappedLine(
                    kind: .item, sourceLineNumber: 1, description: "x", glAccount: "6100", quantity: 1, unitCost: 10,
                    taxCode: nil, dimensions: [], poNumber: po, poLineNumber: po == nil ? nil : "1")
            ],
            expectedTotal: 10, poNumbers: po.map { [$0] } ?? [])
    }

    func mapped(_ invoice: MappedInvoice) throws -> CloudEvent {
        CloudEvent(
            source: "urn:test", type: EventType.invoiceMapped, data: try JSONValue(encoding: invoice),
            connection: "fake", recordid: invoice.recordId)
    }

    func write(_ invoice: MappedInvoice, owner: String = "a") async throws -> StepResult {
        let handler = WriteInvoiceHandler(context: try context(owner: owner), erp: erp)
        return try await handler.handle(try mapped(invoice), input: invoice)
    }

    func order(_ number: String, vendor: String) -> ERPPurchaseOrder {
        ERPPurchaseOrder(
            sourceNumber: number, id: UUID().uuidString, number: number, vendorNumber: vendor, open: true, lines: [])
    }

    // MARK: PO matching

    @Test("a PO the ERP does not have goes to review as po.unknown, one of another vendor as po.vendor_mismatch")
    func purchaseOrderReview() async throws {
        erp.state.withLock { $0.orders = [order("P-1", vendor: "V100"), order("P-2", vendor: "V200")] }
        let unknown = try await write(Self.invoice(1, po: "P-9"))
        #expect(unknown.status == .needsReview)
        #expect(unknown.review?.reasons.map(\.code) == ["po.unknown"])
        let other = try await write(Self.invoice(2, po: "P-2"))
        #expect(other.status == .needsReview)
        #expect(other.review?.reasons.map(\.code) == ["po.vendor_mismatch"])
        let fine = try await write(Self.invoice(3, po: "P-1"))
        #expect(fine.status == .ok)
        #expect(erp.snapshot.creates == 1, "nothing is written for the two in review")
        // The claims of the two in review are released: once the PO is fixed, a retry writes them.
        erp.state.withLock { $0.orders.append(order("P-9", vendor: "V100")) }
        clock.advance(by: 120)
        #expect(try await write(Self.invoice(1, po: "P-9")).status == .ok)
        #expect(erp.snapshot.creates == 2)
    }

    // MARK: Request budget

    @Test("fresh writes of a page share one batch lookup; the POs they name come with it")
    func batchLookupPerPage() async throws {
        let lookups = LookupBatch(store: store, keys: try StateKeys(connection: "fake"), clock: clock)
        let invoices = (1...20).map { Self.invoice($0, po: $0.isMultiple(of: 2) ? "P-\($0)" : nil) }
        erp.state.withLock { state in
            state.orders = invoices.compactMap { $0.poNumbers.first }.map { self.order($0, vendor: "V100") }
        }
        for invoice in invoices { try await lookups.register(invoice) }
        for invoice in invoices { #expect(try await write(invoice).status == .ok) }
        let state = erp.snapshot
        #expect(state.creates == 20)
        #expect(state.batchLookups == 1, "one lookup for the page")
        #expect(state.batchSizes == [20])
        #expect(state.singleLookups == 0)
        #expect(state.orderReads == 0, "the POs came with the batch")
        // Lookups + creates per written invoice.
        #expect(Double(state.batchLookups + state.creates) / 20 <= 1.05)
    }

    @Test("a batch of 20 takes its keys in one write and stores its answers, orders and removals in one more")
    func batchLookupWrites() async throws {
        let counting = CountingStateStore(store)
        let lookups = LookupBatch(store: counting, keys: try StateKeys(connection: "fake"), clock: clock)
        let invoices = (1...20).map { Self.invoice($0, po: "P-\($0)") }
        erp.state.withLock { state in
            state.orders = invoices.compactMap { $0.poNumbers.first }.map { self.order($0, vendor: "V100") }
        }
        for invoice in invoices { try await lookups.register(invoice) }
        counting.reset()
        let lookup = try await lookups.documents(for: invoices[0], erp: erp)
        #expect(lookup.documents.isEmpty && !lookup.ready)
        #expect(erp.snapshot.batchSizes == [20])
        let writes = counting.byOperation.filter { ["get", "getMany", "scan"].contains($0.key) == false }
        // Its own key (compare-and-swap), the other 19 (one commit), the answers with the removals (one commit).
        #expect(writes == ["compareAndSwap": 1, "commit": 2], "\(counting.byOperation)")
        // Every other writer finds its answer ready, and the orders came with the batch.
        for invoice in invoices.dropFirst() {
            #expect(try await lookups.documents(for: invoice, erp: erp).ready)
        }
        #expect(try await lookups.orders(["P-2", "P-20"], erp: erp).count == 2)
        #expect(erp.snapshot.orderReads == 0)
        #expect(
            try await store.scan(
                prefix: StateKeys(connection: "fake").prefix("lookup", "pending"), after: nil, limit: 50
            ).isEmpty)
    }

    @Test("a writer with a ready answer looks ahead once 20 keys wait untaken and fewer than 10 answers are left")
    func lookAheadBeforeTheAnswersRunOut() async throws {
        let lookups = LookupBatch(store: store, keys: try StateKeys(connection: "fake"), clock: clock)
        let first = (1...15).map { Self.invoice($0) }
        let next = (16...40).map { Self.invoice($0) }
        for invoice in first { try await lookups.register(invoice) }
        #expect(try await write(first[0]).status == .ok)
        #expect(erp.snapshot.batchSizes == [15], "the first writer asks for the page it found")
        // Another page arrives: 25 keys untaken, while 14 answers wait for their writers.
        for invoice in next { try await lookups.register(invoice) }
        for (index, invoice) in first.dropFirst().enumerated() {
            #expect(try await write(invoice).status == .ok)
            // Writers 2 to 5 leave 13 to 10 answers: too many to ask yet. Writer 6 leaves 9 and asks.
            #expect(erp.snapshot.batchSizes == (index < 4 ? [15] : [15, 25]), "after writer \(index + 2)")
        }
        for invoice in next { #expect(try await write(invoice).status == .ok) }
        let state = erp.snapshot
        #expect(state.creates == 40)
        #expect(state.batchLookups == 2)
        #expect(state.singleLookups == 0, "every writer of the second page found its answer ready")
        #expect(Double(state.batchLookups + state.creates) / 40 <= 1.05)
    }

    @Test("a failed look-ahead costs its writer nothing and gives the keys back to their own writers")
    func failedLookAheadGivesTheKeysBack() async throws {
        let lookups = LookupBatch(store: store, keys: try StateKeys(connection: "fake"), clock: clock)
        let first = (1...15).map { Self.invoice($0) }
        let next = (16...40).map { Self.invoice($0) }
        for invoice in first { try await lookups.register(invoice) }
        #expect(try await write(first[0]).status == .ok)
        for invoice in next { try await lookups.register(invoice) }
        erp.state.withLock { $0.failingBatchLookups = 1 }
        for invoice in first.dropFirst() { #expect(try await write(invoice).status == .ok) }
        // Writer 6 looked ahead and its lookup failed; the keys came back, so writer 7 looked ahead again.
        #expect(erp.snapshot.batchSizes == [15, 25, 25])
        #expect(erp.snapshot.creates == 15)
        for invoice in next { #expect(try await write(invoice).status == .ok) }
        let state = erp.snapshot
        #expect(state.batchSizes == [15, 25, 25], "every writer of the second page found its answer ready")
        #expect(state.singleLookups == 0)
        #expect(state.creates == 40)
    }

    @Test("with fewer than 20 keys untaken a writer looks ahead only once fewer than 4 answers are left")
    func urgentLookAheadForAFewKeys() async throws {
        let lookups = LookupBatch(store: store, keys: try StateKeys(connection: "fake"), clock: clock)
        let first = (1...8).map { Self.invoice($0) }
        let next = (9...18).map { Self.invoice($0) }
        for invoice in first { try await lookups.register(invoice) }
        #expect(try await write(first[0]).status == .ok)
        #expect(erp.snapshot.batchSizes == [8])
        // Ten keys untaken: too few to ask while the writers have answers for a while.
        for invoice in next { try await lookups.register(invoice) }
        for (index, invoice) in first.dropFirst().enumerated() {
            #expect(try await write(invoice).status == .ok)
            // Writers 2 to 4 leave 6 to 4 answers; writer 5 leaves 3 and asks for the ten.
            #expect(erp.snapshot.batchSizes == (index < 3 ? [8] : [8, 10]), "after writer \(index + 2)")
        }
        for invoice in next { #expect(try await write(invoice).status == .ok) }
        let state = erp.snapshot
        #expect(state.batchSizes == [8, 10], "every writer of the ten found its answer ready")
        #expect(state.singleLookups == 0)
        #expect(state.creates == 18)
    }

    @Test("fewer than 4 keys untaken are never asked for ahead; their writers ask as before")
    func noLookAheadForAFewKeys() async throws {
        let lookups = LookupBatch(store: store, keys: try StateKeys(connection: "fake"), clock: clock)
        let first = (1...3).map { Self.invoice($0) }
        let next = (4...6).map { Self.invoice($0) }
        for invoice in first { try await lookups.register(invoice) }
        #expect(try await write(first[0]).status == .ok)
        for invoice in next { try await lookups.register(invoice) }
        for invoice in first.dropFirst() { #expect(try await write(invoice).status == .ok) }
        #expect(erp.snapshot.batchSizes == [3], "3 untaken keys are not worth a request ahead of their writers")
        for invoice in next { #expect(try await write(invoice).status == .ok) }
        #expect(erp.snapshot.batchSizes == [3, 3])
        #expect(erp.snapshot.singleLookups == 0)
    }

    @Test("a claim taken over after an unanswered create looks up its own invoice, never a batch result")
    func takeoverLooksUpAlone() async throws {
        let invoice = Self.invoice(5)
        let lookups = LookupBatch(store: store, keys: try StateKeys(connection: "fake"), clock: clock)
        try await lookups.register(invoice)
        // A writer that sent the create and died: the ledger says requestSent; the document exists.
        let ledger = DedupLedger(store: store, keys: try StateKeys(connection: "fake"))
        _ = try await erp.createDraftInvoice(invoice)
        let now = clock.now()
        _ = try await ledger.claim(
            "invoice/jaggaer/5",
            entry: DedupLedger.Entry(
                phase: .requestSent, owner: "dead", attempt: 1, claimedAt: now, updatedAt: now,
                leaseUntil: now.addingTimeInterval(1), naturalKey: "V100|INV-5", host: "elsewhere", pid: nil))
        clock.advance(by: 200)
        let result = try await write(invoice)
        #expect(result.status == .ok)
        #expect(result.detail?["recovered"] == "true")
        let state = erp.snapshot
        #expect(state.creates == 1, "not written again")
        #expect(state.singleLookups == 1)
        #expect(state.batchLookups == 0)
    }

    // MARK: Posting

    func approval(_ invoice: MappedInvoice) throws -> CloudEvent {
        CloudEvent(
            source: "urn:test:operator", type: EventType.invoiceApproved,
            data: try JSONValue(
                encoding: InvoiceApproval(
                    recordId: invoice.recordId, source: invoice.source, sourceId: invoice.sourceId, approvedBy: "ann")),
            connection: "fake", recordid: invoice.recordId)
    }

    func post(_ invoice: MappedInvoice, owner: String = "a") async throws -> StepResult {
        let handler = PostInvoiceHandler(context: try context(owner: owner), erp: erp)
        let event = try approval(invoice)
        return try await handler.handle(event, input: try event.data!.decode(InvoiceApproval.self))
    }

    @Test("an approved draft is posted once, however often the approval is delivered")
    func postOnce() async throws {
        let invoice = Self.invoice(10)
        #expect(try await write(invoice).status == .ok)
        let first = try await post(invoice)
        #expect(first.status == .ok)
        #expect(first.record?.state == .posted)
        #expect(first.events.map(\.type) == [EventType.invoicePosted])
        for owner in ["a", "b"] {
            let again = try await post(invoice, owner: owner)
            #expect(again.status == .duplicate)
            #expect(again.record?.state == .posted)
        }
        #expect(erp.snapshot.posts == 1)
    }

    @Test("nothing is posted without a draft written by the connector; a hand-keyed one goes to review")
    func postOnlyOurDrafts() async throws {
        let invoice = Self.invoice(11)
        await #expect(throws: ConnectorError.self) { _ = try await post(invoice) }
        // Already in the ERP (keyed by hand): the write records it as found, the post refuses it.
        _ = try await erp.createDraftInvoice(invoice)
        #expect(try await write(invoice).status == .duplicate)
        let result = try await post(invoice)
        #expect(result.status == .needsReview)
        #expect(result.review?.reasons.map(\.code) == ["post.not_drafted_by_connector"])
        #expect(erp.snapshot.posts == 0)
    }

    @Test("an unanswered post is resolved by reading the invoice's status, never by posting blindly")
    func ambiguousPost() async throws {
        // Posted, answer lost: read back as posted and recorded.
        let a = Self.invoice(20)
        #expect(try await write(a).status == .ok)
        erp.state.withLock { $0.postOutcome = .lostAfterCommit }
        let recovered = try await post(a)
        #expect(recovered.status == .ok)
        #expect(recovered.detail?["recovered"] == "true")
        #expect(erp.snapshot.posts == 1)

        // Lost before it reached the ERP: still a draft, so it waits for the settle period, then posts once.
        let b = Self.invoice(21)
        #expect(try await write(b).status == .ok)
        erp.state.withLock { $0.postOutcome = .lostBeforeCommit }
        await #expect(throws: ConnectorError.self) { _ = try await post(b) }
        do {
            _ = try await post(b, owner: "b")
            Issue.record("a settling post must not be sent again before the settle period")
        } catch let error as ConnectorError {
            #expect(error.code == .inFlight)
        }
        #expect(erp.snapshot.posts == 1)
        clock.advance(by: 121)
        #expect(try await post(b, owner: "b").status == .ok)
        #expect(erp.snapshot.posts == 2)
        #expect(try await post(b, owner: "c").status == .duplicate)
        #expect(erp.snapshot.posts == 2)

        // Refused by the ERP: review, the claim freed, nothing recorded as posted.
        let c = Self.invoice(22)
        #expect(try await write(c).status == .ok)
        erp.state.withLock { $0.postOutcome = .refused }
        let refused = try await post(c)
        #expect(refused.status == .needsReview)
        #expect(refused.review?.reasons.map(\.code) == ["erp.post_rejected"])
    }

    @Test("flow.autoPost approves every written draft; without it the write step approves nothing")
    func autoPost() async throws {
        let invoice = Self.invoice(30)
        let plain = try await write(invoice)
        #expect(!plain.events.contains { $0.type == EventType.invoiceApproved })
        var context = try self.context()
        context.connection.flow.autoPost = true
        let other = Self.invoice(31)
        let handler = WriteInvoiceHandler(context: context, erp: erp)
        let result = try await handler.handle(try mapped(other), input: other)
        let approval = try #require(result.events.first { $0.type == EventType.invoiceApproved })
        #expect(try approval.data?.decode(InvoiceApproval.self).approvedBy == "flow.autoPost")
    }
}
