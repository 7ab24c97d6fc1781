import ConnectorSimulators
import Foundation
import Testing

@Suite("Business Central purchase invoices", .serialized)
struct BusinessCentralWriteTests {
    @Test("deep insert creates a draft with a BC number, computed totals, lines and line dimensions")
    func deepInsert() async throws {
        try await withSimulators(tenant: smallTenant) { host in
            let token = try await host.entraToken()
            let vendor = host.tenant.openVendorNumber
            let body = invoiceBody(
                vendorNumber: vendor, vendorInvoiceNumber: "INV-DEEP-1",
                lines: [
                    accountLine(
                        "60100", quantity: "3", unitCost: "19.99",
                        dimensions: [("FUND", "19900"), ("DEPARTMENT", "ADM")]),
                    accountLine("60400", quantity: "1.5", unitCost: "100.10", dimensions: [("PROGRAM", "20100")]),
                ])
            let created = try await HTTP.json(
                "POST", host.companyURL + "/purchaseInvoices?$expand=purchaseInvoiceLines", token: token, body: body)
            #expect(created.status == 201)
            let invoice = try #require(created.json)
            #expect(invoice["number"] == .string("108003"), "two hand-keyed invoices used 108001 and 108002")
            #expect(invoice["status"] == .string("Draft"))
            #expect(invoice["vendorNumber"] == .string(vendor))
            #expect(invoice["totalAmountExcludingTax"] == .number("210.12"))
            #expect(invoice["totalAmountIncludingTax"] == .number("210.12"))
            #expect(invoice["currencyCode"] == .string("USD"))
            #expect(invoice["invoiceDate"] == .string("2026-11-10"))
            #expect(invoice["dueDate"] == .string("2026-12-10"))
            #expect(invoice["@odata.context"]?.stringValue?.hasSuffix("/$entity") == true)
            #expect(created.header("Location")?.contains("purchaseInvoices(") == true)
            let lines = try #require(invoice["purchaseInvoiceLines"]?.arrayValue)
            #expect(lines.count == 2)
            #expect(lines.map { $0["sequence"] } == [.number("10000"), .number("20000")])
            #expect(lines[1]["amountExcludingTax"] == .number("150.15"))
            #expect(lines[0]["accountId"] != .string("00000000-0000-0000-0000-000000000000"))

            let plain = try await HTTP.json(
                "POST", host.companyURL + "/purchaseInvoices", token: token,
                body: invoiceBody(
                    vendorNumber: vendor, vendorInvoiceNumber: "INV-DEEP-2", lines: [accountLine("60100")]))
            #expect(plain.status == 201)
            #expect(plain.json?["purchaseInvoiceLines"] == nil)
            #expect(plain.json?["number"] == .string("108004"))

            let id = try #require(invoice["id"]?.stringValue)
            let lineId = try #require(lines[0]["id"]?.stringValue)
            let nested = try await host.bcGet(
                "purchaseInvoices(\(id))/purchaseInvoiceLines(\(lineId))/dimensionSetLines", token: token)
            #expect(nested.status == 200)
            let dims = try #require(nested.json?["value"]?.arrayValue)
            #expect(Set(dims.compactMap { $0["code"]?.stringValue }) == ["FUND", "DEPARTMENT"])
            #expect(dims.first { $0["code"] == .string("FUND") }?["valueCode"] == .string("19900"))
            #expect(dims.first?["parentId"] == .string(lineId))
            #expect(dims.first?["parentType"] == .string("Purchase Invoice Line"))
            let topLevel = try await host.bcGet("purchaseInvoiceLines(\(lineId))/dimensionSetLines", token: token)
            #expect(topLevel.json?["value"]?.arrayValue?.count == 2)
            let expanded = try await host.bcGet(
                "purchaseInvoices(\(id))", token: token,
                query: "$expand=" + HTTP.encode("purchaseInvoiceLines($expand=dimensionSetLines)"))
            #expect(
                expanded.json?["purchaseInvoiceLines"]?.arrayValue?.first?["dimensionSetLines"]?.arrayValue?.count == 2)

            let data = try await HTTP.get(host.businessCentralBaseURL + "/_sim/data/purchaseInvoices")
            let all = try #require(data.json?["value"]?.arrayValue)
            #expect(all.count == 4)
            let stored = try #require(all.first { $0["id"] == .string(id) })
            #expect(stored["purchaseInvoiceLines"]?.arrayValue?.first?["dimensionSetLines"]?.arrayValue?.count == 2)
            #expect(host.counters["bc POST purchaseInvoices"] == 2)
        }
    }

    @Test("a test can key an invoice in-process, with the API's validation")
    func inProcessCreation() async throws {
        try await withSimulators(tenant: smallTenant) { host in
            let store = host.businessCentral.store
            let companyId = host.tenant.credentials.companyId
            let clerk = try store.createPurchaseInvoice(
                companyId: companyId,
                body: invoiceBody(
                    vendorNumber: host.tenant.openVendorNumber, vendorInvoiceNumber: "CLERK-1",
                    lines: [accountLine("60100")]))
            #expect(clerk.status == "Draft")
            #expect(clerk.totalAmountIncludingTax == Decimal(string: "20.5"))
            #expect(throws: BCError.self) {
                try store.createPurchaseInvoice(
                    companyId: companyId,
                    body: invoiceBody(vendorNumber: "000000", vendorInvoiceNumber: "CLERK-2", lines: []))
            }
            try store.postPurchaseInvoice(companyId: companyId, id: clerk.id)
            let token = try await host.entraToken()
            let found = try await host.bcGet(
                "purchaseInvoices", token: token, query: "$filter=" + HTTP.encode("vendorInvoiceNumber eq 'CLERK-1'"))
            #expect(found.json?["value"]?.arrayValue?.first?["status"] == .string("Open"))
        }
    }

    @Test("dimensions may be given by id and valueId")
    func dimensionsById() async throws {
        try await withSimulators(tenant: smallTenant) { host in
            let token = try await host.entraToken()
            let bc = host.tenant.businessCentral
            let fund = try #require(bc.dimensions.first { $0.code == "FUND" })
            let value = try #require(bc.dimensionValues.first { $0.dimensionId == fund.id && $0.code == "20010" })
            var line = try #require(accountLine("60100").objectValue)
            line["dimensionSetLines"] = .array([
                .object(SimJSONObject(["id": .string(fund.id), "valueId": .string(value.id)]))
            ])
            let created = try await HTTP.json(
                "POST",
                host.companyURL + "/purchaseInvoices?$expand="
                    + HTTP.encode("purchaseInvoiceLines($expand=dimensionSetLines)"), token: token,
                body: invoiceBody(
                    vendorNumber: host.tenant.openVendorNumber, vendorInvoiceNumber: "DIM-ID", lines: [.object(line)]))
            #expect(created.status == 201)
            let dims = created.json?["purchaseInvoiceLines"]?.arrayValue?.first?["dimensionSetLines"]?.arrayValue
            #expect(dims?.first?["valueCode"] == .string("20010"))
            #expect(dims?.first?["code"] == .string("FUND"))
        }
    }

    @Test("deep insert is atomic: one bad line creates nothing and uses no number")
    func atomicity() async throws {
        try await withSimulators(tenant: smallTenant) { host in
            let token = try await host.entraToken()
            let before = host.businessCentral.store.allPurchaseInvoices.count
            let body = invoiceBody(
                vendorNumber: host.tenant.openVendorNumber, vendorInvoiceNumber: "ATOMIC-1",
                lines: [
                    accountLine("60100"), accountLine("60200"), accountLine("60100", dimensions: [("FUND", "NOPE")]),
                ])
            let failed = try await HTTP.json("POST", host.companyURL + "/purchaseInvoices", token: token, body: body)
            #expect(failed.status == 400)
            #expect(failed.bcErrorCode == "Internal_RecordNotFound")
            #expect(failed.bcErrorMessage?.contains("Dimension Value") == true)
            #expect(host.businessCentral.store.allPurchaseInvoices.count == before)
            let search = try await host.bcGet(
                "purchaseInvoices", token: token, query: "$filter=" + HTTP.encode("vendorInvoiceNumber eq 'ATOMIC-1'"))
            #expect(search.json?["value"]?.arrayValue?.isEmpty == true)
            let ok = try await HTTP.json(
                "POST", host.companyURL + "/purchaseInvoices", token: token,
                body: invoiceBody(
                    vendorNumber: host.tenant.openVendorNumber, vendorInvoiceNumber: "ATOMIC-2",
                    lines: [accountLine("60100")]))
            #expect(ok.json?["number"] == .string("108003"))
        }
    }

    @Test("validation errors use Business Central's codes")
    func validation() async throws {
        try await withSimulators(tenant: smallTenant) { host in
            let token = try await host.entraToken()
            let bc = host.tenant.businessCentral
            let open = host.tenant.openVendorNumber
            let blockedVendor = try #require(bc.vendors.first { $0.blocked == "All" }).number
            let paymentBlocked = try #require(bc.vendors.first { $0.blocked == "Payment" }).number
            let blockedAccount = try #require(bc.accounts.first { $0.blocked }).number
            let notDirect = try #require(bc.accounts.first { !$0.directPosting && $0.accountType == "Posting" }).number
            let heading = try #require(bc.accounts.first { $0.accountType == "Heading" }).number
            let cases: [(SimJSON, String, String)] = [
                (
                    invoiceBody(vendorNumber: "000000", vendorInvoiceNumber: "A", lines: [accountLine("60100")]),
                    "Internal_RecordNotFound", "Vendor"
                ),
                (
                    invoiceBody(vendorNumber: blockedVendor, vendorInvoiceNumber: "A", lines: [accountLine("60100")]),
                    "Application_DialogException", "blocked"
                ),
                (
                    invoiceBody(vendorNumber: open, vendorInvoiceNumber: String(repeating: "X", count: 36), lines: []),
                    "Application_StringExceededLength", "35"
                ),
                (
                    invoiceBody(vendorNumber: open, vendorInvoiceNumber: "A", lines: [accountLine("99999")]),
                    "Internal_RecordNotFound", "G/L Account"
                ),
                (
                    invoiceBody(vendorNumber: open, vendorInvoiceNumber: "A", lines: [accountLine(blockedAccount)]),
                    "Application_FieldValidationException", "Blocked"
                ),
                (
                    invoiceBody(vendorNumber: open, vendorInvoiceNumber: "A", lines: [accountLine(notDirect)]),
                    "Application_FieldValidationException", "Direct Posting"
                ),
                (
                    invoiceBody(vendorNumber: open, vendorInvoiceNumber: "A", lines: [accountLine(heading)]),
                    "Application_FieldValidationException", "Account Type"
                ),
                (
                    invoiceBody(
                        vendorNumber: open, vendorInvoiceNumber: "A",
                        lines: [accountLine("60100", description: String(repeating: "d", count: 101))]),
                    "Application_StringExceededLength", "100"
                ),
                (
                    invoiceBody(
                        vendorNumber: open, vendorInvoiceNumber: "A",
                        lines: [accountLine("60100", dimensions: [("COLOR", "RED")])]), "Internal_RecordNotFound",
                    "Dimension"
                ),
                (
                    invoiceBody(
                        vendorNumber: open, vendorInvoiceNumber: "A",
                        lines: [accountLine("60100", dimensions: [("FUND", "19900"), ("FUND", "20010")])]),
                    "Internal_EntityWithSameKeyExists", "Dimension"
                ),
                (.object(SimJSONObject(["vendorNumber": .string(open), "bogus": .bool(true)])), "BadRequest", "bogus"),
                (
                    .object(SimJSONObject(["vendorNumber": .string(open), "totalAmountIncludingTax": .number("1")])),
                    "BadRequest_InvalidOperation", "read-only"
                ),
                (
                    .object(SimJSONObject(["vendorNumber": .string(open), "invoiceDate": .string("14/02/2024")])),
                    "BadRequest", "Date"
                ),
                (
                    .object(SimJSONObject(["vendorInvoiceNumber": .string("A")])), "Application_DialogException",
                    "vendorNumber"
                ),
                (
                    invoiceBody(
                        vendorNumber: open, vendorInvoiceNumber: "A",
                        lines: [
                            .object(SimJSONObject(["lineObjectNumber": .string("60100"), "quantity": .number("1")]))
                        ]),
                    "Application_DialogException", "Comment"
                ),
            ]
            for (body, code, fragment) in cases {
                let result = try await HTTP.json(
                    "POST", host.companyURL + "/purchaseInvoices", token: token, body: body)
                #expect(result.status == 400, "\(code) \(fragment)")
                #expect(result.bcErrorCode == code, "\(fragment): \(result.text)")
                #expect(result.bcErrorMessage?.contains(fragment) == true, "\(fragment): \(result.text)")
            }
            let malformed = try await HTTP.send(
                "POST", host.companyURL + "/purchaseInvoices",
                headers: ["Authorization": "Bearer \(token)", "Content-Type": "application/json"], body: Data("{".utf8))
            #expect(malformed.status == 400)
            #expect(host.businessCentral.store.allPurchaseInvoices.count == 2)
            let allowed = try await HTTP.json(
                "POST", host.companyURL + "/purchaseInvoices", token: token,
                body: invoiceBody(
                    vendorNumber: paymentBlocked, vendorInvoiceNumber: "PAY-BLOCKED", lines: [accountLine("60100")]))
            #expect(allowed.status == 201, "a vendor blocked for Payment still takes invoices")
        }
    }

    @Test("PATCH and DELETE need If-Match: missing 400, stale 409, * or current etag succeed")
    func ifMatch() async throws {
        try await withSimulators(tenant: smallTenant) { host in
            let token = try await host.entraToken()
            let created = try await HTTP.json(
                "POST", host.companyURL + "/purchaseInvoices", token: token,
                body: invoiceBody(
                    vendorNumber: host.tenant.openVendorNumber, vendorInvoiceNumber: "ETAG-1",
                    lines: [accountLine("60100")]))
            let id = try #require(created.json?["id"]?.stringValue)
            let etag = try #require(created.json?["@odata.etag"]?.stringValue)
            let url = host.companyURL + "/purchaseInvoices(\(id))"
            let patch = SimJSON.object(SimJSONObject(["vendorInvoiceNumber": .string("ETAG-2")]))
            let missing = try await HTTP.json("PATCH", url, token: token, body: patch)
            #expect(missing.status == 400)
            #expect(missing.bcErrorCode == "BadRequest_InvalidToken")
            let current = try await HTTP.json("PATCH", url, token: token, body: patch, headers: ["If-Match": etag])
            #expect(current.status == 200)
            #expect(current.json?["vendorInvoiceNumber"] == .string("ETAG-2"))
            let newEtag = try #require(current.json?["@odata.etag"]?.stringValue)
            #expect(newEtag != etag)
            let stale = try await HTTP.json("PATCH", url, token: token, body: patch, headers: ["If-Match": etag])
            #expect(stale.status == 409)
            #expect(stale.bcErrorCode == "Request_EntityChanged")
            let star = try await HTTP.json(
                "PATCH", url, token: token, body: .object(SimJSONObject(["postingDate": .string("2026-11-15")])),
                headers: ["If-Match": "*"])
            #expect(star.status == 200)
            #expect(star.json?["postingDate"] == .string("2026-11-15"))
            let deep = try await HTTP.json(
                "PATCH", url, token: token, body: .object(SimJSONObject(["purchaseInvoiceLines": .array([])])),
                headers: ["If-Match": "*"])
            #expect(deep.status == 400)
            let staleDelete = try await HTTP.send(
                "DELETE", url, headers: ["Authorization": "Bearer \(token)", "If-Match": etag])
            #expect(staleDelete.status == 409)
            let delete = try await HTTP.send(
                "DELETE", url, headers: ["Authorization": "Bearer \(token)", "If-Match": "*"])
            #expect(delete.status == 204)
            #expect(try await HTTP.get(url, token: token).status == 404)
        }
    }

    @Test("an invoice discount is spread over the lines and lowers the totals")
    func invoiceDiscount() async throws {
        try await withSimulators(tenant: smallTenant) { host in
            let token = try await host.entraToken()
            let created = try await HTTP.json(
                "POST", host.companyURL + "/purchaseInvoices", token: token,
                body: invoiceBody(
                    vendorNumber: host.tenant.openVendorNumber, vendorInvoiceNumber: "DISC-1",
                    lines: [
                        accountLine("60100", quantity: "1", unitCost: "100"),
                        accountLine("60200", quantity: "1", unitCost: "200"),
                    ]))
            let id = try #require(created.json?["id"]?.stringValue)
            let patched = try await HTTP.json(
                "PATCH", host.companyURL + "/purchaseInvoices(\(id))?$expand=purchaseInvoiceLines", token: token,
                body: .object(SimJSONObject(["discountAmount": .number("10")])), headers: ["If-Match": "*"])
            #expect(patched.status == 200)
            #expect(patched.json?["totalAmountExcludingTax"] == .number("290"))
            let shares = patched.json?["purchaseInvoiceLines"]?.arrayValue?.compactMap {
                $0["invoiceDiscountAllocation"]?.decimalValue
            }
            #expect(shares == [Decimal(string: "3.33"), Decimal(string: "6.67")].compactMap { $0 })
        }
    }

    @Test("lines can be added one by one; Microsoft.NAV.post opens the invoice and refuses to post twice")
    func linesAndPosting() async throws {
        try await withSimulators(tenant: smallTenant) { host in
            let token = try await host.entraToken()
            let created = try await HTTP.json(
                "POST", host.companyURL + "/purchaseInvoices", token: token,
                body: .object(
                    SimJSONObject([
                        "vendorNumber": .string(host.tenant.openVendorNumber), "vendorInvoiceNumber": .string("POST-1"),
                    ])))
            #expect(created.status == 201)
            let id = try #require(created.json?["id"]?.stringValue)
            let postURL = host.companyURL + "/purchaseInvoices(\(id))/Microsoft.NAV.post"
            let empty = try await HTTP.send("POST", postURL, headers: ["Authorization": "Bearer \(token)"])
            #expect(empty.status == 400, "nothing to post")
            let line = try await HTTP.json(
                "POST", host.companyURL + "/purchaseInvoices(\(id))/purchaseInvoiceLines", token: token,
                body: accountLine("61100", quantity: "1", unitCost: "250"))
            #expect(line.status == 201)
            #expect(line.json?["sequence"] == .number("10000"))
            #expect(line.json?["documentId"] == .string(id))
            let header = try await host.bcGet("purchaseInvoices(\(id))", token: token)
            #expect(header.json?["totalAmountExcludingTax"] == .number("250"))
            let posted = try await HTTP.send("POST", postURL, headers: ["Authorization": "Bearer \(token)"])
            #expect(posted.status == 204)
            #expect(posted.body.isEmpty)
            let after = try await host.bcGet("purchaseInvoices(\(id))", token: token)
            #expect(after.json?["status"] == .string("Open"))
            #expect(after.json?["number"] != created.json?["number"])
            let again = try await HTTP.send("POST", postURL, headers: ["Authorization": "Bearer \(token)"])
            #expect(again.status == 400)
            #expect(again.bcErrorCode == "Application_DialogException")
            let locked = try await HTTP.json(
                "PATCH", host.companyURL + "/purchaseInvoices(\(id))", token: token,
                body: .object(SimJSONObject(["vendorInvoiceNumber": .string("X")])), headers: ["If-Match": "*"])
            #expect(locked.status == 400)
            #expect(host.counters["bc POST purchaseInvoices({id})/Microsoft.NAV.post"] == 3)
        }
    }

    @Test("posting a second invoice with a posted vendor invoice number fails like BC")
    func duplicatePosting() async throws {
        try await withSimulators(tenant: smallTenant) { host in
            let token = try await host.entraToken()
            let posted = try #require(host.tenant.businessCentral.purchaseInvoices.first { $0.status == "Open" })
            let created = try await HTTP.json(
                "POST", host.companyURL + "/purchaseInvoices", token: token,
                body: invoiceBody(
                    vendorNumber: posted.vendorNumber, vendorInvoiceNumber: posted.vendorInvoiceNumber,
                    lines: [accountLine("60100")]))
            #expect(created.status == 201, "BC checks duplicates only when posting")
            let id = try #require(created.json?["id"]?.stringValue)
            let post = try await HTTP.send(
                "POST", host.companyURL + "/purchaseInvoices(\(id))/Microsoft.NAV.post",
                headers: ["Authorization": "Bearer \(token)"])
            #expect(post.status == 400)
            #expect(post.bcErrorMessage?.contains("already exists for this vendor") == true)
        }
    }

    @Test("the per-token rate limit answers 429 with Retry-After, in a sliding window")
    func rateLimit() async throws {
        let clock = SimulatorClock()
        try await withSimulators(tenant: smallTenant, options: .init(rateLimit: 3, rateLimitWindow: 60, clock: clock)) {
            host in
            let token = try await host.entraToken()
            for _ in 0..<3 { #expect(try await host.bcGet("vendors", token: token, query: "$top=1").status == 200) }
            let limited = try await host.bcGet("vendors", token: token, query: "$top=1")
            #expect(limited.status == 429)
            #expect(limited.bcErrorCode == "Application_TooManyRequests")
            let retryAfter = try #require(limited.header("Retry-After").flatMap(Int.init))
            #expect((1...60).contains(retryAfter))
            let other = try await host.entraToken()
            #expect(
                try await host.bcGet("vendors", token: other, query: "$top=1").status == 200, "the limit is per token")
            clock.advance(by: 61)
            #expect(try await host.bcGet("vendors", token: token, query: "$top=1").status == 200)
        }
    }
}
