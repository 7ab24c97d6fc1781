import ConnectorCore
import ConnectorHTTP
import Foundation

/// A plain client of the JAGGAER ONE (J1P) invoicing API. Paths and list parameters come from the connection,
/// because JAGGAER has not published them (see the reference notes); the defaults follow public client code.
package struct JaggaerClient: Sendable {
    package struct Paths: Sendable {
        package var invoiceList: String
        package var invoice: String
        package var startParameter: String
        package var pageSizeParameter: String
        package var updatedSinceParameter: String
        package var statusParameter: String?
        /// A sort the list is asked for (`jaggaer.sortParameter` = `jaggaer.sortValue`), when configured.
        package var sortParameter: String?
        package var sortValue: String?
        package var purchaseOrderList: String
        package var purchaseOrder: String

        package init(
            invoiceList: String = "/j1p/api/public/ji/v1/invoices",
            invoice: String = "/j1p/api/public/ji/v1/invoices/{id}",
            startParameter: String = "startAt",
            pageSizeParameter: String = "maxRecords",
            updatedSinceParameter: String = "lastUpdateFrom",
            statusParameter: String? = "workflowStatus",
            sortParameter: String? = nil,
            sortValue: String? = nil,
            purchaseOrderList: String = "/j1p/api/public/po/v1/purchaseorders",
            purchaseOrder: String = "/j1p/api/public/po/v1/purchaseorders/{id}"
        ) {
            self.invoiceList = invoiceList
            self.invoice = invoice
            self.startParameter = startParameter
            self.pageSizeParameter = pageSizeParameter
            self.updatedSinceParameter = updatedSinceParameter
            self.statusParameter = statusParameter
            self.sortParameter = sortParameter
            self.sortValue = sortValue
            self.purchaseOrderList = purchaseOrderList
            self.purchaseOrder = purchaseOrder
        }
    }

    package let baseURL: String
    package let paths: Paths
    package let transport: any HTTPTransport
    package let timeout: Duration

    package init(
        baseURL: String, paths: Paths = Paths(), transport: any HTTPTransport, timeout: Duration = .seconds(60)
    ) {
        self.baseURL = baseURL
        self.paths = paths
        self.transport = transport
        self.timeout = timeout
    }

    /// One page of invoice headers changed at or after `updatedSince`, oldest first.
    package func listInvoices(startAt: Int, pageSize: Int, updatedSince: Date?, status: String?) async throws
        -> JaggaerInvoiceListPage
    {
        var query = [(paths.startParameter, String(startAt)), (paths.pageSizeParameter, String(pageSize))]
        if let updatedSince { query.append((paths.updatedSinceParameter, Timestamp.format(updatedSince))) }
        if let status, let name = paths.statusParameter { query.append((name, status)) }
        if let name = paths.sortParameter, let value = paths.sortValue { query.append((name, value)) }
        let page: JaggaerInvoiceListPage = try await get(URLBuilder.url(baseURL, path: paths.invoiceList, query: query))
        if let code = page.returnCode?.value, code != "0" {
            throw ConnectorError(
                .upstreamRejected,
                "JAGGAER list answered returnCode \(SecretRedactor.excerpt(code, limit: 20)): \(SecretRedactor.excerpt(page.returnMessage ?? "", limit: 300))"
            )
        }
        return page
    }

    /// One invoice with its lines.
    package func invoice(id: String) async throws -> JaggaerInvoice {
        let path = paths.invoice.replacingOccurrences(of: "{id}", with: URLBuilder.segment(id))
        return try await get(URLBuilder.url(baseURL, path: path))
    }

    func get<T: Decodable>(_ url: String) async throws -> T {
        let request = HTTPRequest(method: "GET", url: url, headers: [("Accept", "application/json")], timeout: timeout)
        let response = try await transport.send(request)
        guard response.isSuccess else {
            let body = try? JSONDecoder().decode(JaggaerErrorBody.self, from: response.body)
            throw UpstreamError.from(
                response,
                request: request,
                system: "JAGGAER",
                code: body?.error ?? body?.returnCode?.value,
                message: body?.returnMessage ?? body?.errorDescription ?? body?.message
            )
        }
        do {
            return try JSONCoding.decoder.decode(T.self, from: response.body)
        } catch let error as DecodingError {
            throw ConnectorError(.upstreamMalformed, "JAGGAER sent an unreadable \(T.self): \(error.safeDescription)")
        }
    }
}

/// JAGGAER's error body is not documented (UNCONFIRMED): read the list envelope's `returnMessage`, an OAuth-style
/// `error`, or a plain `message`, whichever is there.
struct JaggaerErrorBody: Decodable {
    var returnCode: LenientString?
    var returnMessage: String?
    var error: String?
    var errorDescription: String?
    var message: String?

    enum CodingKeys: String, CodingKey {
        case returnCode, returnMessage, error, message
        case errorDescription = "error_description"
    }
}
