import ConnectorCore
import ConnectorHTTP
import Foundation
import OData

/// A plain client of Acumatica's contract-based REST API under `{instanceURL}/entity/{endpoint}/{version}`
/// (reference §3). The transport brings the sign-in (bearer token or session cookies), the shared request budget
/// and retries; this type builds URLs and bodies and maps answers.
package struct AcumaticaClient: Sendable {
    package let instanceURL: String
    package let entityRoot: String
    package let transport: any HTTPTransport
    package let clock: any WallClock
    package let timeout: Duration
    /// How long an action that answered 202 is polled before the step gives up (and tries again later).
    package let actionWait: Duration

    package static let system = "Acumatica"

    package init(
        instanceURL: String, entityRoot: String, transport: any HTTPTransport, clock: any WallClock = SystemWallClock(),
        timeout: Duration = .seconds(60), actionWait: Duration = .seconds(120)
    ) {
        self.instanceURL = instanceURL.trimmingTrailingSlash
        self.entityRoot = entityRoot.trimmingTrailingSlash
        self.transport = transport
        self.clock = clock
        self.timeout = timeout
        self.actionWait = actionWait
    }

    private static let jsonHeaders: [(name: String, value: String)] = [
        ("Accept", "application/json"), ("Content-Type", "application/json"),
    ]

    // MARK: Reading

    /// One page of an entity: `$filter`, `$expand`, `$top`, `$skip` (reference §3.5; no `$orderby`).
    package func page(
        _ entity: String, filter: ODataFilter? = nil, expand: [ODataField] = [], top: Int, skip: Int
    ) async throws -> [AcumaticaRecord] {
        let query = ODataQuery(filter: filter, expand: expand, top: top, skip: skip)
        let url = try query.url(entityRoot, path: "/" + (try ODataField.validate(entity)), flavor: .acumatica)
        return try await get(url)
    }

    /// Every record matching `filter`, page by page with `$top`/`$skip`; a short page is the last.
    package func all(
        _ entity: String, filter: ODataFilter? = nil, expand: [ODataField] = [], pageSize: Int = 500,
        maxPages: Int = 1000
    ) async throws -> [AcumaticaRecord] {
        var records: [AcumaticaRecord] = []
        for pageNumber in 0..<maxPages {
            let page = try await page(
                entity, filter: filter, expand: expand, top: pageSize, skip: pageNumber * pageSize)
            records += page
            if page.count < pageSize { return records }
        }
        throw ConnectorError(
            .upstreamMalformed, "Acumatica kept sending full pages of \(entity) after \(maxPages) pages")
    }

    /// A record by its system id (`GET {Entity}/{id}`).
    package func record(_ entity: String, id: String, expand: [ODataField] = []) async throws -> AcumaticaRecord {
        let query = ODataQuery(expand: expand)
        let url = try query.url(
            entityRoot, path: "/\(try ODataField.validate(entity))/\(URLBuilder.segment(id))", flavor: .acumatica)
        return try await get(url)
    }

    func get<T: Decodable>(_ url: String) async throws -> T {
        let request = HTTPRequest(method: "GET", url: url, headers: [("Accept", "application/json")], timeout: timeout)
        return try decode(try await send(request), request)
    }

    // MARK: Writing

    /// `PUT {Entity}`: creates the record, or updates the one the body's keys (or `id`) locate. Never idempotent:
    /// a body without keys creates a new record each time, so it is never resent after it may have arrived.
    /// With `updateOnly` (`If-Match: *`) a record the body does not locate is a 412, never a new one, so the
    /// request may be sent again.
    package func put(_ entity: String, _ body: JSONValue, expand: [ODataField] = [], updateOnly: Bool = false)
        async throws -> AcumaticaRecord
    {
        let url = try ODataQuery(expand: expand).url(
            entityRoot, path: "/" + (try ODataField.validate(entity)), flavor: .acumatica)
        let request = HTTPRequest(
            method: "PUT", url: url, headers: Self.jsonHeaders + (updateOnly ? [("If-Match", "*")] : []),
            body: try JSONCoding.encode(body), timeout: timeout, idempotent: updateOnly)
        return try decode(try await send(request), request)
    }

    /// `POST {Entity}/{Action}` with `{"entity": …, "parameters": {}}`. An action may run in the background: a 202
    /// names a `Location` polled until it answers 204 (done) (reference §3.4; the 202 flow is UNCONFIRMED there, so
    /// an immediate 200/204 is taken as done too).
    package func action(_ entity: String, _ action: String, on target: JSONValue) async throws {
        let url = URLBuilder.url(
            entityRoot, path: "/\(try ODataField.validate(entity))/\(try ODataField.validate(action))")
        let body: JSONValue = .object(["entity": target, "parameters": .object([:])])
        let request = HTTPRequest(
            method: "POST", url: url, headers: Self.jsonHeaders, body: try JSONCoding.encode(body), timeout: timeout,
            idempotent: false)
        let response = try await send(request)
        guard response.status == 202, let location = response.header("Location") else { return }
        let statusURL = try sameOrigin(location)
        let deadline = clock.now().addingTimeInterval(actionWait.timeInterval)
        while true {
            try await clock.sleep(for: .seconds(1))
            let poll = HTTPRequest(
                method: "GET", url: statusURL, headers: [("Accept", "application/json")], timeout: timeout)
            let state = try await send(poll)
            if state.status != 202 { return }
            guard clock.now() < deadline else {
                throw ConnectorError(
                    .upstreamUnavailable, kind: .temporary,
                    "Acumatica is still running \(entity)/\(action) after \(Int(actionWait.timeInterval)) s; will check again",
                    retryAt: clock.now().addingTimeInterval(60))
            }
        }
    }

    /// Resolves an action's `Location` against the instance and refuses one on another host.
    func sameOrigin(_ location: String) throws -> String {
        guard let base = URL(string: instanceURL + "/"),
            let resolved = URL(string: location, relativeTo: base)?.absoluteURL,
            let target = URLComponents(url: resolved, resolvingAgainstBaseURL: false),
            let origin = URLComponents(string: instanceURL),
            target.host?.lowercased() == origin.host?.lowercased(), target.port == origin.port,
            target.scheme?.lowercased() == origin.scheme?.lowercased()
        else {
            throw ConnectorError(.upstreamMalformed, "Acumatica named an action status location on another host")
        }
        // An absolute path is taken under the instance's virtual directory only if it already starts with it.
        return resolved.absoluteString
    }

    // MARK: The site

    /// `GET {instanceURL}/entity`: the build and every endpoint the instance serves.
    package func siteInfo() async throws -> AcumaticaSiteInfo {
        try await get(instanceURL + "/entity")
    }

    // MARK: Answers

    func send(_ request: HTTPRequest) async throws -> HTTPResponse {
        let response = try await transport.send(request)
        guard response.isSuccess else { throw Self.error(response, request: request) }
        return response
    }

    func decode<T: Decodable>(_ response: HTTPResponse, _ request: HTTPRequest) throws -> T {
        do {
            return try JSONCoding.decoder.decode(T.self, from: response.body)
        } catch let error as DecodingError {
            throw ConnectorError(
                .upstreamMalformed,
                "Acumatica sent an unreadable answer to \(request.method) \(URLComponents(string: request.url)?.path ?? ""): \(error.safeDescription)"
            )
        }
    }

    /// Error bodies through the shared toolkit: 401/403 configuration, 422 field errors rejected with each field's
    /// message, 429 (the licence's limits) temporary with `retryAt`, 5xx on a create ambiguous. A session that
    /// expired was already renewed by the session transport, so a 401 that reaches here is a real refusal.
    static func error(_ response: HTTPResponse, request: HTTPRequest) -> ConnectorError {
        ODataErrors.error(response, request: request, system: system, rules: .none)
    }
}

/// `GET /entity`: `{"version": {"acumaticaBuildVersion": …}, "endpoints": [{"name", "version", "href"}]}`.
package struct AcumaticaSiteInfo: Sendable, Decodable {
    package struct Version: Sendable, Decodable {
        package var acumaticaBuildVersion: String?
        package var databaseVersion: String?
    }
    package struct Endpoint: Sendable, Decodable, Hashable {
        package var name: String
        package var version: String
        package var href: String?
    }
    package var version: Version?
    package var endpoints: [Endpoint]?
}
