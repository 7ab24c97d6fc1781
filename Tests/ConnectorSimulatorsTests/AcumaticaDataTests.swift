import ConnectorSimulators
import Foundation
import Testing

@Suite("Acumatica records, queries and bills", .serialized)
struct AcumaticaDataTests {
    @Test("records wrap ordinary fields in {\"value\":…}; system fields are plain; empty fields are {}")
    func recordShape() async throws {
        try await withSimulators(tenant: smallTenant) { host in
            let (token, _) = try await host.acumaticaTokens()
            let vendor = smallTenant.openVendorNumber
            let one = try await host.acu("GET", "Vendor/\(vendor)", auth: .bearer(token))
            #expect(one.status == 200)
            let json = try #require(one.json)
            let id = try #require(json["id"]?.stringValue)
            #expect(json["rowNumber"]?.intValue == 1)
            #expect(json["note"]?["value"] != nil)
            #expect(json["VendorID"]?["value"]?.stringValue == vendor)
            #expect(json["Status"]?["value"]?.stringValue == "Active")
            #expect(json["custom"]?.objectValue != nil)
            #expect(json["_links"]?["self"]?.stringValue == "/entity/Default/24.200.001/Vendor/\(id)")
            #expect(json["TaxRegistrationID"]?.objectValue?.count == 0, "an empty field is {}")
            let byId = try await host.acu("GET", "Vendor/\(id)", auth: .bearer(token))
            #expect(byId.json?["VendorID"]?["value"]?.stringValue == vendor)
            #expect(try await host.acu("GET", "Vendor/NOSUCHVENDOR", auth: .bearer(token)).status == 404)

            let unwrapped = try await host.acu(
                "PUT", "Vendor", auth: .bearer(token),
                body: .object(SimJSONObject(["VendorID": .string("NEWV1"), "VendorName": .string("Plain values")])))
            #expect(unwrapped.status == 400)
            #expect(unwrapped.json?["message"]?.stringValue?.contains("VendorID") == true)
            host.acumatica.updateOptions { $0.rejectUnwrappedValues = false }
            let lenient = try await host.acu(
                "PUT", "Vendor", auth: .bearer(token),
                body: .object(SimJSONObject(["VendorID": .string("NEWV1"), "VendorName": .string("Plain values")])))
            #expect(lenient.status == 200)
            #expect(lenient.json?["VendorName"]?["value"]?.stringValue == "Plain values")
        }
    }

    @Test("$filter: '' escaping, unicode, URL-encoded datetimeoffset, and/or, functions; detail fields refused")
    func filters() async throws {
        try await withSimulators(tenant: smallTenant) { host in
            let (token, _) = try await host.acumaticaTokens()
            let apostrophe = try await host.acu(
                "GET", "Vendor", auth: .bearer(token),
                query: "$filter=" + encodeFilter("VendorName eq 'O''Neil Office Supply, LLC'"))
            #expect(apostrophe.status == 200)
            #expect(apostrophe.json?.arrayValue?.count == 1)

            let name = "Müller & Søn 東京 ''quoted''"
            let created = try await host.acu(
                "PUT", "Vendor", auth: .bearer(token),
                body: record([("VendorID", .string("UNI01")), ("VendorName", .string(name))]))
            #expect(created.status == 200)
            let stamp = try #require(created.json?["LastModifiedDateTime"]?["value"]?.stringValue)
            let escaped = name.replacingOccurrences(of: "'", with: "''")
            let unicode = try await host.acu(
                "GET", "Vendor", auth: .bearer(token), query: "$filter=" + encodeFilter("VendorName eq '\(escaped)'"))
            #expect(unicode.json?.arrayValue?.first?["VendorID"]?["value"]?.stringValue == "UNI01")
            let caseless = try await host.acu(
                "GET", "Vendor", auth: .bearer(token), query: "$filter=" + encodeFilter("VendorID eq 'uni01'"))
            #expect(caseless.json?.arrayValue?.count == 1, "string comparison ignores case, as SQL Server does")

            // 2026-… in +03:00, one hour before the stamp: only vendors changed since then (the new one).
            let parser = ISO8601DateFormatter()
            parser.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
            let stampDate = try #require(parser.date(from: stamp))
            parser.timeZone = TimeZone(secondsFromGMT: 3 * 3600)
            let since = parser.string(from: stampDate.addingTimeInterval(-3600))
            #expect(since.contains("+03:00"))
            let encoded =
                "LastModifiedDateTime%20gt%20datetimeoffset'"
                + since.replacingOccurrences(of: ":", with: "%3A").replacingOccurrences(of: "+", with: "%2B") + "'"
            let recent = try await host.acu("GET", "Vendor", auth: .bearer(token), query: "$filter=" + encoded)
            #expect(recent.status == 200)
            #expect(recent.json?.arrayValue?.compactMap { $0["VendorID"]?["value"]?.stringValue } == ["UNI01"])
            let raw = "LastModifiedDateTime%20gt%20datetimeoffset'" + since + "'"
            let unencoded = try await host.acu("GET", "Vendor", auth: .bearer(token), query: "$filter=" + raw)
            #expect(unencoded.status == 400, "an unencoded '+' arrives as a space")
            #expect(unencoded.json?["message"]?.stringValue?.contains("URL-encode") == true)

            let combined = try await host.acu(
                "GET", "Vendor", auth: .bearer(token),
                query: "$filter="
                    + encodeFilter("(Status eq 'Hold' or Status eq 'Hold Payments') and substringof('', VendorName)"))
            #expect(combined.json?.arrayValue?.count == 2)
            let starts = try await host.acu(
                "GET", "Account", auth: .bearer(token),
                query: "$filter=" + encodeFilter("startswith(AccountCD, '60') and Active eq true"))
            #expect(starts.json?.arrayValue?.count == 5, "60100…60500; 60900 is inactive")

            let detail = try await host.acu(
                "GET", "Bill", auth: .bearer(token), query: "$filter=" + encodeFilter("Details/Account eq '60100'"))
            #expect(detail.status == 400)
            #expect(detail.json?["message"]?.stringValue?.contains("detail") == true)
            host.acumatica.updateOptions { $0.detailFilterPolicy = .serverError }
            let server = try await host.acu(
                "GET", "Bill", auth: .bearer(token), query: "$filter=" + encodeFilter("Details/Account eq '60100'"))
            #expect(server.status == 500)
            let unknown = try await host.acu(
                "GET", "Bill", auth: .bearer(token), query: "$filter=" + encodeFilter("Nonsense eq 1"))
            #expect(unknown.status == 400)
        }
    }

    @Test("$expand returns details only when asked; $select trims; $top/$skip page without a next link")
    func expandSelectPaging() async throws {
        try await withSimulators(tenant: smallTenant) { host in
            let (token, _) = try await host.acumaticaTokens()
            let plain = try await host.acu("GET", "Bill", auth: .bearer(token))
            let bills = try #require(plain.json?.arrayValue)
            #expect(bills.count == 2, "the two hand-keyed bills")
            #expect(bills.allSatisfy { $0["Details"] == nil })
            let expanded = try await host.acu("GET", "Bill", auth: .bearer(token), query: "$expand=Details")
            #expect(expanded.json?.arrayValue?.allSatisfy { ($0["Details"]?.arrayValue?.count ?? 0) > 0 } == true)
            let selected = try await host.acu(
                "GET", "Bill", auth: .bearer(token),
                query: "$select=ReferenceNbr,Status,Details/Account&$expand=Details")
            let first = try #require(selected.json?.arrayValue?.first)
            #expect(first["ReferenceNbr"] != nil)
            #expect(first["Vendor"] == nil)
            #expect(first["Details"]?.arrayValue?.first?["Account"] != nil)
            #expect(first["Details"]?.arrayValue?.first?["Qty"] == nil)

            let all = try #require(try await host.acu("GET", "Subaccount", auth: .bearer(token)).json?.arrayValue)
            #expect(all.count == 6 * 8 * 6)
            var seen: [String] = []
            var skip = 0
            while true {
                let page = try await host.acu(
                    "GET", "Subaccount", auth: .bearer(token), query: "$top=100&$skip=\(skip)")
                #expect(page.header("Link") == nil)
                let rows = try #require(page.json?.arrayValue)
                seen += rows.compactMap { $0["SubaccountCD"]?["value"]?.stringValue }
                if rows.count < 100 { break }
                skip += 100
            }
            #expect(seen == all.compactMap { $0["SubaccountCD"]?["value"]?.stringValue })
            #expect(Set(seen).count == seen.count)
        }
    }

    @Test("PUT creates without keys, updates by keys or id; If-Match: * on a missing record → 412")
    func putSemantics() async throws {
        try await withSimulators(tenant: smallTenant) { host in
            let (token, _) = try await host.acumaticaTokens()
            let vendor = smallTenant.openVendorNumber
            let body = record(
                [("Vendor", .string(vendor)), ("VendorRef", .string("INV-PUT-1")), ("Date", .string("2026-11-10"))],
                details: [
                    record([("Account", .string("60100")), ("Qty", .number("2")), ("UnitCost", .number("10.25"))])
                ])
            let created = try await host.acu("PUT", "Bill", auth: .bearer(token), query: "$expand=Details", body: body)
            #expect(created.status == 200)
            let json = try #require(created.json)
            let reference = try #require(json["ReferenceNbr"]?["value"]?.stringValue)
            #expect(reference == "000003", "numbering continues after the seeded bills")
            #expect(json["Type"]?["value"]?.stringValue == "Bill")
            #expect(json["Status"]?["value"]?.stringValue == "On Hold")
            #expect(json["Amount"]?["value"]?.decimalValue == Decimal(string: "20.5"))
            #expect(json["PostPeriod"]?["value"]?.stringValue == "112026")
            #expect(json["Details"]?.arrayValue?.count == 1)

            let again = try await host.acu("PUT", "Bill", auth: .bearer(token), body: body)
            #expect(again.json?["ReferenceNbr"]?["value"]?.stringValue == "000004", "no keys: a second bill")
            #expect(host.acumatica.billCount(vendor: vendor, vendorRef: "INV-PUT-1") == 2)

            let update = try await host.acu(
                "PUT", "Bill", auth: .bearer(token), query: "$expand=Details",
                body: record([
                    ("Type", .string("Bill")), ("ReferenceNbr", .string(reference)),
                    ("Description", .string("Updated")),
                    ("Hold", .bool(false)),
                ]))
            #expect(update.json?["Description"]?["value"]?.stringValue == "Updated")
            #expect(update.json?["Status"]?["value"]?.stringValue == "Balanced")
            #expect(update.json?["Details"]?.arrayValue?.count == 1, "details not mentioned are kept")
            let id = try #require(json["id"]?.stringValue)
            let byId = try await host.acu(
                "PUT", "Bill", auth: .bearer(token),
                body: .object(SimJSONObject(["id": .string(id), "VendorRef": wrapped(.string("INV-PUT-1b"))])))
            #expect(byId.json?["ReferenceNbr"]?["value"]?.stringValue == reference)
            #expect(host.acumatica.billCount(vendor: vendor, vendorRef: "INV-PUT-1b") == 1)

            let missing = try await host.acu(
                "PUT", "Bill", auth: .bearer(token),
                body: record([
                    ("Type", .string("Bill")), ("ReferenceNbr", .string("999999")), ("Vendor", .string(vendor)),
                ]),
                headers: ["If-Match": "*"])
            #expect(missing.status == 412)
            let matched = try await host.acu(
                "PUT", "Bill", auth: .bearer(token),
                body: record([
                    ("Type", .string("Bill")), ("ReferenceNbr", .string(reference)),
                    ("Description", .string("If-Match")),
                ]),
                headers: ["If-Match": "*"])
            #expect(matched.status == 200)
            let patched = try await host.acu(
                "PATCH", "Bill", auth: .bearer(token),
                body: record([
                    ("Type", .string("Bill")), ("ReferenceNbr", .string(reference)),
                    ("Description", .string("Patched")),
                ]))
            #expect(patched.json?["Description"]?["value"]?.stringValue == "Patched")
            #expect(patched.json?["VendorRef"]?["value"]?.stringValue == "INV-PUT-1b")
            let count = host.acumatica.count("Bill")
            #expect(count == 4)

            let refused = try await host.acu(
                "PUT", "Bill", auth: .bearer(token),
                body: record(
                    [("Vendor", .string(vendor)), ("VendorRef", .string("BAD-1"))],
                    details: [
                        record([("Account", .string("60100")), ("Amount", .number("5"))]),
                        record([("Account", .string("99999")), ("Amount", .number("5"))]),
                        record([
                            ("Account", .string("60100")), ("Subaccount", .string("99999-ADM-10100")),
                            ("Amount", .number("5")),
                        ]),
                    ]))
            #expect(refused.status == 422)
            let rows = try #require(refused.json?["Details"]?.arrayValue)
            #expect(rows[1]["Account"]?["error"]?.stringValue?.contains("cannot be found") == true)
            #expect(rows[2]["Subaccount"]?["error"] != nil)
            #expect(rows[0]["Account"]?["error"] == nil)
            #expect(host.acumatica.count("Bill") == count, "a refused bill leaves nothing")
            let segmented = try await host.acu(
                "PUT", "Bill", auth: .bearer(token), query: "$expand=Details",
                body: record(
                    [("Vendor", .string(vendor)), ("VendorRef", .string("SUB-1"))],
                    details: [
                        record([
                            ("Account", .string("60100")), ("Subaccount", .string("19900ADM10100")),
                            ("Amount", .number("5")),
                        ])
                    ]))
            #expect(
                segmented.json?["Details"]?.arrayValue?.first?["Subaccount"]?["value"]?.stringValue == "19900-ADM-10100"
            )
        }
    }

    @Test("PO-linked details: open PO of the same vendor and an existing line; linking consumes open quantity")
    func purchaseOrderLinks() async throws {
        try await withSimulators(tenant: smallTenant) { host in
            let (token, _) = try await host.acumaticaTokens()
            let po = try #require(smallTenant.acumaticaPOInvoice)
            let order = try #require(host.acumatica.purchaseOrder(orderNbr: po.poNumber))
            #expect(order["VendorID"]?["value"]?.stringValue == po.vendor)
            #expect(order["Status"]?["value"]?.stringValue == "Open")
            let firstLine = po.lines[0]

            func link(_ vendor: String, line: Int, qty: String? = nil, ref: String) async throws -> HTTPResult {
                var detail: [(String, SimJSON)] = [
                    ("POOrderType", .string("Normal")), ("POOrderNbr", .string(po.poNumber)), ("POLine", .int(line)),
                ]
                if let qty { detail.append(("Qty", .number(qty))) }
                return try await host.acu(
                    "PUT", "Bill", auth: .bearer(token), query: "$expand=Details",
                    body: record([("Vendor", .string(vendor)), ("VendorRef", .string(ref))], details: [record(detail)]))
            }
            let otherVendor = try await link(
                smallTenant.otherActiveVendor(than: po.vendor), line: firstLine.line, ref: "X1")
            #expect(otherVendor.status == 422)
            #expect(
                otherVendor.json?["Details"]?.arrayValue?.first?["POOrderNbr"]?["error"]?.stringValue?.contains(
                    "another vendor") == true)
            let noLine = try await link(po.vendor, line: 99, ref: "X2")
            #expect(noLine.status == 422)
            #expect(noLine.json?["Details"]?.arrayValue?.first?["POLine"]?["error"] != nil)
            #expect(host.acumatica.billCount(vendor: po.vendor, vendorRef: "X2") == 0)

            let linked = try await link(po.vendor, line: firstLine.line, ref: "PO-OK")
            #expect(linked.status == 200)
            let detail = try #require(linked.json?["Details"]?.arrayValue?.first)
            #expect(detail["POLine"]?["value"]?.intValue == firstLine.line)
            #expect(detail["Qty"]?["value"]?.decimalValue == firstLine.quantity, "Qty defaults to the open quantity")
            #expect(detail["Account"]?["value"]?.stringValue != nil, "the account comes from the PO line")
            let after = try #require(host.acumatica.purchaseOrder(orderNbr: po.poNumber))
            let line = after["Details"]?.arrayValue?.first { $0["LineNbr"]?["value"]?.intValue == firstLine.line }
            #expect(line?["OpenQty"]?["value"]?.decimalValue == 0)
            let twice = try await link(po.vendor, line: firstLine.line, qty: "1", ref: "PO-AGAIN")
            #expect(twice.status == 422, "the line has nothing left to bill")

            // The rest of the order without POLine: every open line; then the order is closed.
            let rest = try await host.acu(
                "PUT", "Bill", auth: .bearer(token), query: "$expand=Details",
                body: record(
                    [("Vendor", .string(po.vendor)), ("VendorRef", .string("PO-REST"))],
                    details: [record([("POOrderType", .string("Normal")), ("POOrderNbr", .string(po.poNumber))])]))
            #expect(rest.status == 200)
            #expect(rest.json?["Details"]?.arrayValue?.count == po.lines.count - 1)
            let closed = try #require(host.acumatica.purchaseOrder(orderNbr: po.poNumber))
            #expect(closed["Status"]?["value"]?.stringValue == "Closed")
            let notOpen = try await link(po.vendor, line: firstLine.line, ref: "PO-CLOSED")
            #expect(
                notOpen.json?["Details"]?.arrayValue?.first?["POOrderNbr"]?["error"]?.stringValue?.contains("Open")
                    == true)
        }
    }

    @Test("Approve needs the bill off hold; paying it (admin) closes it with balance 0 and a newer stamp")
    func approveAndPay() async throws {
        try await withSimulators(tenant: smallTenant) { host in
            let (token, _) = try await host.acumaticaTokens()
            let created = try await host.acu(
                "PUT", "Bill", auth: .bearer(token),
                body: record(
                    [("Vendor", .string(smallTenant.openVendorNumber)), ("VendorRef", .string("PAY-1"))],
                    details: [record([("Account", .string("60100")), ("Amount", .number("42"))])]))
            let reference = try #require(created.json?["ReferenceNbr"]?["value"]?.stringValue)
            let before = try #require(created.json?["LastModifiedDateTime"]?["value"]?.stringValue)
            let action = SimJSON.object(
                SimJSONObject([
                    "entity": record([("Type", .string("Bill")), ("ReferenceNbr", .string(reference))]),
                    "parameters": .object(SimJSONObject()),
                ]))
            let onHold = try await host.acu("POST", "Bill/Approve", auth: .bearer(token), body: action)
            #expect(onHold.status == 500)
            _ = try await host.acu(
                "PUT", "Bill", auth: .bearer(token),
                body: record([("Type", .string("Bill")), ("ReferenceNbr", .string(reference)), ("Hold", .bool(false))]))
            #expect(try await host.acu("POST", "Bill/Approve", auth: .bearer(token), body: action).status == 204)
            #expect(try await host.acu("POST", "Bill/Release", auth: .bearer(token), body: action).status == 204)
            host.clock.advance(by: 5)
            let paid = try await HTTP.json(
                "POST", host.acumaticaBaseURL + "/_sim/acumatica/bills/pay", token: nil,
                body: .object(SimJSONObject(["type": .string("Bill"), "referenceNbr": .string(reference)])))
            #expect(paid.status == 200)
            let read = try await host.acu(
                "GET", "Bill", auth: .bearer(token),
                query: "$filter=" + encodeFilter("Vendor eq '\(smallTenant.openVendorNumber)' and VendorRef eq 'PAY-1'")
            )
            let bill = try #require(read.json?.arrayValue?.first)
            #expect(bill["Status"]?["value"]?.stringValue == "Closed")
            #expect(bill["Balance"]?["value"]?.decimalValue == 0)
            #expect(bill["ApprovedForPayment"]?["value"]?.boolValue == true)
            #expect((bill["LastModifiedDateTime"]?["value"]?.stringValue ?? "") > before)
        }
    }

    @Test("the demo company matches JAGGAER: vendors, accounts, subaccounts, and a PO for every PO line")
    func demoConsistency() async throws {
        let demo = smallTenant.acumatica
        #expect(demo.count("Vendor") == smallTenant.businessCentral.vendors.count)
        try await withSimulators(tenant: smallTenant) { host in
            for invoice in smallTenant.jaggaerInvoices {
                let vendor = invoice["header"]?["supplier"]?["supplierNumber"]?.stringValue ?? ""
                guard smallTenant.businessCentral.vendors.contains(where: { $0.number == vendor }) else { continue }
                for line in invoice["lineList"]?["invoiceLine"]?.arrayValue ?? [] {
                    guard let number = line["poNumber"]?.stringValue, let lineText = line["poLineNumber"]?.stringValue
                    else { continue }
                    let order = host.acumatica.purchaseOrder(orderNbr: number)
                    #expect(order?["VendorID"]?["value"]?.stringValue == vendor, "PO \(number)")
                    let lines = order?["Details"]?.arrayValue ?? []
                    #expect(
                        lines.contains { $0["LineNbr"]?["value"]?.intValue == Int(lineText) },
                        "PO \(number)/\(lineText)")
                }
            }
        }
    }
}
