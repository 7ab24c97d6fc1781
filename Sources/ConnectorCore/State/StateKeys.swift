import Foundation

/// Builds the keys of one connection's namespace, `conn/<id>/...`, so tenants never see each other's data.
///
/// Components are percent-escaped where they could break the key structure (`/`, `%`, control characters), so a
/// record id like `a/b` cannot reach into another area.
package struct StateKeys: Sendable, Hashable {
    package let connection: String

    package init(connection: String) throws {
        try Self.validateConnectionId(connection)
        self.connection = connection
    }

    /// Connection ids: 1–64 characters of letters, digits, `.`, `_` and `-`. An invalid id is a configuration
    /// error (exit 78) wherever it comes from: a connection file, an operator's argument, or an event naming a
    /// connection that cannot exist.
    package static func validateConnectionId(_ id: String) throws {
        let allowed = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-")
        guard (1...64).contains(id.count), id.allSatisfy(allowed.contains), id != ".", id != ".." else {
            throw ConnectorError(
                .connectionInvalid,
                "connection id must be 1-64 characters of letters, digits, '.', '_' or '-'"
            )
        }
    }

    package var root: String { "conn/\(connection)/" }

    package func key(_ area: String, _ components: String...) -> String {
        root + ([area] + components.map(Self.escape)).joined(separator: "/")
    }

    package func prefix(_ area: String, _ components: String...) -> String {
        root + ([area] + components.map(Self.escape)).joined(separator: "/") + "/"
    }

    package static func escape(_ component: String) -> String {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(component.utf8.count)
        for byte in component.utf8 {
            switch byte {
            case UInt8(ascii: "/"), UInt8(ascii: "%"), 0..<0x20, 0x7F:
                bytes += Array(("%" + FixedFormat.hex(byte, width: 2, uppercase: true)).utf8)
            default:
                bytes.append(byte)
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    package static func unescape(_ component: String) -> String {
        component.removingPercentEncoding ?? component
    }

    /// Keys shared by connections: request budgets of one ERP allowance (`shared/ratelimit/<system>/<digest>`).
    package static let sharedPrefix = "shared/"

    /// Keys outside any connection (runner queue, installation-wide settings).
    package static let connectionsPrefix = "connections/"
    package static func connectionKey(_ id: String) -> String { connectionsPrefix + id }
}
