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

/// The real wiring (ConnectionRuntime → DynamicsNAVModule) against the NAV simulator on loopback.
final class NAVRig: SimulatorRig {
    let parts: SimulatorRigParts
    let connection: Connection

    init(
        host: SimulatorHost, tenant: DemoTenant, settings: (inout DynamicsNAVSettings) -> Void,
        connection change: (inout Connection) -> Void = { _ in }
    ) {
        parts = SimulatorRigParts(host: host, tenant: tenant)
        let access = host.dynamicsNAV.accessDetails
        var nav = DynamicsNAVSettings(
            oDataURL: host.dynamicsNAVODataURL, company: access.company, username: access.username,
            accessKey: .plain(Secret(access.accessKey)), journalTemplate: NAVDemoData.template,
            journalBatch: NAVDemoData.batch,
            dimensionFields: ["FUND": "Shortcut_Dimension_1_Code", "DEPARTMENT": "Shortcut_Dimension_2_Code"])
        settings(&nav)
        var connection = Connection.onSimulators(id: "nav", host: host, tenant: tenant, erp: ERPSettings(nav))
        change(&connection)
        self.connection = connection
    }

    static func start(
        _ settings: (inout DynamicsNAVSettings) -> Void = { _ in }, connection: (inout Connection) -> Void = { _ in }
    ) async throws -> NAVRig {
        let tenant = DemoTenant.generate(invoiceCount: 5, seed: 11)
        return NAVRig(
            host: try await SimulatorHost.start(tenant: tenant), tenant: tenant, settings: settings,
            connection: connection)
    }

    var company: String { host.dynamicsNAV.accessDetails.company }

    func rows(_ table: String) -> [SimJSONObject] { host.dynamicsNAV.store.rows(company: company, table: table) }
}

/// The NAV simulator as the conformance suite's backend.
struct DynamicsNAVTestBackend: ERPTestBackend {
    let rig: NAVRig
    var createEndpoint = "PurchaseInvoice"
    var simulator: DynamicsNAVSimulator { rig.host.dynamicsNAV }

    func activeVendor() async throws -> String {
        try #require(rig.rows("Vendor").first { $0["Blocked"]?.stringValue == " " }?["No"]?.stringValue)
    }

    func expenseAccount() async throws -> String {
        try #require(
            rig.rows("G/L Account").first {
                $0["Account_Type"]?.stringValue == "Posting" && $0["Blocked"]?.boolValue == false
                    && $0["Direct_Posting"]?.boolValue == true && $0["Account_Category"]?.stringValue == "Expense"
            }?["No"]?.stringValue)
    }

    func addVendors(count: Int, prefix: String) async throws -> [String] {
        let vendors = (0..<count).map { ("\(prefix)\(String(format: "%05d", $0))".uppercased(), "Conformance \($0)") }
        simulator.store.upsertVendors(company: rig.company, vendors.map { (number: $0.0, name: $0.1) })
        return vendors.map(\.0)
    }

    /// Documents NAV holds for the key, pending ones included (Code fields are upper case in NAV).
    func documentCount(vendor: String, vendorInvoiceNumber: String) async throws -> Int {
        let invoices = rig.rows("Purchase Header").filter {
            $0["Document_Type"]?.stringValue == "Invoice"
                && $0["Buy_from_Vendor_No"]?.stringValue == vendor.uppercased()
                && $0["Vendor_Invoice_No"]?.stringValue == vendorInvoiceNumber.uppercased()
        }
        let journals = rig.rows("Gen. Journal Line").filter {
            $0["Account_Type"]?.stringValue == "Vendor" && $0["Account_No"]?.stringValue == vendor.uppercased()
                && $0["External_Document_No"]?.stringValue == vendorInvoiceNumber.uppercased()
        }
        let orphans = rig.rows("Gen. Journal Line").filter {
            $0["External_Document_No"]?.stringValue == vendorInvoiceNumber.uppercased()
        }
        // Journal G/L lines without their vendor line are a half-written document.
        return invoices.count + journals.count + (journals.isEmpty && !orphans.isEmpty ? 1 : 0)
    }

    func dropNextCreateAfterCommit() async throws {
        simulator.faults.add(
            FaultRule(kind: .dropAfterCommit, system: "dynamicsNAV", method: "POST", endpoint: createEndpoint, count: 1)
        )
    }

    func failReads(status: Int) async throws {
        simulator.faults.add(
            FaultRule(kind: .status, system: "dynamicsNAV", method: "GET", endpoint: "VendorCard", status: status))
    }

    func clearFaults() async throws { simulator.faults.clear() }

    func advanceClock(seconds: Double) async throws { rig.host.clock.advance(by: seconds) }
}

@Suite("Dynamics NAV adapter against the NAV simulator", .serialized, .timeLimit(.minutes(5)))
struct DynamicsNAVTests {
    @Test(
        "Dynamics NAV passes the adapter conformance suite, as purchase invoices and as journal lines",
        arguments: [DynamicsNAVSettings.InvoiceDocument.purchaseInvoice, .generalJournal])
    func conformance(mode: DynamicsNAVSettings.InvoiceDocument) async throws {
        try await NAVRig.start { $0.invoiceDocument = mode }.run { rig in
            try await ERPConformance.run(
                { try rig.connector() },
                backend: DynamicsNAVTestBackend(
                    rig: rig, createEndpoint: mode == .purchaseInvoice ? "PurchaseInvoice" : "GeneralJournal"))
        }
    }

    @Test("a purchase invoice is a header with its lines, tagged with the JAGGAER reference; nothing is posted")
    func purchaseInvoiceShape() async throws {
        try await NAVRig.start().run { rig in
            let backend = DynamicsNAVTestBackend(rig: rig)
            let erp = try rig.connector()
            let vendor = try await backend.activeVendor()
            let account = try await backend.expenseAccount()
            var invoice = ERPConformanceSample.invoice(vendor: vendor, number: "nav-shape-1", account: account)
            invoice.lines.append(invoice.lines[0])
            let created = try await erp.createDraftInvoice(invoice)
            let header = try #require(
                rig.rows("Purchase Header").first { $0["No"]?.stringValue == created.number })
            #expect(header["Your_Reference"]?.stringValue == "JAG-\(invoice.sourceId)")
            #expect(header["Vendor_Invoice_No"]?.stringValue == "NAV-SHAPE-1", "Code fields are upper case in NAV")
            #expect(rig.rows("Purchase Line").filter { $0["Document_No"]?.stringValue == created.number }.count == 2)
            #expect(rig.rows("Vendor Ledger Entry").isEmpty, "never posted")
            #expect(try await erp.findInvoices(vendorNumber: vendor, vendorInvoiceNumber: "nav-shape-1").count == 1)
        }
    }

    @Test("an interrupted invoice (header written, lines lost) is completed by the next write, never doubled")
    func resumesPendingHeader() async throws {
        try await NAVRig.start().run { rig in
            let backend = DynamicsNAVTestBackend(rig: rig)
            let erp = try rig.connector()
            let vendor = try await backend.activeVendor()
            let account = try await backend.expenseAccount()
            let invoice = ERPConformanceSample.invoice(vendor: vendor, number: "RESUME-1", account: account)
            rig.host.dynamicsNAV.faults.add(
                FaultRule(
                    kind: .status, system: "dynamicsNAV", method: "POST",
                    endpoint: "PurchaseInvoice({key})/PurchaseInvoicePurchLines", count: 20, status: 503))
            await #expect(throws: ConnectorError.self) { try await erp.createDraftInvoice(invoice) }
            rig.host.dynamicsNAV.faults.clear()
            #expect(try await erp.findInvoices(vendorNumber: vendor, vendorInvoiceNumber: "RESUME-1").isEmpty)
            _ = try await erp.createDraftInvoice(invoice)
            #expect(try await backend.documentCount(vendor: vendor, vendorInvoiceNumber: "RESUME-1") == 1)
            #expect(try await erp.findInvoices(vendorNumber: vendor, vendorInvoiceNumber: "RESUME-1").count == 1)
        }
    }

    @Test("vendors flow both ways: a vendor is written with its parent; ETag conflicts re-read and re-apply")
    func vendorsBothWays() async throws {
        try await NAVRig.start {
            $0.parentVendorField = "Parent_Vendor_No"
            $0.vendorConflictRule = .procurementWins
        }.run { rig in
            let erp = try rig.connector()
            let parent = try await DynamicsNAVTestBackend(rig: rig).activeVendor()
            let created = try await erp.upsertVendor(Vendor(number: "J-CHILD-1", name: "Child", parentNumber: parent))
            #expect(created.status == "created")
            let row = try #require(rig.rows("Vendor").first { $0["No"]?.stringValue == "J-CHILD-1" })
            #expect(row["Parent_Vendor_No"]?.stringValue == parent)
            // A change made in NAV between our read and our write: the stale ETag is re-read, then applied.
            rig.host.dynamicsNAV.faults.add(
                FaultRule(
                    kind: .status, system: "dynamicsNAV", method: "PATCH", endpoint: "VendorCard({key})", count: 1,
                    status: 412, errorCode: "Request_EntityChanged"))
            let updated = try await erp.upsertVendor(
                Vendor(number: "J-CHILD-1", name: "Child renamed", parentNumber: parent))
            #expect(updated.status == "updated")
            #expect(
                rig.rows("Vendor").first { $0["No"]?.stringValue == "J-CHILD-1" }?["Name"]?.stringValue
                    == "Child renamed")
            let read = try await erp.all(from: nil) { try await erp.vendors(after: $0, pageSize: $1) }.items
            #expect(read.first { $0.number == "J-CHILD-1" }?.parentNumber == parent)
        }
        try await NAVRig.start { $0.vendorConflictRule = .erpWins }.run { rig in
            let erp = try rig.connector()
            let existing = try await DynamicsNAVTestBackend(rig: rig).activeVendor()
            let kept = try await erp.upsertVendor(Vendor(number: existing, name: "Overwritten?"))
            #expect(kept.status == "kept")
        }
    }

    @Test("a page that is not published is named with its setting, by the write and by ping")
    func unpublishedPage() async throws {
        try await NAVRig.start { $0.invoiceDocument = .byPurchaseOrder }.run { rig in
            rig.host.dynamicsNAV.unpublish("GeneralJournal")
            let erp = try rig.connector()
            do {
                _ = try await erp.vendors(after: nil, pageSize: 5)
                Issue.record("a missing page must stop the connector")
            } catch let error as ConnectorError {
                #expect(error.message.contains("GeneralJournal"))
                #expect(error.message.contains("journalService"))
            }
            let checks = await (erp as? any FitChecking)?.fitChecks() ?? []
            let failed = checks.first { $0.check == "published web services" }
            #expect(failed?.outcome == .fail)
            #expect(failed?.detail.contains("39 General Journal") == true)
        }
    }

    @Test("a Windows-only server instance is reported plainly, not retried")
    func windowsOnly() async throws {
        try await NAVRig.start().run { rig in
            rig.host.dynamicsNAV.configuration.windowsOnly = true
            let erp = try rig.connector()
            do {
                _ = try await erp.vendors(after: nil, pageSize: 5)
                Issue.record("a Windows-only server must refuse")
            } catch let error as ConnectorError {
                #expect(error.kind == .configuration)
                #expect(error.message.contains("Windows authentication"))
                #expect(!error.message.contains(rig.host.dynamicsNAV.accessDetails.accessKey))
            }
        }
    }

    @Test("JAGGAER purchase orders become NAV purchase orders: header, then lines; found again by number")
    func purchaseOrders() async throws {
        try await NAVRig.start().run { rig in
            let erp = try rig.connector()
            let backend = DynamicsNAVTestBackend(rig: rig)
            let vendor = try await backend.activeVendor()
            let account = try await backend.expenseAccount()
            let order = PurchaseOrderDocument(
                sourceNumber: "PO-NAV-1", vendorNumber: vendor, orderDate: LocalDate(year: 2026, month: 11, day: 2)!,
                lines: [
                    .init(sourceLineNumber: "1", description: "Paper", glAccount: account, quantity: 3, unitPrice: 4),
                    .init(sourceLineNumber: "2", description: "Ink", glAccount: account, quantity: 1, unitPrice: 9),
                ])
            let created = try await erp.upsertPurchaseOrder(order)
            #expect(created.status == "created")
            let found = try await erp.purchaseOrders(numbers: ["PO-NAV-1"])
            #expect(found.count == 1)
            #expect(found.first?.lines.count == 2)
            var changed = order
            changed.lines[1].quantity = 2
            #expect(try await erp.upsertPurchaseOrder(changed).status == "updated")
            #expect(try await erp.purchaseOrders(numbers: ["PO-NAV-1"]).first?.lines[1].quantity == 2)
        }
    }
}

@Suite("Dynamics NAV settings")
struct DynamicsNAVSettingsTests {
    func decode(_ json: String) throws -> DynamicsNAVSettings {
        try JSONDecoder().decode(DynamicsNAVSettings.self, from: Data(json.utf8))
    }

    let base = #""company":"CRONUS USA, Inc.","username":"JAGGAER","accessKey":{"env":"NAV_KEY"}"#

    @Test("unknown keys are refused by name; the URL, company, credentials and journal are checked")
    func validation() throws {
        do {
            _ = try decode(#"{"oDataURL":"https://nav:7048/NAV/ODataV4",\#(base),"journalBach":"X"}"#)
            Issue.record("an unknown key was accepted")
        } catch let error as ConnectorError {
            #expect(error.message.contains("journalBach"))
        }
        let settings = try decode(#"{"oDataURL":"https://nav:7048/DynamicsNAV110/ODataV4",\#(base)}"#)
        try settings.validate(prefix: "erp.dynamicsNAV")
        #expect(settings.invoiceDocument == .purchaseInvoice)
        #expect(settings.vendorService == "VendorCard")
        for bad in ["https://nav:7048/DynamicsNAV110", "https://nav:7048/DynamicsNAV110/ODataV4/Company('X')"] {
            var copy = settings
            copy.oDataURL = bad
            #expect(throws: ConnectorError.self) { try copy.validate(prefix: "erp.dynamicsNAV") }
        }
        var both = settings
        both.companyId = UUID().uuidString
        #expect(throws: ConnectorError.self) { try both.validate(prefix: "erp.dynamicsNAV") }
        var journal = settings
        journal.invoiceDocument = .generalJournal
        #expect(throws: ConnectorError.self) { try journal.validate(prefix: "erp.dynamicsNAV") }
        journal.journalTemplate = "GENERAL"
        journal.journalBatch = "JAGGAER"
        try journal.validate(prefix: "erp.dynamicsNAV")
        var injected = settings
        injected.vendorService = "VendorCard?$filter=x"
        #expect(throws: ConnectorError.self) { try injected.validate(prefix: "erp.dynamicsNAV") }
        var noKey = settings
        noKey.accessKey = nil
        #expect(throws: ConnectorError.self) { try noKey.validate(prefix: "erp.dynamicsNAV") }
    }

    @Test("the company goes into the URL encoded, with quotes doubled and kept literal")
    func companyPath() throws {
        let client = try DynamicsNAVClient(
            root: "https://nav:7048/NAV/ODataV4", company: "O'Neil & Sons, Inc.", companyId: nil,
            transport: UnusedTransport())
        #expect(client.companyPath == "/Company('O''Neil%20%26%20Sons,%20Inc.')")
    }

    @Test("$metadata names the published services, their fields and containments")
    func metadata() {
        let xml =
            #"<EntityType Name="PurchaseInvoice"><Key><PropertyRef Name="No"/></Key><Property Name="No" Type="Edm.String"/><NavigationProperty Name="PurchaseInvoicePurchLines" Type="Collection(NAV.PurchaseInvoicePurchLines)" ContainsTarget="true"/></EntityType><EntityContainer Name="NAV"><EntitySet Name="PurchaseInvoice" EntityType="NAV.PurchaseInvoice"/></EntityContainer>"#
        let parsed = NAVMetadata.parse(xml)
        #expect(parsed.services["PurchaseInvoice"]?.properties == ["No"])
        #expect(parsed.services["PurchaseInvoice"]?.navigations == ["PurchaseInvoicePurchLines"])
    }
}

/// A transport that is never called (URL building only).
struct UnusedTransport: HTTPTransport {
    func send(_ request: HTTPRequest) async throws -> HTTPResponse {
        throw ConnectorError(.internalError, "not used")
    }
}

@Suite("Dynamics NAV documents as the demo sees them", .serialized, .timeLimit(.minutes(2)))
struct DynamicsNAVDocumentTests {
    @Test("a hostile invoice number whose create answer was lost is one finished document, in upper case")
    func hostileNumber() async throws {
        try await NAVRig.start().run { rig in
            let backend = DynamicsNAVTestBackend(rig: rig)
            let erp = try rig.connector()
            let vendor = try await backend.activeVendor()
            let account = try await backend.expenseAccount()
            let number = "x' or 1 eq 1"
            try await backend.dropNextCreateAfterCommit()
            await #expect(throws: ConnectorError.self) {
                try await erp.createDraftInvoice(
                    ERPConformanceSample.invoice(vendor: vendor, number: number, account: account))
            }
            #expect(try await erp.findInvoices(vendorNumber: vendor, vendorInvoiceNumber: number).count == 1)
            let simulator = rig.host.dynamicsNAV
            let keys = simulator.documents().map { "\($0.vendorNumber)|\($0.vendorInvoiceNumber)" }
            #expect(keys.contains(simulator.naturalKey(vendor: vendor, number: number)), "\(keys)")
        }
    }
}
