import BusinessCentral
import ConnectorCore
import ConnectorFlows
import ConnectorHTTP
import ConnectorRuntime
import ConnectorSecurity
import ConnectorSimulators
import ConnectorTesting
import Foundation
import Logging
import Testing

/// The real wiring (ConnectionRuntime) against simulators on loopback, with an in-memory store and a manual clock.
final class FlowRig: SimulatorRig {
    let parts: SimulatorRigParts
    let connection: Connection

    init(host: SimulatorHost, tenant: DemoTenant) {
        parts = SimulatorRigParts(host: host, tenant: tenant)
        let credentials = tenant.credentials
        connection = .onSimulators(
            id: "flow", host: host, tenant: tenant,
            erp: ERPSettings(
                BusinessCentralSettings(
                    tenantId: credentials.entraTenantId, environment: credentials.businessCentralEnvironment,
                    clientId: credentials.entraClientId, clientSecret: .plain(Secret(credentials.entraClientSecret)),
                    authorityURL: host.entraAuthorityURL, apiBaseURL: host.businessCentralBaseURL,
                    companyId: credentials.companyId
                )
            ),
            mapping: MappingRules(
                dimensions: [
                    SegmentDimensionRule(segment: "Fund", dimension: "FUND"),
                    SegmentDimensionRule(segment: "Financial_Unit", dimension: "DEPARTMENT"),
                    SegmentDimensionRule(segment: "Program", dimension: "PROGRAM"),
                ],
                taxAccount: "22500", chargesAccount: "62300", discountAccount: "54800", localCurrency: "USD"
            ),
            settleSeconds: 120)
    }

    static func start(invoices: Int = 30) async throws -> FlowRig {
        let tenant = DemoTenant.generate(invoiceCount: invoices, seed: 11)
        return FlowRig(host: try await SimulatorHost.start(tenant: tenant), tenant: tenant)
    }

    func event(_ type: String, data: some Encodable, id: String = UUID().uuidString, recordid: String? = nil) throws
        -> CloudEvent
    {
        CloudEvent(
            id: id, source: "urn:test", type: type, data: try JSONValue(encoding: data), connection: connection.id,
            recordid: recordid)
    }

    /// Syncs master data, then maps the invoice with this JAGGAER id.
    func mapped(_ invoiceId: Int) async throws -> MappedInvoice {
        let runtime = try runtime()
        let sync = try event(EventType.masterDataSyncRequested, data: MasterDataSyncRequest(full: true))
        _ = try await SyncVendorsHandler(context: runtime.context, erp: try runtime.erpConnector()).handle(
            sync, input: .init(full: true))
        _ = try await SyncAccountsHandler(context: runtime.context, erp: try runtime.erpConnector()).handle(
            sync, input: .init(full: true))
        let invoice = try await runtime.procurementSource().invoice(id: String(invoiceId))
        let result = try await TransformInvoiceHandler(context: runtime.context, constraints: .businessCentral).handle(
            try event(EventType.invoiceCaptured, data: invoice), input: invoice)
        #expect(result.status == .ok, "\(result.review?.reasons ?? [])")
        return try #require(try result.events.first?.decodeData(MappedInvoice.self))
    }

    func write(_ invoice: MappedInvoice, eventId: String = UUID().uuidString) async throws -> StepResult {
        let runtime = try runtime()
        return try await WriteInvoiceHandler(context: runtime.context, erp: try runtime.erpConnector())
            .handle(try event(EventType.invoiceMapped, data: invoice, id: eventId), input: invoice)
    }

    func drafts(_ invoice: MappedInvoice) -> Int {
        host.businessCentral.store.allPurchaseInvoices.filter {
            $0.invoice.vendorNumber == invoice.vendorNumber
                && $0.invoice.vendorInvoiceNumber == invoice.vendorInvoiceNumber
        }.count
    }

    /// Drafted in BC, whose write step also checks each invoice's PO.
    var drafted: [Int] {
        tenant.expectations(maxVendorInvoiceNumberLength: 35, matchesPurchaseOrders: true)
            .filter { $0.value == .drafted }.map(\.key).sorted()
    }
    var creates: Int { host.counters["bc POST purchaseInvoices", default: 0] }
}

@Suite("Step handlers against the simulators", .serialized, .timeLimit(.minutes(5)))
struct HandlerTests {
    @Test("write: one draft, then duplicate on redelivery, with two BC requests for the first")
    func writeOnce() async throws {
        let rig = try await FlowRig.start()
        do {
            let invoice = try await rig.mapped(try #require(rig.drafted.first))
            rig.host.resetCounters()
            let first = try await rig.write(invoice)
            #expect(first.status == .ok)
            #expect(first.record?.state == .written)
            #expect(rig.host.counters.filter { $0.key.hasPrefix("bc ") }.values.reduce(0, +) == 2)
            let again = try await rig.write(invoice)
            #expect(again.status == .duplicate)
            #expect(rig.creates == 1)
            #expect(rig.drafts(invoice) == 1)
            let stored = try await DedupLedger(store: rig.store, keys: try StateKeys(connection: "flow")).all()
            #expect(stored.map(\.entry.phase) == [.recorded])
            await rig.stop()
        } catch {
            await rig.stop()
            throw error
        }
    }

    @Test("write: an invoice keyed by hand is found by its natural key and not written again")
    func alreadyInERP() async throws {
        let rig = try await FlowRig.start()
        do {
            let id = try #require(rig.tenant.expectations.first { $0.value == .alreadyInERP }?.key)
            let invoice = try await rig.mapped(id)
            let result = try await rig.write(invoice)
            #expect(result.status == .duplicate)
            #expect(result.record?.state == .alreadyInERP)
            #expect(rig.creates == 0)
            #expect(rig.drafts(invoice) == 1)
            await rig.stop()
        } catch {
            await rig.stop()
            throw error
        }
    }

    @Test("write: the answer to a create is lost after BC committed: recovered by reading, booked once")
    func droppedAfterCommit() async throws {
        let rig = try await FlowRig.start()
        do {
            let invoice = try await rig.mapped(try #require(rig.drafted.first))
            rig.host.businessCentral.faults.add(
                FaultRule(kind: .dropAfterCommit, system: "bc", method: "POST", endpoint: "purchaseInvoices", count: 1))
            let result = try await rig.write(invoice)
            #expect(result.status == .ok)
            #expect(result.detail?["recovered"] == "true")
            // A recovered write goes on like any other: the next steps hear of it.
            #expect(result.events.map(\.type) == [EventType.invoiceWritten])
            #expect(result.record?.state == .written)
            #expect(rig.drafts(invoice) == 1)
            #expect(try await rig.write(invoice).status == .duplicate)
            #expect(rig.creates == 1)
            await rig.stop()
        } catch {
            await rig.stop()
            throw error
        }
    }

    @Test("write: a create lost before BC committed waits out the settle period, then writes once")
    func droppedBeforeCommit() async throws {
        let rig = try await FlowRig.start()
        do {
            let invoice = try await rig.mapped(try #require(rig.drafted.first))
            rig.host.businessCentral.faults.add(
                FaultRule(kind: .dropBeforeCommit, system: "bc", method: "POST", endpoint: "purchaseInvoices", count: 1)
            )
            do {
                _ = try await rig.write(invoice)
                Issue.record("an unanswered create must not count as written")
            } catch let error as ConnectorError {
                #expect(error.code == .ambiguousWrite)
                #expect(error.retryAt != nil)
            }
            #expect(rig.drafts(invoice) == 0)
            // Too early: the claim is still settling.
            do {
                _ = try await rig.write(invoice)
                Issue.record("must wait for the settle period")
            } catch let error as ConnectorError {
                #expect(error.code == .inFlight)
            }
            rig.clock.advance(by: 121)
            let result = try await rig.write(invoice)
            #expect(result.status == .ok)
            #expect(rig.drafts(invoice) == 1)
            #expect(rig.creates == 2, "one lost create, one real one")
            await rig.stop()
        } catch {
            await rig.stop()
            throw error
        }
    }

    @Test("write: a claim left by a crashed process is taken over; a live one is waited for")
    func staleAndLiveClaims() async throws {
        let rig = try await FlowRig.start()
        do {
            let invoice = try await rig.mapped(try #require(rig.drafted.first))
            let ledger = DedupLedger(store: rig.store, keys: try StateKeys(connection: "flow"))
            let now = rig.clock.now()
            let live = DedupLedger.Entry(
                phase: .requestSent, owner: "other-process", attempt: 1, claimedAt: now, updatedAt: now,
                leaseUntil: now.addingTimeInterval(300), naturalKey: "x")
            _ = try await ledger.claim("invoice/jaggaer/\(invoice.sourceId)", entry: live)
            await #expect(throws: ConnectorError.self) { try await rig.write(invoice) }
            #expect(rig.creates == 0)
            rig.clock.advance(by: 301)
            let result = try await rig.write(invoice)
            #expect(result.status == .ok)
            #expect(rig.drafts(invoice) == 1)
            await rig.stop()
        } catch {
            await rig.stop()
            throw error
        }
    }

    @Test("write: BC refusing the document sends it to review and frees the claim")
    func rejected() async throws {
        let rig = try await FlowRig.start()
        do {
            var invoice = try await rig.mapped(try #require(rig.drafted.first))
            invoice.lines[0].glAccount = "99999"
            let result = try await rig.write(invoice)
            #expect(result.status == .needsReview)
            #expect(result.review?.reasons.first?.code == "erp.rejected")
            #expect(try await DedupLedger(store: rig.store, keys: try StateKeys(connection: "flow")).all().isEmpty)
            await rig.stop()
        } catch {
            await rig.stop()
            throw error
        }
    }

    @Test("poll: pages with a checkpoint each, redelivery returns the same page, changes are picked up")
    func poll() async throws {
        let rig = try await FlowRig.start(invoices: 25)
        do {
            let runtime = try rig.runtime()
            let handler = PollInvoicesHandler(context: runtime.context, source: try runtime.procurementSource())
            let start = try rig.event(EventType.pollRequested, data: PollRequest(), id: "poll-1")
            let first = try await handler.handle(start, input: PollRequest())
            let captured = first.events.filter { $0.type == EventType.invoiceCaptured }
            #expect(captured.count == 10)
            let continuation = try #require(first.events.first { $0.type == EventType.pollContinue })

            rig.host.resetCounters()
            let again = try await handler.handle(start, input: PollRequest())
            #expect(again.events.map(\.id) == first.events.map(\.id), "a redelivered event returns the stored page")
            #expect(rig.host.counters.values.reduce(0, +) == 0, "without asking JAGGAER again")

            var ids = Set(captured.map(\.id))
            var next: CloudEvent? = continuation
            while let current = next {
                let input = try current.decodeData(PollRequest.self)
                let page = try await handler.handle(current, input: input)
                ids.formUnion(page.events.filter { $0.type == EventType.invoiceCaptured }.map(\.id))
                next = page.events.first { $0.type == EventType.pollContinue }
            }
            let approved = rig.tenant.expectations.filter { $0.value != .notApproved }.count
            #expect(ids.count == approved)
            // A different continuation issued for an old cursor version (e.g. from a parallel chain) is dropped.
            let oldVersion = try continuation.decodeData(PollRequest.self)
            let staleEvent = try rig.event(EventType.pollContinue, data: oldVersion, id: "another-continuation")
            let stale = try await handler.handle(staleEvent, input: oldVersion)
            #expect(stale.events.count == 0, "a stale continuation does nothing")

            // Nothing changed: a new poll finds nothing new. Then one invoice changes in JAGGAER.
            let quiet = try await handler.handle(
                try rig.event(EventType.pollRequested, data: PollRequest()), input: PollRequest())
            #expect(quiet.events.filter { $0.type == EventType.invoiceCaptured }.isEmpty)
            let changed = try #require(rig.tenant.expectations.first { $0.value == .drafted }?.key)
            _ = rig.host.jaggaer.invoices.update(invoiceId: changed) { _ in }
            let delta = try await handler.handle(
                try rig.event(EventType.pollRequested, data: PollRequest()), input: PollRequest())
            #expect(
                delta.events.filter { $0.type == EventType.invoiceCaptured }.map(\.recordid) == [
                    "jaggaer-invoice-\(changed)"
                ])
            await rig.stop()
        } catch {
            await rig.stop()
            throw error
        }
    }

    @Test("poll: a page's invoices fetched several at a time come out in page order, the same as one at a time")
    func pollFetchesConcurrently() async throws {
        var pages: [[String]] = []
        var payloads: [[JSONValue?]] = []
        for concurrency in [1, 8] {
            let rig = try await FlowRig.start(invoices: 25)
            do {
                var connection = rig.connection
                connection.jaggaer.invoiceFetchConcurrency = concurrency
                let context = StepContext(
                    store: rig.store, keys: try StateKeys(connection: connection.id), connection: connection,
                    clock: rig.clock, logger: Logger(label: "test"), owner: "test")
                let runtime = try ConnectionRuntime(
                    context: context, vault: rig.vault, http: rig.http, counter: RequestCounter())
                let handler = PollInvoicesHandler(context: runtime.context, source: try runtime.procurementSource())
                rig.host.resetCounters()
                let page = try await handler.handle(
                    try rig.event(EventType.pollRequested, data: PollRequest(), id: "poll-1"), input: PollRequest())
                let captured = page.events.filter { $0.type == EventType.invoiceCaptured }
                pages.append(captured.map(\.id))
                payloads.append(captured.map(\.data))
                // One list request and one request per captured invoice, whatever the concurrency.
                #expect(rig.host.counters.filter { $0.key.hasPrefix("jaggaer ") }.values.reduce(0, +) == 11)
                await rig.stop()
            } catch {
                await rig.stop()
                throw error
            }
        }
        #expect(pages[0].count == 10)
        #expect(pages[1] == pages[0])
        #expect(payloads[1] == payloads[0])
    }

    @Test("transform waits for master data instead of guessing")
    func transformNeedsMasterData() async throws {
        let rig = try await FlowRig.start()
        do {
            let runtime = try rig.runtime()
            let invoice = try await runtime.procurementSource().invoice(id: String(try #require(rig.drafted.first)))
            do {
                _ = try await TransformInvoiceHandler(context: runtime.context, constraints: .businessCentral).handle(
                    try rig.event(EventType.invoiceCaptured, data: invoice), input: invoice)
                Issue.record("must not map without master data")
            } catch let error as ConnectorError {
                #expect(error.kind == .temporary)
            }
            await rig.stop()
        } catch {
            await rig.stop()
            throw error
        }
    }
}

@Suite("Master-data sync against the simulator", .serialized, .timeLimit(.minutes(3)))
struct MasterDataSyncTests {
    @Test("a full read first, then only what changed since the newest change seen")
    func deltaSync() async throws {
        let rig = try await FlowRig.start(invoices: 5)
        do {
            let runtime = try rig.runtime()
            let handler = SyncVendorsHandler(context: runtime.context, erp: try runtime.erpConnector())
            let event = try rig.event(EventType.masterDataSyncRequested, data: MasterDataSyncRequest())
            let first = try await handler.handle(event, input: MasterDataSyncRequest())
            #expect(first.detail?["mode"] == "full")
            #expect(first.detail?["vendors"] == String(rig.tenant.businessCentral.vendors.count))

            let quiet = try await handler.handle(event, input: MasterDataSyncRequest())
            #expect(quiet.detail?["mode"] == "delta")
            #expect(quiet.detail?["vendors"] == "0")

            let renamed = try #require(rig.tenant.businessCentral.vendors.first)
            rig.host.businessCentral.store.modifyCompany(id: rig.tenant.credentials.companyId) { company in
                company.vendors[0].displayName = "Renamed Supplies Ltd"
                company.vendors[0].lastModified = Date().addingTimeInterval(3600)
            }
            let delta = try await handler.handle(event, input: MasterDataSyncRequest())
            #expect(delta.detail?["mode"] == "delta")
            #expect(delta.detail?["vendors"] == "1")
            #expect(delta.detail?["total"] == String(rig.tenant.businessCentral.vendors.count))
            let stored = try await MasterData(store: rig.store, keys: try StateKeys(connection: "flow")).vendors.get(
                renamed.number)
            #expect(stored?.name == "Renamed Supplies Ltd")
            await rig.stop()
        } catch {
            await rig.stop()
            throw error
        }
    }
}
