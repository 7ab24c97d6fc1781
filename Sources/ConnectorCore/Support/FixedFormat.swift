/// Fixed-width hex and decimal text without `String(format:)`. Foundation's formatter parses the format at every call
/// and boxes each argument as `CVarArg`; in a step process the boxing's first use per integer type also makes the
/// Swift runtime scan every conformance record of the executable (issue 10's step budget). These run on hot paths:
/// store keys, queue keys, digests, trace ids.
package enum FixedFormat {
    private static let lowerDigits = Array("0123456789abcdef".utf8)
    private static let upperDigits = Array("0123456789ABCDEF".utf8)

    /// Two hex digits per byte, lower case by default.
    ///
    /// Not generic over the byte sequence: called from other modules, a generic version runs unspecialized and
    /// instantiates its types' metadata at run time (in a step process, a scan of every conformance record of the
    /// executable per new type). Callers turn digests and slices into an array first.
    package static func hex(_ bytes: [UInt8], uppercase: Bool = false) -> String {
        let digits = uppercase ? upperDigits : lowerDigits
        var text: [UInt8] = []
        text.reserveCapacity(bytes.count * 2)
        for byte in bytes {
            text.append(digits[Int(byte >> 4)])
            text.append(digits[Int(byte & 0x0F)])
        }
        return String(decoding: text, as: UTF8.self)
    }

    /// `value` in hex, zero-padded to at least `width` digits (as `%0<width>x`; negative values are not accepted).
    package static func hex<Value: BinaryInteger>(_ value: Value, width: Int, uppercase: Bool = false) -> String {
        precondition(value >= 0, "hex of a negative value")
        let digits = String(value, radix: 16, uppercase: uppercase)
        return String(repeating: "0", count: max(0, width - digits.count)) + digits
    }

    /// `value` in decimal, zero-padded to at least `width` characters, the sign included (as `%0<width>d`).
    package static func decimal<Value: BinaryInteger>(_ value: Value, width: Int) -> String {
        let digits = String(value.magnitude)
        let sign = value < 0 ? "-" : ""
        return sign + String(repeating: "0", count: max(0, width - sign.count - digits.count)) + digits
    }
}
