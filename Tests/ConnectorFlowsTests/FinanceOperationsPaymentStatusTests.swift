import ConnectorCore
import ConnectorHTTP
import ConnectorSimulators
import ConnectorTesting
import FinanceOperations
import Foundation
import Testing

/// Payment status from F&O vendor transactions, against the simulator on loopback.
@Suite("Finance and Operations payment status from vendor transactions", .serialized, .timeLimit(.minutes(5)))
struct FinanceOperationsPaymentStatusTests {
    static let entity = "VendorTransactions"

    static func start(_ settings: @escaping (inout FinanceOperationsSettings) -> Void = { _ in }) async throws
        -> FORig
    {
        try await FORig.start {
            $0.vendorTransactionEntity = entity
            settings(&$0)
        }
    }

    static func statuses(_ erp: any ERPConnector, from cursor: ChangeCursor?, pageSize: Int = 1) async throws
        -> (items: [ERPPaymentStatus], cursor: ChangeCursor?)
    {
        try await erp.all(from: cursor, pageSize: pageSize) { try await erp.paymentStatuses(after: $0, pageSize: $1) }
    }

    /// The rig's connector and backend and an active vendor, for whom a pending invoice `number` of `amount` is drafted.
    static func drafted(_ rig: FORig, number: String, amount: Decimal) async throws -> (
        erp: any ERPConnector, backend: FinanceOperationsTestBackend, vendor: String
    ) {
        let erp = try rig.connector()
        let backend = FinanceOperationsTestBackend(rig: rig)
        let vendor = try await backend.activeVendor()
        let account = try await backend.expenseAccount()
        _ = try await erp.createDraftInvoice(
            ERPConformanceSample.invoice(vendor: vendor, number: number, account: account, amount: amount))
        return (erp, backend, vendor)
    }

    static func pay(_ rig: FORig, vendor: String, number: String, amount: Decimal? = nil) -> Int64? {
        rig.simulator.store.pay(
            company: FODemoData.company, vendor: vendor, invoiceNumber: number, amount: amount, today: "2026-03-02")
    }

    @Test("transactions give unpaid, partly paid and paid; a settled invoice is seen once it closes, then not again")
    func feed() async throws {
        try await Self.start().run { rig in
            let erp = try rig.connector()
            #expect(erp.capabilities.paymentStatus)
            let backend = FinanceOperationsTestBackend(rig: rig)
            let vendor = try await backend.activeVendor()
            let account = try await backend.expenseAccount()
            for number in ["FOPAY-0", "FOPAY-1", "FOPAY-2"] {
                _ = try await erp.createDraftInvoice(
                    ERPConformanceSample.invoice(vendor: vendor, number: number, account: account, amount: 100))
            }
            // AP posts two of them, nobody pays yet; the third stays a pending invoice (no transaction).
            _ = Self.pay(rig, vendor: vendor, number: "FOPAY-0", amount: 0)
            _ = Self.pay(rig, vendor: vendor, number: "FOPAY-1", amount: 0)

            let first = try await Self.statuses(erp, from: nil)
            #expect(first.items.map(\.vendorInvoiceNumber).sorted() == ["FOPAY-0", "FOPAY-1"])
            #expect(first.items.allSatisfy { $0.state == .unpaid && $0.amount == 100 && $0.paidAmount == 0 })

            // 40 of 100 paid: settled in part, not closed.
            let id = try #require(Self.pay(rig, vendor: vendor, number: "FOPAY-1", amount: 40))
            let second = try await Self.statuses(erp, from: first.cursor)
            let partly = try #require(second.items.first { $0.vendorInvoiceNumber == "FOPAY-1" })
            #expect(partly.state == .partiallyPaid)
            #expect(partly.amount == 100)
            #expect(partly.paidAmount == 40)
            #expect(partly.vendorNumber == vendor)
            #expect(partly.document.id == "VendTrans(\(id))")
            #expect(partly.document.status == "open")

            // The rest is paid: the invoice closes, so it leaves the open set and is read by its record id.
            _ = Self.pay(rig, vendor: vendor, number: "FOPAY-1")
            let third = try await Self.statuses(erp, from: second.cursor)
            let paid = try #require(third.items.first { $0.vendorInvoiceNumber == "FOPAY-1" })
            #expect(paid.state == .paid)
            #expect(paid.paidAmount == 100)
            #expect(paid.document.status == "closed")
            #expect(paid.changedAt == Timestamp.parse("2026-03-02T12:00:00Z"))
            // Payment transactions are not invoices: never reported.
            #expect(third.items.allSatisfy { !$0.vendorInvoiceNumber.isEmpty })

            // Closed and nothing new: not read again; the open one still is, and a newly posted one comes.
            _ = Self.pay(rig, vendor: vendor, number: "FOPAY-2", amount: 0)
            let fourth = try await Self.statuses(erp, from: third.cursor, pageSize: 50)
            #expect(fourth.items.map(\.vendorInvoiceNumber).sorted() == ["FOPAY-0", "FOPAY-2"])
        }
    }

    @Test("keyset pages of one and server pages of two (@odata.nextLink) read every invoice once per pass")
    func paging() async throws {
        try await Self.start().run { rig in
            let erp = try rig.connector()
            let vendor = try await FinanceOperationsTestBackend(rig: rig).activeVendor()
            for index in 0..<7 {
                rig.simulator.store.addVendorTransaction(
                    SimJSONObject([
                        "dataAreaId": .string(FODemoData.company), "AccountNum": .string(vendor),
                        "TransType": .string("Purch"), "Invoice": .string("PAGE-\(index)"),
                        "AmountCur": .decimal(-10), "TransDate": .string("2026-03-01T12:00:00Z"),
                    ]))
            }
            var pages = 0
            var cursor: ChangeCursor?
            var seen: [String] = []
            while true {
                let page = try await erp.paymentStatuses(after: cursor, pageSize: 2)
                pages += 1
                seen += page.items.map(\.vendorInvoiceNumber)
                cursor = page.next
                if !page.hasMore { break }
            }
            #expect(seen == (0..<7).map { "PAGE-\($0)" }, "record id order, each once")
            #expect(pages == 4)
            // The server pages by 2 while the feed asks for 50: the client follows @odata.nextLink.
            rig.simulator.setPageSize(2)
            rig.simulator.counters.reset()
            let whole = try await Self.statuses(erp, from: nil, pageSize: 50)
            #expect(whole.items.count == 7)
            #expect(rig.simulator.counters.snapshot().values.reduce(0, +) >= 4, "one request per server page")
            // The next pass re-reads the seven open invoices, across server pages too.
            let again = try await Self.statuses(erp, from: whole.cursor, pageSize: 50)
            #expect(again.items.count == 7)
        }
    }

    @Test("only the pinned legal entity's invoice transactions are read")
    func companyScoping() async throws {
        try await Self.start().run { rig in
            let erp = try rig.connector()
            let vendor = try await FinanceOperationsTestBackend(rig: rig).activeVendor()
            for company in [FODemoData.company, FODemoData.otherCompany] {
                rig.simulator.store.addVendorTransaction(
                    SimJSONObject([
                        "dataAreaId": .string(company), "AccountNum": .string(vendor), "TransType": .string("Purch"),
                        "Invoice": .string("SCOPE-\(company)"), "AmountCur": .decimal(-5),
                    ]))
            }
            // Not invoices: a payment and a transaction of another type.
            for type in ["Payment", "Vend"] {
                rig.simulator.store.addVendorTransaction(
                    SimJSONObject([
                        "dataAreaId": .string(FODemoData.company), "AccountNum": .string(vendor),
                        "TransType": .string(type), "Invoice": .string("TYPE-\(type)"), "AmountCur": .decimal(-5),
                    ]))
            }
            let read = try await Self.statuses(erp, from: nil, pageSize: 50)
            #expect(read.items.map(\.vendorInvoiceNumber) == ["SCOPE-usmf"])
        }
        // Pinned to the other legal entity (not the app user's default): `cross-company=true` is what makes it readable.
        try await Self.start { $0.dataAreaId = FODemoData.otherCompany }.run { rig in
            let erp = try rig.connector()
            for company in [FODemoData.company, FODemoData.otherCompany] {
                rig.simulator.store.addVendorTransaction(
                    SimJSONObject([
                        "dataAreaId": .string(company), "AccountNum": .string("V1"), "TransType": .string("Purch"),
                        "Invoice": .string("SCOPE-\(company)"), "AmountCur": .decimal(-5),
                    ]))
            }
            let read = try await Self.statuses(erp, from: nil, pageSize: 50)
            #expect(read.items.map(\.vendorInvoiceNumber) == ["SCOPE-usrt"])
        }
        // Where the connection names more invoice types, each is read (joined by `or`: F&O has no `in`).
        try await Self.start { $0.invoiceTransactionTypes = ["Purch", "Vend"] }.run { rig in
            let erp = try rig.connector()
            let vendor = try await FinanceOperationsTestBackend(rig: rig).activeVendor()
            for type in ["Purch", "Vend", "Payment"] {
                rig.simulator.store.addVendorTransaction(
                    SimJSONObject([
                        "dataAreaId": .string(FODemoData.company), "AccountNum": .string(vendor),
                        "TransType": .string(type), "Invoice": .string("TYPE-\(type)"), "AmountCur": .decimal(-5),
                    ]))
            }
            let read = try await Self.statuses(erp, from: nil, pageSize: 50)
            #expect(read.items.map(\.vendorInvoiceNumber) == ["TYPE-Purch", "TYPE-Vend"])
        }
    }

    @Test("a cursor of another feed is refused; no entity set named is unsupported, by the setting's name")
    func refusals() async throws {
        try await Self.start().run { rig in
            let erp = try rig.connector()
            for foreign in ["navle:5|open|0|1,2", "snapshot:abc", "fovt1:x|open|0|", "fovt1:1|open|0|a"] {
                do {
                    _ = try await erp.paymentStatuses(after: ChangeCursor(foreign), pageSize: 5)
                    Issue.record("\(foreign) must be refused")
                } catch let error as ConnectorError {
                    #expect(error.code == .configInvalid, "\(foreign): \(error)")
                }
            }
        }
        try await FORig.start().run { rig in
            let erp = try rig.connector()
            #expect(!erp.capabilities.paymentStatus)
            do {
                _ = try await erp.paymentStatuses(after: nil, pageSize: 5)
                Issue.record("no entity set: no payment status")
            } catch let error as ConnectorError {
                #expect(error.code == .unsupported)
                #expect(error.message.contains("erp.financeOperations.vendorTransactionEntity"))
            }
        }
    }

    @Test("an entity set or field the environment lacks fails the fit check and the read, naming the setting")
    func fitChecks() async throws {
        try await Self.start().run { rig in
            let erp = try rig.connector()
            let checks = await (erp as? any FitChecking)?.fitChecks() ?? []
            let check = try #require(checks.first { $0.check.contains("vendor transactions") })
            #expect(check.outcome == .pass, "\(check)")
        }
        try await Self.start { $0.vendorTransactionEntity = "VendTransBI" }.run { rig in
            let erp = try rig.connector()
            let checks = await (erp as? any FitChecking)?.fitChecks() ?? []
            let check = try #require(checks.first { $0.check.contains("vendor transactions") })
            #expect(check.outcome == .fail)
            #expect(check.fix?.contains("erp.financeOperations.vendorTransactionEntity") == true, "\(check)")
            do {
                _ = try await erp.paymentStatuses(after: nil, pageSize: 5)
                Issue.record("an entity the environment lacks must stop the read")
            } catch let error as ConnectorError {
                #expect(error.code == .configInvalid)
                #expect(error.message.contains("VendTransBI"), "\(error.message)")
            }
        }
        try await Self.start { $0.vendorTransactionFields = ["closed": "ClosedDate"] }.run { rig in
            let erp = try rig.connector()
            let checks = await (erp as? any FitChecking)?.fitChecks() ?? []
            let check = try #require(checks.first { $0.check.contains("vendor transactions") })
            #expect(check.outcome == .fail)
            #expect(check.fix?.contains("closed=ClosedDate") == true, "\(check)")
        }
    }

    @Test("the vendor transaction settings: unknown field names and bad enum members are refused by name")
    func settings() throws {
        func decode(_ json: String) throws -> FinanceOperationsSettings {
            try JSONDecoder().decode(FinanceOperationsSettings.self, from: Data(json.utf8))
        }
        let base = """
            "tenantId": "11111111-2222-3333-4444-555555555555", "clientId": "66666666-7777-8888-9999-000000000000",
            "clientSecret": "s3cret-value", "environmentURL": "https://contoso.operations.dynamics.com"
            """
        let off = try decode("{\(base)}")
        #expect(!off.readsPaymentStatus)
        #expect(!FinanceOperationsModule.capabilities(off).paymentStatus)
        let on = try decode(
            "{\(base), \"vendorTransactionEntity\": \"VendorTransactions\", \"vendorTransactionFields\": {\"closed\": \"ClosedDate\"}}"
        )
        try on.validate(prefix: "erp.financeOperations")
        #expect(on.transactionField("closed") == "ClosedDate")
        #expect(on.transactionField("recordId") == "RecId")
        #expect(FinanceOperationsModule.capabilities(on).paymentStatus)
        do {
            _ = try decode("{\(base), \"vendorTransactionFields\": {\"closedOn\": \"Closed\"}}")
            Issue.record("an unknown logical field must be refused")
        } catch let error as ConnectorError {
            #expect(error.message.contains("closedOn"))
            #expect(error.message.contains("lastSettleDate"), "it lists the fields it takes")
        }
        var bad = on
        bad.vendorTransactionEntity = "Vendor Transactions"
        #expect(throws: ConnectorError.self) { try bad.validate(prefix: "erp.financeOperations") }
        bad = on
        bad.invoiceTransactionTypes = ["Purch'"]
        #expect(throws: ConnectorError.self) { try bad.validate(prefix: "erp.financeOperations") }
        bad = on
        bad.vendorTransactionFields = ["closed": "Closed or 1 eq 1"]
        #expect(throws: ConnectorError.self) { try bad.validate(prefix: "erp.financeOperations") }
    }

    @Test("an invoice AP posted is still found by the write step's lookup (single and batch), never written again")
    func postedInvoiceLookup() async throws {
        try await Self.start().run { rig in
            let (erp, backend, vendor) = try await Self.drafted(rig, number: "POSTED-1", amount: 60)
            let id = try #require(Self.pay(rig, vendor: vendor, number: "POSTED-1", amount: 0))
            #expect(try await backend.documentCount(vendor: vendor, vendorInvoiceNumber: "POSTED-1") == 0)
            let found = try await erp.findInvoices(vendorNumber: vendor, vendorInvoiceNumber: "POSTED-1")
            #expect(found.map(\.id) == ["VendTrans(\(id))"])
            let key = InvoiceNaturalKey(vendorNumber: vendor, vendorInvoiceNumber: "POSTED-1")
            let other = InvoiceNaturalKey(vendorNumber: vendor, vendorInvoiceNumber: "posted-1")
            let batch = try await erp.findInvoices(keys: [key, other])
            #expect(batch[key]?.map(\.id) == ["VendTrans(\(id))"])
            #expect(batch[other]?.isEmpty == true, "numbers match exactly, as the natural key does")
        }
    }

    @Test("the simulator: read-only vendor transactions; pay posts the pending invoice, then settles it")
    func simulatorPay() async throws {
        try await Self.start().run { rig in
            let (_, backend, vendor) = try await Self.drafted(rig, number: "SIMPAY-1", amount: 80)
            #expect(try await backend.documentCount(vendor: vendor, vendorInvoiceNumber: "SIMPAY-1") == 1)
            #expect(Self.pay(rig, vendor: vendor, number: "NOPE") == nil)
            let id = try #require(Self.pay(rig, vendor: vendor, number: "SIMPAY-1", amount: 30))
            // Posted: no longer a pending invoice, a posted document instead.
            #expect(try await backend.documentCount(vendor: vendor, vendorInvoiceNumber: "SIMPAY-1") == 0)
            #expect(rig.simulator.documents().contains { $0.vendorInvoiceNumber == "SIMPAY-1" && !$0.draft })
            let rows = rig.simulator.store.records(Self.entity)
            let invoice = try #require(rows.first { $0["RecId"]?.intValue == Int(id) })
            #expect(invoice["AmountCur"]?.decimalValue == -80)
            #expect(invoice["SettleAmountCur"]?.decimalValue == -30)
            #expect(invoice["Closed"]?.stringValue == "1900-01-01T12:00:00Z")
            #expect(invoice["LastSettleDate"]?.stringValue == "2026-03-02T12:00:00Z")
            #expect(rows.contains { $0["TransType"]?.stringValue == "Payment" && $0["AmountCur"]?.decimalValue == 30 })
            // Transactions are F&O's own: no create over OData.
            let token = rig.host.entra.tokens.issue(
                clientId: rig.tenant.credentials.entraClientId, audience: rig.host.financeOperationsBaseURL
            ).token
            let post = try await rig.http.send(
                HTTPRequest(
                    method: "POST", url: rig.host.financeOperationsBaseURL + "/data/\(Self.entity)",
                    headers: [("Authorization", "Bearer \(token)"), ("Content-Type", "application/json")],
                    body: Data("{}".utf8)))
            #expect(post.status == 405)
            _ = Self.pay(rig, vendor: vendor, number: "SIMPAY-1")
            let closed = try #require(
                rig.simulator.store.records(Self.entity).first { $0["RecId"]?.intValue == Int(id) })
            #expect(closed["Closed"]?.stringValue == "2026-03-02T12:00:00Z")
        }
    }
}
