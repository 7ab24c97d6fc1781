import ConnectorCore
import Foundation
import Testing

/// The fast JSON ⇄ `JSONValue` path must never change a result: whatever the parser accepts decodes to the very tree
/// `JSONDecoder` gives (numbers written the same), and whatever it declines goes to `JSONDecoder`.
@Suite struct JSONValueParsingTests {
    /// `JSONDecoder` without the connector's user info: `JSONValue`'s reference order of attempts.
    static func reference(_ text: String) -> JSONValue? {
        try? JSONDecoder().decode(JSONValue.self, from: Data(text.utf8))
    }

    static let corpus: [String] = [
        "null", "true", "false", "0", "-0", "-0.0", "1", "-1", "1.50", "100", "1e2", "1E+2", "2.5e-3", "0.000123",
        "1102.5", "123456789012345678", "1234567890123456789", "12345678901234567890123", "0.1", "-12.3400",
        "-0.33333333333333333333333333333333333333", "33.3333333333333333333333333333333333333333",
        "123456789012345678901234567890123456789012", "0.000000000000000000000000000000000000000001234",
        "-1234567890.1234567890123", "100000000000000000000", "0.10000000000000000000000", "12345678901234567890e2",
        "1e400", "1e-400", "9223372036854775808", "1.000000000000000000001", "\"\"", "\"plain\"", #""a\"b\\c\/d""#,
        #""\b\f\n\r\t""#, #""\u00e9\u00E9 é""#, #""\ud83d\ude00 😀""#, #""\ud83d""#, #""\ude00x""#, #""\u0000""#,
        "\"tab\there\"", "[]", "{}", "[1,2,[3,{\"a\":null}]]", #"{"a":1,"a":2}"#, #"{"é":1,"e\u0301":2}"#,
        #"{"a":{"b":{"c":[true,false,null,"x",1.5]}}}"#, " \n\t{ \"k\" : [ 1 , 2 ] } \r\n", "01", "1.", ".5", "+1",
        "-", "1e", "[1,]", "{\"a\":1,}", "[1 2]", "{\"a\" 1}", "tru", "nul", "\"open", "[", "{", "1 2", "NaN",
        "\"\u{7F}\"", "\"\u{FEFF}x\"", "\"ﷺ\"", String(repeating: "[", count: 300) + String(repeating: "]", count: 300),
        String(repeating: "[", count: 200) + "1" + String(repeating: "]", count: 200),
    ]

    @Test func acceptedDocumentsDecodeExactlyAsJSONDecoderDoes() throws {
        var accepted = 0
        for text in Self.corpus + Self.randomDocuments(count: 400) {
            let expected = Self.reference(text)
            let fast = try? JSONValue.parse(Data(text.utf8))
            if let fast {
                accepted += 1
                let expected = try #require(
                    expected, "the parser accepted what JSONDecoder refuses: \(text.prefix(80))")
                #expect(fast == expected, "\(text.prefix(80))")
                #expect(Self.numberTexts(fast) == Self.numberTexts(expected), "\(text.prefix(80))")
            }
            // The fallback makes `decodeJSON` the reference, accepted or not.
            #expect((try? JSONValue.decodeJSON(Data(text.utf8))) == expected, "\(text.prefix(80))")
        }
        #expect(accepted > 300)
        // Long numbers (computed amounts) are read, not declined: a step result full of them stays fast.
        #expect(try JSONValue.parse(Data("-0.33333333333333333333333333333333333333".utf8)) != .null)
    }

    @Test func theConnectorsDecoderGivesTheSameTreesInItsFasterOrder() throws {
        for text in Self.corpus + Self.randomDocuments(count: 200) {
            let flagged = try? JSONCoding.decoder.decode(JSONValue.self, from: Data(text.utf8))
            #expect(flagged == Self.reference(text), "\(text.prefix(80))")
        }
    }

    @Test func writtenTreesReadBackUnchanged() throws {
        for text in Self.corpus + Self.randomDocuments(count: 200) {
            guard let tree = Self.reference(text) else { continue }
            let bytes = tree.jsonBytes()
            let again = try JSONDecoder().decode(JSONValue.self, from: bytes)
            #expect(again == tree)
            #expect(Self.numberTexts(again) == Self.numberTexts(tree))
            #expect((try? JSONValue.parse(bytes)).map { $0 == tree } ?? true)
        }
        let controls = JSONValue.string((0..<0x20).map { String(UnicodeScalar(UInt8($0))) }.joined() + "\"\\/é😀")
        #expect(try JSONDecoder().decode(JSONValue.self, from: controls.jsonBytes()) == controls)
    }

    @Test func theParserDeclinesWhatItDoesNotHandleExactly() {
        for text in [
            "01", "1.", ".5", "+1", "1e", "[1,]", "[1 2]", "1 2", "NaN", #""\ud83d""#, #""\ude00x""#,
            #"{"a":1,"a":2}"#, "1e400", "12345678901234567890e2", "\"\u{1}\"",
            String(repeating: "[", count: 300) + String(repeating: "]", count: 300),
        ] {
            #expect(throws: JSONValue.ParseRefusal.self, "\(text.prefix(40))") { try JSONValue.parse(Data(text.utf8)) }
        }
        let invalidUTF8 = Data([0x22, 0xC3, 0x28, 0x22])
        #expect(throws: JSONValue.ParseRefusal.self) { try JSONValue.parse(invalidUTF8) }
        #expect(throws: JSONValue.ParseRefusal.self) { try JSONValue.parse(Data()) }
    }

    @Test func typedDecodesThroughTheTreeKeepTypesDatesAndErrors() throws {
        struct Line: Codable, Equatable {
            var amount: Decimal
            var quantity: Int
            var at: Date
            var note: String?
        }
        let tree = try JSONValue.decodeJSON(
            Data(#"{"amount":1102.50,"quantity":3,"at":"2024-02-14T19:58:56.973Z","note":null}"#.utf8))
        let line = try tree.decode(Line.self)
        #expect(line.amount == Decimal(string: "1102.5"))
        #expect(line.quantity == 3)
        #expect(Timestamp.format(line.at) == "2024-02-14T19:58:56.973Z")
        #expect(line.note == nil)
        #expect(try JSONValue(encoding: line).decode(Line.self) == line)

        let event = CloudEvent(
            source: "test", type: "t", data: .object(["amount": .string("x"), "quantity": .number(1)]),
            connection: "c")
        #expect {
            try event.decodeData(Line.self)
        } throws: { error in
            (error as? ConnectorError)?.message == "event data is not a valid t: amount: expected Decimal"
        }
    }

    @Test func stepsReadEventsThroughTheFastPathWithTheSameResult() throws {
        let documents = [
            #"{"specversion":"1.0","id":"e1","source":"s","type":"t","data":{"a":[1,"x",null]},"attempt":"2"}"#,
            #"{"specversion":"1.0","id":"e1","source":"s","type":"t","data":null}"#,
            #"{"specversion":"1.0","id":"e1","source":"s","type":"t","time":"2024-02-14T19:58:56Z"}"#,
            #"{"specversion":"1.0","id":"e1","source":"s","type":"t","data":"text","recordid":"r"}"#,
        ]
        for text in documents {
            let fast = try StepDriver.decodeEvent(Data(text.utf8), acceptedTypes: ["t"])
            let reference = try JSONCoding.decode(CloudEvent.self, from: Data(text.utf8))
            #expect(fast == reference)
        }
        // Declined by the parser (a duplicate key), so the reference path decides, as before.
        let duplicate = #"{"specversion":"1.0","id":"e1","source":"s","type":"t","data":{"a":1,"a":2}}"#
        #expect(
            try StepDriver.decodeEvent(Data(duplicate.utf8), acceptedTypes: ["t"])
                == JSONCoding.decode(CloudEvent.self, from: Data(duplicate.utf8)))
        #expect {
            try StepDriver.decodeEvent(
                Data(#"{"specversion":"1.0","id":"","source":"s","type":"t"}"#.utf8), acceptedTypes: ["t"])
        } throws: { error in
            (error as? ConnectorError)?.message == "stdin is not a valid CloudEvent: id: must not be empty"
        }
    }

    @Test func documentsCarryingTreesDecodeAsTheyDidNodeByNode() throws {
        struct Carrier: Codable, Equatable {
            var events: [CloudEvent]
            var extra: [String: JSONValue]
            var nested: [[JSONValue]]
        }
        let event = CloudEvent(
            source: "s", type: "t", time: Date(timeIntervalSince1970: 1_700_000_000),
            data: .object(["lines": .array([.number(1.5), .string("x"), .null, .bool(true)]), "n": .object([:])]),
            connection: "c")
        var second = event
        second.data = nil
        let carrier = Carrier(
            events: [event, second], extra: ["a": .array([.number(2)]), "b": .null],
            nested: [[.string("p")], [], [.object(["q": .number(-0.25)])]])
        let bytes = try JSONCoding.encode(carrier)
        #expect(
            try JSONCoding.decodeParsingTrees(Carrier.self, from: bytes) == JSONCoding.decode(Carrier.self, from: bytes)
        )
        #expect(try JSONCoding.decodeParsingTrees(Carrier.self, from: bytes) == carrier)
        #expect(try JSONValue.decodeJSON(bytes).decode(Carrier.self) == carrier)
        // A document the parser declines (a duplicate key) decodes the plain way, errors included.
        let duplicate = Data(#"{"events":[],"extra":{"a":1,"a":2},"nested":[]}"#.utf8)
        #expect(
            try JSONCoding.decodeParsingTrees(Carrier.self, from: duplicate)
                == JSONCoding.decode(Carrier.self, from: duplicate))
        let wrong = Data(#"{"events":[{"specversion":"1.0"}],"extra":{},"nested":[]}"#.utf8)
        #expect(throws: DecodingError.self) { try JSONCoding.decodeParsingTrees(Carrier.self, from: wrong) }
    }

    @Test func encodedDocumentsAreByteForByteWhatJSONEncoderWrites() throws {
        let reference = JSONCoding.encoder  // no splice: every tree node by node through Encodable
        var trees = (Self.corpus + Self.randomDocuments(count: 300)).compactMap(Self.reference)
        trees.append(
            .object([
                "e\u{301}x": .number(1), "\u{e9}a": .number(2), "\u{212B}": .string("Å"), "Åb": .null,
                "a10": .bool(true),
                "a9": .array([.string("\u{8}\u{c}\u{1f}\u{7f}\u{2028}/\\\"")]), "B": .object(["😀": .number(-0.5)]),
            ]))
        for tree in trees {
            #expect(try JSONCoding.encode(tree) == reference.encode(tree))
            #expect(try JSONCoding.encode(["wrapped": [tree, tree]]) == reference.encode(["wrapped": [tree, tree]]))
        }
        let event = CloudEvent(
            source: "s", type: "t", time: Date(timeIntervalSince1970: 1_700_000_000), data: trees.last, connection: "c",
            recordid: "r")
        let item = WorkItem(function: "f", event: event, notBefore: Date(), enqueuedAt: Date())
        #expect(try JSONCoding.encode(item) == reference.encode(item))
        let result = StepResult(status: .ok, events: [event, event], detail: ["k": "v"])
        #expect(try JSONCoding.encode(result) == reference.encode(result))
        #expect(try JSONCoding.decode(StepResult.self, from: JSONCoding.encode(result)).events == result.events)
        // A string from outside that looks like a placeholder is only a string.
        let lookalike = JSONValue.array([.string("mlc-tree-00000000000000000000000000000000-0"), .object(["a": .null])])
        #expect(try JSONCoding.encode(lookalike) == reference.encode(lookalike))
    }

    @Test func treesAreLookedUpByTheirCodingPathNotDecodedAgain() throws {
        struct Carrier: Codable {
            var events: [CloudEvent]
        }
        let event = CloudEvent(source: "s", type: "t", data: .object(["a": .number(1)]), connection: "c")
        let bytes = try JSONCoding.encode(Carrier(events: [event, event]))
        // The decoder is handed a document whose second event's data differs from the bytes': a lookup shows.
        var document = try JSONValue.decodeJSON(bytes)
        guard case .object(var top) = document, case .array(var events)? = top["events"],
            case .object(var second) = events[1]
        else { throw CancellationError() }
        second["data"] = .string("looked up")
        events[1] = .object(second)
        top["events"] = .array(events)
        document = .object(top)
        let decoder = JSONCoding.decoder
        decoder.userInfo[JSONCoding.parsedDocumentKey] = document
        let decoded = try decoder.decode(Carrier.self, from: bytes)
        #expect(decoded.events[0].data == event.data)
        #expect(decoded.events[1].data == .string("looked up"))
    }

    /// Every number in a tree as `Decimal` writes it, in document order (object members by key).
    static func numberTexts(_ tree: JSONValue) -> [String] {
        switch tree {
        case .number(let value): [value.description]
        case .array(let items): items.flatMap(numberTexts)
        case .object(let members): members.keys.sorted().flatMap { numberTexts(members[$0] ?? .null) }
        default: []
        }
    }

    /// Seeded random documents: nested objects and arrays of the odd numbers and strings above.
    static func randomDocuments(count: Int) -> [String] {
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        func next(_ bound: Int) -> Int {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return Int((z ^ (z >> 31)) % UInt64(bound))
        }
        let leaves = corpus.filter { reference($0) != nil && !$0.hasPrefix("[") && !$0.hasPrefix("{") }
        let keys = ["a", "b", "amount", "lineList", "é", "e\u{301}", "", "😀"]
        func value(_ depth: Int) -> String {
            let roll = next(10)
            if depth > 4 || roll < 5 {
                if next(4) == 0 { return String(next(2_000_001) - 1_000_000) + (next(2) == 0 ? "" : ".\(next(1000))") }
                return leaves[next(leaves.count)]
            }
            if roll < 7 { return "[" + (0..<next(5)).map { _ in value(depth + 1) }.joined(separator: ",") + "]" }
            let members = Dictionary(
                (0..<next(5)).map { _ in (keys[next(keys.count)], value(depth + 1)) }, uniquingKeysWith: { a, _ in a })
            return "{"
                + members.map { "\"\($0.key)\":\($0.value)" }
                .joined(separator: ",") + "}"
        }
        return (0..<count).map { _ in value(0) }
    }
}
