import Foundation

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
        let data = try JSONCoding.encoder.encode(value)
        self = try JSONCoding.decoder.decode(JSONValue.self, from: data)
    }

    /// Decodes this tree into a typed value.
    package func decode<T: Decodable>(_ type: T.Type = T.self) throws -> T {
        let data = try JSONCoding.encoder.encode(self)
        return try JSONCoding.decoder.decode(T.self, from: data)
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
        if container.decodeNil() {
            self = .null
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

    package static var decoder: JSONDecoder {
        let decoder = JSONDecoder()
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

    package static func encode(_ value: some Encodable) throws -> Data {
        try encoder.encode(value)
    }

    package static func decode<T: Decodable>(_ type: T.Type, from data: Data) throws -> T {
        try decoder.decode(type, from: data)
    }

    /// Encodes a value that may hold text from outside (upstream error excerpts, echoed fields) with every known
    /// secret masked in each string, for the audit trail, the review queue and the dead-letter list. Masking
    /// works on the decoded strings, so it sees secrets in every encoding and can't break the JSON.
    package static func encodeScrubbed(_ value: some Encodable) throws -> Data {
        let data = try encode(value)
        let text = String(decoding: data, as: UTF8.self)
        guard SecretRedactor.scrub(text) != text else { return data }
        let tree = try decode(JSONValue.self, from: data)
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
package enum Timestamp {
    /// `YYYY-MM-DDThh:mm:ss.sssZ`, rounded to the millisecond (never truncated, so a value survives a round trip).
    package static func format(_ date: Date) -> String {
        let millis = Int64((date.timeIntervalSince1970 * 1000).rounded())
        var seconds = time_t(millis >= 0 ? millis / 1000 : (millis - 999) / 1000)
        let fraction = Int(millis - Int64(seconds) * 1000)
        var parts = tm()
        gmtime_r(&seconds, &parts)
        return String(
            format: "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
            Int(parts.tm_year) + 1900, Int(parts.tm_mon) + 1, Int(parts.tm_mday),
            Int(parts.tm_hour), Int(parts.tm_min), Int(parts.tm_sec), fraction
        )
    }

    package static func parse(_ text: String) -> Date? {
        guard text.count <= 64, text.count >= 20 else { return nil }
        // The formatter rolls 2024-02-30 over into March; a calendar date must exist as written.
        let datePart = text.prefix(10).split(separator: "-")
        guard datePart.count == 3, let y = Int(datePart[0]), let m = Int(datePart[1]), let d = Int(datePart[2]),
            LocalDate(year: y, month: m, day: d) != nil
        else { return nil }
        if let date = try? Date(text, strategy: Date.ISO8601FormatStyle(includingFractionalSeconds: true)) {
            return date
        }
        if let date = try? Date(text, strategy: Date.ISO8601FormatStyle()) {
            return date
        }
        return nil
    }
}
