import ConnectorCore
import ConnectorFlows
import ConnectorHTTP
import ConnectorRuntime
import ConnectorSecurity
import ConnectorSimulators
import ConnectorTesting
import DynamicsNAV
import Foundation
import Logging
import Testing

/// NAV payment status (Vendor Ledger Entries), vendor hierarchies into JAGGAER and back, and OAuth sign-in, through
/// the real wiring against the simulators on loopback.
@Suite("Dynamics NAV: payment status, hierarchies, OAuth", .serialized, .timeLimit(.minutes(5)))
struct DynamicsNAVMoreTests {
    /// One line coded to `account`, `amount` in all.
    static func invoice(vendor: String, number: String, account: String, amount: Decimal = 100) -> MappedInvoice {
        MappedInvoice(
            recordId: "nav-\(number)", source: "test", sourceId: number, sourceUpdatedAt: nil, vendorNumber: vendor,
            vendorInvoiceNumber: number, invoiceDate: LocalDate(year: 2026, month: 11, day: 30)!,
            dueDate: LocalDate(year: 2026, month: 12, day: 30), postingDate: nil, currencyCode: nil,
            sourceCurrency: nil, headerDimensions: [],
            lines: [
                MappedLine(
                    kind: .item, sourceLineNumber: 1, description: "NAV test line", glAccount: account, quantity: 2,
                    unitCost: amount / 2, taxCode: nil, dimensions: [], poNumber: nil, poLineNumber: nil)
            ],
            expectedTotal: amount, poNumbers: [])
    }

    static func statuses(_ erp: any ERPConnector, from cursor: ChangeCursor?, pageSize: Int = 1) async throws
        -> (items: [ERPPaymentStatus], cursor: ChangeCursor?)
    {
        try await erp.all(from: cursor, pageSize: pageSize) { try await erp.paymentStatuses(after: $0, pageSize: $1) }
    }

    // MARK: Payment status

    @Test("ledger entries give unpaid, partly paid and paid; a closed invoice is seen once it closes, then not again")
    func paymentStatusFeed() async throws {
        try await NAVRig.start().run { rig in
            let erp = try rig.connector()
            #expect(erp.capabilities.paymentStatus)
            let backend = DynamicsNAVTestBackend(rig: rig)
            let vendor = try await backend.activeVendor()
            let account = try await backend.expenseAccount()
            _ = try await erp.createDraftInvoice(
                Self.invoice(vendor: vendor, number: "nav-pay-1", account: account, amount: 100))
            // One invoice finance posted and nobody paid yet.
            _ = try await erp.createDraftInvoice(
                Self.invoice(vendor: vendor, number: "nav-pay-0", account: account, amount: 50))
            _ = rig.host.dynamicsNAV.store.pay(
                company: rig.company, vendorNumber: vendor, vendorInvoiceNumber: "nav-pay-0", amount: 0)

            // First pass: every posted invoice the page holds, none of them paid; the unposted draft is not there.
            let first = try await Self.statuses(erp, from: nil)
            let seeded = rig.rows("Vendor Ledger Entry").filter { $0["Document_Type"]?.stringValue == "Invoice" }
            #expect(first.items.count == seeded.count)
            #expect(first.items.allSatisfy { $0.state == .unpaid })
            #expect(!first.items.contains { $0.vendorInvoiceNumber == "NAV-PAY-1" })
            #expect(first.items.contains { $0.vendorInvoiceNumber == "NAV-PAY-0" && $0.amount == 50 })

            // Finance posts it and pays 40 of 100.
            let entry = try #require(
                rig.host.dynamicsNAV.store.pay(
                    company: rig.company, vendorNumber: vendor, vendorInvoiceNumber: "nav-pay-1", amount: 40))
            let second = try await Self.statuses(erp, from: first.cursor)
            let partly = try #require(second.items.first { $0.vendorInvoiceNumber == "NAV-PAY-1" })
            #expect(partly.state == .partiallyPaid)
            #expect(partly.amount == 100)
            #expect(partly.paidAmount == 40)
            #expect(partly.vendorNumber == vendor)
            #expect(partly.document.id == "VendorLedgerEntry(\(entry))")

            // The rest is paid: the entry is no longer open, so it is read by its number and reported paid.
            _ = rig.host.dynamicsNAV.store.pay(
                company: rig.company, vendorNumber: vendor, vendorInvoiceNumber: "nav-pay-1")
            let third = try await Self.statuses(erp, from: second.cursor)
            let paid = try #require(third.items.first { $0.vendorInvoiceNumber == "NAV-PAY-1" })
            #expect(paid.state == .paid)
            #expect(paid.paidAmount == 100)
            #expect(paid.document.status == "closed")
            // Payment entries are not invoices: never reported.
            #expect(third.items.allSatisfy { !$0.vendorInvoiceNumber.isEmpty })

            // Closed, and nothing new: not read again.
            let fourth = try await Self.statuses(erp, from: third.cursor, pageSize: 50)
            #expect(!fourth.items.contains { $0.vendorInvoiceNumber == "NAV-PAY-1" })
            #expect(fourth.items.count == seeded.count)
        }
    }

    @Test("the ledger page and each of its fields is checked against $metadata and named by its setting")
    func ledgerFieldsChecked() async throws {
        try await NAVRig.start { $0.vendorLedgerFields = ["open": "Is_Open"] }.run { rig in
            let erp = try rig.connector()
            do {
                _ = try await erp.paymentStatuses(after: nil, pageSize: 5)
                Issue.record("a field the page lacks must stop the read")
            } catch let error as ConnectorError {
                #expect(error.code == .configInvalid)
                #expect(error.message.contains("vendorLedgerFields.open"))
                #expect(error.message.contains("Is_Open"))
            }
            let checks = await (erp as? any FitChecking)?.fitChecks() ?? []
            #expect(checks.first { $0.check == "published web services" }?.outcome == .fail)
        }
        try await NAVRig.start().run { rig in
            rig.host.dynamicsNAV.unpublish("VendorLedgerEntries")
            let erp = try rig.connector()
            let checks = await (erp as? any FitChecking)?.fitChecks() ?? []
            let failed = checks.first { $0.check == "published web services" }
            #expect(failed?.outcome == .fail)
            #expect(failed?.detail.contains("29 Vendor Ledger Entries") == true)
            #expect(failed?.detail.contains("vendorLedgerService") == true)
        }
        try await NAVRig.start { $0.vendorLedgerService = "" }.run { rig in
            let erp = try rig.connector()
            #expect(!erp.capabilities.paymentStatus)
            await #expect(throws: ConnectorError.self) { _ = try await erp.paymentStatuses(after: nil, pageSize: 5) }
        }
        let json = """
            {"oDataURL": "https://nav.example.com:7048/DynamicsNAV110/ODataV4", "company": "CRONUS", "username": "u",
             "accessKey": {"env": "NAV_KEY"}, "vendorLedgerFields": {"paidFlag": "Open"}}
            """
        do {
            _ = try JSONCoding.decoder.decode(DynamicsNAVSettings.self, from: Data(json.utf8))
            Issue.record("an unknown ledger field name must be refused")
        } catch let error as ConnectorError {
            #expect(error.message.contains("paidFlag"))
        }
    }

    @Test("sync-payment-status sets partly paid, then paid, on the JAGGAER invoice; a replay sends nothing")
    func paymentStatusFlow() async throws {
        try await NAVRig.start().run { rig in
            let runtime = try rig.runtime()
            let erp = try runtime.erpConnector()
            let backend = DynamicsNAVTestBackend(rig: rig)
            let vendor = try await backend.activeVendor()
            let account = try await backend.expenseAccount()
            let jaggaerId = try #require(
                rig.tenant.expectations(maxVendorInvoiceNumberLength: 35, matchesPurchaseOrders: false).keys.min())
            var invoice = Self.invoice(vendor: vendor, number: "nav-flow-1", account: account, amount: 80)
            invoice.source = "jaggaer"
            invoice.sourceId = String(jaggaerId)
            invoice.recordId = SupplierInvoice.recordId(source: "jaggaer", sourceId: String(jaggaerId))
            let write = try await WriteInvoiceHandler(context: runtime.context, erp: erp).handle(
                CloudEvent(
                    id: UUID().uuidString, source: "urn:test", type: EventType.invoiceMapped,
                    data: try JSONValue(encoding: invoice), connection: rig.connection.id),
                input: invoice)
            #expect(write.status == .ok)

            let handler = SyncPaymentStatusHandler(
                context: runtime.context, erp: erp, sink: try runtime.procurementSink(), pageSize: 2)
            let event = CloudEvent(
                id: UUID().uuidString, source: "urn:test", type: EventType.paymentStatusSyncRequested,
                data: try JSONValue(encoding: PaymentStatusSyncRequest()), connection: rig.connection.id)
            let none = try await handler.handle(event, input: .init())
            #expect(none.detail?["updated"] == "0")

            _ = rig.host.dynamicsNAV.store.pay(
                company: rig.company, vendorNumber: vendor, vendorInvoiceNumber: "nav-flow-1", amount: 30)
            let partly = try await handler.handle(event, input: .init())
            #expect(partly.detail?["updated"] == "1", "\(partly.detail ?? [:])")
            let writes = rig.host.jaggaer.writes
            #expect(writes.paymentStatus(invoiceId: jaggaerId)?["paymentStatus"]?.stringValue == "Partially Paid")
            #expect(writes.paymentStatus(invoiceId: jaggaerId)?["paidAmount"]?.decimalValue == 30)

            _ = rig.host.dynamicsNAV.store.pay(
                company: rig.company, vendorNumber: vendor, vendorInvoiceNumber: "nav-flow-1")
            let paid = try await handler.handle(event, input: .init())
            #expect(paid.detail?["updated"] == "1", "\(paid.detail ?? [:])")
            #expect(writes.paymentStatus(invoiceId: jaggaerId)?["paymentStatus"]?.stringValue == "Paid")

            let puts = rig.host.counters["jaggaer PUT invoices/{id}/paymentstatus", default: 0]
            let replay = try await handler.handle(event, input: .init(fromStart: true))
            #expect(replay.detail?["updated"] == "0")
            #expect(rig.host.counters["jaggaer PUT invoices/{id}/paymentstatus", default: 0] == puts)
        }
    }

    // MARK: Vendor hierarchies

    static func syncVendors(_ rig: NAVRig) async throws -> StepResult {
        let runtime = try rig.runtime()
        let event = CloudEvent(
            id: UUID().uuidString, source: "urn:test", type: EventType.masterDataSyncRequested,
            data: try JSONValue(encoding: MasterDataSyncRequest()), connection: rig.connection.id)
        return try await SyncVendorsHandler(
            context: runtime.context, erp: try runtime.erpConnector(), sink: try runtime.procurementSink()
        ).handle(event, input: .init())
    }

    /// A parent and a child whose number sorts before it (so NAV lists the child first).
    static func family(_ rig: NAVRig) async throws -> (parent: String, child: String) {
        let erp = try rig.connector()
        _ = try await erp.upsertVendor(Vendor(number: "Z-PARENT", name: "Parent Holding"))
        _ = try await erp.upsertVendor(Vendor(number: "A-CHILD", name: "Child Branch", parentNumber: "Z-PARENT"))
        return ("Z-PARENT", "A-CHILD")
    }

    @Test("without a parent field for JAGGAER, hierarchies are not sent and the summary says so")
    func hierarchyOff() async throws {
        try await NAVRig.start { $0.parentVendorField = "Parent_Vendor_No" }.run { rig in
            let (_, child) = try await Self.family(rig)
            let result = try await Self.syncVendors(rig)
            #expect(
                result.detail?["hierarchy"]?.contains("hierarchies were not sent") == true, "\(result.detail ?? [:])")
            #expect(result.detail?["hierarchy"]?.contains("supplierParentField") == true)
            let supplier = try #require(rig.host.jaggaer.writes.supplier(child))
            #expect(supplier["parentSupplierNumber"] == nil)
        }
    }

    @Test("with the parent field set, a child listed before its parent reaches JAGGAER after it, linked once")
    func hierarchyOneRun() async throws {
        try await NAVRig.start(
            { $0.parentVendorField = "Parent_Vendor_No" },
            connection: { $0.jaggaer.writer.supplierParentField = "parentSupplierNumber" }
        ).run { rig in
            let (parent, child) = try await Self.family(rig)
            let result = try await Self.syncVendors(rig)
            let writes = rig.host.jaggaer.writes
            #expect(writes.supplier(child)?["parentSupplierNumber"]?.stringValue == parent)
            #expect(writes.suppliersLinkedBeforeTheirParent.isEmpty)
            #expect(result.detail?["awaitingParent"] == "0")
            #expect(result.detail?["hierarchy"] == nil)
            // Once: the child was sent with its link the first time.
            let again = try await Self.syncVendors(rig)
            #expect(again.detail?["pushed"] == "0")
        }
    }

    @Test("a child whose parent is not in JAGGAER yet is sent unlinked, then linked once the parent is sent")
    func hierarchyChildFirst() async throws {
        try await NAVRig.start(
            { $0.parentVendorField = "Parent_Vendor_No" },
            connection: { $0.jaggaer.writer.supplierParentField = "parentSupplierNumber" }
        ).run { rig in
            let runtime = try rig.runtime()
            let sink = try #require(try runtime.procurementSink())
            let push = ProcurementPush(sink: sink, store: rig.store, keys: try StateKeys(connection: rig.connection.id))
            let writes = rig.host.jaggaer.writes
            let child = Vendor(number: "C-1", name: "Child", parentNumber: "P-1")
            var counts = ProcurementPush.Counts()
            try await push.suppliers([child], counts: &counts)
            #expect(counts.awaitingParent == 1)
            #expect(writes.supplier("C-1") != nil)
            #expect(writes.supplier("C-1")?["parentSupplierNumber"] == nil)
            #expect(try await push.waitingForParent() == 1)
            // A later batch without the parent changes nothing for the child.
            try await push.suppliers([Vendor(number: "OTHER", name: "Other")], counts: &counts)
            #expect(try await push.waitingForParent() == 1)

            try await push.suppliers([Vendor(number: "P-1", name: "Parent")], counts: &counts)
            #expect(counts.linkedToParent == 1)
            #expect(writes.supplier("C-1")?["parentSupplierNumber"]?.stringValue == "P-1")
            #expect(try await push.waitingForParent() == 0)
            #expect(writes.suppliersLinkedBeforeTheirParent.isEmpty)

            // And both orders in one batch: the parent goes first.
            let puts = rig.host.counters["jaggaer PUT suppliers/{number}", default: 0]
            try await push.suppliers(
                [Vendor(number: "C-2", name: "Child 2", parentNumber: "P-2"), Vendor(number: "P-2", name: "Parent 2")],
                counts: &counts)
            #expect(rig.host.counters["jaggaer PUT suppliers/{number}", default: 0] == puts + 2)
            #expect(writes.supplier("C-2")?["parentSupplierNumber"]?.stringValue == "P-2")
            #expect(writes.suppliersLinkedBeforeTheirParent.isEmpty)
        }
    }

    @Test("a supplier's parent set in JAGGAER reaches NAV's parent vendor field")
    func hierarchyFromJaggaer() async throws {
        try await NAVRig.start(
            {
                $0.parentVendorField = "Parent_Vendor_No"
                $0.vendorConflictRule = .procurementWins
            },
            connection: { $0.jaggaer.writer.supplierParentField = "parentSupplierNumber" }
        ).run { rig in
            let parent = try await DynamicsNAVTestBackend(rig: rig).activeVendor()
            _ = try await Self.syncVendors(rig)
            rig.clock.advance(by: 60)
            rig.host.clock.advance(by: 60)
            rig.host.jaggaer.writes.editSupplierInJaggaer(
                .object(
                    SimJSONObject([
                        "supplierNumber": .string("J-NEW-1"), "name": .string("Born in JAGGAER"),
                        "active": .bool(true), "parentSupplierNumber": .string(parent),
                    ])), at: rig.host.clock.now())
            let result = try await Self.syncVendors(rig)
            #expect(result.detail?["pulledWritten"] == "1", "\(result.detail ?? [:])")
            let row = try #require(rig.rows("Vendor").first { $0["No"]?.stringValue == "J-NEW-1" })
            #expect(row["Parent_Vendor_No"]?.stringValue == parent)
        }
    }

    // MARK: OAuth

    static func oauth(_ rig: SimulatorHost, tenant: DemoTenant, scope: String) -> (inout DynamicsNAVSettings) -> Void {
        { settings in
            settings.authentication = .oauth
            settings.username = nil
            settings.accessKey = nil
            settings.tokenURL = rig.entraTokenURL
            settings.clientId = tenant.credentials.entraClientId
            settings.clientSecret = .plain(Secret(tenant.credentials.entraClientSecret))
            settings.scope = scope
        }
    }

    /// A rig whose NAV settings use OAuth with `scope`.
    static func oauthRig(scope: String = "https://api.businesscentral.dynamics.com/.default") async throws -> NAVRig {
        let tenant = DemoTenant.generate(invoiceCount: 5, seed: 11)
        let host = try await SimulatorHost.start(tenant: tenant)
        return NAVRig(host: host, tenant: tenant, settings: oauth(host, tenant: tenant, scope: scope))
    }

    @Test("NAV flows run over OAuth: an Entra token for the accepted audience reads and writes; expiry is renewed")
    func oauthFlows() async throws {
        try await Self.oauthRig().run { rig in
            let erp = try rig.connector()
            let vendors = try await erp.vendors(after: nil, pageSize: 5)
            #expect(!vendors.items.isEmpty)
            let backend = DynamicsNAVTestBackend(rig: rig)
            let created = try await erp.createDraftInvoice(
                Self.invoice(
                    vendor: try await backend.activeVendor(), number: "oauth-1",
                    account: try await backend.expenseAccount()))
            #expect(created.system == "dynamicsNAV")
            #expect(rig.host.counters["entra POST token", default: 0] >= 1)
            // Every token revoked: the 401 is answered with a new token, once.
            let tokens = rig.host.counters["entra POST token", default: 0]
            rig.host.entra.tokens.expireAll()
            _ = rig.host.dynamicsNAV.store.pay(
                company: rig.company, vendorNumber: try await backend.activeVendor(), vendorInvoiceNumber: "oauth-1")
            let statuses = try await erp.paymentStatuses(after: nil, pageSize: 50)
            #expect(statuses.items.contains { $0.vendorInvoiceNumber == "OAUTH-1" && $0.state == .paid })
            #expect(rig.host.counters["entra POST token", default: 0] == tokens + 1)
            // Basic still works on the same instance.
            let access = rig.host.dynamicsNAV.accessDetails
            let basic = BasicAuthTransport(base: rig.http, username: access.username, key: Secret(access.accessKey))
            let response = try await basic.send(
                HTTPRequest(method: "GET", url: rig.host.dynamicsNAVODataURL + "/$metadata", timeout: .seconds(10)))
            #expect(response.status == 200)
        }
    }

    @Test("a token for another audience, an expired or unknown one is refused with 401")
    func oauthRejected() async throws {
        let other = "https://nav.example.com/.default"
        let tenant = DemoTenant.generate(invoiceCount: 5, seed: 11)
        let host = try await SimulatorHost.start(tenant: tenant)
        host.entra.allowScope(other)
        try await NAVRig(host: host, tenant: tenant, settings: Self.oauth(host, tenant: tenant, scope: other)).run {
            rig in
            let erp = try rig.connector()
            do {
                _ = try await erp.vendors(after: nil, pageSize: 5)
                Issue.record("a token for another audience must be refused")
            } catch let error as ConnectorError {
                #expect(error.code == .authRejected, "\(error)")
                #expect(error.httpStatus == 401)
            }
            // At the wire: an expired token and a made-up one.
            let metadata = rig.host.dynamicsNAVODataURL + "/$metadata"
            let issued = rig.host.entra.tokens.issue(
                clientId: tenant.credentials.entraClientId, audience: "https://api.businesscentral.dynamics.com")
            func get(_ token: String) async throws -> HTTPResponse {
                try await rig.http.send(
                    HTTPRequest(
                        method: "GET", url: metadata, headers: [("Authorization", "Bearer \(token)")],
                        timeout: .seconds(10)))
            }
            #expect(try await get(issued.token).status == 200)
            rig.host.clock.advance(by: Double(issued.expiresIn + 1))
            #expect(try await get(issued.token).status == 401)
            #expect(try await get("sim.made.up").status == 401)
        }
    }

    @Test("a Windows-only instance is named as such over OAuth too")
    func oauthWindowsOnly() async throws {
        try await Self.oauthRig().run { rig in
            rig.host.dynamicsNAV.configuration.windowsOnly = true
            let erp = try rig.connector()
            do {
                _ = try await erp.vendors(after: nil, pageSize: 5)
                Issue.record("a Windows-only server must refuse")
            } catch let error as ConnectorError {
                #expect(error.kind == .configuration)
                #expect(error.message.contains("Windows authentication"))
                #expect(error.message.contains("NTLM"))
            }
        }
    }
}
