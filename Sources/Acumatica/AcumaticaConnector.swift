import ConnectorCore
import ConnectorHTTP
import Foundation
import Logging
import OData

/// Acumatica as an `ERPConnector`: a supplier invoice becomes an AP `Bill` created on hold (`Hold: true`, never
/// released unreviewed) with one `PUT Bill?$expand=Details`, found again by its natural key Vendor + VendorRef.
/// Master data and paid bills are read by `LastModifiedDateTime` with `$top`/`$skip` pages and an opaque cursor.
package struct AcumaticaConnector: ERPConnector {
    package let client: AcumaticaClient
    package let settings: AcumaticaSettings
    package let logger: Logger
    /// Signs in now, for the fit report (OAuth: a password grant; cookie: `auth/login`); returns what it did.
    package let signIn: @Sendable () async throws -> String
    /// Ends the API session (cookie mode: `auth/logout`); nil when there is none to end.
    package let signOut: (@Sendable () async -> Void)?

    package init(
        client: AcumaticaClient, settings: AcumaticaSettings, logger: Logger = Logger(label: "mlc.acumatica"),
        signIn: @escaping @Sendable () async throws -> String, signOut: (@Sendable () async -> Void)? = nil
    ) {
        self.client = client
        self.settings = settings
        self.logger = logger
        self.signIn = signIn
        self.signOut = signOut
    }

    package var system: String { "acumatica" }
    package var constraints: ERPConstraints { .acumatica }
    package var capabilities: ERPCapabilities { AcumaticaModule().capabilities }

    /// The largest page asked for, whatever the caller wants (the licence counts requests, not rows, but a huge
    /// page can outlast the request deadline).
    static let maxPageSize = 1000

    // MARK: Invoices

    package func findInvoices(vendorNumber: String, vendorInvoiceNumber: String) async throws -> [ERPDocumentRef] {
        let filter = ODataFilter.eq("Vendor", vendorNumber).and(.eq("VendorRef", vendorInvoiceNumber))
        return try await client.all("Bill", filter: filter, pageSize: 100, maxPages: 10)
            // The filter is the server's; the key must match exactly (case, trailing spaces) to count.
            .filter { $0.string("Vendor") == vendorNumber && $0.string("VendorRef") == vendorInvoiceNumber }
            .map(reference)
    }

    func reference(_ record: AcumaticaRecord) -> ERPDocumentRef {
        ERPDocumentRef(
            system: system, id: record.id ?? record.string("ReferenceNbr") ?? "", number: record.string("ReferenceNbr"),
            status: record.string("Status"))
    }

    package func createDraftInvoice(_ invoice: MappedInvoice) async throws -> ERPDocumentRef {
        // A PUT without keys always creates: look the natural key up first, whatever the caller did before.
        if let existing = try await findInvoices(
            vendorNumber: invoice.vendorNumber, vendorInvoiceNumber: invoice.vendorInvoiceNumber
        ).first {
            logger.info(
                "the bill already exists; not creating another",
                metadata: ["vendor": "\(invoice.vendorNumber)", "referenceNbr": "\(existing.number ?? "")"])
            return existing
        }
        let links = try await purchaseOrderLinks(for: invoice)
        let body = try Self.bill(for: invoice, settings: settings, links: links)
        // Dropped after commit: the retrying transport refuses to resend and throws `erp.ambiguous_write`, which
        // the write step resolves with `findInvoices` once the settle time has passed, never with a second PUT.
        let created = try await client.put("Bill", body, expand: ["Details"])
        if created.bool("Hold") == false {
            logger.warning(
                "Acumatica created the bill without hold; check the AP preferences (Hold Documents on Entry)",
                metadata: ["referenceNbr": "\(created.string("ReferenceNbr") ?? "")"])
        }
        return reference(created)
    }

    /// Where each PO-referencing line links: its order's type and number and the order line (`POLine`).
    package struct POLink: Sendable, Hashable {
        package var orderType: String
        package var orderNumber: String
        package var line: Int
        package init(orderType: String, orderNumber: String, line: Int) {
            self.orderType = orderType
            self.orderNumber = orderNumber
            self.line = line
        }
    }

    func purchaseOrderLinks(for invoice: MappedInvoice) async throws -> [Int: POLink] {
        let numbers = Array(Set(invoice.lines.compactMap(\.poNumber).filter { !$0.isEmpty })).sorted()
        guard !numbers.isEmpty else { return [:] }
        let orders = Dictionary(
            try await purchaseOrders(numbers: numbers).map { ($0.sourceNumber, $0) }, uniquingKeysWith: { a, _ in a })
        var links: [Int: POLink] = [:]
        for (index, line) in invoice.lines.enumerated() {
            guard let number = line.poNumber, !number.isEmpty else { continue }
            guard let order = orders[number] else {
                logger.info(
                    "purchase order not in Acumatica; line written without a PO link", metadata: ["po": "\(number)"])
                continue
            }
            // Without a PO line Acumatica would pull every line of the order in (reference §3.4): never link so.
            guard let sourceLine = line.poLineNumber, let orderLine = order.line(forSourceLine: sourceLine),
                let lineNumber = Int(orderLine.lineId)
            else {
                logger.info(
                    "purchase order line not found; line written without a PO link",
                    metadata: ["po": "\(number)", "poLine": "\(line.poLineNumber ?? "")"])
                continue
            }
            links[index] = POLink(
                orderType: order.orderType ?? settings.purchaseOrderType, orderNumber: order.id, line: lineNumber)
        }
        return links
    }

    /// The `PUT Bill` body: every field wrapped, on hold, details with account, segmented subaccount, branch,
    /// quantity, cost and PO link. A credit memo (or a negative total) is written as `creditMemoType`, amounts
    /// made positive.
    package static func bill(for invoice: MappedInvoice, settings: AcumaticaSettings, links: [Int: POLink] = [:]) throws
        -> JSONValue
    {
        let credit = invoice.kind == .creditMemo || invoice.expectedTotal < 0
        // A credit memo given with negative amounts is written with the signs turned (an adjustment's amounts are
        // positive); one given with positive amounts keeps them.
        let flip = invoice.expectedTotal < 0
        var header: [String: JSONValue] = [
            "Type": AcumaticaBody.wrap(credit ? settings.creditMemoType : settings.billType),
            "Vendor": AcumaticaBody.wrap(invoice.vendorNumber),
            "VendorRef": AcumaticaBody.wrap(invoice.vendorInvoiceNumber),
            "Date": AcumaticaBody.wrap(invoice.invoiceDate.description),
            // Nothing is released unreviewed: the bill waits on hold for the posting step.
            "Hold": AcumaticaBody.wrap(true),
            "Description": AcumaticaBody.wrap(String("\(invoice.source) \(invoice.sourceId)".prefix(255))),
        ]
        if let due = invoice.dueDate { header["DueDate"] = AcumaticaBody.wrap(due.description) }
        if let currency = invoice.currencyCode, !currency.isEmpty {
            header["CurrencyID"] = AcumaticaBody.wrap(currency)
        }
        var details: [JSONValue] = []
        for (index, line) in invoice.lines.enumerated() {
            var quantity = line.quantity
            var unitCost = line.unitCost
            if flip {
                if quantity < 0 { quantity = -quantity } else { unitCost = -unitCost }
            }
            var detail: [String: JSONValue] = [
                "Account": AcumaticaBody.wrap(line.glAccount),
                "Qty": AcumaticaBody.wrap(quantity),
                "UnitCost": AcumaticaBody.wrap(unitCost),
                "Amount": AcumaticaBody.wrap(quantity * unitCost),
                "TransactionDescription": AcumaticaBody.wrap(line.description),
            ]
            let dimensions = Self.dimensions(of: line, header: invoice.headerDimensions)
            if let subaccount = try subaccount(dimensions, settings: settings, line: index + 1) {
                detail["Subaccount"] = AcumaticaBody.wrap(subaccount)
            }
            if let branch = settings.branchDimension, let value = dimensions[branch] {
                detail["Branch"] = AcumaticaBody.wrap(value)
            }
            if let tax = line.taxCode, !tax.isEmpty { detail["TaxCategory"] = AcumaticaBody.wrap(tax) }
            if let link = links[index] {
                detail["POOrderType"] = AcumaticaBody.wrap(link.orderType)
                detail["POOrderNbr"] = AcumaticaBody.wrap(link.orderNumber)
                detail["POLine"] = AcumaticaBody.wrap(Decimal(link.line))
            }
            details.append(.object(detail))
        }
        header["Details"] = .array(details)
        return .object(header)
    }

    /// A line's dimensions, the document's filling what the line leaves out.
    static func dimensions(of line: MappedLine, header: [DimensionAssignment]) -> [String: String] {
        var values: [String: String] = [:]
        for assignment in header { values[assignment.dimension] = assignment.value }
        for assignment in line.dimensions { values[assignment.dimension] = assignment.value }
        return values
    }

    /// The dimension holding whole subaccount codes when no segments are configured.
    package static let subaccountDimension = "SUBACCOUNT"

    /// The segmented subaccount from the mapped dimensions in `subaccountSegments` order; nil when the line codes
    /// none (Acumatica then defaults it); a line that codes only some segments is refused before the write.
    static func subaccount(_ values: [String: String], settings: AcumaticaSettings, line: Int) throws -> String? {
        guard !settings.subaccountSegments.isEmpty else { return values[subaccountDimension] }
        let segments = settings.subaccountSegments.map { values[$0] }
        if segments.allSatisfy({ $0 == nil }) { return values[subaccountDimension] }
        let missing = zip(settings.subaccountSegments, segments).filter { $0.1 == nil }.map(\.0)
        guard missing.isEmpty else {
            throw ConnectorError(
                .upstreamRejected,
                "line \(line) codes only part of the subaccount: no value for \(missing.joined(separator: ", "))")
        }
        return segments.compactMap { $0 }.joined(separator: settings.subaccountSeparator)
    }

    // MARK: Master data

    package func vendors(after cursor: ChangeCursor?, pageSize: Int) async throws -> ChangePage<Vendor> {
        try await changes("Vendor", after: cursor, pageSize: pageSize) { record in
            guard let number = record.string("VendorID") else { return nil }
            return Vendor(
                number: number, name: record.string("VendorName") ?? number,
                blocked: Self.blocked(record.string("Status")),
                currencyCode: record.string("CurrencyID").flatMap { $0.isEmpty ? nil : $0 },
                taxRegistrationNumber: record.string("TaxRegistrationID").flatMap { $0.isEmpty ? nil : $0 },
                erpId: record.id, lastModified: record.dateTime("LastModifiedDateTime"))
        }
    }

    /// Vendor `Status`: `Active`, `On Hold`, `Hold Payments`, `Inactive`, `One-Time` (UNCONFIRMED list).
    static func blocked(_ status: String?) -> Vendor.Blocked {
        switch status?.lowercased().replacingOccurrences(of: " ", with: "") {
        case "inactive", "onhold", "hold": .all
        case "holdpayments": .payment
        default: .none
        }
    }

    package func accounts(after cursor: ChangeCursor?, pageSize: Int) async throws -> ChangePage<GLAccount> {
        try await changes("Account", after: cursor, pageSize: pageSize) { record in
            guard let number = record.string("AccountCD") else { return nil }
            let active = record.bool("Active") ?? true
            return GLAccount(
                number: number, name: record.string("Description") ?? number, category: record.string("Type"),
                postable: active, blocked: !active, erpId: record.id,
                lastModified: record.dateTime("LastModifiedDateTime"))
        }
    }

    /// One page of records changed after the cursor. The cursor is `since` (the newest stamp of the previous full
    /// read, floored to the millisecond) plus the `$skip` reached in the current read and the newest stamp seen so
    /// far; a short page ends the read and moves `since` on.
    func changes<Item: Sendable>(
        _ entity: String, after cursor: ChangeCursor?, pageSize: Int, extraFilter: ODataFilter? = nil,
        _ map: (AcumaticaRecord) -> Item?
    ) async throws -> ChangePage<Item> {
        let position = AcumaticaCursor(cursor)
        let size = min(max(pageSize, 1), Self.maxPageSize)
        let stamp = position.since.map { ODataFilter.gt("LastModifiedDateTime", dateTime: $0) }
        let filter = [stamp, extraFilter].compactMap { $0 }
        let records = try await client.page(
            entity, filter: filter.isEmpty ? nil : .all(filter), top: size, skip: position.skip)
        let newest = (records.compactMap { $0.dateTime("LastModifiedDateTime") } + [position.newest].compactMap { $0 })
            .max().map(AcumaticaDates.floorToMillisecond)
        let items = records.compactMap(map)
        if records.count >= size {
            let next = AcumaticaCursor(since: position.since, skip: position.skip + records.count, newest: newest)
            return ChangePage(items: items, next: next.encoded, hasMore: true)
        }
        if newest == nil, !records.isEmpty {
            logger.warning(
                "records carry no LastModifiedDateTime; every read starts over", metadata: ["entity": "\(entity)"])
        }
        let next = AcumaticaCursor(since: newest ?? position.since, skip: 0, newest: nil)
        return ChangePage(items: items, next: next.encoded, hasMore: false)
    }

    package func dimensions() async throws -> [ERPDimension] {
        let subaccounts = try await client.all("Subaccount")
        var dimensions: [ERPDimension] = []
        let codes = subaccounts.compactMap { record -> (String, String, Bool)? in
            guard let code = record.string("SubaccountCD") else { return nil }
            return (code, record.string("Description") ?? code, !(record.bool("Active") ?? true))
        }
        if settings.subaccountSegments.isEmpty || settings.subaccountSeparator.isEmpty {
            dimensions.append(
                ERPDimension(
                    code: Self.subaccountDimension, name: "Subaccount",
                    values: codes.map { DimensionValue(code: $0.0, name: $0.1, blocked: $0.2) }))
        } else {
            for (position, segment) in settings.subaccountSegments.enumerated() {
                var values: [String: Bool] = [:]
                for (code, _, blocked) in codes {
                    let parts = code.components(separatedBy: settings.subaccountSeparator)
                    guard parts.count == settings.subaccountSegments.count else { continue }
                    // A segment value is usable while any active subaccount carries it.
                    values[parts[position]] = (values[parts[position]] ?? true) && blocked
                }
                dimensions.append(
                    ERPDimension(
                        code: segment, name: segment,
                        values: values.keys.sorted().map { DimensionValue(code: $0, name: $0, blocked: values[$0]!) }))
            }
        }
        if let branch = settings.branchDimension {
            do {
                // The `Branch` entity and its fields are UNCONFIRMED for the Default endpoint: read it, and say so
                // when the endpoint does not serve it rather than inventing branch values.
                let branches = try await client.all("Branch")
                dimensions.append(
                    ERPDimension(
                        code: branch, name: "Branch",
                        values: branches.compactMap { record in
                            guard let id = record.string("BranchID") else { return nil }
                            return DimensionValue(
                                code: id, name: record.string("BranchName") ?? id,
                                blocked: !(record.bool("Active") ?? true))
                        }))
            } catch let error as ConnectorError where error.httpStatus == 404 {
                logger.warning(
                    "the endpoint serves no Branch entity; branch values are not listed",
                    metadata: ["endpoint": "\(settings.endpointName)/\(settings.endpointVersion)"])
            }
        }
        return dimensions
    }

    // MARK: Purchase orders and payments

    package func purchaseOrders(numbers: [String]) async throws -> [ERPPurchaseOrder] {
        let wanted = Array(Set(numbers.filter { !$0.isEmpty })).sorted()
        guard !wanted.isEmpty else { return [] }
        let field = ODataField(settings.purchaseOrderNumberField)
        var orders: [ERPPurchaseOrder] = []
        // A few numbers per request keeps the URL short (an `or` chain; Acumatica's filter has no `in`).
        for start in stride(from: 0, to: wanted.count, by: 20) {
            let chunk = Array(wanted[start..<min(start + 20, wanted.count)])
            let filter = ODataFilter.isIn(field, chunk).and(.eq("OrderType", settings.purchaseOrderType))
            let records = try await client.all("PurchaseOrder", filter: filter, expand: ["Details"], pageSize: 100)
            for record in records {
                guard let source = record.string(settings.purchaseOrderNumberField), chunk.contains(source),
                    let orderNumber = record.string("OrderNbr")
                else { continue }
                let status = record.string("Status")?.lowercased() ?? ""
                let lines = record.details("Details")
                    .compactMap { line -> ERPPurchaseOrder.Line? in
                        guard let number = line.decimal("LineNbr") else { return nil }
                        let quantity = line.decimal("OrderQty") ?? 0
                        let finished = line.bool("Completed") == true || line.bool("Cancelled") == true
                        // JAGGAER's PO line number is taken to be Acumatica's `LineNbr` (orders keyed from JAGGAER
                        // number their lines the same way); a line not found is left unlinked.
                        return ERPPurchaseOrder.Line(
                            sourceLineNumber: "\(number)", lineId: "\(number)", quantity: quantity,
                            openQuantity: finished ? 0 : quantity, unitPrice: line.decimal("UnitCost") ?? 0)
                    }
                    .sorted { (Int($0.lineId) ?? 0) < (Int($1.lineId) ?? 0) }
                orders.append(
                    ERPPurchaseOrder(
                        sourceNumber: source, id: orderNumber, number: orderNumber,
                        orderType: record.string("OrderType") ?? settings.purchaseOrderType,
                        vendorNumber: record.string("VendorID") ?? record.string("Vendor") ?? "",
                        open: !["closed", "completed", "canceled", "cancelled"].contains(status), lines: lines))
            }
        }
        return orders
    }

    /// Released bills changed after the cursor: `Closed` with `Balance` 0 is paid, a `Balance` below `Amount`
    /// partly paid (reference §3.4, the `Closed` semantics partly UNCONFIRMED). Bills not yet released (on hold,
    /// balanced, pending approval) cannot carry payments and are skipped, but move the cursor.
    package func paymentStatuses(after cursor: ChangeCursor?, pageSize: Int) async throws -> ChangePage<
        ERPPaymentStatus
    > {
        try await changes("Bill", after: cursor, pageSize: pageSize) { record in
            guard let status = record.string("Status"), ["open", "closed"].contains(status.lowercased()),
                let vendor = record.string("Vendor"), let vendorRef = record.string("VendorRef"),
                let amount = record.decimal("Amount")
            else { return nil }
            let balance = record.decimal("Balance") ?? amount
            let state: ERPPaymentStatus.State =
                status.lowercased() == "closed" && balance == 0 ? .paid : balance < amount ? .partiallyPaid : .unpaid
            return ERPPaymentStatus(
                document: reference(record), vendorNumber: vendor, vendorInvoiceNumber: vendorRef, state: state,
                amount: amount, paidAmount: max(0, amount - balance),
                changedAt: record.dateTime("LastModifiedDateTime"))
        }
    }

    // MARK: Posting

    /// Takes the bill off hold (an update-only `PUT` of `Hold: false`, located by its id), runs `postActions` in
    /// order (by default `Release`), then reads it back.
    package func postDraft(_ document: ERPDocumentRef) async throws -> ERPDocumentRef {
        let bill = try await client.record("Bill", id: document.id)
        guard let type = bill.string("Type"), let number = bill.string("ReferenceNbr") else {
            throw ConnectorError(
                .upstreamMalformed, "Acumatica returned bill \(document.id) without Type or ReferenceNbr")
        }
        let keys: [String: JSONValue] = [
            "id": .string(document.id), "Type": AcumaticaBody.wrap(type), "ReferenceNbr": AcumaticaBody.wrap(number),
        ]
        if bill.bool("Hold") != false {
            var update = keys
            update["Hold"] = AcumaticaBody.wrap(false)
            _ = try await client.put("Bill", .object(update), updateOnly: true)
        }
        for action in settings.postActions {
            try await client.action("Bill", action, on: .object(keys))
        }
        return reference(try await client.record("Bill", id: document.id))
    }

    /// A bill on hold or balanced (not released) is unposted; a released one (`Open`, `Closed`, …) is booked; nil
    /// when Acumatica no longer has it (404).
    package func documentState(_ document: ERPDocumentRef) async throws -> ERPDocumentState? {
        do {
            let bill = try await client.record("Bill", id: document.id)
            if bill.bool("Hold") == true { return .draft }
            switch bill.string("Status") {
            case "On Hold", "Hold", "Balanced", "Pending Approval": return .draft
            default: return .posted
            }
        } catch let error as ConnectorError where error.httpStatus == 404 {
            return nil
        }
    }

    package func fitChecks() async -> [FitCheck] {
        await AcumaticaFitChecks(connector: self).run()
    }

    package func close() async {
        await signOut?()
    }
}

/// The change cursor: `since` (exclusive), the `$skip` reached within the current read, the newest stamp seen in
/// it. Written as JSON; an older plain timestamp is read as `since`.
struct AcumaticaCursor: Sendable, Hashable, Codable {
    var since: Date?
    var skip: Int
    var newest: Date?

    init(since: Date?, skip: Int, newest: Date?) {
        self.since = since
        self.skip = max(0, skip)
        self.newest = newest
    }

    init(_ cursor: ChangeCursor?) {
        guard let cursor else {
            self.init(since: nil, skip: 0, newest: nil)
            return
        }
        if let decoded = try? JSONCoding.decode(AcumaticaCursor.self, from: Data(cursor.value.utf8)) {
            self = decoded
        } else {
            self.init(since: Timestamp.parse(cursor.value), skip: 0, newest: nil)
        }
    }

    var encoded: ChangeCursor {
        ChangeCursor(String(decoding: (try? JSONCoding.encode(self)) ?? Data(), as: UTF8.self))
    }
}
