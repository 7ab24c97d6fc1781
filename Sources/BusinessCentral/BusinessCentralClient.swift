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
                    "id,number,displayName,blocked,currencyCode,taxRegistrationNumber,lastModifiedDateTime,addressLine1,addressLine2,city,state,country,postalCode"
            ))
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
