import ConnectorSimulators
import Foundation
import Testing

@Suite("SAP Business One: purchase orders, A/P invoices, drafts, payments")
struct SAPBusinessOneDocumentTests {
    @Test("BaseType 22 lines copy the order line, reduce its open quantity, and close the order when all is invoiced")
    func baseDocumentLinks() async throws {
        try await withB1Simulator { simulator, base in
            var client = B1TestClient(base: base)
            try await client.login()
            let order = try await client.get("PurchaseOrders(1)")
            #expect(order.json?["NumAtCard"]?.stringValue == "0000000121")
            #expect(order.json?["U_JaggaerPO"]?.stringValue == "0000000121")
            #expect(order.json?["DocumentStatus"]?.stringValue == "bost_Open")
            let lines = order.json?["DocumentLines"]?.arrayValue ?? []
            #expect(lines.compactMap { $0["LineNum"]?.intValue } == [0, 1, 2])
            #expect(lines.compactMap { $0["RemainingOpenQuantity"]?.decimalValue } == [2, 5, 1])
            let byPO = try await client.get("PurchaseOrders?" + B1TestClient.filter("U_JaggaerPO eq '0000000121'"))
            #expect(byPO.values.count == 1)

            let partial = try await client.send(
                "POST", "PurchaseInvoices",
                b1InvoiceBody(
                    cardCode: "V100", numAtCard: "INV-1",
                    lines: [b1BaseLine(order: 1, line: 0), b1BaseLine(order: 1, line: 1, quantity: "3")]))
            #expect(partial.status == 201)
            let invoiceLines = partial.json?["DocumentLines"]?.arrayValue ?? []
            #expect(invoiceLines.first?["AccountCode"]?.stringValue == "60100", "copied from the order line")
            #expect(invoiceLines.first?["CostingCode"]?.stringValue == "19900")
            #expect(invoiceLines.first?["Quantity"]?.decimalValue == 2, "the open quantity when none is given")
            #expect(invoiceLines.first?["BaseEntry"]?.intValue == 1)
            #expect(partial.json?["DocTotal"]?.decimalValue == Decimal(string: "30"))  // 2 × 10.50 + 3 × 3
            let afterPartial = try await client.get("PurchaseOrders(1)")
            let open = afterPartial.json?["DocumentLines"]?.arrayValue ?? []
            #expect(open.compactMap { $0["RemainingOpenQuantity"]?.decimalValue } == [0, 2, 1])
            #expect(open.compactMap { $0["LineStatus"]?.stringValue } == ["bost_Close", "bost_Open", "bost_Open"])
            #expect(afterPartial.json?["DocumentStatus"]?.stringValue == "bost_Open")

            let closedLine = try await client.send(
                "POST", "PurchaseInvoices",
                b1InvoiceBody(cardCode: "V100", numAtCard: "INV-2", lines: [b1BaseLine(order: 1, line: 0)]))
            #expect(closedLine.status == 400)
            #expect(closedLine.b1Code == "-5002")

            let rest = try await client.send(
                "POST", "PurchaseInvoices",
                b1InvoiceBody(
                    cardCode: "V100", numAtCard: "INV-3",
                    lines: [b1BaseLine(order: 1, line: 1), b1BaseLine(order: 1, line: 2)]))
            #expect(rest.status == 201)
            let closed = try await client.get("PurchaseOrders(1)")
            #expect(closed.json?["DocumentStatus"]?.stringValue == "bost_Close")
            let again = try await client.send(
                "POST", "PurchaseInvoices",
                b1InvoiceBody(cardCode: "V100", numAtCard: "INV-4", lines: [b1BaseLine(order: 1, line: 2)]))
            #expect(again.status == 400)
            #expect(again.b1Code == "-5002")
            #expect(simulator.store.snapshot.purchaseInvoices.count == 2)
        }
    }

    @Test("refusals name the problem: card mismatch, missing line, unknown BP, unknown account, cost centre")
    func refusals() async throws {
        try await withB1Simulator { simulator, base in
            var client = B1TestClient(base: base)
            try await client.login()
            let mismatch = try await client.send(
                "POST", "PurchaseInvoices",
                b1InvoiceBody(cardCode: "V200", numAtCard: "X-1", lines: [b1BaseLine(order: 1, line: 0)]))
            #expect(mismatch.status == 400)
            #expect(mismatch.b1Code == "-5002")
            #expect(mismatch.b1Message == "Base document card and target document card do not match.")
            let noLine = try await client.send(
                "POST", "PurchaseInvoices",
                b1InvoiceBody(cardCode: "V100", numAtCard: "X-2", lines: [b1BaseLine(order: 1, line: 7)]))
            #expect(noLine.b1Code == "-5002")
            #expect(noLine.b1Message?.contains("BaseLine") == true)
            let noOrder = try await client.send(
                "POST", "PurchaseInvoices",
                b1InvoiceBody(cardCode: "V100", numAtCard: "X-3", lines: [b1BaseLine(order: 99, line: 0)]))
            #expect(noOrder.b1Code == "-5002")
            let unknownBP = try await client.send(
                "POST", "PurchaseInvoices", b1InvoiceBody(cardCode: "NOPE", numAtCard: "X-4", lines: [b1Line()]))
            #expect(unknownBP.status == 400)
            #expect(unknownBP.b1Message == "Invalid BP code [OPCH.CardCode]")
            let customer = try await client.send(
                "POST", "PurchaseInvoices", b1InvoiceBody(cardCode: "C100", numAtCard: "X-5", lines: [b1Line()]))
            #expect(customer.b1Message == "Invalid BP code [OPCH.CardCode]")
            let frozen = try await client.send(
                "POST", "PurchaseInvoices", b1InvoiceBody(cardCode: "V900", numAtCard: "X-6", lines: [b1Line()]))
            #expect(frozen.status == 400)
            let account = try await client.send(
                "POST", "PurchaseInvoices",
                b1InvoiceBody(cardCode: "V100", numAtCard: "X-7", lines: [b1Line(), b1Line(account: "67100")]))
            #expect(account.status == 400)
            #expect(account.b1Message == "Invalid account code [PCH1.AcctCode][line: 2]")
            let title = try await client.send(
                "POST", "PurchaseInvoices",
                b1InvoiceBody(cardCode: "V100", numAtCard: "X-8", lines: [b1Line(account: "60000")]))
            #expect(title.b1Message?.contains("AcctCode") == true)
            let frozenAccount = try await client.send(
                "POST", "PurchaseInvoices",
                b1InvoiceBody(cardCode: "V100", numAtCard: "X-9", lines: [b1Line(account: "60900")]))
            #expect(frozenAccount.status == 400)
            var wrongCentre = b1Line()
            wrongCentre["CostingCode"] = .string("RND")  // a dimension-2 centre in dimension 1
            let centre = try await client.send(
                "POST", "PurchaseInvoices", b1InvoiceBody(cardCode: "V100", numAtCard: "X-10", lines: [wrongCentre]))
            #expect(centre.status == 400)
            #expect(centre.b1Message?.contains("OcrCode") == true)
            var unknownProperty = b1Line()
            unknownProperty["Bogus"] = .int(1)
            let property = try await client.send(
                "POST", "PurchaseInvoices", b1InvoiceBody(cardCode: "V100", numAtCard: "X-11", lines: [unknownProperty])
            )
            #expect(property.b1Message == "Property 'Bogus' of 'Document_Line' is invalid")
            let tooLong = try await client.send(
                "POST", "PurchaseInvoices",
                b1InvoiceBody(cardCode: "V100", numAtCard: String(repeating: "N", count: 101), lines: [b1Line()]))
            #expect(tooLong.status == 400)
            #expect(simulator.store.snapshot.purchaseInvoices.isEmpty)
        }
    }

    @Test("a refused document leaves nothing: no invoice, no number taken, the order untouched")
    func atomicRefusal() async throws {
        try await withB1Simulator { simulator, base in
            var client = B1TestClient(base: base)
            try await client.login()
            let orderBefore = try await client.get("PurchaseOrders(1)")
            let refused = try await client.send(
                "POST", "PurchaseInvoices",
                b1InvoiceBody(
                    cardCode: "V100", numAtCard: "ATOM-1",
                    lines: [b1BaseLine(order: 1, line: 0), b1BaseLine(order: 1, line: 1), b1Line(account: "67100")]))
            #expect(refused.status == 400)
            let orderAfter = try await client.get("PurchaseOrders(1)")
            #expect(orderAfter.json?["DocumentLines"] == orderBefore.json?["DocumentLines"])
            #expect(b1Counts(simulator, "V100", "ATOM-1") == [0, 0])
            let accepted = try await client.send(
                "POST", "PurchaseInvoices",
                b1InvoiceBody(cardCode: "V100", numAtCard: "ATOM-1", lines: [b1BaseLine(order: 1, line: 0)]))
            #expect(accepted.json?["DocEntry"]?.intValue == 1, "the refused attempt took no DocEntry")
            #expect(accepted.json?["DocNum"]?.intValue == 7_000)
        }
    }

    @Test("drafts validate like invoices but book nothing; SaveDraftToDocument turns one into an A/P invoice")
    func draftsAndSave() async throws {
        try await withB1Simulator { simulator, base in
            var client = B1TestClient(base: base, version: "v2")
            try await client.login()
            guard
                case .object(var body) = b1InvoiceBody(
                    cardCode: "V100", numAtCard: "DRAFT-1", lines: [b1BaseLine(order: 1, line: 1, quantity: "5")])
            else { return }
            body["DocObjectCode"] = .string("oPurchaseInvoices")
            body["U_JaggaerInvoiceId"] = .string("2600017")
            body["Comments"] = .string("From JAGGAER")
            var refusedBody = body
            refusedBody["CardCode"] = .string("V200")
            let refused = try await client.send("POST", "Drafts", .object(refusedBody))
            #expect(refused.status == 400)
            #expect(refused.json?["error"]?["code"]?.stringValue == "-5002", "v2 writes the code as a string")
            var noObject = body
            noObject["DocObjectCode"] = nil
            #expect(try await client.send("POST", "Drafts", .object(noObject)).status == 400)

            let draft = try await client.send("POST", "Drafts", .object(body))
            #expect(draft.status == 201)
            #expect(draft.json?["DocObjectCode"]?.stringValue == "oPurchaseInvoices")
            #expect(draft.json?["@odata.context"]?.stringValue?.hasSuffix("$metadata#Drafts/$entity") == true)
            let draftEntry = try #require(draft.json?["DocEntry"]?.intValue)
            let untouched = try await client.get("PurchaseOrders(1)")
            #expect(
                untouched.json?["DocumentLines"]?.arrayValue?[1]["RemainingOpenQuantity"]?.decimalValue == 5,
                "a draft books nothing")
            let count = try await HTTP.get(base + "/_sim/b1/documents/count?CardCode=V100&NumAtCard=DRAFT-1")
            #expect(count.json?["drafts"]?.intValue == 1)
            #expect(count.json?["invoices"]?.intValue == 0)

            let saved = try await client.send(
                "POST", "DraftsService_SaveDraftToDocument",
                .object(SimJSONObject(["Document": .object(SimJSONObject(["DocEntry": .int(draftEntry)]))])))
            #expect(saved.status == 204)
            let invoices = try await client.get(
                "PurchaseInvoices?" + B1TestClient.filter("CardCode eq 'V100' and NumAtCard eq 'DRAFT-1'"))
            #expect(invoices.values.count == 1)
            #expect(invoices.values.first?["U_JaggaerInvoiceId"]?.stringValue == "2600017")
            #expect(invoices.values.first?["Comments"]?.stringValue == "From JAGGAER")
            #expect(try await client.get("Drafts(\(draftEntry))").status == 404)
            let booked = try await client.get("PurchaseOrders(1)")
            #expect(booked.json?["DocumentLines"]?.arrayValue?[1]["RemainingOpenQuantity"]?.decimalValue == 0)
            #expect(b1Counts(simulator, "V100", "DRAFT-1") == [0, 1])
            let twice = try await client.send(
                "POST", "DraftsService_SaveDraftToDocument",
                .object(SimJSONObject(["Document": .object(SimJSONObject(["DocEntry": .int(draftEntry)]))])))
            #expect(twice.status == 404)
        }
    }

    @Test("purchase orders: POST, PATCH merges lines by LineNum, B1S-ReplaceCollectionsOnPatch replaces them")
    func purchaseOrders() async throws {
        try await withB1Simulator { simulator, base in
            var client = B1TestClient(base: base)
            try await client.login()
            let created = try await client.send("POST", "PurchaseOrders", b1OrderBody)
            #expect(created.status == 201)
            #expect(created.json?["DocEntry"]?.intValue == 2)
            let patch: SimJSON = .object(
                SimJSONObject([
                    "Comments": .string("changed"),
                    "DocumentLines": .array([
                        .object(SimJSONObject(["LineNum": .int(1), "Quantity": .number("7")])),
                        .object(
                            SimJSONObject([
                                "AccountCode": .string("60100"), "Quantity": .number("1"), "UnitPrice": .number("4"),
                            ])),
                    ]),
                ]))
            #expect(try await client.send("PATCH", "PurchaseOrders(2)", patch).status == 204)
            let merged = try await client.get("PurchaseOrders(2)")
            #expect(merged.json?["Comments"]?.stringValue == "changed")
            #expect(merged.json?["DocumentLines"]?.arrayValue?.count == 4)
            #expect(merged.json?["DocumentLines"]?.arrayValue?[1]["Quantity"]?.decimalValue == 7)
            let replace: SimJSON = .object(
                SimJSONObject([
                    "DocumentLines": .array([
                        .object(
                            SimJSONObject([
                                "AccountCode": .string("60100"), "Quantity": .number("1"), "UnitPrice": .number("4"),
                            ]))
                    ])
                ]))
            #expect(
                try await client.send(
                    "PATCH", "PurchaseOrders(2)", replace, headers: ["B1S-ReplaceCollectionsOnPatch": "true"]
                ).status == 204)
            let replaced = try await client.get("PurchaseOrders(2)")
            #expect(replaced.json?["DocumentLines"]?.arrayValue?.count == 1)
            #expect(replaced.json?["DocTotal"]?.decimalValue == 4)
            let changeCard = try await client.send(
                "PATCH", "PurchaseOrders(2)", .object(SimJSONObject(["CardCode": .string("V200")])))
            #expect(changeCard.status == 400)
            #expect(try await client.send("PATCH", "PurchaseInvoices(1)", patch).status == 405)
        }
    }

    @Test("a payment sets PaidToDate, closes the invoice when fully paid and moves UpdateDate/UpdateTime")
    func payments() async throws {
        let clock = SimulatorClock(fixedAt: Date(timeIntervalSince1970: 1_795_176_000))
        try await withB1Simulator(clock: clock) { simulator, base in
            var client = B1TestClient(base: base)
            try await client.login()
            let invoice = try await client.send(
                "POST", "PurchaseInvoices",
                b1InvoiceBody(cardCode: "V100", numAtCard: "PAY-1", lines: [b1Line(quantity: "2", price: "50")]))
            let entry = try #require(invoice.json?["DocEntry"]?.intValue)
            clock.advance(by: 86_400 + 3_600)
            let partial = try await HTTP.json(
                "POST", base + "/_sim/b1/payments", token: nil,
                body: .object(SimJSONObject(["DocEntry": .int(entry), "amount": .number("40")])))
            #expect(partial.status == 200)
            #expect(partial.json?["PaidToDate"]?.decimalValue == 40)
            #expect(partial.json?["DocumentStatus"]?.stringValue == "bost_Open")
            let rest = try await HTTP.json(
                "POST", base + "/_sim/b1/payments", token: nil, body: .object(SimJSONObject(["DocEntry": .int(entry)])))
            #expect(rest.json?["PaidToDate"]?.decimalValue == 100)
            try await client.login()  // the day's wait outlived the session
            let paid = try await client.get(
                "PurchaseInvoices?"
                    + B1TestClient.filter("UpdateDate ge '2026-11-21' and DocumentStatus eq 'bost_Close'")
                    + "&$select=DocEntry,PaidToDate,DocTotal,UpdateTime")
            #expect(paid.values.count == 1)
            #expect(paid.values.first?["UpdateTime"]?.stringValue == "13:00:00")
            let over = try await HTTP.json(
                "POST", base + "/_sim/b1/payments", token: nil,
                body: .object(SimJSONObject(["DocEntry": .int(entry), "amount": .number("1")])))
            #expect(over.status == 400)
        }
    }
}
