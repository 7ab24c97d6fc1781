import ConnectorCore
import Foundation

/// One record of the contract-based REST API: ordinary fields wrapped as `{"value": …}`, system fields (`id`,
/// `rowNumber`) bare, detail collections as arrays of records (reference §3.3). Read leniently: a field the
/// endpoint version does not have is simply absent.
package struct AcumaticaRecord: Sendable, Hashable, Decodable {
    package var fields: [String: JSONValue]

    package init(fields: [String: JSONValue]) { self.fields = fields }

    package init(from decoder: any Decoder) throws {
        fields = try [String: JSONValue](from: decoder)
    }

    /// The record's system id (a GUID), unwrapped.
    package var id: String? { fields["id"]?.stringValue }

    /// The unwrapped `value` of a field, nil when absent or null.
    package func value(_ name: String) -> JSONValue? {
        guard let wrapped = fields[name] else { return nil }
        let inner = wrapped["value"] ?? .null
        if case .null = inner { return nil }
        return inner
    }

    package func string(_ name: String) -> String? {
        switch value(name) {
        case .string(let text): text
        case .number(let number): number.description
        case .bool(let flag): flag ? "true" : "false"
        default: nil
        }
    }

    package func decimal(_ name: String) -> Decimal? {
        switch value(name) {
        case .number(let number): number
        case .string(let text): Decimal(string: text, locale: Locale(identifier: "en_US_POSIX"))
        default: nil
        }
    }

    package func bool(_ name: String) -> Bool? {
        switch value(name) {
        case .bool(let flag): flag
        case .string(let text):
            ["true", "1"].contains(text.lowercased()) ? true : ["false", "0"].contains(text.lowercased()) ? false : nil
        default: nil
        }
    }

    package func dateTime(_ name: String) -> Date? {
        string(name).flatMap(AcumaticaDates.parse)
    }

    /// A date field (`2024-07-15T00:00:00+03:00`) as the calendar date it shows, in the instance's own zone.
    package func localDate(_ name: String) -> LocalDate? {
        string(name).flatMap { LocalDate(parsing: String($0.prefix(10))) }
    }

    /// The records of a detail collection (present only when it was `$expand`ed).
    package func details(_ name: String) -> [AcumaticaRecord] {
        guard case .array(let items) = fields[name] else { return [] }
        return items.compactMap { item in
            if case .object(let members) = item { return AcumaticaRecord(fields: members) }
            return nil
        }
    }
}

/// Builds request bodies: every ordinary field wrapped, system fields bare.
package enum AcumaticaBody {
    package static func wrap(_ value: JSONValue) -> JSONValue { .object(["value": value]) }
    package static func wrap(_ text: String) -> JSONValue { wrap(.string(text)) }
    package static func wrap(_ number: Decimal) -> JSONValue { wrap(.number(number)) }
    package static func wrap(_ flag: Bool) -> JSONValue { wrap(.bool(flag)) }
}

/// Acumatica's date-times: ISO 8601 with an offset (`2024-07-15T10:31:28.403+03:00`), a fraction of up to seven
/// digits, or (UNCONFIRMED) no offset at all, then read as UTC.
package enum AcumaticaDates {
    package static func parse(_ text: String) -> Date? {
        let trimmed = text.trimmingWhitespace(newlines: false)
        guard trimmed.count >= 19, trimmed.count <= 40 else { return nil }
        var main = String(trimmed.prefix(19))
        var rest = Substring(trimmed.dropFirst(19))
        var fraction = ""
        if rest.first == "." {
            rest = rest.dropFirst()
            let digits = rest.prefix { $0.isASCII && $0.isNumber }
            fraction = String(digits.prefix(3))
            rest = rest.dropFirst(digits.count)
        }
        let zone = rest.isEmpty ? "Z" : String(rest)
        main += "." + fraction.padding(toLength: 3, withPad: "0", startingAt: 0) + zone
        return Timestamp.parse(main)
    }

    /// The instant floored to the millisecond: a change-stamp filter `gt` this never skips a record stamped within
    /// the same millisecond (it may bring the newest one again, which upserts tolerate).
    package static func floorToMillisecond(_ date: Date) -> Date {
        Date(timeIntervalSince1970: (date.timeIntervalSince1970 * 1000).rounded(.down) / 1000)
    }
}
