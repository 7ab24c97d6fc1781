import Foundation

/// A calendar date without time or zone (`YYYY-MM-DD`), the way ERPs take document dates.
package struct LocalDate: Sendable, Hashable, Comparable, Codable, CustomStringConvertible {
    package let year: Int
    package let month: Int
    package let day: Int

    package init?(year: Int, month: Int, day: Int) {
        guard (1...9999).contains(year), (1...12).contains(month), (1...31).contains(day) else { return nil }
        var components = DateComponents()
        components.year = year
        components.month = month
        components.day = day
        guard components.isValidDate(in: LocalDate.calendar) else { return nil }
        self.year = year
        self.month = month
        self.day = day
    }

    /// Parses `YYYY-MM-DD`, also the date part of an RFC 3339 date-time. A date-time keeps the day as written
    /// (`2024-03-01T23:30:00-08:00` is March 1st, not the UTC day it falls on): the document's date is the one its
    /// author stated, whatever the offset.
    package init?(parsing text: String) {
        let datePart = text.prefix(10)
        let parts = datePart.split(separator: "-", omittingEmptySubsequences: false)
        guard datePart.count == 10, parts.count == 3, parts[0].count == 4, parts[1].count == 2, parts[2].count == 2,
            let y = Int(parts[0]), let m = Int(parts[1]), let d = Int(parts[2])
        else { return nil }
        if text.count > 10 {
            // A date-time must be a valid one; its date part is the day.
            let separator = text[text.index(text.startIndex, offsetBy: 10)]
            guard separator == "T" || separator == "t", Timestamp.parse(text) != nil else { return nil }
        }
        self.init(year: y, month: m, day: d)
    }

    package init(utcDayOf date: Date) {
        let parts = LocalDate.calendar.dateComponents([.year, .month, .day], from: date)
        year = parts.year ?? 1970
        month = parts.month ?? 1
        day = parts.day ?? 1
    }

    package var description: String {
        FixedFormat.decimal(year, width: 4) + "-" + FixedFormat.decimal(month, width: 2) + "-"
            + FixedFormat.decimal(day, width: 2)
    }

    package static func < (lhs: LocalDate, rhs: LocalDate) -> Bool {
        (lhs.year, lhs.month, lhs.day) < (rhs.year, rhs.month, rhs.day)
    }

    package init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        let text = try container.decode(String.self)
        guard let value = LocalDate(parsing: text) else {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: "expected a YYYY-MM-DD date")
        }
        self = value
    }

    package func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }

    private static let calendar: Calendar = {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        return calendar
    }()
}
