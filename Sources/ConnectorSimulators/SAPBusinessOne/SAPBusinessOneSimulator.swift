import Foundation
import Logging
import Synchronization

/// The SAP Business One Service Layer for one company database, written from the reference (§2) only.
///
/// Base paths `/b1s/v1` (OData v3 style: `odata.metadata`, `odata.nextLink`, numeric error codes) and `/b1s/v2`
/// (OData v4: `@odata.context`, `@odata.nextLink`, error codes as strings). `POST /Login` opens a session (cookies
/// `B1SESSION` and `ROUTEID`); every other call needs both cookies of a live session, else 401 with code 301.
/// Counters are keyed `sapBusinessOne <METHOD> <template>` with the template the resource path below the version,
/// keys replaced by `({key})`: `sapBusinessOne POST Login`, `sapBusinessOne GET PurchaseInvoices`,
/// `sapBusinessOne GET BusinessPartners({key})`, `sapBusinessOne GET PurchaseInvoices/$count`,
/// `sapBusinessOne POST DraftsService_SaveDraftToDocument`. Fault rules use system `sapBusinessOne` and these
/// templates as `endpoint`.
package final class SAPBusinessOneSimulator: Sendable {
    /// The system name in counters and fault rules.
    package static let system = "sapBusinessOne"

    package let store: B1Store
    package let sessions: B1Sessions
    package let counters = RequestCounters()
    package let faults = FaultInjector()
    package let clock: SimulatorClock
    private let settings: Mutex<Settings>

    /// Behaviour switches (all changeable through `POST /_sim/b1/config`).
    package struct Settings: Sendable {
        /// Page size when the client asks for none (the Service Layer's default is 20).
        package var defaultPageSize = 20
        /// Largest page a client can ask for with `Prefer: odata.maxpagesize` or `B1S-PageSize`.
        package var maxPageSize = 10_000
        /// Status of the answer to a request carrying `Expect: 100-continue` (the reference saw an empty 500 from
        /// the real load balancer; the simulator refuses with 417 by default so the mistake is unmistakable).
        package var expectContinueStatus = 417
        /// Suffix written after a stored `YYYY-MM-DD` date (`T00:00:00Z`); empty writes the bare day. Which one the
        /// real Service Layer writes per version is UNCONFIRMED: clients should read both.
        package var dateSuffix = "T00:00:00Z"
        /// The `Version` reported by `POST /Login`.
        package var version = "1000190"

        package init() {}
    }

    /// - Parameters:
    ///   - account: the one accepted login (`CompanyDB`, `UserName`, `Password`).
    ///   - sessionTimeoutMinutes: `SessionTimeout` of new sessions (the Service Layer's default is 30).
    package init(account: B1Sessions.Account, sessionTimeoutMinutes: Int = 30, clock: SimulatorClock) {
        self.clock = clock
        self.store = B1Store(clock: clock)
        self.sessions = B1Sessions(account: account, timeoutMinutes: sessionTimeoutMinutes, clock: clock)
        self.settings = Mutex(Settings())
    }

    /// Serves this simulator alone on a loopback port for the duration of `body` (tests that need no other system).
    /// - Parameter body: gets the base URL `http://host:port` (the API is below `/b1s/v1` and `/b1s/v2`).
    package func withServer<T>(
        host: String = "127.0.0.1",
        port: Int = 0,
        logger: Logger = SimulatorHost.quietLogger,
        _ body: (_ baseURL: String) async throws -> T
    ) async throws -> T {
        let server = try await RunningServer.start(app: self, host: host, port: port, logger: logger)
        do {
            let result = try await body(server.baseURL)
            await server.stop()
            return result
        } catch {
            await server.stop()
            throw error
        }
    }

    /// The current behaviour switches.
    package var configuration: Settings {
        get { settings.withLock { $0 } }
        set { settings.withLock { $0 = newValue } }
    }
}

/// A parsed Service Layer URL.
struct B1Path {
    var version: B1Version
    /// `Login`, `BusinessPartners`, `DraftsService_SaveDraftToDocument` …
    var resource: String
    /// The key in parentheses, unquoted (`'O''Neil'` → `O'Neil`; `CardCode='X'` → `X`).
    var key: String?
    /// `$count` when addressed as `Set/$count`.
    var subpath: String?

    var template: String {
        var text = resource
        if key != nil { text += "({key})" }
        if let subpath { text += "/" + subpath }
        return text
    }

    static func parse(_ path: String) -> B1Path? {
        let parts = path.split(separator: "/", omittingEmptySubsequences: true).map(String.init)
        guard parts.count >= 3, parts.count <= 4, parts[0] == "b1s", let version = B1Version(rawValue: parts[1])
        else { return nil }
        var segment = parts[2]
        var key: String?
        if let open = segment.firstIndex(of: "("), segment.hasSuffix(")") {
            var inner = String(segment[segment.index(after: open)..<segment.index(before: segment.endIndex)])
            segment = String(segment[..<open])
            if let equals = inner.firstIndex(of: "="), !inner.hasPrefix("'") {
                inner = String(inner[inner.index(after: equals)...])
            }
            if inner.hasPrefix("'"), inner.hasSuffix("'"), inner.count >= 2 {
                inner = String(inner.dropFirst().dropLast()).replacingOccurrences(of: "''", with: "'")
            }
            key = inner
        }
        guard !segment.isEmpty else { return nil }
        return B1Path(version: version, resource: segment, key: key, subpath: parts.count == 4 ? parts[3] : nil)
    }
}

extension SAPBusinessOneSimulator: SimulatorApp {
    var name: String { "sap-business-one" }

    func route(_ request: SimRequest) -> RouteMatch? {
        guard let path = B1Path.parse(request.path) else { return nil }
        return RouteMatch(system: Self.system, endpoint: path.template, detail: path.version.rawValue)
    }

    static let jsonContentType = "application/json;odata=minimalmetadata;charset=utf-8"

    func errorResponse(_ error: B1Error, version: B1Version, headers: [(name: String, value: String)] = [])
        -> SimResponse
    {
        .json(error.status, error.body(version: version), headers: headers, contentType: Self.jsonContentType)
    }

    func faultResponse(route: RouteMatch, status: Int, retryAfter: Int?, code: String?) -> SimResponse {
        let version = B1Version(rawValue: route.detail ?? "") ?? .v1
        let headers: [(name: String, value: String)] = retryAfter.map { [("Retry-After", String($0))] } ?? []
        var error: B1Error
        switch status {
        case 401: error = .invalidSession
        case 404: error = .noMatch
        default: error = B1Error(status, -1, "Simulated failure (HTTP \(status)).")
        }
        if let code, let number = Int(code) { error.code = number }
        return errorResponse(error, version: version, headers: headers)
    }

    func notFound(_ request: SimRequest) -> SimResponse {
        let version: B1Version = request.path.hasPrefix("/b1s/v2") ? .v2 : .v1
        return errorResponse(
            B1Error(404, -1000, "Resource not found for the segment '\(request.path)'."), version: version)
    }

    /// Ends every session (``FaultRule/Kind/expireSessions``, `expireTokens`, `POST /_sim/tokens/expire`).
    func expireTokens() { sessions.expireAll() }

    /// Changes the accepted user name and password (`POST /_sim/credentials` with `clientId` = user name,
    /// `clientSecret` = password); open sessions stay valid.
    func rotateCredentials(_ credentials: ClientCredentials) {
        var account = sessions.account
        account.userName = credentials.clientId
        account.password = credentials.clientSecret
        sessions.account = account
    }

    // MARK: Dispatch

    func handle(_ request: SimRequest, route: RouteMatch) async -> SimResponse {
        guard let path = B1Path.parse(request.path) else { return notFound(request) }
        if let expect = request.header("Expect"), expect.lowercased().contains("100-continue") {
            sessions.countExpectRefused()
            counters.increment("\(Self.system) refused Expect: 100-continue")
            return .empty(configuration.expectContinueStatus)
        }
        do {
            switch (request.method, path.resource) {
            case ("POST", "Login"): return try login(request, path: path)
            default: break
            }
            let cookies = Self.cookies(request)
            try sessions.validate(sessionId: cookies["B1SESSION"], routeId: cookies["ROUTEID"])
            if request.method == "POST", path.resource == "Logout" {
                if let id = cookies["B1SESSION"] { sessions.logout(sessionId: id) }
                return .empty(204)
            }
            let context = B1RequestContext(simulator: self, request: request, path: path, settings: configuration)
            return try context.respond()
        } catch {
            return errorResponse(error, version: path.version)
        }
    }

    /// Cookie name → value from every `Cookie` header.
    static func cookies(_ request: SimRequest) -> [String: String] {
        var result: [String: String] = [:]
        for header in request.headers where header.name.lowercased() == "cookie" {
            for part in header.value.split(separator: ";") {
                let pair = part.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
                if pair.count == 2, result[pair[0]] == nil { result[pair[0]] = pair[1] }
            }
        }
        return result
    }

    private func login(_ request: SimRequest, path: B1Path) throws(B1Error) -> SimResponse {
        guard let body = try? request.jsonBody(), let object = body.objectValue else {
            throw B1Error(400, -1000, "Invalid request body: expected {\"CompanyDB\",\"UserName\",\"Password\"}")
        }
        let session = try sessions.login(
            companyDB: object["CompanyDB"]?.stringValue ?? "", userName: object["UserName"]?.stringValue ?? "",
            password: object["Password"]?.stringValue ?? "")
        let base = "http://\(request.authority ?? "127.0.0.1")/b1s/\(path.version.rawValue)/$metadata#B1Sessions"
        var response = SimJSONObject()
        response[path.version.metadataKey] = .string(base + (path.version == .v1 ? "/@Element" : "/$entity"))
        response["SessionId"] = .string(session.id)
        response["Version"] = .string(configuration.version)
        response["SessionTimeout"] = .int(session.timeout)
        // B1SESSION without Path, as the real Service Layer sends it (reference §2.7); ROUTEID with path=/.
        return .json(
            200, .object(response),
            headers: [
                ("Set-Cookie", "B1SESSION=\(session.id);HttpOnly;"),
                ("Set-Cookie", "ROUTEID=\(session.routeId); path=/"),
            ],
            contentType: Self.jsonContentType)
    }
}

/// Everything needed to answer one request of a live session.
private struct B1RequestContext {
    let simulator: SAPBusinessOneSimulator
    let request: SimRequest
    let path: B1Path
    let settings: SAPBusinessOneSimulator.Settings

    var store: B1Store { simulator.store }
    var version: B1Version { path.version }

    var serviceRoot: String { "http://\(request.authority ?? "127.0.0.1")/b1s/\(version.rawValue)/" }

    func respond() throws(B1Error) -> SimResponse {
        if path.resource == "DraftsService_SaveDraftToDocument" {
            guard request.method == "POST" else { throw methodNotAllowed() }
            let body = try jsonObjectBody()
            guard let docEntry = body["Document"]?["DocEntry"]?.intValue else {
                throw B1Error(400, -1000, "Expected {\"Document\": {\"DocEntry\": n}}")
            }
            _ = try store.saveDraftToDocument(docEntry)
            return .empty(204)
        }
        guard let set = B1EntitySet(rawValue: path.resource) else {
            throw B1Error(404, -1000, "Resource not found for the segment '\(path.resource)'.")
        }
        switch (request.method, path.key, path.subpath) {
        case ("GET", nil, nil): return try collection(set)
        case ("GET", nil, "$count"): return try count(set)
        case ("GET", let key?, nil): return try single(set, key: key)
        case ("POST", nil, nil):
            let body = try jsonObjectBody()
            let row: SimJSONObject
            switch set {
            case .businessPartners: row = try store.createBusinessPartner(body)
            case .purchaseOrders, .purchaseInvoices, .drafts: row = try store.createDocument(set, body)
            default: throw methodNotAllowed()
            }
            let key = row[set.keyField].map { value in
                value.intValue.map(String.init)
                    ?? "'" + (value.stringValue ?? "").replacingOccurrences(of: "'", with: "''") + "'"
            }
            let location = serviceRoot + set.rawValue + "(" + (key ?? "") + ")"
            if let prefer = request.header("Prefer"), prefer.lowercased().contains("return-no-content") {
                return .empty(204, headers: [("Location", location), ("Preference-Applied", "return-no-content")])
            }
            return entity(row, set: set, status: 201, select: nil, extraHeaders: [("Location", location)])
        case ("PATCH", let key?, nil):
            let body = try jsonObjectBody()
            switch set {
            case .businessPartners: try store.patchBusinessPartner(key, body)
            case .purchaseOrders:
                let replace = request.header("B1S-ReplaceCollectionsOnPatch")?.lowercased() == "true"
                try store.patchPurchaseOrder(key, body, replaceLines: replace)
            default: throw methodNotAllowed()
            }
            return .empty(204)
        default:
            throw methodNotAllowed()
        }
    }

    func methodNotAllowed() -> B1Error {
        B1Error(405, -1000, "The HTTP method '\(request.method)' is not allowed for '\(path.template)'.")
    }

    func jsonObjectBody() throws(B1Error) -> SimJSONObject {
        guard !request.body.isEmpty else { throw B1Error(400, -1000, "The request body is empty.") }
        let value: SimJSON
        do {
            value = try request.jsonBody()
        } catch {
            throw B1Error(400, -1000, "Invalid request body: \(error.description)")
        }
        guard let object = value.objectValue else {
            throw B1Error(400, -1000, "The request body must be a JSON object.")
        }
        return object
    }

    // MARK: Reads

    struct Options {
        var filter: B1Filter?
        var select: [String]?
        var orderBy: [(field: String, ascending: Bool)] = []
        var top: Int?
        var skip = 0
        var inlineCount = false
    }

    static let knownOptions: Set<String> = [
        "$filter", "$select", "$orderby", "$top", "$skip", "$count", "$inlinecount", "$expand", "$format",
    ]

    func options(for set: B1EntitySet) throws(B1Error) -> Options {
        let schema = set.schema
        var options = Options()
        for (name, _) in request.query where name.hasPrefix("$") && !Self.knownOptions.contains(name) {
            throw B1Error.query("Query option '\(name)' is not supported")
        }
        if let text = request.queryValue("$filter"), !text.trimmingCharacters(in: .whitespaces).isEmpty {
            options.filter = try B1Filter.parse(text, schema: schema)
        }
        if let text = request.queryValue("$select"), !text.isEmpty {
            var fields: [String] = []
            for raw in text.split(separator: ",") {
                let field = raw.trimmingCharacters(in: .whitespaces)
                guard schema.knows(field) else { throw B1Error.invalidProperty(field, of: schema.typeName) }
                fields.append(field)
            }
            options.select = fields
        }
        if let text = request.queryValue("$orderby"), !text.isEmpty {
            for raw in text.split(separator: ",") {
                let parts = raw.split(separator: " ", omittingEmptySubsequences: true).map(String.init)
                guard let field = parts.first, parts.count <= 2 else {
                    throw B1Error.query("Invalid $orderby '\(text)'")
                }
                guard schema.knows(field) else { throw B1Error.invalidProperty(field, of: schema.typeName) }
                let direction = parts.count == 2 ? parts[1].lowercased() : "asc"
                guard direction == "asc" || direction == "desc" else {
                    throw B1Error.query("Invalid $orderby '\(text)'")
                }
                options.orderBy.append((field, direction == "asc"))
            }
        }
        func nonNegative(_ name: String) throws(B1Error) -> Int? {
            guard let text = request.queryValue(name) else { return nil }
            guard let value = Int(text), value >= 0 else { throw B1Error.query("Invalid value '\(text)' for \(name)") }
            return value
        }
        options.top = try nonNegative("$top")
        options.skip = try nonNegative("$skip") ?? 0
        options.inlineCount = request.queryValue("$count") == "true" || request.queryValue("$inlinecount") == "allpages"
        return options
    }

    var caseInsensitive: Bool { request.header("B1S-CaseInsensitive")?.lowercased() == "true" }

    func filtered(_ set: B1EntitySet, _ options: Options) -> [SimJSONObject] {
        let schema = set.schema
        var rows = store.rows(set)
        if let filter = options.filter {
            rows = rows.filter { filter.matches($0, schema: schema, caseInsensitive: caseInsensitive) }
        }
        let keys = options.orderBy.isEmpty ? [(field: set.keyField, ascending: true)] : options.orderBy
        return rows.sorted { a, b in
            for (field, ascending) in keys {
                let order = Self.compare(a[field] ?? .null, b[field] ?? .null)
                if order == .orderedSame { continue }
                return ascending ? order == .orderedAscending : order == .orderedDescending
            }
            return false
        }
    }

    static func compare(_ a: SimJSON, _ b: SimJSON) -> ComparisonResult {
        if let x = a.decimalValue, let y = b.decimalValue { return B1Filter.compare(x, y) }
        if let x = a.stringValue, let y = b.stringValue { return B1Filter.compare(x, y) }
        return B1Filter.compare(a.isNull ? 0 : 1, b.isNull ? 0 : 1)
    }

    func pageSize() -> Int {
        var size = settings.defaultPageSize
        if let prefer = request.header("Prefer") {
            for part in prefer.split(whereSeparator: { $0 == "," || $0 == ";" }) {
                let pair = part.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
                if pair.count == 2, pair[0].lowercased() == "odata.maxpagesize", let value = Int(pair[1]) {
                    size = value
                }
            }
        }
        if let header = request.header("B1S-PageSize"), let value = Int(header.trimmingCharacters(in: .whitespaces)) {
            size = value
        }
        // 0 asks for everything at once (as the Service Layer allows); otherwise the server's maximum applies.
        return size <= 0 ? Int.max : min(size, settings.maxPageSize)
    }

    func collection(_ set: B1EntitySet) throws(B1Error) -> SimResponse {
        let options = try options(for: set)
        let rows = filtered(set, options)
        var window = Array(rows.dropFirst(options.skip))
        if let top = options.top { window = Array(window.prefix(top)) }
        let size = pageSize()
        let page = window.prefix(size)
        var body = SimJSONObject()
        body[version.metadataKey] = .string(serviceRoot + "$metadata#" + set.rawValue)
        if options.inlineCount { body[version.countKey] = .int(rows.count) }
        body["value"] = .array(page.map { .object(render($0, set: set, select: options.select)) })
        if window.count > page.count {
            body[version.nextLinkKey] = .string(
                nextLink(set, skip: options.skip + page.count, top: options.top.map { $0 - page.count }))
        }
        var headers: [(name: String, value: String)] = []
        if size != settings.defaultPageSize, size != Int.max {
            headers.append(("Preference-Applied", "odata.maxpagesize=\(size)"))
        }
        return .json(200, .object(body), headers: headers, contentType: SAPBusinessOneSimulator.jsonContentType)
    }

    /// `Set?<the other options as sent>&$skip=N`, relative to the service root like the real Service Layer's.
    func nextLink(_ set: B1EntitySet, skip: Int, top: Int?) -> String {
        var parts = request.rawQuery.split(separator: "&").map(String.init).filter { part in
            let name = SimRequest.percentDecode(
                String(part.split(separator: "=", maxSplits: 1).first ?? ""), plusIsSpace: true)
            return name != "$skip" && name != "$top"
        }
        if let top { parts.append("$top=\(top)") }
        parts.append("$skip=\(skip)")
        return set.rawValue + "?" + parts.joined(separator: "&")
    }

    func count(_ set: B1EntitySet) throws(B1Error) -> SimResponse {
        let options = try options(for: set)
        let rows = filtered(set, options)
        return SimResponse(
            status: 200, headers: [("Content-Type", "text/plain;charset=utf-8")], body: Array(String(rows.count).utf8))
    }

    func single(_ set: B1EntitySet, key: String) throws(B1Error) -> SimResponse {
        let options = try options(for: set)
        let row = try store.find(set, key: key)
        return entity(row, set: set, status: 200, select: options.select)
    }

    func entity(
        _ row: SimJSONObject, set: B1EntitySet, status: Int, select: [String]?,
        extraHeaders: [(name: String, value: String)] = []
    ) -> SimResponse {
        var body = SimJSONObject()
        body[version.metadataKey] = .string(
            serviceRoot + "$metadata#" + set.rawValue + (version == .v1 ? "/@Element" : "/$entity"))
        for (key, value) in render(row, set: set, select: select) { body[key] = value }
        return .json(status, .object(body), headers: extraHeaders, contentType: SAPBusinessOneSimulator.jsonContentType)
    }

    func render(_ row: SimJSONObject, set: B1EntitySet, select: [String]?) -> SimJSONObject {
        B1Render.row(row, schema: set.schema, select: select, dateSuffix: settings.dateSuffix)
    }
}

/// Writes stored rows the way the Service Layer shows them.
enum B1Render {
    static func row(_ row: SimJSONObject, schema: B1Schema, select: [String]?, dateSuffix: String) -> SimJSONObject {
        var out = SimJSONObject()
        for (key, value) in row {
            if let select, !select.contains(key) { continue }
            out[key] = rendered(value, type: schema.type(of: key), dateSuffix: dateSuffix)
        }
        return out
    }

    static func rendered(_ value: SimJSON, type: B1FieldType?, dateSuffix: String) -> SimJSON {
        switch type {
        case .date:
            guard let day = value.stringValue, day.count == 10 else { return value }
            return .string(day + dateSuffix)
        case .collection:
            guard let lines = value.arrayValue else { return value }
            return .array(
                lines.map { line in
                    guard let object = line.objectValue else { return line }
                    return .object(row(object, schema: B1Schemas.line, select: nil, dateSuffix: dateSuffix))
                })
        default:
            return value
        }
    }
}
