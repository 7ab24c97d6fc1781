import ConnectorSimulators
import Foundation
import Testing

@Suite("JSON values keep what the simulators must reproduce")
struct JSONValueTests {
    @Test("key order, number literals and string booleans survive a round trip")
    func roundTrip() throws {
        let text = #"{"z":1102.5,"a":"false","m":[0,-3,1.10,2e3],"e":{},"n":null,"b":true,"s":"O'Neil \"x\"\n\u00e9"}"#
        let value = try SimJSON.parse(text)
        #expect(value.objectValue?.orderedKeys == ["z", "a", "m", "e", "n", "b", "s"])
        #expect(value["z"] == .number("1102.5"))
        #expect(value["a"] == .string("false"))
        #expect(value["b"] == .bool(true))
        #expect(value["m"]?.arrayValue?[2] == .number("1.10"))
        #expect(value["s"]?.stringValue == "O'Neil \"x\"\né")
        let again = try SimJSON.parse(value.text)
        #expect(again == value)
        #expect(value.text.hasPrefix(#"{"z":1102.5,"a":"false","m":[0,-3,1.10,2e3],"e":{},"n":null"#))
    }

    @Test("decimals are written exactly, without binary floating point")
    func decimals() {
        let sum = (Decimal(string: "0.1") ?? 0) + (Decimal(string: "0.2") ?? 0)
        #expect(SimJSON.decimal(sum) == .number("0.3"))
        #expect(SimJSON.decimal(Decimal(1000)) == .number("1000"))
        #expect(SimJSON.decimal(Decimal(string: "-12.50") ?? 0) == .number("-12.5"))
    }

    @Test("structural equality ignores key order and number spelling but not types")
    func structuralEquality() throws {
        let a = try SimJSON.parse(#"{"a":1.50,"b":["x"]}"#)
        let b = try SimJSON.parse(#"{"b":["x"],"a":1.5}"#)
        let c = try SimJSON.parse(#"{"b":["x"],"a":"1.5"}"#)
        #expect(a.structurallyEquals(b))
        #expect(!a.structurallyEquals(c))
    }

    @Test("invalid JSON is rejected", arguments: ["{", #"{"a":}"#, "[1,]", "01", #""unterminated"#, "{} x", "tru"])
    func invalid(text: String) {
        #expect(throws: JSONParseError.self) { try SimJSON.parse(text) }
    }
}
