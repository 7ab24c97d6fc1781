import Foundation
import Synchronization

/// One row of a NAV table, with the version its ETag is made from.
struct NAVRow: Sendable {
    var fields: SimJSONObject
    var version: Int
}

/// One company's tables (by table name, then by key).
package struct NAVCompany: Sendable {
    var tables: [String: [String: NAVRow]] = [:]
    var nextInvoice = 107_001
    var nextOrder = 106_001
    var nextEntry = 1
    /// `TEMPLATE/BATCH` of the general journal batches that exist.
    var journalBatches: Set<String> = ["GENERAL/DEFAULT"]
    /// Shortcut dimension fields → the dimension code the General Ledger Setup assigns them.
    var shortcutDimensions: [String: String] = [
        "Shortcut_Dimension_1_Code": "FUND", "Shortcut_Dimension_2_Code": "DEPARTMENT", "ShortcutDimCode3": "PROGRAM",
    ]

    func rows(_ table: String) -> [NAVRow] { Array((tables[table] ?? [:]).values) }

    func row(_ table: String, _ key: String) -> NAVRow? { tables[table]?[key] }

    mutating func put(_ table: String, _ key: String, _ fields: SimJSONObject) {
        let version = (tables[table]?[key]?.version ?? 0) + 1
        tables[table, default: [:]][key] = NAVRow(fields: fields, version: version)
    }
}

/// The NAV simulator's data: companies by name (case-sensitive), each with its own id.
package final class NAVStore: Sendable {
    struct State: Sendable {
        var companies: [String: NAVCompany] = [:]
        var ids: [String: String] = [:]
        var defaultCompany: String?
    }

    private let state = Mutex(State())
    let clock: SimulatorClock

    init(clock: SimulatorClock) { self.clock = clock }

    static func key(_ values: [String]) -> String { values.joined(separator: "\u{1}") }

    /// Runs `body` on a company's data.
    func withCompany<T>(_ name: String, _ body: (inout NAVCompany) throws(BCError) -> T) throws(BCError) -> T {
        try state.withLock { (state: inout State) throws(BCError) -> T in
            guard var company = state.companies[name] else {
                throw BCError(400, "Internal_CompanyNotFound", "The company '\(name)' does not exist.")
            }
            let result = try body(&company)
            state.companies[name] = company
            return result
        }
    }

    /// The company a request names by id, or the default company when it names none.
    func companyName(id: String?) -> String? {
        state.withLock { state in
            if let id { return state.ids.first { $0.value.lowercased() == id.lowercased() }?.key }
            return state.defaultCompany ?? (state.companies.count == 1 ? state.companies.keys.first : nil)
        }
    }

    package func addCompany(
        _ name: String, id: String = UUID().uuidString.lowercased(), data: NAVCompany = NAVCompany()
    ) {
        state.withLock { state in
            state.companies[name] = data
            state.ids[name] = id
        }
    }

    package var companyNames: [String] { state.withLock { $0.companies.keys.sorted() } }

    /// Rows of a table in every company, for tests and the demo's checks.
    package func rows(company: String, table: String) -> [SimJSONObject] {
        state.withLock { $0.companies[company]?.rows(table).map(\.fields) ?? [] }
    }

    /// Adds (or replaces) vendors directly, stamped with today's date.
    package func upsertVendors(company: String, _ vendors: [(number: String, name: String)]) {
        let today = Timestamps.day(clock.now())
        state.withLock { state in
            guard var data = state.companies[company] else { return }
            for vendor in vendors {
                data.put(
                    "Vendor", vendor.number.uppercased(),
                    SimJSONObject([
                        "No": .string(vendor.number.uppercased()), "Name": .string(vendor.name),
                        "Blocked": .string(" "), "Last_Date_Modified": .string(today),
                    ]))
            }
            state.companies[company] = data
        }
    }

    /// Posts the journal lines of a document: they leave the journal and become a vendor ledger entry (finance's
    /// action in NAV, never the connector's).
    package func postJournalDocument(company: String, documentNumber: String) {
        state.withLock { Self.postJournal(&$0, company: company, documentNumber: documentNumber) }
    }

    private static func postJournal(_ state: inout State, company: String, documentNumber: String) {
        guard var data = state.companies[company] else { return }
        let lines = (data.tables["Gen. Journal Line"] ?? [:]).filter {
            $0.value.fields["Document_No"]?.stringValue == documentNumber
        }
        for (key, row) in lines {
            data.tables["Gen. Journal Line"]?[key] = nil
            guard row.fields["Account_Type"]?.stringValue == "Vendor" else { continue }
            let entry = data.nextEntry
            data.nextEntry += 1
            let amount = row.fields["Amount"]?.decimalValue ?? 0
            data.put(
                "Vendor Ledger Entry", String(entry),
                SimJSONObject([
                    "Entry_No": .int(entry), "Vendor_No": row.fields["Account_No"] ?? .string(""),
                    "Document_Type": .string("Invoice"), "Document_No": .string(documentNumber),
                    "External_Document_No": row.fields["External_Document_No"] ?? .string(""),
                    "Posting_Date": row.fields["Posting_Date"] ?? .string(""), "Amount": .decimal(amount),
                    "Remaining_Amount": .decimal(amount), "Open": .bool(true),
                ]))
        }
        state.companies[company] = data
    }

    /// Pays a vendor's invoice by its vendor invoice number, as finance would in NAV: an unposted purchase invoice
    /// (or the journal document carrying the number) is posted first and becomes a vendor ledger entry; then a
    /// payment entry is posted and applied to it, lowering the invoice entry's `Remaining_Amount` by `amount` (all
    /// of it when nil) and clearing `Open` when nothing remains. Returns the invoice entry's number, or nil when the
    /// company holds no such invoice.
    package func pay(company: String, vendorNumber: String, vendorInvoiceNumber: String, amount: Decimal? = nil)
        -> Int?
    {
        let vendor = vendorNumber.uppercased()
        let number = vendorInvoiceNumber.uppercased()
        let today = Timestamps.day(clock.now())
        return state.withLock { (state: inout State) -> Int? in
            guard var data = state.companies[company] else { return nil }
            func invoiceEntry() -> NAVRow? {
                data.rows("Vendor Ledger Entry").first {
                    $0.fields["Document_Type"]?.stringValue == "Invoice"
                        && $0.fields["Vendor_No"]?.stringValue == vendor
                        && $0.fields["External_Document_No"]?.stringValue == number
                }
            }
            if invoiceEntry() == nil {
                if let header = data.rows("Purchase Header").first(where: {
                    $0.fields["Document_Type"]?.stringValue == "Invoice"
                        && $0.fields["Buy_from_Vendor_No"]?.stringValue == vendor
                        && $0.fields["Vendor_Invoice_No"]?.stringValue == number
                }), let headerNumber = header.fields["No"]?.stringValue {
                    let key = NAVStore.key(["Invoice", headerNumber])
                    let lines = (data.tables["Purchase Line"] ?? [:]).filter {
                        $0.value.fields["Document_Type"]?.stringValue == "Invoice"
                            && $0.value.fields["Document_No"]?.stringValue == headerNumber
                    }
                    let total = lines.values.reduce(Decimal(0)) { $0 + ($1.fields["Line_Amount"]?.decimalValue ?? 0) }
                    for line in lines.keys { data.tables["Purchase Line"]?[line] = nil }
                    data.tables["Purchase Header"]?[key] = nil
                    // The posted invoice takes the next number of the posted invoice series.
                    let entry = data.nextEntry
                    data.nextEntry += 1
                    data.put(
                        "Vendor Ledger Entry", String(entry),
                        SimJSONObject([
                            "Entry_No": .int(entry), "Vendor_No": .string(vendor), "Document_Type": .string("Invoice"),
                            "Document_No": .string("PPI\(headerNumber)"), "External_Document_No": .string(number),
                            "Posting_Date": header.fields["Posting_Date"] ?? .string(today),
                            "Amount": .decimal(-total), "Remaining_Amount": .decimal(-total), "Open": .bool(true),
                        ]))
                } else if let line = data.rows("Gen. Journal Line").first(where: {
                    $0.fields["Account_Type"]?.stringValue == "Vendor" && $0.fields["Account_No"]?.stringValue == vendor
                        && $0.fields["External_Document_No"]?.stringValue == number
                }), let document = line.fields["Document_No"]?.stringValue {
                    state.companies[company] = data
                    Self.postJournal(&state, company: company, documentNumber: document)
                    data = state.companies[company] ?? data
                }
            }
            guard var invoice = invoiceEntry(), let entryNumber = invoice.fields["Entry_No"]?.intValue else {
                return nil
            }
            let remaining = invoice.fields["Remaining_Amount"]?.decimalValue ?? 0
            let paid = min(abs(remaining), amount ?? abs(remaining))
            guard paid > 0 else {
                state.companies[company] = data
                return entryNumber
            }
            let payment = data.nextEntry
            data.nextEntry += 1
            data.put(
                "Vendor Ledger Entry", String(payment),
                SimJSONObject([
                    "Entry_No": .int(payment), "Vendor_No": .string(vendor), "Document_Type": .string("Payment"),
                    "Document_No": .string("PAY\(payment)"), "External_Document_No": .string(""),
                    "Posting_Date": .string(today), "Amount": .decimal(paid), "Remaining_Amount": .decimal(0),
                    "Open": .bool(false),
                ]))
            let left = remaining + paid
            invoice.fields["Remaining_Amount"] = .decimal(left)
            invoice.fields["Open"] = .bool(left != 0)
            data.put("Vendor Ledger Entry", String(entryNumber), invoice.fields)
            state.companies[company] = data
            return entryNumber
        }
    }
}
