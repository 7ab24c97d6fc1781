import Foundation

/// A section of the connection file (the top level, `jaggaer`, `flow`, …): the keys it accepts and the sections
/// nested in it. Decoding refuses any other key, and the README's settings reference is checked against
/// `Connection.settingPaths`, which is built from these lists, so neither can drift from the types.
package protocol SettingsSection {
    /// Every key the section accepts, in the order the encoder writes them.
    static var settingKeys: [String] { get }
    /// Keys whose value is itself a section (`isList`: a list of such sections).
    static var nestedSections: [(key: String, isList: Bool, type: any SettingsSection.Type)] { get }
}

extension SettingsSection {
    package static var nestedSections: [(key: String, isList: Bool, type: any SettingsSection.Type)] { [] }

    /// The full paths of the leaf settings under this section, e.g. `mapping.dimensions[].segment`.
    package static func settingPaths(prefix: String) -> [String] {
        var paths: [String] = []
        let nested = Dictionary(uniqueKeysWithValues: nestedSections.map { ($0.key, $0) })
        for key in settingKeys {
            let path = prefix.isEmpty ? key : "\(prefix).\(key)"
            if let section = nested[key] {
                paths += section.type.settingPaths(prefix: path + (section.isList ? "[]" : ""))
            } else {
                paths.append(path)
            }
        }
        return paths
    }
}

/// Any key, to see every key a mapping holds (a `CodingKeys` enum hides the ones it does not know).
package struct AnySettingsKey: CodingKey, Hashable {
    package var stringValue: String
    package var intValue: Int?
    package init(stringValue: String) { self.stringValue = stringValue }
    package init(intValue: Int) {
        self.stringValue = String(intValue)
        self.intValue = intValue
    }
}

/// Strict decoding of connection settings: unknown keys are refused with the full key path and the nearest valid
/// name, so a misspelt setting never silently falls back to its default.
package enum SettingsDecoding {
    /// Set (to `true`) in a decoder's `userInfo` when it reads a connection file written by a person. Without it the
    /// decoder reads a stored connection, which may still carry keys older versions wrote.
    package static let connectionFileKey = CodingUserInfoKey(rawValue: "com.mlconnector.connectionFile")!

    package static func isConnectionFile(_ decoder: any Decoder) -> Bool {
        decoder.userInfo[connectionFileKey] as? Bool == true
    }

    /// A setting whose value must be one of an enum's raw values: nil when absent, and a value outside them refused
    /// with its path and the choices (`erp.lineDimensions is "x"; use a or b`).
    package static func choice<Value: RawRepresentable & CaseIterable, Key: CodingKey>(
        _ container: KeyedDecodingContainer<Key>, _ key: Key
    ) throws -> Value? where Value.RawValue == String {
        guard let text = try container.decodeIfPresent(String.self, forKey: key) else { return nil }
        guard let value = Value(rawValue: text) else {
            let choices = Value.allCases.map(\.rawValue).joined(separator: " or ")
            throw ConnectorError(
                .connectionInvalid,
                "\(path(container.codingPath, key.stringValue)) is \(text.prefix(40).debugDescription); use \(choices)")
        }
        return value
    }

    /// `mapping.dimensions[1].segment` for a coding path (and an optional last key).
    package static func path(_ codingPath: [any CodingKey], _ last: String? = nil) -> String {
        var text = ""
        for key in codingPath {
            if let index = key.intValue, key.stringValue == String(index) || key.stringValue.hasPrefix("Index ") {
                text += "[\(index)]"
            } else {
                text += text.isEmpty ? key.stringValue : ".\(key.stringValue)"
            }
        }
        if let last { text += text.isEmpty ? last : ".\(last)" }
        return text
    }

    /// Refuses keys that are not in `known`. `retired` names keys older versions accepted and what replaces them:
    /// a connection file that still uses one is refused with that message; a stored connection may carry them.
    package static func checkKeys(
        _ decoder: any Decoder, known: [String], retired: [String: String] = [:]
    ) throws {
        let container = try decoder.container(keyedBy: AnySettingsKey.self)
        let isFile = isConnectionFile(decoder)
        for key in container.allKeys where !known.contains(key.stringValue) {
            let name = key.stringValue
            let full = path(decoder.codingPath, printable(name))
            if let replacement = retired[name] {
                if isFile { throw ConnectorError(.connectionInvalid, "\(full) is no longer a setting: \(replacement)") }
                continue
            }
            if let guess = nearest(name, in: known) {
                throw ConnectorError(
                    .connectionInvalid, "\(full) is not a setting; did you mean \(path(decoder.codingPath, guess))?")
            }
            let section = path(decoder.codingPath)
            throw ConnectorError(
                .connectionInvalid,
                "\(full) is not a setting; \(section.isEmpty ? "the top level" : section) takes \(known.joined(separator: ", "))"
            )
        }
    }

    /// A key as it may appear in a message: at most 64 characters, control characters escaped.
    static func printable(_ key: String) -> String {
        let clipped = key.count > 64 ? String(key.prefix(64)) + "…" : key
        return clipped.unicodeScalars.allSatisfy({ $0.value >= 0x20 && $0.value != 0x7F })
            ? clipped : clipped.debugDescription
    }

    /// The candidate closest to `word` (case-insensitive edit distance), if it is close enough to be a typo.
    package static func nearest(_ word: String, in candidates: [String]) -> String? {
        let target = Array(word.lowercased())
        guard target.count <= 80 else { return nil }
        var best: (name: String, distance: Int)?
        for candidate in candidates {
            let distance = editDistance(target, Array(candidate.lowercased()))
            if distance < (best?.distance ?? .max) { best = (candidate, distance) }
        }
        guard let best else { return nil }
        let allowed = max(2, min(target.count, best.name.count) / 3)
        return best.distance <= allowed ? best.name : nil
    }

    static func editDistance(_ a: [Character], _ b: [Character]) -> Int {
        if a.isEmpty { return b.count }
        if b.isEmpty { return a.count }
        var previous = Array(0...b.count)
        var current = [Int](repeating: 0, count: b.count + 1)
        for i in 1...a.count {
            current[0] = i
            for j in 1...b.count {
                let substitution = previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1)
                current[j] = min(previous[j] + 1, current[j - 1] + 1, substitution)
            }
            swap(&previous, &current)
        }
        return previous[b.count]
    }
}
