import ConnectorCore
import ConnectorHTTP
import Foundation

/// Reads an OData collection page by page over any ``HTTPTransport``.
///
/// Next pages come from `@odata.nextLink` (v4) or `odata.nextLink` (v3, SAP Business One v1), absolute or relative
/// (resolved against the URL of the page that carried it). A link to another scheme, host or port is refused, so
/// credentials never follow it. Where the server sends no link and the strategy allows it, the pager pages by
/// `$top`/`$skip` itself (Acumatica). It stops on the last page, on an empty page, on a link it has already followed
/// (a server looping), and at `maxPages`, and says which.
package struct ODataPager: Sendable {
    package enum Strategy: Sendable, Hashable {
        /// Follow next links only (Business Central, F&O, NAV, B1). Microsoft advises against `$skip` paging on BC.
        case nextLink
        /// Page with `$top=pageSize&$skip=n` (Acumatica documents no next link); a short page is the last.
        case skip(pageSize: Int)
        /// Follow next links while the server sends them; without one, continue with `$skip` after a full page.
        case nextLinkOrSkip(pageSize: Int)
    }

    /// Why reading stopped.
    package enum Stop: String, Sendable, Hashable {
        /// The server said so: no next link (or a short page when paging by `$skip`).
        case lastPage
        case emptyPage
        /// A next link came back that had been followed already.
        case repeatedLink
        /// `maxPages` pages were read and the server still had more.
        case maxPages

        /// Whether every record was read. `repeatedLink` and `maxPages` may leave records unread.
        package var complete: Bool { self == .lastPage || self == .emptyPage }
    }

    package struct Outcome: Sendable, Hashable {
        package var pages: Int
        package var items: Int
        package var stop: Stop

        package init(pages: Int, items: Int, stop: Stop) {
            self.pages = pages
            self.items = items
            self.stop = stop
        }
    }

    package var transport: any HTTPTransport
    /// Named in errors ("SAP Business One answered HTTP 400 …").
    package var system: String
    package var strategy: Strategy
    package var maxPages: Int
    package var headers: [(name: String, value: String)]
    package var timeout: Duration
    package var errorRules: ODataErrorRules
    /// Where a relative next link is resolved when the service documents links relative to its root (SAP B1:
    /// `Items?$skip=20` under `/b1s/v1/`); nil resolves against the URL of the page that carried the link.
    package var serviceRoot: String?

    package init(
        transport: any HTTPTransport, system: String, strategy: Strategy = .nextLink, maxPages: Int = 10_000,
        headers: [(name: String, value: String)] = [("Accept", "application/json")], timeout: Duration = .seconds(60),
        errorRules: ODataErrorRules = .none, serviceRoot: String? = nil
    ) {
        self.serviceRoot = serviceRoot
        self.transport = transport
        self.system = system
        self.strategy = strategy
        self.maxPages = maxPages
        self.headers = headers
        self.timeout = timeout
        self.errorRules = errorRules
    }

    /// Reads pages from `url` and hands each page's records to `body` as it arrives.
    @discardableResult
    package func forEachPage<Element: Decodable & Sendable>(
        of type: Element.Type, from url: String, _ body: ([Element]) async throws -> Void
    ) async throws -> Outcome {
        guard let origin = URLComponents(string: url), origin.scheme != nil, origin.host != nil else {
            throw ConnectorError(
                .configInvalid, "\(system): not an absolute URL: \(SecretRedactor.excerpt(url, limit: 80))")
        }
        var next = url
        if case .skip(let size) = strategy { next = try Self.withSkip(url, top: size, skip: 0) }
        var followed: Set<String> = [next]
        var pages = 0
        var items = 0
        var skipped = 0
        while true {
            guard pages < maxPages else { return Outcome(pages: pages, items: items, stop: .maxPages) }
            let page: ODataPage<Element> = try await fetch(next)
            pages += 1
            guard !page.value.isEmpty else { return Outcome(pages: pages, items: items, stop: .emptyPage) }
            items += page.value.count
            skipped += page.value.count
            try await body(page.value)

            let candidate: String
            if let link = page.nextLink, !isSkipOnly {
                candidate = try resolve(
                    link, against: serviceRoot.map { $0.hasSuffix("/") ? $0 : $0 + "/" } ?? next, origin: origin)
            } else if let size = Self.pageSize(strategy), page.value.count >= size {
                candidate = try Self.withSkip(url, top: size, skip: skipped)
            } else {
                return Outcome(pages: pages, items: items, stop: .lastPage)
            }
            guard followed.insert(candidate).inserted else {
                return Outcome(pages: pages, items: items, stop: .repeatedLink)
            }
            next = candidate
        }
    }

    /// Reads every page into one array.
    package func all<Element: Decodable & Sendable>(of type: Element.Type, from url: String) async throws
        -> (items: [Element], outcome: Outcome)
    {
        var collected: [Element] = []
        let outcome = try await forEachPage(of: type, from: url) { collected += $0 }
        return (collected, outcome)
    }

    private var isSkipOnly: Bool {
        if case .skip = strategy { return true }
        return false
    }

    private static func pageSize(_ strategy: Strategy) -> Int? {
        switch strategy {
        case .nextLink: nil
        case .skip(let size), .nextLinkOrSkip(let size): max(size, 1)
        }
    }

    private func fetch<Element: Decodable & Sendable>(_ url: String) async throws -> ODataPage<Element> {
        let request = HTTPRequest(method: "GET", url: url, headers: headers, timeout: timeout)
        let response = try await transport.send(request)
        guard response.isSuccess else {
            throw ODataErrors.error(response, request: request, system: system, rules: errorRules)
        }
        do {
            // RFC 3339 dates, like every client of the connector.
            return try JSONCoding.decoder.decode(ODataPage<Element>.self, from: response.body)
        } catch let error as DecodingError {
            throw ConnectorError(
                .upstreamMalformed, "\(system) sent an unreadable page of \(Element.self): \(error.safeDescription)")
        }
    }

    /// Resolves a next link against the page that carried it and refuses one that leaves the service's origin.
    func resolve(_ link: String, against current: String, origin: URLComponents) throws -> String {
        guard let base = URL(string: current), let resolved = URL(string: link, relativeTo: base)?.absoluteURL,
            let target = URLComponents(url: resolved, resolvingAgainstBaseURL: false)
        else {
            throw ConnectorError(.upstreamMalformed, "\(system) sent a next link that is not a URL; not followed")
        }
        guard target.scheme?.lowercased() == origin.scheme?.lowercased(),
            target.host?.lowercased() == origin.host?.lowercased(),
            Self.port(target) == Self.port(origin)
        else {
            throw ConnectorError(.upstreamMalformed, "\(system) sent a next link to another host; not followed")
        }
        return resolved.absoluteString
    }

    private static func port(_ components: URLComponents) -> Int? {
        components.port ?? (components.scheme?.lowercased() == "https" ? 443 : components.scheme == "http" ? 80 : nil)
    }

    /// `url` with its `$top` and `$skip` replaced.
    static func withSkip(_ url: String, top: Int, skip: Int) throws -> String {
        let parts = url.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false)
        let kept =
            parts.count > 1
            ? parts[1].split(separator: "&").filter { pair in
                let name = pair.split(separator: "=", maxSplits: 1).first.map(String.init) ?? ""
                let decoded = (name.removingPercentEncoding ?? name).lowercased()
                return decoded != "$top" && decoded != "$skip"
            }.map(String.init)
            : []
        return String(parts[0]) + "?" + (kept + ["$top=\(top)", "$skip=\(skip)"]).joined(separator: "&")
    }
}

/// One page of a collection: `value` plus the next link in either spelling.
struct ODataPage<Element: Decodable>: Decodable {
    var value: [Element]
    var nextLink: String?

    private struct Key: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: Key.self)
        value = try container.decode([Element].self, forKey: Key(stringValue: "value"))
        nextLink =
            try container.decodeIfPresent(String.self, forKey: Key(stringValue: "@odata.nextLink"))
            ?? container.decodeIfPresent(String.self, forKey: Key(stringValue: "odata.nextLink"))
    }
}
