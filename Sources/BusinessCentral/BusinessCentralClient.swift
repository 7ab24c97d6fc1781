import ConnectorCore
import ConnectorHTTP
import Foundation
import OData

/// A plain client of the Business Central API v2.0 (`{apiRoot}` = `…/v2.0/{tenant}/{environment}/api/v2.0`).
package struct BusinessCentralClient: Sendable {
    package let apiRoot: String
    package let transport: any HTTPTransport
    package let timeout: Duration
    /// Page size asked for with `Prefer: odata.maxpagesize` (BC online allows up to 20,000).
    package let pageSize: Int
    package let maxPages: Int

    package init(
        apiRoot: String, transport: any HTTPTransport, timeout: Duration = .seconds(60), pageSize: Int = 1000,
        maxPages: Int = 10_000
    ) {
        self.apiRoot = apiRoot.trimmingTrailingSlash
        self.transport = transport
        self.timeout = timeout
        self.pageSize = pageSize
        self.maxPages = maxPages
    }

    private func company(_ id: String) throws -> String { "/companies(\(try Self.guid(id)))" }

    /// Entity keys are unquoted GUIDs in BC URLs; anything else is refused before it reaches a URL.
    static func guid(_ id: String) throws -> String {
        let hex = Set("0123456789abcdefABCDEF-")
        guard id.count == 36, id.allSatisfy(hex.contains) else {
            throw ConnectorError(
                .configInvalid, "\(id.prefix(40).debugDescription) is not a Business Central id (GUID)")
        }
        return id
    }

    package func companies() async throws -> [BCCompany] {
        try await list(URLBuilder.url(apiRoot, path: "/companies"))
    }

    package func vendors(companyId: String, modifiedSince: Date? = nil) async throws -> [BCVendor] {
        try await list(
            entityURL(
                companyId, "vendors", modifiedSince: modifiedSince,
                select:
                    "id,number,displayName,blocked,currencyCode,taxRegistrationNumber,lastModifiedDateTime,addressLine1,addressLine2,city,state,country,postalCode,paymentTermsId"
            ))
    }

    /// Every payment term of the company (a short list: one read, all pages followed).
    package func paymentTerms(companyId: String) async throws -> [BCPaymentTerm] {
        try await list(
            URLBuilder.url(
                apiRoot, path: try company(companyId) + "/paymentTerms",
                query: [("$select", "id,code,displayName,dueDateCalculation")]))
    }

    package func accounts(companyId: String, modifiedSince: Date? = nil) async throws -> [BCAccount] {
        try await list(
            entityURL(
                companyId, "accounts", modifiedSince: modifiedSince,
                select:
                    "id,number,displayName,category,subCategory,blocked,accountType,directPosting,lastModifiedDateTime")
        )
    }

    package func dimensions(companyId: String) async throws -> [BCDimension] {
        return try await list(
            URLBuilder.url(
                apiRoot, path: try company(companyId) + "/dimensions", query: [("$expand", "dimensionValues")]))
    }

    /// Purchase invoices of a vendor with a given vendor invoice number: the natural-key lookup before a create.
    package func findPurchaseInvoices(companyId: String, vendorNumber: String, vendorInvoiceNumber: String) async throws
        -> [BCPurchaseInvoice]
    {
        let filter = ODataFilter.eq("vendorNumber", vendorNumber).and(.eq("vendorInvoiceNumber", vendorInvoiceNumber))
        let url = URLBuilder.url(
            apiRoot, path: try company(companyId) + "/purchaseInvoices",
            query: [("$filter", try filter.render(.businessCentral))])
        return try await list(url)
    }

    /// Purchase invoices holding any of several vendor invoice numbers: the natural-key lookup for a whole batch of
    /// invoices in as few reads as the URL allows. BC turns a `$filter` into field filters, so an `or` may only
    /// combine values of ONE field (reference §1.5): the filter names the numbers only, and the caller matches the
    /// vendor. Each read's query stays within `maxFilterLength` characters once percent-encoded.
    package func findPurchaseInvoices(companyId: String, vendorInvoiceNumbers: [String]) async throws
        -> [BCPurchaseInvoice]
    {
        var found: [BCPurchaseInvoice] = []
        for chunk in try Self.chunks(of: vendorInvoiceNumbers, field: "vendorInvoiceNumber") {
            let url = URLBuilder.url(
                apiRoot, path: try company(companyId) + "/purchaseInvoices",
                query: [
                    ("$filter", try ODataFilter.isIn("vendorInvoiceNumber", chunk).render(.businessCentral)),
                    ("$select", "id,number,vendorInvoiceNumber,vendorId,vendorNumber,status"),
                ])
            found += try await list(url) as [BCPurchaseInvoice]
        }
        return found
    }

    /// The natural-key lookup of a batch of invoices and the purchase orders they name, in ONE request: a JSON
    /// `$batch` (reference §1.6) of filtered reads, one per chunk of numbers (each an `or` over one field), at most
    /// 100 operations per batch. An inner failure throws its own mapped error; an inner page with a next link is
    /// followed with plain reads. `vendorCreditMemoNumbers` adds reads of `purchaseCreditMemos` by
    /// `vendorCreditMemoNumber` (where the connection writes credit memos, their numbers share the invoices' key).
    package func lookUp(
        companyId: String, vendorInvoiceNumbers: [String], purchaseOrderNumbers: [String],
        vendorCreditMemoNumbers: [String] = []
    ) async throws -> (invoices: [BCPurchaseInvoice], orders: [BCPurchaseOrder], creditMemos: [BCPurchaseCreditMemo]) {
        enum Read { case invoices, orders, creditMemos }
        let base = try company(companyId)
        var operations: [(url: String, read: Read)] = []
        for chunk in try Self.chunks(of: vendorInvoiceNumbers, field: "vendorInvoiceNumber") {
            operations.append(
                (
                    URLBuilder.url(
                        "", path: base + "/purchaseInvoices",
                        query: [
                            ("$filter", try ODataFilter.isIn("vendorInvoiceNumber", chunk).render(.businessCentral)),
                            ("$select", "id,number,vendorInvoiceNumber,vendorId,vendorNumber,status"),
                        ]), .invoices
                ))
        }
        for chunk in try Self.chunks(of: vendorCreditMemoNumbers, field: "vendorCreditMemoNumber") {
            operations.append(
                (
                    URLBuilder.url(
                        "", path: base + "/purchaseCreditMemos",
                        query: [
                            (
                                "$filter",
                                try ODataFilter.isIn("vendorCreditMemoNumber", chunk).render(.businessCentral)
                            ),
                            ("$select", "id,number,vendorCreditMemoNumber,vendorId,vendorNumber,status"),
                        ]), .creditMemos
                ))
        }
        for chunk in try Self.chunks(of: purchaseOrderNumbers, field: "number") {
            operations.append(
                (
                    URLBuilder.url(
                        "", path: base + "/purchaseOrders",
                        query: [
                            ("$filter", try ODataFilter.isIn("number", chunk).render(.businessCentral)),
                            (
                                "$select",
                                "id,number,orderDate,vendorId,vendorNumber,status,fullyReceived,lastModifiedDateTime"
                            ),
                        ]), .orders
                ))
        }
        var invoices: [BCPurchaseInvoice] = []
        var orders: [BCPurchaseOrder] = []
        var creditMemos: [BCPurchaseCreditMemo] = []
        var start = 0
        while start < operations.count {
            let slice = Array(operations[start..<min(start + 100, operations.count)])
            let bodies = try await batchGET(slice.map(\.url))
            for (operation, body) in zip(slice, bodies) {
                switch operation.read {
                case .invoices: invoices += try await collection(body, as: BCPurchaseInvoice.self)
                case .orders: orders += try await collection(body, as: BCPurchaseOrder.self)
                case .creditMemos: creditMemos += try await collection(body, as: BCPurchaseCreditMemo.self)
                }
            }
            start += 100
        }
        return (invoices, orders, creditMemos)
    }

    /// One page's items, and every following page through its next link.
    private func collection<T: Decodable & Sendable>(_ body: Data, as type: T.Type) async throws -> [T] {
        let page: ODataCollection<T>
        do {
            page = try JSONCoding.decoder.decode(ODataCollection<T>.self, from: body)
        } catch let error as DecodingError {
            throw ConnectorError(
                .upstreamMalformed, "Business Central sent an unreadable batch answer: \(error.safeDescription)")
        }
        guard let next = page.nextLink else { return page.value }
        guard next.hasPrefix(apiRoot) else {
            throw ConnectorError(.upstreamMalformed, "Business Central sent a next link to another address in a batch")
        }
        return page.value + (try await list(next) as [T])
    }

    private struct BatchRequest: Encodable {
        struct Operation: Encodable {
            var method: String
            var id: String
            var url: String
            var headers: [String: String]
        }
        var requests: [Operation]
    }

    private struct BatchResponse: Decodable {
        struct Operation: Decodable {
            var id: String
            var status: Int
            var body: JSONValue?
        }
        var responses: [Operation]
    }

    /// GETs in one `POST $batch`; each operation's body, in order. URLs are relative to `api/v2.0/`.
    func batchGET(_ relativeURLs: [String]) async throws -> [Data] {
        let body = BatchRequest(
            requests: relativeURLs.enumerated().map { index, url in
                BatchRequest.Operation(
                    method: "GET", id: String(index + 1),
                    url: url.hasPrefix("/") ? String(url.dropFirst()) : url,
                    headers: ["Accept": "application/json", "Prefer": "odata.maxpagesize=\(pageSize)"])
            })
        let request = HTTPRequest(
            method: "POST", url: URLBuilder.url(apiRoot, path: "/$batch"),
            headers: [("Content-Type", "application/json"), ("Accept", "application/json")],
            body: try JSONCoding.encode(body), timeout: timeout, idempotent: true)
        let answer: BatchResponse = try await send(request)
        var bodies: [Data] = []
        for index in relativeURLs.indices {
            guard let operation = answer.responses.first(where: { $0.id == String(index + 1) }) else {
                throw ConnectorError(
                    .upstreamMalformed, "Business Central's batch answer has no response for operation \(index + 1)")
            }
            let data = try operation.body.map { try JSONCoding.encode($0) } ?? Data()
            guard (200..<300).contains(operation.status) else {
                let inner = HTTPRequest(
                    method: "GET", url: URLBuilder.url(apiRoot, path: "/$batch"), timeout: timeout)
                throw Self.error(HTTPResponse(status: operation.status, body: data), request: inner)
            }
            bodies.append(data)
        }
        return bodies
    }

    /// Purchase orders by number (`purchaseOrders`, API v2.0 only; no webhooks, so they are read when needed).
    package func purchaseOrders(companyId: String, numbers: [String]) async throws -> [BCPurchaseOrder] {
        var found: [BCPurchaseOrder] = []
        for chunk in try Self.chunks(of: numbers, field: "number") {
            let url = URLBuilder.url(
                apiRoot, path: try company(companyId) + "/purchaseOrders",
                query: [
                    ("$filter", try ODataFilter.isIn("number", chunk).render(.businessCentral)),
                    ("$select", "id,number,orderDate,vendorId,vendorNumber,status,fullyReceived,lastModifiedDateTime"),
                ])
            found += try await list(url) as [BCPurchaseOrder]
        }
        return found
    }

    /// Longest `$filter` value (percent-encoded) one read carries. BC online's URL limit is not documented
    /// (UNCONFIRMED); 2,000 characters keeps the whole URL well under the 4,096 of common front ends.
    static let maxFilterLength = 2000
    /// Most values in one `or` chain.
    static let maxFilterValues = 60

    /// The distinct values split into chains whose encoded `field eq 'v' or …` stays within the limits.
    static func chunks(of values: [String], field: String) throws -> [[String]] {
        var seen = Set<String>()
        var chunks: [[String]] = []
        var current: [String] = []
        var length = 0
        for value in values where seen.insert(value).inserted {
            let clause =
                ODataQuery.encode([("f", try ODataFilter.eq(ODataField(field), value).render(.businessCentral))])
                .count + 8  // " or " encoded
            if !current.isEmpty, length + clause > maxFilterLength || current.count >= maxFilterValues {
                chunks.append(current)
                current = []
                length = 0
            }
            current.append(value)
            length += clause
        }
        if !current.isEmpty { chunks.append(current) }
        return chunks
    }

    /// Posts a draft purchase invoice (`Microsoft.NAV.post`, 204 with no body). Not idempotent: the caller makes
    /// sure it is sent once, and resolves an unanswered post by reading the invoice's status.
    package func postPurchaseInvoice(companyId: String, id: String) async throws {
        let url = URLBuilder.url(
            apiRoot, path: try company(companyId) + "/purchaseInvoices(\(try Self.guid(id)))/Microsoft.NAV.post")
        let request = HTTPRequest(
            method: "POST", url: url, headers: [("Accept", "application/json")], timeout: timeout, idempotent: false)
        let response = try await transport.send(request)
        guard response.isSuccess else { throw Self.error(response, request: request) }
    }

    package func purchaseInvoice(companyId: String, id: String) async throws -> BCPurchaseInvoice {
        let url = URLBuilder.url(apiRoot, path: try company(companyId) + "/purchaseInvoices(\(try Self.guid(id)))")
        return try await send(
            HTTPRequest(method: "GET", url: url, headers: [("Accept", "application/json")], timeout: timeout))
    }

    /// Creates a draft purchase invoice with its lines in one atomic deep insert. Never posts.
    package func createPurchaseInvoice(companyId: String, _ invoice: BCPurchaseInvoiceCreate) async throws
        -> BCPurchaseInvoice
    {
        let url = URLBuilder.url(apiRoot, path: try company(companyId) + "/purchaseInvoices")
        let request = HTTPRequest(
            method: "POST",
            url: url,
            headers: [("Content-Type", "application/json"), ("Accept", "application/json")],
            body: try JSONCoding.encode(invoice),
            timeout: timeout,
            idempotent: false
        )
        return try await send(request)
    }

    package func purchaseInvoiceLines(companyId: String, invoiceId: String) async throws -> [BCPurchaseInvoiceLine] {
        let url = URLBuilder.url(
            apiRoot,
            path: try company(companyId) + "/purchaseInvoices(\(try Self.guid(invoiceId)))/purchaseInvoiceLines")
        return try await list(url)
    }

    /// Adds one dimension to a line (used when dimensions are not deep-inserted).
    package func createLineDimension(companyId: String, lineId: String, _ dimension: DimensionSetLine) async throws {
        let url = URLBuilder.url(
            apiRoot, path: try company(companyId) + "/purchaseInvoiceLines(\(try Self.guid(lineId)))/dimensionSetLines")
        let request = HTTPRequest(
            method: "POST",
            url: url,
            headers: [("Content-Type", "application/json"), ("Accept", "application/json")],
            body: try JSONCoding.encode(dimension),
            timeout: timeout,
            idempotent: false
        )
        let response = try await transport.send(request)
        guard response.isSuccess else { throw Self.error(response, request: request) }
    }

    private func entityURL(_ companyId: String, _ entitySet: String, modifiedSince: Date?, select: String) throws
        -> String
    {
        var query = [("$select", select)]
        if let modifiedSince {
            query.append(
                (
                    "$filter",
                    try ODataFilter.gt("lastModifiedDateTime", dateTime: modifiedSince).render(.businessCentral)
                ))
        }
        return URLBuilder.url(apiRoot, path: try company(companyId) + "/\(entitySet)", query: query)
    }

    /// Reads a collection, following `@odata.nextLink` (only on the same host) until the last page.
    func list<T: Decodable & Sendable>(_ firstURL: String) async throws -> [T] {
        let pager = ODataPager(
            transport: transport, system: "Business Central", strategy: .nextLink, maxPages: maxPages,
            headers: [("Accept", "application/json"), ("Prefer", "odata.maxpagesize=\(pageSize)")], timeout: timeout)
        let (items, outcome) = try await pager.all(of: T.self, from: firstURL)
        guard outcome.stop.complete else {
            throw ConnectorError(
                .upstreamMalformed,
                outcome.stop == .repeatedLink
                    ? "Business Central sent a next link it had sent before after \(outcome.pages) pages"
                    : "Business Central kept sending next links after \(outcome.pages) pages")
        }
        return items
    }

    func send<T: Decodable>(_ request: HTTPRequest) async throws -> T {
        let response = try await transport.send(request)
        guard response.isSuccess else { throw Self.error(response, request: request) }
        do {
            return try JSONCoding.decoder.decode(T.self, from: response.body)
        } catch let error as DecodingError {
            throw ConnectorError(
                .upstreamMalformed, "Business Central sent an unreadable \(T.self): \(error.safeDescription)")
        }
    }

    /// Maps an error body with the shared toolkit. No code rules yet: `.businessCentral` would make a 409
    /// `Request_EntityChanged` a retryable conflict instead of a rejection, a change of behaviour of its own.
    static func error(_ response: HTTPResponse, request: HTTPRequest) -> ConnectorError {
        ODataErrors.error(response, request: request, system: "Business Central", rules: .none)
    }
}
