import ConnectorCore
import ConnectorHTTP
import Foundation
import OData

/// A plain client of one Finance & Operations environment's OData service (`https://<host>/data`).
///
/// Company scoping (reference §2.3): reads of company-specific entities carry `cross-company=true` and a
/// `dataAreaId eq '…'` filter, so they see exactly the pinned legal entity whatever the principal's default company
/// is; writes carry `dataAreaId` in the body. Keys in URLs name every key field, each literal escaped.
package struct FinanceOperationsClient: Sendable {
    package let serviceRoot: String
    package let transport: any HTTPTransport
    package let timeout: Duration
    package let maxPages: Int

    static let system = "Finance and Operations"
    static let flavor = ODataFlavor.financeOperations

    package init(
        serviceRoot: String, transport: any HTTPTransport, timeout: Duration = .seconds(60), maxPages: Int = 1000
    ) {
        self.serviceRoot = serviceRoot.trimmingTrailingSlash
        self.transport = transport
        self.timeout = timeout
        self.maxPages = maxPages
    }

    /// A company-scoped query: `cross-company=true` with a `dataAreaId` filter when the company is known; the
    /// principal's default company otherwise.
    static func scoped(_ query: ODataQuery, dataAreaId: String?) -> ODataQuery {
        guard let dataAreaId else { return query }
        var scoped = query
        let company = ODataFilter.eq("dataAreaId", dataAreaId)
        scoped.filter = query.filter.map { company.and($0) } ?? company
        scoped.crossCompany = true
        return scoped
    }

    /// Every record of `entitySet` the query selects, following `@odata.nextLink` (up to 10,000 records a page).
    package func list<T: Decodable & Sendable>(_ entitySet: String, _ query: ODataQuery) async throws -> [T] {
        let url = try query.url(serviceRoot, path: "/" + (try ODataField.validate(entitySet)), flavor: Self.flavor)
        let pager = ODataPager(
            transport: transport, system: Self.system, strategy: .nextLink, maxPages: maxPages,
            headers: [("Accept", "application/json")], timeout: timeout, errorRules: .financeOperations)
        do {
            let (items, outcome) = try await pager.all(of: T.self, from: url)
            guard outcome.stop.complete else {
                throw ConnectorError(
                    .upstreamMalformed,
                    "\(Self.system) kept sending next links for \(entitySet) after \(outcome.pages) pages")
            }
            return items
        } catch let error as ConnectorError {
            throw Self.explain(error, entitySet: entitySet)
        }
    }

    /// How many records the query selects (`$count=true&$top=0`).
    package func count(_ entitySet: String, _ query: ODataQuery) async throws -> Int {
        var counted = query
        counted.count = true
        counted.top = 0
        let url = try counted.url(serviceRoot, path: "/" + (try ODataField.validate(entitySet)), flavor: Self.flavor)
        let request = HTTPRequest(method: "GET", url: url, headers: [("Accept", "application/json")], timeout: timeout)
        let answer: FOCount = try await send(request, entitySet: entitySet)
        return answer.count ?? 0
    }

    /// `POST /data/{entitySet}`: creates one record and returns it as F&O stored it (with the keys it assigned).
    package func create<T: Decodable>(_ entitySet: String, _ body: JSONValue) async throws -> T {
        let request = HTTPRequest(
            method: "POST", url: URLBuilder.url(serviceRoot, path: "/" + (try ODataField.validate(entitySet))),
            headers: [("Content-Type", "application/json"), ("Accept", "application/json")],
            body: try JSONCoding.encode(body), timeout: timeout, idempotent: false)
        return try await send(request, entitySet: entitySet)
    }

    /// `DELETE /data/{entitySet}(k1='…',k2='…')`; every key field named.
    package func delete(_ entitySet: String, key: [(ODataField, ODataValue)], keyFields: [String]) async throws {
        let segment = try ODataKey.composite(key, required: keyFields, flavor: Self.flavor)
        let request = HTTPRequest(
            method: "DELETE",
            url: URLBuilder.url(serviceRoot, path: "/" + (try ODataField.validate(entitySet))) + segment,
            headers: [("Accept", "application/json"), ("If-Match", "*")], timeout: timeout)
        let response = try await transport.send(request)
        guard response.isSuccess || response.status == 404 else {
            throw Self.explain(Self.error(response, request: request), entitySet: entitySet)
        }
    }

    func send<T: Decodable>(_ request: HTTPRequest, entitySet: String) async throws -> T {
        let response = try await transport.send(request)
        guard response.isSuccess else {
            throw Self.explain(Self.error(response, request: request), entitySet: entitySet)
        }
        do {
            return try JSONCoding.decoder.decode(T.self, from: response.body)
        } catch let error as DecodingError {
            throw ConnectorError(
                .upstreamMalformed, "\(Self.system) sent an unreadable \(entitySet) answer: \(error.safeDescription)")
        }
    }

    /// The shared toolkit's mapping; the useful text of an F&O error is `innererror.message`, which it keeps.
    static func error(_ response: HTTPResponse, request: HTTPRequest) -> ConnectorError {
        ODataErrors.error(response, request: request, system: system, rules: .financeOperations)
    }

    /// A 401 from `/data` comes after Entra issued a token (the token call has its own errors): the app is not
    /// registered in F&O, or is mapped to a disabled user (reference §2.1).
    static func explain(_ error: ConnectorError, entitySet: String) -> ConnectorError {
        guard error.httpStatus == 401 else { return error }
        var explained = error
        explained.code = .authRejected
        explained.kind = .configuration
        explained.retryAt = nil
        explained.message =
            "\(system) refused the token for /data/\(entitySet) (HTTP 401): Entra issued the token, but the app is not registered in F&O; register its client id in System administration > Setup > Microsoft Entra applications, mapped to an enabled F&O user with the needed roles"
        return explained
    }
}
