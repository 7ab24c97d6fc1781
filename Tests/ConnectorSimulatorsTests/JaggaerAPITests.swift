import ConnectorSimulators
import Foundation
import Testing

@Suite("JAGGAER invoice API", .serialized)
struct JaggaerAPITests {
    static let listURL = "/j1p/api/public/ji/v1/invoices"

    /// All invoice headers, paging with `startAt += returnedRecords`.
    static func allHeaders(_ host: SimulatorHost, token: String, query: String = "", pageSize: Int = 7) async throws
        -> [SimJSON]
    {
        var headers: [SimJSON] = []
        var startAt = 1
        while true {
            let url = host.jaggaerBaseURL + listURL + "?startAt=\(startAt)&maxRecords=\(pageSize)" + query
            let page = try await HTTP.get(url, token: token)
            #expect(page.status == 200)
            let body = try #require(page.json)
            let items = body["jiinvoiceList"]?["jiinvoice"]?.arrayValue ?? []
            #expect(body["returnedRecords"]?.intValue == items.count)
            #expect(body["startAt"]?.intValue == startAt)
            headers += items.compactMap { $0["header"] }
            if items.isEmpty || headers.count >= body["totRecords"]?.intValue ?? 0 { break }
            startAt += items.count
        }
        return headers
    }

    @Test("the list envelope is exactly the documented one, with headers only")
    func envelope() async throws {
        try await withSimulators(tenant: smallTenant) { host in
            let token = try await host.jaggaerToken()
            let page = try await HTTP.get(host.jaggaerBaseURL + Self.listURL + "?maxRecords=5", token: token)
            #expect(page.status == 200)
            let body = try #require(page.json?.objectValue)
            #expect(
                body.orderedKeys == [
                    "returnCode", "returnMessage", "totRecords", "returnedRecords", "startAt", "jiinvoiceList",
                ])
            #expect(body["returnCode"] == .number("0"))
            #expect(body["returnMessage"] == .string(""))
            #expect(body["totRecords"]?.intValue == 60)
            #expect(body["returnedRecords"]?.intValue == 5)
            let items = try #require(body["jiinvoiceList"]?["jiinvoice"]?.arrayValue)
            #expect(items.count == 5)
            for item in items {
                #expect(item.objectValue?.orderedKeys == ["header"])
                #expect(item["header"]?["invoiceId"]?.intValue != nil)
            }
            let defaultPage = try await HTTP.get(host.jaggaerBaseURL + Self.listURL, token: token)
            #expect(defaultPage.json?["returnedRecords"]?.intValue == 50)
            #expect(host.counters["jaggaer GET invoices"] == 2)
        }
    }

    @Test("paging visits every invoice once, sorted by invoiceId as real tenants are, or by lastUpdate as set")
    func pagingAndSorting() async throws {
        try await withSimulators(tenant: smallTenant) { host in
            let token = try await host.jaggaerToken()
            let byId = try await Self.allHeaders(host, token: token).compactMap { $0["invoiceId"]?.intValue }
            #expect(byId.count == 60)
            #expect(byId == byId.sorted())
            let asked = try await Self.allHeaders(host, token: token, query: "&orderBy=lastUpdate")
            host.jaggaer.listOptions.order = .lastUpdate
            let headers = try await Self.allHeaders(host, token: token)
            #expect(asked == headers, "orderBy asks for the same order as the option")
            let ids = headers.compactMap { $0["invoiceId"]?.intValue }
            #expect(ids.count == 60)
            #expect(Set(ids).count == 60)
            let keys = headers.map { ($0["lastUpdate"]?.stringValue ?? "", $0["invoiceId"]?.intValue ?? 0) }
            let inOrder = zip(keys, keys.dropFirst()).allSatisfy { $0 < $1 }
            #expect(inOrder)
            let beyond = try await HTTP.get(host.jaggaerBaseURL + Self.listURL + "?startAt=61", token: token)
            #expect(beyond.json?["returnedRecords"]?.intValue == 0)
            #expect(beyond.json?["totRecords"]?.intValue == 60)
            let bad = try await HTTP.get(host.jaggaerBaseURL + Self.listURL + "?startAt=0", token: token)
            #expect(bad.status == 400)
            #expect(bad.json?["returnCode"]?.intValue != 0)
            let clamped = try await HTTP.get(host.jaggaerBaseURL + Self.listURL + "?maxRecords=1000", token: token)
            #expect(clamped.json?["returnedRecords"]?.intValue == 60)
        }
    }

    @Test("lastUpdateFrom is inclusive and workflowStatus filters exactly")
    func filters() async throws {
        try await withSimulators(tenant: smallTenant) { host in
            host.jaggaer.listOptions.order = .lastUpdate
            let token = try await host.jaggaerToken()
            let all = try await Self.allHeaders(host, token: token, pageSize: 200)
            let pivot = try #require(all[30]["lastUpdate"]?.stringValue)
            let expected = all.filter { ($0["lastUpdate"]?.stringValue ?? "") >= pivot }
            let from = try await Self.allHeaders(host, token: token, query: "&lastUpdateFrom=" + HTTP.encode(pivot))
            #expect(from.map { $0["invoiceId"] } == expected.map { $0["invoiceId"] })
            #expect(from.first?["lastUpdate"]?.stringValue == pivot)
            let completed = try await Self.allHeaders(host, token: token, query: "&workflowStatus=Completed")
            #expect(completed.count == all.filter { $0["workflowStatus"] == .string("Completed") }.count)
            #expect(completed.allSatisfy { $0["workflowStatus"] == .string("Completed") })
            let bad = try await HTTP.get(host.jaggaerBaseURL + Self.listURL + "?lastUpdateFrom=yesterday", token: token)
            #expect(bad.status == 400)
        }
    }

    @Test("a served invoice is the stored document: string booleans, bare numbers, all lines")
    func singleInvoice() async throws {
        try await withSimulators(tenant: smallTenant) { host in
            let token = try await host.jaggaerToken()
            let stored = try #require(host.tenant.jaggaerInvoices.first)
            let id = try #require(stored["header"]?["invoiceId"]?.intValue)
            let result = try await HTTP.get(host.jaggaerBaseURL + Self.listURL + "/\(id)", token: token)
            #expect(result.status == 200)
            let served = try #require(result.json)
            #expect(served == stored)
            #expect(result.text == stored.text)
            #expect(served["header"]?["nonPOInvoice"]?.stringValue != nil)
            guard case .number = served["header"]?["total"]?["value"] else {
                Issue.record("total.value must be a JSON number")
                return
            }
            #expect(host.counters["jaggaer GET invoices/{id}"] == 1)
            let missing = try await HTTP.get(host.jaggaerBaseURL + Self.listURL + "/999", token: token)
            #expect(missing.status == 404)
            #expect(missing.json?["returnCode"]?.intValue == 404)
            #expect(missing.json?["returnMessage"]?.stringValue?.isEmpty == false)
        }
    }

    @Test("the real invoice_sample.json is served back structurally identical when seeded")
    func realSample() async throws {
        try await withSimulators(tenant: smallTenant) { host in
            try host.jaggaer.invoices.upsert(JaggaerSampleInvoice.json)
            let token = try await host.jaggaerToken()
            let result = try await HTTP.get(host.jaggaerBaseURL + Self.listURL + "/2526304", token: token)
            #expect(result.status == 200)
            let served = try #require(result.json)
            #expect(served.structurallyEquals(JaggaerSampleInvoice.json))
            #expect(served == JaggaerSampleInvoice.json, "same key order and number literals too")
            #expect(served["header"]?["lastUpdate"] == .string("2024-02-14T19:58:56.973Z"))
            #expect(served["header"]?["taxCharge1"] == .number("102.5"))
            #expect(served["header"]?["payment"]?["paidByExternalPaymentProcessor"] == .string("false"))
        }
    }

    @Test(
        "the embedded sample equals reference/samples/jaggaer/invoice_sample.json",
        .enabled(if: FileManager.default.fileExists(atPath: samplePath)))
    func embeddedSampleMatchesFile() throws {
        let data = try Data(contentsOf: URL(fileURLWithPath: samplePath))
        let file = try SimJSON.parse(Array(data))
        #expect(file == JaggaerSampleInvoice.json)
        #expect(String(decoding: data, as: UTF8.self).trimmingCharacters(in: .newlines) == JaggaerSampleInvoice.text)
    }

    @Test("an update bumps lastUpdate, so a delta poll from the old cursor finds it")
    func updates() async throws {
        try await withSimulators(tenant: smallTenant) { host in
            host.jaggaer.listOptions.order = .lastUpdate
            let token = try await host.jaggaerToken()
            let all = try await Self.allHeaders(host, token: token, pageSize: 200)
            let newest = try #require(all.last?["lastUpdate"]?.stringValue)
            let oldest = try #require(all.first)
            let id = try #require(oldest["invoiceId"]?.intValue)
            let updated = host.jaggaer.invoices.update(invoiceId: id) { invoice in
                guard case .object(var root) = invoice, case .object(var header)? = root["header"] else { return }
                header["workflowStatus"] = .string("Completed")
                root["header"] = .object(header)
                invoice = .object(root)
            }
            let stamp = try #require(updated?["header"]?["lastUpdate"]?.stringValue)
            #expect(stamp > newest)
            let delta = try await Self.allHeaders(host, token: token, query: "&lastUpdateFrom=" + HTTP.encode(newest))
            #expect(delta.last?["invoiceId"]?.intValue == id)

            var added = JaggaerSampleInvoice.json
            guard case .object(var root) = added, case .object(var header)? = root["header"] else { return }
            header["invoiceId"] = .int(3_000_001)
            root["header"] = .object(header)
            added = .object(root)
            let saved = try host.jaggaer.invoices.save(added)
            #expect((saved["header"]?["lastUpdate"]?.stringValue ?? "") > stamp)
            let posted = try await HTTP.json(
                "POST", host.jaggaerBaseURL + "/_sim/invoices?touch=true", token: nil, body: saved)
            #expect(posted.status == 200)
            let after = try await Self.allHeaders(host, token: token, pageSize: 200)
            #expect(after.count == 61)
            #expect(after.last?["invoiceId"]?.intValue == 3_000_001)
        }
    }

    @Test("list items are sparse headers, as in real tenants: ids, numbers, dates, statuses, totals, supplier id")
    func sparseHeaders() async throws {
        try await withSimulators(tenant: smallTenant) { host in
            let token = try await host.jaggaerToken()
            let headers = try await Self.allHeaders(host, token: token)
            for header in headers {
                for absent in [
                    "billTo", "shipTo", "remitTo", "terms", "splittableFieldSetGroupList", "customFieldValueSetList",
                ] {
                    #expect(header[absent] == nil, "\(absent)")
                }
                let supplierKeys = Set(header["supplier"]?.objectValue?.orderedKeys ?? [])
                #expect(!supplierKeys.isEmpty && supplierKeys.isSubset(of: ["id", "supplierNumber"]))
                #expect(header["lastUpdate"] != nil)
            }
        }
    }

    @Test("paging faults and the control routes: order, ignored parameters, an invoice touched mid-cycle")
    func listControl() async throws {
        try await withSimulators(tenant: smallTenant) { host in
            let token = try await host.jaggaerToken()
            let base = host.jaggaerBaseURL
            let set = try await HTTP.json(
                "POST", base + "/_sim/jaggaer/list", token: nil,
                body: .object(
                    SimJSONObject(["order": .string("lastUpdate-desc"), "pagingFault": .string("ignoreStart")])))
            #expect(set.status == 200)
            let second = try await HTTP.get(base + Self.listURL + "?startAt=11&maxRecords=10", token: token)
            #expect(second.json?["startAt"]?.intValue == 1, "the first page again")
            let items = second.json?["jiinvoiceList"]?["jiinvoice"]?.arrayValue ?? []
            let stamps = items.compactMap { $0["header"]?["lastUpdate"]?.stringValue }
            #expect(stamps == stamps.sorted(by: >))
            host.jaggaer.listOptions.pagingFault = .ignorePageSize
            let big = try await HTTP.get(base + Self.listURL + "?maxRecords=3", token: token)
            #expect(big.json?["returnedRecords"]?.intValue == JaggaerSimulator.defaultPageSize)
            host.jaggaer.listOptions.pagingFault = JaggaerPagingFault.none

            let last = try #require(stamps.first)
            let id = try #require(items.last?["header"]?["invoiceId"]?.intValue)
            let touched = try await HTTP.json(
                "POST", base + "/_sim/invoices/touch", token: nil, body: .object(SimJSONObject(["invoiceId": .int(id)]))
            )
            #expect(touched.status == 200)
            #expect((touched.json?["lastUpdate"]?.stringValue ?? "") > last)
            let top = try await HTTP.get(base + Self.listURL + "?maxRecords=1", token: token)
            let first = top.json?["jiinvoiceList"]?["jiinvoice"]?.arrayValue?.first
            #expect(first?["header"]?["invoiceId"]?.intValue == id)
        }
    }

    @Test("purchase orders: the invoices' PO numbers, listed like invoices, one PO with its lines")
    func purchaseOrders() async throws {
        try await withSimulators(tenant: smallTenant) { host in
            let token = try await host.jaggaerToken()
            let path = JaggaerSimulator.purchaseOrdersPath
            let list = try await HTTP.get(host.jaggaerBaseURL + path + "?startAt=1&maxRecords=200", token: token)
            #expect(list.status == 200)
            let items = try #require(list.json?["purchaseOrderList"]?["purchaseOrder"]?.arrayValue)
            #expect(list.json?["totRecords"]?.intValue == items.count)
            let quoted = Set(
                host.jaggaer.invoices.all.flatMap { $0["lineList"]?["invoiceLine"]?.arrayValue ?? [] }
                    .compactMap { $0["poNumber"]?.stringValue })
            #expect(Set(items.compactMap { $0["header"]?["purchaseOrderNumber"]?.stringValue }) == quoted)
            let id = try #require(items.first?["header"]?["purchaseOrderId"]?.intValue)
            let one = try await HTTP.get(host.jaggaerBaseURL + path + "/\(id)", token: token)
            #expect(one.status == 200)
            let lines = one.json?["lineList"]?["purchaseOrderLine"]?.arrayValue
            #expect(lines?.isEmpty == false)
            let missing = try await HTTP.get(host.jaggaerBaseURL + path + "/1", token: token)
            #expect(missing.status == 404)
        }
    }

}

/// `reference/samples/jaggaer/invoice_sample.json`, found from this file's location (`Tests/<target>/` is three
/// levels below the folder that holds `shared/`).
let samplePath: String = {
    var url = URL(fileURLWithPath: #filePath)
    for _ in 0..<4 { url.deleteLastPathComponent() }
    return url.appendingPathComponent("shared/reference/samples/jaggaer/invoice_sample.json").path

}()
