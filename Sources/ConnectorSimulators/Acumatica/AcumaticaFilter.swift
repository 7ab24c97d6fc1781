import Foundation

/// An Acumatica API error: status, body and headers. Bodies follow the ASP.NET Web API shapes the contract-based
/// API answers with: `{"message":…}`, or `{"message":…,"exceptionMessage":…,"exceptionType":…}` for exceptions
/// raised by the business logic, or (422) the record echoed with per-field `error`s.
package struct AcuError: Error, Sendable, CustomStringConvertible {
    package var status: Int
    package var body: SimJSON
    package var headers: [(name: String, value: String)]

    init(status: Int, body: SimJSON, headers: [(name: String, value: String)] = []) {
        self.status = status
        self.body = body
        self.headers = headers
    }

    /// `{"message": message}`.
    static func message(_ status: Int, _ message: String, headers: [(name: String, value: String)] = []) -> AcuError {
        AcuError(status: status, body: .object(SimJSONObject(["message": .string(message)])), headers: headers)
    }

    /// `{"message":"An error has occurred.","exceptionMessage":…,"exceptionType":…,"stackTrace":""}`.
    static func exception(_ status: Int, _ message: String, type: String = "PX.Data.PXException") -> AcuError {
        AcuError(
            status: status,
            body: .object(
                SimJSONObject([
                    "message": .string("An error has occurred."),
                    "exceptionMessage": .string(message),
                    "exceptionType": .string(type),
                    "stackTrace": .string(""),
                ])))
    }

    package var description: String { "HTTP \(status) \(body.text)" }
}

/// What `$filter` conditions on detail fields (`Details/Account eq '…'`) do. The guide says only that filtering
/// on detail records is not supported and its results cannot be predicted (reference §3.5).
package enum AcuDetailFilterPolicy: String, Sendable {
    /// 400 with a message naming the detail field (the default: a client bug shows at once).
    case reject
    /// 500, as an unhandled server error.
    case serverError
    /// The condition is ignored (treated as true): "unpredictable" results.
    case ignore
}

/// A literal in an OData v3 `$filter`.
enum AcuLiteral: Sendable, Equatable {
    case string(String)
    case number(Decimal)
    case bool(Bool)
    case instant(Date)
    case null

    var typeName: String {
        switch self {
        case .string: return "Edm.String"
        case .number: return "Edm.Decimal"
        case .bool: return "Edm.Boolean"
        case .instant: return "Edm.DateTimeOffset"
        case .null: return "null"
        }
    }
}

enum AcuComparison: String, Sendable {
    case eq, ne, gt, ge, lt, le

    var mirrored: AcuComparison {
        switch self {
        case .eq, .ne: return self
        case .gt: return .lt
        case .ge: return .le
        case .lt: return .gt
        case .le: return .ge
        }
    }
}

/// A parsed OData v3 `$filter` (reference §3.5): `eq ne gt ge lt le`, `and or not`, parentheses, string literals
/// with `''` escaping, `datetimeoffset'…'`, `datetime'…'`, `date'…'`, numbers, `true`/`false`/`null`, and the
/// functions `substringof('x', F)`, `startswith(F, 'x')`, `endswith(F, 'x')`.
indirect enum AcuFilter: Sendable {
    case and(AcuFilter, AcuFilter)
    case or(AcuFilter, AcuFilter)
    case not(AcuFilter)
    case compare(field: String, AcuComparison, AcuLiteral)
    case function(name: String, field: String, argument: String)
    case boolField(String)
    /// A condition on a detail field under ``AcuDetailFilterPolicy/ignore``.
    case always

    /// Parses and type-checks `text` against a top-level entity.
    static func parse(
        _ text: String, schema: AcuEntitySchema, detailPolicy: AcuDetailFilterPolicy
    ) throws(AcuError) -> AcuFilter {
        var parser = AcuFilterParser(text: text, schema: schema, detailPolicy: detailPolicy)
        try parser.tokenize()
        let expression = try parser.parseOr()
        guard parser.position == parser.tokens.count else { throw parser.syntaxError("Syntax error") }
        return expression
    }

    func matches(_ record: AcuRecord, schema: AcuEntitySchema, caseInsensitive: Bool) -> Bool {
        switch self {
        case .always: return true
        case .and(let a, let b):
            return a.matches(record, schema: schema, caseInsensitive: caseInsensitive)
                && b.matches(record, schema: schema, caseInsensitive: caseInsensitive)
        case .or(let a, let b):
            return a.matches(record, schema: schema, caseInsensitive: caseInsensitive)
                || b.matches(record, schema: schema, caseInsensitive: caseInsensitive)
        case .not(let a): return !a.matches(record, schema: schema, caseInsensitive: caseInsensitive)
        case .boolField(let field): return record.bool(field) == true
        case .function(let name, let field, let argument):
            guard var text = record.string(field) else { return false }
            var wanted = argument
            if caseInsensitive {
                text = text.lowercased()
                wanted = wanted.lowercased()
            }
            switch name {
            case "startswith": return text.hasPrefix(wanted)
            case "endswith": return text.hasSuffix(wanted)
            default: return wanted.isEmpty || text.contains(wanted)
            }
        case .compare(let field, let op, let literal):
            let value = record[field]
            if case .null = literal {
                return op == .eq ? value == nil : op == .ne ? value != nil : false
            }
            guard let value,
                let order = Self.order(
                    value, literal, type: schema.type(of: field) ?? .string, caseInsensitive: caseInsensitive)
            else { return op == .ne }
            switch op {
            case .eq: return order == .orderedSame
            case .ne: return order != .orderedSame
            case .gt: return order == .orderedDescending
            case .ge: return order != .orderedAscending
            case .lt: return order == .orderedAscending
            case .le: return order != .orderedDescending
            }
        }
    }

    private static func order(
        _ value: SimJSON, _ literal: AcuLiteral, type: AcuFieldType, caseInsensitive: Bool
    ) -> ComparisonResult? {
        func result(_ less: Bool, _ equal: Bool) -> ComparisonResult {
            equal ? .orderedSame : less ? .orderedAscending : .orderedDescending
        }
        switch (type, literal) {
        case (.string, .string(let expected)):
            guard var actual = value.stringValue else { return nil }
            var wanted = expected
            if caseInsensitive {
                // SQL Server's default collation compares case-insensitively.
                actual = actual.lowercased()
                wanted = wanted.lowercased()
            }
            return result(actual.unicodeScalars.lexicographicallyPrecedes(wanted.unicodeScalars), actual == wanted)
        case (.decimal, .number(let expected)), (.int, .number(let expected)):
            guard let actual = value.decimalValue else { return nil }
            return result(actual < expected, actual == expected)
        case (.bool, .bool(let expected)):
            guard let actual = value.boolValue else { return nil }
            return result(!actual && expected, actual == expected)
        case (.dateTime, .instant(let expected)):
            guard let actual = value.stringValue.flatMap(AcuTime.parse) else { return nil }
            return result(actual < expected, actual == expected)
        default:
            return nil
        }
    }
}

private enum AcuToken: Equatable {
    case identifier(String)
    case literal(AcuLiteral)
    case open
    case close
    case comma
}

private struct AcuFilterParser {
    let text: String
    let scalars: [Unicode.Scalar]
    let schema: AcuEntitySchema
    let detailPolicy: AcuDetailFilterPolicy
    var tokens: [(token: AcuToken, offset: Int)] = []
    var position = 0

    init(text: String, schema: AcuEntitySchema, detailPolicy: AcuDetailFilterPolicy) {
        self.text = text
        self.scalars = Array(text.unicodeScalars)
        self.schema = schema
        self.detailPolicy = detailPolicy
    }

    func syntaxError(_ what: String) -> AcuError {
        let offset = position < tokens.count ? tokens[position].offset : scalars.count
        return .message(400, "\(what) at position \(offset) in $filter '\(text)'.")
    }

    private static func isDigit(_ scalar: Unicode.Scalar) -> Bool { (48...57).contains(scalar.value) }

    private static func isIdentifier(_ scalar: Unicode.Scalar) -> Bool {
        CharacterSet.alphanumerics.contains(scalar) || scalar == "_" || scalar == "/" || scalar == "."
    }

    /// Reads a quoted literal starting at `index` (on the opening quote); `''` is one quote.
    private func quoted(at start: Int) throws(AcuError) -> (String, Int) {
        var index = start + 1
        var value = String.UnicodeScalarView()
        while index < scalars.count {
            if scalars[index] == "'" {
                if index + 1 < scalars.count, scalars[index + 1] == "'" {
                    value.append("'")
                    index += 2
                    continue
                }
                return (String(value), index + 1)
            }
            value.append(scalars[index])
            index += 1
        }
        throw AcuError.message(400, "Unterminated string literal at position \(start) in $filter '\(text)'.")
    }

    mutating func tokenize() throws(AcuError) {
        var index = 0
        while index < scalars.count {
            let scalar = scalars[index]
            let start = index
            switch scalar {
            case " ", "\t":
                index += 1
                continue
            case "(":
                tokens.append((.open, start))
                index += 1
                continue
            case ")":
                tokens.append((.close, start))
                index += 1
                continue
            case ",":
                tokens.append((.comma, start))
                index += 1
                continue
            case "'":
                let (value, end) = try quoted(at: index)
                tokens.append((.literal(.string(value)), start))
                index = end
                continue
            default:
                break
            }
            if scalar == "-" || Self.isDigit(scalar) {
                var end = index + 1
                while end < scalars.count, Self.isDigit(scalars[end]) || scalars[end] == "." { end += 1 }
                var literal = String(String.UnicodeScalarView(scalars[index..<end]))
                // v3 type suffixes: 10m, 10M, 1.5d, 7L.
                if end < scalars.count, "mMdDfFlL".unicodeScalars.contains(scalars[end]) { end += 1 }
                if literal == "-" { literal = "" }
                guard let value = Decimal(string: literal, locale: Locale(identifier: "en_US_POSIX")) else {
                    throw AcuError.message(400, "Invalid number at position \(start) in $filter '\(text)'.")
                }
                tokens.append((.literal(.number(value)), start))
                index = end
                continue
            }
            guard CharacterSet.letters.contains(scalar) || scalar == "_" else {
                throw AcuError.message(
                    400, "Character '\(Character(scalar))' is not valid at position \(start) in $filter '\(text)'.")
            }
            var end = index
            while end < scalars.count, Self.isIdentifier(scalars[end]) { end += 1 }
            let word = String(String.UnicodeScalarView(scalars[index..<end]))
            index = end
            if index < scalars.count, scalars[index] == "'" {
                // A typed literal: datetimeoffset'…', datetime'…', date'…', guid'…'.
                let (value, after) = try quoted(at: index)
                index = after
                switch word.lowercased() {
                case "datetimeoffset", "datetime", "date":
                    guard let instant = AcuTime.parse(value) else {
                        throw AcuError.message(
                            400,
                            "The \(word) literal '\(value)' at position \(start) is not a valid date and time"
                                + " (URL-encode ':' and '+') in $filter '\(text)'.")
                    }
                    tokens.append((.literal(.instant(instant)), start))
                case "guid":
                    tokens.append((.literal(.string(value)), start))
                default:
                    throw AcuError.message(
                        400, "Unknown literal type '\(word)' at position \(start) in $filter '\(text)'.")
                }
                continue
            }
            switch word {
            case "true": tokens.append((.literal(.bool(true)), start))
            case "false": tokens.append((.literal(.bool(false)), start))
            case "null": tokens.append((.literal(.null), start))
            default: tokens.append((.identifier(word), start))
            }
        }
    }

    private func peekWord() -> String? {
        guard position < tokens.count, case .identifier(let word) = tokens[position].token else { return nil }
        return word
    }

    mutating func parseOr() throws(AcuError) -> AcuFilter {
        var left = try parseAnd()
        while peekWord() == "or" {
            position += 1
            left = .or(left, try parseAnd())
        }
        return left
    }

    mutating func parseAnd() throws(AcuError) -> AcuFilter {
        var left = try parseNot()
        while peekWord() == "and" {
            position += 1
            left = .and(left, try parseNot())
        }
        return left
    }

    mutating func parseNot() throws(AcuError) -> AcuFilter {
        if peekWord() == "not" {
            position += 1
            return .not(try parseNot())
        }
        return try parseComparison()
    }

    private enum Operand {
        case field(String)
        /// A field of a detail collection (`Details/Account`).
        case detailField(String)
        case literal(AcuLiteral)
        case filter(AcuFilter)
    }

    mutating func parseComparison() throws(AcuError) -> AcuFilter {
        let left = try parseOperand()
        if let word = peekWord(), let op = AcuComparison(rawValue: word) {
            position += 1
            let right = try parseOperand()
            switch (left, right) {
            case (.field(let field), .literal(let literal)):
                try check(field, literal)
                return .compare(field: field, op, literal)
            case (.literal(let literal), .field(let field)):
                try check(field, literal)
                return .compare(field: field, op.mirrored, literal)
            case (.detailField(let path), .literal), (.literal, .detailField(let path)):
                return try detailCondition(path)
            default:
                throw syntaxError("A comparison needs a field and a literal")
            }
        }
        switch left {
        case .filter(let filter): return filter
        case .field(let field):
            guard schema.type(of: field) == .bool else {
                throw syntaxError("The field '\(field)' is not a boolean condition")
            }
            return .boolField(field)
        case .detailField(let path): return try detailCondition(path)
        case .literal: throw syntaxError("A literal cannot be a condition on its own")
        }
    }

    private func detailCondition(_ path: String) throws(AcuError) -> AcuFilter {
        switch detailPolicy {
        case .ignore:
            return .always
        case .reject:
            // UNCONFIRMED wording: the guide only says that filtering on detail records is not supported.
            throw AcuError.message(
                400,
                "Filtering on detail entity fields is not supported: '\(path)' is a field of a detail entity of '\(schema.name)'."
            )
        case .serverError:
            throw AcuError.exception(
                500, "Filtering by the detail field '\(path)' is not supported.", type: "System.NotSupportedException")
        }
    }

    private mutating func parseOperand() throws(AcuError) -> Operand {
        guard position < tokens.count else { throw syntaxError("Expression expected") }
        let token = tokens[position].token
        switch token {
        case .open:
            position += 1
            let inner = try parseOr()
            guard position < tokens.count, tokens[position].token == .close else {
                throw syntaxError("')' or operator expected")
            }
            position += 1
            return .filter(inner)
        case .literal(let literal):
            position += 1
            return .literal(literal)
        case .identifier(let name):
            if ["and", "or", "not", "eq", "ne", "gt", "ge", "lt", "le"].contains(name) {
                throw syntaxError("Expression expected")
            }
            position += 1
            if position < tokens.count, tokens[position].token == .open {
                return .filter(try parseFunction(name))
            }
            return try fieldOperand(name)
        case .close, .comma:
            throw syntaxError("Expression expected")
        }
    }

    private func fieldOperand(_ name: String) throws(AcuError) -> Operand {
        if name.contains("/") {
            let head = String(name.split(separator: "/").first ?? "")
            if schema.detail(head) != nil { return .detailField(name) }
            throw AcuError.message(400, "The entity '\(schema.name)' has no linked entity named '\(head)'.")
        }
        guard schema.type(of: name) != nil else {
            // UNCONFIRMED wording for an unknown field.
            throw AcuError.message(400, "The entity '\(schema.name)' has no field named '\(name)'.")
        }
        return .field(name)
    }

    private mutating func parseFunction(_ name: String) throws(AcuError) -> AcuFilter {
        guard ["substringof", "startswith", "endswith"].contains(name) else {
            throw syntaxError("Unknown function '\(name)'")
        }
        position += 1  // (
        var arguments: [Operand] = []
        while true {
            arguments.append(try parseOperand())
            guard position < tokens.count else { throw syntaxError("')' expected") }
            if tokens[position].token == .comma {
                position += 1
                continue
            }
            guard tokens[position].token == .close else { throw syntaxError("')' expected") }
            position += 1
            break
        }
        guard arguments.count == 2 else { throw syntaxError("'\(name)' takes two arguments") }
        // substringof('text', Field); startswith(Field, 'text'); endswith(Field, 'text').
        let (fieldOperand, textOperand) =
            name == "substringof" ? (arguments[1], arguments[0]) : (arguments[0], arguments[1])
        guard case .literal(.string(let argument)) = textOperand else {
            throw syntaxError("'\(name)' needs a string literal")
        }
        switch fieldOperand {
        case .field(let field):
            guard schema.type(of: field) == .string else { throw syntaxError("'\(name)' needs a text field") }
            return .function(name: name, field: field, argument: argument)
        case .detailField(let path):
            return try detailCondition(path)
        default:
            throw syntaxError("'\(name)' needs a field")
        }
    }

    private func check(_ field: String, _ literal: AcuLiteral) throws(AcuError) {
        let type = schema.type(of: field) ?? .string
        let compatible: Bool
        switch (type, literal) {
        case (_, .null), (.string, .string), (.decimal, .number), (.int, .number), (.bool, .bool),
            (.dateTime, .instant):
            compatible = true
        default:
            compatible = false
        }
        guard compatible else {
            throw AcuError.message(
                400, "The field '\(field)' (\(type.name)) cannot be compared with a \(literal.typeName) literal.")
        }
    }
}
