import ConnectorCore
import Foundation
import Yams

/// Reads a connection file (YAML, or JSON when the name ends in `.json`) as a person wrote it: size-limited before
/// parsing, duplicate keys reported with their line, unknown keys refused with the nearest valid name, and in linear
/// time however large the mapping tables are. Secrets stay references here; `ConnectionStore.prepare` resolves them.
package enum ConnectionFile {
    /// Largest connection file read (20,000 vendor mappings take about 0.5 MiB).
    package static let maxBytes = 1024 * 1024

    /// The free-form string tables of a connection. They are read straight from the parsed YAML tree: decoding a
    /// large mapping through `YAMLDecoder` looks every key up in a list (quadratic in its size).
    static let stringTables: [[String]] = [
        ["mapping", "vendors"], ["mapping", "accounts"], ["mapping", "taxCodes"],
    ]
    static let nestedTables: [[String]] = [["mapping", "dimensionValues"]]

    package static func load(path: String) throws -> Connection {
        let shown = path.prefix(200).debugDescription
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw ConnectorError(.configInvalid, "the connection file \(shown) does not exist")
        }
        guard !isDirectory.boolValue else {
            throw ConnectorError(.configInvalid, "\(shown) is a directory, not a connection file")
        }
        guard let handle = FileHandle(forReadingAtPath: path) else {
            throw ConnectorError(.configInvalid, "the connection file \(shown) cannot be read (permissions?)")
        }
        defer { try? handle.close() }
        let data: Data
        do {
            data = try handle.read(upToCount: maxBytes + 1) ?? Data()
        } catch {
            throw ConnectorError(.configInvalid, "the connection file \(shown) cannot be read")
        }
        guard data.count <= maxBytes else {
            throw ConnectorError(
                .connectionInvalid, "the connection file \(shown) is larger than \(maxBytes / 1024) KiB")
        }
        return try decode(data, name: path, json: path.lowercased().hasSuffix(".json"))
    }

    /// Decodes a connection file's contents; `name` prefixes every message.
    package static func decode(_ data: Data, name: String, json: Bool) throws -> Connection {
        guard data.count <= maxBytes else {
            throw ConnectorError(.connectionInvalid, "\(name) is larger than \(maxBytes / 1024) KiB")
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw ConnectorError(.connectionInvalid, "\(name) is not UTF-8 text")
        }
        let userInfo: [CodingUserInfoKey: Any] = [SettingsDecoding.connectionFileKey: true]
        do {
            if json {
                let decoder = JSONCoding.decoder
                decoder.userInfo = [SettingsDecoding.connectionFileKey: true]
                return try decoder.decode(Connection.self, from: data)
            }
            let parsed: Node?
            do {
                parsed = try Yams.compose(yaml: text)
            } catch let error as YamlError {
                throw ConnectorError(.connectionInvalid, describe(error, text: text))
            }
            guard var node = parsed else { throw ConnectorError(.connectionInvalid, "the file is empty") }
            var tables: [([String], [String: String])] = []
            for path in stringTables {
                if let table = extract(&node, path[...]) { tables.append((path, try stringMap(table, path: path))) }
            }
            var nested: [([String], [String: [String: String]])] = []
            for path in nestedTables {
                if let table = extract(&node, path[...]) { nested.append((path, try nestedMap(table, path: path))) }
            }
            var connection = try YAMLDecoder().decode(Connection.self, from: node, userInfo: userInfo)
            for (path, table) in tables {
                switch path.joined(separator: ".") {
                case "mapping.vendors": connection.mapping.vendors = table
                case "mapping.accounts": connection.mapping.accounts = table
                case "mapping.taxCodes": connection.mapping.taxCodes = table
                default: break
                }
            }
            for (_, table) in nested { connection.mapping.dimensionValues = table }
            return connection
        } catch let error as ConnectorError {
            throw ConnectorError(error.code, kind: error.kind, "\(name): \(error.message)")
        } catch let error as DecodingError {
            throw ConnectorError(.connectionInvalid, "\(name): \(describe(error))")
        } catch let error as YamlError {
            throw ConnectorError(.connectionInvalid, "\(name): \(describe(error, text: text))")
        } catch {
            throw ConnectorError(.connectionInvalid, "\(name) is not valid \(json ? "JSON" : "YAML")")
        }
    }

    /// Takes the mapping at `path` out of the tree (leaving an empty mapping), if it is a mapping.
    static func extract(_ node: inout Node, _ path: ArraySlice<String>) -> Node? {
        guard var mapping = node.mapping, let key = path.first, let child = mapping[key] else { return nil }
        if path.count == 1 {
            guard child.mapping != nil else { return nil }
            mapping[key] = Node([(Node, Node)]())
            node.mapping = mapping
            return child
        }
        var inner = child
        guard let found = extract(&inner, path.dropFirst()) else { return nil }
        mapping[key] = inner
        node.mapping = mapping
        return found
    }

    static func stringMap(_ node: Node, path: [String]) throws -> [String: String] {
        guard let mapping = node.mapping else { return [:] }
        var result: [String: String] = [:]
        result.reserveCapacity(mapping.count)
        let prefix = path.joined(separator: ".")
        for (key, value) in mapping {
            guard let keyScalar = key.scalar else {
                throw ConnectorError(.connectionInvalid, "\(prefix) has a key that is not a plain value\(line(key))")
            }
            guard let scalar = value.scalar, value.null == nil || scalar.style != .plain else {
                throw ConnectorError(
                    .connectionInvalid,
                    "\(prefix).\(keyScalar.string.prefix(64)) must be a single value such as \"V10000\"\(line(value))")
            }
            result[keyScalar.string] = scalar.string
        }
        return result
    }

    static func nestedMap(_ node: Node, path: [String]) throws -> [String: [String: String]] {
        guard let mapping = node.mapping else { return [:] }
        var result: [String: [String: String]] = [:]
        for (key, value) in mapping {
            let name = key.scalar?.string ?? ""
            guard value.mapping != nil else {
                throw ConnectorError(
                    .connectionInvalid,
                    "\(path.joined(separator: ".")).\(name.prefix(64)) must map segment values to dimension values\(line(value))"
                )
            }
            result[name] = try stringMap(value, path: path + [name])
        }
        return result
    }

    static func line(_ node: Node) -> String {
        node.mark.map { " (line \($0.line))" } ?? ""
    }

    /// A YAML error with its line and, for duplicate keys, the key and both lines.
    static func describe(_ error: YamlError, text: String) -> String {
        switch error {
        case .duplicatedKeysInMapping(let duplicates, let context):
            let key = duplicates.sorted().first ?? "?"
            let first = context.mark.line
            let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
            var again: Int?
            // The parser marks the first occurrence; find the repeat at the same indentation below it.
            let column = max(context.mark.column - 1, 0)
            for index in first..<lines.count {
                let line = lines[index]
                guard line.count > column else { continue }
                let rest = line.dropFirst(column)
                if rest.hasPrefix("\(key):") || rest.hasPrefix("\"\(key)\":") || rest.hasPrefix("'\(key)':") {
                    again = index + 1
                    break
                }
            }
            let place = again.map { "lines \(first) and \($0)" } ?? "line \(first)"
            return "the key \(key.prefix(64).debugDescription) appears more than once in the same mapping (\(place))"
        case .scanner(_, let problem, let mark, _), .parser(_, let problem, let mark, _),
            .composer(_, let problem, let mark, _):
            return "not valid YAML at line \(mark.line), column \(mark.column): \(problem)"
        case .reader(let problem, _, _, _):
            return "not valid YAML: \(problem)"
        case .dataCouldNotBeDecoded:
            return "not UTF-8 text"
        default:
            return "not valid YAML"
        }
    }

    /// A decoding error with the setting's full path.
    static func describe(_ error: DecodingError) -> String {
        switch error {
        case .typeMismatch(let type, let context):
            return "\(SettingsDecoding.path(context.codingPath)) must be \(expected(type))"
        case .valueNotFound(let type, let context):
            return "\(SettingsDecoding.path(context.codingPath)) has no value; it must be \(expected(type))"
        case .keyNotFound(let key, let context):
            return "\(SettingsDecoding.path(context.codingPath, key.stringValue)) is required"
        case .dataCorrupted(let context):
            let path = SettingsDecoding.path(context.codingPath)
            return "\(path.isEmpty ? "the file" : path): \(context.debugDescription.prefix(200))"
        @unknown default:
            return "not a valid connection"
        }
    }

    static func expected(_ type: Any.Type) -> String {
        switch type {
        case is Int.Type: "a whole number"
        case is Bool.Type: "true or false"
        case is String.Type: "a text value"
        case is Decimal.Type, is Double.Type: "a number"
        case is [String].Type: "a list of text values"
        default: String(describing: type).hasPrefix("Dictionary") ? "a mapping of keys to values" : "\(type)"
        }
    }
}
