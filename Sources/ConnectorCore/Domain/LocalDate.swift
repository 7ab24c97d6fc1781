import Foundation

/// A calendar date without time or zone (`YYYY-MM-DD`), the way ERPs take document dates.
package struct LocalDate: Sendable, Hashable, Comparable, Codable, CustomStringConvertible {
    package let year: Int
    package let month: Int
    package let day: Int

    package init?(year: Int, month: Int, day: Int) {
        guard (1...9999).contains(year), (1...12).contains(month), day >= 1,
            day <= LocalDate.daysInMonth(year: year, month: month)
        else { return nil }
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
        let days = Int((date.timeIntervalSince1970 / 86_400).rounded(.down))
        (year, month, day) = LocalDate.civil(daysSinceEpoch: days)
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

    // Plain arithmetic on the proleptic Gregorian calendar (ISO 8601), instead of Foundation's `Calendar`: creating
    // one costs a step process a measurable part of its start (issue 10's step budget), and its Gregorian calendar
    // switches to the Julian one before October 1582, which no ERP document date means.

    /// Days in `month` of `year` (proleptic Gregorian).
    package static func daysInMonth(year: Int, month: Int) -> Int {
        switch month {
        case 2: year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) ? 29 : 28
        case 4, 6, 9, 11: 30
        default: 31
        }
    }

    /// Days from 1970-01-01 to the given date (negative before it); Howard Hinnant's `days_from_civil`.
    package static func daysSinceEpoch(year: Int, month: Int, day: Int) -> Int {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yearOfEra = y - era * 400
        let dayOfYear = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }

    /// The date `days` after 1970-01-01; Howard Hinnant's `civil_from_days`.
    package static func civil(daysSinceEpoch days: Int) -> (year: Int, month: Int, day: Int) {
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let monthFromMarch = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * monthFromMarch + 2) / 5 + 1
        let month = monthFromMarch < 10 ? monthFromMarch + 3 : monthFromMarch - 9
        return (yearOfEra + era * 400 + (month <= 2 ? 1 : 0), month, day)
    }
}
