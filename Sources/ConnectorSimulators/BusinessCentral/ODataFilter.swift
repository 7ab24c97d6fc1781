import Foundation

/// The EDM type of an entity property, as far as filtering, ordering and body validation need it.
enum ODataType: Sendable {
    case string
    case guid
    case date
    case dateTime
    case decimal
    case int
    case bool

    var edmName: String {
        switch self {
        case .string: return "Edm.String"
        case .guid: return "Edm.Guid"
        case .date: return "Edm.Date"
        case .dateTime: return "Edm.DateTimeOffset"
        case .decimal: return "Edm.Decimal"
        case .int: return "Edm.Int32"
        case .bool: return "Edm.Boolean"
        }
    }
}

/// A Business Central API error: HTTP status plus the `error.code` / `error.message` of the body.
package struct BCError: Error, Sendable, CustomStringConvertible {
    package var status: Int
    package var code: String
    package var message: String
    package var headers: [(name: String, value: String)] = []

    package init(_ status: Int, _ code: String, _ message: String, headers: [(name: String, value: String)] = []) {
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers
    }

    package var description: String { "HTTP \(status) \(code): \(message)" }

    /// A query-syntax error. Business Central reports these as `BadRequest_NotFound` (the `ODataNotFoundException`
    /// rows of `dynamics-error-codes.md`, e.g. "Expression expected at position 153 in '…'").
    static func syntax(_ message: String) -> BCError { BCError(400, "BadRequest_NotFound", message) }

    /// An invalid request body (`ODataBadRequestException`, code `BadRequest`).
    static func badBody(_ message: String) -> BCError { BCError(400, "BadRequest", message) }
}

/// A literal in a `$filter` expression.
enum ODataLiteral: Sendable, Equatable {
    case string(String)
    case number(Decimal, integral: Bool)
    case bool(Bool)
    case guid(String)
    case date(String)
    case dateTime(Date)
    case null

    var typeName: String {
        switch self {
        case .string: return "Edm.String"
        case .number(_, let integral): return integral ? "Edm.Int32" : "Edm.Decimal"
        case .bool: return "Edm.Boolean"
        case .guid: return "Edm.Guid"
        case .date: return "Edm.Date"
        case .dateTime: return "Edm.DateTimeOffset"
        case .null: return "null"
        }
    }
}

/// A comparison operator.
enum ODataComparison: String, Sendable {
    case eq, ne, gt, ge, lt, le

    /// The operator with its operands swapped (`5 lt x` is `x gt 5`).
    var mirrored: ODataComparison {
        switch self {
        case .eq, .ne: return self
        case .gt: return .lt
        case .ge: return .le
        case .lt: return .gt
        case .le: return .ge
        }
    }
}

/// A parsed, type-checked `$filter` expression.
indirect enum ODataFilter: Sendable {
    case and(ODataFilter, ODataFilter)
    case or(ODataFilter, ODataFilter)
    case not(ODataFilter)
    case compare(field: String, ODataComparison, ODataLiteral)
    case function(name: String, field: String, argument: String)
    case boolField(String)

    /// The fields the expression reads.
    var fields: Set<String> {
        switch self {
        case .and(let a, let b), .or(let a, let b): return a.fields.union(b.fields)
        case .not(let a): return a.fields
        case .compare(let field, _, _), .function(_, let field, _), .boolField(let field): return [field]
        }
    }

    /// The GUID values the expression requires `field` to equal at the top level of an `and` chain.
    func requiredEquality(on field: String) -> String? {
        switch self {
        case .compare(let name, .eq, .guid(let value)) where name == field: return value
        case .and(let a, let b): return a.requiredEquality(on: field) ?? b.requiredEquality(on: field)
        default: return nil
        }
    }

    /// Parses and type-checks `text` against an entity's properties.
    /// - Throws: ``BCError`` 400 for syntax errors, unknown properties, type mismatches, and `or` across two
    ///   different fields (Business Central cannot turn that into an AL filter).
    static func parse(_ text: String, schema: [String: ODataType], entityType: String) throws(BCError) -> ODataFilter {
        var parser = ODataFilterParser(text: text, schema: schema, entityType: entityType)
        try parser.tokenize()
        let expression = try parser.parseOr()
        guard parser.position == parser.tokens.count else {
            throw parser.syntaxError(at: parser.position, "Syntax error")
        }
        return expression
    }

    /// Evaluates the expression for one row; `value` returns the row's JSON value of a field.
    func matches(_ value: (String) -> SimJSON, schema: [String: ODataType]) -> Bool {
        switch self {
        case .and(let a, let b): return a.matches(value, schema: schema) && b.matches(value, schema: schema)
        case .or(let a, let b): return a.matches(value, schema: schema) || b.matches(value, schema: schema)
        case .not(let a): return !a.matches(value, schema: schema)
        case .boolField(let field): return value(field).boolValue == true
        case .function(let name, let field, let argument):
            guard let text = value(field).stringValue else { return false }
            switch name {
            case "startswith": return text.hasPrefix(argument)
            case "endswith": return text.hasSuffix(argument)
            default: return argument.isEmpty || text.contains(argument)
            }
        case .compare(let field, let op, let literal):
            let fieldValue = value(field)
            if case .null = literal {
                let isNull = fieldValue.isNull
                return op == .eq ? isNull : op == .ne ? !isNull : false
            }
            guard let order = ODataFilter.compare(fieldValue, literal, type: schema[field] ?? .string) else {
                return op == .ne
            }
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

    /// Orders a field value against a literal; nil when the value is null or unreadable.
    static func compare(_ value: SimJSON, _ literal: ODataLiteral, type: ODataType) -> ComparisonResult? {
        switch (type, literal) {
        case (.string, .string(let expected)):
            guard let actual = value.stringValue else { return nil }
            return order(actual.unicodeScalars.lexicographicallyPrecedes(expected.unicodeScalars), actual == expected)
        case (.guid, .guid(let expected)):
            guard let actual = value.stringValue?.lowercased() else { return nil }
            let wanted = expected.lowercased()
            return order(actual < wanted, actual == wanted)
        case (.decimal, .number(let expected, _)), (.int, .number(let expected, _)):
            guard let actual = value.decimalValue else { return nil }
            return order(actual < expected, actual == expected)
        case (.bool, .bool(let expected)):
            guard let actual = value.boolValue else { return nil }
            return order(!actual && expected, actual == expected)
        case (.date, .date(let expected)):
            guard let actual = value.stringValue else { return nil }
            return order(actual < expected, actual == expected)
        case (.dateTime, .dateTime(let expected)):
            guard let actual = value.stringValue.flatMap(Timestamps.parseInstant) else { return nil }
            return order(actual < expected, actual == expected)
        default:
            return nil
        }
    }

    private static func order(_ less: Bool, _ equal: Bool) -> ComparisonResult {
        equal ? .orderedSame : less ? .orderedAscending : .orderedDescending
    }
}

// MARK: Parser

private enum FilterToken: Equatable {
    case identifier(String)
    case literal(ODataLiteral)
    case openParen
    case closeParen
    case comma
}

private struct ODataFilterParser {
    let text: String
    let scalars: [Unicode.Scalar]
    let schema: [String: ODataType]
    let entityType: String
    var tokens: [(token: FilterToken, offset: Int)] = []
    var position = 0

    init(text: String, schema: [String: ODataType], entityType: String) {
        self.text = text
        self.scalars = Array(text.unicodeScalars)
        self.schema = schema
        self.entityType = entityType
    }

    func syntaxError(at tokenIndex: Int, _ what: String) -> BCError {
        let offset = tokenIndex < tokens.count ? tokens[tokenIndex].offset : scalars.count
        return .syntax("\(what) at position \(offset) in '\(text)'.")
    }

    // MARK: Tokens

    private static let guidPattern = try? NSRegularExpression(
        pattern: #"^[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}"#)
    private static let dateTimePattern = try? NSRegularExpression(
        pattern: #"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})"#)
    private static let datePattern = try? NSRegularExpression(pattern: #"^\d{4}-\d{2}-\d{2}"#)
    private static let numberPattern = try? NSRegularExpression(pattern: #"^-?\d+(\.\d+)?([eE][+-]?\d+)?"#)

    private func match(_ regex: NSRegularExpression?, at index: Int) -> String? {
        guard let regex else { return nil }
        let rest = String(String.UnicodeScalarView(scalars[index...]))
        guard let found = regex.firstMatch(in: rest, range: NSRange(rest.startIndex..., in: rest)),
            let range = Range(found.range, in: rest)
        else { return nil }
        let candidate = String(rest[range])
        // A literal must end at a token boundary.
        let end = index + candidate.unicodeScalars.count
        if end < scalars.count, Self.isIdentifierScalar(scalars[end]) { return nil }
        return candidate
    }

    private static func isIdentifierScalar(_ scalar: Unicode.Scalar) -> Bool {
        CharacterSet.alphanumerics.contains(scalar) || scalar == "_"
    }

    mutating func tokenize() throws(BCError) {
        var index = 0
        while index < scalars.count {
            let scalar = scalars[index]
            if scalar == " " || scalar == "\t" {
                index += 1
                continue
            }
            let start = index
            switch scalar {
            case "(":
                tokens.append((.openParen, start))
                index += 1
                continue
            case ")":
                tokens.append((.closeParen, start))
                index += 1
                continue
            case ",":
                tokens.append((.comma, start))
                index += 1
                continue
            case "'":
                // OData v4: a quote inside a string literal is written as two quotes.
                var value = String.UnicodeScalarView()
                index += 1
                var closed = false
                while index < scalars.count {
                    if scalars[index] == "'" {
                        if index + 1 < scalars.count, scalars[index + 1] == "'" {
                            value.append("'")
                            index += 2
                            continue
                        }
                        index += 1
                        closed = true
                        break
                    }
                    value.append(scalars[index])
                    index += 1
                }
                guard closed else {
                    throw BCError.syntax("There is an unterminated string literal at position \(start) in '\(text)'.")
                }
                tokens.append((.literal(.string(String(value))), start))
                continue
            default:
                break
            }
            if let guid = match(Self.guidPattern, at: index) {
                tokens.append((.literal(.guid(guid.lowercased())), start))
                index += guid.unicodeScalars.count
                continue
            }
            if let stamp = match(Self.dateTimePattern, at: index) {
                guard let date = Timestamps.parseInstant(stamp) else {
                    throw BCError.syntax(
                        "Unrecognized 'Edm.DateTimeOffset' literal '\(stamp)' at '\(start)' in '\(text)'.")
                }
                tokens.append((.literal(.dateTime(date)), start))
                index += stamp.unicodeScalars.count
                continue
            }
            if let day = match(Self.datePattern, at: index) {
                guard Timestamps.parseDay(day) != nil else {
                    throw BCError.syntax("Unrecognized 'Edm.Date' literal '\(day)' at '\(start)' in '\(text)'.")
                }
                tokens.append((.literal(.date(day)), start))
                index += day.unicodeScalars.count
                continue
            }
            if let number = match(Self.numberPattern, at: index),
                let value = Decimal(string: number, locale: Locale(identifier: "en_US_POSIX"))
            {
                let integral = !number.contains(".") && !number.lowercased().contains("e")
                tokens.append((.literal(.number(value, integral: integral)), start))
                index += number.unicodeScalars.count
                continue
            }
            if CharacterSet.letters.contains(scalar) || scalar == "_" {
                var name = String.UnicodeScalarView()
                while index < scalars.count, Self.isIdentifierScalar(scalars[index]) {
                    name.append(scalars[index])
                    index += 1
                }
                let word = String(name)
                switch word {
                case "true": tokens.append((.literal(.bool(true)), start))
                case "false": tokens.append((.literal(.bool(false)), start))
                case "null": tokens.append((.literal(.null), start))
                default: tokens.append((.identifier(word), start))
                }
                continue
            }
            throw BCError.syntax(
                "Syntax error: character '\(Character(scalar))' is not valid at position \(start) in '\(text)'.")
        }
    }

    // MARK: Grammar (or < and < not < comparison < primary)

    private func peekWord() -> String? {
        guard position < tokens.count, case .identifier(let word) = tokens[position].token else { return nil }
        return word
    }

    mutating func parseOr() throws(BCError) -> ODataFilter {
        var left = try parseAnd()
        while peekWord() == "or" {
            let operatorIndex = position
            position += 1
            let right = try parseAnd()
            let fields = left.fields.union(right.fields)
            if fields.count > 1 {
                // UNCONFIRMED code and wording: the docs only say that an error is reported.
                throw BCError(
                    400, "BadRequest",
                    "The 'or' at position \(tokens[operatorIndex].offset) combines different fields ("
                        + fields.sorted().joined(separator: ", ")
                        + "). Business Central can only apply 'or' to filters on the same field.")
            }
            left = .or(left, right)
        }
        return left
    }

    mutating func parseAnd() throws(BCError) -> ODataFilter {
        var left = try parseNot()
        while peekWord() == "and" {
            position += 1
            left = .and(left, try parseNot())
        }
        return left
    }

    mutating func parseNot() throws(BCError) -> ODataFilter {
        if peekWord() == "not" {
            position += 1
            return .not(try parseNot())
        }
        return try parseComparison()
    }

    private enum Operand {
        case field(String, offset: Int)
        case literal(ODataLiteral, offset: Int)
        case expression(ODataFilter)
        case function(ODataFilter)
    }

    mutating func parseComparison() throws(BCError) -> ODataFilter {
        let leftIndex = position
        let left = try parseOperand()
        if let word = peekWord(), let op = ODataComparison(rawValue: word) {
            position += 1
            let rightIndex = position
            let right = try parseOperand()
            switch (left, right) {
            case (.field(let field, _), .literal(let literal, let offset)):
                try checkType(field: field, literal: literal, offset: offset)
                return .compare(field: field, op, literal)
            case (.literal(let literal, let offset), .field(let field, _)):
                try checkType(field: field, literal: literal, offset: offset)
                return .compare(field: field, op.mirrored, literal)
            case (.field, .field):
                throw BCError.syntax(
                    "Comparing two properties is not supported at position \(tokens[rightIndex].offset) in '\(text)'.")
            default:
                throw syntaxError(at: leftIndex, "A comparison needs a property and a literal")
            }
        }
        switch left {
        case .expression(let filter), .function(let filter): return filter
        case .field(let field, let offset):
            guard schema[field] == .bool else {
                throw BCError.syntax(
                    "Expression of type '\(schema[field]?.edmName ?? "?")' at position \(offset) is not a boolean in '\(text)'."
                )
            }
            return .boolField(field)
        case .literal:
            throw syntaxError(at: leftIndex, "A literal cannot be a filter on its own")
        }
    }

    private mutating func parseOperand() throws(BCError) -> Operand {
        guard position < tokens.count else { throw syntaxError(at: position, "Expression expected") }
        let (token, offset) = tokens[position]
        switch token {
        case .openParen:
            position += 1
            let inner = try parseOr()
            guard position < tokens.count, tokens[position].token == .closeParen else {
                throw syntaxError(at: position, "')' or operator expected")
            }
            position += 1
            return .expression(inner)
        case .literal(let literal):
            position += 1
            return .literal(literal, offset: offset)
        case .identifier(let name):
            if ["and", "or", "not", "eq", "ne", "gt", "ge", "lt", "le"].contains(name) {
                throw syntaxError(at: position, "Expression expected")
            }
            position += 1
            if position < tokens.count, tokens[position].token == .openParen {
                return .function(try parseFunction(name, offset: offset))
            }
            guard schema[name] != nil else {
                throw BCError.syntax("Could not find a property named '\(name)' on type '\(entityType)'.")
            }
            return .field(name, offset: offset)
        case .closeParen, .comma:
            throw syntaxError(at: position, "Expression expected")
        }
    }

    private mutating func parseFunction(_ name: String, offset: Int) throws(BCError) -> ODataFilter {
        guard ["startswith", "endswith", "contains"].contains(name) else {
            throw BCError.syntax(
                "An unknown function with name '\(name)' was found at position \(offset) in '\(text)'.")
        }
        position += 1  // (
        guard position < tokens.count, case .identifier(let field) = tokens[position].token else {
            throw syntaxError(at: position, "The first argument of '\(name)' must be a property")
        }
        guard let type = schema[field] else {
            throw BCError.syntax("Could not find a property named '\(field)' on type '\(entityType)'.")
        }
        guard type == .string else {
            throw BCError.syntax(
                "No function signature for the function with name '\(name)' matches the specified arguments (\(type.edmName))."
            )
        }
        position += 1
        guard position < tokens.count, tokens[position].token == .comma else {
            throw syntaxError(at: position, "',' expected")
        }
        position += 1
        guard position < tokens.count, case .literal(.string(let argument)) = tokens[position].token else {
            throw syntaxError(at: position, "The second argument of '\(name)' must be a string literal")
        }
        position += 1
        guard position < tokens.count, tokens[position].token == .closeParen else {
            throw syntaxError(at: position, "')' expected")
        }
        position += 1
        return .function(name: name, field: field, argument: argument)
    }

    private func checkType(field: String, literal: ODataLiteral, offset: Int) throws(BCError) {
        guard let type = schema[field] else {
            throw BCError.syntax("Could not find a property named '\(field)' on type '\(entityType)'.")
        }
        let compatible: Bool
        switch (type, literal) {
        case (_, .null): compatible = true
        case (.string, .string), (.guid, .guid), (.bool, .bool), (.date, .date), (.dateTime, .dateTime):
            compatible = true
        case (.decimal, .number): compatible = true
        case (.int, .number(_, let integral)): compatible = integral
        default: compatible = false
        }
        guard compatible else {
            throw BCError.syntax(
                "A binary operator with incompatible types was detected. Found operand types '\(type.edmName)' and '\(literal.typeName)' for the comparison at position \(offset)."
            )
        }
    }
}
