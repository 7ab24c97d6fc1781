import Acumatica
import ConnectorCore
import Foundation
import OData
import Testing

/// What Acumatica is sent, built from the mapped invoice without a server: every field wrapped, on hold, the
/// segmented subaccount, branch and PO link of each detail; and the settings' checks.
@Suite("Acumatica bill body, cursor and settings")
struct AcumaticaDocumentTests {
    func settings(segments: [String] = ["DEPT", "PROJ"], branch: String? = "BRANCH") -> AcumaticaSettings {
        AcumaticaSettings(
            instanceURL: "https://acme.acumatica.com", clientId: "88358B02-A48D-A50E-F710-39C1636C30F6@Acme",
            clientSecret: .sealed("x"), username: "integration", password: .sealed("y"), subaccountSegments: segments,
            branchDimension: branch)
    }

    func invoice(total: Decimal = 150, lines: [MappedLine]? = nil) -> MappedInvoice {
        MappedInvoice(
            recordId: "r1", source: "jaggaer", sourceId: "INV-77", sourceUpdatedAt: nil, vendorNumber: "V000001",
            vendorInvoiceNumber: "O'Brien-ü-1", invoiceDate: LocalDate(year: 2026, month: 11, day: 30)!,
            dueDate: LocalDate(year: 2026, month: 12, day: 30), postingDate: nil, currencyCode: "EUR",
            sourceCurrency: "EUR", headerDimensions: [DimensionAssignment(dimension: "BRANCH", value: "HQ")],
            lines: lines ?? [
                MappedLine(
                    kind: .item, sourceLineNumber: 1, description: "Paper", glAccount: "61000", quantity: 3,
                    unitCost: 50,
                    dimensions: [
                        DimensionAssignment(dimension: "DEPT", value: "100"),
                        DimensionAssignment(dimension: "PROJ", value: "020"),
                    ], poNumber: "PO-9", poLineNumber: "2")
            ],
            expectedTotal: total, poNumbers: ["PO-9"])
    }

    func object(_ value: JSONValue?) throws -> [String: JSONValue] {
        guard case .object(let members) = try #require(value) else {
            Issue.record("not an object")
            return [:]
        }
        return members
    }

    @Test("a bill is created on hold, every field wrapped, the detail coded and linked to its PO line")
    func billBody() throws {
        let link = AcumaticaConnector.POLink(orderType: "Normal", orderNumber: "PO000123", line: 2)
        let body = try AcumaticaConnector.bill(for: invoice(), settings: settings(), links: [0: link])
        let header = try object(body)
        #expect(header["Type"] == .object(["value": .string("Bill")]))
        #expect(header["Vendor"] == .object(["value": .string("V000001")]))
        #expect(header["VendorRef"] == .object(["value": .string("O'Brien-ü-1")]))
        #expect(header["Hold"] == .object(["value": .bool(true)]), "nothing is released unreviewed")
        #expect(header["Date"] == .object(["value": .string("2026-11-30")]))
        #expect(header["DueDate"] == .object(["value": .string("2026-12-30")]))
        #expect(header["CurrencyID"] == .object(["value": .string("EUR")]))
        #expect(header["ReferenceNbr"] == nil, "no key: the PUT creates")
        guard case .array(let details) = try #require(header["Details"]) else {
            Issue.record("no details")
            return
        }
        let detail = try object(details.first)
        #expect(detail["Account"] == .object(["value": .string("61000")]))
        #expect(detail["Subaccount"] == .object(["value": .string("100-020")]), "segments in configured order")
        #expect(detail["Branch"] == .object(["value": .string("HQ")]), "from the header's dimension")
        #expect(detail["Qty"] == .object(["value": .number(3)]))
        #expect(detail["UnitCost"] == .object(["value": .number(50)]))
        #expect(detail["Amount"] == .object(["value": .number(150)]))
        #expect(detail["TransactionDescription"] == .object(["value": .string("Paper")]))
        #expect(detail["POOrderType"] == .object(["value": .string("Normal")]))
        #expect(detail["POOrderNbr"] == .object(["value": .string("PO000123")]))
        #expect(detail["POLine"] == .object(["value": .number(2)]))
        // Without a link the detail carries no PO fields at all.
        let unlinked = try object(
            { () throws -> JSONValue? in
                guard
                    case .array(let items) = try object(AcumaticaConnector.bill(for: invoice(), settings: settings()))[
                        "Details"]
                else { return nil }
                return items.first
            }())
        #expect(unlinked["POOrderNbr"] == nil && unlinked["POLine"] == nil)
    }

    @Test("a negative total is a credit memo of the configured type with positive amounts")
    func creditMemo() throws {
        let line = MappedLine(
            kind: .item, sourceLineNumber: 1, description: "Refund", glAccount: "61000", quantity: 2, unitCost: -25)
        let header = try object(
            try AcumaticaConnector.bill(for: invoice(total: -50, lines: [line]), settings: settings(segments: [])))
        #expect(header["Type"] == .object(["value": .string("Debit Adj.")]))
        guard case .array(let details) = try #require(header["Details"]) else { return }
        let detail = try object(details.first)
        #expect(detail["Qty"] == .object(["value": .number(2)]))
        #expect(detail["UnitCost"] == .object(["value": .number(25)]))
        #expect(detail["Subaccount"] == nil, "no coding: Acumatica defaults the subaccount")
    }

    @Test("a line coding only some subaccount segments is refused before the write")
    func partialSubaccount() throws {
        let line = MappedLine(
            kind: .item, sourceLineNumber: 1, description: "x", glAccount: "61000", quantity: 1, unitCost: 1,
            dimensions: [DimensionAssignment(dimension: "DEPT", value: "100")])
        #expect(throws: ConnectorError.self) {
            _ = try AcumaticaConnector.bill(for: invoice(lines: [line]), settings: settings())
        }
        // Without segments, a whole subaccount code comes from the SUBACCOUNT dimension.
        let whole = MappedLine(
            kind: .item, sourceLineNumber: 1, description: "x", glAccount: "61000", quantity: 1, unitCost: 1,
            dimensions: [DimensionAssignment(dimension: "SUBACCOUNT", value: "000-000")])
        let header = try object(
            try AcumaticaConnector.bill(for: invoice(lines: [whole]), settings: settings(segments: [], branch: nil)))
        guard case .array(let details) = try #require(header["Details"]) else { return }
        #expect(try object(details.first)["Subaccount"] == .object(["value": .string("000-000")]))
    }

    @Test("the natural-key filter keeps quotes, unicode and operators inside one literal, URL-encoded")
    func naturalKeyFilter() throws {
        let filter = ODataFilter.eq("Vendor", "V'1").and(.eq("VendorRef", "x' or VendorRef ne 'ü&#+"))
        let query = try ODataQuery(filter: filter, top: 100, skip: 0).queryString(.acumatica)
        #expect(
            query
                == "$filter=Vendor%20eq%20%27V%27%271%27%20and%20VendorRef%20eq%20%27x%27%27%20or%20VendorRef%20ne%20%27%27%C3%BC%26%23%2B%27&$top=100&$skip=0"
        )
        let since = try ODataFilter.gt("LastModifiedDateTime", dateTime: Date(timeIntervalSince1970: 1_790_000_000.25))
            .render(.acumatica)
        #expect(since == "LastModifiedDateTime gt datetimeoffset'2026-09-21T14:13:20.250Z'")
    }

    @Test("date-times with offsets and seven-digit fractions are read, floored to the millisecond")
    func dates() throws {
        let date = try #require(AcumaticaDates.parse("2024-07-15T10:31:28.4033333+03:00"))
        #expect(Timestamp.format(date) == "2024-07-15T07:31:28.403Z")
        #expect(AcumaticaDates.parse("2024-07-15T10:31:28") != nil, "no offset is read as UTC")
        #expect(AcumaticaDates.parse("2024-02-30T10:31:28Z") == nil)
        #expect(
            Timestamp.format(AcumaticaDates.floorToMillisecond(Date(timeIntervalSince1970: 10.0129)))
                == "1970-01-01T00:00:10.012Z")
    }

    @Test("settings: strict keys, oauth needs GUID@Tenant, plain endpoint versions and action names")
    func settingsValidation() throws {
        #expect(throws: Never.self) { try settings().validate(prefix: "erp.acumatica") }
        var bad = settings()
        bad.clientId = "not-a-guid@Acme"
        #expect(throws: ConnectorError.self) { try bad.validate(prefix: "erp.acumatica") }
        bad = settings()
        bad.endpointVersion = "24.2"
        #expect(throws: ConnectorError.self) { try bad.validate(prefix: "erp.acumatica") }
        bad = settings()
        bad.postActions = ["Release From Hold"]
        #expect(throws: ConnectorError.self) { try bad.validate(prefix: "erp.acumatica") }
        bad = settings()
        bad.branchDimension = "DEPT"
        #expect(throws: ConnectorError.self) { try bad.validate(prefix: "erp.acumatica") }
        bad = settings()
        bad.instanceURL = "https://acme.acumatica.com/entity/Default/24.200.001"
        #expect(throws: ConnectorError.self) { try bad.validate(prefix: "erp.acumatica") }

        let json = Data(
            #"{"instanceURL":"https://acme.acumatica.com","authentication":"cookie","username":"u","password":"mlc1:x","postActions":["Approve"],"typo":1}"#
                .utf8)
        #expect(throws: (any Error).self) { _ = try JSONDecoder().decode(AcumaticaSettings.self, from: json) }
        let good = Data(
            #"{"instanceURL":"https://acme.acumatica.com","authentication":"cookie","username":"u","password":"mlc1:x","postActions":["Approve"]}"#
                .utf8)
        let decoded = try JSONDecoder().decode(AcumaticaSettings.self, from: good)
        #expect(decoded.authentication == .cookie)
        #expect(decoded.postActions == ["Approve"])
        #expect(decoded.purchaseOrderNumberField == "OrderNbr")
        #expect(throws: Never.self) { try decoded.validate(prefix: "erp.acumatica") }
    }

    @Test("an endpoint version the instance does not serve is named, with the versions it does serve")
    func endpointVerdict() throws {
        // The shape of `GET /entity` in Acumatica's integration guide.
        let site = try JSONDecoder().decode(
            AcumaticaSiteInfo.self,
            from: Data(
                #"""
                {"version": {"acumaticaBuildVersion": "25.093.0036", "databaseVersion": "25.093.0036"},
                 "endpoints": [
                   {"name": "Default", "version": "20.200.001", "href": "/testdata/entity/Default/20.200.001/"},
                   {"name": "eCommerce", "version": "20.200.001", "href": "/testdata/entity/eCommerce/20.200.001/"},
                   {"name": "Default", "version": "23.200.001", "href": "/testdata/entity/Default/23.200.001/"},
                   {"name": "MANUFACTURING", "version": "21.200.001", "href": "/testdata/entity/MANUFACTURING/21.200.001/"}
                 ]}
                """#.utf8))
        let missing = AcumaticaFitChecks.endpointVerdict(site, settings: settings())
        #expect(missing.outcome == .fail)
        #expect(missing.detail.contains("Default/24.200.001") && missing.detail.contains("25.093.0036"))
        let fix = try #require(missing.fix)
        #expect(fix.contains("20.200.001, 23.200.001"), "\(fix)")
        #expect(!fix.contains("MANUFACTURING"), "only versions of the same endpoint are suggested")
        var deployed = settings()
        deployed.endpointVersion = "23.200.001"
        #expect(AcumaticaFitChecks.endpointVerdict(site, settings: deployed).outcome == .pass)
        var other = settings()
        other.endpointName = "Custom"
        let unknown = AcumaticaFitChecks.endpointVerdict(site, settings: other)
        #expect(unknown.fix?.contains("MANUFACTURING/21.200.001") == true)
    }
}
