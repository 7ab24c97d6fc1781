/// Text operations the steps' hot paths need, in plain Swift. Foundation's `trimmingCharacters(in:)` and
/// `replacingOccurrences(of:with:)` bridge through `NSString`, and their first use in a step process makes the Swift
/// runtime scan every conformance record of the executable for the types they use inside (issue 10's step budget).
/// Concrete on `String` and `Substring`, not generic over `StringProtocol`, for the same reason.
extension String {
    /// Without leading and trailing white space: with `newlines` (the default) what
    /// `CharacterSet.whitespacesAndNewlines` holds, else what `CharacterSet.whitespaces` holds.
    package func trimmingWhitespace(newlines: Bool = true) -> String {
        PlainText.trimmed(unicodeScalars[...], newlines: newlines)
    }

    /// Every occurrence of `target` replaced by `replacement`, left to right without overlaps, compared byte for
    /// byte in UTF-8 (no case folding, no Unicode normalization: meant for ASCII markers such as `%20` or `+`).
    package func replacingEvery(_ target: String, with replacement: String) -> String {
        let needle = Array(target.utf8)
        guard !needle.isEmpty else { return self }
        let bytes = Array(utf8)
        var result: [UInt8] = []
        result.reserveCapacity(bytes.count)
        var index = 0
        var replaced = false
        while index < bytes.count {
            if bytes[index] == needle[0], index + needle.count <= bytes.count,
                bytes[index..<index + needle.count].elementsEqual(needle)
            {
                result.append(contentsOf: replacement.utf8)
                index += needle.count
                replaced = true
            } else {
                result.append(bytes[index])
                index += 1
            }
        }
        return replaced ? String(decoding: result, as: UTF8.self) : self
    }
}

extension Substring {
    /// See `String.trimmingWhitespace(newlines:)`.
    package func trimmingWhitespace(newlines: Bool = true) -> String {
        PlainText.trimmed(unicodeScalars[...], newlines: newlines)
    }
}

enum PlainText {
    /// `CharacterSet.whitespaces`: general category Zs and the tab; `whitespacesAndNewlines` adds U+000A–U+000D,
    /// U+0085 and the categories Zl and Zp (U+2028, U+2029).
    static func isWhitespace(_ scalar: Unicode.Scalar, newlines: Bool) -> Bool {
        if scalar == "\t" || scalar.properties.generalCategory == .spaceSeparator { return true }
        guard newlines else { return false }
        switch scalar.value {
        case 0x0A...0x0D, 0x85, 0x2028, 0x2029: return true
        default: return false
        }
    }

    static func trimmed(_ scalars: Substring.UnicodeScalarView, newlines: Bool) -> String {
        var start = scalars.startIndex
        var end = scalars.endIndex
        while start < end, isWhitespace(scalars[start], newlines: newlines) { scalars.formIndex(after: &start) }
        while end > start, isWhitespace(scalars[scalars.index(before: end)], newlines: newlines) {
            scalars.formIndex(before: &end)
        }
        return String(Substring(scalars[start..<end]))
    }
}

/// Percent-encoding of UTF-8 bytes with upper-case hex, as `addingPercentEncoding(withAllowedCharacters:)` writes it,
/// without Foundation (see `String.replacingEvery`): the secret redactor computes these for every secret it learns.
package enum PercentEncoding {
    /// RFC 3986's unreserved characters.
    package static let unreserved = Set(
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~".utf8)
    /// The ASCII characters of `CharacterSet.urlQueryAllowed`.
    package static let queryAllowed = Set(
        "!$&'()*+,-./0123456789:;=?@ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz~".utf8)

    package static func escaped(_ text: String, keeping kept: Set<UInt8>) -> String {
        let digits = Array("0123456789ABCDEF".utf8)
        var result: [UInt8] = []
        result.reserveCapacity(text.utf8.count)
        for byte in text.utf8 {
            if kept.contains(byte) {
                result.append(byte)
            } else {
                result.append(UInt8(ascii: "%"))
                result.append(digits[Int(byte >> 4)])
                result.append(digits[Int(byte & 0x0F)])
            }
        }
        return String(decoding: result, as: UTF8.self)
    }
}
