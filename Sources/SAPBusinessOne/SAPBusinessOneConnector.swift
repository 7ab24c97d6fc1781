import ConnectorCore
import ConnectorHTTP
import Foundation
import OData

/// SAP Business One as an `ERPConnector`: an invoice becomes a document draft (`Drafts`, `oPurchaseInvoices`) or,
/// with `draftMode: invoice`, an A/P invoice, created in one request (atomic in B1); lines that reference a
/// JAGGAER PO are linked to the B1 PO's lines (`BaseType` 22, `BaseEntry`, `BaseLine`).
package struct SAPBusinessOneConnector: ERPConnector {
    package let client: SAPBusinessOneClient
    package let settings: SAPBusinessOneSettings
    /// The session behind the client: signed in for the fit report, signed out by `close()`.
    package let sessions: CookieSessionProvider?

    package init(client: SAPBusinessOneClient, settings: SAPBusinessOneSettings, sessions: CookieSessionProvider?) {
        self.client = client
        self.settings = settings
        self.sessions = sessions
    }

    package var system: String { SAPBusinessOneSettings.kind }
    package var constraints: ERPConstraints { .sapBusinessOne }
    package var capabilities: ERPCapabilities { SAPBusinessOneModule.capabilities(settings) }

    /// `BaseType` of a purchase order (BoObjectTypes `oPurchaseOrders`).
    static let purchaseOrderObjectType = 22

    // MARK: Invoices

    static let documentSelect: [ODataField] = [
        "DocEntry", "DocNum", "CardCode", "NumAtCard", "DocumentStatus", "Cancelled", "DocObjectCode",
    ]

    package func findInvoices(vendorNumber: String, vendorInvoiceNumber: String) async throws -> [ERPDocumentRef] {
        // Longer than B1's field: no document can carry it (and the filter would only be refused).
        guard vendorInvoiceNumber.count <= constraints.maxVendorInvoiceNumberLength, !vendorNumber.isEmpty else {
            return []
        }
        let key = ODataFilter.eq("CardCode", vendorNumber).and(.eq("NumAtCard", vendorInvoiceNumber))
        let invoices: [B1Document] = try await client.list(
            "PurchaseInvoices", ODataQuery(filter: key, select: Self.documentSelect))
        let drafts: [B1Document] = try await client.list(
            "Drafts",
            ODataQuery(filter: key.and(.eq("DocObjectCode", "oPurchaseInvoices")), select: Self.documentSelect))
        // Exactly the number: the database may compare case-insensitively or ignore trailing spaces.
        func exact(_ document: B1Document) -> Bool {
            document.CardCode == vendorNumber && document.NumAtCard == vendorInvoiceNumber
        }
        return invoices.filter(exact).map(invoiceRef)
            // A closed draft became a document, which is found itself.
            + drafts.filter { exact($0) && $0.DocumentStatus != "bost_Close" }.map(draftRef)
    }

    func invoiceRef(_ document: B1Document) -> ERPDocumentRef {
        ERPDocumentRef(
            system: system, id: "PurchaseInvoices(\(document.DocEntry))", number: document.DocNum.map(String.init),
            status: B1YesNo.isYes(document.Cancelled) ? "cancelled" : (document.DocumentStatus ?? "bost_Open"))
    }

    func draftRef(_ document: B1Document) -> ERPDocumentRef {
        ERPDocumentRef(
            system: system, id: "Drafts(\(document.DocEntry))", number: document.DocNum.map(String.init),
            status: "draft")
    }

    package func createDraftInvoice(_ invoice: MappedInvoice) async throws -> ERPDocumentRef {
        let numbers = Set(invoice.lines.compactMap(\.poNumber).filter { !$0.isEmpty })
        let orders = numbers.isEmpty ? [] : try await purchaseOrders(numbers: Array(numbers))
        let body = try Self.document(for: invoice, orders: orders, settings: settings)
        switch settings.draftMode {
        case .draft:
            let created: B1Document = try await client.create("Drafts", body)
            return draftRef(created)
        case .invoice:
            let created: B1Document = try await client.create("PurchaseInvoices", body)
            return invoiceRef(created)
        }
    }

    /// The document body for a mapped invoice: a service document coded to G/L accounts, or, when its lines copy
    /// from item purchase orders, an item document whose lines B1 fills from the PO lines.
    static func document(for invoice: MappedInvoice, orders: [ERPPurchaseOrder], settings: SAPBusinessOneSettings)
        throws -> B1DocumentBody
    {
        var itemDocument = false
        var lines: [B1LineBody] = []
        for (index, line) in invoice.lines.enumerated() {
            var body = B1LineBody()
            if let poNumber = line.poNumber, !poNumber.isEmpty {
                let link = try Self.link(line, poNumber: poNumber, orders: orders, vendor: invoice.vendorNumber)
                body.BaseType = purchaseOrderObjectType
                body.BaseEntry = link.entry
                body.BaseLine = link.line
                if link.items { itemDocument = true }
            }
            body.AccountCode = line.glAccount
            body.ItemDescription = line.description
            body.Quantity = line.quantity
            body.UnitPrice = line.unitCost
            body.LineTotal = line.amount
            body.TaxCode = line.taxCode
            for assignment in invoice.headerDimensions + line.dimensions {
                guard let field = settings.costingCodes[assignment.dimension] else {
                    throw ConnectorError(
                        .upstreamRejected, kind: .rejected,
                        "line \(index + 1) is coded to the dimension \(assignment.dimension.prefix(40).debugDescription), which erp.sapBusinessOne.costingCodes does not map to a CostingCode field"
                    )
                }
                // A line's own value wins over the header's.
                if body.costingCode(field) == nil || line.dimensions.contains(assignment) {
                    body.setCostingCode(field, assignment.value)
                }
            }
            lines.append(body)
        }
        if itemDocument {
            // An item document copies item, account and price from the PO lines; every line must copy from one.
            guard lines.allSatisfy({ $0.BaseEntry != nil }) else {
                throw ConnectorError(
                    .upstreamRejected, kind: .rejected,
                    "the invoice copies from an item purchase order, so SAP Business One needs every line to reference a PO line; lines without a PO reference (tax, charges) cannot be added to it"
                )
            }
            lines = lines.map { line in
                var copy = line
                copy.AccountCode = nil
                copy.LineTotal = nil
                return copy
            }
        } else {
            // A service document has no quantity or price: the amount is the line total.
            lines = lines.map { line in
                var copy = line
                copy.Quantity = nil
                copy.UnitPrice = nil
                return copy
            }
        }
        return B1DocumentBody(
            DocObjectCode: settings.draftMode == .draft ? "oPurchaseInvoices" : nil,
            DocType: itemDocument ? "dDocument_Items" : "dDocument_Service",
            CardCode: invoice.vendorNumber,
            NumAtCard: invoice.vendorInvoiceNumber,
            DocDate: (invoice.postingDate ?? invoice.invoiceDate).description,
            DocDueDate: invoice.dueDate?.description,
            TaxDate: invoice.invoiceDate.description,
            DocCurrency: invoice.currencyCode,
            Comments: String("JAGGAER invoice \(invoice.sourceId)".prefix(254)),
            DocumentLines: lines)
    }

    /// The B1 PO line an invoice line copies from, or `erp.po_not_found` naming the missing PO.
    static func link(_ line: MappedLine, poNumber: String, orders: [ERPPurchaseOrder], vendor: String) throws
        -> (entry: Int, line: Int, items: Bool)
    {
        let candidates = orders.filter { $0.sourceNumber == poNumber }
        guard !candidates.isEmpty else {
            throw ConnectorError(
                .purchaseOrderNotFound, kind: .rejected,
                "purchase order \(poNumber.prefix(60)) is not in SAP Business One; the invoice can be written once the PO is there"
            )
        }
        let order = candidates.count == 1 ? candidates[0] : candidates.first { $0.open } ?? candidates[0]
        guard order.vendorNumber == vendor else {
            throw ConnectorError(
                .upstreamRejected, kind: .rejected,
                "purchase order \(poNumber.prefix(60)) belongs to vendor \(order.vendorNumber.prefix(40)) in SAP Business One, not to \(vendor.prefix(40))"
            )
        }
        guard let entry = Int(order.id) else {
            throw ConnectorError(.internalError, "purchase order \(poNumber.prefix(60)) has no DocEntry")
        }
        let sourceLine = line.poLineNumber ?? (order.lines.count == 1 ? "1" : "")
        guard let target = order.line(forSourceLine: sourceLine), let lineNum = Int(target.lineId) else {
            throw ConnectorError(
                .purchaseOrderNotFound, kind: .rejected,
                "purchase order \(poNumber.prefix(60)) in SAP Business One has no line \(sourceLine.isEmpty ? "(none named)" : sourceLine.prefix(20).description)"
            )
        }
        return (entry, lineNum, order.orderType == "dDocument_Items")
    }

    /// A draft still open is unposted; a closed draft (saved to a document) or an A/P invoice is booked; a draft the
    /// Service Layer no longer has is nil (posted and removed, or deleted: which one is UNCONFIRMED).
    package func documentState(_ document: ERPDocumentRef) async throws -> ERPDocumentState? {
        if Self.docEntry(document.id, set: "PurchaseInvoices") != nil { return .posted }
        guard let entry = Self.docEntry(document.id, set: "Drafts") else {
            throw ConnectorError(.configInvalid, "\(document.id.prefix(40)) is not an SAP Business One draft")
        }
        let draft: B1Document? = try await client.entity(
            "/Drafts" + (try client.key(entry)), select: Self.documentSelect)
        guard let draft else { return nil }
        return draft.DocumentStatus == "bost_Close" ? .posted : .draft
    }

    package func postDraft(_ document: ERPDocumentRef) async throws -> ERPDocumentRef {
        guard let entry = Self.docEntry(document.id, set: "Drafts") else {
            if Self.docEntry(document.id, set: "PurchaseInvoices") != nil { return document }
            throw ConnectorError(.configInvalid, "\(document.id.prefix(40)) is not an SAP Business One draft")
        }
        guard
            let draft: B1Document = try await client.entity(
                "/Drafts" + (try client.key(entry)), select: Self.documentSelect)
        else {
            // The Service Layer may remove a draft once it became a document (which one it does is UNCONFIRMED).
            throw ConnectorError(
                .upstreamRejected, kind: .rejected,
                "SAP Business One no longer has draft \(entry): it was posted or deleted in B1; look for the A/P invoice there"
            )
        }
        if draft.DocumentStatus != "bost_Close" {
            // The Service Layer's own field names.
            // swift-format-ignore: AlwaysUseLowerCamelCase
            struct Params: Encodable {
                // swift-format-ignore: AlwaysUseLowerCamelCase
                struct Document: Encodable { var DocEntry: Int }
                var Document: Document
            }
            try await client.action("DraftsService_SaveDraftToDocument", Params(Document: .init(DocEntry: entry)))
        }
        let found = try await findInvoices(
            vendorNumber: draft.CardCode ?? "", vendorInvoiceNumber: draft.NumAtCard ?? ""
        )
        .filter { $0.id.hasPrefix("PurchaseInvoices(") }
        guard let posted = found.first else {
            throw ConnectorError(
                .upstreamMalformed, "SAP Business One accepted draft \(entry) but shows no A/P invoice for it")
        }
        return posted
    }

    static func docEntry(_ id: String, set: String) -> Int? {
        guard id.hasPrefix(set + "("), id.hasSuffix(")") else { return nil }
        return Int(id.dropFirst(set.count + 1).dropLast())
    }

    // MARK: Change feeds

    /// `UpdateDate`/`UpdateTime` strictly after the cursor, records of the same second ordered by `keyField`.
    static func after(_ cursor: B1Cursor, keyField: ODataField, key: ODataValue) -> ODataFilter {
        let date = ODataValue.string(cursor.stamp.date)
        let time = ODataValue.string(cursor.stamp.time)
        return .any([
            .gt("UpdateDate", date),
            .all([
                .eq("UpdateDate", date),
                .any([
                    .gt("UpdateTime", time),
                    .all([.eq("UpdateTime", time), .gt(keyField, key)]),
                ]),
            ]),
        ])
    }

    static let changeOrder: [(ODataField, ODataQuery.Order)] = [("UpdateDate", .asc), ("UpdateTime", .asc)]

    /// One page of a change feed: `$top` records in change order after the cursor.
    func changes<T: Decodable & Sendable>(
        _ entitySet: String, base: ODataFilter?, keyField: ODataField, cursor: ChangeCursor?, pageSize: Int,
        select: [ODataField], key: (String) -> ODataValue, keyText: (T) -> String, stamp: (T) -> B1ChangeStamp?
    ) async throws -> ChangePage<T> {
        let size = max(1, pageSize)
        var filter = base
        if let cursor {
            let position = try B1Cursor(cursor)
            let after = Self.after(position, keyField: keyField, key: key(position.key))
            filter = filter.map { $0.and(after) } ?? after
        }
        let items: [T] = try await client.list(
            entitySet,
            ODataQuery(filter: filter, select: select, orderBy: Self.changeOrder + [(keyField, .asc)], top: size))
        let next = items.last.map { last in
            B1Cursor(stamp: stamp(last) ?? B1ChangeStamp(date: "0001-01-01", time: "00:00:00"), key: keyText(last))
                .cursor
        }
        return ChangePage(items: items, next: next ?? cursor, hasMore: items.count >= size)
    }

    package func vendors(after cursor: ChangeCursor?, pageSize: Int) async throws -> ChangePage<Vendor> {
        let page: ChangePage<B1BusinessPartner> = try await changes(
            "BusinessPartners", base: .eq("CardType", "cSupplier"), keyField: "CardCode", cursor: cursor,
            pageSize: pageSize,
            select: [
                "CardCode", "CardName", "CardType", "Currency", "FederalTaxID", "Valid", "Frozen", "UpdateDate",
                "UpdateTime",
            ],
            key: { .string($0) }, keyText: \.CardCode, stamp: \.stamp)
        let zone = settings.companyTimeZone
        return ChangePage(
            items: page.items.map { partner in
                Vendor(
                    number: partner.CardCode, name: partner.CardName ?? partner.CardCode,
                    blocked: B1YesNo.isYes(partner.Frozen) || partner.Valid == "tNO" ? .all : .none,
                    currencyCode: partner.Currency.flatMap { $0.isEmpty || $0 == "##" ? nil : $0 },
                    taxRegistrationNumber: partner.FederalTaxID.flatMap { $0.isEmpty ? nil : $0 },
                    erpId: partner.CardCode, lastModified: partner.stamp?.instant(in: zone))
            }, next: page.next, hasMore: page.hasMore)
    }

    package func accounts(after cursor: ChangeCursor?, pageSize: Int) async throws -> ChangePage<GLAccount> {
        let page: ChangePage<B1Account> = try await changes(
            "ChartOfAccounts", base: nil, keyField: "Code", cursor: cursor, pageSize: pageSize,
            select: [
                "Code", "Name", "FormatCode", "ActiveAccount", "FrozenFor", "AccountType", "UpdateDate", "UpdateTime",
            ],
            key: { .string($0) }, keyText: \.Code, stamp: \.stamp)
        let zone = settings.companyTimeZone
        return ChangePage(
            items: page.items.map { account in
                let frozen = B1YesNo.isYes(account.FrozenFor)
                return GLAccount(
                    number: account.Code, name: account.Name ?? account.Code, category: account.AccountType,
                    // Title accounts (`ActiveAccount` tNO) take no postings.
                    postable: B1YesNo.isYes(account.ActiveAccount) && !frozen, blocked: frozen,
                    erpId: account.FormatCode.flatMap { $0.isEmpty ? nil : $0 },
                    lastModified: account.stamp?.instant(in: zone))
            }, next: page.next, hasMore: page.hasMore)
    }

    /// B1's cost accounting dimensions with their distribution rules' profit centres. A dimension's code is the
    /// ERP-neutral code `costingCodes` maps to its `CostingCode` field, else its B1 name.
    package func dimensions() async throws -> [ERPDimension] {
        let dimensions: [B1Dimension] = try await client.list("Dimensions", ODataQuery())
        let centers: [B1ProfitCenter] = try await client.list("ProfitCenters", ODataQuery())
        return dimensions.filter { $0.IsActive != "tNO" }.sorted { $0.DimensionCode < $1.DimensionCode }.map {
            dimension in
            let field = dimension.DimensionCode == 1 ? "CostingCode" : "CostingCode\(dimension.DimensionCode)"
            let neutral = settings.costingCodes.first { $0.value == field }?.key
            let name = dimension.DimensionName ?? "Dimension \(dimension.DimensionCode)"
            return ERPDimension(
                code: neutral ?? name, name: dimension.DimensionDescription ?? name,
                values: centers.filter { ($0.InWhichDimension ?? 1) == dimension.DimensionCode }.map {
                    DimensionValue(
                        code: $0.CenterCode, name: $0.CenterName ?? $0.CenterCode, blocked: $0.Active == "tNO")
                },
                erpId: String(dimension.DimensionCode))
        }
    }

    // MARK: Purchase orders

    var purchaseOrderField: ODataField { ODataField(settings.purchaseOrderNumberField) }

    package func purchaseOrders(numbers: [String]) async throws -> [ERPPurchaseOrder] {
        let wanted = Array(Set(numbers.filter { !$0.isEmpty })).sorted()
        var orders: [ERPPurchaseOrder] = []
        var start = 0
        while start < wanted.count {
            let chunk = Array(wanted[start..<min(start + 20, wanted.count)])
            start += 20
            let documents: [B1Document] = try await client.list(
                "PurchaseOrders",
                ODataQuery(
                    filter: .isIn(purchaseOrderField, chunk),
                    select: [
                        "DocEntry", "DocNum", "CardCode", "DocType", "DocumentStatus", "Cancelled", "DocumentLines",
                        purchaseOrderField,
                    ]))
            for document in documents {
                guard let number = document.strings[settings.purchaseOrderNumberField], chunk.contains(number),
                    !B1YesNo.isYes(document.Cancelled)
                else { continue }
                orders.append(Self.order(document, sourceNumber: number))
            }
        }
        return orders
    }

    static func order(_ document: B1Document, sourceNumber: String) -> ERPPurchaseOrder {
        ERPPurchaseOrder(
            sourceNumber: sourceNumber, id: String(document.DocEntry), number: document.DocNum.map(String.init),
            orderType: document.DocType, vendorNumber: document.CardCode ?? "",
            open: document.DocumentStatus != "bost_Close",
            lines: (document.DocumentLines ?? []).sorted { $0.LineNum < $1.LineNum }.map { line in
                let quantity = line.Quantity ?? 1
                return ERPPurchaseOrder.Line(
                    sourceLineNumber: nil, lineId: String(line.LineNum), quantity: quantity,
                    openQuantity: line.RemainingOpenQuantity ?? (line.LineStatus == "bost_Close" ? 0 : quantity),
                    unitPrice: line.UnitPrice ?? line.LineTotal ?? 0)
            })
    }

    package func upsertPurchaseOrder(_ order: PurchaseOrderDocument) async throws -> ERPDocumentRef {
        let existing = try await purchaseOrders(numbers: [order.sourceNumber])
        var body = B1DocumentBody(
            DocType: "dDocument_Service", CardCode: order.vendorNumber, DocDate: order.orderDate.description,
            DocDueDate: (order.deliveryDate ?? order.orderDate).description, DocCurrency: order.currencyCode)
        if settings.purchaseOrderNumberField == "NumAtCard" {
            body.NumAtCard = order.sourceNumber
        } else {
            body.extra[settings.purchaseOrderNumberField] = order.sourceNumber
        }
        var lines: [B1LineBody] = []
        for line in order.lines {
            var b1 = B1LineBody(
                AccountCode: line.glAccount, ItemDescription: line.description,
                LineTotal: line.quantity * line.unitPrice)
            for assignment in order.headerDimensions + line.dimensions {
                guard let field = settings.costingCodes[assignment.dimension] else {
                    throw ConnectorError(
                        .upstreamRejected, kind: .rejected,
                        "purchase order \(order.sourceNumber.prefix(60)) is coded to the dimension \(assignment.dimension.prefix(40).debugDescription), which erp.sapBusinessOne.costingCodes does not map"
                    )
                }
                b1.setCostingCode(field, assignment.value)
            }
            lines.append(b1)
        }
        guard let current = existing.first else {
            body.DocumentLines = lines
            let created: B1Document = try await client.create("PurchaseOrders", body)
            return ERPDocumentRef(
                system: system, id: "PurchaseOrders(\(created.DocEntry))", number: created.DocNum.map(String.init),
                status: created.DocumentStatus ?? "bost_Open")
        }
        guard current.vendorNumber == order.vendorNumber else {
            throw ConnectorError(
                .upstreamRejected, kind: .rejected,
                "purchase order \(order.sourceNumber.prefix(60)) exists in SAP Business One for vendor \(current.vendorNumber.prefix(40)); B1 does not move a PO to another vendor"
            )
        }
        // Lines are matched by position: the existing line keeps its LineNum, further lines are added.
        body.DocType = nil
        body.CardCode = nil
        body.DocumentLines = lines.enumerated().map { index, line in
            var copy = line
            if index < current.lines.count { copy.LineNum = Int(current.lines[index].lineId) }
            return copy
        }
        try await client.patch("/PurchaseOrders" + (try client.key(Int(current.id) ?? 0)), body)
        return ERPDocumentRef(
            system: system, id: "PurchaseOrders(\(current.id))", number: current.number,
            status: current.open ? "bost_Open" : "bost_Close")
    }

    // MARK: Payment status

    package func paymentStatuses(after cursor: ChangeCursor?, pageSize: Int) async throws -> ChangePage<
        ERPPaymentStatus
    > {
        let page: ChangePage<B1Document> = try await changes(
            "PurchaseInvoices", base: nil, keyField: "DocEntry", cursor: cursor, pageSize: pageSize,
            select: [
                "DocEntry", "DocNum", "CardCode", "NumAtCard", "DocTotal", "PaidToDate", "DocumentStatus", "Cancelled",
                "UpdateDate", "UpdateTime",
            ],
            key: { .int(Int64($0) ?? 0) }, keyText: { String($0.DocEntry) }, stamp: \.stamp)
        let zone = settings.companyTimeZone
        let statuses = page.items.filter { !B1YesNo.isYes($0.Cancelled) }.map { document in
            let total = document.DocTotal ?? 0
            let paid = document.PaidToDate ?? 0
            let state: ERPPaymentStatus.State =
                (paid >= total && total > 0) || (total == 0 && document.DocumentStatus == "bost_Close")
                ? .paid : paid > 0 ? .partiallyPaid : .unpaid
            return ERPPaymentStatus(
                document: invoiceRef(document), vendorNumber: document.CardCode ?? "",
                vendorInvoiceNumber: document.NumAtCard ?? "", state: state, amount: total, paidAmount: paid,
                changedAt: document.stamp?.instant(in: zone))
        }
        return ChangePage(items: statuses, next: page.next, hasMore: page.hasMore)
    }

    // MARK: Vendors

    package func upsertVendor(_ vendor: Vendor) async throws -> ERPDocumentRef {
        let path = "/BusinessPartners" + (try client.key(vendor.number))
        let existing: B1BusinessPartner? = try await client.entity(
            path, select: ["CardCode", "CardType", "UpdateDate", "UpdateTime"])
        var body = B1BusinessPartnerBody(
            CardName: vendor.name, Currency: vendor.currencyCode, FederalTaxID: vendor.taxRegistrationNumber,
            Frozen: B1YesNo.text(vendor.blocked == .all))
        guard let existing else {
            body.CardCode = vendor.number
            body.CardType = "cSupplier"
            let created: B1BusinessPartner = try await client.create("BusinessPartners", body)
            return ERPDocumentRef(system: system, id: created.CardCode, number: created.CardCode, status: "created")
        }
        guard existing.CardType == nil || existing.CardType == "cSupplier" else {
            throw ConnectorError(
                .upstreamRejected, kind: .rejected,
                "business partner \(vendor.number.prefix(40)) is a \(existing.CardType ?? "") in SAP Business One, not a supplier; give the vendor another number"
            )
        }
        guard
            Self.procurementWins(
                vendor, over: existing, rule: settings.vendorConflictRule, zone: settings.companyTimeZone)
        else {
            return ERPDocumentRef(system: system, id: existing.CardCode, number: existing.CardCode, status: "kept")
        }
        try await client.patch(path, body)
        return ERPDocumentRef(system: system, id: existing.CardCode, number: existing.CardCode, status: "updated")
    }

    /// Whether the procurement record overwrites an existing business partner under the conflict rule.
    static func procurementWins(
        _ vendor: Vendor, over existing: B1BusinessPartner, rule: SAPBusinessOneSettings.VendorConflictRule,
        zone: TimeZone
    ) -> Bool {
        switch rule {
        case .procurementWins: return true
        case .erpWins: return false
        case .newestWins:
            guard let theirs = existing.stamp?.instant(in: zone) else { return true }
            guard let ours = vendor.lastModified else { return false }
            return ours > theirs
        }
    }

    // MARK: Session

    package func close() async {
        await sessions?.close()
    }
}
