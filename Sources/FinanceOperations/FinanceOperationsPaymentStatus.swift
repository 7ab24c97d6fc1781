import ConnectorCore
import Foundation
import OData

// Payment status from vendor transactions (`VendTrans`, reference §2.2 and §4). A posted invoice is one vendor
// transaction (`TransType` an invoice member such as `Purch`, negative `AmountCur`, the vendor's invoice number in
// `Invoice`); settling a payment against it sets `LastSettleDate` (and the settled amount) and, once nothing
// remains, `Closed` (a date; empty, `1900-01-01`, while the transaction is open). The entity set and every field
// name are UNCONFIRMED, so each is a setting (`vendorTransactionEntity`, `vendorTransactionFields`); with the entity
// empty nothing is read.
//
// A vendor transaction has no change stamp the reference confirms, and a settlement changes the invoice's
// transaction in place. What only grows is its record id (`RecId`): the feed is an `OpenSetFeed` on it, as NAV's on
// its ledger entry numbers (the open invoice transactions, `Closed` before 1901, re-read each pass; the ones closed
// since read by record id; then the ones posted since). Every read is pinned to the legal entity
// (`cross-company=true` and `dataAreaId eq …`) and follows `@odata.nextLink`.

/// The payment feed's cursors (`fovt1:<highest>|<phase>|<position>|<open record ids>`, `OpenSetFeed`).
private let transactionCursorPrefix = "fovt1:"

/// One vendor transaction, read by the configured field names.
struct FOTransaction: Sendable {
    var fields: [String: JSONValue]

    func text(_ name: String) -> String? {
        switch fields[name] {
        case .string(let text)?: text
        case .number(let number)?: "\(number)"
        default: nil
        }
    }

    func number(_ name: String) -> Decimal? {
        switch fields[name] {
        case .number(let number)?: number
        case .string(let text)?: Decimal(string: text)
        default: nil
        }
    }
}

extension FinanceOperationsConnector {
    /// F&O's empty date is `1900-01-01`; anything before this is "no date".
    static let emptyDateBound = Date(timeIntervalSince1970: -2_177_452_800)  // 1901-01-01T00:00:00Z

    func field(_ name: String) -> ODataField { ODataField(settings.transactionField(name)) }

    func recordId(_ row: FOTransaction) -> Int64? {
        row.number(settings.transactionField("recordId")).map { NSDecimalNumber(decimal: $0).int64Value }
    }

    /// Whether the transaction is open: `Closed` empty, absent, or F&O's empty date.
    func isOpen(_ row: FOTransaction) -> Bool {
        Self.day(row.text(settings.transactionField("closed"))) == nil
    }

    /// Invoice transactions only: the type members in F&O's enum syntax (`eq` joined by `or`; no `in` on F&O).
    var invoiceTransactions: ODataFilter {
        let type = "\(settings.enumNamespace).\(settings.transactionTypeEnum)"
        let members = settings.invoiceTransactionTypes.map {
            ODataFilter.eq(field("transactionType"), .enumMember(type: type, member: $0))
        }
        return members.count == 1 ? members[0] : .any(members)
    }

    /// Posted invoices whose payment state may have changed since `cursor` (see the comment at the top of the file).
    package func paymentStatuses(after cursor: ChangeCursor?, pageSize: Int) async throws -> ChangePage<
        ERPPaymentStatus
    > {
        guard settings.readsPaymentStatus else {
            throw ConnectorError(
                .unsupported,
                "\(FinanceOperationsClient.system) reads no payment status: erp.financeOperations.vendorTransactionEntity is empty (name the vendor transactions entity set that /data/$metadata lists)"
            )
        }
        var feed =
            try cursor.map {
                try OpenSetFeed($0, prefix: transactionCursorPrefix, feed: "Finance and Operations vendor transaction")
            } ?? .start
        let area = try await dataAreaId()
        let record = field("recordId")
        let (rows, hasMore) = try await feed.next(
            size: pageSize,
            openRows: { after, upTo, top in
                try await transactions(
                    invoiceTransactions.and(.lt(field("closed"), .dateTime(Self.emptyDateBound)))
                        .and(.gt(record, .int(after))).and(.le(record, .int(upTo))),
                    area: area, top: top)
            },
            rows: { ids in try await transactions(ids: ids, area: area) },
            postedRows: { after, top in
                try await transactions(invoiceTransactions.and(.gt(record, .int(after))), area: area, top: top)
            },
            key: recordId, isOpen: isOpen)
        let statuses = rows.filter { ($0.text("dataAreaId") ?? area).lowercased() == area.lowercased() }
            .compactMap(paymentStatus)
        return ChangePage(items: statuses, next: feed.cursor(prefix: transactionCursorPrefix), hasMore: hasMore)
    }

    /// Up to `top` transactions of the legal entity the filter selects, by record id ascending.
    func transactions(_ filter: ODataFilter, area: String, top: Int) async throws -> [FOTransaction] {
        try await listTransactions(
            FinanceOperationsClient.scoped(
                ODataQuery(filter: filter, orderBy: [(field("recordId"), .asc)], top: top), dataAreaId: area))
    }

    /// A read of the vendor transaction entity. The entity set and field names are settings nobody confirmed: an
    /// environment that has no such entity (404) or field (400) is a configuration to fix, named as such, not an
    /// outage to retry.
    func listTransactions(_ query: ODataQuery) async throws -> [FOTransaction] {
        do {
            let records: [[String: JSONValue]] = try await client.list(settings.vendorTransactionEntity, query)
            return records.map(FOTransaction.init)
        } catch let error as ConnectorError where error.httpStatus == 404 || error.httpStatus == 400 {
            throw ConnectorError(
                .configInvalid,
                "\(transactionAdvice(error) ?? "check erp.financeOperations.vendorTransactionEntity") (\(FinanceOperationsClient.system) said: \(error.message))"
            )
        }
    }

    /// Transactions by record id, 20 per request (`or` over one field: F&O filters take no `in`).
    func transactions(ids: [Int64], area: String) async throws -> [FOTransaction] {
        var rows: [FOTransaction] = []
        for start in stride(from: 0, to: ids.count, by: 20) {
            let chunk = ids[start..<min(start + 20, ids.count)]
            rows += try await listTransactions(
                FinanceOperationsClient.scoped(
                    ODataQuery(filter: .any(chunk.map { .eq(field("recordId"), .int($0)) })), dataAreaId: area))
        }
        return rows
    }

    // MARK: Posted invoices in the write step's lookup

    /// The invoices F&O already posted under these natural keys (invoice transactions of the legal entity), where the
    /// connection reads vendor transactions: posting takes a pending invoice out of `VendorInvoiceHeaders`, so without
    /// this a write retried after AP posted the invoice would write it again. One read per 40 invoice numbers
    /// (`Invoice eq 'a' or …`); matched exactly here (F&O compares strings without regard to case).
    func postedInvoices(area: String, keys: [InvoiceNaturalKey]) async throws -> [InvoiceNaturalKey: [ERPDocumentRef]] {
        guard settings.readsPaymentStatus, !keys.isEmpty else { return [:] }
        let numbers = Array(Set(keys.map(\.vendorInvoiceNumber))).sorted()
        let invoiceField = settings.transactionField("invoice")
        let vendorField = settings.transactionField("vendorAccount")
        var rows: [FOTransaction] = []
        for start in stride(from: 0, to: numbers.count, by: 40) {
            let chunk = numbers[start..<min(start + 40, numbers.count)]
            rows += try await listTransactions(
                FinanceOperationsClient.scoped(
                    ODataQuery(
                        filter: invoiceTransactions.and(
                            .any(chunk.map { .eq(ODataField(invoiceField), .string($0)) }))),
                    dataAreaId: area))
        }
        var found: [InvoiceNaturalKey: [ERPDocumentRef]] = [:]
        for key in keys {
            found[key] = rows.filter {
                $0.text(invoiceField) == key.vendorInvoiceNumber
                    && ($0.text(vendorField) ?? "").uppercased() == key.vendorNumber.uppercased()
                    && ($0.text("dataAreaId") ?? area).lowercased() == area.lowercased()
            }.compactMap { row in
                recordId(row).map {
                    ERPDocumentRef(
                        system: system, id: "VendTrans(\($0))", number: row.text(settings.transactionField("voucher")),
                        status: "Posted")
                }
            }
        }
        return found
    }

    /// An invoice transaction's payment state: closed (or settled in full) is paid; settled in part (a settle date
    /// or a settled amount, not closed) is partly paid; else unpaid. Amounts are the transaction's own (negative for
    /// an invoice, a credit to the vendor), reported as positive numbers in its currency. Where the environment has
    /// no settled amount field, a partly paid invoice reports 0 paid (the state is still right).
    func paymentStatus(_ row: FOTransaction) -> ERPPaymentStatus? {
        guard let id = recordId(row), let vendor = row.text(settings.transactionField("vendorAccount")),
            !vendor.isEmpty, let invoice = row.text(settings.transactionField("invoice")), !invoice.isEmpty
        else { return nil }
        let amount = abs(row.number(settings.transactionField("amount")) ?? 0)
        let settled = min(amount, abs(row.number(settings.transactionField("settledAmount")) ?? 0))
        let closedOn = Self.day(row.text(settings.transactionField("closed")))
        let settledOn = Self.day(row.text(settings.transactionField("lastSettleDate")))
        let paid = closedOn != nil || (amount != 0 && settled == amount)
        let state: ERPPaymentStatus.State =
            paid ? .paid : (settledOn != nil || settled > 0) ? .partiallyPaid : .unpaid
        let changedOn = paid ? (closedOn ?? settledOn) : settledOn
        return ERPPaymentStatus(
            document: ERPDocumentRef(
                system: system, id: "VendTrans(\(id))", number: row.text(settings.transactionField("voucher")),
                status: paid ? "closed" : "open"),
            vendorNumber: vendor, vendorInvoiceNumber: invoice, state: state, amount: amount,
            paidAmount: paid ? amount : settled,
            // A day only (F&O's dates carry no time that means anything here): noon UTC of it.
            changedAt: changedOn.flatMap { Timestamp.parse("\($0.description)T12:00:00Z") })
    }
}
