import Foundation

/// One request against a published page of one company.
struct NAVRequestContext {
    let simulator: DynamicsNAVSimulator
    let request: SimRequest
    let path: NAVPath
    let company: String

    var store: NAVStore { simulator.store }

    func respond() throws(BCError) -> SimResponse {
        guard simulator.publishedServices.contains(path.service), let page = simulator.pages[path.service],
            !path.service.hasSuffix("PurchLines")
        else {
            throw BCError(404, "BadRequest_NotFound", "The requested resource '\(path.service)' was not found.")
        }
        if let navigation = path.navigation {
            guard page.containment?.name == navigation, let lines = simulator.pages[navigation] else {
                throw BCError(
                    404, "BadRequest_NotFound", "'\(navigation)' is not a navigation property of \(path.service).")
            }
            let parent = try self.key(page, path.key)
            guard try store.withCompany(company, { $0.row(page.table, parent) }) != nil else {
                throw BCError(404, "Internal_RecordNotFound", "The \(page.table) does not exist.")
            }
            let parentKey = path.key ?? [:]
            var fixed = lines.fixed
            fixed["Document_No"] = parentKey["No"] ?? ""
            return try dispatch(lines, key: path.navigationKey, fixed: fixed, parentKey: parent)
        }
        return try dispatch(page, key: path.key, fixed: page.fixed, parentKey: nil)
    }

    func dispatch(_ page: NAVPage, key: [String: String]?, fixed: [String: String], parentKey: String?)
        throws(BCError) -> SimResponse
    {
        switch (request.method, key) {
        case ("GET", nil): return try list(page, fixed: fixed)
        case ("GET", let key?):
            let row = try find(page, key, fixed: fixed)
            return .json(200, .object(representation(row, page: page)))
        case ("POST", nil):
            guard !page.readOnly else {
                throw BCError(
                    405, "BadRequest_MethodNotAllowed", "'Insert' is not allowed on the page \(page.entityType).")
            }
            let row = try insert(page, fixed: fixed, parentKey: parentKey)
            return .json(201, .object(representation(row, page: page)))
        case ("PATCH", let key?):
            guard !page.readOnly else {
                throw BCError(
                    405, "BadRequest_MethodNotAllowed", "'Modify' is not allowed on the page \(page.entityType).")
            }
            let row = try modify(page, key, fixed: fixed, parentKey: parentKey)
            return .json(200, .object(representation(row, page: page)))
        case ("DELETE", let key?):
            guard !page.readOnly else {
                throw BCError(
                    405, "BadRequest_MethodNotAllowed", "'Delete' is not allowed on the page \(page.entityType).")
            }
            try delete(page, key, fixed: fixed, parentKey: parentKey)
            return .empty(204)
        default:
            throw BCError(405, "BadRequest_MethodNotAllowed", "The method \(request.method) is not allowed here.")
        }
    }

    // MARK: Keys and representation

    /// The table key of a URL key: every key field named (or the only one unnamed), fixed fields as the page has them.
    func key(_ page: NAVPage, _ given: [String: String]?) throws(BCError) -> String {
        guard let given else { throw BCError(400, "BadRequest", "A key is required.") }
        var values: [String] = []
        for field in page.keys {
            guard let value = given[field] ?? (page.keys.count == 1 ? given[""] : nil) else {
                throw BCError(
                    400, "BadRequest_NotFound",
                    "The key of \(page.entityType) must name \(page.keys.joined(separator: ", ")).")
            }
            values.append(page.codeFields.contains(field) ? value.uppercased() : value)
        }
        return NAVStore.key(values)
    }

    func rowKey(_ page: NAVPage, _ fields: SimJSONObject) -> String {
        NAVStore.key(
            page.keys.map { field in
                if let number = fields[field]?.intValue { return String(number) }
                return fields[field]?.stringValue ?? ""
            })
    }

    func find(_ page: NAVPage, _ given: [String: String], fixed: [String: String]) throws(BCError) -> NAVRow {
        let key = try self.key(page, given)
        guard let row = try store.withCompany(company, { $0.row(page.table, key) }), matches(row, fixed) else {
            throw BCError(
                404, "Internal_RecordNotFound",
                "The \(page.table) does not exist. Identification fields and values: \(given.map { "\($0.key)='\($0.value)'" }.sorted().joined(separator: ","))"
            )
        }
        return row
    }

    func matches(_ row: NAVRow, _ fixed: [String: String]) -> Bool {
        fixed.allSatisfy { row.fields[$0.key]?.stringValue == $0.value }
    }

    static func etag(_ row: NAVRow, key: String) -> String {
        "W/\"JzE" + Data("\(row.version);\(key)".utf8).base64EncodedString() + "\""
    }

    func representation(_ row: NAVRow, page: NAVPage) -> SimJSONObject {
        var object = SimJSONObject()
        object["@odata.etag"] = .string(Self.etag(row, key: rowKey(page, row.fields)))
        for field in page.schema.keys.sorted() {
            let type = page.schema[field] ?? .string
            object[field] =
                row.fields[field]
                ?? {
                    switch type {
                    case .decimal, .int: return .int(0)
                    case .bool: return .bool(false)
                    case .date: return .string("0001-01-01")
                    default: return .string("")
                    }
                }()
        }
        return object
    }

    // MARK: Reads

    func list(_ page: NAVPage, fixed: [String: String]) throws(BCError) -> SimResponse {
        var filter: ODataFilter?
        if let text = request.queryValue("$filter") {
            filter = try ODataFilter.parse(text, schema: page.schema, entityType: page.entityType)
        }
        var rows = try store.withCompany(company) { $0.rows(page.table) }.filter { matches($0, fixed) }
        if let filter {
            rows = rows.filter { row in filter.matches({ row.fields[$0] ?? .null }, schema: page.schema) }
        }
        var order: [(field: String, ascending: Bool)] = []
        if let text = request.queryValue("$orderby") {
            for term in text.split(separator: ",") {
                let parts = term.split(separator: " ")
                let field = String(parts.first ?? "")
                guard page.schema[field] != nil else {
                    throw BCError(
                        400, "BadRequest_NotFound",
                        "Could not find a property named '\(field)' on type 'NAV.\(page.entityType)'.")
                }
                order.append((field, parts.count < 2 || parts[1].lowercased() == "asc"))
            }
        }
        order += page.keys.map { ($0, true) }
        rows.sort { a, b in
            for (field, ascending) in order {
                let result = ODataQueryOptions.compareValues(
                    a.fields[field] ?? .null, b.fields[field] ?? .null, type: page.schema[field] ?? .string)
                if result == .orderedSame { continue }
                return ascending ? result == .orderedAscending : result == .orderedDescending
            }
            return false
        }
        let skip = Int(request.queryValue("$skip") ?? "") ?? 0
        rows = Array(rows.dropFirst(skip))
        if let top = Int(request.queryValue("$top") ?? "") { rows = Array(rows.prefix(top)) }
        let token = request.queryValue("$skiptoken").flatMap(ODataQueryOptions.decodeSkipToken) ?? 0
        var size = simulator.configuration.maxPageSize
        if let prefer = request.header("Prefer"), let range = prefer.range(of: "odata.maxpagesize=") {
            size = min(size, Int(prefer[range.upperBound...].prefix { $0.isNumber }) ?? size)
        }
        let window = Array(rows.dropFirst(token).prefix(max(1, size)))
        var object = SimJSONObject()
        object["@odata.context"] = .string("$metadata#\(path.service)")
        object["value"] = .array(window.map { .object(representation($0, page: page)) })
        if token + window.count < rows.count {
            let others = request.query.filter { $0.name != "$skiptoken" }
            var pairs = others.map { ($0.name, $0.value) }
            pairs.append(("$skiptoken", ODataQueryOptions.encodeSkipToken(token + window.count)))
            let query = pairs.map { name, value in
                "\(Self.escape(name, keepDollar: true))=\(Self.escape(value, keepDollar: false))"
            }.joined(separator: "&")
            object["@odata.nextLink"] = .string("http://\(request.authority ?? "127.0.0.1")\(request.rawPath)?\(query)")
        }
        return .json(200, .object(object))
    }

    static func escape(_ text: String, keepDollar: Bool) -> String {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~" + (keepDollar ? "$" : ""))
        return text.addingPercentEncoding(withAllowedCharacters: allowed) ?? text
    }

    // MARK: Writes

    func body(_ page: NAVPage) throws(BCError) -> SimJSONObject {
        guard let json = try? request.jsonBody(), let object = json.objectValue else {
            throw BCError(400, "BadRequest", "Invalid Request Body")
        }
        var result = SimJSONObject()
        for (field, value) in object {
            if field.hasPrefix("@odata.") { continue }
            guard let type = page.schema[field] else {
                throw BCError(
                    400, "BadRequest", "The property '\(field)' does not exist on type 'NAV.\(page.entityType)'.")
            }
            guard !page.computed.contains(field) else {
                throw BCError(400, "BadRequest", "The property '\(field)' cannot be modified.")
            }
            switch (type, value) {
            case (.string, .string(let text)), (.date, .string(let text)):
                result[field] = .string(page.codeFields.contains(field) ? text.uppercased() : text)
            case (.decimal, .number), (.int, .number), (.bool, .bool): result[field] = value
            default:
                throw BCError(400, "BadRequest", "Invalid Request Body: \(field) is not a \(type.edmName).")
            }
        }
        return result
    }

    func insert(_ page: NAVPage, fixed: [String: String], parentKey: String?) throws(BCError) -> NAVRow {
        var fields = try body(page)
        for (field, value) in fixed {
            if let given = fields[field]?.stringValue, given != value {
                throw BCError(400, "BadRequest", "\(field) must be \(value) on \(page.entityType).")
            }
            fields[field] = .string(value)
        }
        let today = Timestamps.day(simulator.clock.now())
        let page = page
        return try store.withCompany(company) { (data: inout NAVCompany) throws(BCError) -> NAVRow in
            switch page.table {
            case "Purchase Header":
                let type = fields["Document_Type"]?.stringValue ?? ""
                let number: String
                if type == "Invoice" {
                    number = String(data.nextInvoice)
                    data.nextInvoice += 1
                } else {
                    number = String(data.nextOrder)
                    data.nextOrder += 1
                }
                fields["No"] = .string(number)
                try Self.validateHeader(&fields, data: data)
                fields["Status"] = .string("Open")
                if fields["Posting_Date"] == nil { fields["Posting_Date"] = .string(today) }
            case "Purchase Line":
                let document = fields["Document_No"]?.stringValue ?? ""
                if fields["Line_No"] == nil {
                    let last =
                        data.rows(page.table).filter {
                            $0.fields["Document_No"]?.stringValue == document && matches($0, fixed)
                        }.compactMap { $0.fields["Line_No"]?.intValue }.max() ?? 0
                    fields["Line_No"] = .int(last + 10_000)
                }
                try Self.validateLine(&fields, data: data)
            case "Gen. Journal Line":
                try Self.validateJournalLine(&fields, data: data)
            case "Vendor":
                guard let number = fields["No"]?.stringValue, !number.isEmpty, number.count <= 20 else {
                    throw BCError(
                        400, "Application_DialogException", "No. must have a value in Vendor (at most 20 characters).")
                }
                try Self.validateVendor(fields, data: data)
                if fields["Blocked"] == nil { fields["Blocked"] = .string(" ") }
                fields["Last_Date_Modified"] = .string(today)
            default: break
            }
            let key = rowKey(page, fields)
            if data.row(page.table, key) != nil {
                throw BCError(
                    400, "Internal_EntityWithSameKeyExists",
                    "The record in table \(page.table) already exists. Identification fields and values: \(page.keys.map { "\($0)='\(fields[$0]?.stringValue ?? fields[$0]?.intValue.map(String.init) ?? "")'" }.joined(separator: ","))"
                )
            }
            data.put(page.table, key, fields)
            if let parentKey { Self.touch(&data, parentKey: parentKey) }
            return data.row(page.table, key)!
        }
    }

    /// A change to lines changes the header's FlowFields, so the header's ETag moves (reference §3.6).
    static func touch(_ data: inout NAVCompany, parentKey: String) {
        guard var header = data.row("Purchase Header", parentKey) else { return }
        let lines = data.rows("Purchase Line").filter {
            NAVStore.key([$0.fields["Document_Type"]?.stringValue ?? "", $0.fields["Document_No"]?.stringValue ?? ""])
                == parentKey
        }
        header.fields["Amount"] = .decimal(lines.reduce(0) { $0 + ($1.fields["Line_Amount"]?.decimalValue ?? 0) })
        data.put("Purchase Header", parentKey, header.fields)
    }

    func modify(_ page: NAVPage, _ given: [String: String], fixed: [String: String], parentKey: String?)
        throws(BCError) -> NAVRow
    {
        let changes = try body(page)
        let key = try self.key(page, given)
        let ifMatch = request.header("If-Match")
        let today = Timestamps.day(simulator.clock.now())
        let page = page
        return try store.withCompany(company) { (data: inout NAVCompany) throws(BCError) -> NAVRow in
            guard let row = data.row(page.table, key), matches(row, fixed) else {
                throw BCError(404, "Internal_RecordNotFound", "The \(page.table) does not exist.")
            }
            guard let ifMatch else {
                throw BCError(
                    400, "BadRequest",
                    "Could not validate the client concurrency token required by the service. Please provide a valid token in the client request."
                )
            }
            guard ifMatch == "*" || ifMatch == Self.etag(row, key: key) else {
                throw BCError(412, "Request_EntityChanged", "Another user has already changed the record.")
            }
            var fields = row.fields
            for (field, value) in changes {
                if page.keys.contains(field), fields[field] != value {
                    throw BCError(400, "BadRequest", "The key field \(field) cannot be changed.")
                }
                fields[field] = value
            }
            switch page.table {
            case "Purchase Header": try Self.validateHeader(&fields, data: data)
            case "Purchase Line": try Self.validateLine(&fields, data: data)
            case "Gen. Journal Line": try Self.validateJournalLine(&fields, data: data)
            case "Vendor":
                try Self.validateVendor(fields, data: data)
                fields["Last_Date_Modified"] = .string(today)
            default: break
            }
            data.put(page.table, key, fields)
            if let parentKey { Self.touch(&data, parentKey: parentKey) }
            return data.row(page.table, key)!
        }
    }

    func delete(_ page: NAVPage, _ given: [String: String], fixed: [String: String], parentKey: String?)
        throws(BCError)
    {
        let key = try self.key(page, given)
        let ifMatch = request.header("If-Match")
        let page = page
        try store.withCompany(company) { (data: inout NAVCompany) throws(BCError) in
            guard let row = data.row(page.table, key), matches(row, fixed) else {
                throw BCError(404, "Internal_RecordNotFound", "The \(page.table) does not exist.")
            }
            guard let ifMatch, ifMatch == "*" || ifMatch == Self.etag(row, key: key) else {
                throw BCError(412, "Request_EntityChanged", "Another user has already changed the record.")
            }
            data.tables[page.table]?[key] = nil
            if page.table == "Purchase Header" {
                // Purchase Header's OnDelete deletes its lines.
                for (lineKey, line) in data.tables["Purchase Line"] ?? [:]
                where NAVStore.key([
                    line.fields["Document_Type"]?.stringValue ?? "", line.fields["Document_No"]?.stringValue ?? "",
                ]) == key {
                    data.tables["Purchase Line"]?[lineKey] = nil
                }
            }
            if let parentKey { Self.touch(&data, parentKey: parentKey) }
        }
    }

    // MARK: Page validation (the page's triggers)

    static func validateVendor(_ fields: SimJSONObject, data: NAVCompany) throws(BCError) {
        if let blocked = fields["Blocked"]?.stringValue, ![" ", "", "Payment", "All"].contains(blocked) {
            throw BCError(400, "BadRequest", "'\(blocked)' is not a valid option. Valid options are: ' ',Payment,All")
        }
        if let parent = fields["Parent_Vendor_No"]?.stringValue, !parent.isEmpty {
            guard data.row("Vendor", parent) != nil else {
                throw BCError(
                    400, "Internal_InvalidTableRelation",
                    "The field Parent Vendor No. of table Vendor contains a value (\(parent)) that cannot be found in the related table (Vendor)."
                )
            }
        }
    }

    static func validateHeader(_ fields: inout SimJSONObject, data: NAVCompany) throws(BCError) {
        let vendorNumber = fields["Buy_from_Vendor_No"]?.stringValue ?? ""
        guard let vendor = data.row("Vendor", vendorNumber) else {
            throw BCError(
                400, "Internal_RecordNotFound",
                "The Vendor does not exist. Identification fields and values: No.='\(vendorNumber)'")
        }
        if vendor.fields["Blocked"]?.stringValue == "All" {
            throw BCError(
                400, "Application_DialogException",
                "You cannot create this type of document when Vendor \(vendorNumber) is blocked with type All")
        }
        if (fields["Vendor_Invoice_No"]?.stringValue?.count ?? 0) > 35 {
            throw BCError(
                400, "Application_StringExceededLength",
                "The length of the string is \(fields["Vendor_Invoice_No"]?.stringValue?.count ?? 0), but it must be less than or equal to 35 characters."
            )
        }
        if (fields["Your_Reference"]?.stringValue?.count ?? 0) > 35 {
            throw BCError(400, "Application_StringExceededLength", "Your Reference must be at most 35 characters.")
        }
        fields["Buy_from_Vendor_Name"] = vendor.fields["Name"] ?? .string("")
    }

    static func validateAccount(_ number: String, data: NAVCompany) throws(BCError) {
        guard let account = data.row("G/L Account", number) else {
            throw BCError(
                400, "Internal_RecordNotFound",
                "The G/L Account does not exist. Identification fields and values: No.='\(number)'")
        }
        if account.fields["Account_Type"]?.stringValue != "Posting" {
            throw BCError(
                400, "Application_DialogException",
                "Account Type must be equal to 'Posting'  in G/L Account: No.=\(number).")
        }
        if account.fields["Blocked"]?.boolValue == true {
            throw BCError(
                400, "Application_DialogException", "Blocked must be equal to 'No'  in G/L Account: No.=\(number).")
        }
        if account.fields["Direct_Posting"]?.boolValue != true {
            throw BCError(
                400, "Application_DialogException",
                "Direct Posting must be equal to 'Yes'  in G/L Account: No.=\(number).")
        }
    }

    static func validateDimensions(_ fields: SimJSONObject, data: NAVCompany) throws(BCError) {
        for (field, dimension) in data.shortcutDimensions {
            guard let value = fields[field]?.stringValue, !value.isEmpty else { continue }
            guard let row = data.row("Dimension Value", NAVStore.key([dimension, value])) else {
                throw BCError(
                    400, "Application_DialogException",
                    "The dimension value \(value) has not been set up for dimension \(dimension).")
            }
            if row.fields["Blocked"]?.boolValue == true {
                throw BCError(400, "Application_DialogException", "Dimension Value \(dimension) - \(value) is blocked.")
            }
        }
    }

    static func validateLine(_ fields: inout SimJSONObject, data: NAVCompany) throws(BCError) {
        let type = fields["Type"]?.stringValue ?? ""
        guard type == "G/L Account" else {
            throw BCError(
                400, "BadRequest", "'\(type)' is not a valid option for Type here. Valid options are: G/L Account")
        }
        try validateAccount(fields["No"]?.stringValue ?? "", data: data)
        try validateDimensions(fields, data: data)
        if (fields["Description"]?.stringValue?.count ?? 0) > 50 {
            throw BCError(400, "Application_StringExceededLength", "Description must be at most 50 characters.")
        }
        let amount = (fields["Quantity"]?.decimalValue ?? 0) * (fields["Direct_Unit_Cost"]?.decimalValue ?? 0)
        fields["Line_Amount"] = .decimal(amount.rounded(scale: 2))
    }

    static func validateJournalLine(_ fields: inout SimJSONObject, data: NAVCompany) throws(BCError) {
        let batch =
            "\(fields["Journal_Template_Name"]?.stringValue ?? "")/\(fields["Journal_Batch_Name"]?.stringValue ?? "")"
        guard data.journalBatches.contains(batch) else {
            throw BCError(
                400, "Internal_RecordNotFound",
                "The Gen. Journal Batch does not exist. Identification fields and values: \(batch)")
        }
        let account = fields["Account_No"]?.stringValue ?? ""
        switch fields["Account_Type"]?.stringValue ?? "" {
        case "G/L Account": try validateAccount(account, data: data)
        case "Vendor":
            guard let vendor = data.row("Vendor", account) else {
                throw BCError(
                    400, "Internal_RecordNotFound",
                    "The Vendor does not exist. Identification fields and values: No.='\(account)'")
            }
            if vendor.fields["Blocked"]?.stringValue == "All" {
                throw BCError(400, "Application_DialogException", "Vendor \(account) is blocked with type All")
            }
        case let other:
            throw BCError(
                400, "BadRequest",
                "'\(other)' is not a valid option. Valid options are: G/L Account,Customer,Vendor,Bank Account,Fixed Asset,IC Partner,Employee"
            )
        }
        try validateDimensions(fields, data: data)
        if (fields["Description"]?.stringValue?.count ?? 0) > 50 {
            throw BCError(400, "Application_StringExceededLength", "Description must be at most 50 characters.")
        }
    }
}
