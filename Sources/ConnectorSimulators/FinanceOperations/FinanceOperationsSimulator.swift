import Foundation
import Synchronization

/// One Dynamics 365 Finance & Operations environment's OData service, `/data/{EntitySet}` (reference §2):
///
/// - Bearer tokens from the shared Entra simulator, issued for this environment's own resource
///   (`http(s)://<host>/.default`); a token for another resource is refused. A valid token of an app that is not
///   registered under System administration > Setup > Microsoft Entra applications gets 401 (reference §2.1).
/// - Company scoping: company-specific entities show the app user's default company unless `cross-company=true`;
///   a write without `dataAreaId` lands in the default company.
/// - Keys in URLs must name every key field (`VendorsV2(dataAreaId='usmf',VendorAccountNumber='V1')`).
/// - Server-driven paging, `pageSize` (10,000) records a page with an absolute `@odata.nextLink`; `$expand` on the
///   first level only; `in`, `has` and functions refused; enum members only in the
///   `Microsoft.Dynamics.DataEntities.<Enum>'<Member>'` syntax and only with `eq`/`ne`.
/// - Pending vendor invoices: header first (F&O assigns `HeaderReference`), then lines referencing it; an unknown
///   vendor, procurement category or PO line, a missing `Currency`, or an invoice number the vendor already used is
///   refused with the `innererror` infolog shape (reference §2.7).
/// - Service protection: over the request budget, 429 with `Retry-After` in seconds that grows while the client
///   keeps sending (reference §2.5).
package final class FinanceOperationsSimulator: Sendable {
    package let store = FOStore()
    package let counters = RequestCounters()
    package let faults = FaultInjector()
    package let clock: SimulatorClock
    /// Business events to an HTTPS endpoint (FOBusinessEvents.swift).
    package let businessEvents: FOBusinessEvents
    let tokens: TokenRegistry
    /// The app user's default company.
    package let defaultCompany: String
    /// Records per page (F&O: 10,000); tests lower it to page across `@odata.nextLink` with few records.
    package var pageSize: Int { pageLimit.withLock { $0 } }
    private let pageLimit: Mutex<Int>
    private let registered: Mutex<Set<String>>
    private let resource = Mutex<String?>(nil)
    private let limiter: SlidingWindowRateLimiter
    /// Consecutive throttled requests per token: each makes the next `Retry-After` longer.
    private let strikes = Mutex<[String: Int]>([:])

    package init(
        tokens: TokenRegistry, registeredClients: Set<String>, defaultCompany: String, clock: SimulatorClock,
        pageSize: Int = 10_000, rateLimit: Int = 6_000, rateWindow: TimeInterval = 300
    ) {
        self.tokens = tokens
        self.registered = Mutex(registeredClients)
        self.defaultCompany = defaultCompany
        self.clock = clock
        self.pageLimit = Mutex(pageSize)
        self.limiter = SlidingWindowRateLimiter(limit: rateLimit, window: rateWindow, clock: clock)
        self.businessEvents = FOBusinessEvents(counters: counters, clock: clock)
    }

    /// The resource tokens must be issued for: the environment's URL (set once the server's port is known).
    package func setResource(_ url: String) { resource.withLock { $0 = url } }

    /// Registers or unregisters an Entra app (System administration > Setup > Microsoft Entra applications).
    package func setRegistered(_ clientId: String, _ registered: Bool) {
        _ = self.registered.withLock { registered ? $0.insert(clientId).inserted : $0.remove(clientId) != nil }
    }

    /// Changes the records per page.
    package func setPageSize(_ size: Int) { pageLimit.withLock { $0 = max(1, size) } }

    /// Changes the request budget (per token, sliding window).
    package func limit(requests: Int, window: TimeInterval) { limiter.configure(limit: requests, window: window) }

    /// Pending vendor invoice headers of a company for a vendor and invoice number, read from the store directly.
    package func pendingInvoices(company: String, vendor: String, invoiceNumber: String) -> Int {
        store.rows(.invoiceHeaders).filter {
            FOEntity.text($0["dataAreaId"]).lowercased() == company.lowercased()
                && FOEntity.text($0["VendorAccount"]) == vendor && FOEntity.text($0["InvoiceNumber"]) == invoiceNumber
        }.count
    }
}

extension FinanceOperationsSimulator: SimulatorApp {
    var name: String { "financeOperations" }

    func route(_ request: SimRequest) -> RouteMatch? {
        guard request.path.hasPrefix("/data/") else { return nil }
        let rest = String(request.path.dropFirst("/data/".count))
        if rest == "$metadata" { return RouteMatch(system: "fo", endpoint: "$metadata") }
        let set = rest.split(separator: "(", maxSplits: 1).first.map(String.init) ?? rest
        guard FOEntity.named(set) != nil else { return nil }
        return RouteMatch(system: "fo", endpoint: rest.contains("(") ? "\(set)({key})" : set)
    }

    func handle(_ request: SimRequest, route: RouteMatch) async -> SimResponse {
        do {
            let token = try authorize(request)
            try throttle(token)
            if route.endpoint == "$metadata" {
                return SimResponse(status: 200, headers: [("Content-Type", "application/xml")])
            }
            let rest = String(request.path.dropFirst("/data/".count))
            let set = rest.split(separator: "(", maxSplits: 1).first.map(String.init) ?? rest
            guard let entity = FOEntity.named(set) else { return notFound(request) }
            let keyText = rest.dropFirst(set.count)
            if entity.set == FOEntity.vendorTransactions.set, request.method != "GET" {
                // Posted transactions are F&O's own: read-only over OData.
                throw FOError(status: 405, message: "The HTTP method '\(request.method)' is not allowed here.")
            }
            switch (request.method, keyText.isEmpty) {
            case ("GET", true): return try collection(entity, request)
            case ("POST", true): return try create(entity, request)
            case ("GET", false):
                let key = try Self.parseKey(String(keyText), entity: entity)
                guard let row = store.row(entity, key: key) else { throw Self.missing(entity) }
                return .json(200, .object(row))
            case ("DELETE", false):
                let key = try Self.parseKey(String(keyText), entity: entity)
                guard store.delete(entity, key: key) else { throw Self.missing(entity) }
                return .empty(204)
            default:
                throw FOError(status: 405, message: "The HTTP method '\(request.method)' is not allowed here.")
            }
        } catch let error as FOError {
            return error.response
        } catch {
            return FOError(status: 500, message: "An error has occurred.", inner: "\(error)").response
        }
    }

    static func missing(_ entity: FOEntity) -> FOError {
        FOError(status: 404, message: "No resource was found for the key of \(entity.set).")
    }

    /// A valid token for this environment, of a registered app.
    private func authorize(_ request: SimRequest) throws(FOError) -> String {
        let header = request.header("Authorization") ?? ""
        guard header.hasPrefix("Bearer "), let holder = tokens.holder(of: String(header.dropFirst(7))),
            holder.audience == nil || holder.audience == resource.withLock({ $0 })
        else {
            throw FOError(status: 401, message: "", inner: nil, headers: [("WWW-Authenticate", "Bearer")])
        }
        guard registered.withLock({ $0.contains(holder.clientId) }) else {
            // The documented symptom: 401 with a P3P header, no useful body (reference §2.7).
            throw FOError(
                status: 401, message: "", inner: nil,
                headers: [
                    (
                        "CP",
                        "No P3P policy defined. Read the Microsoft privacy statement at https://go.microsoft.com/fwlink/?LinkId=271135"
                    )
                ])
        }
        return String(header.dropFirst(7))
    }

    private func throttle(_ token: String) throws(FOError) {
        guard let wait = limiter.admit(token) else {
            strikes.withLock { $0[token] = 0 }
            return
        }
        let strike = strikes.withLock { map -> Int in
            map[token, default: 0] += 1
            return map[token]!
        }
        throw FOError(
            status: 429, message: "Too Many Requests",
            inner: "Request was throttled: the user-based service protection limit was exceeded.",
            headers: [("Retry-After", String(wait * strike))])
    }

    // MARK: Reads

    private func collection(_ entity: FOEntity, _ request: SimRequest) throws(FOError) -> SimResponse {
        let supported: Set<String> = [
            "$filter", "$select", "$top", "$skip", "$count", "$expand", "$orderby", "$format",
        ]
        for (name, _) in request.query where name.hasPrefix("$") && !supported.contains(name) {
            throw FOError.badRequest("The query parameter '\(name)' is not supported.")
        }
        var rows = store.rows(entity)
        let crossCompany = request.queryValue("cross-company")?.lowercased() == "true"
        if entity.companySpecific, !crossCompany {
            rows = rows.filter { FOEntity.text($0["dataAreaId"]).lowercased() == defaultCompany.lowercased() }
        }
        if let text = request.queryValue("$filter"), !text.trimmingCharacters(in: .whitespaces).isEmpty {
            let filter = try FOFilter.parse(text, fields: entity.fields)
            rows = rows.filter(filter.matches)
        }
        rows.sort { entity.key(of: $0) < entity.key(of: $1) }
        if let text = request.queryValue("$orderby"), !text.trimmingCharacters(in: .whitespaces).isEmpty {
            let terms = try Self.orderTerms(text, entity: entity)
            rows.sort { a, b in
                for (field, descending) in terms {
                    let order = Self.compare(a[field], b[field], numeric: entity.fields[field] == .number)
                    if order != .orderedSame {
                        return descending ? order == .orderedDescending : order == .orderedAscending
                    }
                }
                return entity.key(of: a) < entity.key(of: b)
            }
        }
        let total = rows.count
        func number(_ name: String) throws(FOError) -> Int? {
            guard let text = request.queryValue(name) else { return nil }
            guard let value = Int(text), value >= 0 else {
                throw FOError.badRequest("Invalid value '\(text)' for \(name).")
            }
            return value
        }
        let skip = try number("$skip") ?? 0
        let top = try number("$top")
        var window = Array(rows.dropFirst(skip))
        if let top { window = Array(window.prefix(top)) }
        let pageSize = self.pageSize
        let page = Array(window.prefix(pageSize))
        var expanded: [SimJSONObject] = page
        if let expand = request.queryValue("$expand"), !expand.isEmpty {
            guard let navigation = entity.navigation, expand == navigation.name,
                let target = FOEntity.named(navigation.target)
            else {
                throw FOError.badRequest(
                    "$expand '\(expand)' is not supported: only a first-level navigation property of \(entity.set).")
            }
            let children = store.rows(target)
            expanded = page.map { row in
                var row = row
                let matching = children.filter { child in
                    navigation.join.allSatisfy {
                        FOEntity.text(child[$0]).lowercased() == FOEntity.text(row[$0]).lowercased()
                    }
                }
                row[navigation.name] = .array(matching.map { SimJSON.object($0) })
                return row
            }
        }
        if let select = request.queryValue("$select"), !select.isEmpty {
            let fields = select.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
            for field in fields where entity.fields[field] == nil && field != entity.navigation?.name {
                throw FOError.badRequest("Could not find a property named '\(field)' on type '\(entity.typeName)'.")
            }
            expanded = expanded.map { row in
                SimJSONObject(
                    pairs: row.filter {
                        fields.contains($0.key) || $0.key == entity.navigation?.name || $0.key == "@odata.etag"
                    }
                    .map { ($0.key, $0.value) })
            }
        }
        var body = SimJSONObject(["@odata.context": .string("\(baseURL(request))/data/$metadata#\(entity.set)")])
        if request.queryValue("$count") == "true" { body["@odata.count"] = .int(total) }
        body["value"] = .array(expanded.map { SimJSON.object($0) })
        let consumed = skip + page.count
        if page.count == pageSize, window.count > pageSize {
            var query = request.query.filter { $0.name != "$skip" && $0.name != "$top" }
            query.append(("$skip", String(consumed)))
            if let top { query.append(("$top", String(top - page.count))) }
            let encoded = query.map { "\(Self.escape($0.name))=\(Self.escape($0.value))" }.joined(separator: "&")
            body["@odata.nextLink"] = .string("\(baseURL(request))/data/\(entity.set)?\(encoded)")
        }
        return .json(200, .object(body))
    }

    /// `$orderby=Field [asc|desc], …` over the entity's own fields.
    static func orderTerms(_ text: String, entity: FOEntity) throws(FOError) -> [(String, Bool)] {
        var terms: [(String, Bool)] = []
        for term in text.split(separator: ",") {
            let words = term.split(separator: " ").map(String.init)
            guard let field = words.first, words.count <= 2, entity.fields[field] != nil,
                words.count == 1 || ["asc", "desc"].contains(words[1].lowercased())
            else {
                throw FOError.badRequest(
                    "Could not find a property named '\(term.trimmingCharacters(in: .whitespaces))' on type '\(entity.typeName)'."
                )
            }
            terms.append((field, words.count == 2 && words[1].lowercased() == "desc"))
        }
        return terms
    }

    /// Numbers by value, everything else as text without regard to case (SQL Server's collation).
    static func compare(_ a: SimJSON?, _ b: SimJSON?, numeric: Bool) -> ComparisonResult {
        if numeric {
            let x = a?.decimalValue ?? Decimal(string: FOEntity.text(a)) ?? 0
            let y = b?.decimalValue ?? Decimal(string: FOEntity.text(b)) ?? 0
            return x < y ? .orderedAscending : x > y ? .orderedDescending : .orderedSame
        }
        let x = FOEntity.text(a).lowercased()
        let y = FOEntity.text(b).lowercased()
        return x < y ? .orderedAscending : x > y ? .orderedDescending : .orderedSame
    }

    private func baseURL(_ request: SimRequest) -> String {
        request.authority.map { "http://\($0)" } ?? (resource.withLock { $0 } ?? "")
    }

    static func escape(_ text: String) -> String {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~$'(),")
        return text.addingPercentEncoding(withAllowedCharacters: allowed) ?? text
    }

    /// `(f1='a',f2=1)` → the row key; every key field must be named, each once.
    static func parseKey(_ text: String, entity: FOEntity) throws(FOError) -> String {
        guard text.hasPrefix("("), text.hasSuffix(")") else { throw FOError.badRequest("Bad key syntax '\(text)'.") }
        let inner = Array(text.dropFirst().dropLast())
        var values: [String: String] = [:]
        var i = 0
        while i < inner.count {
            var name = ""
            while i < inner.count, inner[i] != "=" {
                name.append(inner[i])
                i += 1
            }
            guard i < inner.count else {
                throw FOError.badRequest(
                    "All fields in the entity key must be provided: \(entity.keys.joined(separator: ", ")).")
            }
            i += 1
            var value = ""
            if i < inner.count, inner[i] == "'" {
                i += 1
                var closed = false
                while i < inner.count {
                    if inner[i] == "'" {
                        if i + 1 < inner.count, inner[i + 1] == "'" {
                            value.append("'")
                            i += 2
                            continue
                        }
                        closed = true
                        i += 1
                        break
                    }
                    value.append(inner[i])
                    i += 1
                }
                guard closed else { throw FOError.badRequest("Unterminated key literal in '\(text)'.") }
            } else {
                while i < inner.count, inner[i] != "," {
                    value.append(inner[i])
                    i += 1
                }
                value = Decimal(string: value).map { "\($0)" } ?? value
            }
            guard entity.keys.contains(name), values[name] == nil else {
                throw FOError.badRequest("'\(name)' is not a key field of \(entity.set).")
            }
            values[name] = value
            if i < inner.count {
                guard inner[i] == "," else { throw FOError.badRequest("Bad key syntax '\(text)'.") }
                i += 1
            }
        }
        guard Set(values.keys) == Set(entity.keys) else {
            throw FOError.badRequest(
                "All fields in the entity key must be provided: \(entity.keys.joined(separator: ", ")).")
        }
        return entity.keys.map { values[$0]!.lowercased() }.joined(separator: "\u{1F}")
    }

    // MARK: Writes

    private func create(_ entity: FOEntity, _ request: SimRequest) throws(FOError) -> SimResponse {
        guard entity.set == FOEntity.invoiceHeaders.set || entity.set == FOEntity.invoiceLines.set else {
            throw FOError(status: 405, message: "\(entity.set) is read-only in this simulator.")
        }
        let body: SimJSON
        do { body = try request.jsonBody() } catch { throw FOError.badRequest("The request body is not JSON.") }
        guard var row = body.objectValue else { throw FOError.badRequest("The request body must be a JSON object.") }
        for (field, _) in row where entity.fields[field] == nil && !field.hasPrefix("@odata.") {
            throw FOError.badRequest(
                "The property '\(field)' does not exist on type 'Microsoft.Dynamics.DataEntities.\(entity.set.dropLast())'."
            )
        }
        if FOEntity.text(row["dataAreaId"]).isEmpty { row["dataAreaId"] = .string(defaultCompany) }
        let area = FOEntity.text(row["dataAreaId"]).lowercased()
        func inCompany(_ rows: [SimJSONObject]?) -> [SimJSONObject] {
            (rows ?? []).filter { FOEntity.text($0["dataAreaId"]).lowercased() == area }
        }
        let stored: SimJSONObject
        if entity.set == FOEntity.invoiceHeaders.set {
            stored = try store.insert(entity, row) { (row, all, _, reuse) throws(FOError) -> SimJSONObject in
                let number = FOEntity.text(row["InvoiceNumber"])
                guard !number.isEmpty else {
                    throw FOError.writeFailed(entity.typeName, "Field 'Invoice' must be filled in.")
                }
                let vendorNumber = FOEntity.text(row["VendorAccount"] ?? row["InvoiceAccount"])
                guard
                    let vendor = inCompany(all[FOEntity.vendors.set]).first(where: {
                        FOEntity.text($0["VendorAccountNumber"]).lowercased() == vendorNumber.lowercased()
                    })
                else {
                    throw FOError.writeFailed(
                        entity.typeName, "Vendor account \(vendorNumber) does not exist in company \(area).")
                }
                if ["All", "Invoice"].contains(FOEntity.text(vendor["OnHoldStatus"])) {
                    throw FOError.writeFailed(
                        entity.typeName, "Vendor \(vendorNumber) is on hold for all transactions.")
                }
                if !reuse,
                    inCompany(all[FOEntity.invoiceHeaders.set]).contains(where: {
                        FOEntity.text($0["VendorAccount"]).lowercased() == vendorNumber.lowercased()
                            && FOEntity.text($0["InvoiceNumber"]).lowercased() == number.lowercased()
                    })
                {
                    throw FOError.writeFailed(
                        entity.typeName, "Invoice \(number) is already used for vendor \(vendorNumber).")
                }
                return row
            }
        } else {
            stored = try store.insert(entity, row) { (row, all, categories, _) throws(FOError) -> SimJSONObject in
                let reference = FOEntity.text(row["HeaderReference"])
                guard
                    let header = inCompany(all[FOEntity.invoiceHeaders.set]).first(where: {
                        FOEntity.text($0["HeaderReference"]).lowercased() == reference.lowercased()
                    })
                else {
                    throw FOError.writeFailed(
                        entity.typeName, "The vendor invoice header \(reference) does not exist in company \(area).")
                }
                guard !FOEntity.text(row["Currency"]).isEmpty else {
                    throw FOError.writeFailed(entity.typeName, "Field 'Currency' must be filled in.")
                }
                guard row["InvoiceLineNumber"]?.decimalValue != nil else {
                    throw FOError.writeFailed(entity.typeName, "Field 'Line number' must be filled in.")
                }
                let order = FOEntity.text(row["PurchaseOrder"])
                if !order.isEmpty {
                    guard
                        let purchaseOrder = inCompany(all[FOEntity.purchaseOrders.set]).first(where: {
                            FOEntity.text($0["PurchaseOrderNumber"]).lowercased() == order.lowercased()
                        }),
                        FOEntity.text(purchaseOrder["OrderVendorAccountNumber"]).lowercased()
                            == FOEntity.text(header["VendorAccount"]).lowercased()
                    else {
                        throw FOError.writeFailed(
                            entity.typeName, "Purchase order \(order) does not exist for the invoice's vendor.")
                    }
                    let line = FOEntity.text(row["PurchLineNumber"])
                    guard
                        inCompany(all[FOEntity.purchaseOrderLines.set]).contains(where: {
                            FOEntity.text($0["PurchaseOrderNumber"]).lowercased() == order.lowercased()
                                && FOEntity.text($0["LineNumber"]) == line
                        })
                    else {
                        throw FOError.writeFailed(entity.typeName, "Purchase order \(order) has no line \(line).")
                    }
                } else {
                    let category = FOEntity.text(row["ProcurementCategoryName"])
                    let item = FOEntity.text(row["ItemNumber"])
                    guard item.isEmpty ? categories.contains(category) : true else {
                        throw FOError.writeFailed(
                            entity.typeName,
                            category.isEmpty
                                ? "An item number, a procurement category or a purchase order line must be given."
                                : "Procurement category \(category) does not exist.")
                    }
                }
                return row
            }
        }
        return .json(201, .object(stored), headers: [("Location", "\(baseURL(request))/data/\(entity.set)")])
    }

    func faultResponse(route: RouteMatch, status: Int, retryAfter: Int?, code: String?) -> SimResponse {
        var error =
            status == 429
            ? FOError(status: 429, message: "Too Many Requests", inner: "Request was throttled.")
            : FOError(
                status: status, message: "An error has occurred.", inner: code ?? "Simulated failure (HTTP \(status)).")
        if let retryAfter { error.headers.append(("Retry-After", String(retryAfter))) }
        if status == 401 { error.inner = nil }
        return error.response
    }

    func notFound(_ request: SimRequest) -> SimResponse {
        FOError(status: 404, message: "No HTTP resource was found that matches the request URI.").response
    }

    func expireTokens() { tokens.expireAll() }

    func rotateCredentials(_ credentials: ClientCredentials) { tokens.rotate(to: credentials) }

    func control(_ request: SimRequest) async -> SimResponse? {
        switch (request.method, request.path) {
        case ("POST", "/_sim/fo/apps"):
            guard let body = try? request.jsonBody(), let clientId = body["clientId"]?.stringValue,
                let flag = body["registered"]?.boolValue
            else { return controlError("expected {\"clientId\": \"...\", \"registered\": true|false}") }
            setRegistered(clientId, flag)
            return .empty(204)
        case ("POST", "/_sim/fo/businessevents/endpoint"):
            // {"url": "https://…/webhooks/{connection}/financeOperations?code=…", "seed": 7}
            guard let body = try? request.jsonBody(), let url = body["url"]?.stringValue else {
                return controlError("expected {\"url\": \"...\", \"seed\": 1}")
            }
            businessEvents.configure(endpoint: url, seed: body["seed"]?.intValue.map { UInt64(max($0, 0)) })
            return .empty(204)
        case ("POST", "/_sim/fo/businessevents/purchaseorderconfirmed"):
            // {"numbers": ["PO1"], "company": "usmf", "duplicates": 0.5, "reorder": true, "seed": 7}: confirms each
            // purchase order and delivers its event.
            guard let body = try? request.jsonBody(), let numbers = body["numbers"]?.arrayValue else {
                return controlError(
                    "expected {\"numbers\": [...], \"duplicates\": 0.5, \"reorder\": true, \"seed\": 1}")
            }
            let company = body["company"]?.stringValue ?? defaultCompany
            var events: [SimJSONObject] = []
            for number in numbers.compactMap(\.stringValue) {
                guard let event = businessEvents.confirm(store, company: company, number: number) else {
                    return controlError("no purchase order \(number) in company \(company)")
                }
                events.append(event)
            }
            let report = await businessEvents.deliver(
                events,
                duplicates: body["duplicates"]?.decimalValue.map { NSDecimalNumber(decimal: $0).doubleValue } ?? 0,
                reorder: body["reorder"]?.boolValue ?? false, seed: UInt64(max(body["seed"]?.intValue ?? 1, 0)))
            return .json(200, report.json)
        case ("POST", "/_sim/fo/pay"):
            // {"vendorNumber", "vendorInvoiceNumber", "company"?, "amount"?}: posts the pending invoice if it is not
            // yet, then pays it (in full, or `amount` of it), as AP would in F&O.
            guard let (vendor, number, amount, body) = request.payControl() else {
                return controlError(SimRequest.payControlUsage)
            }
            let company = body["company"]?.stringValue ?? defaultCompany
            guard
                let id = store.pay(
                    company: company, vendor: vendor, invoiceNumber: number, amount: amount,
                    today: Timestamps.day(clock.now()))
            else {
                return controlError("no invoice \(number) of vendor \(vendor) in company \(company)", status: 404)
            }
            return .json(200, .object(SimJSONObject(["RecId": .int(Int(id))])))
        case ("POST", "/_sim/fo/businessevents/resend"):
            return .json(200, await businessEvents.resendErrorLog().json)
        default:
            return nil
        }
    }
}
