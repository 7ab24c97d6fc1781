import ConnectorCore
import ConnectorHTTP
import Foundation

// JAGGAER has not published its purchase-order export API (reference §1.2, §1.10: UNCONFIRMED). The calls follow
// the invoice API's conventions: `GET {purchaseOrderListPath}` with the same paging and changed-since parameters
// and the same envelope (`returnCode`, `totRecords`, `returnedRecords`, `startAt`, a `…List` object holding the
// items), and `GET {purchaseOrderPath}` returning `header` + `lineList`. Field names follow the invoice's.

/// `GET …/purchaseorders/{id}`: header and lines.
package struct JaggaerPurchaseOrder: Decodable, Sendable {
    package var header: JaggaerPurchaseOrderHeader
    package var lineList: LineList?

    package struct LineList: Decodable, Sendable {
        package var purchaseOrderLine: [JaggaerPurchaseOrderLine]?
    }

    package var lines: [JaggaerPurchaseOrderLine] { lineList?.purchaseOrderLine ?? [] }
}

package struct JaggaerPurchaseOrderHeader: Decodable, Sendable {
    package var purchaseOrderId: LenientString
    package var purchaseOrderNumber: LenientString?
    package var lastUpdate: String?
    package var status: String?
    package var orderDate: String?
    package var requestedDeliveryDate: String?
    package var supplier: JaggaerSupplier?
    package var total: JaggaerMoney?
}

package struct JaggaerPurchaseOrderLine: Decodable, Sendable {
    package var lineNumber: LenientString?
    package var item: JaggaerInvoiceLine.Item?
    package var quantity: LenientDecimal?
    package var unitPrice: JaggaerInvoiceLine.UnitPrice?
    package var splittableFieldSetGroupList: SplittableFieldSetGroupList?
}

/// The list envelope of purchase orders. The item list's key is UNCONFIRMED (`purchaseOrderList.purchaseOrder`
/// is assumed): the first `…List` object holding an array of items is read.
package struct JaggaerPurchaseOrderListPage: Decodable, Sendable {
    package var returnCode: LenientString?
    package var returnMessage: String?
    package var totRecords: LenientDecimal?
    package var returnedRecords: LenientDecimal?
    package var startAt: LenientDecimal?
    package var rawItems: [JSONValue]

    private struct AnyKey: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    package init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: AnyKey.self)
        returnCode = try c.decodeIfPresent(LenientString.self, forKey: AnyKey(stringValue: "returnCode"))
        returnMessage = try c.decodeIfPresent(String.self, forKey: AnyKey(stringValue: "returnMessage"))
        totRecords = try c.decodeIfPresent(LenientDecimal.self, forKey: AnyKey(stringValue: "totRecords"))
        returnedRecords = try c.decodeIfPresent(LenientDecimal.self, forKey: AnyKey(stringValue: "returnedRecords"))
        startAt = try c.decodeIfPresent(LenientDecimal.self, forKey: AnyKey(stringValue: "startAt"))
        let preferred = AnyKey(stringValue: "purchaseOrderList")
        let listKeys =
            [preferred]
            + c.allKeys.filter { $0.stringValue.hasSuffix("List") }.sorted { $0.stringValue < $1.stringValue }
        var items: [JSONValue]?
        for key in listKeys where c.contains(key) {
            guard case .object(let list)? = try? c.decode(JSONValue.self, forKey: key) else { continue }
            if case .array(let array)? = list["purchaseOrder"] {
                items = array
                break
            }
            let arrays = list.values.compactMap { value -> [JSONValue]? in
                if case .array(let array) = value { return array }
                return nil
            }
            if arrays.count == 1 {
                items = arrays[0]
                break
            }
        }
        rawItems = items ?? []
    }

    package var items: [Result<JaggaerPurchaseOrderHeader, ConnectorError>] {
        rawItems.enumerated().map { index, raw in
            struct Item: Decodable { var header: JaggaerPurchaseOrderHeader }
            do {
                return .success(try raw.decode(Item.self).header)
            } catch let error as DecodingError {
                return .failure(
                    ConnectorError(.upstreamMalformed, "purchase-order list item \(index): \(error.safeDescription)"))
            } catch {
                return .failure(ConnectorError(.upstreamMalformed, "purchase-order list item \(index) unreadable"))
            }
        }
    }

    package var total: Int? { totRecords.map { NSDecimalNumber(decimal: $0.value).intValue } }
    package var returned: Int {
        returnedRecords.map { NSDecimalNumber(decimal: $0.value).intValue } ?? rawItems.count
    }
}

extension JaggaerClient {
    /// One page of purchase-order headers changed at or after `updatedSince`.
    package func listPurchaseOrders(startAt: Int, pageSize: Int, updatedSince: Date?) async throws
        -> JaggaerPurchaseOrderListPage
    {
        var query = [(paths.startParameter, String(startAt)), (paths.pageSizeParameter, String(pageSize))]
        if let updatedSince { query.append((paths.updatedSinceParameter, Timestamp.format(updatedSince))) }
        if let name = paths.sortParameter, let value = paths.sortValue { query.append((name, value)) }
        let page: JaggaerPurchaseOrderListPage = try await get(
            URLBuilder.url(baseURL, path: paths.purchaseOrderList, query: query))
        if let code = page.returnCode?.value, code != "0" {
            throw ConnectorError(
                .upstreamRejected,
                "JAGGAER purchase-order list answered returnCode \(SecretRedactor.excerpt(code, limit: 20)): \(SecretRedactor.excerpt(page.returnMessage ?? "", limit: 300))"
            )
        }
        return page
    }

    /// One purchase order with its lines.
    package func purchaseOrder(id: String) async throws -> JaggaerPurchaseOrder {
        let path = paths.purchaseOrder.replacingOccurrences(of: "{id}", with: URLBuilder.segment(id))
        return try await get(URLBuilder.url(baseURL, path: path))
    }
}

extension JaggaerSource {
    package func purchaseOrderHeaders(startAt: Int, pageSize: Int, updatedSince: Date?) async throws
        -> InvoiceHeaderPage
    {
        let page = try await client.listPurchaseOrders(startAt: startAt, pageSize: pageSize, updatedSince: updatedSince)
        let items = page.items.map { result in
            result.map { header in
                InvoiceHeaderSummary(
                    id: header.purchaseOrderId.value, updatedAt: header.lastUpdate.flatMap(Timestamp.parse),
                    workflowStatus: header.status)
            }
        }
        return InvoiceHeaderPage(
            items: items, returned: page.returned, total: page.total,
            startAt: page.startAt.map { NSDecimalNumber(decimal: $0.value).intValue })
    }

    package func purchaseOrder(id: String) async throws -> SourcePurchaseOrder {
        try Self.convert(try await client.purchaseOrder(id: id))
    }

    /// JAGGAER PO → ERP-neutral PO. Missing numbers, quantities or prices are an error, never guessed.
    package static func convert(_ order: JaggaerPurchaseOrder) throws -> SourcePurchaseOrder {
        let header = order.header
        let id = header.purchaseOrderId.value
        guard let number = header.purchaseOrderNumber?.value, !number.isEmpty else {
            throw ConnectorError(.upstreamMalformed, "JAGGAER purchase order \(id) has no purchaseOrderNumber")
        }
        var lines: [SourcePurchaseOrder.Line] = []
        for (index, line) in order.lines.enumerated() {
            let lineNumber = line.lineNumber.flatMap { Int($0.value) } ?? (index + 1)
            guard let quantity = line.quantity?.value else {
                throw ConnectorError(
                    .upstreamMalformed, "JAGGAER purchase order \(id) line \(lineNumber) has no quantity")
            }
            guard let unitPrice = line.unitPrice?.amount else {
                throw ConnectorError(
                    .upstreamMalformed, "JAGGAER purchase order \(id) line \(lineNumber) has no unit price")
            }
            lines.append(
                SourcePurchaseOrder.Line(
                    lineNumber: lineNumber, description: line.item?.description, quantity: quantity,
                    unitPrice: unitPrice, unitOfMeasure: line.item?.unitOfMeasure?.dimension,
                    segments: (line.splittableFieldSetGroupList?.segments ?? []).map {
                        AccountingSegment(name: $0.name, value: $0.value, description: $0.description)
                    }))
        }
        return SourcePurchaseOrder(
            source: "jaggaer", sourceId: id, number: number,
            sourceUpdatedAt: header.lastUpdate.flatMap(Timestamp.parse), status: header.status,
            supplier: SupplierRef(
                sourceId: header.supplier?.id?.value, number: header.supplier?.supplierNumber?.value,
                name: header.supplier?.name),
            orderDate: header.orderDate.flatMap(LocalDate.init(parsing:)),
            deliveryDate: header.requestedDeliveryDate.flatMap(LocalDate.init(parsing:)),
            currency: header.total?.currency, total: header.total?.value?.value,
            lines: lines.sorted { $0.lineNumber < $1.lineNumber })
    }
}
