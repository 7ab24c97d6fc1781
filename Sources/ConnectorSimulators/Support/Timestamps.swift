import Foundation

/// Date and time text in the exact shapes the simulated systems use (UTC, proleptic Gregorian).
enum Timestamps {
    /// `2024-02-14T19:58:56.973Z` (milliseconds, UTC), the JAGGAER and BC timestamp shape.
    static func millis(_ date: Date) -> String {
        // Nearest millisecond: parsed ".973" is not exactly representable and must not become ".972".
        let totalMillis = Int64((date.timeIntervalSince1970 * 1000).rounded())
        let seconds = floorDiv(totalMillis, 1000)
        let millis = Int(totalMillis - seconds * 1000)
        let (y, m, d) = civil(fromDays: floorDiv(seconds, 86_400))
        let secondOfDay = Int(seconds - floorDiv(seconds, 86_400) * 86_400)
        return pad(y, 4) + "-" + pad(m, 2) + "-" + pad(d, 2) + "T" + pad(secondOfDay / 3600, 2) + ":"
            + pad(secondOfDay / 60 % 60, 2) + ":" + pad(secondOfDay % 60, 2) + "." + pad(millis, 3) + "Z"
    }

    /// `2024-02-14` (UTC calendar date).
    static func day(_ date: Date) -> String {
        let seconds = Int64(date.timeIntervalSince1970.rounded(.down))
        let (y, m, d) = civil(fromDays: floorDiv(seconds, 86_400))
        return pad(y, 4) + "-" + pad(m, 2) + "-" + pad(d, 2)
    }

    /// `2024-02-14T00:00:00.000Z` for the UTC day of `date` (JAGGAER's date-only fields).
    static func midnight(_ date: Date) -> String { day(date) + "T00:00:00.000Z" }

    /// Parses an ISO-8601 instant `YYYY-MM-DDThh:mm[:ss[.fff…]](Z|±hh:mm)`.
    static func parseInstant(_ text: String) -> Date? {
        let chars = Array(text.utf8)
        var index = 0
        func number(_ count: Int) -> Int? {
            guard index + count <= chars.count else { return nil }
            var value = 0
            for offset in 0..<count {
                let c = chars[index + offset]
                guard c >= 0x30, c <= 0x39 else { return nil }
                value = value * 10 + Int(c - 0x30)
            }
            index += count
            return value
        }
        func expect(_ c: Character) -> Bool {
            guard index < chars.count, chars[index] == UInt8(ascii: c.unicodeScalars.first ?? " ") else { return false }
            index += 1
            return true
        }
        guard let year = number(4), expect("-"), let month = number(2), expect("-"), let dayValue = number(2),
            expect("T"), let hour = number(2), expect(":"), let minute = number(2)
        else { return nil }
        var second = 0
        var fraction = 0.0
        if expect(":") {
            guard let value = number(2) else { return nil }
            second = value
            if expect(".") {
                var scale = 0.1
                var digits = 0
                while index < chars.count, chars[index] >= 0x30, chars[index] <= 0x39 {
                    fraction += Double(chars[index] - 0x30) * scale
                    scale /= 10
                    digits += 1
                    index += 1
                }
                guard digits > 0 else { return nil }
            }
        }
        var offsetSeconds = 0
        if expect("Z") {
            offsetSeconds = 0
        } else if index < chars.count, chars[index] == UInt8(ascii: "+") || chars[index] == UInt8(ascii: "-") {
            let sign = chars[index] == UInt8(ascii: "-") ? -1 : 1
            index += 1
            guard let hours = number(2), expect(":"), let minutes = number(2), hours < 24, minutes < 60 else {
                return nil
            }
            offsetSeconds = sign * (hours * 3600 + minutes * 60)
        } else {
            return nil
        }
        guard index == chars.count, (1...12).contains(month), dayValue >= 1,
            dayValue <= daysInMonth(year: year, month: month), hour < 24, minute < 60, second < 60
        else { return nil }
        let days = days(fromCivil: year, month, dayValue)
        let seconds = Double(days) * 86_400 + Double(hour * 3600 + minute * 60 + second - offsetSeconds)
        return Date(timeIntervalSince1970: seconds + fraction)
    }

    /// Parses `YYYY-MM-DD` as midnight UTC.
    static func parseDay(_ text: String) -> Date? {
        guard text.utf8.count == 10 else { return nil }
        return parseInstant(text + "T00:00:00Z")
    }

    // MARK: Civil calendar arithmetic (Howard Hinnant's algorithms)

    private static func floorDiv(_ a: Int64, _ b: Int64) -> Int64 {
        a >= 0 ? a / b : -((-a + b - 1) / b)
    }

    private static func civil(fromDays days: Int64) -> (Int, Int, Int) {
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365
        let y = yoe + era * 400
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        return (Int(m <= 2 ? y + 1 : y), Int(m), Int(d))
    }

    private static func days(fromCivil year: Int, _ month: Int, _ day: Int) -> Int64 {
        let y = Int64(month <= 2 ? year - 1 : year)
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let m = Int64(month)
        let doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + Int64(day) - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }

    private static func daysInMonth(year: Int, month: Int) -> Int {
        switch month {
        case 2: return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 ? 29 : 28
        case 4, 6, 9, 11: return 30
        default: return 31
        }
    }

    private static func pad(_ value: Int, _ width: Int) -> String {
        let text = String(value)
        return text.count >= width ? text : String(repeating: "0", count: width - text.count) + text
    }
}
