import ConnectorCore
import ConnectorHTTP
import Foundation
import OData
import Synchronization

/// Dynamics NAV / BC on-premises as an `ERPConnector`, over the UI pages the administrator published.
///
/// Pages have no deep insert (reference §3.2), so a purchase invoice is its header, then its lines through the
/// lines containment, one request each. The whole stays atomic to the flows: the header is created carrying a
/// pending tag in `referenceField` and gets the JAGGAER reference only once every line is in; a header still pending
/// is not reported by `findInvoices`, and the next `createDraftInvoice` of the same invoice completes it (lines have
/// fixed `Line_No`s, so a repeated line is refused by its key, never doubled). A line the server refuses deletes the
/// header again. Journal lines work the same way: the G/L lines first, the vendor line (the one `findInvoices`
/// looks for) last. Nothing is ever posted: pages have no post action, and `postDrafts` is off.
package struct DynamicsNAVConnector: ERPConnector {
    package let client: DynamicsNAVClient
    package let settings: DynamicsNAVSettings
    let published: PublishedServices

    package init(client: DynamicsNAVClient, settings: DynamicsNAVSettings, store: (any StateStore)?, keys: StateKeys?) {
        self.client = client
        self.settings = settings
        self.published = PublishedServices(client: client, settings: settings, store: store, keys: keys)
    }

    package var system: String { DynamicsNAVSettings.kind }
    package var constraints: ERPConstraints { .dynamicsNAV }
    package var capabilities: ERPCapabilities { DynamicsNAVModule.capabilities(settings) }

    static let invoiceType = "Invoice"
    static let orderType = "Order"
    static let lineStep = 10_000

    /// The JAGGAER reference a finished document carries, and the tag of one still being written.
    static func reference(_ sourceId: String) -> String { String("JAG-\(sourceId)".prefix(35)) }
    static func pendingReference(_ sourceId: String) -> String { String("JAG-PENDING-\(sourceId)".prefix(35)) }
    /// The journal `Document_No` (Code[20]) of an invoice's lines.
    /// A longer id is shortened to a digest of it, so two invoices never share a document number.
    static func journalDocumentNumber(_ sourceId: String) -> String {
        let plain = "JAG\(sourceId)".uppercased()
        return plain.count <= 20 ? plain : "JAG" + PublishedServices.fnv(sourceId).uppercased()
    }

    /// NAV's Code fields are stored in upper case: the natural key compares that way.
    static func same(_ a: String?, _ b: String) -> Bool { (a ?? "").uppercased() == b.uppercased() }

    // MARK: Finding invoices

    package func findInvoices(vendorNumber: String, vendorInvoiceNumber: String) async throws -> [ERPDocumentRef] {
        guard vendorInvoiceNumber.count <= constraints.maxVendorInvoiceNumberLength, !vendorNumber.isEmpty,
            !vendorInvoiceNumber.isEmpty
        else { return [] }
        try await published.check()
        var found: [ERPDocumentRef] = []
        if settings.invoiceDocument != .generalJournal {
            found += try await purchaseInvoices(vendor: vendorNumber, number: vendorInvoiceNumber)
                .filter { !isPending($0) }.map(invoiceRef)
        }
        if settings.writesJournal {
            let lines = try await client.list(
                settings.journalService,
                ODataQuery(
                    filter: journalBatchFilter.and(.eq("Account_Type", "Vendor"))
                        .and(.eq("Account_No", vendorNumber.uppercased()))
                        .and(.eq("External_Document_No", vendorInvoiceNumber.uppercased()))))
            found += lines.filter {
                Self.same($0.text("Account_No"), vendorNumber)
                    && Self.same($0.text("External_Document_No"), vendorInvoiceNumber)
            }.map(journalRef)
        }
        if !settings.vendorLedgerService.isEmpty {
            let vendorField = settings.ledgerField("vendorNumber")
            let externalField = settings.ledgerField("externalDocumentNumber")
            let entries = try await client.list(
                settings.vendorLedgerService,
                ODataQuery(
                    filter: .eq(ODataField(vendorField), vendorNumber.uppercased())
                        .and(.eq(ODataField(externalField), vendorInvoiceNumber.uppercased()))
                        .and(.eq(ODataField(settings.ledgerField("documentType")), Self.invoiceType))))
            found += entries.filter {
                Self.same($0.text(vendorField), vendorNumber) && Self.same($0.text(externalField), vendorInvoiceNumber)
            }.map { entry in
                ERPDocumentRef(
                    system: system, id: ledgerEntryId(entry),
                    number: entry.text(settings.ledgerField("documentNumber")),
                    status: "posted")
            }
        }
        return found
    }

    func purchaseInvoices(vendor: String, number: String) async throws -> [NAVRecord] {
        let headers = try await client.list(
            settings.purchaseInvoiceService,
            ODataQuery(
                filter: .eq("Document_Type", Self.invoiceType).and(.eq("Buy_from_Vendor_No", vendor.uppercased()))
                    .and(.eq("Vendor_Invoice_No", number.uppercased()))))
        return headers.filter {
            Self.same($0.text("Buy_from_Vendor_No"), vendor) && Self.same($0.text("Vendor_Invoice_No"), number)
        }
    }

    func isPending(_ header: NAVRecord) -> Bool {
        header.text(settings.referenceField)?.hasPrefix("JAG-PENDING-") == true
    }

    func invoiceRef(_ header: NAVRecord) -> ERPDocumentRef {
        let number = header.text("No") ?? ""
        return ERPDocumentRef(
            system: system, id: "\(settings.purchaseInvoiceService)(\(Self.invoiceType),\(number))", number: number,
            status: header.text("Status") ?? "Open")
    }

    func journalRef(_ line: NAVRecord) -> ERPDocumentRef {
        let document = line.text("Document_No") ?? ""
        return ERPDocumentRef(
            system: system,
            id: "\(settings.journalService)(\(settings.journalTemplate),\(settings.journalBatch),\(document))",
            number: document, status: "journal")
    }

    var journalBatchFilter: ODataFilter {
        .eq("Journal_Template_Name", settings.journalTemplate.uppercased())
            .and(.eq("Journal_Batch_Name", settings.journalBatch.uppercased()))
    }

    // MARK: Writing invoices

    package func createDraftInvoice(_ invoice: MappedInvoice) async throws -> ERPDocumentRef {
        try await published.check()
        switch settings.invoiceDocument {
        case .purchaseInvoice: return try await writePurchaseInvoice(invoice)
        case .generalJournal: return try await writeJournal(invoice)
        case .byPurchaseOrder:
            return invoice.poNumbers.contains { !$0.isEmpty }
                ? try await writePurchaseInvoice(invoice) : try await writeJournal(invoice)
        }
    }

    /// The line fields of a dimension assignment, by `dimensionFields`; an unmapped dimension is refused.
    func dimensionValues(_ assignments: [DimensionAssignment], line: Int, own: [DimensionAssignment]) throws
        -> NAVRecord
    {
        var values: NAVRecord = [:]
        for assignment in assignments {
            guard let field = settings.dimensionFields[assignment.dimension] else {
                throw ConnectorError(
                    .upstreamRejected, kind: .rejected,
                    "line \(line) is coded to the dimension \(assignment.dimension.prefix(40).debugDescription), which erp.dynamicsNAV.dimensionFields does not map to a line field"
                )
            }
            // A line's own value wins over the header's.
            if values[field] == nil || own.contains(assignment) { values[field] = .string(assignment.value) }
        }
        return values
    }

    func writePurchaseInvoice(_ invoice: MappedInvoice) async throws -> ERPDocumentRef {
        let lines = try invoice.lines.enumerated().map { index, line in
            var body = try dimensionValues(
                invoice.headerDimensions + line.dimensions, line: index + 1, own: line.dimensions)
            body["Line_No"] = .number(Decimal((index + 1) * Self.lineStep))
            body["Type"] = .string(settings.accountLineType)
            body["No"] = .string(line.glAccount)
            body["Description"] = .string(String(line.description.prefix(constraints.maxLineDescriptionLength)))
            body["Quantity"] = .number(line.quantity)
            body["Direct_Unit_Cost"] = .number(line.unitCost)
            return body
        }
        let pending = Self.pendingReference(invoice.sourceId)
        var header: NAVRecord
        var ambiguous: ConnectorError?
        // A header this call created has no lines yet: no need to read them.
        var fresh = false
        let existing = try await purchaseInvoices(vendor: invoice.vendorNumber, number: invoice.vendorInvoiceNumber)
        if let done = existing.first(where: { !isPending($0) }) { return invoiceRef(done) }
        if let resumed = existing.first(where: { $0.text(settings.referenceField) == pending }) {
            header = resumed
        } else {
            var body: NAVRecord = [
                "Document_Type": .string(Self.invoiceType),
                "Buy_from_Vendor_No": .string(invoice.vendorNumber),
                "Vendor_Invoice_No": .string(invoice.vendorInvoiceNumber),
                "Document_Date": .string(invoice.invoiceDate.description),
                "Posting_Date": .string((invoice.postingDate ?? invoice.invoiceDate).description),
                settings.referenceField: .string(pending),
            ]
            if let due = invoice.dueDate { body["Due_Date"] = .string(due.description) }
            if let currency = invoice.currencyCode, !currency.isEmpty { body["Currency_Code"] = .string(currency) }
            do {
                header = try await client.create(settings.purchaseInvoiceService, body)
                fresh = true
            } catch let error as ConnectorError where error.code == .ambiguousWrite {
                // Committed with the answer lost (the usual case): finish it now, then say it was ambiguous.
                guard
                    let found = try await purchaseInvoices(
                        vendor: invoice.vendorNumber, number: invoice.vendorInvoiceNumber
                    ).first(where: { $0.text(settings.referenceField) == pending })
                else { throw error }
                header = found
                ambiguous = error
            }
        }
        guard let number = header.text("No") else {
            throw ConnectorError(
                .upstreamMalformed, "\(DynamicsNAVClient.systemName) created a purchase invoice without No")
        }
        let headerPath =
            settings.purchaseInvoiceService
            + (try client.key([("Document_Type", .string(Self.invoiceType)), ("No", .string(number))]))
        do {
            if let lost = try await addLines(
                lines, under: headerPath + "/" + settings.purchaseInvoiceLines, known: fresh ? [] : nil)
            {
                ambiguous = ambiguous ?? lost
            }
        } catch let error as ConnectorError where error.kind == .rejected || error.kind == .badInput {
            // Nothing half-written stays behind: the header takes its lines with it.
            if let current = try await client.entity(headerPath), let etag = current.etag {
                try await client.delete(headerPath, etag: etag)
            }
            throw error
        }
        let final = try await changeUnderETag(headerPath) { _ in
            [settings.referenceField: .string(Self.reference(invoice.sourceId))]
        }
        if let ambiguous { throw ambiguous }
        return invoiceRef(final ?? header)
    }

    /// Posts the lines the containment does not hold yet (by `Line_No`), in order; returns the first lost answer
    /// (resolved by reading), so the caller reports the write as ambiguous once the document is complete.
    @discardableResult
    func addLines(_ lines: [NAVRecord], under path: String, known: Set<Decimal>? = nil) async throws
        -> ConnectorError?
    {
        var lost: ConnectorError?
        let present: Set<Decimal>
        if let known {
            present = known
        } else {
            present = Set(try await client.list(path, ODataQuery()).compactMap { $0.number("Line_No") })
        }
        for line in lines where !present.contains(line.number("Line_No") ?? -1) {
            do {
                _ = try await client.create(path, line)
            } catch let error as ConnectorError where error.code == .ambiguousWrite {
                // The fixed Line_No makes a second try safe: either it is there now, or it is added once.
                lost = lost ?? error
                let now = Set(try await client.list(path, ODataQuery()).compactMap { $0.number("Line_No") })
                if !now.contains(line.number("Line_No") ?? -1) { _ = try await client.create(path, line) }
            }
        }
        return lost
    }

    /// Reads the row, applies `change` under its ETag, and on a stale ETag reads and applies again (never blind).
    /// `change` returns nil when nothing is to be written for the row as it now is.
    @discardableResult
    func changeUnderETag(_ path: String, attempts: Int = 4, _ change: (NAVRecord) throws -> NAVRecord?)
        async throws -> NAVRecord?
    {
        var attempt = 0
        while true {
            attempt += 1
            guard let current = try await client.entity(path) else {
                throw ConnectorError(
                    .upstreamRejected, kind: .rejected,
                    "\(DynamicsNAVClient.systemName) no longer has \(path.prefix(120))")
            }
            guard let body = try change(current) else { return current }
            guard let etag = current.etag else {
                throw ConnectorError(
                    .upstreamMalformed, "\(DynamicsNAVClient.systemName) sent \(path.prefix(120)) without @odata.etag")
            }
            do {
                return try await client.patch(path, body, etag: etag) ?? current
            } catch let error as ConnectorError where Self.isStale(error) && attempt < attempts {
                continue
            }
        }
    }

    static func isStale(_ error: ConnectorError) -> Bool {
        error.code == .upstreamConflict || error.httpStatus == 412
    }

    // MARK: General journal

    func writeJournal(_ invoice: MappedInvoice) async throws -> ERPDocumentRef {
        let document = Self.journalDocumentNumber(invoice.sourceId)
        let ours = try await client.list(
            settings.journalService,
            ODataQuery(filter: journalBatchFilter.and(.eq("Document_No", document)), orderBy: [("Line_No", .asc)]))
        if let vendorLine = ours.first(where: { $0.text("Account_Type") == "Vendor" }) { return journalRef(vendorLine) }
        var next: Int
        if let last = ours.compactMap({ $0.number("Line_No") }).max() {
            next = NSDecimalNumber(decimal: last).intValue + Self.lineStep
        } else {
            let top = try await client.list(
                settings.journalService,
                ODataQuery(filter: journalBatchFilter, select: ["Line_No"], orderBy: [("Line_No", .desc)], top: 1))
            next = NSDecimalNumber(decimal: top.first?.number("Line_No") ?? 0).intValue + Self.lineStep
        }
        let posting = (invoice.postingDate ?? invoice.invoiceDate).description
        func base(_ accountType: String, _ account: String, amount: Decimal, description: String) -> NAVRecord {
            var body: NAVRecord = [
                "Journal_Template_Name": .string(settings.journalTemplate),
                "Journal_Batch_Name": .string(settings.journalBatch),
                "Posting_Date": .string(posting), "Document_Type": .string(Self.invoiceType),
                "Document_No": .string(document), "External_Document_No": .string(invoice.vendorInvoiceNumber),
                "Account_Type": .string(accountType), "Account_No": .string(account), "Amount": .number(amount),
                "Description": .string(String(description.prefix(constraints.maxLineDescriptionLength))),
            ]
            if let currency = invoice.currencyCode, !currency.isEmpty { body["Currency_Code"] = .string(currency) }
            return body
        }
        var lines: [NAVRecord] = []
        for (index, line) in invoice.lines.enumerated() {
            var body = base(
                settings.accountLineType, line.glAccount, amount: line.amount, description: line.description)
            let dimensions = try dimensionValues(
                invoice.headerDimensions + line.dimensions, line: index + 1, own: line.dimensions)
            body.merge(dimensions) { _, new in new }
            lines.append(body)
        }
        var vendorLine = base(
            "Vendor", invoice.vendorNumber, amount: -invoice.lines.reduce(0) { $0 + $1.amount },
            description: "JAGGAER invoice \(invoice.sourceId)")
        if let due = invoice.dueDate { vendorLine["Due_Date"] = .string(due.description) }
        // Lines already there from an interrupted run are kept; the rest follow them.
        let remaining = lines.dropFirst(ours.count) + [vendorLine]
        var written: [Int] = []
        var lost: ConnectorError?
        for line in remaining {
            do {
                if let error = try await insertJournalLine(line, document: document, at: &next) {
                    lost = lost ?? error
                }
            } catch let error as ConnectorError where error.kind == .rejected || error.kind == .badInput {
                for number in written
                    + ours.compactMap({ $0.number("Line_No") }).map({ NSDecimalNumber(decimal: $0).intValue })
                {
                    let path = try journalLinePath(number)
                    if let row = try await client.entity(path), let etag = row.etag,
                        row.text("Document_No") == document
                    {
                        try await client.delete(path, etag: etag)
                    }
                }
                throw error
            }
            written.append(next)
            next += Self.lineStep
        }
        // Complete now; an answer lost on the way is still reported, and the write step's lookup finds the document.
        if let lost { throw lost }
        return journalRef(vendorLine.merging(["Document_No": .string(document)]) { _, new in new })
    }

    /// Inserts one journal line at `next`, or after the batch's last line when another writer took that number (the
    /// batch is shared: other users and other invoices add lines too). A lost answer is resolved by reading the line
    /// back (ours only if it carries our document number) and returned, so the caller reports it.
    func insertJournalLine(_ line: NAVRecord, document: String, at next: inout Int) async throws -> ConnectorError? {
        var lost: ConnectorError?
        for _ in 0..<8 {
            var body = line
            body["Line_No"] = .number(Decimal(next))
            do {
                _ = try await client.create(settings.journalService, body)
                return lost
            } catch let error as ConnectorError where error.code == .ambiguousWrite {
                lost = lost ?? error
                guard let there = try await client.entity(journalLinePath(next)) else { continue }
                if there.text("Document_No") == document, there["Account_No"] == body["Account_No"].map(Self.upper),
                    there.number("Amount") == body.number("Amount")
                {
                    return lost
                }
            } catch let error as ConnectorError where error.message.contains("EntityWithSameKeyExists") {
                // Taken by another writer between our read and our insert.
            }
            let top = try await client.list(
                settings.journalService,
                ODataQuery(filter: journalBatchFilter, select: ["Line_No"], orderBy: [("Line_No", .desc)], top: 1))
            next = max(next, NSDecimalNumber(decimal: top.first?.number("Line_No") ?? 0).intValue) + Self.lineStep
        }
        throw ConnectorError(
            .upstreamUnavailable, kind: .temporary,
            "the journal batch \(settings.journalTemplate)/\(settings.journalBatch) kept taking the line numbers this invoice tried; try again"
        )
    }

    static func upper(_ value: JSONValue) -> JSONValue {
        if case .string(let text) = value { return .string(text.uppercased()) }
        return value
    }

    func journalLinePath(_ lineNumber: Int) throws -> String {
        settings.journalService
            + (try client.key([
                ("Journal_Template_Name", .string(settings.journalTemplate.uppercased())),
                ("Journal_Batch_Name", .string(settings.journalBatch.uppercased())),
                ("Line_No", .int(Int64(lineNumber))),
            ]))
    }
}

extension ERPConstraints {
    /// NAV: `Vendor Invoice No.` and `External Document No.` are Code[35]; a line's `Description` is Text[50]
    /// (NAV 2017/2018; BC widened it to 100).
    package static let dynamicsNAV = ERPConstraints(
        maxVendorInvoiceNumberLength: 35,
        maxLineDescriptionLength: 50,
        supportsCreditMemos: false
    )
}

/// The published web services, checked against `$metadata` once and cached (in the process, and for an hour in
/// the connection's store): a service, containment or field the connection names but the server does not publish
/// is a configuration error that names the setting and the page to publish.
final class PublishedServices: Sendable {
    let client: DynamicsNAVClient
    let settings: DynamicsNAVSettings
    let store: (any StateStore)?
    let keys: StateKeys?
    private let checked = SendableBox(false)

    init(client: DynamicsNAVClient, settings: DynamicsNAVSettings, store: (any StateStore)?, keys: StateKeys?) {
        self.client = client
        self.settings = settings
        self.store = store
        self.keys = keys
    }

    /// Standard page IDs, for the advice (reference §3.2; Purchase Order 50, Chart of Accounts 16, Dimension
    /// Values 537 are the standard pages' numbers).
    static let pages: [String: String] = [
        "vendorService": "26 Vendor Card", "purchaseInvoiceService": "51 Purchase Invoice",
        "purchaseOrderService": "50 Purchase Order", "journalService": "39 General Journal",
        "accountService": "16 Chart of Accounts", "dimensionValueService": "537 Dimension Values",
        "vendorLedgerService": "29 Vendor Ledger Entries",
    ]

    var cacheKey: String? {
        guard let keys else { return nil }
        let names =
            settings.services.map(\.name) + [settings.purchaseInvoiceLines, settings.purchaseOrderLines]
            + settings.dimensionFields.values.sorted() + [settings.referenceField, settings.purchaseOrderNumberField]
            + DynamicsNAVSettings.vendorLedgerFieldDefaults.keys.sorted().map(settings.ledgerField)
        return keys.key("dynamicsNAV", "published", Self.fnv(names.joined(separator: ",")))
    }

    /// A stable digest of the names (FNV-1a), so every process finds the same cache entry.
    static func fnv(_ text: String) -> String {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in text.utf8 {
            hash ^= UInt64(byte)
            hash = hash &* 0x100_0000_01b3
        }
        return String(hash, radix: 16)
    }

    func check() async throws {
        if checked.value { return }
        if let store, let key = cacheKey, try await store.get(key) != nil {
            checked.value = true
            return
        }
        let problems = Self.problems(NAVMetadata.parse(try await client.metadata()), settings: settings)
        guard problems.isEmpty else {
            throw ConnectorError(.configInvalid, problems.joined(separator: "; "))
        }
        checked.value = true
        if let store, let key = cacheKey { _ = try await store.put(key, Data("ok".utf8), ttl: .seconds(3600)) }
    }

    /// Each service, containment and field the connection names that `$metadata` lacks, said with its fix.
    static func problems(_ metadata: NAVMetadata, settings: DynamicsNAVSettings) -> [String] {
        var problems: [String] = []
        for (setting, name) in settings.services where metadata.services[name] == nil {
            problems.append(
                "the web service \(name) (erp.dynamicsNAV.\(setting)) is not published: publish page \(pages[setting] ?? "") as \(name) on the Web Services page, or set erp.dynamicsNAV.\(setting) to the name it has"
            )
        }
        func field(_ service: String, _ name: String, _ setting: String) {
            guard let published = metadata.services[service], !published.properties.contains(name) else { return }
            problems.append(
                "\(service) has no field \(name) (erp.dynamicsNAV.\(setting)): add it to the page, or change the setting"
            )
        }
        func containment(_ service: String, _ name: String, _ setting: String) {
            guard let published = metadata.services[service], !published.navigations.contains(name) else { return }
            problems.append(
                "\(service) has no lines containment \(name) (erp.dynamicsNAV.\(setting)); $metadata offers \(published.navigations.sorted().joined(separator: ", "))"
            )
        }
        if settings.invoiceDocument != .generalJournal {
            containment(settings.purchaseInvoiceService, settings.purchaseInvoiceLines, "purchaseInvoiceLines")
            field(settings.purchaseInvoiceService, settings.referenceField, "referenceField")
        }
        containment(settings.purchaseOrderService, settings.purchaseOrderLines, "purchaseOrderLines")
        field(settings.purchaseOrderService, settings.purchaseOrderNumberField, "purchaseOrderNumberField")
        field(settings.vendorService, settings.vendorChangeField, "vendorChangeField")
        if !settings.parentVendorField.isEmpty {
            field(settings.vendorService, settings.parentVendorField, "parentVendorField")
        }
        if settings.readsPaymentStatus {
            for name in DynamicsNAVSettings.vendorLedgerFieldDefaults.keys.sorted() {
                field(settings.vendorLedgerService, settings.ledgerField(name), "vendorLedgerFields.\(name)")
            }
        }
        return problems
    }
}

/// A flag shared by the copies of a connector within one process.
final class SendableBox: Sendable {
    private let storage: Mutex<Bool>
    init(_ value: Bool) { storage = Mutex(value) }
    var value: Bool {
        get { storage.withLock { $0 } }
        set { storage.withLock { $0 = newValue } }
    }
}
