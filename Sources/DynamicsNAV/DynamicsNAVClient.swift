import ConnectorCore
import ConnectorHTTP
import Foundation
import OData

/// One row of a published page, by its OData field names (`No`, `Buy_from_Vendor_No`): the names of several fields
/// are settings, so rows stay dictionaries.
package typealias NAVRecord = [String: JSONValue]

extension Dictionary where Key == String, Value == JSONValue {
    func text(_ field: String) -> String? {
        guard case .string(let text)? = self[field] else { return nil }
        return text
    }

    func number(_ field: String) -> Decimal? {
        switch self[field] {
        case .number(let value)?: return value
        case .string(let text)?: return Decimal(string: text)
        default: return nil
        }
    }

    func flag(_ field: String) -> Bool? {
        guard case .bool(let value)? = self[field] else { return nil }
        return value
    }

    /// `@odata.etag`, the concurrency token every change must send back as `If-Match`.
    var etag: String? { text("@odata.etag") }
}

/// A plain client of NAV / BC on-premises OData V4 web services: `{root}/Company('…')/{service}` over a transport
/// that signs every request (Basic with the access key, or a bearer token).
package struct DynamicsNAVClient: Sendable {
    package static let systemName = "Dynamics NAV"

    package let root: String
    /// `/Company('CRONUS%20USA,%20Inc.')` or `/Company(Id=…)`: quotes literal, everything else percent-encoded.
    package let companyPath: String
    package let transport: any HTTPTransport
    package let timeout: Duration
    package let serverPageSize: Int
    let flavor = ODataFlavor.dynamicsNAV

    package init(
        root: String, company: String?, companyId: String?, transport: any HTTPTransport,
        timeout: Duration = .seconds(60), serverPageSize: Int = 200
    ) throws {
        self.root = root.trimmingTrailingSlash
        if let companyId, let id = UUID(uuidString: companyId) {
            companyPath = "/Company" + (try ODataKey.composite([("Id", .guid(id))]))
        } else {
            companyPath = "/Company" + (try ODataKey.single(.string(company ?? "")))
        }
        self.transport = transport
        self.timeout = timeout
        self.serverPageSize = serverPageSize
    }

    var readHeaders: [(name: String, value: String)] {
        [("Accept", "application/json"), ("Prefer", "odata.maxpagesize=\(serverPageSize)")]
    }

    var writeHeaders: [(name: String, value: String)] {
        [("Content-Type", "application/json"), ("Accept", "application/json")]
    }

    /// `{root}/Company(…)/{path}`.
    func url(_ path: String, _ query: ODataQuery = ODataQuery()) throws -> String {
        try query.url(root, path: companyPath + "/" + path, flavor: flavor)
    }

    /// The entity key `(Document_Type='Invoice',No='1001')`.
    func key(_ fields: [(ODataField, ODataValue)]) throws -> String { try ODataKey.composite(fields, flavor: flavor) }
    func key(_ value: String) throws -> String { try ODataKey.single(.string(value), flavor: flavor) }

    /// Every row of a service (following `@odata.nextLink` on the same host).
    func list(_ path: String, _ query: ODataQuery) async throws -> [NAVRecord] {
        let pager = ODataPager(
            transport: transport, system: Self.systemName, strategy: .nextLink, maxPages: 10_000,
            headers: readHeaders, timeout: timeout, errorRules: .dynamicsNAV, serviceRoot: root)
        let (items, outcome) = try await pager.all(of: NAVRecord.self, from: try url(path, query))
        guard outcome.stop.complete else {
            throw ConnectorError(
                .upstreamMalformed, "\(Self.systemName) kept sending next links after \(outcome.pages) pages")
        }
        return items
    }

    /// One row by key, or nil when the page has none (404).
    func entity(_ path: String) async throws -> NAVRecord? {
        let request = HTTPRequest(method: "GET", url: try url(path), headers: readHeaders, timeout: timeout)
        let response = try await transport.send(request)
        if response.status == 404 { return nil }
        return try decode(response, request)
    }

    /// Inserts a row, as the page would (its triggers run). Not idempotent: a lost answer is `erp.ambiguous_write`.
    func create(_ path: String, _ body: NAVRecord) async throws -> NAVRecord {
        let request = HTTPRequest(
            method: "POST", url: try url(path), headers: writeHeaders, body: try JSONCoding.encode(body),
            timeout: timeout, idempotent: false)
        return try decode(try await transport.send(request), request)
    }

    /// Modifies a row under its ETag; a stale ETag is `upstream.conflict` (the caller re-reads and re-applies).
    func patch(_ path: String, _ body: NAVRecord, etag: String) async throws -> NAVRecord? {
        let request = HTTPRequest(
            method: "PATCH", url: try url(path), headers: writeHeaders + [("If-Match", etag)],
            body: try JSONCoding.encode(body), timeout: timeout, idempotent: true)
        let response = try await transport.send(request)
        guard response.isSuccess else { throw error(response, request) }
        return response.body.isEmpty ? nil : try decode(response, request)
    }

    /// Deletes a row under its ETag (a purchase header takes its lines with it).
    func delete(_ path: String, etag: String) async throws {
        let request = HTTPRequest(
            method: "DELETE", url: try url(path), headers: [("If-Match", etag)], timeout: timeout, idempotent: true)
        let response = try await transport.send(request)
        guard response.isSuccess || response.status == 404 else { throw error(response, request) }
    }

    /// `{root}/$metadata` (EDMX, not company-scoped).
    func metadata() async throws -> String {
        let request = HTTPRequest(
            method: "GET", url: URLBuilder.url(root, path: "/$metadata"), headers: [("Accept", "application/xml")],
            timeout: timeout)
        let response = try await transport.send(request)
        guard response.isSuccess else { throw error(response, request) }
        return String(decoding: response.body, as: UTF8.self)
    }

    private func decode(_ response: HTTPResponse, _ request: HTTPRequest) throws -> NAVRecord {
        guard response.isSuccess else { throw error(response, request) }
        do {
            return try JSONCoding.decoder.decode(NAVRecord.self, from: response.body)
        } catch let error as DecodingError {
            throw ConnectorError(
                .upstreamMalformed, "\(Self.systemName) sent an unreadable record: \(error.safeDescription)")
        }
    }

    /// The server's error, with a Windows-only instance said plainly (a 401 that offers no Basic scheme).
    func error(_ response: HTTPResponse, _ request: HTTPRequest) -> ConnectorError {
        var error = ODataErrors.error(response, request: request, system: Self.systemName, rules: .dynamicsNAV)
        if response.status == 401, let challenge = Self.windowsOnlyChallenge(response) {
            error.code = .authRejected
            error.kind = .configuration
            error.retryAt = nil
            error.message =
                "the NAV server instance asks for Windows authentication only (\(challenge)); ml-connector signs in with a NAV user and web service access key (credential type NavUserPassword) or OAuth, and does not do NTLM/Negotiate"
        }
        return error
    }

    /// The schemes of a 401 that offers Negotiate or NTLM and no Basic or Bearer, or nil.
    static func windowsOnlyChallenge(_ response: HTTPResponse) -> String? {
        // One header per scheme, or several schemes in one header separated by commas.
        let offered = response.headers.filter { $0.name.lowercased() == "www-authenticate" }.flatMap {
            $0.value.split(separator: ",").compactMap {
                $0.split(separator: " ").first.map(String.init)
            }
        }.filter { !$0.contains("=") }
        let lower = Set(offered.map { $0.lowercased() })
        guard !lower.isDisjoint(with: ["negotiate", "ntlm"]), lower.isDisjoint(with: ["basic", "bearer"]) else {
            return nil
        }
        return offered.joined(separator: ", ")
    }
}

/// HTTP Basic with the NAV user name and web service access key (reference §3.3). The header is made known to
/// the redactor before it leaves the process.
package struct BasicAuthTransport: HTTPTransport {
    let base: any HTTPTransport
    let header: String

    package init(base: any HTTPTransport, username: String, key: Secret) {
        self.base = base
        self.header = "Basic " + Data("\(username):\(key.value)".utf8).base64EncodedString()
        SecretRedactor.register(key.value)
        SecretRedactor.registerAuthorization(header)
    }

    package func send(_ request: HTTPRequest) async throws -> HTTPResponse {
        var signed = request
        signed.setHeader("Authorization", header)
        return try await base.send(signed)
    }
}

/// What `$metadata` publishes: entity sets (the service names), and per service its properties and navigation
/// properties (the containments).
package struct NAVMetadata: Sendable, Codable, Hashable {
    package var services: [String: Service]

    package struct Service: Sendable, Codable, Hashable {
        package var properties: Set<String>
        package var navigations: Set<String>
    }

    /// Reads the EDMX text: `<EntitySet Name=… EntityType=…>` and each `<EntityType Name=…>`'s `<Property>` and
    /// `<NavigationProperty>` names. Enough to say what is published; not a general EDMX reader.
    package static func parse(_ xml: String) -> NAVMetadata {
        var types: [String: Service] = [:]
        var rest = xml[...]
        while let open = rest.range(of: "<EntityType ") {
            let tail = rest[open.upperBound...]
            guard let close = tail.range(of: "</EntityType>") else { break }
            let body = tail[..<close.lowerBound]
            if let name = attribute("Name", in: body) {
                types[name] = Service(
                    properties: Set(elements("Property", in: body)),
                    navigations: Set(elements("NavigationProperty", in: body)))
            }
            rest = tail[close.upperBound...]
        }
        var services: [String: Service] = [:]
        var sets = xml[...]
        while let open = sets.range(of: "<EntitySet ") {
            let tail = sets[open.upperBound...]
            let end = tail.firstIndex(of: ">") ?? tail.endIndex
            let tag = tail[..<end]
            if let name = attribute("Name", in: tag), let type = attribute("EntityType", in: tag) {
                let short = String(type.split(separator: ".").last ?? "")
                services[name] = types[short] ?? Service(properties: [], navigations: [])
            }
            sets = tail[end...]
        }
        return NAVMetadata(services: services)
    }

    private static func attribute(_ name: String, in text: Substring) -> String? {
        guard let start = text.range(of: "\(name)=\"") else { return nil }
        let value = text[start.upperBound...]
        guard let end = value.firstIndex(of: "\"") else { return nil }
        return String(value[..<end])
    }

    private static func elements(_ tag: String, in text: Substring) -> [String] {
        var names: [String] = []
        var rest = text
        while let open = rest.range(of: "<\(tag) ") {
            let tail = rest[open.upperBound...]
            let end = tail.firstIndex(of: ">") ?? tail.endIndex
            if let name = attribute("Name", in: tail[..<end]) { names.append(name) }
            rest = tail[end...]
        }
        return names
    }
}
