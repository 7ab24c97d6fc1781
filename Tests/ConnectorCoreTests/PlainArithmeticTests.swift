import ConnectorCore
import Foundation
import Testing

/// Timestamps, dates, trimming and replacing moved off Foundation's formatters onto plain Swift (issue 10's step
/// budget). These check the replacements against what Foundation computes, over many values, and pin the RFC 3339
/// forms the parser accepts and refuses.
@Suite struct PlainArithmeticTests {
    @Test func formatMatchesFoundationAndParsesBack() throws {
        var generator = SystemRandomNumberGenerator()  // every failure names its value
        let style = Date.ISO8601FormatStyle(includingFractionalSeconds: true, timeZone: TimeZone(identifier: "UTC")!)
        // 1583 (the first whole Gregorian year in Foundation's calendar) to 9999, in milliseconds.
        let low: Int64 = -12_212_553_600_000
        let high: Int64 = 253_402_300_799_999
        var values: [Int64] = [0, -1, 1, 999, -999, 86_399_999, -86_400_000, 951_782_400_000, low, high]
        for _ in 0..<5000 { values.append(Int64.random(in: low...high, using: &generator)) }
        for millis in values {
            let date = Date(timeIntervalSince1970: Double(millis) / 1000)
            let text = Timestamp.format(date)
            // Foundation truncates the fraction, Timestamp rounds it: compare the whole seconds, then the millis.
            let wholeSeconds = millis >= 0 ? millis / 1000 : (millis - 999) / 1000
            let reference = Date(timeIntervalSince1970: Double(wholeSeconds)).formatted(style)
            #expect(text.prefix(19) == reference.prefix(19), "\(millis)")
            #expect(
                text.suffix(5) == "." + FixedFormat.decimal(millis - wholeSeconds * 1000, width: 3) + "Z", "\(millis)")
            let parsed = try #require(Timestamp.parse(text), "\(text)")
            #expect(Int64((parsed.timeIntervalSince1970 * 1000).rounded()) == millis, "\(text)")
        }
    }

    @Test func parseAcceptsRFC3339Forms() throws {
        let base = 1_707_940_736.0  // 2024-02-14T19:58:56Z
        let accepted: [(String, Double)] = [
            ("2024-02-14T19:58:56Z", base),
            ("2024-02-14t19:58:56z", base),
            ("2024-02-14T19:58:56.973Z", base + 0.973),
            ("2024-02-14T19:58:56.1234567Z", base + 0.1234567),
            ("2024-02-14T19:58:56.123456789Z", base + 0.123456789),
            ("2024-02-14T19:58:56+03:00", base - 10_800),
            ("2024-02-14T19:58:56+0300", base - 10_800),
            ("2024-02-14T19:58:56+03", base - 10_800),
            ("2024-02-14T19:58:56-00:30", base + 1800),
            ("2024-02-14T19:58:56+14:00", base - 50_400),
            ("2024-02-14T19:58:60Z", base + 4),
            ("2024-02-29T00:00:00Z", 1_709_164_800),
            ("2000-02-29T00:00:00Z", 951_782_400),
            ("0001-01-01T00:00:00Z", -62_135_596_800),
        ]
        for (text, expected) in accepted {
            let date = try #require(Timestamp.parse(text), "\(text)")
            #expect(abs(date.timeIntervalSince1970 - expected) < 1e-6, "\(text)")
        }
    }

    @Test(arguments: [
        "2024-02-30T00:00:00Z", "2023-02-29T00:00:00Z", "1900-02-29T00:00:00Z", "2024-13-01T00:00:00Z",
        "2024-02-14T24:00:00Z", "2024-02-14T19:60:00Z", "2024-02-14T19:58:61Z", "2024-02-14 19:58:56Z",
        "2024-02-14T19:58:56", "2024-02-14T19:58Z", "2024-02-14T19:58:56.Z", "2024-02-14T19:58:56,5Z",
        "2024-02-14T19:58:56Zjunk", "2024-02-14T1:58:56Z", "2024-2-14T19:58:56Z", "2024-02-14T19:58:56+19:00",
        "2024-02-14T19:58:56+03:60", "2024-02-14T19:58:56.0000000001Z", "2024-02-14T19:58:56 Z", "nonsense",
        "2024-02-14T19:58:56+3:00", "２０２４-02-14T19:58:56Z",
    ])
    func parseRefuses(text: String) {
        #expect(Timestamp.parse(text) == nil)
    }

    @Test func localDatesMatchFoundationsCalendar() {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<3000 {
            let year = Int.random(in: 1583...9999, using: &generator)
            let month = Int.random(in: 1...12, using: &generator)
            let day = Int.random(in: 1...31, using: &generator)
            let components = DateComponents(year: year, month: month, day: day)
            #expect(
                (LocalDate(year: year, month: month, day: day) != nil) == components.isValidDate(in: calendar),
                "\(components)")
            guard let date = calendar.date(from: components), components.isValidDate(in: calendar) else { continue }
            let local = LocalDate(utcDayOf: date.addingTimeInterval(Double.random(in: 0..<86_400, using: &generator)))
            #expect(local.description == Timestamp.format(date).prefix(10).description, "\(components)")
        }
        #expect(LocalDate(utcDayOf: Date(timeIntervalSince1970: -1)).description == "1969-12-31")
        #expect(LocalDate.civil(daysSinceEpoch: LocalDate.daysSinceEpoch(year: 1, month: 1, day: 1)) == (1, 1, 1))
    }

    @Test func trimmingMatchesFoundation() {
        let pieces = ["", " ", "\t", "\n", "\r\n", "\u{85}", "\u{A0}", "\u{2003}", "\u{2028}", "\u{3000}", "\u{0B}"]
        let cores = ["", "a", "a b", "é", "\u{301}x", "tab\there", "日本"]
        for left in pieces {
            for core in cores {
                for right in pieces {
                    let text = left + core + right
                    #expect(text.trimmingWhitespace() == text.trimmingCharacters(in: .whitespacesAndNewlines))
                    #expect(
                        text.trimmingWhitespace(newlines: false) == text.trimmingCharacters(in: .whitespaces),
                        "\(text.debugDescription)")
                    let sub = (text + "|").dropLast()
                    #expect(sub.trimmingWhitespace() == text.trimmingCharacters(in: .whitespacesAndNewlines))
                }
            }
        }
    }

    @Test func replacingMatchesFoundationOnASCIIMarkers() {
        let texts = ["", "+", "++", "a+b+c", "%20%20", "%2%20", "a%20b", "x/y_z/", "ü+ü", "%20"]
        for text in texts {
            for (target, replacement) in [("+", "-"), ("%20", "+"), ("/", "_"), ("%20", "")] {
                #expect(
                    text.replacingEvery(target, with: replacement)
                        == text.replacingOccurrences(of: target, with: replacement), "\(text) \(target)")
            }
        }
        #expect("abc".replacingEvery("", with: "x") == "abc")
    }

    @Test func percentEncodingMatchesFoundation() {
        let unreserved = CharacterSet(
            charactersIn: "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
        var texts = ["", "plain", "a b+c/d?e=f&g", "p@ss:wörd€\u{10348}", "100%", "tab\tnl\n", "\"quoted\"'"]
        texts.append(String((0x01...0x7F).map { Character(Unicode.Scalar(UInt8($0))) }))
        for text in texts {
            #expect(
                PercentEncoding.escaped(text, keeping: PercentEncoding.unreserved)
                    == text.addingPercentEncoding(withAllowedCharacters: unreserved), "\(text.debugDescription)")
            #expect(
                PercentEncoding.escaped(text, keeping: PercentEncoding.queryAllowed)
                    == text.addingPercentEncoding(withAllowedCharacters: .urlQueryAllowed), "\(text.debugDescription)")
        }
    }
}
