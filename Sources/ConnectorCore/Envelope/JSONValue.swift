import Foundation
import Synchronization

/// Any JSON document, kept exactly: numbers stay `Decimal` so money never passes through binary floating point.
package enum JSONValue: Sendable, Hashable {
    case null
    case bool(Bool)
    case number(Decimal)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    /// Encodes any `Encodable` value into a `JSONValue` tree.
    package init(encoding value: some Encodable) throws {
        self = try JSONValue.decodeJSON(try JSONCoding.encode(value))
    }

    /// Decodes this tree into a typed value (through `JSONDecoder`, so types, dates and error texts are the same as
    /// for a document read from bytes).
    package func decode<T: Decodable>(_ type: T.Type = T.self) throws -> T {
        let decoder = JSONCoding.decoder
        // Trees inside (an event's data in a step result) are this tree's own nodes.
        decoder.userInfo[JSONCoding.parsedDocumentKey] = self
        return try decoder.decode(T.self, from: jsonBytes())
    }

    /// The node at a decoder's coding path: object members by key, array items by index.
    package func node(at path: [any CodingKey]) -> JSONValue? {
        var node = self
        for key in path {
            switch node {
            case .object(let members):
                guard let member = members[key.stringValue] else { return nil }
                node = member
            case .array(let items):
                guard let index = key.intValue, items.indices.contains(index) else { return nil }
                node = items[index]
            default: return nil
            }
        }
        return node
    }

    package subscript(key: String) -> JSONValue? {
        if case .object(let members) = self { return members[key] }
        return nil
    }

    package var stringValue: String? {
        if case .string(let s) = self { return s }
        return nil
    }
}

extension JSONValue: Codable {
    package init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let document = decoder.userInfo[JSONCoding.parsedDocumentKey] as? JSONValue,
            let node = document.node(at: decoder.codingPath)
        {
            // `JSONCoding.decodeParsingTrees` parsed the whole document already: this node is a lookup.
            self = node
        } else if container.decodeNil() {
            self = .null
        } else if decoder.userInfo[JSONCoding.typesAreDisjointKey] != nil {
            // JSON's kinds never decode as one another, so the order only decides how many misses (each a thrown
            // DecodingError) a node costs: strings and numbers, the common leaves, come first. YAML is different
            // (`true` and `12` also decode as strings), hence the fixed order below for every other decoder.
            if let value = try? container.decode(String.self) {
                self = .string(value)
            } else if let value = try? container.decode(Decimal.self) {
                self = .number(value)
            } else if let value = try? container.decode([String: JSONValue].self) {
                self = .object(value)
            } else if let value = try? container.decode([JSONValue].self) {
                self = .array(value)
            } else {
                self = .bool(try container.decode(Bool.self))
            }
        } else if let value = try? container.decode(Bool.self) {
            self = .bool(value)
        } else if let value = try? container.decode(Decimal.self) {
            self = .number(value)
        } else if let value = try? container.decode(String.self) {
            self = .string(value)
        } else if let value = try? container.decode([JSONValue].self) {
            self = .array(value)
        } else if let value = try? container.decode([String: JSONValue].self) {
            self = .object(value)
        } else {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: "not a JSON value")
        }
    }

    package func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        if let splice = encoder.userInfo[JSONCoding.treeSpliceKey] as? JSONCoding.TreeSplice,
            let placeholder = splice.placeholder(for: self)
        {
            // `JSONCoding.encode` writes this tree's bytes in place of the placeholder afterwards.
            try container.encode(placeholder)
            return
        }
        switch self {
        case .null: try container.encodeNil()
        case .bool(let value): try container.encode(value)
        case .number(let value): try container.encode(value)
        case .string(let value): try container.encode(value)
        case .array(let value): try container.encode(value)
        case .object(let value): try container.encode(value)
        }
    }
}

/// The one JSON configuration used for everything the connector writes or stores:
/// sorted keys (stable output and stable hashes), ISO-8601 dates with milliseconds.
package enum JSONCoding {
    package static var encoder: JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .custom { date, encoder in
            var container = encoder.singleValueContainer()
            try container.encode(Timestamp.format(date))
        }
        return encoder
    }

    /// Set in ``decoder``'s user info: the document is JSON, whose kinds (string, number, bool, object, array) never
    /// decode as one another, which lets `JSONValue` try the common ones first.
    package static let typesAreDisjointKey = CodingUserInfoKey(rawValue: "com.mlconnector.json.disjointTypes")!

    package static var decoder: JSONDecoder {
        let decoder = JSONDecoder()
        decoder.userInfo[typesAreDisjointKey] = true
        decoder.dateDecodingStrategy = .custom { decoder in
            let container = try decoder.singleValueContainer()
            let text = try container.decode(String.self)
            guard let date = Timestamp.parse(text) else {
                throw DecodingError.dataCorruptedError(
                    in: container,
                    debugDescription: "expected an RFC 3339 date-time, got \(text.prefix(40).debugDescription)"
                )
            }
            return date
        }
        return decoder
    }

    /// The document `encoder` writes, byte for byte. `JSONValue` trees inside (event data, above all) are written
    /// directly by ``JSONValue/jsonBytes(sortedKeys:)`` instead of node by node through `Encodable`: `JSONEncoder`
    /// writes a placeholder string for each, which is replaced by the tree's bytes.
    package static func encode(_ value: some Encodable) throws -> Data {
        let splice = TreeSplice()
        let encoder = self.encoder
        encoder.userInfo[treeSpliceKey] = splice
        return splice.substitute(into: try encoder.encode(value))
    }

    package static let treeSpliceKey = CodingUserInfoKey(rawValue: "com.mlconnector.json.treeSplice")!

    /// The trees one `encode` call met, and their placeholders: `"<marker><index>"`, where the marker holds 128
    /// random bits drawn once per process, so no string from outside can pass for one.
    package final class TreeSplice: Sendable {
        private static let marker = "mlc-tree-" + FixedFormat.hex((0..<16).map { _ in UInt8.random(in: 0...255) }) + "-"
        private let trees = Mutex<[JSONValue]>([])

        /// The placeholder to write for `tree`, or nil to write it the ordinary way (scalars and empty containers).
        func placeholder(for tree: JSONValue) -> String? {
            switch tree {
            case .object(let members) where !members.isEmpty: break
            case .array(let items) where !items.isEmpty: break
            default: return nil
            }
            let index = trees.withLock { trees in
                trees.append(tree)
                return trees.count - 1
            }
            return Self.marker + String(index)
        }

        /// `encoded` with every placeholder string (quotes included) replaced by its tree's sorted-key bytes.
        func substitute(into encoded: Data) -> Data {
            let trees = self.trees.withLock { $0 }
            guard !trees.isEmpty else { return encoded }
            let marker = Array(("\"" + Self.marker).utf8)
            let bytes = [UInt8](encoded)
            var out: [UInt8] = []
            out.reserveCapacity(bytes.count * 2)
            var index = 0
            var copied = 0
            while index + marker.count <= bytes.count {
                guard bytes[index] == marker[0], bytes[index..<(index + marker.count)].elementsEqual(marker) else {
                    index += 1
                    continue
                }
                var end = index + marker.count
                var number = 0
                while end < bytes.count, bytes[end] >= UInt8(ascii: "0"), bytes[end] <= UInt8(ascii: "9") {
                    number = number * 10 + Int(bytes[end] - UInt8(ascii: "0"))
                    end += 1
                }
                guard end < bytes.count, bytes[end] == UInt8(ascii: "\""), number < trees.count else {
                    index += 1
                    continue
                }
                out.append(contentsOf: bytes[copied..<index])
                trees[number].write(into: &out, sortedKeys: true)
                index = end + 1
                copied = index
            }
            out.append(contentsOf: bytes[copied...])
            return Data(out)
        }
    }

    package static func decode<T: Decodable>(_ type: T.Type, from data: Data) throws -> T {
        try decoder.decode(type, from: data)
    }

    /// The document a `decodeParsingTrees` decoder reads, parsed once, in its user info.
    package static let parsedDocumentKey = CodingUserInfoKey(rawValue: "com.mlconnector.json.parsedDocument")!

    /// As ``decode(_:from:)``, for documents that carry `JSONValue` trees (events with their data, queue entries,
    /// step results): the document is parsed once by ``JSONValue/parse(_:)`` and every `JSONValue` inside is taken
    /// from that tree by its coding path, instead of being found out node by node through `Decodable`. Everything
    /// else (the typed fields, dates, every error and its text) is `JSONDecoder`'s, as before; a document the
    /// parser declines is decoded the plain way.
    package static func decodeParsingTrees<T: Decodable>(_ type: T.Type, from data: Data) throws -> T {
        guard let tree = try? JSONValue.parse(data) else { return try decode(type, from: data) }
        let decoder = self.decoder
        decoder.userInfo[parsedDocumentKey] = tree
        return try decoder.decode(type, from: data)
    }

    /// Encodes a value that may hold text from outside (upstream error excerpts, echoed fields) with every known
    /// secret masked in each string, for the audit trail, the review queue and the dead-letter list. Masking
    /// works on the decoded strings, so it sees secrets in every encoding and can't break the JSON.
    package static func encodeScrubbed(_ value: some Encodable) throws -> Data {
        let data = try encode(value)
        let text = String(decoding: data, as: UTF8.self)
        guard SecretRedactor.scrub(text) != text else { return data }
        let tree = try JSONValue.decodeJSON(data)
        return try encode(tree.mappingStrings(SecretRedactor.scrub))
    }
}

extension JSONValue {
    /// The same tree with `transform` applied to every string (object keys included).
    package func mappingStrings(_ transform: (String) -> String) -> JSONValue {
        switch self {
        case .string(let text): .string(transform(text))
        case .array(let items): .array(items.map { $0.mappingStrings(transform) })
        case .object(let members):
            .object(
                Dictionary(
                    members.map { (transform($0.key), $0.value.mappingStrings(transform)) },
                    uniquingKeysWith: { first, _ in first }))
        default: self
        }
    }
}

/// RFC 3339 timestamps: always written in UTC with milliseconds; read with or without fractions and offsets.
///
/// Plain arithmetic rather than `String(format:)` and `Date.ISO8601FormatStyle`: every step reads and writes these,
/// and Foundation's formatters cost a step process a measurable part of its time (issue 10's step budget).
package enum Timestamp {
    /// `YYYY-MM-DDThh:mm:ss.sssZ`, rounded to the millisecond (never truncated, so a value survives a round trip).
    package static func format(_ date: Date) -> String {
        let millis = Int64((date.timeIntervalSince1970 * 1000).rounded())
        let seconds = millis >= 0 ? millis / 1000 : (millis - 999) / 1000
        let fraction = Int(millis - seconds * 1000)
        let days = seconds >= 0 ? seconds / 86_400 : (seconds - 86_399) / 86_400
        let secondOfDay = Int(seconds - days * 86_400)
        let (year, month, day) = LocalDate.civil(daysSinceEpoch: Int(days))
        return FixedFormat.decimal(year, width: 4) + "-" + FixedFormat.decimal(month, width: 2) + "-"
            + FixedFormat.decimal(day, width: 2) + "T" + FixedFormat.decimal(secondOfDay / 3600, width: 2) + ":"
            + FixedFormat.decimal(secondOfDay / 60 % 60, width: 2) + ":"
            + FixedFormat.decimal(secondOfDay % 60, width: 2) + "." + FixedFormat.decimal(fraction, width: 3) + "Z"
    }

    /// Reads `YYYY-MM-DDThh:mm:ss[.fraction](Z|±hh:mm|±hhmm|±hh)`: the date must exist as written (2024-02-30 is
    /// refused, not rolled into March), the fraction has 1 to 9 digits, an offset is at most 18 hours, and nothing may
    /// follow. `t` and `z` are read as `T` and `Z` (RFC 3339 allows both); a leap second (`:60`) is the next second.
    package static func parse(_ text: String) -> Date? {
        let bytes = Array(text.utf8)
        guard bytes.count >= 20, bytes.count <= 64 else { return nil }
        func number(_ start: Int, _ count: Int) -> Int? {
            guard start + count <= bytes.count else { return nil }
            var value = 0
            for byte in bytes[start..<start + count] {
                guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") else { return nil }
                value = value * 10 + Int(byte - UInt8(ascii: "0"))
            }
            return value
        }
        func isByte(_ index: Int, _ characters: String) -> Bool {
            index < bytes.count && characters.utf8.contains(bytes[index])
        }
        guard let year = number(0, 4), isByte(4, "-"), let month = number(5, 2), isByte(7, "-"),
            let day = number(8, 2), isByte(10, "Tt"), let hour = number(11, 2), isByte(13, ":"),
            let minute = number(14, 2), isByte(16, ":"), let second = number(17, 2),
            LocalDate(year: year, month: month, day: day) != nil, hour <= 23, minute <= 59, second <= 60
        else { return nil }
        var index = 19
        var fraction = 0.0
        if isByte(index, ".") {
            let start = index + 1
            var end = start
            while end < bytes.count, bytes[end] >= UInt8(ascii: "0"), bytes[end] <= UInt8(ascii: "9") { end += 1 }
            guard (1...9).contains(end - start), let digits = number(start, end - start) else { return nil }
            var scale = 1.0
            for _ in start..<end { scale *= 10 }
            fraction = Double(digits) / scale
            index = end
        }
        var offset = 0
        if isByte(index, "Zz") {
            index += 1
        } else if isByte(index, "+-") {
            let sign = bytes[index] == UInt8(ascii: "-") ? -1 : 1
            guard let hours = number(index + 1, 2), hours <= 18 else { return nil }
            index += 3
            var minutes = 0
            if isByte(index, ":") {
                guard let value = number(index + 1, 2) else { return nil }
                minutes = value
                index += 3
            } else if let value = number(index, 2) {
                minutes = value
                index += 2
            }
            guard minutes <= 59 else { return nil }
            offset = sign * (hours * 3600 + minutes * 60)
        } else {
            return nil
        }
        guard index == bytes.count else { return nil }
        let days = LocalDate.daysSinceEpoch(year: year, month: month, day: day)
        let seconds = days * 86_400 + hour * 3600 + minute * 60 + second - offset
        return Date(timeIntervalSince1970: Double(seconds) + fraction)
    }
}
