import ConnectorSimulators
import Foundation
import Testing

@Suite("SAP Business One: fault injection, counters, demo data")
struct SAPBusinessOneFaultAndDemoTests {
    @Test("status faults answer with the B1 error body and Retry-After; a 5xx burst ends after `count` requests")
    func statusFaults() async throws {
        try await withB1Simulator { simulator, base in
            var client = B1TestClient(base: base, version: "v2")
            try await client.login()
            let rules = try await HTTP.json(
                "POST", base + "/_sim/faults", token: nil,
                body: .array([
                    .object(
                        SimJSONObject([
                            "kind": .string("status"), "status": .int(503), "system": .string("sapBusinessOne"),
                            "method": .string("GET"), "endpoint": .string("BusinessPartners"), "count": .int(3),
                            "retryAfter": .int(2),
                        ]))
                ]))
            #expect(rules.status == 200)
            for _ in 0..<3 {
                let failed = try await client.get("BusinessPartners")
                #expect(failed.status == 503)
                #expect(failed.header("Retry-After") == "2")
                #expect(failed.json?["error"]?["message"]?["lang"]?.stringValue == "en-us")
                #expect(failed.json?["error"]?["code"]?.stringValue != nil, "v2: the code is a string")
            }
            #expect(try await client.get("BusinessPartners").status == 200)
            #expect(try await client.get("BusinessPartners('V100')").status == 200, "another endpoint")
            #expect(simulator.counters.count("sapBusinessOne GET BusinessPartners") == 4)
            #expect(simulator.counters.count("sapBusinessOne GET BusinessPartners({key})") == 1)
            #expect(simulator.counters.count("sapBusinessOne POST Login") == 1)
            simulator.faults.add(.status(401, system: "sapBusinessOne", endpoint: "PurchaseOrders({key})", count: 1))
            let unauthorized = try await client.get("PurchaseOrders(1)")
            #expect(unauthorized.status == 401)
            #expect(unauthorized.b1Code == "301")
            let fired = try await HTTP.get(base + "/_sim/b1/faults/fired")
            #expect(fired.json?["status 503"]?.intValue == 3)
            #expect(fired.json?["status 401"]?.intValue == 1)
        }
    }

    @Test("drop after commit: the invoice is stored but the client sees a broken response; before commit: nothing")
    func dropFaults() async throws {
        try await withB1Simulator { simulator, base in
            var client = B1TestClient(base: base)
            try await client.login()
            simulator.faults.add(
                .dropAfterCommit(system: "sapBusinessOne", method: "POST", endpoint: "PurchaseInvoices"))
            let body = b1InvoiceBody(cardCode: "V100", numAtCard: "DROP-1", lines: [b1BaseLine(order: 1, line: 0)])
            await #expect(throws: (any Error).self) { try await client.send("POST", "PurchaseInvoices", body) }
            #expect(b1Counts(simulator, "V100", "DROP-1") == [0, 1])
            let order = try await client.get("PurchaseOrders(1)")
            #expect(order.json?["DocumentLines"]?.arrayValue?[0]["RemainingOpenQuantity"]?.decimalValue == 0)
            // The idempotency check a client must make before retrying finds it.
            let found = try await client.get(
                "PurchaseInvoices?" + B1TestClient.filter("CardCode eq 'V100' and NumAtCard eq 'DROP-1'"))
            #expect(found.values.count == 1)

            simulator.faults.add(.dropBeforeCommit(system: "sapBusinessOne", method: "POST", endpoint: "Drafts"))
            guard case .object(var draft) = b1InvoiceBody(cardCode: "V100", numAtCard: "DROP-2", lines: [b1Line()])
            else { return }
            draft["DocObjectCode"] = .string("oPurchaseInvoices")
            await #expect(throws: (any Error).self) { try await client.send("POST", "Drafts", .object(draft)) }
            #expect(b1Counts(simulator, "V100", "DROP-2") == [0, 0])
            #expect(try await client.send("POST", "Drafts", .object(draft)).status == 201)
        }
    }

    @Test("expireSessions ends every session at once: the request that meets it gets 401 code 301, re-login works")
    func expireSessions() async throws {
        try await withB1Simulator { simulator, base in
            var client = B1TestClient(base: base)
            try await client.login()
            _ = try await HTTP.json(
                "POST", base + "/_sim/faults", token: nil,
                body: .object(
                    SimJSONObject([
                        "kind": .string("expireSessions"), "system": .string("sapBusinessOne"),
                        "endpoint": .string("PurchaseInvoices"), "count": .int(1),
                    ])))
            #expect(try await client.get("BusinessPartners('V100')").status == 200, "other endpoints: no effect")
            let expired = try await client.get("PurchaseInvoices")
            #expect(expired.status == 401)
            #expect(expired.b1Code == "301")
            #expect(simulator.sessions.stats.open == 0)
            #expect(simulator.sessions.stats.expired == 1)
            try await client.login()
            #expect(try await client.get("PurchaseInvoices").status == 200)
            // The common control route ends sessions too.
            #expect(try await HTTP.json("POST", base + "/_sim/tokens/expire", token: nil, body: nil).status == 204)
            #expect(try await client.get("PurchaseInvoices").status == 401)
            let latency = FaultRule.latency(milliseconds: 150, system: "sapBusinessOne", endpoint: "Login", count: 1)
            simulator.faults.add(latency)
            let started = ContinuousClock.now
            try await client.login()
            #expect(ContinuousClock.now - started >= .milliseconds(150))
        }
    }

    @Test("demo data: JAGGAER suppliers, accounts and segments exist in B1; every JAGGAER PO is an open B1 order")
    func demoData() async throws {
        let tenant = smallTenant
        let company = B1DemoData.company(from: tenant)
        var poLines: [String: [(line: Int, quantity: Decimal, supplier: String)]] = [:]
        for invoice in tenant.jaggaerInvoices {
            let supplier = invoice["header"]?["supplier"]?["supplierNumber"]?.stringValue ?? ""
            for line in invoice["lineList"]?["invoiceLine"]?.arrayValue ?? [] {
                guard let number = line["poNumber"]?.stringValue, let lineNumber = line["poLineNumber"]?.stringValue
                else { continue }
                poLines[number, default: []].append(
                    (Int(lineNumber) ?? 0, line["quantity"]?.decimalValue ?? 0, supplier))
            }
        }
        #expect(!poLines.isEmpty)
        for (number, lines) in poLines {
            let supplier = lines[0].supplier
            guard company.businessPartner(supplier) != nil else { continue }  // the deliberately unmapped vendors
            let orders = company.purchaseOrders.filter { $0["NumAtCard"]?.stringValue == number }
            #expect(orders.count == 1, "PO \(number)")
            guard let order = orders.first else { continue }
            #expect(order["U_JaggaerPO"]?.stringValue == number)
            #expect(order["CardCode"]?.stringValue == supplier)
            #expect(order["DocumentStatus"]?.stringValue == "bost_Open")
            let orderLines = order["DocumentLines"]?.arrayValue ?? []
            for line in lines {
                let match = orderLines.first { $0["LineNum"]?.intValue == line.line - 1 }
                #expect(match != nil, "PO \(number) line \(line.line)")
                #expect((match?["RemainingOpenQuantity"]?.decimalValue ?? 0) >= line.quantity)
            }
        }
        // Suppliers, accounts and cost centres match what JAGGAER sends (identity mapping).
        for vendor in tenant.businessCentral.vendors {
            #expect(company.businessPartner(vendor.number)?["CardType"]?.stringValue == "cSupplier")
        }
        for (segment, dimension, _) in B1DemoData.segmentDimensions {
            for invoice in tenant.jaggaerInvoices.prefix(10) {
                for line in invoice["lineList"]?["invoiceLine"]?.arrayValue ?? [] {
                    guard let value = DemoTenant.segments(of: line)[segment],
                        tenant.expectations[invoice["header"]?["invoiceId"]?.intValue ?? 0] == .drafted
                    else { continue }
                    let code = B1DemoData.centerCode(dimension: dimension, value: value, in: tenant)
                    #expect(company.profitCenter(code)?["InWhichDimension"]?.intValue == dimension)
                }
            }
        }
        #expect(B1DemoData.centerCode(dimension: 3, value: "40100", in: tenant) == "P40100")
        #expect(B1DemoData.centerCode(dimension: 1, value: "40100", in: tenant) == "40100")
        #expect(company.drafts.count == 1, "the clerk's hand-keyed draft")
        #expect(company.purchaseInvoices.count == 1, "the clerk's posted invoice")
        #expect(company.account("60900")?["FrozenFor"]?.stringValue == "tYES")
        #expect(company.account("10000")?["ActiveAccount"]?.stringValue == "tNO")

        // Outcomes read for B1 match BC's (without BC's PO check, which B1 does by linking lines to its own
        // orders) except the vendor references BC finds too long.
        let bcOutcomes = tenant.expectations(maxVendorInvoiceNumberLength: 35)
        var differences: [Int: (bc: DemoTenant.Outcome, b1: DemoTenant.Outcome)] = [:]
        for invoice in tenant.jaggaerInvoices {
            let id = invoice["header"]?["invoiceId"]?.intValue ?? 0
            let b1 = B1DemoData.expectedOutcome(of: invoice, in: company, tenant: tenant)
            if let bc = bcOutcomes[id], bc != b1 { differences[id] = (bc, b1) }
        }
        let tooLong = Set(tenant.injected["invoice.number_too_long"] ?? [])
        #expect(!tooLong.isEmpty)
        #expect(Set(differences.keys) == tooLong)
        #expect(differences.values.allSatisfy { $0.b1 == .drafted })
    }

    @Test("the simulator host runs B1 with the demo company; an invoice for a JAGGAER PO line links to its order")
    func hostIntegration() async throws {
        try await withSimulators(tenant: smallTenant) { host in
            let info = host.connectionInfo["sapBusinessOne"]
            #expect(info?["companyDB"]?.stringValue == B1DemoData.companyDB)
            let base = try #require(info?["baseURL"]?.stringValue)
            var client = B1TestClient(base: base, version: "v2")
            let login = try await client.login(B1DemoData.account(for: smallTenant))
            #expect(login.status == 200)
            let company = host.sapBusinessOne.store.snapshot
            let order = try #require(
                company.purchaseOrders.first { order in
                    let account = company.account(
                        order["DocumentLines"]?.arrayValue?.first?["AccountCode"]?.stringValue ?? "")
                    return company.businessPartner(order["CardCode"]?.stringValue ?? "")?["Frozen"]?.stringValue
                        == "tNO"
                        && account?["FrozenFor"]?.stringValue == "tNO"
                        && account?["ActiveAccount"]?.stringValue == "tYES"
                        && account?["ControlAccount"]?.stringValue == "tNO"
                })
            let poNumber = try #require(order["NumAtCard"]?.stringValue)
            let found = try await client.get("PurchaseOrders?" + B1TestClient.filter("NumAtCard eq '\(poNumber)'"))
            #expect(found.values.count == 1)
            let entry = try #require(found.values.first?["DocEntry"]?.intValue)
            let cardCode = try #require(order["CardCode"]?.stringValue)
            let invoice = try await client.send(
                "POST", "PurchaseInvoices",
                b1InvoiceBody(cardCode: cardCode, numAtCard: "HOST-1", lines: [b1BaseLine(order: entry, line: 0)]))
            #expect(invoice.status == 201, "\(invoice.text)")
            #expect(host.counters["sapBusinessOne POST PurchaseInvoices"] == 1)
            #expect(try await client.send("POST", "Logout", nil).status == 204)
            #expect(host.sapBusinessOne.sessions.stats.open == 0)
        }
    }
}
