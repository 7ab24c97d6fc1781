import Foundation
import Synchronization

/// The simulated tenant's data: vendors, chart of accounts, subaccounts, branches, purchase orders and AP bills.
/// Every write validates fully on a copy and commits only when nothing was refused, so a rejected bill leaves
/// nothing behind (not even a consumed PO quantity).
package final class AcumaticaStore: Sendable {
    struct State: Sendable {
        var records: [String: [AcuRecord]] = [:]
        var nextNumber: [String: Int] = [:]
        var options: AcumaticaOptions
        /// `TimeStamp` of the last push notification (100-ns ticks, increasing).
        var lastTick: Int64 = 0
    }

    private let state: Mutex<State>
    let clock: SimulatorClock

    init(options: AcumaticaOptions, clock: SimulatorClock) {
        self.state = Mutex(State(options: options))
        self.clock = clock
    }

    var options: AcumaticaOptions { state.withLock { $0.options } }

    func updateOptions(_ change: (inout AcumaticaOptions) -> Void) {
        state.withLock { change(&$0.options) }
    }

    /// All records of an entity, in creation order.
    func records(_ entity: String) -> [AcuRecord] {
        state.withLock { $0.records[entity] ?? [] }
    }

    /// Replaces all records (seeding); numbering continues after the highest numeric key.
    func seed(_ data: [String: [AcuRecord]]) {
        state.withLock { state in
            state.records = data
            state.nextNumber = [:]
            for bill in data["Bill"] ?? [] {
                let type = bill.string("Type") ?? "Bill"
                if let number = bill.string("ReferenceNbr").flatMap(Int.init) {
                    state.nextNumber["Bill " + type] = max(state.nextNumber["Bill " + type] ?? 1, number + 1)
                }
            }
            for order in data["PurchaseOrder"] ?? [] {
                if let number = order.string("OrderNbr").flatMap(Int.init) {
                    state.nextNumber["PurchaseOrder"] = max(state.nextNumber["PurchaseOrder"] ?? 1, number + 1)
                }
            }
        }
    }

    /// Adds records (vendors in bulk for tests).
    func append(_ entity: String, _ records: [AcuRecord]) {
        state.withLock { $0.records[entity, default: []].append(contentsOf: records) }
    }

    // MARK: Lookup

    static func same(_ a: String?, _ b: String?) -> Bool {
        guard let a, let b else { return false }
        return a.caseInsensitiveCompare(b) == .orderedSame
    }

    /// A record by `id`, or by its key values in key order.
    func find(_ entity: String, schema: AcuEntitySchema, path: [String]) -> AcuRecord? {
        let rows = records(entity)
        if path.count == 1, let byId = rows.first(where: { $0.id.lowercased() == path[0].lowercased() }) {
            return byId
        }
        guard path.count == schema.keys.count else { return nil }
        return rows.first { row in zip(schema.keys, path).allSatisfy { Self.same(row.string($0), $1) } }
    }

    // MARK: Writes

    enum WriteMode {
        /// PUT: update when found, else create.
        case put
        /// PUT with `If-Match: *`: update only.
        case updateOnly
        /// PATCH: update the given fields of an existing record.
        case patch
    }

    /// PUT/PATCH of a top-level record. The record is located by `id`, by its key fields, or by `filter`.
    /// - Returns: the saved record.
    /// - Throws: 412 (update-only and not found), 404 (PATCH and not found), 405 (read-only entity), 422 (field
    ///   errors), 500 (business rule refusals).
    func write(
        entity: String, schema: AcuEntitySchema, input: AcuInput, filter: AcuFilter?, mode: WriteMode,
        branch: String?
    ) throws(AcuError) -> AcuRecord {
        let now = clock.now()
        return try state.withLock { state throws(AcuError) -> AcuRecord in
            var draft = state
            let existing = Self.locate(draft, entity: entity, schema: schema, input: input, filter: filter)
            if existing == nil {
                switch mode {
                case .updateOnly:
                    // UNCONFIRMED body; the status is documented (reference §3.6).
                    throw AcuError.message(412, "The record to update was not found (If-Match: *).")
                case .patch:
                    throw AcuError.message(404, "No entity satisfies the condition.")
                case .put:
                    break
                }
            }
            let saved: AcuRecord
            switch entity {
            case "Bill":
                saved = try Self.saveBill(&draft, input: input, existing: existing, branch: branch, now: now)
            case "Vendor":
                saved = try Self.saveVendor(&draft, input: input, existing: existing, now: now)
            case "PurchaseOrder":
                saved = try Self.saveOrder(&draft, input: input, existing: existing, now: now)
            default:
                throw AcuError.message(405, "The requested resource does not support http method 'PUT'.")
            }
            state = draft
            return saved
        }
    }

    private static func locate(
        _ state: State, entity: String, schema: AcuEntitySchema, input: AcuInput, filter: AcuFilter?
    ) -> AcuRecord? {
        let rows = state.records[entity] ?? []
        if let id = input.id, let found = rows.first(where: { $0.id.lowercased() == id.lowercased() }) {
            return found
        }
        var keyValues: [String] = []
        for key in schema.keys {
            var value = input.string(key)
            if value == nil, entity == "Bill", key == "Type" { value = "Bill" }
            if value == nil, entity == "PurchaseOrder", key == "OrderType" { value = "Normal" }
            guard let value else { break }
            keyValues.append(value)
        }
        if keyValues.count == schema.keys.count, !keyValues.isEmpty {
            if let found = rows.first(where: { row in
                zip(schema.keys, keyValues).allSatisfy { same(row.string($0), $1) }
            }) {
                return found
            }
        }
        if let filter {
            return rows.first {
                filter.matches($0, schema: schema, caseInsensitive: state.options.caseInsensitiveFilters)
            }
        }
        return nil
    }

    private static func store(_ state: inout State, _ entity: String, _ record: AcuRecord) {
        var rows = state.records[entity] ?? []
        if let index = rows.firstIndex(where: { $0.id == record.id }) {
            rows[index] = record
        } else {
            rows.append(record)
        }
        state.records[entity] = rows
    }

    private static func nextNumber(_ state: inout State, _ series: String) -> String {
        let number = state.nextNumber[series] ?? 1
        state.nextNumber[series] = number + 1
        return String(format: "%06d", number)
    }

    private static func apply(_ input: AcuInput, to record: inout AcuRecord, except: Set<String> = []) {
        for (name, value) in input.fields where !except.contains(name) {
            record.fields[name] = value.isNull ? nil : value
        }
        if let note = input.note { record.note = note }
    }

    // MARK: Vendor

    static let vendorStatuses = ["Active", "Hold", "Hold Payments", "Inactive", "One-Time"]

    private static func saveVendor(
        _ state: inout State, input: AcuInput, existing: AcuRecord?, now: Date
    ) throws(AcuError) -> AcuRecord {
        var errors = AcuFieldErrors()
        var record = existing ?? AcuRecord()
        apply(input, to: &record)
        if existing == nil {
            if record.string("VendorID") == nil { errors.add("VendorID", "'Vendor ID' cannot be empty.") }
            record["Status"] = record["Status"] ?? .string("Active")
            record["CurrencyID"] = record["CurrencyID"] ?? .string("USD")
            record["CreatedDateTime"] = .string(AcuTime.format(now))
        }
        if let status = record.string("Status"), !vendorStatuses.contains(status) {
            errors.add("Status", "The value '\(status)' is not in the list of allowed values.")
        }
        if record.string("VendorName") == nil { errors.add("VendorName", "'Vendor Name' cannot be empty.") }
        guard errors.isEmpty else {
            throw AcuError(status: 422, body: errors.body(for: input, entity: "Vendor", updating: existing != nil))
        }
        record["LastModifiedDateTime"] = .string(AcuTime.format(now))
        store(&state, "Vendor", record)
        return record
    }

    // MARK: Purchase order

    private static func saveOrder(
        _ state: inout State, input: AcuInput, existing: AcuRecord?, now: Date
    ) throws(AcuError) -> AcuRecord {
        var errors = AcuFieldErrors()
        var record = existing ?? AcuRecord()
        apply(input, to: &record, except: existing == nil ? [] : ["OrderType", "OrderNbr"])
        if existing == nil {
            record["OrderType"] = record["OrderType"] ?? .string("Normal")
            if record.string("OrderNbr") == nil {
                record["OrderNbr"] = .string(nextNumber(&state, "PurchaseOrder"))
            }
            record["Status"] = .string(record.bool("Hold") == true ? "On Hold" : "Open")
            record["Date"] = record["Date"] ?? .string(AcuTime.day(now))
            record["CurrencyID"] = record["CurrencyID"] ?? .string("USD")
        }
        let vendors = state.records["Vendor"] ?? []
        if let vendor = record.string("VendorID") {
            if !vendors.contains(where: { same($0.string("VendorID"), vendor) }) {
                errors.add("VendorID", "'Vendor' cannot be found in the system.")
            }
        } else {
            errors.add("VendorID", "'Vendor' cannot be empty.")
        }
        var lines = record.details["Details"] ?? []
        for (row, line) in (input.details["Details"] ?? []).enumerated() {
            let index =
                line.id.flatMap { id in lines.firstIndex { $0.id == id } }
                ?? line.value("LineNbr")?.intValue.flatMap { number in
                    lines.firstIndex { $0["LineNbr"]?.intValue == number }
                }
            if line.delete {
                if let index { lines.remove(at: index) }
                continue
            }
            var detail = index.map { lines[$0] } ?? AcuRecord()
            apply(line, to: &detail)
            if detail["LineNbr"] == nil {
                let next = (lines.compactMap { $0["LineNbr"]?.intValue }.max() ?? 0) + 1
                detail["LineNbr"] = .int(next)
            }
            detail["LineType"] =
                detail["LineType"] ?? .string(detail.string("InventoryID") == nil ? "Non-Stock" : "Goods for IN")
            guard let quantity = detail.decimal("OrderQty"), quantity > 0 else {
                errors.add(detail: "Details", row: row, "OrderQty", "'Order Qty.' must be greater than 0.")
                continue
            }
            let cost = detail.decimal("UnitCost") ?? 0
            let billed = detail.decimal("BilledQty") ?? 0
            detail["UnitCost"] = .decimal(cost)
            detail["ExtendedCost"] = .decimal((quantity * cost).rounded(scale: 2))
            detail["BilledQty"] = .decimal(billed)
            detail["OpenQty"] = .decimal(max(quantity - billed, 0))
            if let index { lines[index] = detail } else { lines.append(detail) }
        }
        guard errors.isEmpty else {
            throw AcuError(
                status: 422, body: errors.body(for: input, entity: "PurchaseOrder", updating: existing != nil))
        }
        record.details["Details"] = lines
        record["OrderTotal"] = .decimal(lines.reduce(Decimal(0)) { $0 + ($1.decimal("ExtendedCost") ?? 0) })
        record["LastModifiedDateTime"] = .string(AcuTime.format(now))
        store(&state, "PurchaseOrder", record)
        return record
    }

    // MARK: Bill

    static let billTypes = ["Bill", "Debit Adj.", "Credit Adj.", "Prepayment"]

    /// Normalised subaccount code for comparison: separators and spaces removed, upper-cased.
    static func subaccountKey(_ code: String) -> String {
        code.uppercased().filter { $0 != "-" && $0 != " " && $0 != "_" && $0 != "." }
    }

    private static func saveBill(
        _ state: inout State, input: AcuInput, existing: AcuRecord?, branch: String?, now: Date
    ) throws(AcuError) -> AcuRecord {
        let options = state.options
        if let existing, let status = existing.string("Status"),
            !["On Hold", "Balanced", "Pending Approval"].contains(status)
        {
            // UNCONFIRMED wording; released documents cannot be edited.
            throw AcuError.exception(500, "The document has been released and cannot be edited (status \(status)).")
        }
        var errors = AcuFieldErrors()
        var bill = existing ?? AcuRecord()
        apply(
            input, to: &bill,
            except: existing == nil
                ? ["ReferenceNbr", "Status", "Amount", "Balance"]
                : [
                    "Type", "ReferenceNbr", "Status", "Amount", "Balance",
                ])
        if existing == nil {
            let type = bill.string("Type") ?? "Bill"
            bill["Type"] = .string(type)
            if !billTypes.contains(type) {
                errors.add("Type", "The value '\(type)' is not in the list of allowed values.")
            }
        }
        // Vendor.
        let vendors = state.records["Vendor"] ?? []
        var vendor: AcuRecord?
        if let vendorID = bill.string("Vendor") {
            vendor = vendors.first { same($0.string("VendorID"), vendorID) }
            if let found = vendor {
                bill["Vendor"] = found["VendorID"]
                let status = found.string("Status") ?? "Active"
                if ["Hold", "Inactive"].contains(status) {
                    errors.add("Vendor", "The vendor status is '\(status)'.")
                }
            } else {
                errors.add("Vendor", "'Vendor' cannot be found in the system.")
            }
        } else {
            errors.add("Vendor", "'Vendor' cannot be empty.")
        }
        if options.rejectDuplicateVendorRef, let reference = bill.string("VendorRef"),
            let vendorID = bill.string("Vendor")
        {
            let duplicate = (state.records["Bill"] ?? []).contains {
                $0.id != bill.id && same($0.string("Vendor"), vendorID) && same($0.string("VendorRef"), reference)
            }
            if duplicate {
                errors.add("VendorRef", "The document with this vendor reference number already exists.")
            }
        }
        // Dates and period.
        let date = bill.date("Date") ?? Timestamps.parseDay(Timestamps.day(now)) ?? now
        bill["Date"] = .string(AcuTime.day(date))
        if bill["DueDate"] == nil { bill["DueDate"] = .string(AcuTime.day(date.addingTimeInterval(30 * 86_400))) }
        if bill["PostPeriod"] == nil {
            let day = Timestamps.day(date)
            let parts = day.split(separator: "-")
            bill["PostPeriod"] = .string(String(parts[1]) + String(parts[0]))
        }
        let period = bill.string("PostPeriod") ?? ""
        let month = Int(period.prefix(2)) ?? 0
        if period.count != 6 || Int(period) == nil || !(1...12).contains(month) {
            errors.add("PostPeriod", "'\(period)' is not a valid financial period (MMYYYY).")
        } else if options.closedPeriods.contains(period) {
            errors.add("PostPeriod", "The financial period \(period) is closed.")
        }
        // Currency, branch, hold.
        if bill["CurrencyID"] == nil { bill["CurrencyID"] = vendor?["CurrencyID"] ?? .string("USD") }
        let branches = state.records["Branch"] ?? []
        if bill["BranchID"] == nil, let branch { bill["BranchID"] = .string(branch) }
        if bill["BranchID"] == nil, let first = branches.first?.string("BranchID") { bill["BranchID"] = .string(first) }
        if let branchID = bill.string("BranchID"), !branches.contains(where: { same($0.string("BranchID"), branchID) })
        {
            errors.add("BranchID", "'Branch' cannot be found in the system.")
        }
        if bill["Hold"] == nil { bill["Hold"] = .bool(options.holdBillsOnEntry) }
        if bill["ApprovedForPayment"] == nil { bill["ApprovedForPayment"] = .bool(false) }

        // Details: undo this bill's earlier PO consumption, then apply the new lines.
        var orders = state.records["PurchaseOrder"] ?? []
        let previous = existing?.details["Details"] ?? []
        var touched = Set<Int>()
        for line in previous {
            if let changed = consume(&orders, line: line, quantity: -(line.decimal("Qty") ?? 0)) {
                touched.insert(changed)
            }
        }
        var lines = previous
        let accounts = state.records["Account"] ?? []
        let subaccounts = state.records["Subaccount"] ?? []
        for (row, line) in (input.details["Details"] ?? []).enumerated() {
            let index = line.id.flatMap { id in lines.firstIndex { $0.id == id } }
            if line.delete {
                if let index { lines.remove(at: index) }
                continue
            }
            var base = index.map { lines[$0] } ?? AcuRecord()
            apply(line, to: &base)
            var expanded: [AcuRecord] = []
            if let orderNbr = base.string("POOrderNbr") {
                let orderType = base.string("POOrderType") ?? "Normal"
                base["POOrderType"] = .string(orderType)
                guard
                    let orderIndex = orders.firstIndex(where: {
                        same($0.string("OrderType"), orderType) && same($0.string("OrderNbr"), orderNbr)
                    })
                else {
                    errors.add(detail: "Details", row: row, "POOrderNbr", "'Order Nbr.' cannot be found in the system.")
                    continue
                }
                let order = orders[orderIndex]
                if let vendorID = bill.string("Vendor"), !same(order.string("VendorID"), vendorID) {
                    errors.add(
                        detail: "Details", row: row, "POOrderNbr",
                        "The purchase order \(orderNbr) belongs to another vendor.")
                    continue
                }
                if order.string("Status") != "Open" {
                    errors.add(
                        detail: "Details", row: row, "POOrderNbr",
                        "The purchase order \(orderNbr) has the status '\(order.string("Status") ?? "")', not 'Open'.")
                    continue
                }
                let orderLines = order.details["Details"] ?? []
                let chosen: [AcuRecord]
                if let lineNbr = base["POLine"]?.intValue {
                    guard let orderLine = orderLines.first(where: { $0["LineNbr"]?.intValue == lineNbr }) else {
                        errors.add(detail: "Details", row: row, "POLine", "'PO Line' cannot be found in the system.")
                        continue
                    }
                    chosen = [orderLine]
                } else {
                    chosen = orderLines.filter { ($0.decimal("OpenQty") ?? 0) > 0 }
                    if chosen.isEmpty {
                        errors.add(
                            detail: "Details", row: row, "POOrderNbr",
                            "The purchase order \(orderNbr) has no lines left to bill.")
                        continue
                    }
                }
                for orderLine in chosen {
                    var linked = base
                    if expanded.count > 0 { linked.id = UUID().uuidString.lowercased() }
                    linked["POLine"] = orderLine["LineNbr"]
                    let open = orderLine.decimal("OpenQty") ?? 0
                    let quantity = chosen.count == 1 ? (base.decimal("Qty") ?? open) : open
                    if quantity > open {
                        errors.add(
                            detail: "Details", row: row, "Qty",
                            "The quantity \(SimJSON.literal(of: quantity)) exceeds the open quantity \(SimJSON.literal(of: open)) of PO line \(orderLine["LineNbr"]?.intValue ?? 0)."
                        )
                        continue
                    }
                    linked["Qty"] = .decimal(quantity)
                    if chosen.count > 1 || linked["UnitCost"] == nil { linked["UnitCost"] = orderLine["UnitCost"] }
                    for (field, source) in [
                        ("Account", "Account"), ("Subaccount", "Subaccount"), ("InventoryID", "InventoryID"),
                        ("TransactionDescription", "LineDescription"), ("UOM", "UOM"), ("Branch", "Branch"),
                    ] where linked[field] == nil {
                        linked[field] = orderLine[source]
                    }
                    if chosen.count > 1 {
                        linked["Amount"] = nil
                        linked["ExtendedCost"] = nil
                    }
                    expanded.append(linked)
                }
            } else {
                if base["POLine"] != nil {
                    errors.add(detail: "Details", row: row, "POOrderNbr", "'Order Nbr.' cannot be empty.")
                    continue
                }
                expanded = [base]
            }
            var replaced = false
            for var detail in expanded {
                // Amounts.
                let given = detail.decimal("ExtendedCost") ?? detail.decimal("Amount")
                let quantity = detail.decimal("Qty") ?? 1
                detail["Qty"] = .decimal(quantity)
                if detail["UnitCost"] == nil {
                    detail["UnitCost"] = .decimal(quantity == 0 ? 0 : ((given ?? 0) / quantity).rounded(scale: 4))
                }
                let amount = given ?? (quantity * (detail.decimal("UnitCost") ?? 0)).rounded(scale: 2)
                detail["ExtendedCost"] = .decimal(amount)
                detail["Amount"] = .decimal(amount)
                // Account, subaccount, branch.
                if let code = detail.string("Account") {
                    if let account = accounts.first(where: { same($0.string("AccountCD"), code) }) {
                        if account.bool("Active") == false {
                            errors.add(detail: "Details", row: row, "Account", "The account \(code) is inactive.")
                        }
                    } else {
                        errors.add(detail: "Details", row: row, "Account", "'Account' cannot be found in the system.")
                    }
                } else {
                    errors.add(detail: "Details", row: row, "Account", "'Account' cannot be empty.")
                }
                if let code = detail.string("Subaccount") {
                    let key = subaccountKey(code)
                    if let sub = subaccounts.first(where: { subaccountKey($0.string("SubaccountCD") ?? "") == key }) {
                        detail["Subaccount"] = sub["SubaccountCD"]
                        if sub.bool("Active") == false {
                            errors.add(detail: "Details", row: row, "Subaccount", "The subaccount \(code) is inactive.")
                        }
                    } else {
                        errors.add(
                            detail: "Details", row: row, "Subaccount", "'Subaccount' cannot be found in the system.")
                    }
                }
                if detail["Branch"] == nil { detail["Branch"] = bill["BranchID"] }
                if let code = detail.string("Branch"), !branches.contains(where: { same($0.string("BranchID"), code) })
                {
                    errors.add(detail: "Details", row: row, "Branch", "'Branch' cannot be found in the system.")
                }
                if let changed = consume(&orders, line: detail, quantity: detail.decimal("Qty") ?? 0) {
                    touched.insert(changed)
                }
                if let index, !replaced {
                    lines[index] = detail
                    replaced = true
                } else {
                    lines.append(detail)
                }
            }
        }
        for orderIndex in touched { settleStatus(&orders[orderIndex], now: now) }
        guard errors.isEmpty else {
            throw AcuError(status: 422, body: errors.body(for: input, entity: "Bill", updating: existing != nil))
        }
        if existing == nil {
            bill["ReferenceNbr"] = .string(nextNumber(&state, "Bill " + (bill.string("Type") ?? "Bill")))
        }
        bill.details["Details"] = lines
        let amount = lines.reduce(Decimal(0)) { $0 + ($1.decimal("Amount") ?? 0) }
        bill["Amount"] = .decimal(amount)
        bill["Balance"] = .decimal(amount)
        bill["TaxTotal"] = bill["TaxTotal"] ?? .decimal(0)
        bill["Status"] = .string(bill.bool("Hold") == true ? "On Hold" : "Balanced")
        bill["LastModifiedDateTime"] = .string(AcuTime.format(now))
        state.records["PurchaseOrder"] = orders
        store(&state, "Bill", bill)
        return bill
    }

    /// Adds `quantity` to the billed quantity of the PO line a bill line links to (negative to release it).
    /// - Returns: the index of the order changed, if any.
    private static func consume(_ orders: inout [AcuRecord], line: AcuRecord, quantity: Decimal) -> Int? {
        guard let orderNbr = line.string("POOrderNbr"), let lineNbr = line["POLine"]?.intValue, quantity != 0 else {
            return nil
        }
        let orderType = line.string("POOrderType") ?? "Normal"
        guard
            let orderIndex = orders.firstIndex(where: {
                same($0.string("OrderType"), orderType) && same($0.string("OrderNbr"), orderNbr)
            }),
            var lines = orders[orderIndex].details["Details"],
            let lineIndex = lines.firstIndex(where: { $0["LineNbr"]?.intValue == lineNbr })
        else { return nil }
        let ordered = lines[lineIndex].decimal("OrderQty") ?? 0
        let billed = max((lines[lineIndex].decimal("BilledQty") ?? 0) + quantity, 0)
        lines[lineIndex]["BilledQty"] = .decimal(billed)
        lines[lineIndex]["OpenQty"] = .decimal(max(ordered - billed, 0))
        orders[orderIndex].details["Details"] = lines
        return orderIndex
    }

    /// An Open order with nothing left to bill closes; a Closed one with open quantity again reopens.
    private static func settleStatus(_ order: inout AcuRecord, now: Date) {
        let open = (order.details["Details"] ?? []).contains { ($0.decimal("OpenQty") ?? 0) > 0 }
        let status = order.string("Status")
        if status == "Open", !open { order["Status"] = .string("Closed") }
        if status == "Closed", open { order["Status"] = .string("Open") }
        order["LastModifiedDateTime"] = .string(AcuTime.format(now))
    }

    // MARK: Actions

    /// `Bill/Approve`: the bill must be off hold; marks it approved for payment.
    func approveBill(type: String, referenceNbr: String) throws(AcuError) {
        let now = clock.now()
        try state.withLock { state throws(AcuError) in
            guard var bills = state.records["Bill"],
                let index = bills.firstIndex(where: {
                    Self.same($0.string("Type"), type) && Self.same($0.string("ReferenceNbr"), referenceNbr)
                })
            else { throw AcuError.message(404, "No entity satisfies the condition.") }
            guard bills[index].bool("Hold") != true else {
                throw AcuError.exception(500, "The document is on hold and cannot be approved.")
            }
            bills[index]["ApprovedForPayment"] = .bool(true)
            bills[index]["LastModifiedDateTime"] = .string(AcuTime.format(now))
            state.records["Bill"] = bills
        }
    }

    /// The release action (name UNCONFIRMED): a Balanced bill becomes Open.
    func releaseBill(type: String, referenceNbr: String) throws(AcuError) {
        try changeBill(type: type, referenceNbr: referenceNbr) { bill throws(AcuError) in
            guard bill.string("Status") == "Balanced" else {
                throw AcuError.exception(
                    500, "Only a balanced document can be released (status \(bill.string("Status") ?? "")).")
            }
            bill["Status"] = .string("Open")
        }
    }

    /// Simulator admin: the bill is paid in full (Status Closed, Balance 0).
    func payBill(type: String, referenceNbr: String) throws(AcuError) {
        try changeBill(type: type, referenceNbr: referenceNbr) { bill in
            bill["Status"] = .string("Closed")
            bill["Balance"] = .decimal(0)
            bill["Hold"] = .bool(false)
            bill["ApprovedForPayment"] = .bool(true)
        }
    }

    private func changeBill(
        type: String, referenceNbr: String, _ change: (inout AcuRecord) throws(AcuError) -> Void
    ) throws(AcuError) {
        let now = clock.now()
        try state.withLock { state throws(AcuError) in
            guard var bills = state.records["Bill"],
                let index = bills.firstIndex(where: {
                    Self.same($0.string("Type"), type) && Self.same($0.string("ReferenceNbr"), referenceNbr)
                })
            else { throw AcuError.message(404, "No entity satisfies the condition.") }
            try change(&bills[index])
            bills[index]["LastModifiedDateTime"] = .string(AcuTime.format(now))
            state.records["Bill"] = bills
        }
    }

    /// Bills with this vendor and vendor reference (case-insensitive), for tests.
    func bills(vendor: String, vendorRef: String) -> [AcuRecord] {
        records("Bill").filter {
            Self.same($0.string("Vendor"), vendor) && Self.same($0.string("VendorRef"), vendorRef)
        }
    }

    /// The next push `TimeStamp`: .NET ticks of now, strictly increasing.
    func nextTick() -> Int64 {
        let now = clock.now()
        return state.withLock { state in
            let ticks = Int64(now.timeIntervalSince1970 * 10_000_000) + 621_355_968_000_000_000
            state.lastTick = max(ticks, state.lastTick + 1)
            return state.lastTick
        }
    }
}
