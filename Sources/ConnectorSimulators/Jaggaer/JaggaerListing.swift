import Foundation
import Synchronization

/// How the simulated JAGGAER list endpoints order and page their rows. Real tenants were seen to sort the invoice
/// list by `invoiceId` (the default); the other orders and the paging faults exist to test a poll against every
/// behaviour an unconfirmed API could have.
package enum JaggaerListOrder: String, Sendable, CaseIterable {
    /// Ascending by id.
    case invoiceId
    /// Ascending by (`lastUpdate`, id).
    case lastUpdate
    /// Newest change first, then descending id.
    case lastUpdateDescending = "lastUpdate-desc"
}

/// A list that does not honour its paging parameters, as a misconfigured parameter name would show.
package enum JaggaerPagingFault: String, Sendable, CaseIterable {
    case none
    /// Ignores the start parameter: always the first page, `startAt` 1 in the envelope.
    case ignoreStart
    /// Ignores the start parameter and echoes the asked `startAt` (no envelope hint; the rows repeat).
    case ignoreStartSilently
    /// Ignores the page-size parameter: pages of `defaultPageSize`.
    case ignorePageSize
}

/// The list behaviour of a simulated tenant (control: `POST /_sim/jaggaer/list` with
/// `{"order": "lastUpdate", "pagingFault": "ignoreStart"}`).
package final class JaggaerListOptions: Sendable {
    private struct State {
        var order = JaggaerListOrder.invoiceId
        var fault = JaggaerPagingFault.none
    }
    private let state = Mutex(State())

    package init() {}

    package var order: JaggaerListOrder {
        get { state.withLock { $0.order } }
        set { state.withLock { $0.order = newValue } }
    }

    package var pagingFault: JaggaerPagingFault {
        get { state.withLock { $0.fault } }
        set { state.withLock { $0.fault = newValue } }
    }

    /// The query parameter that asks for an order (UNCONFIRMED name), e.g. `orderBy=lastUpdate`.
    package static let orderParameter = "orderBy"
}

/// The list item of a real tenant carries a SPARSE header: ids, numbers, dates, statuses, totals and the
/// supplier's id and number (reference §1.5/1.6: no addresses, terms, segments or supplier contacts).
enum JaggaerSparseHeader {
    static let invoiceKeys = [
        "invoiceId", "invoiceNumber", "supplierInvoiceNumber", "invoiceType", "invoiceLineType", "invoiceDate",
        "invoiceCreateDate", "dueDate", "accountingDate", "lastUpdate", "paymentStatus", "workflowStatus",
        "matchStatus", "validationStatus", "businessUnit", "total", "taxCharge1", "taxCharge2", "shippingCharge",
        "handlingCharge",
    ]

    static func sparse(_ header: SimJSON?, keys: [String]) -> SimJSON {
        var object = SimJSONObject()
        for key in keys {
            if let value = header?[key] { object[key] = value }
        }
        if let supplier = header?["supplier"] {
            var reference = SimJSONObject()
            if let id = supplier["id"] { reference["id"] = id }
            if let number = supplier["supplierNumber"] { reference["supplierNumber"] = number }
            object["supplier"] = .object(reference)
        }
        return .object(object)
    }
}

/// One page of a JAGGAER list: the rows changed since `lastUpdateFrom` (and matching the filters), ordered as
/// the tenant's options say, paged by 1-based `startAt` and `maxRecords`, in the common envelope.
struct JaggaerListPager {
    var defaultPageSize: Int
    var maxPageSize: Int
    var options: JaggaerListOptions

    struct Row {
        var id: Int
        var lastUpdate: Date
        var item: SimJSON
    }

    /// The page, or an error message for a 400.
    func page(_ request: SimRequest, rows: [Row], listKey: String, itemKey: String) -> Result<SimJSON, ListError> {
        var startAt = 1
        var maxRecords = defaultPageSize
        if let text = request.queryValue("startAt") {
            guard let value = Int(text), value >= 1 else {
                return .failure(ListError("startAt must be a positive integer (1-based)"))
            }
            startAt = value
        }
        if let text = request.queryValue("maxRecords") {
            guard let value = Int(text), value >= 1 else {
                return .failure(ListError("maxRecords must be a positive integer"))
            }
            maxRecords = min(value, maxPageSize)
        }
        var order = options.order
        if let text = request.queryValue(JaggaerListOptions.orderParameter) {
            guard let asked = JaggaerListOrder(rawValue: text) else {
                let known = JaggaerListOrder.allCases.map(\.rawValue).joined(separator: ", ")
                return .failure(ListError("\(JaggaerListOptions.orderParameter) must be one of \(known)"))
            }
            order = asked
        }
        var from: Date?
        if let text = request.queryValue("lastUpdateFrom") {
            guard let date = Timestamps.parseInstant(text) else {
                return .failure(
                    ListError("lastUpdateFrom must be an ISO-8601 instant such as 2024-02-14T19:58:56.973Z"))
            }
            from = date
        }
        let matching = rows.filter { row in from.map { row.lastUpdate >= $0 } ?? true }.sorted { a, b in
            switch order {
            case .invoiceId: a.id < b.id
            case .lastUpdate: (a.lastUpdate, a.id) < (b.lastUpdate, b.id)
            case .lastUpdateDescending: (a.lastUpdate, a.id) > (b.lastUpdate, b.id)
            }
        }
        var answeredStart = startAt
        switch options.pagingFault {
        case .none: break
        case .ignoreStart:
            startAt = 1
            answeredStart = 1
        case .ignoreStartSilently: startAt = 1
        case .ignorePageSize: maxRecords = defaultPageSize
        }
        let items = matching.dropFirst(startAt - 1).prefix(maxRecords).map(\.item)
        let envelope = SimJSONObject([
            "returnCode": .int(0),
            "returnMessage": .string(""),
            "totRecords": .int(matching.count),
            "returnedRecords": .int(items.count),
            "startAt": .int(answeredStart),
            listKey: .object(SimJSONObject(pairs: [(itemKey, .array(Array(items)))])),
        ])
        return .success(.object(envelope))
    }

    struct ListError: Error {
        var message: String
        init(_ message: String) { self.message = message }
    }
}

extension JaggaerSimulator {
    /// `GET …/ji/v1/invoices`: sparse headers, ordered and paged per ``listOptions``; `workflowStatus` filters.
    func listInvoicePage(_ request: SimRequest) -> SimResponse {
        guard request.method == "GET" else {
            return .json(
                405,
                .object(SimJSONObject(["returnCode": .int(405), "returnMessage": .string("Method not allowed")])))
        }
        let status = request.queryValue("workflowStatus")
        let rows: [JaggaerListPager.Row] = invoices.all.compactMap { invoice in
            if let status, invoice["header"]?["workflowStatus"]?.stringValue != status { return nil }
            let key = JaggaerInvoiceStore.sortKey(of: invoice)
            let header = JaggaerSparseHeader.sparse(invoice["header"], keys: JaggaerSparseHeader.invoiceKeys)
            return .init(
                id: key.invoiceId, lastUpdate: key.lastUpdate,
                item: .object(SimJSONObject(["header": header])))
        }
        let pager = JaggaerListPager(
            defaultPageSize: Self.defaultPageSize, maxPageSize: Self.maxPageSize, options: listOptions)
        switch pager.page(request, rows: rows, listKey: "jiinvoiceList", itemKey: "jiinvoice") {
        case .success(let body): return .json(200, body)
        case .failure(let error):
            return .json(
                400, .object(SimJSONObject(["returnCode": .int(400), "returnMessage": .string(error.message)])))
        }
    }

    /// Control routes of the list behaviour: `POST /_sim/jaggaer/list` (`order`, `pagingFault`) and
    /// `POST /_sim/invoices/touch` (`{"invoiceId": 7}`: bumps the invoice's `lastUpdate` to now, as an edit
    /// in JAGGAER would, e.g. in the middle of a poll cycle).
    func listControl(_ request: SimRequest) -> SimResponse? {
        guard request.method == "POST" else { return nil }
        switch request.path {
        case "/_sim/jaggaer/list":
            guard let body = try? request.jsonBody() else { return controlError("the body must be JSON") }
            if let text = body["order"]?.stringValue {
                guard let order = JaggaerListOrder(rawValue: text) else { return controlError("unknown order \(text)") }
                listOptions.order = order
            }
            if let text = body["pagingFault"]?.stringValue {
                guard let fault = JaggaerPagingFault(rawValue: text) else {
                    return controlError("unknown pagingFault \(text)")
                }
                listOptions.pagingFault = fault
            }
            return .json(
                200,
                .object(
                    SimJSONObject([
                        "order": .string(listOptions.order.rawValue),
                        "pagingFault": .string(listOptions.pagingFault.rawValue),
                    ])))
        case "/_sim/invoices/touch":
            guard let id = (try? request.jsonBody())?["invoiceId"]?.intValue else {
                return controlError("the body must be {\"invoiceId\": <int>}")
            }
            guard let document = invoices.update(invoiceId: id, { _ in }) else {
                return controlError("no invoice \(id)", status: 404)
            }
            return .json(200, document["header"] ?? .null)
        default:
            return nil
        }
    }
}

extension SimJSON {
    /// Sets one field of a JAGGAER document's `header` (tests and control routes shape invoices with it).
    package mutating func setHeader(_ key: String, _ value: SimJSON) {
        guard case .object(var root) = self, case .object(var header)? = root["header"] else { return }
        header[key] = value
        root["header"] = .object(header)
        self = .object(root)
    }
}
