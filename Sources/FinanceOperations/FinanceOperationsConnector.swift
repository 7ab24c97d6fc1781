import ConnectorCore
import ConnectorHTTP
import ConnectorSecurity
import Foundation
import OData

extension ERPConstraints {
    /// Finance & Operations: the vendor invoice number (`VendInvoiceId`) and line description lengths are not in the
    /// reference (UNCONFIRMED); 20 and 60 are the lengths of those fields' usual types, so nothing longer is sent.
    package static let financeOperations = ERPConstraints(
        maxVendorInvoiceNumberLength: 20, maxLineDescriptionLength: 60, supportsCreditMemos: false)
}

/// Finance & Operations as an `ERPConnector`: an approved invoice becomes a **pending** vendor invoice
/// (`VendorInvoiceHeaders`, then one `VendorInvoiceLines` record per line referencing the header's
/// `HeaderReference`), never posted (posting is F&O's own workflow or batch, reference §2.2).
///
/// The header-then-lines write is not atomic. Before the header is sent, the lines to write are kept in the store
/// under the invoice's natural key (`dataAreaId` + vendor account + invoice number): a recovery point. Whoever finds
/// that header afterwards (the write step's lookup after a lost answer, a crash, a retry) completes it: the lines
/// already there are read and only the missing `InvoiceLineNumber`s are written, so a header is never written twice
/// and never left without its lines. A line F&O refuses removes the header and the lines written before it, so a
/// refused document leaves nothing behind.
package struct FinanceOperationsConnector: ERPConnector {
    package let client: FinanceOperationsClient
    package let settings: FinanceOperationsSettings
    package let store: any StateStore
    package let keys: StateKeys
    /// The Entra token provider behind the client, for the sign-in check of the fit report.
    package let tokens: (any TokenProvider)?

    package init(
        client: FinanceOperationsClient, settings: FinanceOperationsSettings, store: any StateStore, keys: StateKeys,
        tokens: (any TokenProvider)? = nil
    ) {
        self.client = client
        self.settings = settings
        self.store = store
        self.keys = keys
        self.tokens = tokens
    }

    package var system: String { FinanceOperationsSettings.kind }
    package var constraints: ERPConstraints { .financeOperations }
    package var capabilities: ERPCapabilities { FinanceOperationsModule.capabilities(settings) }

    static let headerSet = "VendorInvoiceHeaders"
    static let lineSet = "VendorInvoiceLines"
    static let headerKey = ["dataAreaId", "HeaderReference"]
    static let lineKey = ["dataAreaId", "HeaderReference", "InvoiceLineNumber"]
    /// How long a recovery point and a master-data snapshot are kept.
    static let keepFor: Duration = .seconds(35 * 86400)

    // MARK: Company

    /// The pinned legal entity: the setting, or the principal's default company (read once, kept in the store).
    package func dataAreaId() async throws -> String {
        if let area = settings.dataAreaId { return area }
        let cacheKey = keys.key("erp", "fo-default-company")
        if let cached = try await store.get(cacheKey, as: String.self) { return cached.value }
        let area = try await defaultCompany()
        try await store.put(cacheKey, json: area)
        return area
    }

    /// The principal's default company: what a read without `cross-company` returns (reference §2.3).
    func defaultCompany() async throws -> String {
        let sample: [FOVendor] = try await client.list(
            "VendorsV2", ODataQuery(select: ["dataAreaId", "VendorAccountNumber"], top: 1))
        guard let area = sample.first?.dataAreaId, !area.isEmpty else {
            throw ConnectorError(
                .connectionInvalid,
                "\(FinanceOperationsClient.system) returned no vendor in the app user's default company, so the legal entity is unknown; set erp.financeOperations.dataAreaId (e.g. usmf)"
            )
        }
        return area
    }

    // MARK: Invoices

    /// A written line waiting in the recovery point: its number and the body to send.
    struct PendingLine: Codable, Sendable {
        var number: Int
        var body: JSONValue
    }

    struct RecoveryPoint: Codable, Sendable {
        var lines: [PendingLine]
    }

    func recoveryKey(_ area: String, vendor: String, number: String) -> String {
        keys.key("erp", "fo-pending-invoice", area.lowercased(), vendor, number)
    }

    package func findInvoices(vendorNumber: String, vendorInvoiceNumber: String) async throws -> [ERPDocumentRef] {
        let area = try await dataAreaId()
        let headers = try await findHeaders(area: area, vendor: vendorNumber, number: vendorInvoiceNumber)
        var found: [ERPDocumentRef] = []
        let recovery = recoveryKey(area, vendor: vendorNumber, number: vendorInvoiceNumber)
        for header in headers {
            if let point = try await store.get(recovery, as: RecoveryPoint.self)?.value {
                // A header of ours whose lines may not all be there: complete it before anyone records it as done.
                do {
                    guard try await complete(header, area: area, point: point, recovery: recovery) else { continue }
                } catch let error as ConnectorError where error.kind == .rejected {
                    // A line F&O refuses: the header is gone again, so the invoice is truly not there.
                    continue
                }
            }
            found.append(Self.reference(header))
        }
        let key = InvoiceNaturalKey(vendorNumber: vendorNumber, vendorInvoiceNumber: vendorInvoiceNumber)
        return found + (try await postedInvoices(area: area, keys: [key])[key] ?? [])
    }

    /// The natural-key lookup of a page of invoices in one read per 40 numbers (`InvoiceNumber eq 'a' or …`, which
    /// F&O filters take), matched exactly (number and vendor) here; found headers of ours are completed as above.
    package func findInvoices(keys: [InvoiceNaturalKey]) async throws -> [InvoiceNaturalKey: [ERPDocumentRef]] {
        guard !keys.isEmpty else { return [:] }
        let area = try await dataAreaId()
        let numbers = Array(Set(keys.map(\.vendorInvoiceNumber))).sorted()
        var headers: [FOVendorInvoiceHeader] = []
        for start in stride(from: 0, to: numbers.count, by: 40) {
            let chunk = Array(numbers[start..<min(start + 40, numbers.count)])
            headers += try await client.list(
                Self.headerSet,
                FinanceOperationsClient.scoped(
                    ODataQuery(
                        filter: .isIn("InvoiceNumber", chunk),
                        select: ["dataAreaId", "HeaderReference", "InvoiceNumber", "VendorAccount"]),
                    dataAreaId: area))
        }
        let posted = try await postedInvoices(area: area, keys: keys)
        var found: [InvoiceNaturalKey: [ERPDocumentRef]] = [:]
        for key in keys {
            var documents: [ERPDocumentRef] = []
            let recovery = recoveryKey(area, vendor: key.vendorNumber, number: key.vendorInvoiceNumber)
            for header in Self.matching(headers, area: area, vendor: key.vendorNumber, number: key.vendorInvoiceNumber)
            {
                if let point = try await store.get(recovery, as: RecoveryPoint.self)?.value {
                    do {
                        guard try await complete(header, area: area, point: point, recovery: recovery) else { continue }
                    } catch let error as ConnectorError where error.kind == .rejected {
                        continue
                    }
                }
                documents.append(Self.reference(header))
            }
            found[key] = documents + (posted[key] ?? [])
        }
        return found
    }

    /// The headers that hold exactly this key: F&O compares strings without regard to case (and reads `*` in an
    /// `eq` as a wildcard), the natural key does not.
    static func matching(_ headers: [FOVendorInvoiceHeader], area: String, vendor: String, number: String)
        -> [FOVendorInvoiceHeader]
    {
        headers.filter {
            $0.InvoiceNumber == number && ($0.VendorAccount ?? vendor).uppercased() == vendor.uppercased()
                && $0.dataAreaId.lowercased() == area.lowercased()
        }
    }

    func findHeaders(area: String, vendor: String, number: String) async throws -> [FOVendorInvoiceHeader] {
        let filter = ODataFilter.eq("VendorAccount", vendor).and(.eq("InvoiceNumber", number))
        let headers: [FOVendorInvoiceHeader] = try await client.list(
            Self.headerSet,
            FinanceOperationsClient.scoped(
                ODataQuery(
                    filter: filter, select: ["dataAreaId", "HeaderReference", "InvoiceNumber", "VendorAccount"]),
                dataAreaId: area))
        return Self.matching(headers, area: area, vendor: vendor, number: number)
    }

    static func reference(_ header: FOVendorInvoiceHeader) -> ERPDocumentRef {
        ERPDocumentRef(
            system: FinanceOperationsSettings.kind, id: header.HeaderReference, number: header.HeaderReference,
            status: "Pending")
    }

    package func createDraftInvoice(_ invoice: MappedInvoice) async throws -> ERPDocumentRef {
        guard invoice.kind == .invoice else {
            throw ConnectorError(
                .creditMemoUnsupported,
                "Finance and Operations pending vendor invoices are written for invoices only; a credit memo is keyed in F&O"
            )
        }
        let area = try await dataAreaId()
        let links = try await lineLinks(invoice)
        let currency = invoice.currencyCode ?? settings.accountingCurrency
        let header = Self.headerBody(invoice, area: area, currency: currency)
        let point = RecoveryPoint(
            lines: invoice.lines.enumerated().map { index, line in
                PendingLine(
                    number: index + 1,
                    body: Self.lineBody(
                        line, number: index + 1, area: area, currency: currency,
                        accountField: settings.lineAccountField, dimensionOrder: dimensionOrder,
                        link: links[index]))
            })
        let recovery = recoveryKey(area, vendor: invoice.vendorNumber, number: invoice.vendorInvoiceNumber)
        // The recovery point goes first: from the moment the header may exist, its lines can be found.
        _ = try await store.put(recovery, json: point, ttl: Self.keepFor)
        let created: FOVendorInvoiceHeader
        do {
            created = try await client.create(Self.headerSet, header)
        } catch let error as ConnectorError {
            if error.code != .ambiguousWrite { _ = try? await store.delete(recovery) }
            throw error
        }
        FailPoint.hit("fo.header-written")
        guard try await complete(created, area: area, point: point, recovery: recovery, fresh: true) else {
            throw ConnectorError(.internalError, "the pending invoice was removed after a refused line")
        }
        return Self.reference(created)
    }

    /// Writes the lines of `point` that `header` does not have yet; true when the invoice is complete, false when
    /// a refused line made it remove the header (then the refusal is thrown from a create, swallowed by a lookup).
    /// Any other failure after the header exists is an ambiguous write: the header stays and the next lookup
    /// completes it.
    /// `fresh`: the header was created by this call, so it has no lines yet and they are not read.
    func complete(
        _ header: FOVendorInvoiceHeader, area: String, point: RecoveryPoint, recovery: String, fresh: Bool = false
    ) async throws -> Bool {
        do {
            let have = fresh ? [] : try await lineNumbers(header, area: area)
            for line in point.lines where !have.contains(line.number) {
                guard case .object(var body) = line.body else { continue }
                body["HeaderReference"] = .string(header.HeaderReference)
                do {
                    let _: FOVendorInvoiceLine = try await client.create(Self.lineSet, .object(body))
                } catch let error as ConnectorError where error.kind == .rejected {
                    // Another process completing the same header may have written this line a moment ago (F&O
                    // refuses the second insert of a key): then it is there, and nothing was refused.
                    if try await lineNumbers(header, area: area).contains(line.number) { continue }
                    throw error
                }
            }
        } catch let error as ConnectorError where error.kind == .rejected {
            try await remove(header, area: area, lines: point.lines.map(\.number))
            _ = try? await store.delete(recovery)
            throw error
        } catch let error as ConnectorError {
            throw ConnectorError(
                .ambiguousWrite, kind: .temporary,
                "pending invoice \(header.HeaderReference) is written but its lines are not all there yet (\(error.message)); the next lookup completes it",
                retryAt: error.retryAt)
        }
        _ = try await store.delete(recovery)
        return true
    }

    /// The `InvoiceLineNumber`s a pending invoice has now.
    func lineNumbers(_ header: FOVendorInvoiceHeader, area: String) async throws -> Set<Int> {
        let existing: [FOVendorInvoiceLine] = try await client.list(
            Self.lineSet,
            FinanceOperationsClient.scoped(
                ODataQuery(
                    filter: .eq("HeaderReference", header.HeaderReference),
                    select: ["dataAreaId", "HeaderReference", "InvoiceLineNumber"]), dataAreaId: area))
        return Set(existing.map { NSDecimalNumber(decimal: $0.InvoiceLineNumber.value).intValue })
    }

    /// Removes a pending invoice a refused line left incomplete: its lines first, then the header.
    func remove(_ header: FOVendorInvoiceHeader, area: String, lines: [Int]) async throws {
        for number in lines {
            try await client.delete(
                Self.lineSet,
                key: [
                    ("dataAreaId", .string(area)), ("HeaderReference", .string(header.HeaderReference)),
                    ("InvoiceLineNumber", .int(Int64(number))),
                ], keyFields: Self.lineKey)
        }
        try await client.delete(
            Self.headerSet,
            key: [("dataAreaId", .string(area)), ("HeaderReference", .string(header.HeaderReference))],
            keyFields: Self.headerKey)
    }

    /// The dimensions of `DimensionDisplayValue`, in the order of the default dimension format (`dimensions`).
    var dimensionOrder: [String] { settings.dimensions }

    static func date(_ date: LocalDate) -> JSONValue { .string("\(date.description)T12:00:00Z") }

    static func headerBody(_ invoice: MappedInvoice, area: String, currency: String) -> JSONValue {
        var body: [String: JSONValue] = [
            "dataAreaId": .string(area),
            "InvoiceNumber": .string(invoice.vendorInvoiceNumber),
            "VendorAccount": .string(invoice.vendorNumber),
            "InvoiceAccount": .string(invoice.vendorNumber),
            "InvoiceDate": date(invoice.invoiceDate),
        ]
        if let due = invoice.dueDate { body["DueDate"] = date(due) }
        if let posting = invoice.postingDate { body["PostingDate"] = date(posting) }
        body["Currency"] = .string(currency)
        return .object(body)
    }

    /// The PO line a mapped line links to: `PurchaseOrder` + `PurchLineNumber`.
    struct LineLink: Sendable, Hashable {
        var order: String
        var line: Int
    }

    static func lineBody(
        _ line: MappedLine, number: Int, area: String, currency: String, accountField: String,
        dimensionOrder: [String], link: LineLink?
    ) -> JSONValue {
        var body: [String: JSONValue] = [
            "dataAreaId": .string(area),
            "InvoiceLineNumber": .number(Decimal(number)),
            "Currency": .string(currency),
            "LineDescription": .string(line.description),
            "Quantity": .number(line.quantity),
            "UnitPrice": .number(line.unitCost),
            "NetAmount": .number(line.amount),
        ]
        if let link {
            body["PurchaseOrder"] = .string(link.order)
            body["PurchLineNumber"] = .number(Decimal(link.line))
        } else {
            body[accountField] = .string(line.glAccount)
        }
        if !dimensionOrder.isEmpty, !line.dimensions.isEmpty {
            let values = dimensionOrder.map { name in
                line.dimensions.first { $0.dimension.caseInsensitiveCompare(name) == .orderedSame }?.value ?? ""
            }
            body["DimensionDisplayValue"] = .string(values.joined(separator: "-"))
        }
        return .object(body)
    }

    /// Each line's PO link, where the line quotes a purchase order F&O has for the same vendor with that line.
    func lineLinks(_ invoice: MappedInvoice) async throws -> [LineLink?] {
        let numbers = Set(invoice.lines.compactMap(\.poNumber).filter { !$0.isEmpty })
        guard settings.purchaseOrderLinks, !numbers.isEmpty else { return invoice.lines.map { _ in nil } }
        let orders = try await purchaseOrders(numbers: numbers.sorted())
        return invoice.lines.map { line in
            guard let number = line.poNumber, let lineNumber = line.poLineNumber,
                let order = orders.first(where: { $0.sourceNumber == number }),
                order.vendorNumber.uppercased() == invoice.vendorNumber.uppercased(),
                let target = order.lines.first(where: { $0.lineId == lineNumber }), let value = Int(target.lineId)
            else { return nil }
            return LineLink(order: order.id, line: value)
        }
    }

    // MARK: Purchase orders

    /// Confirmed purchase orders by number (their lines expanded), for linking invoice lines.
    package func purchaseOrders(numbers: [String]) async throws -> [ERPPurchaseOrder] {
        try await confirmedOrders(numbers: numbers) { orders, chunk, _ in
            orders.compactMap { Self.order($0, wanted: chunk) }
        }
    }

    /// Confirmed orders by number (lines expanded), 40 numbers per request, each chunk's rows shaped by `shape`
    /// (which gets the chunk and the legal entity).
    func confirmedOrders<Order>(
        numbers: [String], _ shape: ([FOPurchaseOrder], [String], String) -> [Order]
    ) async throws -> [Order] {
        let wanted = Array(Set(numbers.filter { !$0.isEmpty })).sorted()
        guard !wanted.isEmpty else { return [] }
        let area = try await dataAreaId()
        var found: [Order] = []
        for start in stride(from: 0, to: wanted.count, by: 40) {
            let chunk = Array(wanted[start..<min(start + 40, wanted.count)])
            let orders: [FOPurchaseOrder] = try await client.list(
                "PurchaseOrderHeadersV2",
                FinanceOperationsClient.scoped(
                    ODataQuery(
                        filter: ODataFilter.isIn("PurchaseOrderNumber", chunk).and(confirmed),
                        expand: ["PurchaseOrderLinesV2"]),
                    dataAreaId: area))
            found += shape(orders, chunk, area)
        }
        return found
    }

    // MARK: Confirmed purchase orders → JAGGAER (no change stamp: full reads diffed against the last snapshot)

    /// Every confirmed purchase order of the legal entity (lines expanded), diffed against the snapshot `cursor`
    /// names: the orders new or changed since (all of them on the first read). One page: the read is whole anyway.
    package func confirmedPurchaseOrders(after cursor: ChangeCursor?, pageSize: Int) async throws
        -> ChangePage<ConfirmedPurchaseOrder>
    {
        let area = try await dataAreaId()
        let records: [FOPurchaseOrder] = try await client.list(
            "PurchaseOrderHeadersV2",
            FinanceOperationsClient.scoped(
                ODataQuery(filter: confirmed, expand: ["PurchaseOrderLinesV2"]), dataAreaId: area))
        let orders = records.map(Self.confirmedOrder).sorted { $0.number < $1.number }
        return try await Snapshots(store: store, keys: keys, entity: "purchase-orders", keepFor: Self.keepFor)
            .changes(orders, key: \.number, since: cursor)
    }

    /// Confirmed purchase orders by number, read over OData (a business event names the order; its payload is
    /// never taken as the order). A number F&O has no confirmed order for in the legal entity is absent.
    package func confirmedPurchaseOrders(numbers: [String]) async throws -> [ConfirmedPurchaseOrder] {
        try await confirmedOrders(numbers: numbers) { orders, chunk, area in
            // F&O compares strings without regard to case; the number asked for is the one meant.
            orders.filter { order in
                chunk.contains { $0.uppercased() == order.PurchaseOrderNumber.uppercased() }
                    && (order.dataAreaId ?? area).lowercased() == area.lowercased()
            }.map(Self.confirmedOrder)
        }
    }

    /// An F&O date-time as the day it names; F&O's empty date (`1900-01-01`) is none.
    static func day(_ text: String?) -> LocalDate? {
        guard let text, let date = LocalDate(parsing: text), date.year > 1900 else { return nil }
        return date
    }

    static func confirmedOrder(_ order: FOPurchaseOrder) -> ConfirmedPurchaseOrder {
        func text(_ value: String?) -> String? { value.flatMap { $0.isEmpty ? nil : $0 } }
        let lines = (order.PurchaseOrderLinesV2 ?? []).map { line in
            let quantity = line.OrderedPurchaseQuantity?.value ?? 0
            let price = line.PurchasePrice?.value ?? 0
            var amount = line.LineAmount?.value ?? quantity * price
            if line.LineAmount == nil {
                var exact = amount
                NSDecimalRound(&amount, &exact, 2, .plain)
            }
            return ConfirmedPurchaseOrder.Line(
                lineNumber: "\(NSDecimalNumber(decimal: line.LineNumber.value).intValue)",
                itemNumber: text(line.ItemNumber), category: text(line.ProcurementCategoryName),
                description: text(line.LineDescription), quantity: quantity,
                unitOfMeasure: text(line.PurchaseUnitSymbol), unitPrice: price, amount: amount,
                deliveryDate: day(line.RequestedDeliveryDate))
        }
        return ConfirmedPurchaseOrder(
            number: order.PurchaseOrderNumber, vendorNumber: order.OrderVendorAccountNumber ?? "",
            name: text(order.PurchaseOrderName), orderDate: day(order.AccountingDate),
            deliveryDate: day(order.RequestedDeliveryDate), currencyCode: text(order.CurrencyCode),
            status: text(order.PurchaseOrderStatus),
            lines: lines.sorted { (Int($0.lineNumber) ?? 0) < (Int($1.lineNumber) ?? 0) })
    }

    /// Confirmed purchase orders only (an unconfirmed one cannot be invoiced): the enum in F&O's namespace syntax.
    var confirmed: ODataFilter {
        .eq(
            ODataField(settings.confirmedStatusField),
            .enumMember(
                type: "\(settings.enumNamespace).\(settings.confirmedStatusEnum)", member: settings.confirmedStatusValue
            ))
    }

    static func order(_ order: FOPurchaseOrder, wanted: [String]) -> ERPPurchaseOrder? {
        guard let source = wanted.first(where: { $0.uppercased() == order.PurchaseOrderNumber.uppercased() }) else {
            return nil
        }
        return ERPPurchaseOrder(
            sourceNumber: source, id: order.PurchaseOrderNumber, number: order.PurchaseOrderNumber,
            vendorNumber: order.OrderVendorAccountNumber ?? "",
            open: !["Invoiced", "Canceled"].contains(order.PurchaseOrderStatus ?? ""),
            lines: (order.PurchaseOrderLinesV2 ?? []).map { line in
                let number = NSDecimalNumber(decimal: line.LineNumber.value).intValue
                let quantity = line.OrderedPurchaseQuantity?.value ?? 0
                return ERPPurchaseOrder.Line(
                    sourceLineNumber: String(number), lineId: String(number), quantity: quantity,
                    openQuantity: quantity, unitPrice: line.PurchasePrice?.value ?? 0)
            })
    }

    // MARK: Master data (no change stamps: full reads diffed against the last snapshot)

    /// The released products of the legal entity (`settings.releasedProductEntity`, company-scoped: `cross-company=true` with a
    /// `dataAreaId` filter, paged by `@odata.nextLink`), diffed against the snapshot `cursor` names.
    package func releasedProducts(after cursor: ChangeCursor?, pageSize: Int) async throws -> ChangePage<CatalogItem> {
        let area = try await dataAreaId()
        let records: [FOReleasedProduct] = try await client.list(
            settings.releasedProductEntity, FinanceOperationsClient.scoped(ODataQuery(), dataAreaId: area))
        // F&O compares the company without regard to case; a row of another company is not this one's.
        let items = records.filter {
            ($0.dataAreaId ?? area).lowercased() == area.lowercased() && !$0.ItemNumber.isEmpty
        }
        .map { Self.catalogItem($0, currency: settings.accountingCurrency) }.sorted { $0.itemNumber < $1.itemNumber }
        return try await Snapshots(store: store, keys: keys, entity: "released-products", keepFor: Self.keepFor)
            .changes(items, key: \.itemNumber, since: cursor)
    }

    /// A released product as a catalog item: its name (the search name, then the number, when it has none), and the
    /// purchase price in the accounting currency where one is set (F&O's empty price is 0: none).
    static func catalogItem(_ record: FOReleasedProduct, currency: String) -> CatalogItem {
        func text(_ value: String?) -> String? {
            value.flatMap { $0.trimmingWhitespace(newlines: false).isEmpty ? nil : $0 }
        }
        let price = record.PurchasePrice?.value
        let priced = price.map { $0 > 0 } ?? false
        return CatalogItem(
            itemNumber: record.ItemNumber,
            name: text(record.ProductName) ?? text(record.SearchName) ?? record.ItemNumber,
            description: text(record.ProductDescription), unitOfMeasure: text(record.PurchaseUnitSymbol),
            unitPrice: priced ? price : nil, currencyCode: priced ? currency : nil,
            category: text(record.ProcurementProductCategoryName))
    }

    package func vendors(after cursor: ChangeCursor?, pageSize: Int) async throws -> ChangePage<Vendor> {
        let area = try await dataAreaId()
        let records: [FOVendor] = try await client.list(
            "VendorsV2", FinanceOperationsClient.scoped(ODataQuery(), dataAreaId: area))
        let vendors = records.map(Self.vendor)
        return try await Snapshots(store: store, keys: keys, entity: "vendors", keepFor: Self.keepFor)
            .changes(vendors, key: \.number, since: cursor)
    }

    package func accounts(after cursor: ChangeCursor?, pageSize: Int) async throws -> ChangePage<GLAccount> {
        var query = ODataQuery()
        if let chart = settings.chartOfAccounts { query.filter = .eq("ChartOfAccounts", chart) }
        let records: [FOMainAccount] = try await client.list("MainAccounts", query)
        let accounts = records.map(Self.account)
        return try await Snapshots(store: store, keys: keys, entity: "accounts", keepFor: Self.keepFor)
            .changes(accounts, key: \.number, since: cursor)
    }

    package func dimensions() async throws -> [ERPDimension] {
        let area = try await dataAreaId()
        let attributes: [FODimensionAttribute] = try await client.list("DimensionAttributes", ODataQuery())
        let wanted =
            settings.dimensions.isEmpty
            ? attributes.map(\.DimensionName)
            : settings.dimensions.filter { name in attributes.contains { $0.DimensionName == name } }
        var result: [ERPDimension] = []
        for name in wanted {
            let values: [FOFinancialDimensionValue] = try await client.list(
                "FinancialDimensionValues", ODataQuery(filter: .eq("FinancialDimension", name)))
            let own = values.filter { value in
                let entity = value.LegalEntityId ?? ""
                return entity.isEmpty || entity.lowercased() == area.lowercased()
            }
            result.append(
                ERPDimension(
                    code: name, name: name,
                    values: own.map {
                        DimensionValue(
                            code: $0.DimensionValue, name: $0.Description ?? $0.DimensionValue,
                            blocked: ($0.IsSuspended?.value ?? false) || ($0.IsBlockedForManualEntry?.value ?? false))
                    }, erpId: name))
        }
        return result
    }

    static func vendor(_ record: FOVendor) -> Vendor {
        let blocked: Vendor.Blocked =
            switch (record.OnHoldStatus ?? "No").lowercased() {
            case "all", "invoice": .all
            case "payment": .payment
            default: .none
            }
        let address = PostalAddress(
            lines: (record.AddressStreet ?? "").split(separator: "\n").map(String.init), city: record.AddressCity,
            state: record.AddressState, postalCode: record.AddressZipCode, country: record.AddressCountryRegionId)
        return Vendor(
            number: record.VendorAccountNumber, name: record.VendorOrganizationName ?? record.VendorAccountNumber,
            blocked: blocked, currencyCode: record.CurrencyCode.flatMap { $0.isEmpty ? nil : $0 },
            taxRegistrationNumber: record.TaxExemptNumber.flatMap { $0.isEmpty ? nil : $0 },
            erpId: record.VendorAccountNumber, lastModified: nil, address: address.nonEmpty,
            paymentTermsCode: record.PaymentTermsName.flatMap { $0.isEmpty ? nil : $0 })
    }

    /// Total and reporting accounts take no postings.
    static func account(_ record: FOMainAccount) -> GLAccount {
        let type = record.MainAccountType ?? ""
        let postable = !["total", "reporting"].contains(type.lowercased())
        return GLAccount(
            number: record.MainAccountId, name: record.Name ?? record.MainAccountId,
            category: record.MainAccountCategory ?? (type.isEmpty ? nil : type), postable: postable,
            blocked: record.IsSuspended?.value ?? false, erpId: "\(record.ChartOfAccounts)/\(record.MainAccountId)")
    }
}

/// The change feed of an entity without a change stamp: every read is full, and compared record by record (a
/// digest of what the connector maps) with the snapshot the cursor names. The cursor is the new snapshot's id.
struct Snapshots: Sendable {
    let store: any StateStore
    let keys: StateKeys
    let entity: String
    let keepFor: Duration

    func changes<Item: Encodable & Sendable>(_ items: [Item], key: KeyPath<Item, String>, since cursor: ChangeCursor?)
        async throws -> ChangePage<Item>
    {
        var digests: [String: String] = [:]
        for item in items { digests[item[keyPath: key]] = ContentDigest.sha256Hex(try JSONCoding.encode(item)) }
        let snapshotId = ContentDigest.sha256Hex(
            Data(digests.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: "\n").utf8))
        let next = ChangeCursor("snapshot:\(snapshotId.prefix(32))")
        _ = try await store.put(storeKey(next), json: digests, ttl: keepFor)
        guard let cursor, cursor.value.hasPrefix("snapshot:"),
            let previous = try await store.get(storeKey(cursor), as: [String: String].self)?.value
        else {
            return ChangePage(items: items, next: next, hasMore: false)
        }
        let changed = items.filter { previous[$0[keyPath: key]] != digests[$0[keyPath: key]] }
        return ChangePage(items: changed, next: next, hasMore: false)
    }

    private func storeKey(_ cursor: ChangeCursor) -> String {
        keys.key("erp", "fo-snapshot", entity, String(cursor.value.dropFirst("snapshot:".count)))
    }
}
