import ConnectorCore
import ConnectorFlows
import ConnectorHTTP
import ConnectorRuntime
import ConnectorSecurity
import ConnectorSimulators
import ConnectorTesting
import Foundation
import Logging
import SAPBusinessOne
import Testing

/// The real wiring (ConnectionRuntime → SAPBusinessOneModule) against the Service Layer simulator on loopback.
final class B1Rig: SimulatorRig {
    let parts: SimulatorRigParts
    let connection: Connection

    init(host: SimulatorHost, tenant: DemoTenant, settings: (inout SAPBusinessOneSettings) -> Void) {
        parts = SimulatorRigParts(host: host, tenant: tenant)
        var b1 = SAPBusinessOneSettings(
            serviceLayerURL: host.sapBusinessOneBaseURL + "/b1s/v1", companyDB: B1DemoData.companyDB,
            username: B1DemoData.userName, password: .plain(Secret(B1DemoData.account(for: tenant).password)),
            costingCodes: ["FUND": "CostingCode", "DEPARTMENT": "CostingCode2"])
        settings(&b1)
        connection = .onSimulators(id: "b1", host: host, tenant: tenant, erp: ERPSettings(b1))
    }

    static func start(_ settings: (inout SAPBusinessOneSettings) -> Void = { _ in }) async throws -> B1Rig {
        let tenant = DemoTenant.generate(invoiceCount: 5, seed: 11)
        return B1Rig(host: try await SimulatorHost.start(tenant: tenant), tenant: tenant, settings: settings)
    }

    var sessions: B1Sessions.Stats { host.sapBusinessOne.sessions.stats }

    /// Rows as the simulator stores them (its admin API).
    func rows(_ entitySet: String) async throws -> [[String: Any]] {
        let response = try await http.send(
            HTTPRequest(method: "GET", url: host.sapBusinessOneBaseURL + "/_sim/b1/data/\(entitySet)"))
        let object = try JSONSerialization.jsonObject(with: response.body) as? [String: Any]
        return object?["value"] as? [[String: Any]] ?? []
    }
}

/// The Service Layer simulator as the conformance suite's backend.
struct SAPBusinessOneTestBackend: ERPTestBackend {
    let rig: B1Rig
    /// Where the connector creates invoices (`Drafts`, or `PurchaseInvoices` with `draftMode: invoice`).
    var createEndpoint = "Drafts"
    var simulator: SAPBusinessOneSimulator { rig.host.sapBusinessOne }

    func activeVendor() async throws -> String {
        let partners = try await rig.rows("BusinessPartners")
        return try #require(
            partners.first { $0["CardType"] as? String == "cSupplier" && $0["Frozen"] as? String != "tYES" }?[
                "CardCode"] as? String)
    }

    func expenseAccount() async throws -> String {
        let accounts = try await rig.rows("ChartOfAccounts").filter { $0["ActiveAccount"] as? String == "tYES" }
        return try #require(
            (accounts.first { $0["AccountType"] as? String == "at_Expenses" } ?? accounts.first)?["Code"] as? String)
    }

    func addVendors(count: Int, prefix: String) async throws -> [String] {
        simulator.store.addVendors(count: count, prefix: prefix)
    }

    func documentCount(vendor: String, vendorInvoiceNumber: String) async throws -> Int {
        let counts = simulator.store.documentCount(cardCode: vendor, numAtCard: vendorInvoiceNumber)
        return counts.drafts + counts.invoices
    }

    func dropNextCreateAfterCommit() async throws {
        simulator.faults.add(
            FaultRule(
                kind: .dropAfterCommit, system: "sapBusinessOne", method: "POST", endpoint: createEndpoint, count: 1))
    }

    func failReads(status: Int) async throws {
        simulator.faults.add(
            FaultRule(
                kind: .status, system: "sapBusinessOne", method: "GET", endpoint: "BusinessPartners", status: status))
    }

    func clearFaults() async throws { simulator.faults.clear() }

    func advanceClock(seconds: Double) async throws { rig.host.clock.advance(by: seconds) }
}

@Suite("SAP Business One adapter against the Service Layer simulator", .serialized, .timeLimit(.minutes(5)))
struct SAPBusinessOneTests {
    @Test(
        "SAP Business One passes the adapter conformance suite against its simulator",
        arguments: [
            ("v1", SAPBusinessOneSettings.DraftMode.draft), ("v2", .draft), ("v1", .invoice),
        ])
    func conformance(version: String, mode: SAPBusinessOneSettings.DraftMode) async throws {
        try await B1Rig.start {
            $0.serviceLayerURL = $0.serviceLayerURL.replacingOccurrences(of: "/b1s/v1", with: "/b1s/\(version)")
            $0.draftMode = mode
        }.run { rig in
            try await ERPConformance.run(
                { try rig.connector() },
                backend: SAPBusinessOneTestBackend(
                    rig: rig, createEndpoint: mode == .draft ? "Drafts" : "PurchaseInvoices"))
        }
    }

    @Test("a session that expires mid-batch costs one new sign-in and a replay; close signs out")
    func expiryMidBatch() async throws {
        try await B1Rig.start().run { rig in
            let erp = try rig.connector()
            let backend = SAPBusinessOneTestBackend(rig: rig)
            let vendor = try await backend.activeVendor()
            let account = try await backend.expenseAccount()
            _ = try await erp.vendors(after: nil, pageSize: 10)
            #expect(rig.sessions.logins == 1)
            rig.host.sapBusinessOne.sessions.expireAll()
            let number = "EXPIRY-\(UUID().uuidString.prefix(6))"
            let created = try await erp.createDraftInvoice(
                ERPConformanceSample.invoice(vendor: vendor, number: number, account: account))
            #expect(created.id.hasPrefix("Drafts("))
            #expect(rig.sessions.logins == 2, "one new sign-in after the expiry")
            #expect(try await backend.documentCount(vendor: vendor, vendorInvoiceNumber: number) == 1)
            _ = try await erp.accounts(after: nil, pageSize: 10)
            #expect(rig.sessions.logins == 2, "the new session serves the rest of the batch")
            // Another process of the connection reuses the shared session.
            let other = try rig.connector()
            _ = try await other.dimensions()
            #expect(rig.sessions.logins == 2)
            await other.close()
            #expect(rig.sessions.logouts == 0, "the first process still uses the session")
            await erp.close()
            #expect(rig.sessions.logouts == 1)
            #expect(rig.sessions.open == 0)
            #expect(rig.sessions.expectRefused == 0)
        }
    }

    @Test("lines of an invoice for a B1 purchase order copy from its lines: BaseType 22, BaseEntry, BaseLine")
    func purchaseOrderLinks() async throws {
        try await B1Rig.start().run { rig in
            let erp = try rig.connector()
            let orders = try await rig.rows("PurchaseOrders")
            let order = try #require(orders.first)
            let poNumber = try #require(order["NumAtCard"] as? String)
            let docEntry = try #require(order["DocEntry"] as? Int)
            let vendor = try #require(order["CardCode"] as? String)
            let found = try await erp.purchaseOrders(numbers: [poNumber, "NOT-A-PO"])
            #expect(found.map(\.sourceNumber) == [poNumber])
            #expect(found.first?.id == String(docEntry))
            let poLines = try #require(found.first?.lines)
            #expect(!poLines.isEmpty)
            let account = try await SAPBusinessOneTestBackend(rig: rig).expenseAccount()
            let number = "PO-LINK-\(UUID().uuidString.prefix(6))"
            var invoice = ERPConformanceSample.invoice(vendor: vendor, number: number, account: account)
            invoice.lines = poLines.indices.map { index in
                MappedLine(
                    kind: .item, sourceLineNumber: index + 1, description: "PO line \(index + 1)",
                    glAccount: account, quantity: 1, unitCost: poLines[index].unitPrice, poNumber: poNumber,
                    poLineNumber: String(index + 1))
            }
            let created = try await erp.createDraftInvoice(invoice)
            let drafts = try await rig.rows("Drafts")
            let draft = try #require(drafts.first { "Drafts(\($0["DocEntry"] as? Int ?? -1))" == created.id })
            let lines = try #require(draft["DocumentLines"] as? [[String: Any]])
            #expect(lines.count == poLines.count)
            for (index, line) in lines.enumerated() {
                #expect(line["BaseType"] as? Int == 22)
                #expect(line["BaseEntry"] as? Int == docEntry)
                #expect(line["BaseLine"] as? Int == Int(poLines[index].lineId))
            }
        }
    }

    @Test("an invoice for a PO that is not in B1 fails with erp.po_not_found naming the PO, and writes nothing")
    func missingPurchaseOrder() async throws {
        try await B1Rig.start().run { rig in
            let erp = try rig.connector()
            let backend = SAPBusinessOneTestBackend(rig: rig)
            let vendor = try await backend.activeVendor()
            let number = "NO-PO-\(UUID().uuidString.prefix(6))"
            var invoice = ERPConformanceSample.invoice(
                vendor: vendor, number: number, account: try await backend.expenseAccount())
            invoice.lines[0].poNumber = "PO-MISSING-4711"
            invoice.lines[0].poLineNumber = "1"
            do {
                _ = try await erp.createDraftInvoice(invoice)
                Issue.record("an invoice for a missing PO was written")
            } catch let error as ConnectorError {
                #expect(error.code == .purchaseOrderNotFound)
                #expect(error.code.rawValue == "erp.po_not_found")
                #expect(error.kind == .rejected)
                #expect(error.message.contains("PO-MISSING-4711"))
            }
            #expect(try await backend.documentCount(vendor: vendor, vendorInvoiceNumber: number) == 0)
            #expect(erp.capabilities.requiresPurchaseOrderInERP)
            #expect(erp.capabilities.purchaseOrderLineLinks)
        }
    }

    @Test("the write step sends an invoice whose PO is not in B1 to review, naming the PO")
    func writeStepReview() async throws {
        try await B1Rig.start().run { rig in
            let runtime = try rig.runtime()
            let erp = try runtime.erpConnector()
            let backend = SAPBusinessOneTestBackend(rig: rig)
            let vendor = try await backend.activeVendor()
            let number = "REVIEW-\(UUID().uuidString.prefix(6))"
            var invoice = ERPConformanceSample.invoice(
                vendor: vendor, number: number, account: try await backend.expenseAccount())
            invoice.lines[0].poNumber = "PO-NOT-YET-0815"
            invoice.poNumbers = ["PO-NOT-YET-0815"]
            let event = CloudEvent(
                id: UUID().uuidString, source: "urn:test", type: EventType.invoiceMapped,
                data: try JSONValue(encoding: invoice), connection: rig.connection.id, recordid: invoice.recordId)
            let result = try await WriteInvoiceHandler(context: runtime.context, erp: erp).handle(event, input: invoice)
            #expect(result.status == .needsReview)
            #expect(result.review?.reasons.contains { $0.message.contains("PO-NOT-YET-0815") } == true)
            #expect(result.review?.reasons.map(\.code) == ["erp.po_not_found"])
            #expect(try await backend.documentCount(vendor: vendor, vendorInvoiceNumber: number) == 0)
            await erp.close()
        }
    }

    @Test("an error code listed in sessionTimeoutCodes counts as an expired session; unlisted, it is a rejection")
    func sessionTimeoutCodes() async throws {
        try await B1Rig.start { $0.sessionTimeoutCodes = ["301", "-5002"] }.run { rig in
            let erp = try rig.connector()
            _ = try await erp.dimensions()
            rig.host.sapBusinessOne.faults.add(
                FaultRule(
                    kind: .status, system: "sapBusinessOne", method: "GET", endpoint: "BusinessPartners", count: 1,
                    status: 400, errorCode: "-5002"))
            let page = try await erp.vendors(after: nil, pageSize: 5)
            #expect(page.items.count == 5, "replayed after one new sign-in")
            #expect(rig.sessions.logins == 2)
            await erp.close()
        }
        try await B1Rig.start().run { rig in
            let erp = try rig.connector()
            rig.host.sapBusinessOne.faults.add(
                FaultRule(
                    kind: .status, system: "sapBusinessOne", method: "GET", endpoint: "BusinessPartners", count: 1,
                    status: 400, errorCode: "-5002"))
            do {
                _ = try await erp.vendors(after: nil, pageSize: 5)
                Issue.record("a -5002 that is not a session code was not reported")
            } catch let error as ConnectorError {
                #expect(error.kind == .rejected)
            }
            #expect(rig.sessions.logins == 1)
            await erp.close()
        }
    }

    @Test("a draft is posted into an A/P invoice once, and its payment shows in the payment feed")
    func postAndPayment() async throws {
        try await B1Rig.start().run { rig in
            let erp = try rig.connector()
            let backend = SAPBusinessOneTestBackend(rig: rig)
            let vendor = try await backend.activeVendor()
            let number = "POST-\(UUID().uuidString.prefix(6))"
            let (_, start) = try await erp.all(from: nil) { try await erp.paymentStatuses(after: $0, pageSize: $1) }
            let draft = try await erp.createDraftInvoice(
                ERPConformanceSample.invoice(
                    vendor: vendor, number: number, account: try await backend.expenseAccount(), amount: 80))
            let posted = try await erp.postDraft(draft)
            #expect(posted.id.hasPrefix("PurchaseInvoices("))
            // Posting again never makes a second invoice: the draft is closed (found again) or gone (refused).
            do {
                #expect(try await erp.postDraft(draft) == posted)
            } catch let error as ConnectorError {
                #expect(error.kind == .rejected)
                #expect(error.message.contains("no longer"))
            }
            #expect(try await erp.findInvoices(vendorNumber: vendor, vendorInvoiceNumber: number) == [posted])
            let counts = rig.host.sapBusinessOne.store.documentCount(cardCode: vendor, numAtCard: number)
            #expect(counts.invoices == 1)
            rig.host.clock.advance(by: 5)
            let entry = try #require(Int(posted.id.dropFirst("PurchaseInvoices(".count).dropLast()))
            _ = try rig.host.sapBusinessOne.store.pay(docEntry: entry, amount: 30)
            let partial = try await erp.all(from: start) { try await erp.paymentStatuses(after: $0, pageSize: $1) }
            let status = try #require(partial.items.last { $0.document.id == posted.id })
            #expect(status.state == .partiallyPaid)
            #expect(status.paidAmount == 30)
            #expect(status.vendorInvoiceNumber == number)
            rig.host.clock.advance(by: 5)
            _ = try rig.host.sapBusinessOne.store.pay(docEntry: entry)
            let paid = try await erp.all(from: partial.cursor) {
                try await erp.paymentStatuses(after: $0, pageSize: $1)
            }
            #expect(paid.items.map(\.document.id) == [posted.id], "only what changed after the cursor")
            #expect(paid.items.first?.document.status == "bost_Close")
            #expect(paid.items.first?.state == .paid)
        }
    }

    @Test("purchase orders are created once and then updated by their JAGGAER number")
    func upsertPurchaseOrder() async throws {
        try await B1Rig.start { $0.purchaseOrderNumberField = "U_JaggaerPO" }.run { rig in
            let erp = try rig.connector()
            let backend = SAPBusinessOneTestBackend(rig: rig)
            let vendor = try await backend.activeVendor()
            let account = try await backend.expenseAccount()
            let number = "JPO-\(UUID().uuidString.prefix(6))"
            var order = PurchaseOrderDocument(
                sourceNumber: number, vendorNumber: vendor, orderDate: LocalDate(year: 2026, month: 11, day: 2)!,
                lines: [
                    .init(sourceLineNumber: "1", description: "Paper", glAccount: account, quantity: 10, unitPrice: 4)
                ])
            let created = try await erp.upsertPurchaseOrder(order)
            order.lines.append(
                .init(sourceLineNumber: "2", description: "Toner", glAccount: account, quantity: 1, unitPrice: 60))
            let updated = try await erp.upsertPurchaseOrder(order)
            #expect(updated.id == created.id)
            let stored = try await rig.rows("PurchaseOrders").filter { $0["U_JaggaerPO"] as? String == number }
            #expect(stored.count == 1)
            #expect((stored.first?["DocumentLines"] as? [[String: Any]])?.count == 2)
            let found = try await erp.purchaseOrders(numbers: [number])
            #expect(found.count == 1)
            #expect(found.first?.lines.count == 2)
        }
    }

    @Test("vendors are written as suppliers, and an existing one follows vendorConflictRule")
    func upsertVendor() async throws {
        for rule in SAPBusinessOneSettings.VendorConflictRule.allCases {
            try await B1Rig.start { $0.vendorConflictRule = rule }.run { rig in
                let erp = try rig.connector()
                let code = "JV\(UUID().uuidString.prefix(6))"
                let created = try await erp.upsertVendor(Vendor(number: code, name: "First name"))
                #expect(created.status == "created")
                let partner = try #require(
                    try await rig.rows("BusinessPartners").first { $0["CardCode"] as? String == code })
                #expect(partner["CardType"] as? String == "cSupplier")
                // Changed in JAGGAER a minute after B1's record.
                let later = Date().addingTimeInterval(3600 * 24 * 365)
                let result = try await erp.upsertVendor(Vendor(number: code, name: "Second name", lastModified: later))
                let name =
                    try await rig.rows("BusinessPartners").first { $0["CardCode"] as? String == code }?[
                        "CardName"] as? String
                switch rule {
                case .erpWins:
                    #expect(result.status == "kept")
                    #expect(name == "First name")
                case .procurementWins, .newestWins:
                    #expect(result.status == "updated")
                    #expect(name == "Second name")
                }
                if rule == .newestWins {
                    let stale = try await erp.upsertVendor(
                        Vendor(number: code, name: "Stale", lastModified: Date(timeIntervalSince1970: 0)))
                    #expect(stale.status == "kept", "an older JAGGAER change loses")
                }
            }
        }
    }

    @Test("dimensions are B1's dimensions with their profit centres, named by the costing-code mapping")
    func dimensions() async throws {
        try await B1Rig.start().run { rig in
            let erp = try rig.connector()
            let dimensions = try await erp.dimensions()
            #expect(!dimensions.isEmpty)
            let fund = try #require(dimensions.first { $0.code == "FUND" })
            #expect(fund.erpId == "1")
            #expect(!fund.values.isEmpty)
            let centers = try await rig.rows("ProfitCenters").filter { ($0["InWhichDimension"] as? Int ?? 1) == 1 }
            #expect(Set(fund.values.map(\.code)) == Set(centers.compactMap { $0["CenterCode"] as? String }))
        }
    }

    @Test("the fit report signs in, names the version and counts every entity the flows read")
    func fitChecks() async throws {
        try await B1Rig.start().run { rig in
            let erp = try rig.connector()
            let checks = await erp.fitChecks()
            let failed = checks.filter { $0.outcome == .fail }
            #expect(failed.isEmpty, "\(failed.map { "\($0.check): \($0.detail)" })")
            #expect(checks.first?.detail.contains("1000190") == true, "\(checks.first?.detail ?? "")")
            await erp.close()
            #expect(rig.sessions.open == 0)
        }
    }

    @Test("a wrong password fails the sign-in as a configuration error without the password in it")
    func wrongPassword() async throws {
        let wrong = "Wr0ng-B1-pass-\(UUID().uuidString.prefix(4))"
        try await B1Rig.start { $0.password = .plain(Secret(wrong)) }.run { rig in
            let erp = try rig.connector()
            do {
                _ = try await erp.vendors(after: nil, pageSize: 5)
                Issue.record("a wrong password signed in")
            } catch let error as ConnectorError {
                #expect(error.code == .authRejected)
                #expect(error.kind == .configuration)
                #expect(!error.description.contains(wrong))
            }
        }
    }
}

/// The conformance suite's sample invoice, for the B1 tests.
enum ERPConformanceSample {
    static func invoice(vendor: String, number: String, account: String, amount: Decimal = 100) -> MappedInvoice {
        MappedInvoice(
            recordId: "b1-\(number)", source: "test", sourceId: number, sourceUpdatedAt: nil,
            vendorNumber: vendor, vendorInvoiceNumber: number, invoiceDate: LocalDate(year: 2026, month: 11, day: 30)!,
            dueDate: LocalDate(year: 2026, month: 12, day: 30), postingDate: nil, currencyCode: nil,
            sourceCurrency: nil, headerDimensions: [],
            lines: [
                MappedLine(
                    kind: .item, sourceLineNumber: 1, description: "Test line", glAccount: account, quantity: 2,
                    unitCost: amount / 2)
            ],
            expectedTotal: amount, poNumbers: [])
    }
}

@Suite("SAP Business One settings")
struct SAPBusinessOneSettingsTests {
    func decode(_ json: String) throws -> SAPBusinessOneSettings {
        try JSONDecoder().decode(SAPBusinessOneSettings.self, from: Data(json.utf8))
    }

    let base = #""companyDB":"SBODEMOUS","username":"manager","password":{"env":"B1_PASSWORD"}"#

    @Test("the Service Layer URL must be the root with /b1s/v1 or /b1s/v2")
    func urlPattern() throws {
        for good in ["https://b1.example.com:50000/b1s/v1", "https://b1.example.com:50000/b1s/v2/"] {
            let settings = SAPBusinessOneSettings(
                serviceLayerURL: good, companyDB: "SBODEMOUS", username: "manager", password: .sealed("x"))
            try settings.validate(prefix: "erp.sapBusinessOne")
        }
        for bad in [
            "https://b1.example.com:50000", "https://b1.example.com:50000/b1s/v1/BusinessPartners",
            "https://b1.example.com:50000/b1s/v3", "b1.example.com/b1s/v1",
        ] {
            let settings = SAPBusinessOneSettings(
                serviceLayerURL: bad, companyDB: "SBODEMOUS", username: "manager", password: .sealed("x"))
            #expect(throws: ConnectorError.self) { try settings.validate(prefix: "erp.sapBusinessOne") }
        }
    }

    @Test("unknown keys are refused by name; choices and defaults are checked")
    func keys() throws {
        do {
            _ = try decode(#"{"serviceLayerURL":"https://h:50000/b1s/v1",\#(base),"draftMod":"draft"}"#)
            Issue.record("an unknown key was accepted")
        } catch let error as ConnectorError {
            #expect(error.message.contains("draftMod"))
        }
        #expect(throws: ConnectorError.self) {
            try decode(#"{"serviceLayerURL":"https://h:50000/b1s/v1",\#(base),"draftMode":"posted"}"#)
        }
        let settings = try decode(#"{"serviceLayerURL":"https://h:50000/b1s/v1",\#(base)}"#)
        #expect(settings.sessionTimeoutCodes == ["301"])
        #expect(settings.draftMode == .draft)
        #expect(settings.purchaseOrderNumberField == "NumAtCard")
        #expect(settings.vendorConflictRule == .erpWins)
        var udf = settings
        udf.purchaseOrderNumberField = "U_JaggaerPO"
        try udf.validate(prefix: "erp.sapBusinessOne")
        udf.purchaseOrderNumberField = "Comments eq 'x'"
        #expect(throws: ConnectorError.self) { try udf.validate(prefix: "erp.sapBusinessOne") }
        var costing = settings
        costing.costingCodes = ["FUND": "CostingCode6"]
        #expect(throws: ConnectorError.self) { try costing.validate(prefix: "erp.sapBusinessOne") }
    }

    @Test("an on-premises Service Layer host is allowed only when network.allowedHosts lists it")
    func listedHostsOnly() throws {
        let settings = SAPBusinessOneSettings(
            serviceLayerURL: "https://b1.customer.example:50000/b1s/v1", companyDB: "SBODEMOUS", username: "manager",
            password: .sealed("x"))
        let endpoint = try #require(settings.endpoints.first)
        #expect(throws: ConnectorError.self) {
            try URLPolicy(allowHTTP: false, allowedHosts: []).check(endpoint.url, system: URLPolicy.System(endpoint))
        }
        try URLPolicy(allowHTTP: false, allowedHosts: ["b1.customer.example:50000"])
            .check(endpoint.url, system: URLPolicy.System(endpoint))
    }
}
