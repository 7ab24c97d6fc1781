import ConnectorSimulators
import Foundation
import Testing

@Suite("JAGGAER write endpoints (suppliers, accounting codes, payment status)", .serialized)
struct JaggaerWriteAPITests {
    static let suppliers = "/j1p/api/public/ji/v1/suppliers/"

    static func supplier(_ number: String) -> SimJSON {
        .object(
            SimJSONObject([
                "supplierNumber": .string(number), "name": .string("Acme"), "active": .bool(true),
                "currency": .string("USD"),
            ]))
    }

    @Test("an upsert answers the envelope; a replay is Unchanged; bodies are checked strictly")
    func suppliersStrict() async throws {
        try await withSimulators(tenant: smallTenant) { host in
            let token = try await host.jaggaerToken()
            let url = host.jaggaerBaseURL + Self.suppliers + "V100"
            let created = try await HTTP.json("PUT", url, token: token, body: Self.supplier("V100"))
            #expect(created.status == 201)
            #expect(created.json?["returnCode"]?.intValue == 0)
            #expect(created.json?["returnMessage"]?.stringValue == "Created")
            let again = try await HTTP.json("PUT", url, token: token, body: Self.supplier("V100"))
            #expect(again.status == 200)
            #expect(again.json?["returnMessage"]?.stringValue == "Unchanged")
            #expect(host.jaggaer.writes.changes == 1)
            let read = try await HTTP.get(url, token: token)
            #expect(read.json?["name"]?.stringValue == "Acme")

            var bad: [(SimJSON, String)] = []
            if case .object(var object) = Self.supplier("V100") {
                object["active"] = .string("true")
                bad.append((.object(object), "active must be a JSON boolean"))
                object["active"] = .bool(true)
                object["vat"] = .string("x")
                bad.append((.object(object), "Unrecognized field \"vat\""))
                object["vat"] = nil
                object["name"] = nil
                bad.append((.object(object), "name is required"))
                object["name"] = .string("Acme")
                object["currency"] = .string("usd")
                bad.append((.object(object), "currency"))
            }
            bad.append((Self.supplier("OTHER"), "does not match"))
            for (body, message) in bad {
                let refused = try await HTTP.json("PUT", url, token: token, body: body)
                #expect(refused.status == 400)
                #expect(refused.json?["returnMessage"]?.stringValue?.contains(message) == true, "\(message)")
            }
            let anonymous = try await HTTP.json("PUT", url, token: nil, body: Self.supplier("V100"))
            #expect(anonymous.status == 401)
            #expect(host.jaggaer.writes.changes == 1)
            #expect(host.counters["jaggaer PUT suppliers/{number}"] == 2 + bad.count + 1)
        }
    }

    @Test("payment status: only known values, only known invoices, and the invoice shows it")
    func paymentStatus() async throws {
        try await withSimulators(tenant: smallTenant) { host in
            let token = try await host.jaggaerToken()
            let invoice = try #require(host.jaggaer.invoices.all.first)
            let id = try #require(invoice["header"]?["invoiceId"]?.intValue)
            let lastUpdate = invoice["header"]?["lastUpdate"]
            let url = host.jaggaerBaseURL + "/j1p/api/public/ji/v1/invoices/\(id)/paymentstatus"
            let wrong = try await HTTP.json(
                "PUT", url, token: token, body: .object(SimJSONObject(["paymentStatus": .string("Settled")])))
            #expect(wrong.status == 400)
            let paid = try await HTTP.json(
                "PUT", url, token: token,
                body: .object(SimJSONObject(["paymentStatus": .string("Paid"), "paidAmount": .int(10)])))
            #expect(paid.status == 201)
            let stored = host.jaggaer.invoices.invoice(id: id)
            #expect(stored?["header"]?["paymentStatus"]?.stringValue == "Paid")
            #expect(
                stored?["header"]?["lastUpdate"] == lastUpdate, "the ERP side's status does not re-send the invoice")
            let unknown = try await HTTP.json(
                "PUT", host.jaggaerBaseURL + "/j1p/api/public/ji/v1/invoices/1/paymentstatus", token: token,
                body: .object(SimJSONObject(["paymentStatus": .string("Paid")])))
            #expect(unknown.status == 404)
            let writes = try await HTTP.get(host.jaggaerBaseURL + "/_sim/jaggaer/writes")
            #expect(writes.json?["counts"]?["paymentStatuses"]?.intValue == 1)
        }
    }

    @Test("Business Central: paying a draft posts it, keeps its id, marks it Paid and moves lastModifiedDateTime")
    func businessCentralPay() async throws {
        try await withSimulators(tenant: smallTenant) { host in
            let entry = try #require(host.businessCentral.store.allPurchaseInvoices.first)
            let before = entry.invoice.lastModified
            let response = try await HTTP.json(
                "POST", host.businessCentralBaseURL + "/_sim/erp/pay", token: nil,
                body: .object(
                    SimJSONObject([
                        "vendorNumber": .string(entry.invoice.vendorNumber),
                        "vendorInvoiceNumber": .string(entry.invoice.vendorInvoiceNumber),
                    ])))
            #expect(response.status == 200)
            #expect(response.json?["status"]?.stringValue == "Paid")
            #expect(response.json?["id"]?.stringValue == entry.invoice.id)
            let after = try #require(
                host.businessCentral.store.allPurchaseInvoices.first { $0.invoice.id == entry.invoice.id })
            #expect(after.invoice.status == "Paid")
            #expect(after.invoice.lastModified >= before)
            let missing = try await HTTP.json(
                "POST", host.businessCentralBaseURL + "/_sim/erp/pay", token: nil,
                body: .object(SimJSONObject(["vendorNumber": .string("none"), "vendorInvoiceNumber": .string("x")])))
            #expect(missing.status == 404)
        }
    }
}
