import Foundation
import Synchronization

/// The purchase orders a simulated JAGGAER ONE tenant holds. JAGGAER's PO export API is UNCONFIRMED (reference
/// §1.2, §1.10); this simulator follows the invoice API's conventions:
/// - `GET /j1p/api/public/po/v1/purchaseorders` (counter `jaggaer GET purchaseorders`): the invoice list's paging
///   and filter parameters and envelope, items `purchaseOrderList.purchaseOrder[]` with a sparse `header`.
/// - `GET /j1p/api/public/po/v1/purchaseorders/{purchaseOrderId}` (counter `jaggaer GET purchaseorders/{id}`):
///   `header` (`purchaseOrderId`, `purchaseOrderNumber`, `lastUpdate`, `status`, `orderDate`, `supplier`,
///   `total`) and `lineList.purchaseOrderLine[]` (`lineNumber`, `item`, `quantity`, `unitPrice`,
///   `splittableFieldSetGroupList`), shaped like invoice lines.
package final class JaggaerPurchaseOrderStore: Sendable {
    private let orders = Mutex<[Int: SimJSON]>([:])

    package init() {}

    /// Adds or replaces a purchase order (by `header.purchaseOrderId`), keeping its `lastUpdate` as given.
    package func upsert(_ order: SimJSON) throws(SimulatorInputError) {
        guard let id = order["header"]?["purchaseOrderId"]?.intValue else {
            throw SimulatorInputError("a purchase order needs an integer header.purchaseOrderId")
        }
        guard order["header"]?["lastUpdate"]?.stringValue.flatMap(Timestamps.parseInstant) != nil else {
            throw SimulatorInputError("purchase order \(id) needs header.lastUpdate as an ISO-8601 instant")
        }
        orders.withLock { $0[id] = order }
    }

    package func order(id: Int) -> SimJSON? { orders.withLock { $0[id] } }

    package var all: [SimJSON] {
        orders.withLock { Array($0.values) }.sorted {
            ($0["header"]?["purchaseOrderId"]?.intValue ?? 0) < ($1["header"]?["purchaseOrderId"]?.intValue ?? 0)
        }
    }

    package var count: Int { orders.withLock { $0.count } }

    /// The purchase orders the tenant's invoices quote (`lineList.invoiceLine[].poNumber`): one per PO number,
    /// with the quoted lines (by `poLineNumber`, first quote wins), the invoice's supplier, currency and coding,
    /// ordered two weeks before the first invoice, changed a day before it.
    package static func documents(fromInvoices invoices: [SimJSON]) -> [SimJSON] {
        var byNumber: [String: (header: SimJSON?, lines: [Int: SimJSON], first: Int)] = [:]
        for (index, invoice) in invoices.enumerated() {
            for line in invoice["lineList"]?["invoiceLine"]?.arrayValue ?? [] {
                guard let number = line["poNumber"]?.stringValue, !number.isEmpty,
                    let lineNumber = line["poLineNumber"]?.stringValue.flatMap({ Int($0) })
                else { continue }
                var entry = byNumber[number] ?? (invoice["header"], [:], index)
                if entry.lines[lineNumber] == nil { entry.lines[lineNumber] = line }
                byNumber[number] = entry
            }
        }
        var result: [SimJSON] = []
        for (offset, (number, entry)) in byNumber.sorted(by: { $0.value.first < $1.value.first }).enumerated() {
            let header = entry.header
            let currency = header?["total"]?["currency"] ?? .string("USD")
            var total: Decimal = 0
            var lines: [SimJSON] = []
            for (lineNumber, line) in entry.lines.sorted(by: { $0.key < $1.key }) {
                let quantity = line["quantity"]?.decimalValue ?? 1
                let price = line["unitPrice"]?.decimalValue ?? line["unitPrice"]?["value"]?.decimalValue ?? 0
                total += (quantity * price).rounded(scale: 2)
                var object = SimJSONObject([
                    "lineNumber": .int(lineNumber),
                    "item": line["item"] ?? .object(SimJSONObject()),
                    "quantity": .decimal(quantity),
                    "unitPrice": .decimal(price),
                ])
                if let coding = line["splittableFieldSetGroupList"] { object["splittableFieldSetGroupList"] = coding }
                lines.append(.object(object))
            }
            let invoiceDay = header?["invoiceDate"]?.stringValue.flatMap(Timestamps.parseInstant) ?? Date()
            let changed = header?["lastUpdate"]?.stringValue.flatMap(Timestamps.parseInstant) ?? invoiceDay
            var supplier = SimJSONObject()
            for key in ["id", "name", "supplierNumber"] {
                if let value = header?["supplier"]?[key] { supplier[key] = value }
            }
            let document = SimJSONObject([
                "header": .object(
                    SimJSONObject([
                        "purchaseOrderId": .int(3_100_001 + offset),
                        "purchaseOrderNumber": .string(number),
                        "lastUpdate": .string(Timestamps.millis(changed.addingTimeInterval(-86_400))),
                        "status": .string("Open"),
                        "orderDate": .string(Timestamps.midnight(invoiceDay.addingTimeInterval(-14 * 86_400))),
                        "businessUnit": header?["businessUnit"] ?? .null,
                        "supplier": .object(supplier),
                        "total": .object(SimJSONObject(["currency": currency, "value": .decimal(total)])),
                    ])),
                "lineList": .object(SimJSONObject(["purchaseOrderLine": .array(lines)])),
            ])
            result.append(.object(document))
        }
        return result
    }
}

extension JaggaerSimulator {
    package static let purchaseOrdersPath = "/j1p/api/public/po/v1/purchaseorders"

    static let purchaseOrderHeaderKeys = [
        "purchaseOrderId", "purchaseOrderNumber", "lastUpdate", "status", "orderDate", "businessUnit", "total",
    ]

    /// The purchase-order routes, or nil for another path.
    func purchaseOrderRoute(_ path: String) -> RouteMatch? {
        if path == Self.purchaseOrdersPath { return RouteMatch(system: "jaggaer", endpoint: "purchaseorders") }
        if path.hasPrefix(Self.purchaseOrdersPath + "/"),
            !path.dropFirst(Self.purchaseOrdersPath.count + 1).contains("/")
        {
            return RouteMatch(system: "jaggaer", endpoint: "purchaseorders/{id}")
        }
        return nil
    }

    func handlePurchaseOrders(_ request: SimRequest, route: RouteMatch) -> SimResponse {
        func failure(_ status: Int, _ message: String) -> SimResponse {
            .json(status, .object(SimJSONObject(["returnCode": .int(status), "returnMessage": .string(message)])))
        }
        guard request.method == "GET" else { return failure(405, "Method \(request.method) not allowed") }
        if route.endpoint == "purchaseorders/{id}" {
            let idText = request.path.split(separator: "/").last.map(String.init) ?? ""
            guard let id = Int(idText), let order = purchaseOrders.order(id: id) else {
                return failure(404, "Purchase order \(idText) not found")
            }
            return .json(200, order)
        }
        let rows: [JaggaerListPager.Row] = purchaseOrders.all.compactMap { order in
            guard let id = order["header"]?["purchaseOrderId"]?.intValue,
                let changed = order["header"]?["lastUpdate"]?.stringValue.flatMap(Timestamps.parseInstant)
            else { return nil }
            var header = SimJSONObject()
            for key in Self.purchaseOrderHeaderKeys {
                if let value = order["header"]?[key] { header[key] = value }
            }
            if let supplier = order["header"]?["supplier"] {
                var reference = SimJSONObject()
                if let value = supplier["id"] { reference["id"] = value }
                if let value = supplier["supplierNumber"] { reference["supplierNumber"] = value }
                header["supplier"] = .object(reference)
            }
            return .init(id: id, lastUpdate: changed, item: .object(SimJSONObject(["header": .object(header)])))
        }
        let pager = JaggaerListPager(
            defaultPageSize: Self.defaultPageSize, maxPageSize: Self.maxPageSize, options: listOptions)
        switch pager.page(request, rows: rows, listKey: "purchaseOrderList", itemKey: "purchaseOrder") {
        case .success(let body): return .json(200, body)
        case .failure(let error): return failure(400, error.message)
        }
    }
}
