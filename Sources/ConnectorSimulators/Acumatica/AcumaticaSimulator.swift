import Foundation

/// Acumatica ERP's contract-based REST API for one tenant, written from the reference §3 and Acumatica's
/// Integration Development Guide.
///
/// - Identity: `POST /identity/connect/token` (password and refresh-token grants) and cookie sign-in
///   `POST /entity/auth/login` / `POST /entity/auth/logout`, with the licence's API-user cap (429) and idle
///   session expiry, both timed by the ``SimulatorClock``.
/// - Data: `/entity/{Endpoint}/{Version}/{Entity}` for the deployed endpoint versions only (others → 404):
///   `GET` (list with `$filter` `$select` `$expand` `$top` `$skip`, or one record by id or key values), `PUT`
///   (create or update; `If-Match: *` = update only), `PATCH`, and the actions `Bill/Approve` and the
///   (UNCONFIRMED) release action.
/// - Counters are keyed `acumatica <METHOD> <template>`: `acumatica POST token`, `acumatica POST auth/login`,
///   `acumatica GET Bill`, `acumatica GET Bill/{key}`, `acumatica PUT Bill`, `acumatica POST Bill/Approve`;
///   push deliveries count as `acumatica push <status>`.
package final class AcumaticaSimulator: Sendable {
    package let store: AcumaticaStore
    let identity: AcumaticaIdentity
    package let counters = RequestCounters()
    package let faults = FaultInjector()
    package let clock: SimulatorClock
    let rateLimiter: SlidingWindowRateLimiter
    let push: AcumaticaPush

    package init(access: AcumaticaAccess, options: AcumaticaOptions = AcumaticaOptions(), clock: SimulatorClock) {
        self.clock = clock
        self.identity = AcumaticaIdentity(access: access, clock: clock)
        self.store = AcumaticaStore(options: options, clock: clock)
        self.rateLimiter = SlidingWindowRateLimiter(
            limit: options.requestsPerMinute ?? Int.max, window: 60, clock: clock)
        self.push = AcumaticaPush(counters: counters)
    }

    package var access: AcumaticaAccess { identity.access }
    package var options: AcumaticaOptions { store.options }

    /// Changes options at run time (tests); a new per-minute limit starts from an empty window.
    package func updateOptions(_ change: (inout AcumaticaOptions) -> Void) {
        store.updateOptions(change)
        rateLimiter.configure(limit: store.options.requestsPerMinute ?? Int.max, window: 60)
        rateLimiter.reset()
    }

    /// Sign-in statistics.
    package var sessionStats: AcumaticaSessionStats { identity.stats }

    /// Cookie sessions currently open (not idle past the timeout).
    package var openSessions: Int { identity.openSessions(idleTimeout: options.sessionIdleTimeout) }

    /// How many records an entity has (`Bill`, `Vendor`, …).
    package func count(_ entity: String) -> Int { store.records(entity).count }

    /// Bills with this vendor and vendor reference.
    package func billCount(vendor: String, vendorRef: String) -> Int {
        store.bills(vendor: vendor, vendorRef: vendorRef).count
    }

    /// A bill as the API renders it (with details), for tests.
    package func bill(type: String, referenceNbr: String) -> SimJSON? {
        store.find("Bill", schema: .bill, path: [type, referenceNbr]).map {
            $0.json(
                schema: .bill, rowNumber: 1,
                projection: AcuProjection(select: nil, detailSelect: [:], expand: ["Details"]), links: nil)
        }
    }

    /// A purchase order as the API renders it (with details), for tests.
    package func purchaseOrder(type: String = "Normal", orderNbr: String) -> SimJSON? {
        store.find("PurchaseOrder", schema: .purchaseOrder, path: [type, orderNbr]).map {
            $0.json(
                schema: .purchaseOrder, rowNumber: 1,
                projection: AcuProjection(select: nil, detailSelect: [:], expand: ["Details"]), links: nil)
        }
    }

    /// Simulator admin: pays a bill in full (Status Closed, Balance 0, LastModifiedDateTime bumped).
    package func payBill(type: String = "Bill", referenceNbr: String) throws(AcuError) {
        try store.payBill(type: type, referenceNbr: referenceNbr)
    }

    /// Where push notifications go, and the one custom header sent with them.
    package func configurePush(url: String, headerName: String?, headerValue: String?) {
        push.configure(AcumaticaPush.Destination(url: url, headerName: headerName, headerValue: headerValue))
    }

    /// Sends one push notification (`CompanyId`, `Id` and `TimeStamp` filled in) with up to
    /// ``AcumaticaOptions/pushAttempts`` attempts.
    package func sendPush(
        query: String, inserted: [SimJSON], deleted: [SimJSON] = [], additionalInfo: SimJSONObject = SimJSONObject()
    ) async -> AcumaticaPushResult {
        let notification = SimJSONObject([
            "Inserted": .array(inserted),
            "Deleted": .array(deleted),
            "Query": .string(query),
            "CompanyId": .string(access.tenant),
            "Id": .string(UUID().uuidString.lowercased()),
            "TimeStamp": .number(String(store.nextTick())),
            "AdditionalInfo": .object(additionalInfo),
        ])
        return await push.deliver(
            notification, attempts: options.pushAttempts, delay: options.pushRetryDelay)
    }
}

// MARK: Routing

/// A parsed `/entity/{Endpoint}/{Version}/{Entity}/…` path.
struct AcuPath {
    var endpoint: String
    var version: String
    var entity: String?
    /// Segments after the entity: an id, key values, or an action name.
    var rest: [String]

    static func parse(_ path: String) -> AcuPath? {
        let parts = path.split(separator: "/", omittingEmptySubsequences: true).map(String.init)
        guard parts.count >= 3, parts[0] == "entity", parts[1] != "auth" else { return nil }
        return AcuPath(
            endpoint: parts[1], version: parts[2], entity: parts.count > 3 ? parts[3] : nil,
            rest: Array(parts.dropFirst(4)))
    }
}

extension AcumaticaSimulator: SimulatorApp {
    var name: String { "acumatica" }

    func route(_ request: SimRequest) -> RouteMatch? {
        switch request.path {
        case "/identity/connect/token": return RouteMatch(system: "acumatica", endpoint: "token")
        case "/entity/auth/login": return RouteMatch(system: "acumatica", endpoint: "auth/login")
        case "/entity/auth/logout": return RouteMatch(system: "acumatica", endpoint: "auth/logout")
        case "/entity", "/entity/": return RouteMatch(system: "acumatica", endpoint: "entity")
        default: break
        }
        guard let path = AcuPath.parse(request.path) else { return nil }
        guard let entity = path.entity else { return RouteMatch(system: "acumatica", endpoint: "/") }
        let template: String
        if path.rest.isEmpty {
            template = entity
        } else if request.method == "POST", path.rest.count == 1 {
            template = "\(entity)/\(path.rest[0])"
        } else {
            template = "\(entity)/{key}"
        }
        return RouteMatch(system: "acumatica", endpoint: template)
    }

    static func respond(_ error: AcuError) -> SimResponse {
        .json(error.status, error.body, headers: error.headers)
    }

    func faultResponse(route: RouteMatch, status: Int, retryAfter: Int?, code: String?) -> SimResponse {
        let headers: [(name: String, value: String)] = retryAfter.map { [("Retry-After", String($0))] } ?? []
        if route.endpoint == "token" {
            return .json(
                status, .object(SimJSONObject(["error": .string(code ?? "server_error")])), headers: headers)
        }
        switch status {
        case 401: return Self.respond(Self.unauthorized)
        case 429:
            // UNCONFIRMED wording of the licence refusal; the status is documented (reference §3.7).
            return Self.respond(
                AcuError.message(
                    429,
                    code
                        ?? "The request has been declined because the API request limit of the license has been exceeded.",
                    headers: headers))
        default:
            var error = AcuError.exception(status, code ?? "Simulated failure (HTTP \(status)).")
            error.headers = headers
            return Self.respond(error)
        }
    }

    func notFound(_ request: SimRequest) -> SimResponse {
        Self.respond(Self.noResource(request))
    }

    /// ASP.NET Web API's answer for a URL no route serves; it names the URL and nothing else.
    /// UNCONFIRMED that an undeployed endpoint version answers exactly this (reference §3.1).
    static func noResource(_ request: SimRequest) -> AcuError {
        let url = "http://\(request.authority ?? "localhost")\(request.rawPath)"
        return AcuError.message(404, "No HTTP resource was found that matches the request URI '\(url)'.")
    }

    // UNCONFIRMED wording; 401 = "not signed in" is documented.
    static let unauthorized = AcuError.message(401, "You are not logged in.")

    func expireTokens() { identity.expireAll() }

    func rotateCredentials(_ credentials: ClientCredentials) {
        var access = identity.access
        access.clientId = credentials.clientId
        access.clientSecret = credentials.clientSecret
        identity.setAccess(access)
    }

    // MARK: Dispatch

    func handle(_ request: SimRequest, route: RouteMatch) async -> SimResponse {
        do {
            return try dispatch(request, route: route)
        } catch {
            return Self.respond(error)
        }
    }

    private func dispatch(_ request: SimRequest, route: RouteMatch) throws(AcuError) -> SimResponse {
        do {
            switch route.endpoint {
            case "token": return try token(request)
            case "auth/login": return try login(request)
            case "auth/logout": return logout(request)
            case "entity": return try endpointList(request)
            default: break
            }
            guard let path = AcuPath.parse(request.path) else { throw Self.noResource(request) }
            guard options.endpoints.contains("\(path.endpoint)/\(path.version)") else {
                throw Self.noResource(request)
            }
            let branch = try authenticate(request)
            if options.requestsPerMinute != nil, rateLimiter.admit("licence") != nil {
                throw AcuError.message(
                    429, "The request has been declined because the API request limit of the license has been exceeded."
                )
            }
            guard let entity = path.entity, let schema = AcuEntitySchema.all[entity] else {
                throw Self.noResource(request)
            }
            let context = AcuRequestContext(
                simulator: self, request: request, path: path, entity: entity, schema: schema, branch: branch)
            return try context.respond()
        }
    }

    /// Bearer token or cookie session; returns the session's branch (nil for bearer tokens).
    /// `GET /entity`: the build and every web-service endpoint the instance serves (signed-in callers only).
    private func endpointList(_ request: SimRequest) throws(AcuError) -> SimResponse {
        guard request.method == "GET" else { throw Self.noResource(request) }
        _ = try authenticate(request)
        let endpoints: [SimJSON] = options.endpoints.compactMap { entry in
            let parts = entry.split(separator: "/", maxSplits: 1).map(String.init)
            guard parts.count == 2 else { return nil }
            return .object(
                SimJSONObject([
                    "name": .string(parts[0]), "version": .string(parts[1]),
                    "href": .string("/entity/\(parts[0])/\(parts[1])/"),
                ]))
        }
        return .json(
            200,
            .object(
                SimJSONObject([
                    "version": .object(SimJSONObject(["acumaticaBuildVersion": .string("24.200.0123")])),
                    "endpoints": .array(endpoints),
                ])))
    }

    private func authenticate(_ request: SimRequest) throws(AcuError) -> String? {
        if let authorization = request.header("Authorization"), authorization.lowercased().hasPrefix("bearer ") {
            let token = String(authorization.dropFirst(7)).trimmingCharacters(in: .whitespaces)
            guard identity.isValid(bearer: token) else { throw Self.unauthorized }
            return nil
        }
        guard let auth = Self.cookie(".ASPXAUTH", in: request),
            let session = identity.session(auth: auth, idleTimeout: options.sessionIdleTimeout)
        else { throw Self.unauthorized }
        return session.branch
    }

    static func cookie(_ name: String, in request: SimRequest) -> String? {
        for header in request.headers where header.name.lowercased() == "cookie" {
            for part in header.value.split(separator: ";") {
                let pair = part.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
                if pair.count == 2, pair[0] == name { return pair[1] }
            }
        }
        return nil
    }

    private func token(_ request: SimRequest) throws(AcuError) -> SimResponse {
        guard request.method == "POST" else {
            throw AcuError.message(405, "The requested resource does not support http method '\(request.method)'.")
        }
        switch identity.token(form: request.formBody(), options: options) {
        case .issued(let access, let refresh, let scope):
            var body = SimJSONObject()
            body["access_token"] = .string(access)
            body["expires_in"] = .int(Int(options.accessTokenLifetime))
            body["token_type"] = .string("Bearer")
            if let refresh { body["refresh_token"] = .string(refresh) }
            body["scope"] = .string(scope)
            return .json(200, .object(body), headers: [("Cache-Control", "no-store, no-cache, max-age=0")])
        case .error(let code, let description):
            var body = SimJSONObject(["error": .string(code)])
            if !description.isEmpty { body["error_description"] = .string(description) }
            return .json(400, .object(body))
        }
    }

    private func login(_ request: SimRequest) throws(AcuError) -> SimResponse {
        guard request.method == "POST" else {
            throw AcuError.message(405, "The requested resource does not support http method '\(request.method)'.")
        }
        var fields: [String: String] = [:]
        if (request.header("Content-Type") ?? "").lowercased().contains("x-www-form-urlencoded") {
            for (name, value) in request.formBody() { fields[name] = value }
        } else {
            guard let body = try? request.jsonBody(), let object = body.objectValue else {
                throw AcuError.message(400, "The request body must be a JSON object with name and password.")
            }
            for (key, value) in object { if let text = value.stringValue { fields[key] = text } }
        }
        guard let name = fields["name"], let password = fields["password"] else {
            throw AcuError.message(400, "The request body must be a JSON object with name and password.")
        }
        let tenant = fields["tenant"] ?? fields["company"]
        switch identity.login(
            name: name, password: password, tenant: tenant, branch: fields["branch"], options: options)
        {
        case .session(let session):
            let locale = fields["locale"].flatMap { $0.isEmpty ? nil : $0 } ?? "en-US"
            return .empty(
                204,
                headers: [
                    ("Set-Cookie", "ASP.NET_SessionId=\(session.id); path=/; HttpOnly; SameSite=Lax"),
                    ("Set-Cookie", ".ASPXAUTH=\(session.auth); path=/; HttpOnly"),
                    ("Set-Cookie", "UserBranch=\(session.branch); path=/"),
                    ("Set-Cookie", "Locale=Culture=\(locale)&TimeZone=GMTM0000A; path=/"),
                    ("Set-Cookie", "requestid=\(UUID().uuidString.lowercased()); path=/"),
                ])
        case .invalid(let message):
            throw AcuError.exception(400, message)
        case .licence:
            // UNCONFIRMED wording; 429 on sign-in is documented (reference §3.2).
            throw AcuError.exception(
                429,
                "API Login Limit: the number of concurrent API users allowed by the license (\(options.maxAPIUsers)) has been reached.",
                type: "PX.Data.PXException")
        }
    }

    private func logout(_ request: SimRequest) -> SimResponse {
        identity.logout(auth: Self.cookie(".ASPXAUTH", in: request))
        return .empty(
            204,
            headers: [
                ("Set-Cookie", ".ASPXAUTH=; expires=Thu, 01 Jan 1970 00:00:00 GMT; path=/; HttpOnly"),
                ("Set-Cookie", "ASP.NET_SessionId=; expires=Thu, 01 Jan 1970 00:00:00 GMT; path=/; HttpOnly"),
            ])
    }
}

/// Everything needed to answer one authenticated `/entity/...` request.
private struct AcuRequestContext {
    let simulator: AcumaticaSimulator
    let request: SimRequest
    let path: AcuPath
    let entity: String
    let schema: AcuEntitySchema
    let branch: String?

    var store: AcumaticaStore { simulator.store }
    var options: AcumaticaOptions { simulator.options }

    /// `/entity/Default/24.200.001`, as `_links` are written (relative to the instance).
    var base: String { "/entity/\(path.endpoint)/\(path.version)" }

    func respond() throws(AcuError) -> SimResponse {
        switch (request.method, path.rest.count) {
        case ("GET", 0): return try list()
        case ("GET", _): return try single()
        case ("PUT", 0):
            return try write(
                mode: request.header("If-Match")?.trimmingCharacters(in: .whitespaces) == "*" ? .updateOnly : .put)
        case ("PATCH", 0): return try write(mode: .patch)
        case ("POST", 1): return try action(path.rest[0])
        default:
            throw AcuError.message(
                405, "The requested resource does not support http method '\(request.method)'.")
        }
    }

    // MARK: Query options

    func projection() throws(AcuError) -> AcuProjection {
        var projection = AcuProjection.everything
        if let expand = request.queryValue("$expand") {
            for item in expand.split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces) }) {
                let head = String(item.split(separator: "/").first ?? "")
                guard schema.detail(head) != nil else {
                    throw AcuError.message(
                        400, "The entity '\(entity)' has no detail or linked entity named '\(head)'.")
                }
                projection.expand.insert(head)
            }
        }
        if let select = request.queryValue("$select") {
            var top = Set<String>()
            for item in select.split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces) }) {
                let parts = item.split(separator: "/").map(String.init)
                if parts.count == 2, schema.detail(parts[0]) != nil {
                    projection.detailSelect[parts[0], default: []].insert(parts[1])
                    top.insert(parts[0])
                } else if parts.count == 1, schema.type(of: parts[0]) != nil || schema.detail(parts[0]) != nil {
                    top.insert(parts[0])
                } else {
                    throw AcuError.message(400, "The entity '\(entity)' has no field named '\(item)'.")
                }
            }
            projection.select = top
        }
        return projection
    }

    func filter() throws(AcuError) -> AcuFilter? {
        guard let text = request.queryValue("$filter"), !text.trimmingCharacters(in: .whitespaces).isEmpty else {
            return nil
        }
        return try AcuFilter.parse(text, schema: schema, detailPolicy: options.detailFilterPolicy)
    }

    func integer(_ name: String) throws(AcuError) -> Int? {
        guard let text = request.queryValue(name) else { return nil }
        guard let value = Int(text), value >= 0 else {
            throw AcuError.message(400, "The value '\(text)' of \(name) is not a non-negative integer.")
        }
        return value
    }

    func render(_ record: AcuRecord, row: Int, projection: AcuProjection) -> SimJSON {
        record.json(schema: schema, rowNumber: row, projection: projection, links: (base, true))
    }

    // MARK: Reads

    private func list() throws(AcuError) -> SimResponse {
        let projection = try projection()
        let condition = try filter()
        let skip = try integer("$skip") ?? 0
        let top = try integer("$top")
        var rows = store.records(entity)
        if let condition {
            rows = rows.filter {
                condition.matches($0, schema: schema, caseInsensitive: options.caseInsensitiveFilters)
            }
        }
        var window = Array(rows.dropFirst(skip))
        if let top { window = Array(window.prefix(top)) }
        let items = window.enumerated().map { render($1, row: $0 + 1, projection: projection) }
        return .json(200, .array(items))
    }

    private func single() throws(AcuError) -> SimResponse {
        let projection = try projection()
        guard let record = store.find(entity, schema: schema, path: path.rest) else {
            // UNCONFIRMED wording for a record that does not exist.
            throw AcuError.message(404, "No entity satisfies the condition.")
        }
        return .json(200, render(record, row: 1, projection: projection))
    }

    // MARK: Writes

    private func write(mode: AcumaticaStore.WriteMode) throws(AcuError) -> SimResponse {
        let projection = try projection()
        let condition = try filter()
        guard !request.body.isEmpty, let body = try? request.jsonBody(), let object = body.objectValue else {
            throw AcuError.message(400, "The request body must be a record in JSON format.")
        }
        let input = try AcuInput.parse(object, schema: schema, rejectUnwrapped: options.rejectUnwrappedValues)
        let saved = try store.write(
            entity: entity, schema: schema, input: input, filter: condition, mode: mode, branch: branch)
        return .json(200, render(saved, row: 1, projection: projection))
    }

    // MARK: Actions

    /// `POST …/Bill/Approve` (and the release action): `{"entity": {keys…}, "parameters": {}}` → 204.
    private func action(_ name: String) throws(AcuError) -> SimResponse {
        guard entity == "Bill", name == "Approve" || name == options.releaseActionName else {
            throw AcuError.message(404, "The action '\(name)' is not defined for the entity '\(entity)'.")
        }
        guard let body = try? request.jsonBody(), let target = body["entity"]?.objectValue else {
            throw AcuError.message(400, "The request body must contain the entity the action applies to.")
        }
        let input = try AcuInput.parse(target, schema: schema, rejectUnwrapped: options.rejectUnwrappedValues)
        let located: AcuRecord?
        if let id = input.id {
            located = store.find(entity, schema: schema, path: [id])
        } else if let reference = input.string("ReferenceNbr") {
            located = store.find(entity, schema: schema, path: [input.string("Type") ?? "Bill", reference])
        } else {
            located = nil
        }
        guard let bill = located, let type = bill.string("Type"), let reference = bill.string("ReferenceNbr") else {
            throw AcuError.message(404, "No entity satisfies the condition.")
        }
        if name == "Approve" {
            try store.approveBill(type: type, referenceNbr: reference)
        } else {
            try store.releaseBill(type: type, referenceNbr: reference)
        }
        return .empty(204)
    }
}
