import Foundation

/// OData `$filter` expressions built from values, never by pasting text: string literals are quoted and every
/// `'` inside is doubled (OData v4 URL conventions), so a value like `x' or 1 eq 1` stays one literal.
package struct ODataFilter: Sendable, Hashable, CustomStringConvertible {
    package let description: String

    private init(_ text: String) { description = text }

    package static func literal(_ value: String) -> String {
        "'" + value.replacingOccurrences(of: "'", with: "''") + "'"
    }

    package static func eq(_ field: String, _ value: String) -> ODataFilter {
        ODataFilter("\(field) eq \(literal(value))")
    }

    package static func gt(_ field: String, dateTime: Date) -> ODataFilter {
        ODataFilter("\(field) gt \(ODataFilter.dateTime(dateTime))")
    }

    package func and(_ other: ODataFilter) -> ODataFilter {
        ODataFilter("\(description) and \(other.description)")
    }

    static func dateTime(_ date: Date) -> String {
        date.formatted(
            Date.ISO8601FormatStyle(includingFractionalSeconds: true, timeZone: TimeZone(identifier: "UTC")!))
    }
}
