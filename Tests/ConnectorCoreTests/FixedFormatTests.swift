import ConnectorCore
import Foundation
import Testing

/// `FixedFormat` replaces `String(format:)` on hot paths; its text must stay byte for byte what the format gave,
/// because store keys, queue keys and digests written by older versions are read back by their text.
@Suite struct FixedFormatTests {
    @Test func hexMatchesTheFormatForEveryByte() {
        let bytes = (0...255).map { UInt8($0) }
        #expect(FixedFormat.hex(bytes) == bytes.map { String(format: "%02x", $0) }.joined())
        #expect(FixedFormat.hex(bytes, uppercase: true) == bytes.map { String(format: "%02X", $0) }.joined())
        #expect(FixedFormat.hex([UInt8]()) == "")
    }

    @Test func paddedHexMatchesTheFormat() {
        for value: UInt32 in [0, 1, 0x1f, 0xfff, 0xffff, 0x10000, 0xdbff] {
            #expect(FixedFormat.hex(value, width: 4) == String(format: "%04x", value))
        }
    }

    @Test(arguments: [Int64.min + 1, -1_234_567, -12, -1, 0, 7, 42, 999, 1000, 123_456_789_012, 9_999_999_999_999_999])
    func paddedDecimalMatchesTheFormat(value: Int64) {
        for width in [0, 2, 3, 4, 12, 15] {
            #expect(FixedFormat.decimal(value, width: width) == String(format: "%0\(width)lld", value))
        }
    }
}
