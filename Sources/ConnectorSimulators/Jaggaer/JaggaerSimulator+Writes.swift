import Foundation

// The write endpoints of the simulated JAGGAER tenant (UNCONFIRMED paths, the connector's defaults):
// - `PUT|GET /j1p/api/public/ji/v1/suppliers/{number}` (counter `jaggaer PUT suppliers/{number}`); a supplier may
//   name its parent in `parentSupplierNumber` (a hierarchy; stored as written, and a write that names a parent not
//   held yet is listed in `writes.suppliersLinkedBeforeTheirParent`)
// - `PUT|GET /j1p/api/public/ji/v1/accountingcodes/{segment}/{code}` (counter `jaggaer PUT accountingcodes/{segment}/{code}`)
// - `PUT|GET /j1p/api/public/ji/v1/invoices/{id}/paymentstatus` (counter `jaggaer PUT invoices/{id}/paymentstatus`);
//   setting it also shows in the invoice's `header.paymentStatus` (its `lastUpdate` is left as it was, so a
//   status set by the ERP side does not send the invoice round the poll again).
// - `GET /j1p/api/public/ji/v1/suppliers?start=N&flt=LASTMODTIME>=yyyyMMddHHmmss` (counter `jaggaer GET suppliers`):
//   the supplier list in the `ja/v1/companyprofiles` shape (reference §1.5: `start` 1-based, `totRecords`,
//   `returnedRecords`, `startAt`, items under `returnCompanyData`), each item the supplier as written plus
//   `lastModTime` (`yyyyMMddHHmmss`, UTC); suppliers created in JAGGAER (`writes.editSupplierInJaggaer`) included.
// - `PUT|GET /j1p/api/public/po/v1/erppurchaseorders/{number}` (counter `jaggaer PUT erppurchaseorders/{number}`):
//   a purchase order an ERP confirmed, by the ERP's number (UNCONFIRMED: JAGGAER's PO import is not public).
// - `PUT|GET /j1p/api/public/ji/v1/catalogitems/{number}` (counter `jaggaer PUT catalogitems/{number}`): a catalog
//   item (an ERP's released product) by its item number (UNCONFIRMED: JAGGAER's catalog import is not public).
// - control: `GET /_sim/jaggaer/writes` (everything written, with counts).
// Every write answers `{"returnCode": 0, "returnMessage": "Created" | "Updated" | "Unchanged"}`.
extension JaggaerSimulator {
    static let suppliersPath = "/j1p/api/public/ji/v1/suppliers"
    static let codingPath = "/j1p/api/public/ji/v1/accountingcodes"
    static let erpPurchaseOrdersPath = "/j1p/api/public/po/v1/erppurchaseorders"
    static let catalogItemsPath = "/j1p/api/public/ji/v1/catalogitems"

    /// The path's segments, split before percent-decoding (a supplier number may hold a `/`), then decoded.
    private static func segments(_ request: SimRequest) -> [String] {
        let raw =
            request.rawPath.count > 1 && request.rawPath.hasSuffix("/")
            ? String(request.rawPath.dropLast()) : request.rawPath
        return raw.split(separator: "/", omittingEmptySubsequences: false).map {
            SimRequest.percentDecode(String($0), plusIsSpace: false)
        }
    }

    /// The write endpoint a request names, or nil.
    func writeRoute(_ request: SimRequest) -> RouteMatch? {
        let parts = Self.segments(request)
        let path = "/" + parts.dropFirst().prefix(6).joined(separator: "/")
        if path == Self.suppliersPath, parts.count == 7 {
            return RouteMatch(system: "jaggaer", endpoint: "suppliers")
        }
        if path == Self.suppliersPath, parts.count == 8, !parts[7].isEmpty {
            return RouteMatch(system: "jaggaer", endpoint: "suppliers/{number}")
        }
        if path == Self.codingPath, parts.count == 9, !parts[7].isEmpty, !parts[8].isEmpty {
            return RouteMatch(system: "jaggaer", endpoint: "accountingcodes/{segment}/{code}")
        }
        if path == Self.erpPurchaseOrdersPath, parts.count == 8, !parts[7].isEmpty {
            return RouteMatch(system: "jaggaer", endpoint: "erppurchaseorders/{number}")
        }
        if path == Self.catalogItemsPath, parts.count == 8, !parts[7].isEmpty {
            return RouteMatch(system: "jaggaer", endpoint: "catalogitems/{number}")
        }
        if path == Self.invoicesPath, parts.count == 9, parts[8] == "paymentstatus" {
            return RouteMatch(system: "jaggaer", endpoint: "invoices/{id}/paymentstatus")
        }
        return nil
    }

    static func isWriteEndpoint(_ endpoint: String) -> Bool {
        [
            "suppliers", "suppliers/{number}", "accountingcodes/{segment}/{code}", "invoices/{id}/paymentstatus",
            "erppurchaseorders/{number}", "catalogitems/{number}",
        ].contains(endpoint)
    }

    private func writeError(_ status: Int, _ message: String) -> SimResponse {
        .json(status, .object(SimJSONObject(["returnCode": .int(status), "returnMessage": .string(message)])))
    }

    private func accepted(_ outcome: JaggaerWriteStore.Outcome) -> SimResponse {
        .json(
            outcome == .created ? 201 : 200,
            .object(SimJSONObject(["returnCode": .int(0), "returnMessage": .string(outcome.rawValue)])))
    }

    /// Handles an authorized request to a write endpoint.
    func handleWrite(_ request: SimRequest, route: RouteMatch) -> SimResponse {
        let parts = Self.segments(request)
        if route.endpoint == "suppliers" { return supplierList(request) }
        guard request.method == "PUT" || request.method == "GET" else {
            return writeError(405, "Method \(request.method) not allowed")
        }
        let body: SimJSON?
        if request.method == "PUT" {
            guard let parsed = try? request.jsonBody() else { return writeError(400, "The body is not valid JSON") }
            body = parsed
        } else {
            body = nil
        }
        switch route.endpoint {
        case "suppliers/{number}":
            let number = parts[7]
            guard let body else {
                return writes.supplier(number).map { .json(200, $0) } ?? writeError(404, "Supplier \(number) not found")
            }
            if let problem = JaggaerWriteValidation.supplier(body, number: number) { return writeError(400, problem) }
            return accepted(writes.upsertSupplier(number: number, body, at: clock.now()))
        case "accountingcodes/{segment}/{code}":
            let (segment, code) = (parts[7], parts[8])
            guard let body else {
                return writes.codingValue(segment: segment, code: code).map { .json(200, $0) }
                    ?? writeError(404, "Accounting code \(segment)/\(code) not found")
            }
            if let problem = JaggaerWriteValidation.codingValue(body, segment: segment, code: code) {
                return writeError(400, problem)
            }
            return accepted(writes.upsertCodingValue(segment: segment, code: code, body))
        case "erppurchaseorders/{number}":
            let number = parts[7]
            guard let body else {
                return writes.purchaseOrder(number).map { .json(200, $0) }
                    ?? writeError(404, "Purchase order \(number) not found")
            }
            if let problem = JaggaerWriteValidation.purchaseOrder(body, number: number) {
                return writeError(400, problem)
            }
            return accepted(writes.upsertPurchaseOrder(number: number, body))
        case "catalogitems/{number}":
            let number = parts[7]
            guard let body else {
                return writes.catalogItem(number).map { .json(200, $0) }
                    ?? writeError(404, "Catalog item \(number) not found")
            }
            if let problem = JaggaerWriteValidation.catalogItem(body, number: number) {
                return writeError(400, problem)
            }
            return accepted(writes.upsertCatalogItem(number: number, body))
        default:
            guard let id = Int(parts[7]), var invoice = invoices.invoice(id: id) else {
                return writeError(404, "Invoice \(parts[7]) not found")
            }
            guard let body else {
                return writes.paymentStatus(invoiceId: id).map { .json(200, $0) }
                    ?? writeError(404, "No payment status was set on invoice \(id)")
            }
            if let problem = JaggaerWriteValidation.paymentStatus(body) { return writeError(400, problem) }
            let outcome = writes.setPaymentStatus(invoiceId: id, body)
            if case .object(var root) = invoice, case .object(var header)? = root["header"] {
                header["paymentStatus"] = body["paymentStatus"]
                root["header"] = .object(header)
                invoice = .object(root)
                try? invoices.upsert(invoice)
            }
            return accepted(outcome)
        }
    }

    /// Page size of the supplier list (the server's; the `ja` list takes no size parameter).
    static let supplierPageSize = 25

    /// `GET …/suppliers`: strict about its query (`start`, `flt` with `LASTMODTIME>=` only).
    private func supplierList(_ request: SimRequest) -> SimResponse {
        guard request.method == "GET" else { return writeError(405, "Method \(request.method) not allowed") }
        for item in request.query where !["start", "flt"].contains(item.name) {
            return writeError(400, "Unknown parameter \(item.name)")
        }
        var start = 1
        if let text = request.queryValue("start") {
            guard let value = Int(text), value >= 1 else { return writeError(400, "start must be 1 or more") }
            start = value
        }
        var since: Date?
        if let filter = request.queryValue("flt") {
            let prefix = "LASTMODTIME>="
            guard filter.hasPrefix(prefix), let date = Self.stamp(String(filter.dropFirst(prefix.count))) else {
                return writeError(400, "flt must be LASTMODTIME>=yyyyMMddHHmmss")
            }
            since = date
        }
        let all = writes.suppliers(since: since)
        let page = all.dropFirst(start - 1).prefix(Self.supplierPageSize)
        let items: [SimJSON] = page.map { entry in
            var object = entry.body.objectValue ?? SimJSONObject()
            object["lastModTime"] = .string(Self.stampText(entry.modified))
            return .object(object)
        }
        return .json(
            200,
            .object(
                SimJSONObject([
                    "returnCode": .int(0), "returnMessage": .string(""), "totRecords": .int(all.count),
                    "returnedRecords": .int(items.count), "startAt": .int(start),
                    "returnCompanyData": .array(items),
                ])))
    }

    static func stampText(_ date: Date) -> String {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC") ?? .current
        let c = calendar.dateComponents([.year, .month, .day, .hour, .minute, .second], from: date)
        return String(
            format: "%04d%02d%02d%02d%02d%02d", c.year ?? 0, c.month ?? 0, c.day ?? 0, c.hour ?? 0, c.minute ?? 0,
            c.second ?? 0)
    }

    static func stamp(_ text: String) -> Date? {
        guard text.count == 14, text.allSatisfy(\.isNumber) else { return nil }
        let digits = Array(text)
        func part(_ from: Int, _ length: Int) -> Int { Int(String(digits[from..<(from + length)])) ?? 0 }
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC") ?? .current
        return calendar.date(
            from: DateComponents(
                year: part(0, 4), month: part(4, 2), day: part(6, 2), hour: part(8, 2), minute: part(10, 2),
                second: part(12, 2)))
    }

    /// `GET /_sim/jaggaer/writes`.
    func writesControl(_ request: SimRequest) -> SimResponse? {
        guard request.method == "GET", request.path == "/_sim/jaggaer/writes" else { return nil }
        return .json(200, writes.json)
    }
}
