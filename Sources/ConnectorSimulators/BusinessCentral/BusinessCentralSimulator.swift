import Foundation

/// Dynamics 365 Business Central online, API v2.0, for one tenant and environment.
///
/// Base path `/v2.0/{tenantId}/{environmentName}/api/v2.0` (also `/v2.0/{environmentName}/api/v2.0`).
/// Requests need a bearer token issued by the Entra simulator (shared ``TokenRegistry``). Counters are keyed
/// `bc <METHOD> <template>` where the template is the path below the company, keys replaced by `({id})`,
/// e.g. `bc POST purchaseInvoices`, `bc GET purchaseInvoices({id})/purchaseInvoiceLines`,
/// `bc POST purchaseInvoices({id})/Microsoft.NAV.post`, `bc GET companies`. Webhook subscriptions are not
/// company-scoped: `bc POST subscriptions`, `bc PATCH subscriptions({id})`; calls to subscribers are counted as
/// `bc handshake <status>` and `bc notify <status>` (``BCWebhooks``).
package final class BusinessCentralSimulator: Sendable {
    package let tenantId: String
    package let environmentName: String
    package let store: BusinessCentralStore
    /// The Entra simulator's tokens: the only ones accepted here.
    package let tokens: TokenRegistry
    package let rateLimiter: SlidingWindowRateLimiter
    package let counters = RequestCounters()
    package let faults = FaultInjector()
    package let clock: SimulatorClock
    /// Webhook subscriptions of this environment and their notifications.
    package let webhooks: BCWebhooks

    /// - Parameters:
    ///   - rateLimit: requests per token per `rateWindow` seconds (BC online: 6,000 per 5 minutes).
    package init(
        tenantId: String,
        environmentName: String,
        tokens: TokenRegistry,
        clock: SimulatorClock,
        rateLimit: Int = 6_000,
        rateWindow: TimeInterval = 300
    ) {
        self.tenantId = tenantId
        self.environmentName = environmentName
        self.tokens = tokens
        self.clock = clock
        self.store = BusinessCentralStore(clock: clock)
        self.rateLimiter = SlidingWindowRateLimiter(limit: rateLimit, window: rateWindow, clock: clock)
        self.webhooks = BCWebhooks(clock: clock, counters: counters)
        store.setObserver(webhooks)
    }
}

/// A parsed API v2.0 URL.
struct BCPath {
    struct Segment {
        var name: String
        var key: String?
    }

    var tenant: String?
    var environment: String
    /// Segments after `api/v2.0/`.
    var segments: [Segment]
    var companyId: String?
    /// Segments below the company.
    var entitySegments: [Segment]
    var template: String

    static func parse(_ path: String, query: [(name: String, value: String)]) -> BCPath? {
        var parts = path.split(separator: "/", omittingEmptySubsequences: true).map(String.init)
        guard parts.first == "v2.0" else { return nil }
        parts.removeFirst()
        var tenant: String?
        let environment: String
        var analytics = false
        // `…/api/v2.0/…` (the standard API) or `…/api/microsoft/analytics/v1.0/…` (the Analytics API).
        func apiLength(at index: Int) -> Int? {
            guard parts.count > index, parts[index] == "api" else { return nil }
            if parts.count > index + 1, parts[index + 1] == "v2.0" { return 2 }
            if parts.count > index + 3, parts[index + 1] == "microsoft", parts[index + 2] == "analytics",
                parts[index + 3] == "v1.0"
            {
                analytics = true
                return 4
            }
            return nil
        }
        if let length = apiLength(at: 1) {
            environment = parts[0]
            parts.removeFirst(1 + length)
        } else if let length = apiLength(at: 2) {
            tenant = parts[0]
            environment = parts[1]
            parts.removeFirst(2 + length)
        } else {
            return nil
        }
        let segments = parts.map { part -> Segment in
            guard let open = part.firstIndex(of: "("), part.hasSuffix(")") else { return Segment(name: part, key: nil) }
            var key = String(part[part.index(after: open)..<part.index(before: part.endIndex)])
            if key.hasPrefix("id=") { key.removeFirst(3) }
            if key.hasPrefix("'"), key.hasSuffix("'"), key.count >= 2 { key = String(key.dropFirst().dropLast()) }
            return Segment(name: String(part[..<open]), key: key)
        }
        var companyId: String?
        var entitySegments = segments
        if let first = segments.first, first.name == "companies", let key = first.key, segments.count > 1 {
            companyId = key.lowercased()
            entitySegments = Array(segments.dropFirst())
        } else if let company = query.first(where: { $0.name == "company" })?.value,
            segments.first?.name != "companies"
        {
            companyId = company
        }
        var template = entitySegments.map { $0.key == nil ? $0.name : "\($0.name)({id})" }.joined(separator: "/")
        if analytics { template = "analytics:" + template }
        return BCPath(
            tenant: tenant, environment: environment, segments: segments, companyId: companyId,
            entitySegments: entitySegments, template: template.isEmpty ? "/" : template)
    }
}

extension BusinessCentralSimulator: SimulatorApp {
    var name: String { "business-central" }

    func route(_ request: SimRequest) -> RouteMatch? {
        guard let path = BCPath.parse(request.path, query: request.query) else { return nil }
        return RouteMatch(system: "bc", endpoint: path.template)
    }

    // MARK: Responses

    static let jsonContentType = "application/json; odata.metadata=minimal; odata.streaming=true; charset=utf-8"

    /// `{"error":{"code":…,"message":"…  CorrelationId:  <guid>."}}`, as Business Central formats errors.
    static func errorResponse(_ error: BCError) -> SimResponse {
        let correlation = UUID().uuidString.lowercased()
        var message = error.message
        if !message.hasSuffix(".") { message += "." }
        let body = SimJSONObject([
            "error": .object(
                SimJSONObject([
                    "code": .string(error.code),
                    "message": .string("\(message)  CorrelationId:  \(correlation)."),
                ]))
        ])
        return .json(
            error.status, .object(body), headers: [("OData-Version", "4.0")] + error.headers,
            contentType: jsonContentType)
    }

    static let unauthorized = BCError(
        401, "Authentication_InvalidCredentials", "The server has rejected the client credentials.",
        headers: [("WWW-Authenticate", "Bearer")])

    func faultResponse(route: RouteMatch, status: Int, retryAfter: Int?, code: String?) -> SimResponse {
        let headers: [(name: String, value: String)] = retryAfter.map { [("Retry-After", String($0))] } ?? []
        let defaultCode: String
        switch status {
        case 401: defaultCode = "Authentication_InvalidCredentials"
        case 404: defaultCode = "BadRequest_NotFound"
        case 408: defaultCode = "Request_Timeout"
        case 409: defaultCode = "Request_EntityChanged"
        case 429: defaultCode = "Application_TooManyRequests"
        case 503: defaultCode = "Internal_ServiceUnavailable"
        case 500...: defaultCode = "Internal_ServerError"
        default: defaultCode = "BadRequest"
        }
        return Self.errorResponse(
            BCError(status, code ?? defaultCode, "Simulated failure (HTTP \(status)).", headers: headers))
    }

    func notFound(_ request: SimRequest) -> SimResponse {
        Self.errorResponse(BCError(404, "BadRequest_NotFound", "Bad Request - Error in query syntax."))
    }

    func expireTokens() { tokens.expireAll() }

    func rotateCredentials(_ credentials: ClientCredentials) { tokens.rotate(to: credentials) }

    func runBackground(ready: @escaping @Sendable () -> Void) async { await webhooks.run(ready: ready) }

    func control(_ request: SimRequest) async -> SimResponse? {
        if request.path.hasPrefix("/_sim/bc/") { return webhookControl(request) }
        if let response = paymentControl(request) { return response }
        switch (request.method, request.path) {
        case ("GET", "/_sim/data/purchaseInvoices"):
            let items: [SimJSON] = store.allPurchaseInvoices.compactMap { entry in
                guard let company = store.company(id: entry.companyId) else { return nil }
                var object = entry.invoice.json(
                    select: nil,
                    expand: [
                        ExpandItem(
                            navigation: "purchaseInvoiceLines",
                            nested: [ExpandItem(navigation: "dimensionSetLines", nested: [])]),
                        ExpandItem(navigation: "dimensionSetLines", nested: []),
                    ],
                    company: company)
                object["companyId"] = .string(entry.companyId)
                return .object(object)
            }
            return .json(200, .object(SimJSONObject(["value": .array(items)])))
        case ("POST", "/_sim/ratelimit"):
            guard let body = try? request.jsonBody(), let limit = body["limit"]?.intValue else {
                return controlError("expected {\"limit\": N, \"windowSeconds\": S}")
            }
            let window = body["windowSeconds"]?.decimalValue.map { NSDecimalNumber(decimal: $0).doubleValue } ?? 300
            rateLimiter.configure(limit: limit, window: window)
            rateLimiter.reset()
            return .empty(204)
        default:
            return nil
        }
    }

    // MARK: Dispatch

    func handle(_ request: SimRequest, route: RouteMatch) async -> SimResponse {
        do throws(BCError) {
            let path = try authorize(request)
            if path.template.hasPrefix("analytics:") {
                // The Analytics API is read-only and has no subscriptions or batches.
                guard request.method == "GET", path.template == "analytics:vendorLedgerEntries" else {
                    throw BCError(404, "BadRequest_NotFound", "Bad Request - Error in query syntax.")
                }
            }
            if path.segments.first?.name == "subscriptions" {
                return try await subscriptions(request, path: path)
            }
            if path.segments.count == 1, path.segments.first?.name == "$batch" {
                return try batch(request, path: path)
            }
            let context = RequestContext(simulator: self, request: request, path: path)
            return try context.respond()
        } catch {
            return Self.errorResponse(error)
        }
    }

    /// `POST …/api/v2.0/$batch`, JSON batch format (reference §1.6): `{"requests":[{method,id,url,headers,body}]}`
    /// answered with `{"responses":[{id,status,headers,body}]}`, each inner failure with its own status and error
    /// body; at most 100 operations. Inner URLs are relative to `api/v2.0/`. Each operation is also counted as
    /// `bc-batch <METHOD> <template>` (outside the `bc ` request counters: it is not an HTTP request of its own).
    /// Without `Isolation: snapshot` each operation stands alone (no rollback of the others).
    func batch(_ request: SimRequest, path: BCPath) throws(BCError) -> SimResponse {
        guard request.method == "POST" else {
            throw BCError(
                405, "BadRequest_MethodNotAllowed", "'\(request.method)' requests for '$batch' are not allowed.")
        }
        guard let body = try? request.jsonBody(), let operations = body["requests"]?.arrayValue else {
            throw BCError.badBody("Invalid Request Body: a JSON batch needs a 'requests' array")
        }
        guard operations.count <= 100 else {
            // UNCONFIRMED code and wording; the limit of 100 operations is documented.
            throw BCError(400, "BadRequest", "A batch request can contain at most 100 operations.")
        }
        let prefix = "/v2.0/" + (path.tenant.map { $0 + "/" } ?? "") + path.environment + "/api/v2.0/"
        var responses: [SimJSON] = []
        for operation in operations {
            let id = operation["id"]?.stringValue ?? ""
            let method = (operation["method"]?.stringValue ?? "GET").uppercased()
            let url = operation["url"]?.stringValue ?? ""
            let parts = url.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
            let rawPath = prefix + (parts.first ?? "")
            var headers = request.headers.filter { $0.name.lowercased() == "authorization" }
            for (name, value) in operation["headers"]?.objectValue ?? SimJSONObject() {
                if let text = value.stringValue { headers.append((name, text)) }
            }
            let innerBody = operation["body"].map { $0.serialized() } ?? []
            let inner = SimRequest(
                method: method, path: rawPath.removingPercentEncoding ?? rawPath, rawPath: rawPath,
                rawQuery: parts.count > 1 ? parts[1] : "", headers: headers, body: innerBody,
                authority: request.authority)
            var response: SimResponse
            if let innerPath = BCPath.parse(inner.path, query: inner.query) {
                counters.increment("bc-batch \(method) \(innerPath.template)")
                do {
                    response = try RequestContext(simulator: self, request: inner, path: innerPath).respond()
                } catch {
                    response = Self.errorResponse(error)
                }
            } else {
                response = Self.errorResponse(
                    BCError(404, "BadRequest_NotFound", "Bad Request - Error in query syntax."))
            }
            var headerObject = SimJSONObject()
            for (name, value) in response.headers { headerObject[name] = .string(value) }
            responses.append(
                .object(
                    SimJSONObject([
                        "id": .string(id), "status": .int(response.status), "headers": .object(headerObject),
                        "body": response.body.isEmpty ? .null : ((try? SimJSON.parse(response.body)) ?? .null),
                    ])))
        }
        return .json(
            200, .object(SimJSONObject(["responses": .array(responses)])), headers: [("OData-Version", "4.0")],
            contentType: Self.jsonContentType)
    }

    private func bearerToken(_ request: SimRequest) -> String? {
        guard let authorization = request.header("Authorization"), authorization.lowercased().hasPrefix("bearer ")
        else {
            return nil
        }
        return String(authorization.dropFirst(7)).trimmingCharacters(in: .whitespaces)
    }

    /// Token, tenant, environment and rate limit: the checks every API call passes first.
    private func authorize(_ request: SimRequest) throws(BCError) -> BCPath {
        guard let token = bearerToken(request), tokens.isValid(token) else { throw Self.unauthorized }
        guard let path = BCPath.parse(request.path, query: request.query) else {
            throw BCError(404, "BadRequest_NotFound", "Bad Request - Error in query syntax.")
        }
        if let tenant = path.tenant, tenant.lowercased() != tenantId.lowercased() {
            // UNCONFIRMED: a token for another tenant is rejected as invalid credentials.
            throw Self.unauthorized
        }
        guard path.environment.lowercased() == environmentName.lowercased() else {
            // UNCONFIRMED code for an unknown environment name.
            throw BCError(404, "BadRequest_ResourceNotFound", "Environment '\(path.environment)' does not exist.")
        }
        if let retryAfter = rateLimiter.admit(token) {
            // UNCONFIRMED: the 429 error code; Retry-After is documented for 502/503 only.
            throw BCError(
                429, "Application_TooManyRequests",
                "The request was rejected because the user exceeded the number of allowed requests in the 5-minute window. Please retry later.",
                headers: [("Retry-After", String(retryAfter))])
        }
        return path
    }
}

/// Everything needed to answer one authenticated API request.
private struct RequestContext {
    let simulator: BusinessCentralSimulator
    let request: SimRequest
    let path: BCPath

    var store: BusinessCentralStore { simulator.store }

    var authority: String { request.authority ?? "127.0.0.1" }

    /// `http://host/v2.0/{tenant}/{env}/api/v2.0`.
    var apiBase: String {
        "http://\(authority)/v2.0/\(path.tenant ?? simulator.tenantId)/\(path.environment)/api/v2.0"
    }

    func contextURL(entity: Bool) -> String {
        let resource = path.segments.map { segment in segment.key.map { "\(segment.name)(\($0))" } ?? segment.name }
            .joined(separator: "/")
        return apiBase + "/$metadata#" + resource + (entity ? "/$entity" : "")
    }

    func respond() throws(BCError) -> SimResponse {
        let method = request.method
        let template = path.template
        guard let requested = path.companyId else {
            guard template.hasPrefix("companies") else {
                throw BCError(
                    400, "Internal_CompanyNotFound",
                    "Cannot process the request because the default company cannot be found. Specify a company in the URL, as companies({id})/\(template) or with ?company=."
                )
            }
            return try companies(template: template)
        }
        guard let companyId = store.resolveCompany(requested) else {
            throw BCError(
                404, "Internal_CompanyNotFound",
                "Cannot process the request because the company '\(requested)' cannot be found.")
        }
        let keys = path.entitySegments.compactMap(\.key)
        switch (method, template) {
        case ("GET", "vendors"): return try collection(companyId) { $0.vendors }
        case ("GET", "vendors({id})"):
            return try single(companyId) { $0.vendors.first { $0.id == keys[0].lowercased() } }
        case ("GET", "paymentTerms"): return try collection(companyId) { $0.paymentTerms }
        case ("GET", "paymentTerms({id})"):
            return try single(companyId) { $0.paymentTerms.first { $0.id == keys[0].lowercased() } }
        case ("GET", "accounts"): return try collection(companyId) { $0.accounts }
        case ("GET", "accounts({id})"):
            return try single(companyId) { $0.accounts.first { $0.id == keys[0].lowercased() } }
        case ("GET", "dimensions"): return try collection(companyId) { $0.dimensions }
        case ("GET", "dimensions({id})"):
            return try single(companyId) { $0.dimensions.first { $0.id == keys[0].lowercased() } }
        case ("GET", "dimensions({id})/dimensionValues"):
            return try collection(companyId) { company throws(BCError) in
                guard let dimension = company.dimension(id: keys[0]) else { throw recordNotFound("Dimension", keys[0]) }
                return company.dimensionValues.filter { $0.dimensionId == dimension.id }
            }
        case ("GET", "dimensionValues"): return try collection(companyId) { $0.dimensionValues }
        case ("GET", "dimensionValues({id})"):
            return try single(companyId) { $0.dimensionValues.first { $0.id == keys[0].lowercased() } }
        case ("GET", "purchaseInvoices"): return try collection(companyId) { $0.purchaseInvoices }
        case ("GET", "purchaseOrders"): return try collection(companyId) { $0.purchaseOrders }
        case ("GET", "purchaseOrders({id})"):
            return try single(companyId) { $0.purchaseOrders.first { $0.id == keys[0].lowercased() } }
        case ("POST", "purchaseInvoices"):
            let options = try ODataQueryOptions.parse(request, entity: BCPurchaseInvoice.self)
            let invoice = try store.createInvoice(companyId: companyId, body: try jsonObjectBody())
            let company = try store.read(companyId: companyId) { $0 }
            let location = apiBase + "/companies(\(companyId))/purchaseInvoices(\(invoice.id))"
            return entityResponse(
                invoice, status: 201, options: options, company: company, extraHeaders: [("Location", location)])
        case ("GET", "purchaseInvoices({id})"):
            return try single(companyId) { company throws(BCError) in try invoice(company, keys[0]) }
        case ("PATCH", "purchaseInvoices({id})"):
            let options = try ODataQueryOptions.parse(request, entity: BCPurchaseInvoice.self)
            let invoice = try store.patchInvoice(
                companyId: companyId, id: keys[0], ifMatch: request.header("If-Match"), body: try jsonObjectBody())
            let company = try store.read(companyId: companyId) { $0 }
            return entityResponse(invoice, status: 200, options: options, company: company)
        case ("DELETE", "purchaseInvoices({id})"):
            try store.deleteInvoice(companyId: companyId, id: keys[0], ifMatch: request.header("If-Match"))
            return .empty(204, headers: [("OData-Version", "4.0")])
        case ("GET", "purchaseInvoices({id})/purchaseInvoiceLines"):
            return try collection(companyId) { company throws(BCError) in
                let document = try invoice(company, keys[0])
                return document.lines
            }
        case ("POST", "purchaseInvoices({id})/purchaseInvoiceLines"):
            let options = try ODataQueryOptions.parse(request, entity: BCPurchaseInvoiceLine.self)
            let line = try store.addLine(companyId: companyId, invoiceId: keys[0], body: try jsonObjectBody())
            let company = try store.read(companyId: companyId) { $0 }
            return entityResponse(line, status: 201, options: options, company: company)
        case ("GET", "purchaseInvoices({id})/purchaseInvoiceLines({id})"):
            return try single(companyId) { company throws(BCError) in
                try invoice(company, keys[0]).lines.first { $0.id == keys[1].lowercased() }
            }
        case ("GET", "purchaseInvoices({id})/purchaseInvoiceLines({id})/dimensionSetLines"):
            return try collection(companyId) { company throws(BCError) in
                guard let line = try invoice(company, keys[0]).lines.first(where: { $0.id == keys[1].lowercased() })
                else {
                    throw recordNotFound("Purchase Line", keys[1])
                }
                return line.dimensionSetLines
            }
        case ("GET", "purchaseInvoices({id})/dimensionSetLines"):
            return try collection(companyId) { company throws(BCError) in
                try invoice(company, keys[0]).dimensionSetLines
            }
        case ("GET", "purchaseInvoiceLines"):
            let options = try ODataQueryOptions.parse(request, entity: BCPurchaseInvoiceLine.self)
            guard options.filter?.requiredEquality(on: "documentId") != nil else {
                throw BCError(
                    400, "Application_DialogException", "You must specify an Id or a Document Id to get the lines.")
            }
            return try collection(companyId) { company in company.purchaseInvoices.flatMap(\.lines) }
        case ("GET", "purchaseInvoiceLines({id})"):
            return try single(companyId) { company in
                company.purchaseInvoices.lazy.flatMap(\.lines).first { $0.id == keys[0].lowercased() }
            }
        case ("GET", "purchaseInvoiceLines({id})/dimensionSetLines"):
            return try collection(companyId) { company throws(BCError) in
                guard
                    let line = company.purchaseInvoices.lazy.flatMap(\.lines).first(where: {
                        $0.id == keys[0].lowercased()
                    })
                else { throw recordNotFound("Purchase Line", keys[0]) }
                return line.dimensionSetLines
            }
        case ("GET", "analytics:vendorLedgerEntries"):
            return try collection(companyId) { $0.vendorLedgerEntries.flatMap(\.rows) }
        case ("GET", "purchaseCreditMemos"): return try collection(companyId) { $0.purchaseCreditMemos }
        case ("POST", "purchaseCreditMemos"):
            let options = try ODataQueryOptions.parse(request, entity: BCPurchaseCreditMemo.self)
            let memo = try store.createCreditMemo(companyId: companyId, body: try jsonObjectBody())
            let company = try store.read(companyId: companyId) { $0 }
            let location = apiBase + "/companies(\(companyId))/purchaseCreditMemos(\(memo.id))"
            return entityResponse(
                memo, status: 201, options: options, company: company, extraHeaders: [("Location", location)])
        case ("GET", "purchaseCreditMemos({id})"):
            return try single(companyId) { $0.purchaseCreditMemos.first { $0.id == keys[0].lowercased() } }
        case ("GET", "purchaseCreditMemos({id})/purchaseCreditMemoLines"):
            return try collection(companyId) { company throws(BCError) in
                guard let memo = company.purchaseCreditMemos.first(where: { $0.id == keys[0].lowercased() }) else {
                    throw recordNotFound("Purchase Header", keys[0])
                }
                return memo.document.lines
            }
        case ("POST", "purchaseInvoices({id})/Microsoft.NAV.post"):
            try store.postInvoice(companyId: companyId, id: keys[0])
            return .empty(204, headers: [("OData-Version", "4.0")])
        default:
            throw unsupported(template: template)
        }
    }

    // MARK: Helpers

    func notFound() -> BCError { BCError(404, "BadRequest_NotFound", "Bad Request - Error in query syntax.") }

    func recordNotFound(_ table: String, _ id: String) -> BCError {
        BCError(
            404, "Internal_RecordNotFound", "The \(table) does not exist. Identification fields and values: Id='\(id)'")
    }

    func invoice(_ company: BCCompanyData, _ id: String) throws(BCError) -> BCPurchaseInvoice {
        guard let index = company.invoiceIndex(id: id) else {
            throw BCError(
                404, "Internal_RecordNotFound",
                "The Purchase Header does not exist. Identification fields and values: Document Type='Invoice',Id='\(id)'"
            )
        }
        return company.purchaseInvoices[index]
    }

    func unsupported(template: String) -> BCError {
        let known: [String: Set<String>] = [
            "vendors": ["GET"], "vendors({id})": ["GET"], "accounts": ["GET"], "accounts({id})": ["GET"],
            "dimensions": ["GET"], "dimensions({id})": ["GET"], "dimensionValues": ["GET"],
            "dimensionValues({id})": ["GET"], "dimensions({id})/dimensionValues": ["GET"],
            "purchaseInvoices": ["GET", "POST"], "purchaseInvoices({id})": ["GET", "PATCH", "DELETE"],
            "purchaseInvoices({id})/purchaseInvoiceLines": ["GET", "POST"],
            "purchaseInvoices({id})/Microsoft.NAV.post": ["POST"], "companies": ["GET"], "companies({id})": ["GET"],
            "purchaseOrders": ["GET"], "purchaseOrders({id})": ["GET"],
            "paymentTerms": ["GET"], "paymentTerms({id})": ["GET"],
        ]
        if known[template] != nil {
            let set = path.entitySegments.last?.name ?? template
            return BCError(
                405, "BadRequest_MethodNotAllowed",
                "'\(request.method)' requests for '\(set)' are not allowed within Microsoft Dynamics 365 Business Central OData web services."
            )
        }
        let segment =
            path.entitySegments.first { ODataQueryOptions.target(of: $0.name) == nil && !known.keys.contains($0.name) }?
            .name
            ?? path.entitySegments.last?.name ?? template
        return BCError(404, "BadRequest_ResourceNotFound", "Resource not found for the segment '\(segment)'.")
    }

    func jsonObjectBody() throws(BCError) -> SimJSONObject { try request.bcJSONObjectBody() }

    private func companies(template: String) throws(BCError) -> SimResponse {
        guard request.method == "GET" else { throw unsupported(template: template) }
        let companies = store.companies
        switch template {
        case "companies":
            let options = try ODataQueryOptions.parse(request, entity: BCCompany.self)
            guard let first = companies.first else {
                return .json(
                    200,
                    .object(SimJSONObject(["@odata.context": .string(contextURL(entity: false)), "value": .array([])])))
            }
            return page(companies.map(\.company), options: options, entity: BCCompany.self, company: first)
        case "companies({id})":
            let options = try ODataQueryOptions.parse(request, entity: BCCompany.self)
            let id = path.segments[0].key?.lowercased() ?? ""
            guard let company = companies.first(where: { $0.company.id == id }) else {
                throw BCError(
                    404, "Internal_CompanyNotFound",
                    "Cannot process the request because the company with id '\(id)' cannot be found.")
            }
            return entityResponse(company.company, status: 200, options: options, company: company)
        default:
            throw unsupported(template: template)
        }
    }

    private func collection<E: BCEntity>(
        _ companyId: String,
        _ rows: (BCCompanyData) throws(BCError) -> [E]
    ) throws(BCError) -> SimResponse {
        let options = try ODataQueryOptions.parse(request, entity: E.self)
        let (items, company) = try store.read(companyId: companyId) { company throws(BCError) in
            (try rows(company), company)
        }
        return page(items, options: options, entity: E.self, company: company)
    }

    private func single<E: BCEntity>(
        _ companyId: String,
        _ find: (BCCompanyData) throws(BCError) -> E?
    ) throws(BCError) -> SimResponse {
        let options = try ODataQueryOptions.parse(request, entity: E.self)
        let (found, company) = try store.read(companyId: companyId) { company throws(BCError) in
            (try find(company), company)
        }
        guard let found else {
            let key = path.entitySegments.last?.key ?? ""
            throw BCError(
                404, "Internal_RecordNotFound",
                "The \(E.entityType.replacingOccurrences(of: "Microsoft.NAV.", with: "")) does not exist. Identification fields and values: Id='\(key)'"
            )
        }
        return entityResponse(found, status: 200, options: options, company: company)
    }

    private func entityResponse(
        _ entity: some BCEntity,
        status: Int,
        options: ODataQueryOptions,
        company: BCCompanyData,
        extraHeaders: [(name: String, value: String)] = []
    ) -> SimResponse {
        var object = SimJSONObject()
        object["@odata.context"] = .string(
            status == 201 ? contextURL(entity: false) + "/$entity" : contextURL(entity: true))
        for (key, value) in entity.json(select: options.select, expand: options.expand, company: company) {
            object[key] = value
        }
        return .json(
            status, .object(object),
            headers: [("OData-Version", "4.0"), ("ETag", entity.etag)] + extraHeaders,
            contentType: BusinessCentralSimulator.jsonContentType)
    }

    /// Filters, orders, counts, skips, limits and pages a collection (server-driven paging with `$skiptoken`).
    private func page(
        _ rows: [any BCEntity],
        options: ODataQueryOptions,
        entity: any BCEntity.Type,
        company: BCCompanyData
    ) -> SimResponse {
        let schema = entity.schema
        let filtered =
            options.filter.map { filter in rows.filter { row in filter.matches({ row.value($0) }, schema: schema) } }
            ?? rows
        let ordered = ODataQueryOptions.sorted(filtered, by: options.orderBy, entity: entity)
        var window = Array(ordered.dropFirst(options.skip))
        if let top = options.top { window = Array(window.prefix(top)) }
        var headers: [(name: String, value: String)] = [("OData-Version", "4.0")]
        var pageSize = ODataQueryOptions.maxPageSize
        if let prefer = request.header("Prefer"), let requested = Self.maxPageSize(from: prefer) {
            pageSize = min(max(requested, 1), ODataQueryOptions.maxPageSize)
            headers.append(("Preference-Applied", "odata.maxpagesize=\(pageSize)"))
        }
        let start = min(options.skipToken, window.count)
        let end = min(start + pageSize, window.count)
        let pageRows = window[start..<end]
        var body = SimJSONObject()
        body["@odata.context"] = .string(contextURL(entity: false))
        if options.count { body["@odata.count"] = .int(filtered.count) }
        body["value"] = .array(
            pageRows.map { .object($0.json(select: options.select, expand: options.expand, company: company)) })
        if end < window.count {
            body["@odata.nextLink"] = .string(nextLink(offset: end))
        }
        return .json(200, .object(body), headers: headers, contentType: BusinessCentralSimulator.jsonContentType)
    }

    static func maxPageSize(from prefer: String) -> Int? {
        for part in prefer.split(whereSeparator: { $0 == "," || $0 == ";" }) {
            let pair = part.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            if pair.count == 2, pair[0].lowercased() == "odata.maxpagesize", let value = Int(pair[1]) { return value }
        }
        return nil
    }

    /// The same URL with `$skiptoken` set to the next offset; the other query options are kept verbatim.
    private func nextLink(offset: Int) -> String {
        let kept = request.rawQuery.split(separator: "&").filter { part in
            let name = SimRequest.percentDecode(
                String(part.split(separator: "=", maxSplits: 1).first ?? ""), plusIsSpace: true)
            return name != "$skiptoken"
        }
        let token = "%24skiptoken=" + ODataQueryOptions.encodeSkipToken(offset)
        let query = (kept.map(String.init) + [token]).joined(separator: "&")
        return "http://\(authority)\(request.rawPath)?\(query)"
    }
}

extension SimRequest {
    /// The body as a JSON object, or Business Central's "Invalid Request Body" error.
    func bcJSONObjectBody() throws(BCError) -> SimJSONObject {
        guard !body.isEmpty else { throw BCError.badBody("Invalid Request Body: the body is empty.") }
        let value: SimJSON
        do {
            value = try jsonBody()
        } catch {
            throw BCError.badBody("Invalid Request Body: \(error.description).")
        }
        guard let object = value.objectValue else {
            throw BCError.badBody("Invalid Request Body: expected a JSON object.")
        }
        return object
    }
}
