import Foundation

/// A direct JSON ⇄ ``JSONValue`` path for the documents every step reads and writes.
///
/// `JSONValue`'s `Decodable` conformance has to find out what each node is by trying one type after another, and
/// every miss builds a `DecodingError`: about two per string and four per object. A transform step spent a quarter
/// of its work there. The parser below reads the bytes once instead.
///
/// It is deliberately strict (RFC 8259, valid UTF-8, no duplicate keys, at most ``maxDepth`` levels, numbers a
/// `Decimal` reads the way `JSONDecoder` does). Whatever it refuses is handed to
/// `JSONDecoder` by ``JSONValue/decodeJSON(_:)``, so a refusal never changes a result or an error text: the parser
/// only ever makes the accepted cases faster.
extension JSONValue {
    /// Nesting deeper than this is left to `JSONDecoder`.
    package static let maxDepth = 256
    /// Numbers with up to this many significant digits are built from their digits; longer ones (a computed
    /// amount can carry 38) are read by `Decimal(string:)`, as `JSONDecoder` reads them.
    package static let maxSignificantDigits = 18

    /// Why the fast parser declined a document (the caller falls back to `JSONDecoder`, whose error is the one users
    /// see); never shown to a user.
    package struct ParseRefusal: Error, Equatable {
        package var offset: Int
        package var reason: String
    }

    /// Parses one JSON document, or throws ``ParseRefusal`` for anything outside the strict subset.
    package static func parse(_ data: Data) throws(ParseRefusal) -> JSONValue {
        let result: Result<JSONValue, ParseRefusal> = data.withUnsafeBytes { raw in
            var parser = JSONValueParser(bytes: raw.bindMemory(to: UInt8.self))
            do throws(ParseRefusal) {
                return .success(try parser.document())
            } catch {
                return .failure(error)
            }
        }
        return try result.get()
    }

    /// Decodes a JSON document into a tree: the fast parser, and `JSONDecoder` (the reference behaviour, with its
    /// error texts) for whatever the parser declines.
    package static func decodeJSON(_ data: Data) throws -> JSONValue {
        if let tree = try? parse(data) { return tree }
        return try JSONCoding.decoder.decode(JSONValue.self, from: data)
    }

    /// This tree as compact JSON. With `sortedKeys` the bytes are exactly `JSONCoding.encoder`'s (members in UTF-8
    /// byte order, the same escapes, numbers as `Decimal` writes them), so stored and hashed documents do not
    /// change; without, members come in no particular order (the input of a typed decode).
    package func jsonBytes(sortedKeys: Bool = false) -> Data {
        var out: [UInt8] = []
        out.reserveCapacity(256)
        write(into: &out, sortedKeys: sortedKeys)
        return Data(out)
    }

    package func write(into out: inout [UInt8], sortedKeys: Bool) {
        switch self {
        case .null: out.append(contentsOf: "null".utf8)
        case .bool(let value): out.append(contentsOf: (value ? "true" : "false").utf8)
        case .number(let value): out.append(contentsOf: value.description.utf8)
        case .string(let value): Self.writeString(value, into: &out)
        case .array(let items):
            out.append(UInt8(ascii: "["))
            for (index, item) in items.enumerated() {
                if index > 0 { out.append(UInt8(ascii: ",")) }
                item.write(into: &out, sortedKeys: sortedKeys)
            }
            out.append(UInt8(ascii: "]"))
        case .object(let members):
            out.append(UInt8(ascii: "{"))
            var first = true
            func member(_ key: String, _ value: JSONValue) {
                if !first { out.append(UInt8(ascii: ",")) }
                first = false
                Self.writeString(key, into: &out)
                out.append(UInt8(ascii: ":"))
                value.write(into: &out, sortedKeys: sortedKeys)
            }
            if sortedKeys {
                for key in members.keys.sorted(by: { $0.utf8.lexicographicallyPrecedes($1.utf8) }) {
                    member(key, members[key] ?? .null)
                }
            } else {
                for (key, value) in members { member(key, value) }
            }
            out.append(UInt8(ascii: "}"))
        }
    }

    private static func writeString(_ text: String, into out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "\""): out.append(contentsOf: #"\""#.utf8)
            case UInt8(ascii: "\\"): out.append(contentsOf: #"\\"#.utf8)
            case 0x08: out.append(contentsOf: #"\b"#.utf8)
            case 0x0C: out.append(contentsOf: #"\f"#.utf8)
            case 0x0A: out.append(contentsOf: #"\n"#.utf8)
            case 0x0D: out.append(contentsOf: #"\r"#.utf8)
            case 0x09: out.append(contentsOf: #"\t"#.utf8)
            case 0x00..<0x20:
                out.append(contentsOf: #"\u00"#.utf8)
                out.append(contentsOf: FixedFormat.hex([byte]).utf8)
            default: out.append(byte)
            }
        }
        out.append(UInt8(ascii: "\""))
    }
}

/// The strict recursive-descent parser behind ``JSONValue/parse(_:)``.
private struct JSONValueParser {
    let bytes: UnsafeBufferPointer<UInt8>
    var index = 0
    var depth = 0

    init(bytes: UnsafeBufferPointer<UInt8>) {
        self.bytes = bytes
    }

    mutating func document() throws(JSONValue.ParseRefusal) -> JSONValue {
        skipWhitespace()
        let value = try value()
        skipWhitespace()
        guard index == bytes.count else { throw refusal("trailing content") }
        return value
    }

    private func refusal(_ reason: String) -> JSONValue.ParseRefusal {
        JSONValue.ParseRefusal(offset: index, reason: reason)
    }

    private mutating func skipWhitespace() {
        while index < bytes.count {
            switch bytes[index] {
            case 0x20, 0x0A, 0x0D, 0x09: index += 1
            default: return
            }
        }
    }

    private mutating func value() throws(JSONValue.ParseRefusal) -> JSONValue {
        guard index < bytes.count else { throw refusal("unexpected end") }
        switch bytes[index] {
        case UInt8(ascii: "\""): return .string(try string())
        case UInt8(ascii: "{"): return try object()
        case UInt8(ascii: "["): return try array()
        case UInt8(ascii: "t"):
            try literal("true")
            return .bool(true)
        case UInt8(ascii: "f"):
            try literal("false")
            return .bool(false)
        case UInt8(ascii: "n"):
            try literal("null")
            return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return .number(try number())
        default: throw refusal("unexpected byte")
        }
    }

    private mutating func literal(_ word: StaticString) throws(JSONValue.ParseRefusal) {
        let count = word.utf8CodeUnitCount
        guard bytes.count - index >= count else { throw refusal("truncated literal") }
        let expected = UnsafeBufferPointer(start: word.utf8Start, count: count)
        for offset in 0..<count where bytes[index + offset] != expected[offset] {
            throw refusal("bad literal")
        }
        index += count
    }

    private mutating func enter() throws(JSONValue.ParseRefusal) {
        depth += 1
        guard depth <= JSONValue.maxDepth else { throw refusal("too deep") }
    }

    private mutating func object() throws(JSONValue.ParseRefusal) -> JSONValue {
        try enter()
        index += 1
        var members: [String: JSONValue] = [:]
        skipWhitespace()
        if index < bytes.count, bytes[index] == UInt8(ascii: "}") {
            index += 1
            depth -= 1
            return .object(members)
        }
        while true {
            skipWhitespace()
            guard index < bytes.count, bytes[index] == UInt8(ascii: "\"") else { throw refusal("expected a key") }
            let key = try string()
            skipWhitespace()
            guard index < bytes.count, bytes[index] == UInt8(ascii: ":") else { throw refusal("expected ':'") }
            index += 1
            skipWhitespace()
            let member = try value()
            // Duplicate keys (also keys equal as Swift strings, i.e. canonically equivalent) are JSONDecoder's call.
            guard members.updateValue(member, forKey: key) == nil else { throw refusal("duplicate key") }
            skipWhitespace()
            guard index < bytes.count else { throw refusal("unterminated object") }
            if bytes[index] == UInt8(ascii: ",") {
                index += 1
                continue
            }
            guard bytes[index] == UInt8(ascii: "}") else { throw refusal("expected ',' or '}'") }
            index += 1
            depth -= 1
            return .object(members)
        }
    }

    private mutating func array() throws(JSONValue.ParseRefusal) -> JSONValue {
        try enter()
        index += 1
        var items: [JSONValue] = []
        skipWhitespace()
        if index < bytes.count, bytes[index] == UInt8(ascii: "]") {
            index += 1
            depth -= 1
            return .array(items)
        }
        while true {
            skipWhitespace()
            items.append(try value())
            skipWhitespace()
            guard index < bytes.count else { throw refusal("unterminated array") }
            if bytes[index] == UInt8(ascii: ",") {
                index += 1
                continue
            }
            guard bytes[index] == UInt8(ascii: "]") else { throw refusal("expected ',' or ']'") }
            index += 1
            depth -= 1
            return .array(items)
        }
    }

    private mutating func string() throws(JSONValue.ParseRefusal) -> String {
        index += 1
        let start = index
        // The common case: no escapes, so the string is the bytes as they stand.
        while index < bytes.count {
            let byte = bytes[index]
            if byte == UInt8(ascii: "\"") {
                let text = String(validating: UnsafeBufferPointer(rebasing: bytes[start..<index]), as: UTF8.self)
                guard let text else { throw refusal("invalid UTF-8") }
                index += 1
                return text
            }
            if byte == UInt8(ascii: "\\") { break }
            guard byte >= 0x20 else { throw refusal("control character in a string") }
            index += 1
        }
        var buffer = Array(UnsafeBufferPointer(rebasing: bytes[start..<index]))
        while index < bytes.count {
            let byte = bytes[index]
            switch byte {
            case UInt8(ascii: "\""):
                index += 1
                guard let text = String(validating: buffer, as: UTF8.self) else { throw refusal("invalid UTF-8") }
                return text
            case UInt8(ascii: "\\"):
                index += 1
                guard index < bytes.count else { break }
                let escape = bytes[index]
                index += 1
                switch escape {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): buffer.append(escape)
                case UInt8(ascii: "b"): buffer.append(0x08)
                case UInt8(ascii: "f"): buffer.append(0x0C)
                case UInt8(ascii: "n"): buffer.append(0x0A)
                case UInt8(ascii: "r"): buffer.append(0x0D)
                case UInt8(ascii: "t"): buffer.append(0x09)
                case UInt8(ascii: "u"):
                    var scalarValue = try hex4()
                    if (0xD800..<0xDC00).contains(scalarValue) {
                        guard bytes.count - index >= 6, bytes[index] == UInt8(ascii: "\\"),
                            bytes[index + 1] == UInt8(ascii: "u")
                        else { throw refusal("lone surrogate") }
                        index += 2
                        let low = try hex4()
                        guard (0xDC00..<0xE000).contains(low) else { throw refusal("lone surrogate") }
                        scalarValue = 0x10000 + ((scalarValue - 0xD800) << 10) + (low - 0xDC00)
                    }
                    guard let scalar = Unicode.Scalar(scalarValue) else { throw refusal("lone surrogate") }
                    buffer.append(contentsOf: scalar.utf8)
                default: throw refusal("bad escape")
                }
            default:
                guard byte >= 0x20 else { throw refusal("control character in a string") }
                buffer.append(byte)
                index += 1
            }
        }
        throw refusal("unterminated string")
    }

    private mutating func hex4() throws(JSONValue.ParseRefusal) -> UInt32 {
        guard bytes.count - index >= 4 else { throw refusal("truncated escape") }
        var value: UInt32 = 0
        for _ in 0..<4 {
            let byte = bytes[index]
            let digit: UInt8
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = byte - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = byte - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = byte - UInt8(ascii: "A") + 10
            default: throw refusal("bad hex digit")
            }
            value = value << 4 | UInt32(digit)
            index += 1
        }
        return value
    }

    /// RFC 8259's number grammar, built as a `Decimal` from its digits (no text round trip, no binary floating
    /// point). Longer numbers are read by `Decimal(string:)` (see ``number()``); a large exponent is refused.
    private mutating func number() throws(JSONValue.ParseRefusal) -> Decimal {
        let start = index
        do {
            return try exactNumber()
        } catch let failure where failure.reason == "too many digits" {
            // Longer than a UInt64 holds: validated by the grammar again, then read as `JSONDecoder` reads it.
            index = start
            try skipNumber()
            let text = String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<index]), as: UTF8.self)
            guard let value = Decimal(string: text, locale: nil), !value.isNaN else { throw refusal("bad number") }
            return value
        }
    }

    /// Moves past one number of RFC 8259's grammar.
    private mutating func skipNumber() throws(JSONValue.ParseRefusal) {
        if bytes[index] == UInt8(ascii: "-") { index += 1 }
        guard index < bytes.count, isDigit(bytes[index]) else { throw refusal("bad number") }
        if bytes[index] == UInt8(ascii: "0") {
            index += 1
            if index < bytes.count, isDigit(bytes[index]) { throw refusal("leading zero") }
        } else {
            while index < bytes.count, isDigit(bytes[index]) { index += 1 }
        }
        if index < bytes.count, bytes[index] == UInt8(ascii: ".") {
            index += 1
            guard index < bytes.count, isDigit(bytes[index]) else { throw refusal("bad fraction") }
            while index < bytes.count, isDigit(bytes[index]) { index += 1 }
        }
        if index < bytes.count, bytes[index] == UInt8(ascii: "e") || bytes[index] == UInt8(ascii: "E") {
            // Exponents are for the exact path only; a long number with one is left to JSONDecoder.
            throw refusal("large exponent")
        }
    }

    private mutating func exactNumber() throws(JSONValue.ParseRefusal) -> Decimal {
        var negative = false
        if bytes[index] == UInt8(ascii: "-") {
            negative = true
            index += 1
        }
        var significand: UInt64 = 0
        var digits = 0
        var exponent = 0
        guard index < bytes.count, isDigit(bytes[index]) else { throw refusal("bad number") }
        if bytes[index] == UInt8(ascii: "0") {
            index += 1
            if index < bytes.count, isDigit(bytes[index]) { throw refusal("leading zero") }
        } else {
            while index < bytes.count, isDigit(bytes[index]) {
                try accumulate(&significand, &digits)
            }
        }
        if index < bytes.count, bytes[index] == UInt8(ascii: ".") {
            index += 1
            guard index < bytes.count, isDigit(bytes[index]) else { throw refusal("bad fraction") }
            while index < bytes.count, isDigit(bytes[index]) {
                try accumulate(&significand, &digits)
                exponent -= 1
            }
        }
        if index < bytes.count, bytes[index] == UInt8(ascii: "e") || bytes[index] == UInt8(ascii: "E") {
            index += 1
            var negativeExponent = false
            if index < bytes.count, bytes[index] == UInt8(ascii: "+") || bytes[index] == UInt8(ascii: "-") {
                negativeExponent = bytes[index] == UInt8(ascii: "-")
                index += 1
            }
            guard index < bytes.count, isDigit(bytes[index]) else { throw refusal("bad exponent") }
            var written = 0
            while index < bytes.count, isDigit(bytes[index]) {
                written = written * 10 + Int(bytes[index] - UInt8(ascii: "0"))
                guard written <= 100 else { throw refusal("large exponent") }
                index += 1
            }
            exponent += negativeExponent ? -written : written
        }
        guard (-100...100).contains(exponent) else { throw refusal("large exponent") }
        if significand == 0 { return Decimal(0) }
        return Decimal(sign: negative ? .minus : .plus, exponent: exponent, significand: Decimal(significand))
    }

    private mutating func accumulate(_ significand: inout UInt64, _ digits: inout Int) throws(JSONValue.ParseRefusal) {
        let digit = UInt64(bytes[index] - UInt8(ascii: "0"))
        if significand != 0 || digit != 0 { digits += 1 }
        guard digits <= JSONValue.maxSignificantDigits else { throw refusal("too many digits") }
        significand = significand * 10 + digit
        index += 1
    }

    private func isDigit(_ byte: UInt8) -> Bool {
        byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9")
    }
}
