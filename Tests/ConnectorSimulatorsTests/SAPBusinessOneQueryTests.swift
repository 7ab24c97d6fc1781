import ConnectorSimulators
import Foundation
import Testing

@Suite("SAP Business One: OData queries and paging")
struct SAPBusinessOneQueryTests {
    @Test("server paging: 20 by default, odata.nextLink relative like 'BusinessPartners?$skip=20' on v1")
    func pagingV1() async throws {
        try await withB1Simulator { simulator, base in
            simulator.store.addVendors(count: 40, prefix: "VB")  // 45 business partners in all
            var client = B1TestClient(base: base)
            try await client.login()
            let first = try await client.get("BusinessPartners?$select=CardCode")
            #expect(first.status == 200)
            #expect(first.values.count == 20)
            #expect(first.json?["odata.metadata"]?.stringValue?.hasSuffix("$metadata#BusinessPartners") == true)
            let link = try #require(first.json?["odata.nextLink"]?.stringValue)
            #expect(link == "BusinessPartners?$select=CardCode&$skip=20")
            #expect(first.json?["@odata.nextLink"] == nil)
            var codes = first.values.compactMap { $0["CardCode"]?.stringValue }
            #expect(first.values.first?.objectValue?.count == 1, "$select keeps only the named properties")
            var next: String? = link
            while let current = next {
                let page = try await client.get(current)
                codes += page.values.compactMap { $0["CardCode"]?.stringValue }
                next = page.json?["odata.nextLink"]?.stringValue
            }
            #expect(codes.count == 45)
            #expect(codes == codes.sorted(), "ordered by the key")
            #expect(Set(codes).count == 45)
        }
    }

    @Test("Prefer: odata.maxpagesize is honoured; v2 uses @odata.nextLink and keeps $filter in the link")
    func pagingV2() async throws {
        try await withB1Simulator { simulator, base in
            simulator.store.addVendors(count: 25, prefix: "VB")
            var client = B1TestClient(base: base, version: "v2")
            try await client.login()
            let query = B1TestClient.filter("CardType eq 'cSupplier'")
            let first = try await client.get("BusinessPartners?" + query, headers: ["Prefer": "odata.maxpagesize=10"])
            #expect(first.values.count == 10)
            #expect(first.header("Preference-Applied") == "odata.maxpagesize=10")
            #expect(first.json?["@odata.context"] != nil)
            let link = try #require(first.json?["@odata.nextLink"]?.stringValue)
            #expect(link == "BusinessPartners?\(query)&$skip=10")
            var total = first.values.count
            var next: String? = link
            while let current = next {
                let page = try await client.get(current, headers: ["Prefer": "odata.maxpagesize=10"])
                #expect(page.values.allSatisfy { $0["CardType"]?.stringValue == "cSupplier" })
                total += page.values.count
                next = page.json?["@odata.nextLink"]?.stringValue
            }
            #expect(total == 29, "25 bulk vendors and 4 seeded suppliers; the customer is filtered out")
            // $top and $skip inside a page window; /$count; inline count.
            let window = try await client.get("BusinessPartners?$top=3&$skip=2&$orderby=CardCode%20desc")
            #expect(window.values.count == 3)
            #expect(window.json?["@odata.nextLink"] == nil)
            let counted = try await client.get("BusinessPartners/$count?" + query)
            #expect(counted.text == "29")
            let inline = try await client.get("BusinessPartners?$count=true&$top=1&" + query)
            #expect(inline.json?["@odata.count"]?.intValue == 29)
            let big = try await client.get("BusinessPartners", headers: ["B1S-PageSize": "100"])
            #expect(big.values.count == 30)
        }
    }

    @Test("filters: doubled quotes, unicode, a 40-character NumAtCard, and/or/not, numbers, functions")
    func filters() async throws {
        try await withB1Simulator { simulator, base in
            var client = B1TestClient(base: base)
            try await client.login()
            let apostrophe = try await client.get(
                "BusinessPartners?" + B1TestClient.filter("CardName eq 'O''Neil Office Supply'"))
            #expect(apostrophe.values.compactMap { $0["CardCode"]?.stringValue } == ["V200"])
            let unicode = try await client.get(
                "BusinessPartners?" + B1TestClient.filter("CardName eq 'Müller & Søn GmbH'"))
            #expect(unicode.values.compactMap { $0["CardCode"]?.stringValue } == ["V300"])
            let injection = try await client.get(
                "BusinessPartners?" + B1TestClient.filter("CardName eq 'x'' or 1 eq 1'"))
            #expect(injection.status == 200)
            #expect(injection.values.isEmpty, "a doubled quote stays inside the literal")

            let long = "INV-2026-11-CONSOLIDATED-STATEMENT-00001"
            #expect(long.count == 40)
            let created = try await client.send(
                "POST", "PurchaseInvoices", b1InvoiceBody(cardCode: "V100", numAtCard: long, lines: [b1Line()]))
            #expect(created.status == 201)
            #expect(created.json?["NumAtCard"]?.stringValue == long)
            let found = try await client.get(
                "PurchaseInvoices?" + B1TestClient.filter("CardCode eq 'V100' and NumAtCard eq '\(long)'"))
            #expect(found.values.count == 1)
            let missed = try await client.get(
                "PurchaseInvoices?" + B1TestClient.filter("CardCode eq 'V200' and NumAtCard eq '\(long)'"))
            #expect(missed.values.isEmpty)
            let either = try await client.get(
                "BusinessPartners?"
                    + B1TestClient.filter("(CardCode eq 'V100' or CardCode eq 'V300') and not (Currency eq 'EUR')"))
            #expect(either.values.compactMap { $0["CardCode"]?.stringValue } == ["V100"])
            let numbers = try await client.get(
                "PurchaseInvoices?" + B1TestClient.filter("DocTotal gt 9.99 and DocTotal le 10"))
            #expect(numbers.values.count == 1)
            let starts = try await client.get("BusinessPartners?" + B1TestClient.filter("startswith(CardName,'Fish')"))
            #expect(starts.values.count == 1)
            let substring = try await client.get(
                "BusinessPartners?" + B1TestClient.filter("substringof('Office',CardName)"))
            #expect(substring.values.compactMap { $0["CardCode"]?.stringValue } == ["V200"])
            let caseless = try await client.get(
                "BusinessPartners?" + B1TestClient.filter("CardName eq 'fisher scientific'"),
                headers: ["B1S-CaseInsensitive": "true"])
            #expect(caseless.values.count == 1)
            let unknown = try await client.get("BusinessPartners?" + B1TestClient.filter("Nope eq 'x'"))
            #expect(unknown.status == 400)
            #expect(unknown.b1Code == "-1000")
            #expect(unknown.b1Message == "Property 'Nope' of 'BusinessPartner' is invalid")
            let broken = try await client.get("BusinessPartners?" + B1TestClient.filter("CardCode eq 'V1"))
            #expect(broken.status == 400)
        }
    }

    @Test("UpdateDate/UpdateTime: dates are written YYYY-MM-DDT00:00:00Z and compared by day, times as HH:MM:SS")
    func changedSince() async throws {
        let clock = SimulatorClock(fixedAt: Date(timeIntervalSince1970: 1_795_176_000))  // 2026-11-20T12:00:00Z
        try await withB1Simulator(clock: clock) { simulator, base in
            var client = B1TestClient(base: base, version: "v2")
            try await client.login()
            let before = try await client.get("BusinessPartners('V100')")
            #expect(before.json?["UpdateDate"]?.stringValue == "2026-11-20T00:00:00Z")
            #expect(before.json?["UpdateTime"]?.stringValue == "12:00:00")
            clock.advance(by: 90)
            let patched = try await client.send(
                "PATCH", "BusinessPartners('V200')", .object(SimJSONObject(["CardName": .string("O'Neil Office, LLC")]))
            )
            #expect(patched.status == 204)
            let since =
                "(UpdateDate gt '2026-11-20' or (UpdateDate eq '2026-11-20' and UpdateTime ge '12:01:00'))"
            let changed = try await client.get("BusinessPartners?" + B1TestClient.filter(since))
            #expect(changed.values.compactMap { $0["CardCode"]?.stringValue } == ["V200"])
            #expect(changed.values.first?["UpdateTime"]?.stringValue == "12:01:30")
            let later = try await client.get(
                "BusinessPartners?" + B1TestClient.filter("UpdateDate ge '2026-11-21T00:00:00Z'"))
            #expect(later.values.isEmpty)
            let today = try await client.get("BusinessPartners?" + B1TestClient.filter("UpdateDate eq '2026-11-20'"))
            #expect(today.values.count == 5)
            // Plain dates can be switched on for clients that must read both shapes.
            _ = try await HTTP.json(
                "POST", base + "/_sim/b1/config", token: nil,
                body: .object(SimJSONObject(["dateSuffix": .string("")])))
            let plain = try await client.get("BusinessPartners('V100')")
            #expect(plain.json?["UpdateDate"]?.stringValue == "2026-11-20")
        }
    }

    @Test("master data: business partners GET/POST/PATCH, -2035 on a duplicate, -2028 for an unknown key")
    func masterData() async throws {
        try await withB1Simulator { simulator, base in
            var client = B1TestClient(base: base)
            try await client.login()
            let missing = try await client.get("BusinessPartners('NOPE')")
            #expect(missing.status == 404)
            #expect(missing.b1Code == "-2028")
            let apostrophe = try await client.get("BusinessPartners('V200')?$select=CardName,Frozen")
            #expect(apostrophe.json?["CardName"]?.stringValue == "O'Neil Office Supply")
            #expect(apostrophe.json?["CardCode"] == nil)
            let body: SimJSON = .object(
                SimJSONObject([
                    "CardCode": .string("V'500"), "CardName": .string("Quote Vendor"), "CardType": .string("cSupplier"),
                    "FederalTaxID": .string("94-1234567"), "U_JaggaerId": .string("J-77"),
                ]))
            let created = try await client.send("POST", "BusinessPartners", body)
            #expect(created.status == 201)
            #expect(created.json?["Valid"]?.stringValue == "tYES")
            #expect(created.json?["U_JaggaerId"]?.stringValue == "J-77")
            #expect(created.header("Location")?.hasSuffix("BusinessPartners('V''500')") == true)
            let duplicate = try await client.send("POST", "BusinessPartners", body)
            #expect(duplicate.status == 400)
            #expect(duplicate.b1Code == "-2035")
            #expect(duplicate.b1Message?.contains("already exists") == true)
            let quoted = try await client.get("BusinessPartners('V''500')")
            #expect(quoted.json?["CardName"]?.stringValue == "Quote Vendor")
            let patched = try await client.send(
                "PATCH", "BusinessPartners('V''500')", .object(SimJSONObject(["Frozen": .string("tYES")])))
            #expect(patched.status == 204)
            #expect(try await client.get("BusinessPartners('V''500')").json?["Frozen"]?.stringValue == "tYES")
            let badProperty = try await client.send(
                "POST", "BusinessPartners", .object(SimJSONObject(["CardCode": .string("X"), "Bogus": .int(1)])))
            #expect(badProperty.b1Message == "Property 'Bogus' of 'BusinessPartner' is invalid")
            let noContent = try await client.send(
                "POST", "BusinessPartners", .object(SimJSONObject(["CardCode": .string("V600")])),
                headers: ["Prefer": "return-no-content"])
            #expect(noContent.status == 204)

            let accounts = try await client.get(
                "ChartOfAccounts?" + B1TestClient.filter("ActiveAccount eq 'tYES'") + "&$select=Code,Name")
            #expect(accounts.values.compactMap { $0["Code"]?.stringValue } == ["60100", "60400", "60900"])
            let dimensions = try await client.get("Dimensions?" + B1TestClient.filter("IsActive eq 'tYES'"))
            #expect(dimensions.values.compactMap { $0["DimensionCode"]?.intValue } == [1, 2])
            let dimension = try await client.get("Dimensions(2)")
            #expect(dimension.json?["DimensionName"]?.stringValue == "DEPARTMENT")
            let centres = try await client.get("ProfitCenters?" + B1TestClient.filter("InWhichDimension eq 2"))
            #expect(centres.values.compactMap { $0["CenterCode"]?.stringValue } == ["RND"])
            #expect(try await client.get("ProfitCenters('19900')").json?["InWhichDimension"]?.intValue == 1)
            let notAllowed = try await client.send(
                "POST", "ChartOfAccounts", .object(SimJSONObject(["Code": .string("1")])))
            #expect(notAllowed.status == 405)
        }
    }
}
