import Foundation
import PropertyBased

/// Random JSON documents for decoder fuzzing: wrong types, missing and extra fields, huge strings, odd Unicode,
/// extreme numbers, deep nesting, and mutations of real payloads.
enum RandomJSON {
    static let oddStrings: [String] = [
        "", " ", "false", "true", "null", "0", "-0", "1e400", "NaN", "Infinity", "\u{0}", "\u{7F}", "\u{FEFF}",
        "\u{202E}evil", "😀👍🏽", "Ω≈ç√∫", "ﷺ", "\u{1F1E9}\u{1F1EA}", "'", "''", "x' or 1 eq 1", "\\", "\"", "\n\r\t",
        "2024-02-30T00:00:00Z", "2024-02-14T19:58:56.973Z", "9999-12-31", "0000-00-00", "{}", "[]", "%00",
        "../../etc/passwd",
    ]

    static let numbers: [String] = [
        "0", "-0", "1", "-1", "0.1", "1102.5", "1e400", "-1e400", "1e-400", "123456789012345678901234567890",
        "9223372036854775808", "-9223372036854775809", "3.4028236e38", "0.000000000000000000000000000001",
    ]

    static func value(_ rng: inout any SeededRandomNumberGenerator, depth: Int) -> String {
        let roll = Int.random(in: 0..<100, using: &rng)
        if depth > 4 || roll < 55 {
            switch Int.random(in: 0..<7, using: &rng) {
            case 0: return "null"
            case 1: return Bool.random(using: &rng) ? "true" : "false"
            case 2: return numbers.randomElement(using: &rng)!
            case 3: return String(Int.random(in: -1_000_000...1_000_000, using: &rng))
            case 4: return quote(oddStrings.randomElement(using: &rng)!)
            case 5: return quote(String(repeating: "A", count: Int.random(in: 0...2, using: &rng) == 0 ? 300_000 : 40))
            default:
                return quote(
                    String(
                        (0..<Int.random(in: 0...12, using: &rng)).map { _ in
                            Character(Unicode.Scalar(UInt8.random(in: 32...126, using: &rng)))
                        }))
            }
        }
        if roll < 78 {
            let count = Int.random(in: 0...4, using: &rng)
            return "[" + (0..<count).map { _ in value(&rng, depth: depth + 1) }.joined(separator: ",") + "]"
        }
        let keys = [
            "header", "lineList", "invoiceLine", "invoiceId", "supplier", "supplierNumber", "total", "value",
            "currency",
            "quantity", "unitPrice", "specversion", "id", "source", "type", "data", "connection", "attempt", "x", "",
        ]
        let count = Int.random(in: 0...5, using: &rng)
        return "{"
            + (0..<count).map { _ in quote(keys.randomElement(using: &rng)!) + ":" + value(&rng, depth: depth + 1) }
            .joined(separator: ",") + "}"
    }

    static func quote(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20: out += String(format: "\\u%04x", scalar.value)
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }

    /// A random document.
    static var documents: Generator<String, Shrink.None<String>> {
        Generator { rng in value(&rng, depth: 0) }
    }

    /// The real payload with one value somewhere replaced by random JSON, or one field removed, or garbage appended.
    static func mutations(of original: String) -> Generator<String, Shrink.None<String>> {
        Generator { rng in
            let object = try! JSONSerialization.jsonObject(with: Data(original.utf8))
            var paths: [[Any]] = []
            func walk(_ node: Any, _ path: [Any]) {
                paths.append(path)
                if let dictionary = node as? [String: Any] {
                    for (key, child) in dictionary { walk(child, path + [key]) }
                } else if let array = node as? [Any] {
                    for (index, child) in array.enumerated() { walk(child, path + [index]) }
                }
            }
            walk(object, [])
            let target = paths.randomElement(using: &rng)!
            let mode = Int.random(in: 0..<4, using: &rng)
            func rewrite(_ node: Any, _ path: ArraySlice<Any>) -> Any? {
                guard let head = path.first else {
                    if mode == 0 { return nil }
                    let replacement = value(&rng, depth: 2)
                    return
                        (try? JSONSerialization.jsonObject(with: Data(replacement.utf8), options: [.fragmentsAllowed]))
                        ?? NSNull()
                }
                if var dictionary = node as? [String: Any], let key = head as? String {
                    dictionary[key] = dictionary[key].flatMap { rewrite($0, path.dropFirst()) }
                    return dictionary
                }
                if var array = node as? [Any], let index = head as? Int, array.indices.contains(index) {
                    if let child = rewrite(array[index], path.dropFirst()) {
                        array[index] = child
                    } else {
                        array.remove(at: index)
                    }
                    return array
                }
                return node
            }
            let mutated = rewrite(object, target[...]) ?? NSNull()
            var text = String(
                decoding: (try? JSONSerialization.data(withJSONObject: mutated, options: [.fragmentsAllowed]))
                    ?? Data("null".utf8), as: UTF8.self)
            if mode == 3 {
                // Truncated or trailing garbage.
                if Bool.random(using: &rng), !text.isEmpty {
                    text = String(text.prefix(Int.random(in: 0..<text.count, using: &rng)))
                } else {
                    text += "}]{"
                }
            }
            return text
        }
    }
}
