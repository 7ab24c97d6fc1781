import Foundation
import Synchronization

/// The simulated company database. Every write validates a copy under one lock and stores it only when all of it
/// passed, so a refused document leaves nothing behind (no half-linked purchase order, no number taken).
package final class B1Store: Sendable {
    private let data = Mutex(B1CompanyData())
    private let clock: SimulatorClock

    package init(clock: SimulatorClock) { self.clock = clock }

    // MARK: Package API (seeding, inspection, clerk actions)

    /// Replaces the whole company.
    package func seed(_ company: B1CompanyData) {
        data.withLock { $0 = company }
    }

    /// A copy of the company.
    package var snapshot: B1CompanyData { data.withLock { $0 } }

    /// Changes the company in place (e.g. freeze a vendor mid-test). Changed rows should bump their
    /// `UpdateDate`/`UpdateTime` (``stamp(_:)``).
    package func modify(_ change: (inout B1CompanyData) -> Void) {
        data.withLock { change(&$0) }
    }

    /// Sets `UpdateDate` and `UpdateTime` of a row to the simulator clock.
    package func stamp(_ row: inout SimJSONObject) {
        let now = clock.now()
        row["UpdateDate"] = .string(B1Clock.day(now))
        row["UpdateTime"] = .string(B1Clock.time(now))
    }

    /// How many drafts and A/P invoices carry this vendor and vendor reference (the idempotency key).
    package func documentCount(cardCode: String, numAtCard: String) -> (drafts: Int, invoices: Int) {
        data.withLock { data in
            func matching(_ rows: [SimJSONObject]) -> Int {
                rows.filter {
                    $0["CardCode"]?.stringValue == cardCode && $0["NumAtCard"]?.stringValue == numAtCard
                }.count
            }
            return (matching(data.drafts), matching(data.purchaseInvoices))
        }
    }

    /// Adds `count` suppliers `<prefix>00001`… (skipping codes in use), stamped now, for sync and bench tests.
    /// - Returns: the new card codes.
    @discardableResult
    package func addVendors(count: Int, prefix: String = "VB") -> [String] {
        let now = clock.now()
        return data.withLock { data in
            var codes: [String] = []
            var used = Set(data.businessPartners.compactMap { $0["CardCode"]?.stringValue })
            var serial = 1
            while codes.count < count {
                let code = prefix + String(format: "%05d", serial)
                serial += 1
                guard !used.contains(code) else { continue }
                used.insert(code)
                codes.append(code)
                data.businessPartners.append(
                    Self.businessPartner(
                        code: code, name: "Bulk Vendor \(code)", type: "cSupplier", currency: data.localCurrency,
                        now: now))
            }
            return codes
        }
    }

    /// A business partner row with the usual defaults.
    package static func businessPartner(
        code: String, name: String, type: String, currency: String, taxId: String = "", frozen: Bool = false,
        now: Date
    ) -> SimJSONObject {
        SimJSONObject([
            "CardCode": .string(code), "CardName": .string(name), "CardType": .string(type),
            "GroupCode": .int(type == "cSupplier" ? 101 : 100), "FederalTaxID": .string(taxId),
            "Currency": .string(currency), "Valid": .string(frozen ? "tNO" : "tYES"),
            "Frozen": .string(frozen ? "tYES" : "tNO"), "CreateDate": .string(B1Clock.day(now)),
            "UpdateDate": .string(B1Clock.day(now)), "UpdateTime": .string(B1Clock.time(now)),
        ])
    }

    /// Creates or changes a business partner as a clerk would in the B1 client: `fields` are merged into the row,
    /// `UpdateDate`/`UpdateTime` bumped.
    /// - Returns: whether it was created.
    @discardableResult
    package func upsertBusinessPartner(_ fields: SimJSONObject) throws(B1Error) -> Bool {
        guard let code = fields["CardCode"]?.stringValue, !code.isEmpty else {
            throw B1Error.field("Code undefined [OCRD.CardCode]")
        }
        let now = clock.now()
        return data.withLock { data in
            var row: SimJSONObject
            let index = data.businessPartners.firstIndex { $0["CardCode"]?.stringValue == code }
            if let index {
                row = data.businessPartners[index]
            } else {
                row = Self.businessPartner(
                    code: code, name: code, type: "cSupplier", currency: data.localCurrency, now: now)
            }
            for (key, value) in fields { row[key] = value }
            row["UpdateDate"] = .string(B1Clock.day(now))
            row["UpdateTime"] = .string(B1Clock.time(now))
            if let index { data.businessPartners[index] = row } else { data.businessPartners.append(row) }
            return index == nil
        }
    }

    /// Creates or changes a G/L account (clerk action), bumping `UpdateDate`/`UpdateTime`.
    @discardableResult
    package func upsertAccount(_ fields: SimJSONObject) throws(B1Error) -> Bool {
        guard let code = fields["Code"]?.stringValue, !code.isEmpty else {
            throw B1Error.field("Code undefined [OACT.AcctCode]")
        }
        let now = clock.now()
        return data.withLock { data in
            let index = data.chartOfAccounts.firstIndex { $0["Code"]?.stringValue == code }
            var row =
                index.map { data.chartOfAccounts[$0] }
                ?? SimJSONObject([
                    "Code": .string(code), "Name": .string(code), "FormatCode": .string(code),
                    "ActiveAccount": .string("tYES"), "AcctCurrency": .string("##"),
                    "AccountType": .string("at_Expenses"), "FrozenFor": .string("tNO"),
                ])
            for (key, value) in fields { row[key] = value }
            row["UpdateDate"] = .string(B1Clock.day(now))
            row["UpdateTime"] = .string(B1Clock.time(now))
            if let index { data.chartOfAccounts[index] = row } else { data.chartOfAccounts.append(row) }
            return index == nil
        }
    }

    /// Records a payment against an A/P invoice (the simulator's stand-in for `VendorPayments`): `PaidToDate` grows
    /// by `amount` (the open balance when nil), the invoice closes when fully paid, `UpdateDate`/`UpdateTime` move.
    /// - Returns: the invoice after the payment.
    @discardableResult
    package func pay(docEntry: Int, amount: Decimal? = nil) throws(B1Error) -> SimJSONObject {
        let now = clock.now()
        let result: Result<SimJSONObject, B1Error> = data.withLock { data in
            guard let index = data.purchaseInvoices.firstIndex(where: { $0["DocEntry"]?.intValue == docEntry }) else {
                return .failure(B1Error.noMatch)
            }
            var invoice = data.purchaseInvoices[index]
            let total = invoice["DocTotal"]?.decimalValue ?? 0
            let paid = invoice["PaidToDate"]?.decimalValue ?? 0
            let applied = amount ?? (total - paid)
            guard applied > 0, paid + applied <= total else {
                return .failure(B1Error.business("The amount applied exceeds the open balance of the document"))
            }
            invoice["PaidToDate"] = .decimal(paid + applied)
            if paid + applied == total { invoice["DocumentStatus"] = .string("bost_Close") }
            invoice["UpdateDate"] = .string(B1Clock.day(now))
            invoice["UpdateTime"] = .string(B1Clock.time(now))
            data.purchaseInvoices[index] = invoice
            return .success(invoice)
        }
        return try result.get()
    }

    // MARK: API reads

    func rows(_ set: B1EntitySet) -> [SimJSONObject] { data.withLock { $0[set] } }

    func find(_ set: B1EntitySet, key: String) throws(B1Error) -> SimJSONObject {
        let row = data.withLock { data in data.index(of: key, in: set).map { data[set][$0] } }
        guard let row else { throw B1Error.noMatch }
        return row
    }

    // MARK: API writes

    private func write<T>(_ body: (inout B1CompanyData) throws(B1Error) -> T) throws(B1Error) -> T {
        let result: Result<T, B1Error> = data.withLock { data in
            var copy = data
            do throws(B1Error) {
                let value = try body(&copy)
                data = copy
                return .success(value)
            } catch {
                return .failure(error)
            }
        }
        return try result.get()
    }

    /// `POST /BusinessPartners`.
    func createBusinessPartner(_ body: SimJSONObject) throws(B1Error) -> SimJSONObject {
        try Self.checkProperties(body, schema: B1Schemas.businessPartner)
        guard let code = body["CardCode"]?.stringValue, !code.isEmpty else {
            throw B1Error.field("Code undefined [OCRD.CardCode]")
        }
        guard code.count <= 50 else {
            throw B1Error.business("Value too long in property 'CardCode' of 'BusinessPartner'")
        }
        if let type = body["CardType"]?.stringValue, !["cSupplier", "cCustomer", "cLid"].contains(type) {
            throw B1Error.field("Enter valid value for property 'CardType' of 'BusinessPartner'")
        }
        let now = clock.now()
        return try write { data throws(B1Error) in
            guard data.businessPartner(code) == nil else {
                throw B1Error(
                    400, -2035,
                    "This entry already exists in the following tables: 'Business Partner' (OCRD) (ODBC -2035)")
            }
            var row = Self.businessPartner(
                code: code, name: "", type: "cCustomer", currency: data.localCurrency, now: now)
            for (key, value) in body { row[key] = value }
            row["CreateDate"] = .string(B1Clock.day(now))
            row["UpdateDate"] = .string(B1Clock.day(now))
            row["UpdateTime"] = .string(B1Clock.time(now))
            data.businessPartners.append(row)
            return row
        }
    }

    /// `PATCH /BusinessPartners('code')`.
    func patchBusinessPartner(_ code: String, _ body: SimJSONObject) throws(B1Error) {
        try Self.checkProperties(body, schema: B1Schemas.businessPartner)
        let now = clock.now()
        try write { data throws(B1Error) in
            guard let index = data.index(of: code, in: .businessPartners) else { throw B1Error.noMatch }
            if let newCode = body["CardCode"]?.stringValue, newCode != code {
                throw B1Error.business("Cannot change the code of an existing business partner [OCRD.CardCode]")
            }
            var row = data.businessPartners[index]
            for (key, value) in body { row[key] = value }
            row["UpdateDate"] = .string(B1Clock.day(now))
            row["UpdateTime"] = .string(B1Clock.time(now))
            data.businessPartners[index] = row
        }
    }

    /// `POST /PurchaseOrders`, `/PurchaseInvoices`, `/Drafts`.
    func createDocument(_ set: B1EntitySet, _ body: SimJSONObject) throws(B1Error) -> SimJSONObject {
        let now = clock.now()
        return try write { data throws(B1Error) in
            var document = try Self.buildDocument(set, body, data: &data, now: now)
            let numbers = data.takeNumbers(set)
            document["DocEntry"] = .int(numbers.docEntry)
            document["DocNum"] = .int(numbers.docNum)
            Self.order(&document)
            data[set].append(document)
            return document
        }
    }

    /// `PATCH /PurchaseOrders(n)`: header fields are replaced, `DocumentLines` merged by `LineNum` (lines without one
    /// are added), or replaced when `replaceLines` (`B1S-ReplaceCollectionsOnPatch: true`).
    func patchPurchaseOrder(_ key: String, _ body: SimJSONObject, replaceLines: Bool) throws(B1Error) {
        try Self.checkProperties(body, schema: B1Schemas.document)
        let now = clock.now()
        try write { data throws(B1Error) in
            guard let index = data.index(of: key, in: .purchaseOrders) else { throw B1Error.noMatch }
            let stored = data.purchaseOrders[index]
            guard stored["DocumentStatus"]?.stringValue == "bost_Open" else {
                throw B1Error.business("Document is already closed")
            }
            for field in ["DocEntry", "DocNum", "CardCode"] {
                if let value = body[field], !value.structurallyEquals(stored[field] ?? .null) {
                    throw B1Error.business("Cannot change the value of property '\(field)' of 'Document'")
                }
            }
            var merged = stored
            for (key, value) in body where key != "DocumentLines" { merged[key] = value }
            if let patchLines = body["DocumentLines"]?.arrayValue {
                var lines = replaceLines ? [] : (stored["DocumentLines"]?.arrayValue ?? [])
                for entry in patchLines {
                    guard let line = entry.objectValue else {
                        throw B1Error.query("DocumentLines must hold objects")
                    }
                    if !replaceLines, let lineNum = line["LineNum"]?.intValue,
                        let position = lines.firstIndex(where: { $0["LineNum"]?.intValue == lineNum }),
                        var existing = lines[position].objectValue
                    {
                        for (key, value) in line { existing[key] = value }
                        if line["LineTotal"] == nil, line["Quantity"] != nil || line["UnitPrice"] != nil {
                            existing["LineTotal"] = nil  // recomputed from the new quantity or price
                        }
                        lines[position] = .object(existing)
                    } else {
                        var fresh = line
                        fresh["LineNum"] = nil
                        lines.append(.object(fresh))
                    }
                }
                merged["DocumentLines"] = .array(lines)
            }
            // Re-validate the whole order as it would be stored; numbers and base links are kept.
            var input = merged
            for field in ["DocEntry", "DocNum", "DocTotal", "DocumentStatus", "UpdateDate", "UpdateTime", "CreateDate"]
            {
                input[field] = nil
            }
            var rebuilt = try Self.buildDocument(.purchaseOrders, input, data: &data, now: now, keepLineState: true)
            rebuilt["DocEntry"] = stored["DocEntry"]
            rebuilt["DocNum"] = stored["DocNum"]
            rebuilt["CreateDate"] = stored["CreateDate"]
            Self.order(&rebuilt)
            data.purchaseOrders[index] = rebuilt
        }
    }

    /// `POST /DraftsService_SaveDraftToDocument` `{"Document":{"DocEntry":n}}`: the draft becomes an A/P invoice
    /// (validated and linked like a `POST /PurchaseInvoices`); the draft is removed.
    func saveDraftToDocument(_ docEntry: Int) throws(B1Error) -> SimJSONObject {
        let now = clock.now()
        return try write { data throws(B1Error) in
            guard let index = data.drafts.firstIndex(where: { $0["DocEntry"]?.intValue == docEntry }) else {
                throw B1Error.noMatch
            }
            let draft = data.drafts[index]
            guard draft["DocObjectCode"]?.stringValue == "oPurchaseInvoices" else {
                throw B1Error.business("Only drafts of A/P invoices can be saved by this simulator")
            }
            var input = draft
            for field in [
                "DocEntry", "DocNum", "DocObjectCode", "DocTotal", "PaidToDate", "DocumentStatus", "Cancelled",
                "UpdateDate", "UpdateTime", "CreateDate", "CardName", "VatSum",
            ] {
                input[field] = nil
            }
            input["DocumentLines"] = .array(
                (draft["DocumentLines"]?.arrayValue ?? []).map { line in
                    guard var object = line.objectValue else { return line }
                    for field in ["LineNum", "RemainingOpenQuantity", "LineStatus"] { object[field] = nil }
                    return .object(object)
                })
            var document = try Self.buildDocument(.purchaseInvoices, input, data: &data, now: now)
            let numbers = data.takeNumbers(.purchaseInvoices)
            document["DocEntry"] = .int(numbers.docEntry)
            document["DocNum"] = .int(numbers.docNum)
            Self.order(&document)
            data.purchaseInvoices.append(document)
            data.drafts.remove(at: index)
            return document
        }
    }

    // MARK: Validation

    static func checkProperties(_ body: SimJSONObject, schema: B1Schema) throws(B1Error) {
        for (key, _) in body where !schema.knows(key) {
            throw B1Error.invalidProperty(key, of: schema.typeName)
        }
    }

    static func decimal(_ value: SimJSON?) -> Decimal? {
        guard let value else { return nil }
        if let number = value.decimalValue { return number }
        if let text = value.stringValue { return Decimal(string: text, locale: Locale(identifier: "en_US_POSIX")) }
        return nil
    }

    /// Puts the header fields in a stable order with `DocumentLines` last.
    static func order(_ document: inout SimJSONObject) {
        var ordered = SimJSONObject()
        for key in ["DocEntry", "DocNum"] { if let value = document[key] { ordered[key] = value } }
        for (key, value) in document where key != "DocumentLines" && ordered[key] == nil { ordered[key] = value }
        ordered["DocumentLines"] = document["DocumentLines"]
        document = ordered
    }

    /// Validates a document body and builds the stored row (without `DocEntry`/`DocNum`). For an invoice (or an
    /// invoice draft's later save) lines with `BaseType` 22 are checked against the purchase order and, for a real
    /// invoice, reduce its open quantities in `data` (the caller's copy). Drafts validate the same way but book
    /// nothing.
    static func buildDocument(
        _ set: B1EntitySet, _ body: SimJSONObject, data: inout B1CompanyData, now: Date, keepLineState: Bool = false
    ) throws(B1Error) -> SimJSONObject {
        try checkProperties(body, schema: B1Schemas.document)
        let (header, lineTable) = set.tables
        if set == .drafts {
            guard let code = body["DocObjectCode"]?.stringValue else {
                throw B1Error.field("Enter valid value for property 'DocObjectCode' of 'Document'")
            }
            guard code == "oPurchaseInvoices" else {
                throw B1Error.business("Drafts of '\(code)' are not supported by this simulator")
            }
        }
        guard let cardCode = body["CardCode"]?.stringValue, !cardCode.isEmpty,
            let partner = data.businessPartner(cardCode), partner["CardType"]?.stringValue == "cSupplier"
        else {
            throw B1Error.field("Invalid BP code [\(header).CardCode]")
        }
        if partner["Frozen"]?.stringValue == "tYES" || partner["Valid"]?.stringValue == "tNO" {
            throw B1Error.field("BP '\(cardCode)' is inactive [\(header).CardCode]")
        }
        if let number = body["NumAtCard"], !number.isNull {
            guard let text = number.stringValue else { throw B1Error.query("NumAtCard must be a string") }
            guard text.count <= 100 else {
                throw B1Error.business("Value too long in property 'NumAtCard' of 'Document'")
            }
        }
        if let comments = body["Comments"]?.stringValue, comments.count > 254 {
            throw B1Error.business("Value too long in property 'Comments' of 'Document'")
        }
        let docType = body["DocType"]?.stringValue ?? "dDocument_Items"
        guard ["dDocument_Items", "dDocument_Service"].contains(docType) else {
            throw B1Error.field("Enter valid value for property 'DocType' of 'Document'")
        }
        func day(_ field: String) throws(B1Error) -> String? {
            guard let value = body[field], !value.isNull else { return nil }
            guard let text = value.stringValue, let day = B1Clock.parseDay(text) else {
                throw B1Error.query("Invalid date value for property '\(field)' of 'Document'")
            }
            return day
        }
        let docDate = try day("DocDate") ?? B1Clock.day(now)
        let dueDate = try day("DocDueDate") ?? B1Clock.day(now.addingTimeInterval(30 * 86_400))
        let taxDate = try day("TaxDate") ?? docDate
        let partnerCurrency = partner["Currency"]?.stringValue ?? data.localCurrency
        let currency =
            body["DocCurrency"]?.stringValue ?? (partnerCurrency == "##" ? data.localCurrency : partnerCurrency)
        if partnerCurrency != "##", currency != partnerCurrency {
            throw B1Error.business("Currency '\(currency)' does not match the currency of BP '\(cardCode)'")
        }

        guard let lineValues = body["DocumentLines"]?.arrayValue, !lineValues.isEmpty else {
            throw B1Error.business("Cannot add document without rows [\(lineTable).LineNum]")
        }
        var lines: [SimJSON] = []
        var total: Decimal = 0
        var baseUpdates: [(order: Int, line: Int, quantity: Decimal)] = []
        for (position, value) in lineValues.enumerated() {
            guard var line = value.objectValue else { throw B1Error.query("DocumentLines must hold objects") }
            try checkProperties(line, schema: B1Schemas.line)
            let row = "[line: \(position + 1)]"
            // A line copied from a purchase order takes the order line's values where it gives none.
            if let baseTypeValue = line["BaseType"], !baseTypeValue.isNull,
                let baseType = baseTypeValue.intValue
                    ?? decimal(baseTypeValue).map({ NSDecimalNumber(decimal: $0).intValue }),
                baseType != -1
            {
                guard baseType == 22 else {
                    throw B1Error.business(
                        "Base document type \(baseType) is not supported [\(lineTable).BaseType]\(row)")
                }
                guard let baseEntry = line["BaseEntry"]?.intValue,
                    let orderIndex = data.purchaseOrders.firstIndex(where: { $0["DocEntry"]?.intValue == baseEntry })
                else {
                    throw B1Error.business("Base document does not exist [\(lineTable).BaseEntry]\(row)")
                }
                let order = data.purchaseOrders[orderIndex]
                guard order["CardCode"]?.stringValue == cardCode else {
                    throw B1Error.business("Base document card and target document card do not match.")
                }
                guard order["DocumentStatus"]?.stringValue == "bost_Open" else {
                    throw B1Error.business("Target document already closed or cancelled [\(lineTable).BaseEntry]\(row)")
                }
                let orderLines = order["DocumentLines"]?.arrayValue ?? []
                guard let baseLine = line["BaseLine"]?.intValue,
                    let orderLine = orderLines.first(where: { $0["LineNum"]?.intValue == baseLine })?.objectValue
                else {
                    throw B1Error.business("Base document line does not exist [\(lineTable).BaseLine]\(row)")
                }
                guard orderLine["LineStatus"]?.stringValue == "bost_Open" else {
                    throw B1Error.business("Base document line is already closed [\(lineTable).BaseLine]\(row)")
                }
                for field in [
                    "ItemCode", "ItemDescription", "AccountCode", "UnitPrice", "CostingCode", "CostingCode2",
                    "CostingCode3", "CostingCode4", "CostingCode5", "ProjectCode", "TaxCode",
                ] where line[field] == nil {
                    if let inherited = orderLine[field] { line[field] = inherited }
                }
                if line["Quantity"] == nil, line["LineTotal"] == nil {
                    line["Quantity"] = orderLine["RemainingOpenQuantity"] ?? orderLine["Quantity"]
                }
                line["BaseType"] = .int(22)
                let quantity = decimal(line["Quantity"]) ?? 1
                if set == .purchaseInvoices { baseUpdates.append((orderIndex, baseLine, quantity)) }
            }
            let item = line["ItemCode"]?.stringValue ?? ""
            let accountCode = line["AccountCode"]?.stringValue ?? ""
            if docType == "dDocument_Service" {
                guard !accountCode.isEmpty else {
                    throw B1Error.field("Specify G/L account [\(lineTable).AcctCode]\(row)")
                }
            } else if item.isEmpty {
                throw B1Error.field("Item no. is missing [\(lineTable).ItemCode]\(row)")
            }
            if !accountCode.isEmpty {
                guard let account = data.account(accountCode) else {
                    throw B1Error.field("Invalid account code [\(lineTable).AcctCode]\(row)")
                }
                guard account["ActiveAccount"]?.stringValue == "tYES" else {
                    throw B1Error.field("Title account cannot be selected [\(lineTable).AcctCode]\(row)")
                }
                guard account["ControlAccount"]?.stringValue != "tYES" else {
                    throw B1Error.field("Control account cannot be selected [\(lineTable).AcctCode]\(row)")
                }
                guard account["FrozenFor"]?.stringValue != "tYES" else {
                    throw B1Error.field("Account '\(accountCode)' is inactive [\(lineTable).AcctCode]\(row)")
                }
            }
            for (field, dimension) in B1Schemas.costingCodes {
                guard let code = line[field]?.stringValue, !code.isEmpty else { continue }
                guard let center = data.profitCenter(code), center["InWhichDimension"]?.intValue == dimension,
                    center["Active"]?.stringValue != "tNO"
                else {
                    let column = dimension == 1 ? "OcrCode" : "OcrCode\(dimension)"
                    throw B1Error.field("Invalid distribution rule '\(code)' [\(lineTable).\(column)]\(row)")
                }
            }
            let quantity = decimal(line["Quantity"]) ?? 1
            guard quantity >= 0 else {
                throw B1Error.field("Invalid quantity [\(lineTable).Quantity]\(row)")
            }
            let lineTotal: Decimal
            if let given = decimal(line["LineTotal"]) {
                lineTotal = given
                if line["UnitPrice"] == nil, quantity != 0 {
                    line["UnitPrice"] = .decimal((given / quantity).rounded(scale: 6))
                }
            } else {
                let price = decimal(line["UnitPrice"] ?? line["Price"]) ?? 0
                lineTotal = (quantity * price).rounded(scale: 2)
                line["UnitPrice"] = .decimal(price)
            }
            line["Quantity"] = .decimal(quantity)
            line["LineTotal"] = .decimal(lineTotal)
            line["Currency"] = .string(currency)
            line["LineNum"] = .int(position)
            if set == .purchaseOrders {
                if !keepLineState || line["RemainingOpenQuantity"] == nil {
                    line["RemainingOpenQuantity"] = .decimal(quantity)
                }
                if !keepLineState || line["LineStatus"] == nil {
                    line["LineStatus"] = .string("bost_Open")
                }
            } else {
                line["LineStatus"] = .string("bost_Open")
                line["RemainingOpenQuantity"] = .decimal(quantity)
            }
            total += lineTotal
            lines.append(.object(line))
        }

        for update in baseUpdates {
            var order = data.purchaseOrders[update.order]
            var orderLines = order["DocumentLines"]?.arrayValue ?? []
            if let position = orderLines.firstIndex(where: { $0["LineNum"]?.intValue == update.line }),
                var orderLine = orderLines[position].objectValue
            {
                let open = decimal(orderLine["RemainingOpenQuantity"]) ?? 0
                let remaining = max(0, open - update.quantity)
                orderLine["RemainingOpenQuantity"] = .decimal(remaining)
                if remaining == 0 { orderLine["LineStatus"] = .string("bost_Close") }
                orderLines[position] = .object(orderLine)
            }
            order["DocumentLines"] = .array(orderLines)
            if orderLines.allSatisfy({ $0["LineStatus"]?.stringValue == "bost_Close" }) {
                order["DocumentStatus"] = .string("bost_Close")
            }
            order["UpdateDate"] = .string(B1Clock.day(now))
            order["UpdateTime"] = .string(B1Clock.time(now))
            data.purchaseOrders[update.order] = order
        }

        var document = SimJSONObject()
        document["DocType"] = .string(docType)
        if set == .drafts { document["DocObjectCode"] = .string("oPurchaseInvoices") }
        document["DocDate"] = .string(docDate)
        document["DocDueDate"] = .string(dueDate)
        document["TaxDate"] = .string(taxDate)
        document["CardCode"] = .string(cardCode)
        document["CardName"] = partner["CardName"] ?? .string("")
        document["NumAtCard"] = body["NumAtCard"] ?? .null
        document["DocCurrency"] = .string(currency)
        document["DocTotal"] = .decimal(total)
        document["VatSum"] = .decimal(0)
        document["PaidToDate"] = .decimal(0)
        var status = "bost_Open"
        if keepLineState, !lines.isEmpty, lines.allSatisfy({ $0["LineStatus"]?.stringValue == "bost_Close" }) {
            status = "bost_Close"
        }
        document["DocumentStatus"] = .string(status)
        document["Cancelled"] = .string("tNO")
        document["Comments"] = body["Comments"] ?? .null
        for (key, value) in body where document[key] == nil && key != "DocumentLines" {
            if ["DocEntry", "DocNum", "DocTotal", "VatSum", "PaidToDate", "DocumentStatus", "Cancelled"].contains(key) {
                continue
            }
            document[key] = value
        }
        document["CreateDate"] = .string(B1Clock.day(now))
        document["UpdateDate"] = .string(B1Clock.day(now))
        document["UpdateTime"] = .string(B1Clock.time(now))
        document["DocumentLines"] = .array(lines)
        return document
    }
}
