import ConnectorSimulators
import Foundation
import Testing

@Suite("Business Central OData queries", .serialized)
struct BusinessCentralQueryTests {
    @Test("companies, vendors, accounts and dimensions come back as OData collections with etags")
    func collections() async throws {
        try await withSimulators(tenant: smallTenant) { host in
            let token = try await host.entraToken()
            let companies = try await HTTP.get(host.businessCentralAPIURL + "/companies", token: token)
            #expect(companies.status == 200)
            #expect(companies.json?["@odata.context"]?.stringValue?.hasSuffix("/$metadata#companies") == true)
            #expect(companies.json?["value"]?.arrayValue?.first?["name"] == .string("CRONUS USA, Inc."))
            let noTenant = try await HTTP.get(
                host.businessCentralBaseURL + "/v2.0/production/api/v2.0/companies", token: token)
            #expect(noTenant.status == 200)
            let vendors = try await host.bcGet("vendors", token: token)
            let items = try #require(vendors.json?["value"]?.arrayValue)
            #expect(items.count == 40)
            let first = try #require(items.first?.objectValue)
            #expect(first.orderedKeys.first == "@odata.etag")
            #expect(first["@odata.etag"]?.stringValue?.hasPrefix("W/\"") == true)
            for key in [
                "id", "number", "displayName", "blocked", "balance", "currencyCode", "taxLiable",
                "lastModifiedDateTime",
            ] {
                #expect(first[key] != nil, "vendor.\(key)")
            }
            guard case .number = first["balance"] else {
                Issue.record("balance must be a JSON number")
                return
            }
            let accounts = try await host.bcGet(
                "accounts", token: token,
                query: "$filter="
                    + HTTP.encode("accountType eq 'Posting' and directPosting eq true and blocked eq false"))
            let postable = try #require(accounts.json?["value"]?.arrayValue)
            #expect(
                postable.count
                    == host.tenant.businessCentral.accounts.filter {
                        $0.accountType == "Posting" && $0.directPosting && !$0.blocked
                    }.count)
            let dimensions = try await host.bcGet("dimensions", token: token, query: "$expand=dimensionValues")
            let fund = try #require(dimensions.json?["value"]?.arrayValue?.first { $0["code"] == .string("FUND") })
            #expect(fund["dimensionValues"]?.arrayValue?.count == 6)
            let fundId = try #require(fund["id"]?.stringValue)
            let values = try await host.bcGet("dimensions(\(fundId))/dimensionValues", token: token)
            #expect(values.json?["value"]?.arrayValue?.count == 6)
            let single = try await host.bcGet("dimensions(\(fundId))", token: token)
            #expect(single.json?["@odata.context"]?.stringValue?.hasSuffix("/$entity") == true)
            #expect(single.header("ETag") == single.json?["@odata.etag"]?.stringValue)
            #expect(host.counters["bc GET vendors"] == 1)
            #expect(host.counters["bc GET dimensions({id})/dimensionValues"] == 1)
            #expect(host.counters["bc GET companies"] == 2)
        }
    }

    @Test("string literals escape quotes by doubling them; an injection string matches only itself")
    func escaping() async throws {
        try await withSimulators(tenant: smallTenant) { host in
            let token = try await host.entraToken()
            let oneil = try await host.bcGet(
                "vendors", token: token, query: "$filter=" + HTTP.encode("displayName eq 'O''Neil Office Supply, LLC'"))
            #expect(oneil.status == 200)
            #expect(oneil.json?["value"]?.arrayValue?.count == 1)
            let vendor = host.tenant.openVendorNumber
            let created = try await HTTP.json(
                "POST", host.companyURL + "/purchaseInvoices", token: token,
                body: invoiceBody(
                    vendorNumber: vendor, vendorInvoiceNumber: "x' or 1 eq 1", lines: [accountLine("60100")]))
            #expect(created.status == 201)
            let escaped = try await host.bcGet(
                "purchaseInvoices", token: token,
                query: "$filter=" + HTTP.encode("vendorInvoiceNumber eq 'x'' or 1 eq 1'"))
            #expect(escaped.status == 200)
            let matches = try #require(escaped.json?["value"]?.arrayValue)
            #expect(matches.count == 1)
            #expect(matches.first?["vendorInvoiceNumber"] == .string("x' or 1 eq 1"))
            let unescaped = try await host.bcGet(
                "purchaseInvoices", token: token,
                query: "$filter=" + HTTP.encode("vendorInvoiceNumber eq 'x' or 1 eq 1'"))
            #expect(unescaped.status == 400)
            #expect(unescaped.bcErrorCode?.hasPrefix("BadRequest") == true)
            let noMatch = try await host.bcGet(
                "purchaseInvoices", token: token, query: "$filter=" + HTTP.encode("vendorInvoiceNumber eq 'x'"))
            #expect(noMatch.json?["value"]?.arrayValue?.count == 0)
        }
    }

    @Test(
        "invalid filters are 400 errors",
        arguments: [
            "vendorInvoiceNumber eq 'open", "number eq", "(number eq '1'", "number eq '1' and", "nosuchfield eq 1",
            "number eq '1' or displayName eq 'x'", "1 eq 1", "number eq 5", "balance eq 'x'", "id eq 'not-a-guid'",
            "number eq displayName", "startswith(balance,'1')", "tolower(number) eq 'x'", "number $ '1'",
            "lastModifiedDateTime gt 2024-13-01T00:00:00Z", "blocked",
        ])
    func invalidFilters(filter: String) async throws {
        try await withSimulators(tenant: smallTenant) { host in
            let token = try await host.entraToken()
            let result = try await host.bcGet("vendors", token: token, query: "$filter=" + HTTP.encode(filter))
            #expect(result.status == 400, "\(filter)")
            #expect(result.bcErrorCode?.hasPrefix("BadRequest") == true)
            #expect(result.bcErrorMessage?.contains("CorrelationId:") == true)
        }
    }

    @Test(
        "valid filters select the right vendors",
        arguments: [
            ("blocked eq 'All'", 1), ("blocked ne ' '", 2), ("blocked eq 'All' or blocked eq 'Payment'", 2),
            ("(blocked eq 'All' or blocked eq 'Payment') and currencyCode eq ''", 2),
            ("startswith(number,'V9')", 4), ("endswith(number,'0004')", 1), ("contains(displayName,'Inc.')", -1),
            ("not startswith(number,'V9')", 36), ("number ge 'V90002' and number le 'V90003'", 2),
            ("balance eq 0", 40), ("balance gt 0.5", 0), ("lastModifiedDateTime lt 2030-01-01T00:00:00Z", 40),
            ("lastModifiedDateTime gt 2030-01-01T00:00:00.000+02:00", 0), ("currencyCode eq 'CAD'", 1),
            ("not (currencyCode eq '')", 2), ("taxLiable", -1),
        ] as [(String, Int)])
    func validFilters(filter: String, expected: Int) async throws {
        try await withSimulators(tenant: smallTenant) { host in
            let token = try await host.entraToken()
            let result = try await host.bcGet("vendors", token: token, query: "$filter=" + HTTP.encode(filter))
            #expect(result.status == 200, "\(filter): \(result.text)")
            let count = result.json?["value"]?.arrayValue?.count ?? -99
            if expected >= 0 {
                #expect(count == expected, "\(filter)")
            } else {
                #expect(count > 0 && count < 40, "\(filter)")
            }
        }
    }

    @Test("GUID and date literals are unquoted")
    func literals() async throws {
        try await withSimulators(tenant: smallTenant) { host in
            let token = try await host.entraToken()
            let vendor = try #require(host.tenant.businessCentral.vendors.first)
            let byId = try await host.bcGet(
                "vendors", token: token, query: "$filter=" + HTTP.encode("id eq \(vendor.id.uppercased())"))
            #expect(byId.json?["value"]?.arrayValue?.count == 1)
            let quoted = try await host.bcGet(
                "vendors", token: token, query: "$filter=" + HTTP.encode("id eq '\(vendor.id)'"))
            #expect(quoted.status == 400)
            let invoices = try await host.bcGet(
                "purchaseInvoices", token: token,
                query: "$filter=" + HTTP.encode("invoiceDate ge 2000-01-01 and status eq 'Draft'"))
            #expect(invoices.json?["value"]?.arrayValue?.count == 1)
        }
    }

    @Test("$select, $orderby (several keys), $top, $skip and $count")
    func options() async throws {
        try await withSimulators(tenant: smallTenant) { host in
            let token = try await host.entraToken()
            let result = try await host.bcGet(
                "vendors", token: token,
                query: "$select=number,displayName&$orderby=" + HTTP.encode("blocked desc,number asc")
                    + "&$top=3&$skip=1&$count=true")
            #expect(result.status == 200)
            let body = try #require(result.json?.objectValue)
            #expect(body["@odata.count"]?.intValue == 40)
            let items = try #require(body["value"]?.arrayValue)
            #expect(items.count == 3)
            #expect(items.first?.objectValue?.orderedKeys == ["@odata.etag", "number", "displayName"])
            let all = host.tenant.businessCentral.vendors.sorted { ($0.blocked, $1.number) > ($1.blocked, $0.number) }
            #expect(items.compactMap { $0["number"]?.stringValue } == all.dropFirst().prefix(3).map(\.number))
            let desc = try await host.bcGet(
                "accounts", token: token, query: "$orderby=" + HTTP.encode("number desc") + "&$top=1")
            #expect(desc.json?["value"]?.arrayValue?.first?["number"] == .string("69999"))
            let badSelect = try await host.bcGet("vendors", token: token, query: "$select=nope")
            #expect(badSelect.status == 400)
            let badTop = try await host.bcGet("vendors", token: token, query: "$top=-1")
            #expect(badTop.status == 400)
            let badOption = try await host.bcGet("vendors", token: token, query: "$search=x")
            #expect(badOption.status == 400)
        }
    }

    @Test("server-driven paging: Prefer odata.maxpagesize, absolute nextLink with $skiptoken, same filter kept")
    func paging() async throws {
        try await withSimulators(tenant: smallTenant) { host in
            let token = try await host.entraToken()
            let filter = "$filter=" + HTTP.encode("not startswith(number,'V9')")
            var url: String? = host.companyURL + "/vendors?" + filter
            var numbers: [String] = []
            var pages = 0
            while let next = url {
                let page = try await HTTP.get(next, token: token, headers: ["Prefer": "odata.maxpagesize=7"])
                #expect(page.status == 200)
                #expect(page.header("Preference-Applied") == "odata.maxpagesize=7")
                let items = try #require(page.json?["value"]?.arrayValue)
                #expect(items.count <= 7)
                numbers += items.compactMap { $0["number"]?.stringValue }
                url = page.json?["@odata.nextLink"]?.stringValue
                if let link = url {
                    #expect(link.hasPrefix("http://127.0.0.1:"))
                    #expect(link.contains("skiptoken="))
                }
                pages += 1
            }
            #expect(pages == 6)
            #expect(numbers.count == 36)
            #expect(Set(numbers).count == 36)
            #expect(numbers == numbers.sorted())
            #expect(!numbers.contains { $0.hasPrefix("V9") })
            let unpaged = try await host.bcGet("vendors", token: token)
            #expect(unpaged.json?["@odata.nextLink"] == nil)
            #expect(unpaged.header("Preference-Applied") == nil)
            let badToken = try await host.bcGet("vendors", token: token, query: "$skiptoken=garbage")
            #expect(badToken.status == 400)
        }
    }

    @Test("unknown segments are 404, wrong methods 405, other companies 404")
    func routing() async throws {
        try await withSimulators(tenant: smallTenant) { host in
            let token = try await host.entraToken()
            let unknown = try await host.bcGet("customerz", token: token)
            #expect(unknown.status == 404)
            #expect(unknown.bcErrorCode == "BadRequest_ResourceNotFound")
            let method = try await HTTP.json(
                "POST", host.companyURL + "/accounts", token: token, body: .object(SimJSONObject()))
            #expect(method.status == 405)
            #expect(method.bcErrorCode == "BadRequest_MethodNotAllowed")
            let company = try await HTTP.get(
                host.businessCentralAPIURL + "/companies(11111111-2222-3333-4444-555555555555)/vendors", token: token)
            #expect(company.status == 404)
            let environment = try await HTTP.get(
                host.businessCentralBaseURL
                    + "/v2.0/\(host.tenant.credentials.entraTenantId)/sandbox/api/v2.0/companies", token: token)
            #expect(environment.status == 404)
            let byName = try await HTTP.get(
                host.businessCentralAPIURL + "/vendors?company=" + HTTP.encode("CRONUS USA, Inc.") + "&$top=1",
                token: token)
            #expect(byName.status == 200)
            #expect(byName.json?["value"]?.arrayValue?.count == 1)
            let noCompany = try await HTTP.get(host.businessCentralAPIURL + "/vendors", token: token)
            #expect(noCompany.status == 400)
            #expect(noCompany.bcErrorCode == "Internal_CompanyNotFound")
            let lines = try await host.bcGet("purchaseInvoiceLines", token: token)
            #expect(lines.status == 400)
            let document = try #require(host.tenant.businessCentral.purchaseInvoices.first)
            let filtered = try await host.bcGet(
                "purchaseInvoiceLines", token: token, query: "$filter=" + HTTP.encode("documentId eq \(document.id)"))
            #expect(filtered.json?["value"]?.arrayValue?.count == document.lines.count)
        }
    }
}
