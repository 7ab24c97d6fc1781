import Foundation

/// The type of a Service Layer property, as far as filtering, ordering and output need it.
enum B1FieldType: Sendable {
    case string
    /// A `BoYesNoEnum`, `BoCardTypes`, `BoStatus` … member written as its name (`tYES`, `cSupplier`, `bost_Open`).
    case enumeration
    case int
    case decimal
    /// A calendar date, stored `YYYY-MM-DD` and written `YYYY-MM-DDT00:00:00Z`; filters compare the day.
    case date
    /// A time of day `HH:MM:SS` (`UpdateTime`).
    case time
    /// A collection of objects (`DocumentLines`).
    case collection
}

/// The properties of one entity type.
struct B1Schema: Sendable {
    /// `BusinessPartner`, `Document`, … (named in "Property 'X' of 'Document' is invalid").
    var typeName: String
    var fields: [String: B1FieldType]
    /// Whether `U_*` user-defined fields are accepted (stored as given).
    var allowsUDFs: Bool

    func type(of field: String) -> B1FieldType? {
        if let type = fields[field] { return type }
        if allowsUDFs, field.hasPrefix("U_") { return .string }
        return nil
    }

    func knows(_ field: String) -> Bool { type(of: field) != nil }
}

/// A literal in a `$filter`.
enum B1Literal: Sendable, Equatable {
    case string(String)
    case number(Decimal)
    case bool(Bool)
    case null
}

/// A parsed `$filter` (`eq ne gt ge lt le`, `and`, `or`, `not`, parentheses, `startswith`, `endswith`, `contains`,
/// `substringof`). String literals use OData's quote doubling (`'O''Neil'`).
indirect enum B1Filter: Sendable {
    enum Comparison: String, Sendable {
        case eq, ne, gt, ge, lt, le

        var mirrored: Comparison {
            switch self {
            case .eq, .ne: return self
            case .gt: return .lt
            case .ge: return .le
            case .lt: return .gt
            case .le: return .ge
            }
        }
    }

    case and(B1Filter, B1Filter)
    case or(B1Filter, B1Filter)
    case not(B1Filter)
    case compare(String, Comparison, B1Literal)
    case function(String, field: String, argument: String)

    static func parse(_ text: String, schema: B1Schema) throws(B1Error) -> B1Filter {
        var parser = B1FilterParser(text: text, schema: schema)
        try parser.tokenize()
        let filter = try parser.parseOr()
        guard parser.position == parser.tokens.count else { throw parser.error("Syntax error") }
        return filter
    }

    func matches(_ row: SimJSONObject, schema: B1Schema, caseInsensitive: Bool) -> Bool {
        switch self {
        case .and(let a, let b):
            return a.matches(row, schema: schema, caseInsensitive: caseInsensitive)
                && b.matches(row, schema: schema, caseInsensitive: caseInsensitive)
        case .or(let a, let b):
            return a.matches(row, schema: schema, caseInsensitive: caseInsensitive)
                || b.matches(row, schema: schema, caseInsensitive: caseInsensitive)
        case .not(let a): return !a.matches(row, schema: schema, caseInsensitive: caseInsensitive)
        case .function(let name, let field, let argument):
            guard var text = row[field]?.stringValue else { return false }
            var argument = argument
            if caseInsensitive {
                text = text.lowercased()
                argument = argument.lowercased()
            }
            switch name {
            case "startswith": return text.hasPrefix(argument)
            case "endswith": return text.hasSuffix(argument)
            default: return argument.isEmpty || text.contains(argument)
            }
        case .compare(let field, let op, let literal):
            let value = row[field] ?? .null
            if literal == .null {
                return op == .eq ? value.isNull : op == .ne ? !value.isNull : false
            }
            guard
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

    /// Orders a stored value against a literal; nil when they cannot be compared.
    static func order(_ value: SimJSON, _ literal: B1Literal, type: B1FieldType, caseInsensitive: Bool)
        -> ComparisonResult?
    {
        switch literal {
        case .number(let expected):
            guard let actual = value.decimalValue ?? value.stringValue.flatMap({ Decimal(string: $0) }) else {
                return nil
            }
            return compare(actual, expected)
        case .bool(let expected):
            guard let actual = value.boolValue else { return nil }
            return compare(actual ? 1 : 0, expected ? 1 : 0)
        case .null:
            return nil
        case .string(let expected):
            switch type {
            case .date:
                guard let actual = value.stringValue else { return nil }
                return compare(String(actual.prefix(10)), String(expected.prefix(10)))
            case .time:
                guard let actual = value.stringValue else { return nil }
                return compare(B1Clock.normalizedTime(actual), B1Clock.normalizedTime(expected))
            case .int, .decimal:
                guard let actual = value.decimalValue, let wanted = Decimal(string: expected) else { return nil }
                return compare(actual, wanted)
            case .string, .enumeration, .collection:
                guard var actual = value.stringValue else { return nil }
                var wanted = expected
                if caseInsensitive {
                    actual = actual.lowercased()
                    wanted = wanted.lowercased()
                }
                if actual == wanted { return .orderedSame }
                return actual.unicodeScalars.lexicographicallyPrecedes(wanted.unicodeScalars)
                    ? .orderedAscending : .orderedDescending
            }
        }
    }

    static func compare<T: Comparable>(_ a: T, _ b: T) -> ComparisonResult {
        a == b ? .orderedSame : a < b ? .orderedAscending : .orderedDescending
    }
}

private enum B1Token: Equatable {
    case word(String)
    case literal(B1Literal)
    case open
    case close
    case comma
}

private struct B1FilterParser {
    let text: String
    let scalars: [Unicode.Scalar]
    let schema: B1Schema
    var tokens: [B1Token] = []
    var position = 0

    init(text: String, schema: B1Schema) {
        self.text = text
        self.scalars = Array(text.unicodeScalars)
        self.schema = schema
    }

    func error(_ what: String) -> B1Error { .query("\(what) in $filter '\(text)'") }

    static func isWordScalar(_ scalar: Unicode.Scalar) -> Bool {
        CharacterSet.alphanumerics.contains(scalar) || scalar == "_" || scalar == "/"
    }

    mutating func tokenize() throws(B1Error) {
        var index = 0
        while index < scalars.count {
            let scalar = scalars[index]
            switch scalar {
            case " ", "\t":
                index += 1
            case "(":
                tokens.append(.open)
                index += 1
            case ")":
                tokens.append(.close)
                index += 1
            case ",":
                tokens.append(.comma)
                index += 1
            case "'":
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
                guard closed else { throw error("Unterminated string literal") }
                tokens.append(.literal(.string(String(value))))
            default:
                if scalar == "-" || ("0"..."9").contains(scalar) {
                    var literal = String.UnicodeScalarView([scalar])
                    index += 1
                    while index < scalars.count, ("0"..."9").contains(scalars[index]) || scalars[index] == "." {
                        literal.append(scalars[index])
                        index += 1
                    }
                    // OData v3 type suffixes (`10m`, `5L`).
                    if index < scalars.count, ["m", "M", "L", "l", "d", "D"].contains(scalars[index]) { index += 1 }
                    guard let number = Decimal(string: String(literal), locale: Locale(identifier: "en_US_POSIX"))
                    else { throw error("Invalid number '\(String(literal))'") }
                    tokens.append(.literal(.number(number)))
                    continue
                }
                guard Self.isWordScalar(scalar) else {
                    throw error("Unexpected character '\(Character(scalar))'")
                }
                var word = String.UnicodeScalarView()
                while index < scalars.count, Self.isWordScalar(scalars[index]) {
                    word.append(scalars[index])
                    index += 1
                }
                switch String(word) {
                case "true": tokens.append(.literal(.bool(true)))
                case "false": tokens.append(.literal(.bool(false)))
                case "null": tokens.append(.literal(.null))
                default: tokens.append(.word(String(word)))
                }
            }
        }
    }

    private func peekWord() -> String? {
        guard position < tokens.count, case .word(let word) = tokens[position] else { return nil }
        return word
    }

    mutating func parseOr() throws(B1Error) -> B1Filter {
        var left = try parseAnd()
        while peekWord() == "or" {
            position += 1
            left = .or(left, try parseAnd())
        }
        return left
    }

    mutating func parseAnd() throws(B1Error) -> B1Filter {
        var left = try parseNot()
        while peekWord() == "and" {
            position += 1
            left = .and(left, try parseNot())
        }
        return left
    }

    mutating func parseNot() throws(B1Error) -> B1Filter {
        if peekWord() == "not" {
            position += 1
            return .not(try parseNot())
        }
        return try parseComparison()
    }

    private enum Operand {
        case field(String)
        case literal(B1Literal)
        case filter(B1Filter)
    }

    mutating func parseComparison() throws(B1Error) -> B1Filter {
        let left = try parseOperand()
        if let word = peekWord(), let op = B1Filter.Comparison(rawValue: word) {
            position += 1
            let right = try parseOperand()
            switch (left, right) {
            case (.field(let field), .literal(let literal)): return .compare(field, op, literal)
            case (.literal(let literal), .field(let field)): return .compare(field, op.mirrored, literal)
            default: throw error("A comparison needs a property and a literal")
            }
        }
        switch left {
        case .filter(let filter): return filter
        case .field(let field): throw error("Property '\(field)' is not a boolean expression")
        case .literal: throw error("A literal is not a boolean expression")
        }
    }

    private mutating func parseOperand() throws(B1Error) -> Operand {
        guard position < tokens.count else { throw error("Expression expected") }
        switch tokens[position] {
        case .open:
            position += 1
            let inner = try parseOr()
            guard position < tokens.count, tokens[position] == .close else { throw error("')' expected") }
            position += 1
            return .filter(inner)
        case .literal(let literal):
            position += 1
            return .literal(literal)
        case .word(let name):
            position += 1
            if position < tokens.count, tokens[position] == .open {
                return .filter(try parseFunction(name))
            }
            guard schema.knows(name) else { throw B1Error.invalidProperty(name, of: schema.typeName) }
            return .field(name)
        case .close, .comma:
            throw error("Expression expected")
        }
    }

    private mutating func stringArgument() throws(B1Error) -> String {
        guard position < tokens.count, case .literal(.string(let value)) = tokens[position] else {
            throw error("String literal expected")
        }
        position += 1
        return value
    }

    private mutating func fieldArgument() throws(B1Error) -> String {
        guard position < tokens.count, case .word(let field) = tokens[position] else {
            throw error("Property expected")
        }
        guard schema.knows(field) else { throw B1Error.invalidProperty(field, of: schema.typeName) }
        position += 1
        return field
    }

    private mutating func expect(_ token: B1Token, _ what: String) throws(B1Error) {
        guard position < tokens.count, tokens[position] == token else { throw error("\(what) expected") }
        position += 1
    }

    private mutating func parseFunction(_ name: String) throws(B1Error) -> B1Filter {
        position += 1  // (
        let field: String
        let argument: String
        switch name {
        case "startswith", "endswith", "contains":
            field = try fieldArgument()
            try expect(.comma, "','")
            argument = try stringArgument()
        case "substringof":
            argument = try stringArgument()
            try expect(.comma, "','")
            field = try fieldArgument()
        default:
            throw error("Unknown function '\(name)'")
        }
        try expect(.close, "')'")
        return .function(name == "substringof" ? "contains" : name, field: field, argument: argument)
    }
}

/// Date and time text of the simulated company (its clock is UTC).
enum B1Clock {
    /// `YYYY-MM-DD`.
    static func day(_ date: Date) -> String { Timestamps.day(date) }

    /// `HH:MM:SS`.
    static func time(_ date: Date) -> String {
        let seconds = Int(date.timeIntervalSince1970.rounded(.down))
        let secondOfDay = ((seconds % 86_400) + 86_400) % 86_400
        return String(format: "%02d:%02d:%02d", secondOfDay / 3600, secondOfDay / 60 % 60, secondOfDay % 60)
    }

    /// `HH:MM` → `HH:MM:00`; longer text is cut to `HH:MM:SS`.
    static func normalizedTime(_ text: String) -> String {
        text.count == 5 ? text + ":00" : String(text.prefix(8))
    }

    /// A date given in a body (`2024-01-02`, `2024-01-02T00:00:00Z`, `20240102`) as `YYYY-MM-DD`.
    static func parseDay(_ text: String) -> String? {
        if text.count == 8, text.allSatisfy(\.isNumber) {
            let day = "\(text.prefix(4))-\(text.dropFirst(4).prefix(2))-\(text.suffix(2))"
            return Timestamps.parseDay(day) != nil ? day : nil
        }
        let day = String(text.prefix(10))
        guard Timestamps.parseDay(day) != nil else { return nil }
        return day
    }
}
