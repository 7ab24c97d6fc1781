import ConnectorCore
import ConnectorHTTP
import Foundation
import OData

/// A position in a change feed over a page's change stamp (NAV's `Last Date Modified` is a date): the stamp and the
/// last `No` read with it. A read that reaches the end keeps the stamp with no key, so the next run reads that
/// stamp's records again (a record changed later the same day is not missed; the flows skip what they already hold).
struct NAVCursor: Sendable, Hashable {
    var stamp: String
    var key: String

    init(stamp: String, key: String) {
        self.stamp = stamp
        self.key = key
    }

    init(_ cursor: ChangeCursor) throws {
        let parts = cursor.value.split(separator: "|", maxSplits: 1, omittingEmptySubsequences: false)
        guard parts.count == 2, parts[0].hasPrefix("nav:") else {
            throw ConnectorError(.configInvalid, "\(cursor.value.prefix(40)) is not a Dynamics NAV change cursor")
        }
        stamp = String(parts[0].dropFirst(4))
        key = String(parts[1])
    }

    var cursor: ChangeCursor { ChangeCursor("nav:\(stamp)|\(key)") }

    /// The start (UTC) of a `YYYY-MM-DD` day.
    static func day(_ text: String) -> Date? {
        guard let day = LocalDate(parsing: text) else { return nil }
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        return calendar.date(from: DateComponents(year: day.year, month: day.month, day: day.day))
    }

    /// The stamp as a filter literal: a date (`2026-12-03`) or a point in time.
    static func literal(_ stamp: String) throws -> ODataValue {
        if stamp.count == 10, let date = NAVCursor.day(stamp) {
            return .date(date, timeZone: TimeZone(identifier: "UTC")!)
        }
        guard let instant = Timestamp.parse(stamp) else {
            throw ConnectorError(.upstreamMalformed, "\(stamp.prefix(40)) is not a date or a point in time")
        }
        return .dateTime(instant)
    }
}

extension DynamicsNAVConnector {
    /// One page of records in (stamp, `No`) order after the cursor: first the rest of the cursor's stamp, then
    /// later stamps (each an `and` of one field, as NAV filters take; no `or` across two fields).
    func changes(_ service: String, stampField: String, cursor: ChangeCursor?, pageSize: Int) async throws
        -> ChangePage<NAVRecord>
    {
        let size = max(1, pageSize)
        let field = ODataField(stampField)
        var items: [NAVRecord] = []
        var later: ODataFilter?
        if let cursor {
            let position = try NAVCursor(cursor)
            let stamp = try NAVCursor.literal(position.stamp)
            items = try await page(
                service, filter: .eq(field, stamp).and(.gt("No", .string(position.key))), order: [("No", .asc)],
                top: size)
            later = .gt(field, stamp)
        }
        if items.count < size {
            items += try await page(
                service, filter: later, order: [(field, .asc), ("No", .asc)], top: size - items.count)
        }
        let hasMore = items.count >= size
        guard let last = items.last else {
            return ChangePage(items: [], next: cursor, hasMore: false)
        }
        let stamp = last.text(stampField) ?? "0001-01-01"
        let next = NAVCursor(stamp: stamp, key: hasMore ? (last.text("No") ?? "") : "")
        return ChangePage(items: items, next: next.cursor, hasMore: hasMore)
    }

    /// One page read with `$top` (the server's own paging links are not followed past it).
    func page(_ service: String, filter: ODataFilter?, order: [(ODataField, ODataQuery.Order)], top: Int)
        async throws -> [NAVRecord]
    {
        let all = try await client.list(service, ODataQuery(filter: filter, orderBy: order, top: top))
        return Array(all.prefix(top))
    }

    // MARK: Vendors

    package func vendors(after cursor: ChangeCursor?, pageSize: Int) async throws -> ChangePage<Vendor> {
        try await published.check()
        let page = try await changes(
            settings.vendorService, stampField: settings.vendorChangeField, cursor: cursor, pageSize: pageSize)
        return ChangePage(items: page.items.map(vendor), next: page.next, hasMore: page.hasMore)
    }

    func vendor(_ row: NAVRecord) -> Vendor {
        let number = row.text("No") ?? ""
        let blocked: Vendor.Blocked =
            switch row.text("Blocked")?.trimmingWhitespace(newlines: false) {
            case "All": .all
            case "Payment": .payment
            default: .none
            }
        func nonEmpty(_ field: String) -> String? { row.text(field).flatMap { $0.isEmpty ? nil : $0 } }
        let lines = [nonEmpty("Address"), nonEmpty("Address_2")].compactMap { $0 }
        let address = PostalAddress(
            lines: lines, city: nonEmpty("City"), state: nonEmpty("County"), postalCode: nonEmpty("Post_Code"),
            country: nonEmpty("Country_Region_Code"))
        return Vendor(
            number: number, name: nonEmpty("Name") ?? number, blocked: blocked, currencyCode: nonEmpty("Currency_Code"),
            taxRegistrationNumber: nonEmpty("VAT_Registration_No"), erpId: number,
            lastModified: row.text(settings.vendorChangeField).flatMap(Self.instant), address: address.nonEmpty,
            paymentTermsCode: nonEmpty("Payment_Terms_Code"),
            parentNumber: settings.parentVendorField.isEmpty ? nil : nonEmpty(settings.parentVendorField))
    }

    /// A stamp as an instant: a date is its start (UTC); a point in time as written.
    static func instant(_ stamp: String) -> Date? {
        if stamp.count == 10 { return NAVCursor.day(stamp) }
        return Timestamp.parse(stamp)
    }

    package func upsertVendor(_ vendor: Vendor) async throws -> ERPDocumentRef {
        try await published.check()
        let path = settings.vendorService + (try client.key(vendor.number.uppercased()))
        var body: NAVRecord = [
            "Name": .string(String(vendor.name.prefix(50))),
            "Blocked": .string(vendor.blocked == .all ? "All" : vendor.blocked == .payment ? "Payment" : " "),
        ]
        if let currency = vendor.currencyCode { body["Currency_Code"] = .string(currency) }
        if let tax = vendor.taxRegistrationNumber { body["VAT_Registration_No"] = .string(tax) }
        if let address = vendor.address {
            body["Address"] = .string(String((address.lines.first ?? "").prefix(50)))
            body["Address_2"] = .string(String((address.lines.dropFirst().first ?? "").prefix(50)))
            if let city = address.city { body["City"] = .string(city) }
            if let code = address.postalCode { body["Post_Code"] = .string(code) }
            if let country = address.country { body["Country_Region_Code"] = .string(country) }
        }
        if let terms = vendor.paymentTermsCode { body["Payment_Terms_Code"] = .string(terms) }
        if !settings.parentVendorField.isEmpty, let parent = vendor.parentNumber {
            body[settings.parentVendorField] = .string(parent)
        }
        guard try await client.entity(path) != nil else {
            var create = body
            create["No"] = .string(vendor.number)
            do {
                let created = try await client.create(settings.vendorService, create)
                let number = created.text("No") ?? vendor.number
                return ERPDocumentRef(system: system, id: number, number: number, status: "created")
            } catch let error as ConnectorError where error.code == .ambiguousWrite {
                // A vendor has its number as key: if the lost create landed, it is there now; else create again.
                if try await client.entity(path) == nil { throw error }
                return ERPDocumentRef(system: system, id: vendor.number, number: vendor.number, status: "created")
            }
        }
        var kept = false
        // Decided again on every re-read: a stale ETag means NAV's record changed, which may change who wins.
        try await changeUnderETag(path) { current in
            guard
                Self.procurementWins(
                    vendor, over: current, rule: settings.vendorConflictRule, field: settings.vendorChangeField)
            else {
                kept = true
                return nil
            }
            kept = false
            return body
        }
        return ERPDocumentRef(
            system: system, id: vendor.number, number: vendor.number, status: kept ? "kept" : "updated")
    }

    /// Whether the procurement record overwrites NAV's vendor. With a date stamp, a change on the same day as
    /// NAV's is not known to be newer, so NAV's is kept.
    static func procurementWins(
        _ vendor: Vendor, over current: NAVRecord, rule: DynamicsNAVSettings.VendorConflictRule, field: String
    ) -> Bool {
        switch rule {
        case .procurementWins: return true
        case .erpWins: return false
        case .newestWins:
            guard let stamp = current.text(field), let theirs = instant(stamp), stamp != "0001-01-01" else {
                return true
            }
            guard let ours = vendor.lastModified else { return false }
            let end = stamp.count == 10 ? theirs.addingTimeInterval(86_400) : theirs
            return ours >= end
        }
    }

    // MARK: Accounts and dimensions

    /// The chart of accounts, read whole in pages of `No` (small, and G/L accounts are read-only here).
    package func accounts(after cursor: ChangeCursor?, pageSize: Int) async throws -> ChangePage<GLAccount> {
        try await published.check()
        let size = max(1, pageSize)
        var filter: ODataFilter?
        if let cursor, cursor.value.hasPrefix("nav-no:") {
            filter = .gt("No", .string(String(cursor.value.dropFirst(7))))
        }
        let rows = try await page(settings.accountService, filter: filter, order: [("No", .asc)], top: size)
        let hasMore = rows.count >= size
        let accounts = rows.map { row in
            let number = row.text("No") ?? ""
            let blocked = row.flag("Blocked") == true
            return GLAccount(
                number: number, name: row.text("Name") ?? number,
                category: row.text("Account_Category").flatMap {
                    $0.trimmingWhitespace(newlines: false).isEmpty ? nil : $0
                }
                    ?? row.text("Income_Balance"),
                postable: row.text("Account_Type") == "Posting" && !blocked && row.flag("Direct_Posting") != false,
                blocked: blocked, erpId: number)
        }
        // A finished read starts from the beginning next time: the whole chart, every run.
        let next = hasMore ? ChangeCursor("nav-no:\(rows.last?.text("No") ?? "")") : ChangeCursor("nav-no:")
        return ChangePage(items: accounts, next: next, hasMore: hasMore)
    }

    package func dimensions() async throws -> [ERPDimension] {
        try await published.check()
        let values = try await client.list(
            settings.dimensionValueService, ODataQuery(orderBy: [("Dimension_Code", .asc), ("Code", .asc)]))
        let grouped = Dictionary(grouping: values) { $0.text("Dimension_Code") ?? "" }
        return grouped.keys.sorted().filter { !$0.isEmpty }.map { code in
            ERPDimension(
                code: code, name: code,
                values: (grouped[code] ?? []).filter {
                    ($0.text("Dimension_Value_Type") ?? "Standard") == "Standard"
                }.map {
                    DimensionValue(
                        code: $0.text("Code") ?? "", name: $0.text("Name") ?? "", blocked: $0.flag("Blocked") == true)
                },
                erpId: code)
        }
    }

    // MARK: Purchase orders

    var orderField: ODataField { ODataField(settings.purchaseOrderNumberField) }

    func orderPath(_ number: String) throws -> String {
        settings.purchaseOrderService
            + (try client.key([("Document_Type", .string(Self.orderType)), ("No", .string(number))]))
    }

    package func purchaseOrders(numbers: [String]) async throws -> [ERPPurchaseOrder] {
        try await published.check()
        let wanted = Array(Set(numbers.filter { !$0.isEmpty })).sorted()
        var orders: [ERPPurchaseOrder] = []
        var start = 0
        while start < wanted.count {
            let chunk = Array(wanted[start..<min(start + 20, wanted.count)])
            start += 20
            let headers = try await client.list(
                settings.purchaseOrderService,
                ODataQuery(filter: .eq("Document_Type", Self.orderType).and(.isIn(orderField, chunk))))
            for header in headers {
                guard let source = header.text(settings.purchaseOrderNumberField), chunk.contains(source),
                    let number = header.text("No")
                else { continue }
                let lines = try await client.list(
                    try orderPath(number) + "/" + settings.purchaseOrderLines, ODataQuery(orderBy: [("Line_No", .asc)]))
                orders.append(
                    ERPPurchaseOrder(
                        sourceNumber: source, id: number, number: number, orderType: Self.orderType,
                        vendorNumber: header.text("Buy_from_Vendor_No") ?? "",
                        // NAV removes an order once it is fully invoiced: one that is still there is open.
                        open: true,
                        lines: lines.map { line in
                            let quantity = line.number("Quantity") ?? 0
                            return ERPPurchaseOrder.Line(
                                sourceLineNumber: nil,
                                lineId: line.number("Line_No").map { "\($0)" } ?? "",
                                quantity: quantity,
                                openQuantity: quantity - (line.number("Quantity_Invoiced") ?? 0),
                                unitPrice: line.number("Direct_Unit_Cost") ?? 0)
                        }))
            }
        }
        return orders
    }

    /// Header first, then lines through the containment (no deep insert on pages). An order that exists is
    /// updated under ETags, line by line by position; lines it lacks are added, so an interrupted create is
    /// completed by the next run.
    package func upsertPurchaseOrder(_ order: PurchaseOrderDocument) async throws -> ERPDocumentRef {
        try await published.check()
        let lines = try order.lines.enumerated().map { index, line in
            var body = try dimensionValues(
                order.headerDimensions + line.dimensions, line: index + 1, own: line.dimensions)
            body["Line_No"] = .number(Decimal((index + 1) * Self.lineStep))
            body["Type"] = .string(settings.accountLineType)
            body["No"] = .string(line.glAccount)
            body["Description"] = .string(String(line.description.prefix(constraints.maxLineDescriptionLength)))
            body["Quantity"] = .number(line.quantity)
            body["Direct_Unit_Cost"] = .number(line.unitPrice)
            return body
        }
        let existing = try await purchaseOrders(numbers: [order.sourceNumber]).first
        var header: [String: JSONValue] = [
            "Order_Date": .string(order.orderDate.description),
            settings.purchaseOrderNumberField: .string(order.sourceNumber),
        ]
        if let delivery = order.deliveryDate { header["Expected_Receipt_Date"] = .string(delivery.description) }
        guard let existing else {
            var create = header
            create["Document_Type"] = .string(Self.orderType)
            create["Buy_from_Vendor_No"] = .string(order.vendorNumber)
            if let currency = order.currencyCode, !currency.isEmpty { create["Currency_Code"] = .string(currency) }
            let created = try await client.create(settings.purchaseOrderService, create)
            guard let number = created.text("No") else {
                throw ConnectorError(
                    .upstreamMalformed, "\(DynamicsNAVClient.systemName) created a purchase order without No")
            }
            do {
                try await addLines(lines, under: try orderPath(number) + "/" + settings.purchaseOrderLines)
            } catch let error as ConnectorError where error.kind == .rejected || error.kind == .badInput {
                if let current = try await client.entity(try orderPath(number)), let etag = current.etag {
                    try await client.delete(try orderPath(number), etag: etag)
                }
                throw error
            }
            return ERPDocumentRef(system: system, id: number, number: number, status: "created")
        }
        guard Self.same(existing.vendorNumber, order.vendorNumber) else {
            throw ConnectorError(
                .upstreamRejected, kind: .rejected,
                "purchase order \(order.sourceNumber.prefix(60)) exists in Dynamics NAV for vendor \(existing.vendorNumber.prefix(40)), not \(order.vendorNumber.prefix(40))"
            )
        }
        let path = try orderPath(existing.id)
        try await changeUnderETag(path) { current in
            header.filter { current[$0.key] != $0.value }.isEmpty ? nil : header
        }
        let linesPath = path + "/" + settings.purchaseOrderLines
        for (index, line) in lines.enumerated() where index < existing.lines.count {
            let linePath =
                linesPath
                + (try client.key([
                    ("Document_Type", .string(Self.orderType)), ("Document_No", .string(existing.id)),
                    ("Line_No", .int(Int64(existing.lines[index].lineId) ?? 0)),
                ]))
            try await changeUnderETag(linePath) { current in
                let change = line.filter { $0.key != "Line_No" && current[$0.key] != $0.value }
                return change.isEmpty ? nil : change
            }
        }
        try await addLines(
            lines.enumerated().filter { $0.offset >= existing.lines.count }.map(\.element), under: linesPath)
        return ERPDocumentRef(system: system, id: existing.id, number: existing.id, status: "updated")
    }
}
