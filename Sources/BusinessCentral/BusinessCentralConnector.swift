import ConnectorCore
import ConnectorHTTP
import Foundation

/// Business Central as an `ERPConnector`: invoices become draft `purchaseInvoices` created with one deep insert
/// (lines, and by default their dimensions, nested), never posted.
package struct BusinessCentralConnector: ERPConnector {
    package let client: BusinessCentralClient
    package let settings: BusinessCentralSettings
    package let store: any StateStore
    package let keys: StateKeys
    /// The Entra token provider behind the client, for the sign-in check of the fit report.
    package let tokens: (any TokenProvider)?
    /// The connection's webhook settings (`notifications.businessCentral`), when it has them.
    package let notifications: BusinessCentralNotifications?
    /// Payment-term codes by id, read once per connector instance (BusinessCentralPaymentTerms.swift).
    let paymentTerms = BusinessCentralPaymentTermCodes()

    package init(
        client: BusinessCentralClient, settings: BusinessCentralSettings, store: any StateStore, keys: StateKeys,
        tokens: (any TokenProvider)? = nil, notifications: BusinessCentralNotifications? = nil
    ) {
        self.client = client
        self.settings = settings
        self.store = store
        self.keys = keys
        self.tokens = tokens
        self.notifications = notifications
    }

    package var system: String { "businessCentral" }
    package var constraints: ERPConstraints {
        var constraints = ERPConstraints.businessCentral
        constraints.supportsCreditMemos = settings.purchaseCreditMemos
        return constraints
    }

    /// The company id from the connection, or looked up once by name and kept in the store.
    package func companyId() async throws -> String {
        if let id = settings.companyId { return id }
        guard let name = settings.companyName else {
            throw ConnectorError(.connectionInvalid, "erp.businessCentral needs companyId or companyName")
        }
        let cacheKey = keys.key("erp", "bc-company-id", name)
        if let cached = try await store.get(cacheKey, as: String.self) { return cached.value }
        let companies = try await client.companies()
        guard let company = companies.first(where: { $0.name == name || $0.displayName == name }) else {
            throw ConnectorError(
                .connectionInvalid,
                "Business Central has no company named \(name.debugDescription) (found: \(companies.map(\.name).joined(separator: ", ")))"
            )
        }
        try await store.put(cacheKey, json: company.id)
        return company.id
    }

    package func findInvoices(vendorNumber: String, vendorInvoiceNumber: String) async throws -> [ERPDocumentRef] {
        let company = try await companyId()
        return try await client.findPurchaseInvoices(
            companyId: company, vendorNumber: vendorNumber, vendorInvoiceNumber: vendorInvoiceNumber
        )
        .map { ERPDocumentRef(system: system, id: $0.id, number: $0.number, status: $0.status) }
            + (try await findCreditMemos(vendorNumber: vendorNumber, vendorInvoiceNumber: vendorInvoiceNumber))
    }

    /// One filtered read per bounded batch of vendor invoice numbers (an `or` over that one field, the only `or` BC
    /// accepts), matched to each key's vendor here. BC keeps both fields as `Code` (upper case) and compares them
    /// so, like the single lookup's `eq`.
    package func findInvoices(keys: [InvoiceNaturalKey]) async throws -> [InvoiceNaturalKey: [ERPDocumentRef]] {
        guard !keys.isEmpty else { return [:] }
        let company = try await companyId()
        let numbers = keys.map(\.vendorInvoiceNumber)
        let invoices = try await client.findPurchaseInvoices(companyId: company, vendorInvoiceNumbers: numbers)
        var found = Self.match(keys, invoices, system: system)
        if settings.purchaseCreditMemos {
            // Like the single lookup: a credit memo holding the key is a duplicate too.
            let memos = try await client.findPurchaseCreditMemos(companyId: company, vendorCreditMemoNumbers: numbers)
            found.merge(Self.matchCreditMemos(keys, memos, system: system), uniquingKeysWith: +)
        }
        return found
    }

    /// Invoices and purchase orders in one `$batch` request.
    package func lookUp(keys: [InvoiceNaturalKey], purchaseOrderNumbers: [String]) async throws
        -> InvoiceBatchLookup
    {
        guard !keys.isEmpty || !purchaseOrderNumbers.isEmpty else {
            return InvoiceBatchLookup(invoices: [:], orders: [])
        }
        let company = try await companyId()
        let numbers = purchaseOrderNumbers.filter { !$0.isEmpty }
        let invoiceNumbers = keys.map(\.vendorInvoiceNumber)
        // With purchase credit memos on, the same `$batch` reads them by `vendorCreditMemoNumber`, as the single
        // lookup does: a hand-keyed credit memo must be found before a second one is written.
        let read = try await client.lookUp(
            companyId: company, vendorInvoiceNumbers: invoiceNumbers, purchaseOrderNumbers: numbers,
            vendorCreditMemoNumbers: settings.purchaseCreditMemos ? invoiceNumbers : [])
        return InvoiceBatchLookup(
            invoices: Self.match(keys, read.invoices, system: system).merging(
                Self.matchCreditMemos(keys, read.creditMemos, system: system), uniquingKeysWith: +),
            orders: read.orders.compactMap { Self.order($0, wanted: numbers) })
    }

    static func match(_ keys: [InvoiceNaturalKey], _ invoices: [BCPurchaseInvoice], system: String)
        -> [InvoiceNaturalKey: [ERPDocumentRef]]
    {
        var found: [InvoiceNaturalKey: [ERPDocumentRef]] = [:]
        for key in keys {
            found[key] = invoices.filter {
                sameCode($0.vendorNumber, key.vendorNumber) && sameCode($0.vendorInvoiceNumber, key.vendorInvoiceNumber)
            }
            .map { ERPDocumentRef(system: system, id: $0.id, number: $0.number, status: $0.status) }
        }
        return found
    }

    static func order(_ order: BCPurchaseOrder, wanted: [String]) -> ERPPurchaseOrder? {
        guard let source = wanted.first(where: { sameCode(order.number, $0) }) else { return nil }
        return ERPPurchaseOrder(
            sourceNumber: source, id: order.id, number: order.number, vendorNumber: order.vendorNumber ?? "",
            open: order.status == "Open", lines: [])
    }

    static func sameCode(_ a: String?, _ b: String) -> Bool {
        guard let a else { return false }
        return a.uppercased() == b.uppercased()
    }

    /// Purchase orders by number: the JAGGAER PO number is the BC purchase order's `number`.
    package func purchaseOrders(numbers: [String]) async throws -> [ERPPurchaseOrder] {
        let wanted = numbers.filter { !$0.isEmpty }
        guard !wanted.isEmpty else { return [] }
        let company = try await companyId()
        return try await client.purchaseOrders(companyId: company, numbers: wanted).compactMap {
            Self.order($0, wanted: wanted)
        }
    }

    /// `Microsoft.NAV.post` (204), then one read for the posted number and status. The draft's id survives
    /// posting (reference §1.3). When that read fails the post still happened: the ref says `Open`.
    package func postDraft(_ document: ERPDocumentRef) async throws -> ERPDocumentRef {
        let company = try await companyId()
        try await client.postPurchaseInvoice(companyId: company, id: document.id)
        guard let posted = try? await client.purchaseInvoice(companyId: company, id: document.id) else {
            return ERPDocumentRef(system: system, id: document.id, number: document.number, status: "Open")
        }
        return ERPDocumentRef(system: system, id: posted.id, number: posted.number, status: posted.status)
    }

    /// `Draft` is unposted; any other status (`Open`, `Paid`, `Canceled`, …) is booked. Nil on 404.
    package func documentState(_ document: ERPDocumentRef) async throws -> ERPDocumentState? {
        let company = try await companyId()
        do {
            let invoice = try await client.purchaseInvoice(companyId: company, id: document.id)
            return invoice.status == "Draft" ? .draft : .posted
        } catch let error as ConnectorError where error.httpStatus == 404 {
            return nil
        }
    }

    package func createDraftInvoice(_ invoice: MappedInvoice) async throws -> ERPDocumentRef {
        if invoice.kind == .creditMemo { return try await createDraftCreditMemo(invoice) }
        let company = try await companyId()
        let nestDimensions = settings.lineDimensions == .deepInsert
        let body = Self.document(for: invoice, nestDimensions: nestDimensions)
        let created = try await client.createPurchaseInvoice(companyId: company, body)
        if !nestDimensions, invoice.lines.contains(where: { !$0.dimensions.isEmpty }) {
            let lines = try await client.purchaseInvoiceLines(companyId: company, invoiceId: created.id)
            for (sequence, line) in zip(body.purchaseInvoiceLines.map(\.sequence), invoice.lines)
            where !line.dimensions.isEmpty {
                guard let target = lines.first(where: { $0.sequence == sequence }) else {
                    throw ConnectorError(
                        .upstreamMalformed,
                        "Business Central did not return line \(sequence) of draft \(created.number ?? created.id)")
                }
                for dimension in line.dimensions {
                    try await client.createLineDimension(
                        companyId: company,
                        lineId: target.id,
                        DimensionSetLine(code: dimension.dimension, valueCode: dimension.value)
                    )
                }
            }
        }
        return ERPDocumentRef(system: system, id: created.id, number: created.number, status: created.status)
    }

    /// The deep-insert body for a mapped invoice.
    ///
    /// The JAGGAER PO reference travels on the draft as a last `Comment` line (`JAGGAER PO 0000000121`): the v2
    /// purchase invoice's `orderNumber` is read-only and its lines have no PO link (reference §1.2), so a comment
    /// line is the one place a person posting the draft sees it.
    package static func document(for invoice: MappedInvoice, nestDimensions: Bool) -> BCPurchaseInvoiceCreate {
        var document = lines(for: invoice, nestDimensions: nestDimensions)
        let numbers = invoice.poNumbers.filter { !$0.isEmpty }
        if !numbers.isEmpty {
            let text = "JAGGAER PO " + numbers.joined(separator: ", ")
            let limit = ERPConstraints.businessCentral.maxLineDescriptionLength
            document.purchaseInvoiceLines.append(
                .comment(
                    sequence: (document.purchaseInvoiceLines.count + 1) * 10000,
                    text.count <= limit ? text : String(text.prefix(limit - 1)) + "…"))
        }
        return document
    }

    static func lines(for invoice: MappedInvoice, nestDimensions: Bool) -> BCPurchaseInvoiceCreate {
        BCPurchaseInvoiceCreate(
            vendorNumber: invoice.vendorNumber,
            vendorInvoiceNumber: invoice.vendorInvoiceNumber,
            invoiceDate: invoice.invoiceDate.description,
            dueDate: invoice.dueDate?.description,
            postingDate: invoice.postingDate?.description,
            currencyCode: invoice.currencyCode,
            purchaseInvoiceLines: invoice.lines.enumerated().map { index, line in
                BCPurchaseInvoiceCreate.Line(
                    sequence: (index + 1) * 10000,
                    lineType: "Account",
                    lineObjectNumber: line.glAccount,
                    description: line.description,
                    quantity: line.quantity,
                    unitCost: line.unitCost,
                    taxCode: line.taxCode,
                    dimensionSetLines: nestDimensions && !line.dimensions.isEmpty
                        ? line.dimensions.map { DimensionSetLine(code: $0.dimension, valueCode: $0.value) } : nil
                )
            }
        )
    }

    /// BC's cursor is the largest `lastModifiedDateTime` seen (ISO 8601); one call reads every `nextLink` page.
    static func cursor(_ dates: [Date?], after previous: ChangeCursor?) -> ChangeCursor? {
        let stamps = dates.compactMap { $0 } + [previous.flatMap(since)].compactMap { $0 }
        return stamps.max().map { ChangeCursor(Timestamp.format($0)) }
            ?? previous
    }

    static func since(_ cursor: ChangeCursor?) -> Date? {
        guard let cursor else { return nil }
        return Timestamp.parse(cursor.value)
    }

    package func vendors(after cursor: ChangeCursor?, pageSize: Int) async throws -> ChangePage<Vendor> {
        let vendors = try await listVendors(changedSince: Self.since(cursor))
        return ChangePage(items: vendors, next: Self.cursor(vendors.map(\.lastModified), after: cursor), hasMore: false)
    }

    package func accounts(after cursor: ChangeCursor?, pageSize: Int) async throws -> ChangePage<GLAccount> {
        let accounts = try await listAccounts(changedSince: Self.since(cursor))
        return ChangePage(
            items: accounts, next: Self.cursor(accounts.map(\.lastModified), after: cursor), hasMore: false)
    }

    package func dimensions() async throws -> [ERPDimension] { try await listDimensions() }

    func listVendors(changedSince: Date?) async throws -> [Vendor] {
        let company = try await companyId()
        let vendors = try await client.vendors(companyId: company, modifiedSince: changedSince)
        let termCodes = try await paymentTermCodes(for: vendors, companyId: company)
        return vendors.map { vendor in
            Vendor(
                number: vendor.number,
                name: vendor.displayName ?? vendor.number,
                blocked: Self.blocked(vendor.blocked),
                currencyCode: vendor.currencyCode.flatMap { $0.isEmpty ? nil : $0 },
                taxRegistrationNumber: vendor.taxRegistrationNumber,
                erpId: vendor.id,
                lastModified: vendor.lastModifiedDateTime,
                address: Self.address(vendor),
                paymentTermsCode: Self.paymentTermsCode(vendor, codes: termCodes)
            )
        }
    }

    static func blocked(_ value: String?) -> Vendor.Blocked {
        switch value?.trimmingWhitespace(newlines: false).lowercased() {
        case "all": .all
        case "payment": .payment
        default: .none
        }
    }

    func listAccounts(changedSince: Date?) async throws -> [GLAccount] {
        let company = try await companyId()
        return try await client.accounts(companyId: company, modifiedSince: changedSince).map { account in
            let posting = (account.accountType ?? "Posting").caseInsensitiveCompare("Posting") == .orderedSame
            return GLAccount(
                number: account.number,
                name: account.displayName ?? account.number,
                category: account.category,
                postable: posting && (account.directPosting ?? false),
                blocked: account.blocked ?? false,
                erpId: account.id,
                lastModified: account.lastModifiedDateTime
            )
        }
    }

    func listDimensions() async throws -> [ERPDimension] {
        let company = try await companyId()
        return try await client.dimensions(companyId: company).map { dimension in
            ERPDimension(
                code: dimension.code,
                name: dimension.displayName ?? dimension.code,
                values: (dimension.dimensionValues ?? []).map {
                    DimensionValue(code: $0.code, name: $0.displayName ?? $0.code)
                },
                erpId: dimension.id
            )
        }
    }

    package var capabilities: ERPCapabilities { BusinessCentralModule.capabilities(settings) }
}

extension BusinessCentralConnector: ChangeSubscriptions {
    package var subscriptionPlan: SubscriptionPlan? {
        notifications.map {
            SubscriptionPlan(
                system: BusinessCentralSettings.kind, entitySets: $0.resources,
                renewBefore: Double($0.renewBeforeHours) * 3600)
        }
    }

    package func subscriptions() async throws -> [ChangeSubscription] {
        try await client.subscriptions().map(Self.subscription)
    }

    package func resource(forEntitySet entitySet: String) async throws -> String {
        "/api/v2.0/companies(\(try await companyId()))/\(entitySet)"
    }

    package func subscribe(resource: String, notificationURL: String, clientState: Secret) async throws
        -> ChangeSubscription
    {
        Self.subscription(
            try await client.createSubscription(
                BCSubscriptionRequest(
                    notificationUrl: notificationURL, resource: resource, clientState: clientState.value)
            ))
    }

    package func renew(_ subscription: ChangeSubscription, clientState: Secret) async throws -> ChangeSubscription {
        Self.subscription(
            try await client.renewSubscription(
                Self.bcSubscription(subscription),
                BCSubscriptionRequest(
                    notificationUrl: subscription.notificationURL, resource: subscription.resource,
                    clientState: clientState.value)))
    }

    package func unsubscribe(_ subscription: ChangeSubscription) async throws {
        try await client.deleteSubscription(Self.bcSubscription(subscription))
    }

    static func subscription(_ bc: BCSubscription) -> ChangeSubscription {
        ChangeSubscription(
            id: bc.subscriptionId, notificationURL: bc.notificationUrl, resource: bc.resource,
            expiresAt: bc.expirationDateTime, etag: bc.etag, clientState: bc.clientState)
    }

    static func bcSubscription(_ subscription: ChangeSubscription) -> BCSubscription {
        BCSubscription(
            subscriptionId: subscription.id, notificationUrl: subscription.notificationURL,
            resource: subscription.resource, clientState: subscription.clientState,
            expirationDateTime: subscription.expiresAt, etag: subscription.etag)
    }
}
