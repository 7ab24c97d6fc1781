import ConnectorCore
import ConnectorHTTP
import Foundation
import OData

/// A plain client of the SAP Business One Service Layer (`{root}` = `https://host:50000/b1s/v1` or `/b1s/v2`)
/// over a transport that carries the session cookies (`SessionAuthTransport`).
package struct SAPBusinessOneClient: Sendable {
    package static let systemName = "SAP Business One"

    package let root: String
    package let transport: any HTTPTransport
    package let flavor: ODataFlavor
    package let timeout: Duration
    /// Records per page asked for (`Prefer: odata.maxpagesize`, and B1SLayer's `B1S-PageSize`).
    package let serverPageSize: Int
    package let maxPages: Int

    /// Error codes beyond the status: only a refused sign-in. A 401 that reaches the client has already been
    /// through one new sign-in and a replay (`SessionAuthTransport`), so it is a rejection, not an expiry.
    static let errorRules = ODataErrorRules([
        ODataErrorRules.Rule(code: "100000027", outcome: .credentialsRejected, confirmed: true)
    ])

    package init(
        root: String, transport: any HTTPTransport, timeout: Duration = .seconds(60), serverPageSize: Int = 100,
        maxPages: Int = 10_000
    ) {
        self.root = root.trimmingTrailingSlash
        self.transport = transport
        self.flavor = self.root.hasSuffix("/b1s/v2") ? .sapBusinessOne : .sapBusinessOneV1
        self.timeout = timeout
        self.serverPageSize = serverPageSize
        self.maxPages = maxPages
    }

    var readHeaders: [(name: String, value: String)] {
        [
            ("Accept", "application/json"), ("Prefer", "odata.maxpagesize=\(serverPageSize)"),
            ("B1S-PageSize", "\(serverPageSize)"),
        ]
    }

    /// Reads a collection, following `odata.nextLink` / `@odata.nextLink` (same host only) until the last page.
    func list<T: Decodable & Sendable>(_ entitySet: String, _ query: ODataQuery) async throws -> [T] {
        let pager = ODataPager(
            transport: transport, system: Self.systemName, strategy: .nextLink, maxPages: maxPages,
            headers: readHeaders, timeout: timeout, errorRules: Self.errorRules, serviceRoot: root)
        let (items, outcome) = try await pager.all(
            of: T.self, from: try query.url(root, path: "/" + entitySet, flavor: flavor))
        guard outcome.stop.complete else {
            throw ConnectorError(
                .upstreamMalformed,
                outcome.stop == .repeatedLink
                    ? "\(Self.systemName) sent a next link it had sent before after \(outcome.pages) pages"
                    : "\(Self.systemName) kept sending next links after \(outcome.pages) pages")
        }
        return items
    }

    /// One entity by key, or nil when the Service Layer has none (404, `-2028`).
    func entity<T: Decodable>(_ path: String, select: [ODataField] = []) async throws -> T? {
        let url = try ODataQuery(select: select).url(root, path: path, flavor: flavor)
        let request = HTTPRequest(method: "GET", url: url, headers: readHeaders, timeout: timeout)
        let response = try await transport.send(request)
        if response.status == 404 { return nil }
        return try decode(response, request)
    }

    /// `/{entitySet}/$count`, optionally filtered.
    func count(_ entitySet: String, filter: ODataFilter? = nil) async throws -> Int {
        let url = try ODataQuery(filter: filter).url(root, path: "/\(entitySet)/$count", flavor: flavor)
        let request = HTTPRequest(method: "GET", url: url, headers: [("Accept", "text/plain")], timeout: timeout)
        let response = try await transport.send(request)
        guard response.isSuccess else { throw error(response, request) }
        let text = String(decoding: response.body, as: UTF8.self).trimmingWhitespace()
        guard let count = Int(text) else {
            throw ConnectorError(
                .upstreamMalformed, "\(Self.systemName) answered $count of \(entitySet) without a number")
        }
        return count
    }

    /// Creates an entity. Not idempotent: a lost answer becomes `erp.ambiguous_write` (the retrying transport),
    /// resolved by the caller by reading, never by sending it again.
    func create<T: Decodable>(_ entitySet: String, _ body: some Encodable) async throws -> T {
        let request = HTTPRequest(
            method: "POST", url: URLBuilder.url(root, path: "/" + entitySet),
            headers: [("Content-Type", "application/json"), ("Accept", "application/json")],
            body: try JSONCoding.encode(body), timeout: timeout, idempotent: false)
        let response = try await transport.send(request)
        return try decode(response, request)
    }

    /// `PATCH` merges the fields sent (document lines by `LineNum`); the answer is `204`.
    func patch(_ path: String, _ body: some Encodable) async throws {
        let request = HTTPRequest(
            method: "PATCH", url: URLBuilder.url(root, path: path),
            headers: [("Content-Type", "application/json"), ("Accept", "application/json")],
            body: try JSONCoding.encode(body), timeout: timeout, idempotent: true)
        let response = try await transport.send(request)
        guard response.isSuccess else { throw error(response, request) }
    }

    /// Calls a service action (`DraftsService_SaveDraftToDocument`).
    func action(_ name: String, _ body: some Encodable) async throws {
        let request = HTTPRequest(
            method: "POST", url: URLBuilder.url(root, path: "/" + name),
            headers: [("Content-Type", "application/json"), ("Accept", "application/json")],
            body: try JSONCoding.encode(body), timeout: timeout, idempotent: false)
        let response = try await transport.send(request)
        guard response.isSuccess else { throw error(response, request) }
    }

    private func decode<T: Decodable>(_ response: HTTPResponse, _ request: HTTPRequest) throws -> T {
        guard response.isSuccess else { throw error(response, request) }
        do {
            return try JSONCoding.decoder.decode(T.self, from: response.body)
        } catch let error as DecodingError {
            throw ConnectorError(
                .upstreamMalformed, "\(Self.systemName) sent an unreadable \(T.self): \(error.safeDescription)")
        }
    }

    func error(_ response: HTTPResponse, _ request: HTTPRequest) -> ConnectorError {
        ODataErrors.error(response, request: request, system: Self.systemName, rules: Self.errorRules)
    }

    /// `'<CardCode>'` as an entity key.
    func key(_ text: String) throws -> String { try ODataKey.single(.string(text), flavor: flavor) }
    func key(_ number: Int) throws -> String { try ODataKey.single(.int(Int64(number)), flavor: flavor) }
}

/// The session side of the Service Layer: the sign-in request and the rule that says a session is gone.
package enum SAPBusinessOneSession {
    /// `POST /Login` with `CompanyDB`, `UserName` and `Password`.
    package static func signInRequest(root: String, companyDB: String, username: String, password: Secret)
        throws -> HTTPRequest
    {
        let body = try JSONSerialization.data(
            withJSONObject: ["CompanyDB": companyDB, "UserName": username, "Password": password.value],
            options: [.sortedKeys])
        // A repeated sign-in opens one more session at worst; sending it again beats failing the step.
        return HTTPRequest(
            method: "POST", url: URLBuilder.url(root, path: "/Login"),
            headers: [("Content-Type", "application/json"), ("Accept", "application/json")], body: body,
            timeout: .seconds(60), idempotent: true)
    }

    package static func signOutRequest(root: String) -> HTTPRequest {
        HTTPRequest(method: "POST", url: URLBuilder.url(root, path: "/Logout"), timeout: .seconds(30), idempotent: true)
    }

    /// HTTP 401, or a failure whose error code is one of `codes` (`301` "Invalid session or session already
    /// timeout."; v1 sends it as a number, v2 as a string).
    package static func isExpired(_ response: HTTPResponse, codes: Set<String>) -> Bool {
        if response.status == 401 { return true }
        guard response.status >= 400, !codes.isEmpty else { return false }
        guard let code = ODataErrors.parse(response.body).code else { return false }
        return codes.contains(code)
    }

    /// A refused sign-in: `100000027` "Login failed" is the credentials; anything else by its status.
    package static func signInError(_ response: HTTPResponse, _ request: HTTPRequest) -> ConnectorError {
        let detail = ODataErrors.parse(response.body)
        var error = ODataErrors.error(
            response, request: request, system: SAPBusinessOneClient.systemName, rules: SAPBusinessOneClient.errorRules)
        if detail.code == "100000027" || [400, 401, 403].contains(response.status) {
            error.code = .authRejected
            error.kind = .configuration
            error.retryAt = nil
        }
        error.message = "sign-in refused: \(error.message)"
        return error
    }
}
