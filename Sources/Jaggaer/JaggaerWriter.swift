import ConnectorCore
import ConnectorHTTP
import Foundation

/// Writes ERP master data and payment status into JAGGAER ONE: the one place that defines these calls.
///
/// JAGGAER's supplier, coding and payment-status APIs are not publicly documented (UNCONFIRMED, reference §1.10).
/// The calls follow the documented invoice API (§1.2, §1.5): `/j1p/api/public/…` paths, the Keycloak bearer token of
/// the invoice client, JSON bodies, and the `returnCode`/`returnMessage` envelope (`returnCode` other than 0 is a
/// refusal even with HTTP 200). Paths and field names come from `jaggaer.writer`. Every call is a `PUT` of the
/// whole record to its own path, so repeating it changes nothing.
package struct JaggaerWriter: ProcurementSink {
    package let baseURL: String
    package let settings: JaggaerWriterSettings
    package let transport: any HTTPTransport
    package let timeout: Duration

    package init(
        baseURL: String, settings: JaggaerWriterSettings, transport: any HTTPTransport,
        timeout: Duration = .seconds(60)
    ) {
        self.baseURL = baseURL
        self.settings = settings
        self.transport = transport
        self.timeout = timeout
    }

    package var system: String { "jaggaer" }

    /// Hierarchies go out only where the tenant's parent field is configured (`supplierParentField`).
    package var sendsSupplierHierarchy: Bool { settings.supplierParentField != nil }

    /// The settings themselves: any change of path, field name or status value makes every record "changed".
    package var revision: String {
        (try? JSONCoding.encode(settings)).map { String(decoding: $0, as: UTF8.self) } ?? ""
    }

    // MARK: The calls

    package func upsertSupplier(_ vendor: Vendor) async throws {
        try await put(
            path(settings.supplierPath, ["number": vendor.number]), Self.supplierBody(vendor, settings: settings),
            what: "supplier \(vendor.number.prefix(40))")
    }

    package func upsertCodingValue(_ value: CodingValue) async throws {
        try await put(
            path(settings.codingValuePath, ["segment": value.segment, "code": value.code]),
            Self.codingBody(value, settings: settings),
            what: "coding value \(value.segment.prefix(40))/\(value.code.prefix(40))")
    }

    package func setPaymentStatus(_ update: PaymentStatusUpdate) async throws {
        try await put(
            path(settings.paymentStatusPath, ["id": update.invoiceId]),
            Self.paymentStatusBody(update, settings: settings),
            what: "payment status of invoice \(update.invoiceId.prefix(40))")
    }

    /// The purchase order an ERP confirmed, `PUT` whole to its own path under the ERP's PO number (UNCONFIRMED path
    /// and shape, `jaggaer.writer.purchaseOrderPath` / `purchaseOrderFields` / `purchaseOrderLineFields`).
    package func upsertPurchaseOrder(_ order: ConfirmedPurchaseOrder) async throws {
        try await put(
            path(settings.purchaseOrderPath, ["number": order.number]),
            Self.purchaseOrderBody(order, settings: settings),
            what: "purchase order \(order.number.prefix(40))")
    }

    /// Released products go to the catalog only where the tenant uses catalogs (`jaggaer.writer.catalogItems`).
    package var pushesCatalogItems: Bool { settings.catalogItems }

    /// One catalog item, `PUT` whole to its own path under the ERP's item number (UNCONFIRMED path and shape,
    /// `jaggaer.writer.catalogItemPath` / `catalogItemFields`).
    package func upsertCatalogItem(_ item: CatalogItem) async throws {
        try await put(
            path(settings.catalogItemPath, ["number": item.itemNumber]), Self.catalogItemBody(item, settings: settings),
            what: "catalog item \(item.itemNumber.prefix(40))")
    }

    // MARK: Bodies

    /// The catalog item: number, name, and where the ERP gives them description, unit, price (with its currency)
    /// and category. Absent values are left out, never sent empty.
    package static func catalogItemBody(_ item: CatalogItem, settings: JaggaerWriterSettings) -> JSONValue {
        func field(_ name: String) -> String { settings.catalogItemField(name) }
        func text(_ value: String?) -> JSONValue? {
            guard let value, !value.trimmingWhitespace(newlines: false).isEmpty else { return nil }
            return .string(value)
        }
        var body: [String: JSONValue] = [
            field("itemNumber"): .string(item.itemNumber), field("name"): .string(item.name),
        ]
        body[field("description")] = text(item.description)
        body[field("unitOfMeasure")] = text(item.unitOfMeasure)
        body[field("category")] = text(item.category)
        if let price = item.unitPrice {
            body[field("unitPrice")] = .number(price)
            body[field("currency")] = text(item.currencyCode?.uppercased())
        }
        return .object(body)
    }

    /// The purchase order: a flat header (number, supplier, name, dates as `YYYY-MM-DD`, currency, total, the ERP's
    /// status) and its lines (number, item or category, description, quantity, unit, unit price, amount, date).
    /// Absent values are left out, never sent empty.
    package static func purchaseOrderBody(_ order: ConfirmedPurchaseOrder, settings: JaggaerWriterSettings)
        -> JSONValue
    {
        func field(_ name: String) -> String { settings.purchaseOrderField(name) }
        func lineField(_ name: String) -> String { settings.purchaseOrderLineField(name) }
        func text(_ value: String?) -> JSONValue? {
            guard let value, !value.trimmingWhitespace(newlines: false).isEmpty else { return nil }
            return .string(value)
        }
        var body: [String: JSONValue] = [
            field("number"): .string(order.number),
            field("supplier"): .string(order.vendorNumber),
            field("total"): .number(order.total),
        ]
        body[field("name")] = text(order.name)
        body[field("orderDate")] = order.orderDate.map { .string($0.description) }
        body[field("deliveryDate")] = order.deliveryDate.map { .string($0.description) }
        body[field("currency")] = text(order.currencyCode?.uppercased())
        body[field("status")] = text(order.status)
        body[field("lines")] = .array(
            order.lines.map { line in
                var object: [String: JSONValue] = [
                    lineField("lineNumber"): .string(line.lineNumber),
                    lineField("quantity"): .number(line.quantity),
                    lineField("unitPrice"): .number(line.unitPrice),
                    lineField("amount"): .number(line.amount),
                ]
                object[lineField("itemNumber")] = text(line.itemNumber)
                object[lineField("category")] = text(line.category)
                object[lineField("description")] = text(line.description)
                object[lineField("unitOfMeasure")] = text(line.unitOfMeasure)
                object[lineField("deliveryDate")] = line.deliveryDate.map { .string($0.description) }
                return .object(object)
            })
        return .object(body)
    }

    /// The supplier: number, name, active (false when blocked for everything), a payment hold (blocked for
    /// payment), tax id, currency, payment terms and the address in the invoice API's address shape
    /// (`addressLineList.addressLine[]{lineNumber, addressLine}`, `city`, `state`, `postalCode`, `isoCountryCode`).
    package static func supplierBody(_ vendor: Vendor, settings: JaggaerWriterSettings) -> JSONValue {
        var body: [String: JSONValue] = [
            settings.supplierField("number"): .string(vendor.number),
            settings.supplierField("name"): .string(vendor.name),
            settings.supplierField("active"): .bool(vendor.blocked != .all),
            settings.supplierField("paymentHold"): .bool(vendor.blocked == .payment),
        ]
        if let tax = vendor.taxRegistrationNumber, !tax.isEmpty {
            body[settings.supplierField("taxId")] = .string(tax)
        }
        if let currency = vendor.currencyCode, !currency.isEmpty {
            body[settings.supplierField("currency")] = .string(currency)
        }
        if let terms = vendor.paymentTermsCode, !terms.isEmpty {
            body[settings.supplierField("paymentTerms")] = .string(terms)
        }
        if let field = settings.supplierParentField, let parent = vendor.parentNumber, !parent.isEmpty {
            body[field] = .string(parent)
        }
        if let address = vendor.address?.nonEmpty {
            var object: [String: JSONValue] = [
                "addressLineList": .object([
                    "addressLine": .array(
                        address.lines.filter { !$0.isEmpty }.enumerated().map { index, line in
                            .object(["lineNumber": .number(Decimal(index + 1)), "addressLine": .string(line)])
                        })
                ])
            ]
            if let city = address.city, !city.isEmpty { object["city"] = .string(city) }
            if let state = address.state, !state.isEmpty { object["state"] = .string(state) }
            if let postalCode = address.postalCode, !postalCode.isEmpty { object["postalCode"] = .string(postalCode) }
            if let country = address.country, !country.isEmpty { object["isoCountryCode"] = .string(country) }
            body[settings.supplierField("address")] = .object(object)
        }
        return .object(body)
    }

    package static func codingBody(_ value: CodingValue, settings: JaggaerWriterSettings) -> JSONValue {
        .object([
            settings.codingField("segment"): .string(value.segment),
            settings.codingField("code"): .string(value.code),
            settings.codingField("name"): .string(value.name),
            settings.codingField("active"): .bool(value.active),
        ])
    }

    package static func paymentStatusBody(_ update: PaymentStatusUpdate, settings: JaggaerWriterSettings) -> JSONValue {
        var body: [String: JSONValue] = [
            settings.paymentStatusField("status"): .string(settings.paymentStatusValue(update.state)),
            settings.paymentStatusField("amount"): .number(update.amount),
            settings.paymentStatusField("paidAmount"): .number(update.paidAmount),
            settings.paymentStatusField("reference"): .string(update.document.number ?? update.document.id),
        ]
        if let changedAt = update.changedAt, update.state != .unpaid {
            body[settings.paymentStatusField("paidAt")] = .string(Timestamp.format(changedAt))
        }
        return .object(body)
    }

    // MARK: HTTP

    private func path(_ template: String, _ values: [String: String]) -> String {
        var path = template
        for (name, value) in values {
            path = path.replacingOccurrences(of: "{\(name)}", with: URLBuilder.segment(value))
        }
        return path
    }

    private func put(_ path: String, _ body: JSONValue, what: String) async throws {
        let request = HTTPRequest(
            method: "PUT",
            url: URLBuilder.url(baseURL, path: path),
            headers: [("Content-Type", "application/json"), ("Accept", "application/json")],
            body: try JSONCoding.encode(body),
            timeout: timeout,
            // A PUT of the whole record: sending it again has the same effect, so a lost answer may be retried.
            idempotent: true
        )
        let response = try await transport.send(request)
        let envelope = try? JSONCoding.decoder.decode(JaggaerErrorBody.self, from: response.body)
        guard response.isSuccess else {
            throw UpstreamError.from(
                response, request: request, system: "JAGGAER",
                code: envelope?.error ?? envelope?.returnCode?.value,
                message: envelope?.returnMessage ?? envelope?.errorDescription ?? envelope?.message)
        }
        if let code = envelope?.returnCode?.value, code != "0" {
            throw ConnectorError(
                .upstreamRejected,
                "JAGGAER refused the \(what): returnCode \(SecretRedactor.excerpt(code, limit: 20)): \(SecretRedactor.excerpt(envelope?.returnMessage ?? "", limit: 300))"
            )
        }
    }
}
