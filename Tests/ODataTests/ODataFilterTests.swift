import ConnectorCore
import Foundation
import OData
import Testing

@Suite("OData filters, literals, query options and keys")
struct ODataFilterTests {
    static let instant = Date(timeIntervalSince1970: 1_704_164_645)  // 2024-01-02T03:04:05Z
    static let utc = TimeZone(identifier: "UTC")!

    @Test(
        "string literals double every quote, so a value stays one literal",
        arguments: [
            ("O'Neil", "'O''Neil'"), ("x' or 1 eq 1", "'x'' or 1 eq 1'"), ("''", "''''''"), ("", "''"),
            ("a&b#c", "'a&b#c'"),
        ])
    func quoting(value: String, expected: String) throws {
        #expect(try ODataValue.string(value).literal(.v4) == expected)
        #expect(try ODataValue.string(value).literal(.v3) == expected)
        #expect(try ODataFilter.eq("f", value).render(.acumatica) == "f eq \(expected)")
    }

    @Test("date-times per flavor: v4 bare, Acumatica datetimeoffset, v3 datetime, B1 quoted")
    func dateTimes() throws {
        let value = ODataValue.dateTime(Self.instant)
        #expect(try value.literal(.v4) == "2024-01-02T03:04:05Z")
        #expect(try value.literal(.businessCentral) == "2024-01-02T03:04:05Z")
        #expect(try value.literal(.acumatica) == "datetimeoffset'2024-01-02T03:04:05.000Z'")
        #expect(try value.literal(.v3) == "datetime'2024-01-02T03:04:05'")
        #expect(try value.literal(.sapBusinessOne) == "'2024-01-02T03:04:05Z'")
        let fraction = Self.instant.addingTimeInterval(0.973)
        #expect(try ODataValue.dateTime(fraction).literal(.v4) == "2024-01-02T03:04:05.973Z", "a fraction is kept")
    }

    @Test("calendar dates and times of day, read in the given time zone")
    func dates() throws {
        let berlin = TimeZone(identifier: "Europe/Berlin")!
        let lateEvening = Date(timeIntervalSince1970: 1_704_236_400)  // 2024-01-02T23:00:00Z, Jan 3 in Berlin
        #expect(try ODataValue.date(lateEvening, timeZone: Self.utc).literal(.v4) == "2024-01-02")
        #expect(try ODataValue.date(lateEvening, timeZone: berlin).literal(.v4) == "2024-01-03")
        #expect(try ODataValue.date(Self.instant, timeZone: Self.utc).literal(.acumatica) == "date'2024-01-02'")
        #expect(try ODataValue.date(Self.instant, timeZone: Self.utc).literal(.v3) == "datetime'2024-01-02T00:00:00'")
        #expect(try ODataValue.date(Self.instant, timeZone: Self.utc).literal(.sapBusinessOne) == "'2024-01-02'")
        #expect(try ODataValue.timeOfDay(Self.instant, timeZone: berlin).literal(.sapBusinessOne) == "'04:04:05'")
    }

    @Test("B1 changed-since over split UpdateDate and UpdateTime")
    func changedSince() throws {
        let filter = ODataFilter.changedSince(
            dateField: "UpdateDate", timeField: "UpdateTime", Self.instant, timeZone: Self.utc)
        #expect(
            try filter.render(.sapBusinessOne)
                == "UpdateDate gt '2024-01-02' or (UpdateDate eq '2024-01-02' and UpdateTime ge '03:04:05')")
        #expect(try filter.render(.sapBusinessOneV1) == (try filter.render(.sapBusinessOne)), "same literals on v1")
        let scoped = ODataFilter.eq("CardType", "cSupplier").and(filter)
        #expect(
            try scoped.render(.sapBusinessOne)
                == "CardType eq 'cSupplier' and (UpdateDate gt '2024-01-02' or (UpdateDate eq '2024-01-02' and UpdateTime ge '03:04:05'))"
        )
    }

    @Test("GUIDs bare in v4 and guid'…' in v3; numbers, booleans and null")
    func scalars() throws {
        let id = try #require(UUID(uuidString: "6B2A1E57-0C3D-4F8E-9A41-2D7C5E8B9F01"))
        #expect(try ODataValue.guid(id).literal(.v4) == "6b2a1e57-0c3d-4f8e-9a41-2d7c5e8b9f01")
        #expect(try ODataValue.guid(id).literal(.acumatica) == "guid'6b2a1e57-0c3d-4f8e-9a41-2d7c5e8b9f01'")
        #expect(try ODataValue.int(-42).literal(.v4) == "-42")
        #expect(try ODataValue.decimal(Decimal(string: "1234.50")!).literal(.v4) == "1234.5")
        #expect(try ODataValue.decimal(Decimal(string: "1e-10")!).literal(.v4) == "0.0000000001")
        #expect(try ODataValue.decimal(Decimal(string: "12e20")!).literal(.v4) == "1200000000000000000000")
        #expect(try ODataValue.bool(true).literal(.v4) == "true")
        #expect(try ODataFilter.eq("Hold", .bool(false)).render(.acumatica) == "Hold eq false")
        #expect(try ODataFilter.ne("closedAt", .null).render(.v4) == "closedAt ne null")
    }

    @Test("every comparison operator")
    func operators() throws {
        let rendered = try ODataFilter.Operator.allCases.map {
            try ODataFilter.compare("Amount", $0, .int(5)).render(.v4)
        }
        #expect(rendered == ["Amount eq 5", "Amount ne 5", "Amount gt 5", "Amount ge 5", "Amount lt 5", "Amount le 5"])
    }

    @Test("and/or/not get parentheses from the structure, not from text")
    func grouping() throws {
        let a = ODataFilter.eq("a", "1")
        let b = ODataFilter.eq("b", "2")
        let c = ODataFilter.eq("c", "3")
        #expect(try a.and(b).and(c).render(.v4) == "a eq '1' and b eq '2' and c eq '3'")
        #expect(try a.or(b).and(c).render(.v4) == "(a eq '1' or b eq '2') and c eq '3'")
        #expect(try a.and(b).or(c).render(.v4) == "(a eq '1' and b eq '2') or c eq '3'")
        #expect(try a.or(b.and(c)).render(.v4) == "a eq '1' or (b eq '2' and c eq '3')")
        #expect(try a.or(b).or(c).render(.v4) == "a eq '1' or b eq '2' or c eq '3'")
        #expect(try ODataFilter.not(a.or(b)).and(c).render(.v4) == "not (a eq '1' or b eq '2') and c eq '3'")
        #expect(throws: ConnectorError.self) { try ODataFilter.all([]).render(.v4) }
    }

    @Test("in lists: kept where the flavor has in, expanded to an or chain elsewhere")
    func inLists() throws {
        let filter = ODataFilter.isIn("Status", ["Open", "On Hold", "it's"])
        #expect(try filter.render(.v4) == "Status in ('Open','On Hold','it''s')")
        #expect(
            try filter.render(.financeOperations) == "Status eq 'Open' or Status eq 'On Hold' or Status eq 'it''s'")
        #expect(
            try filter.and(.eq("Vendor", "V1")).render(.acumatica)
                == "(Status eq 'Open' or Status eq 'On Hold' or Status eq 'it''s') and Vendor eq 'V1'")
        #expect(
            try ODataFilter.isIn("Status", ["Open"]).and(.eq("x", "y")).render(.businessCentral)
                == "Status eq 'Open' and x eq 'y'")
        #expect(throws: ConnectorError.self) { try ODataFilter.isIn("Status", [String]()).render(.v4) }
    }

    @Test("F&O enum members in namespace syntax, eq and ne only")
    func enums() throws {
        let yes = ODataValue.enumMember(type: "Microsoft.Dynamics.DataEntities.NoYes", member: "Yes")
        #expect(
            try ODataFilter.eq("IsSuspended", yes).render(.financeOperations)
                == "IsSuspended eq Microsoft.Dynamics.DataEntities.NoYes'Yes'")
        #expect(
            try ODataValue.enumMember(type: "Ns.Status", member: "It's").literal(.financeOperations)
                == "Ns.Status'It''s'")
        #expect(throws: ConnectorError.self) { try ODataFilter.gt("IsSuspended", yes).render(.financeOperations) }
        #expect(throws: ConnectorError.self) {
            try ODataValue.enumMember(type: "NoYes' or 1 eq 1 or x.y", member: "Yes").literal(.financeOperations)
        }
    }

    @Test("string functions; contains is substringof in v3")
    func functions() throws {
        #expect(try ODataFilter.contains("name", "O'N").render(.v4) == "contains(name,'O''N')")
        #expect(try ODataFilter.contains("name", "O'N").render(.acumatica) == "substringof('O''N',name)")
        #expect(try ODataFilter.function(.startswith, "name", "A").render(.v3) == "startswith(name,'A')")
        #expect(try ODataFilter.contains("CardName", "x").render(.sapBusinessOneV1) == "substringof('x',CardName)")
    }

    @Test(
        "field names are validated, so a field can never inject",
        arguments: ["a eq 'x' or b", "a)", "", "1abc", "a//b", "a b", "a'", "a/", "näme", "a.b", "$filter"])
    func badFields(name: String) {
        #expect(throws: ConnectorError.self) { try ODataFilter.eq(ODataField(name), "x").render(.v4) }
        #expect(throws: ConnectorError.self) { try ODataQuery(select: [ODataField(name)]).queryString(.v4) }
    }

    @Test(
        "valid field names, navigation included", arguments: ["a", "vendorNumber", "_x", "Details/Amount", "U_JagId9"])
    func goodFields(name: String) throws {
        #expect(try ODataFilter.eq(ODataField(name), "x").render(.v4) == "\(name) eq 'x'")
    }

    @Test("query options: percent-encoded values, literal $ in names, F&O cross-company")
    func queryOptions() throws {
        let query = ODataQuery(
            filter: .eq("dataAreaId", "usmf").and(.eq("InvoiceNumber", "A'1 & #2+")),
            select: ["InvoiceNumber", "VendorAccount"], expand: ["VendorInvoiceLines"],
            orderBy: [("InvoiceDate", .desc), ("InvoiceNumber", .asc)], top: 50, skip: 100, count: true,
            crossCompany: true)
        #expect(
            try query.queryString(.financeOperations)
                == "$filter=dataAreaId%20eq%20%27usmf%27%20and%20InvoiceNumber%20eq%20%27A%27%271%20%26%20%232%2B%27"
                + "&$select=InvoiceNumber%2CVendorAccount&$expand=VendorInvoiceLines"
                + "&$orderby=InvoiceDate%20desc%2CInvoiceNumber%20asc&$top=50&$skip=100&$count=true&cross-company=true")
        #expect(try ODataQuery(count: true).queryString(.acumatica) == "$inlinecount=allpages")
        #expect(
            try ODataQuery(top: 1, extra: [("company", "CRONUS Int'l")]).url(
                "https://h/ODataV4", path: "/Vendors", flavor: .dynamicsNAV)
                == "https://h/ODataV4/Vendors?$top=1&company=CRONUS%20Int%27l")
        #expect(throws: ConnectorError.self) { try ODataQuery(top: -1).queryString(.v4) }
        let decoded = try #require(
            URLComponents(string: "https://h/x?" + (try query.queryString(.v4)))?.queryItems?.first?.value)
        #expect(decoded == "dataAreaId eq 'usmf' and InvoiceNumber eq 'A''1 & #2+'", "the server reads the filter back")
    }

    @Test("entity keys: single, numeric, GUID and composite, quotes doubled and the segment encoded")
    func keys() throws {
        #expect(try ODataKey.single(.string("V'1")) == "('V''1')")
        #expect(try ODataKey.single(.string("a/b c?#%")) == "('a%2Fb%20c%3F%23%25')")
        #expect(try ODataKey.single(.string("Müller")) == "('M%C3%BCller')")
        #expect(try ODataKey.single(.int(42)) == "(42)")
        let id = try #require(UUID(uuidString: "6B2A1E57-0C3D-4F8E-9A41-2D7C5E8B9F01"))
        #expect(try ODataKey.single(.guid(id)) == "(6b2a1e57-0c3d-4f8e-9a41-2d7c5e8b9f01)")
        #expect(
            try ODataKey.composite(
                [("dataAreaId", .string("usmf")), ("InvoiceNumber", .string("A'1"))],
                required: ["dataAreaId", "InvoiceNumber"]) == "(dataAreaId='usmf',InvoiceNumber='A''1')")
        #expect(
            try ODataKey.composite([("Document_Type", .string("Invoice")), ("Line_No", .int(10000))])
                == "(Document_Type='Invoice',Line_No=10000)")
        #expect(throws: ConnectorError.self) {
            try ODataKey.composite([("InvoiceNumber", .string("A1"))], required: ["dataAreaId", "InvoiceNumber"])
        }
        #expect(throws: ConnectorError.self) {
            try ODataKey.composite([("a", .string("1")), ("a", .string("2"))])
        }
        #expect(throws: ConnectorError.self) { try ODataKey.composite([("a=1,b", .string("1"))]) }
        #expect(throws: ConnectorError.self) { try ODataKey.single(.null) }
    }
}
