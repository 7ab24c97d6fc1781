import Foundation

/// The OData system query options of one request, parsed and checked against the addressed entity type.
struct ODataQueryOptions {
    /// Business Central online's fixed maximum page size.
    static let maxPageSize = 20_000
    static let supported: Set<String> = [
        "$filter", "$select", "$orderby", "$top", "$skip", "$expand", "$count", "$skiptoken", "$schemaversion",
        "$format",
    ]

    var filter: ODataFilter?
    var select: Set<String>?
    var orderBy: [(field: String, ascending: Bool)] = []
    var top: Int?
    var skip = 0
    var expand: [ExpandItem] = []
    var count = false
    var skipToken = 0

    /// Parses the options in `request` for entity type `entity`.
    static func parse(_ request: SimRequest, entity: any BCEntity.Type) throws(BCError) -> ODataQueryOptions {
        var options = ODataQueryOptions()
        for (name, _) in request.query where name.hasPrefix("$") && !supported.contains(name) {
            throw BCError.badBody("The query parameter '\(name)' is not supported.")
        }
        let schema = entity.schema
        if let text = request.queryValue("$filter"), !text.trimmingCharacters(in: .whitespaces).isEmpty {
            options.filter = try ODataFilter.parse(text, schema: schema, entityType: entity.entityType)
        }
        if let text = request.queryValue("$select"), !text.isEmpty {
            var fields = Set<String>()
            for raw in text.split(separator: ",") {
                let field = raw.trimmingCharacters(in: .whitespaces)
                guard schema[field] != nil || entity.navigations.contains(field) else {
                    throw BCError.syntax("Could not find a property named '\(field)' on type '\(entity.entityType)'.")
                }
                fields.insert(field)
            }
            options.select = fields
        }
        if let text = request.queryValue("$orderby"), !text.isEmpty {
            for raw in text.split(separator: ",") {
                let parts = raw.split(separator: " ", omittingEmptySubsequences: true).map(String.init)
                guard let field = parts.first, parts.count <= 2 else {
                    throw BCError.syntax("Syntax error in $orderby '\(text)'.")
                }
                guard schema[field] != nil else {
                    throw BCError.syntax("Could not find a property named '\(field)' on type '\(entity.entityType)'.")
                }
                var ascending = true
                if parts.count == 2 {
                    switch parts[1] {
                    case "asc": ascending = true
                    case "desc": ascending = false
                    default: throw BCError.syntax("Syntax error in $orderby '\(text)': expected 'asc' or 'desc'.")
                    }
                }
                options.orderBy.append((field, ascending))
            }
        }
        func nonNegative(_ name: String) throws(BCError) -> Int? {
            guard let text = request.queryValue(name) else { return nil }
            guard let value = Int(text), value >= 0 else {
                throw BCError.badBody("Invalid value '\(text)' for \(name): it must be a non-negative integer.")
            }
            return value
        }
        options.top = try nonNegative("$top")
        options.skip = try nonNegative("$skip") ?? 0
        if let text = request.queryValue("$count") {
            guard text == "true" || text == "false" else {
                throw BCError.badBody("Invalid value '\(text)' for $count: it must be true or false.")
            }
            options.count = text == "true"
        }
        if let text = request.queryValue("$expand"), !text.isEmpty {
            options.expand = try parseExpand(text, entity: entity)
        }
        if let token = request.queryValue("$skiptoken") {
            guard let offset = decodeSkipToken(token) else {
                throw BCError.badBody("The $skiptoken '\(token)' is not valid.")
            }
            options.skipToken = offset
        }
        return options
    }

    /// The entity type a navigation property leads to.
    static func target(of navigation: String) -> (any BCEntity.Type)? {
        switch navigation {
        case "purchaseInvoiceLines": return BCPurchaseInvoiceLine.self
        case "dimensionSetLines": return BCDimensionSetLine.self
        case "dimensionValues": return BCDimensionValue.self
        default: return nil
        }
    }

    static func parseExpand(_ text: String, entity: any BCEntity.Type) throws(BCError) -> [ExpandItem] {
        var items: [ExpandItem] = []
        for part in splitTopLevel(text, separator: ",") {
            let trimmed = part.trimmingCharacters(in: .whitespaces)
            var name = trimmed
            var nested: [ExpandItem] = []
            if let open = trimmed.firstIndex(of: "(") {
                guard trimmed.hasSuffix(")") else { throw BCError.syntax("Syntax error in $expand '\(text)'.") }
                name = String(trimmed[..<open])
                let inner = String(trimmed[trimmed.index(after: open)..<trimmed.index(before: trimmed.endIndex)])
                for option in splitTopLevel(inner, separator: ";") {
                    let pieces = option.split(separator: "=", maxSplits: 1).map(String.init)
                    guard pieces.count == 2, pieces[0].trimmingCharacters(in: .whitespaces) == "$expand",
                        let target = target(of: name)
                    else {
                        throw BCError.badBody(
                            "Only a nested $expand is supported inside $expand by this simulator: '\(option)'.")
                    }
                    nested = try parseExpand(pieces[1], entity: target)
                }
            }
            guard entity.navigations.contains(name) else {
                throw BCError.syntax("Could not find a property named '\(name)' on type '\(entity.entityType)'.")
            }
            items.append(ExpandItem(navigation: name, nested: nested))
        }
        return items
    }

    private static func splitTopLevel(_ text: String, separator: Character) -> [String] {
        var parts: [String] = []
        var depth = 0
        var current = ""
        for character in text {
            if character == "(" { depth += 1 }
            if character == ")" { depth -= 1 }
            if character == separator, depth == 0 {
                parts.append(current)
                current = ""
            } else {
                current.append(character)
            }
        }
        if !current.isEmpty { parts.append(current) }
        return parts
    }

    static func encodeSkipToken(_ offset: Int) -> String {
        let raw = Data("sim-skip:\(offset)".utf8).base64EncodedString()
        return raw.replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    static func decodeSkipToken(_ token: String) -> Int? {
        var base64 = token.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while base64.count % 4 != 0 { base64 += "=" }
        guard let data = Data(base64Encoded: base64), let text = String(data: data, encoding: .utf8),
            text.hasPrefix("sim-skip:"), let offset = Int(text.dropFirst(9)), offset >= 0
        else { return nil }
        return offset
    }

    /// Orders two rows by `$orderby` (or the entity's key), then by `id` for a stable order.
    static func sorted(
        _ rows: [any BCEntity], by orderBy: [(field: String, ascending: Bool)], entity: any BCEntity.Type
    )
        -> [any BCEntity]
    {
        let keys = orderBy.isEmpty ? entity.defaultOrder.map { ($0, true) } : orderBy
        let schema = entity.schema
        return rows.sorted { a, b in
            for (field, ascending) in keys {
                let order = compareValues(a.value(field), b.value(field), type: schema[field] ?? .string)
                if order == .orderedSame { continue }
                return ascending ? order == .orderedAscending : order == .orderedDescending
            }
            return a.id < b.id
        }
    }

    static func compareValues(_ a: SimJSON, _ b: SimJSON, type: ODataType) -> ComparisonResult {
        switch (a.isNull, b.isNull) {
        case (true, true): return .orderedSame
        case (true, false): return .orderedAscending
        case (false, true): return .orderedDescending
        default: break
        }
        func order<T: Comparable>(_ x: T, _ y: T) -> ComparisonResult {
            x == y ? .orderedSame : x < y ? .orderedAscending : .orderedDescending
        }
        switch type {
        case .decimal, .int: return order(a.decimalValue ?? 0, b.decimalValue ?? 0)
        case .bool: return order(a.boolValue == true ? 1 : 0, b.boolValue == true ? 1 : 0)
        case .dateTime:
            let x = a.stringValue.flatMap(Timestamps.parseInstant) ?? .distantPast
            let y = b.stringValue.flatMap(Timestamps.parseInstant) ?? .distantPast
            return order(x, y)
        case .guid: return order(a.stringValue?.lowercased() ?? "", b.stringValue?.lowercased() ?? "")
        case .string, .date: return order(a.stringValue ?? "", b.stringValue ?? "")
        }
    }
}
