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
        state.withLock { state in
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
    }
}
