import Foundation

/// The type of a Finance & Operations entity field, as far as filtering and body checks need it.
enum FOFieldType: Sendable, Hashable {
    case string
    case number
    case dateTime
    case bool
    /// An enum field: filters must name the member as `Microsoft.Dynamics.DataEntities.<Enum>'<Member>'`, and only
    /// `eq` / `ne` work on it (reference §2.3).
    case enumeration(String)
}

/// A `$filter` of the F&O `/data` service (reference §2.3): `eq ne gt ge lt le`, `and or not`, parentheses, string
/// literals with `''` for a quote, numbers, `true`/`false`/`null`, enum members in the namespace syntax, and `*` as a
/// wildcard inside an `eq` string (`Name eq '*text*'`). `has`, `in` and functions are refused.
indirect enum FOFilter: Sendable {
    case and(FOFilter, FOFilter)
    case or(FOFilter, FOFilter)
    case not(FOFilter)
    case compare(String, String, FOLiteral)

    static let enumNamespace = "Microsoft.Dynamics.DataEntities"

    func matches(_ row: SimJSONObject) -> Bool {
        switch self {
        case .and(let a, let b): return a.matches(row) && b.matches(row)
        case .or(let a, let b): return a.matches(row) || b.matches(row)
        case .not(let a): return !a.matches(row)
        case .compare(let field, let op, let literal):
            return Self.compare(row[field] ?? .null, op, literal)
        }
    }

    /// The values an `and` chain requires `field` to equal (the `dataAreaId eq '…'` of a company-scoped read).
    func required(_ field: String) -> String? {
        switch self {
        case .compare(let name, "eq", .string(let value)) where name.lowercased() == field.lowercased(): return value
        case .and(let a, let b): return a.required(field) ?? b.required(field)
        default: return nil
        }
    }

    private static func compare(_ value: SimJSON, _ op: String, _ literal: FOLiteral) -> Bool {
        switch literal {
        case .null:
            return op == "eq" ? value.isNull : !value.isNull
        case .bool(let flag):
            let actual = value.boolValue ?? false
            return op == "eq" ? actual == flag : actual != flag
        case .enumMember(_, let member):
            let actual = value.stringValue ?? ""
            return op == "eq" ? actual == member : actual != member
        case .number(let number):
            guard let actual = value.decimalValue ?? value.stringValue.flatMap({ Decimal(string: $0) }) else {
                return op == "ne"
            }
            return order(actual, number, op)
        case .dateTime(let instant):
            guard let actual = value.stringValue.flatMap(Timestamps.parseInstant) else { return op == "ne" }
            return order(actual, instant, op)
        case .string(let text):
            let actual = value.stringValue ?? ""
            // SQL Server collation: string comparison ignores case.
            if op == "eq" || op == "ne", text.contains("*") {
                let hit = wildcard(actual.lowercased(), text.lowercased())
                return op == "eq" ? hit : !hit
            }
            return order(actual.lowercased(), text.lowercased(), op)
        }
    }

    private static func order<T: Comparable>(_ a: T, _ b: T, _ op: String) -> Bool {
        switch op {
        case "eq": a == b
        case "ne": a != b
        case "gt": a > b
        case "ge": a >= b
        case "lt": a < b
        default: a <= b
        }
    }

    private static func wildcard(_ text: String, _ pattern: String) -> Bool {
        let parts = pattern.split(separator: "*", omittingEmptySubsequences: false).map(String.init)
        var rest = Substring(text)
        for (index, part) in parts.enumerated() {
            if part.isEmpty { continue }
            if index == 0 {
                guard rest.hasPrefix(part) else { return false }
                rest = rest.dropFirst(part.count)
            } else if index == parts.count - 1 {
                return rest.hasSuffix(part)
            } else {
                guard let range = rest.range(of: part) else { return false }
                rest = rest[range.upperBound...]
            }
        }
        return parts.last?.isEmpty == true || rest.isEmpty
    }

    /// Parses `text` against the entity's fields.
    static func parse(_ text: String, fields: [String: FOFieldType]) throws(FOError) -> FOFilter {
        var parser = FOFilterParser(tokens: try FOFilterParser.tokenize(text), fields: fields)
        let filter = try parser.parseOr()
        guard parser.position == parser.tokens.count else {
            throw FOError.badRequest("Syntax error at position \(parser.position) in '\(text)'.")
        }
        return filter
    }
}

enum FOLiteral: Sendable, Equatable {
    case string(String)
    case number(Decimal)
    case bool(Bool)
    case null
    case dateTime(Date)
    case enumMember(type: String, member: String)
}

struct FOFilterParser {
    enum Token: Equatable {
        case word(String)
        case string(String)
        case open, close
        /// `Namespace.Enum'Member'`.
        case enumLiteral(String, String)
    }

    var tokens: [Token]
    var fields: [String: FOFieldType]
    var position = 0

    static func tokenize(_ text: String) throws(FOError) -> [Token] {
        var tokens: [Token] = []
        let chars = Array(text)
        var i = 0
        while i < chars.count {
            let c = chars[i]
            if c == " " {
                i += 1
            } else if c == "(" {
                tokens.append(.open)
                i += 1
            } else if c == ")" {
                tokens.append(.close)
                i += 1
            } else if c == "'" {
                var value = ""
                i += 1
                var closed = false
                while i < chars.count {
                    if chars[i] == "'" {
                        if i + 1 < chars.count, chars[i + 1] == "'" {
                            value.append("'")
                            i += 2
                            continue
                        }
                        closed = true
                        i += 1
                        break
                    }
                    value.append(chars[i])
                    i += 1
                }
                guard closed else { throw FOError.badRequest("Unterminated string literal in '\(text)'.") }
                tokens.append(.string(value))
            } else {
                var word = ""
                while i < chars.count, chars[i] != " ", chars[i] != "(", chars[i] != ")", chars[i] != "'" {
                    word.append(chars[i])
                    i += 1
                }
                if i < chars.count, chars[i] == "'", word.contains(".") {
                    // An enum literal: the type name directly followed by a quoted member.
                    var member = ""
                    i += 1
                    while i < chars.count, chars[i] != "'" {
                        member.append(chars[i])
                        i += 1
                    }
                    guard i < chars.count else { throw FOError.badRequest("Unterminated enum literal in '\(text)'.") }
                    i += 1
                    tokens.append(.enumLiteral(word, member))
                } else if word.isEmpty {
                    throw FOError.badRequest("Syntax error in '\(text)'.")
                } else {
                    tokens.append(.word(word))
                }
            }
        }
        return tokens
    }

    mutating func parseOr() throws(FOError) -> FOFilter {
        var left = try parseAnd()
        while position < tokens.count, tokens[position] == .word("or") {
            position += 1
            left = .or(left, try parseAnd())
        }
        return left
    }

    mutating func parseAnd() throws(FOError) -> FOFilter {
        var left = try parseUnary()
        while position < tokens.count, tokens[position] == .word("and") {
            position += 1
            left = .and(left, try parseUnary())
        }
        return left
    }

    mutating func parseUnary() throws(FOError) -> FOFilter {
        guard position < tokens.count else { throw FOError.badRequest("Expression expected.") }
        if tokens[position] == .word("not") {
            position += 1
            return .not(try parseUnary())
        }
        if tokens[position] == .open {
            position += 1
            let inner = try parseOr()
            guard position < tokens.count, tokens[position] == .close else {
                throw FOError.badRequest("')' expected.")
            }
            position += 1
            return inner
        }
        guard case .word(let field) = tokens[position] else { throw FOError.badRequest("A property name expected.") }
        guard let type = fields[field] else {
            throw FOError.badRequest("Could not find a property named '\(field)' on the entity.")
        }
        position += 1
        guard position < tokens.count, case .word(let op) = tokens[position] else {
            throw FOError.badRequest("An operator expected after '\(field)'.")
        }
        guard ["eq", "ne", "gt", "ge", "lt", "le"].contains(op) else {
            throw FOError.badRequest("The operator '\(op)' is not supported.")
        }
        position += 1
        guard position < tokens.count else { throw FOError.badRequest("A value expected after '\(op)'.") }
        let literal: FOLiteral
        switch tokens[position] {
        case .string(let text):
            if case .enumeration(let name) = type {
                throw FOError.badRequest(
                    "A binary operator with incompatible types was detected. Found operand types '\(FOFilter.enumNamespace).\(name)' and 'Edm.String' for operator kind '\(op)'."
                )
            }
            if type == .dateTime, let instant = Timestamps.parseInstant(text) {
                literal = .dateTime(instant)
            } else {
                literal = .string(text)
            }
        case .enumLiteral(let typeName, let member):
            guard case .enumeration(let name) = type, typeName == "\(FOFilter.enumNamespace).\(name)" else {
                throw FOError.badRequest(
                    "The enum literal \(typeName)'\(member)' does not match the type of '\(field)'.")
            }
            guard op == "eq" || op == "ne" else {
                throw FOError.badRequest("Only eq and ne are supported on enum values.")
            }
            literal = .enumMember(type: typeName, member: member)
        case .word(let word):
            if word == "true" || word == "false" {
                literal = .bool(word == "true")
            } else if word == "null" {
                literal = .null
            } else if let number = Decimal(string: word), word.first.map({ $0.isNumber || $0 == "-" }) == true {
                if type == .dateTime, let instant = Timestamps.parseInstant(word) {
                    literal = .dateTime(instant)
                } else {
                    literal = .number(number)
                }
            } else if let instant = Timestamps.parseInstant(word) {
                literal = .dateTime(instant)
            } else {
                throw FOError.badRequest("The value '\(word)' is not a literal.")
            }
        default:
            throw FOError.badRequest("A value expected after '\(op)'.")
        }
        position += 1
        return .compare(field, op, literal)
    }
}

/// An F&O `/data` error: the status, and the `innererror` message where the useful text is (reference §2.7).
struct FOError: Error, Sendable {
    var status: Int
    var message: String
    var inner: String?
    var innerType: String?
    var headers: [(name: String, value: String)] = []

    static func badRequest(_ message: String) -> FOError {
        FOError(
            status: 400, message: message, inner: message,
            innerType: "Microsoft.OData.ODataException")
    }

    /// A refused write: "An error has occurred." with the infolog in `innererror`.
    static func writeFailed(_ entity: String, _ infolog: String) -> FOError {
        FOError(
            status: 400, message: "An error has occurred.",
            inner: "Write failed for table row of type '\(entity)'. Infolog: \(infolog)",
            innerType: "Microsoft.Dynamics.Platform.Integration.Services.OData.AxODataWriteException")
    }

    var response: SimResponse {
        var error = SimJSONObject(["code": .string(""), "message": .string(message)])
        if let inner {
            error["innererror"] = .object(
                SimJSONObject([
                    "message": .string(inner), "type": .string(innerType ?? ""), "stacktrace": .string(""),
                ]))
        }
        return .json(status, .object(SimJSONObject(["error": .object(error)])), headers: headers)
    }
}
