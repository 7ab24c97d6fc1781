import ConnectorCore
import Foundation

/// Where a PostgreSQL store lives, from `postgres://user[:password]@host[:port]/database[?sslmode=disable|require]`
/// (`postgresql://` too). The password is kept for the login and never printed: `description` is
/// `user@host:port/database`.
package struct PostgresEndpoint: Sendable, Hashable, CustomStringConvertible {
    /// How the connection is protected: `disable` (plain TCP, the default: loopback and private networks) or
    /// `require` (TLS with the server's certificate checked against the system's roots and the host name).
    package enum TLSMode: String, Sendable, Hashable, CaseIterable {
        case disable, require
    }

    package var host: String
    package var port: Int
    package var database: String
    package var user: String
    package var password: String?
    package var tls: TLSMode

    package init(
        host: String, port: Int = 5432, database: String, user: String, password: String? = nil,
        tls: TLSMode = .disable
    ) {
        self.host = host
        self.port = port
        self.database = database
        self.user = user
        self.password = password
        self.tls = tls
    }

    /// `user@host:port/database`, for errors and logs (never the password).
    package var description: String {
        "\(user)@\(host.contains(":") ? "[\(host)]" : host):\(port)/\(database)"
    }

    /// Parses a `postgres://` or `postgresql://` URL; the reason of a refusal never contains the password.
    package static func parse(_ url: String) throws(PostgresURLError) -> PostgresEndpoint {
        guard let components = URLComponents(string: url),
            let scheme = components.scheme?.lowercased(), scheme == "postgres" || scheme == "postgresql"
        else {
            throw PostgresURLError("is not a postgres://user:password@host:port/database URL")
        }
        guard let host = components.host, !host.isEmpty else { throw PostgresURLError("needs a host") }
        let port = components.port ?? 5432
        guard (1...65535).contains(port) else { throw PostgresURLError("has the port \(port), outside 1-65535") }
        var database = components.path
        if database.hasPrefix("/") { database.removeFirst() }
        guard !database.isEmpty else {
            throw PostgresURLError("names no database; add it as the path, e.g. postgres://mlc:password@host:5432/mlc")
        }
        guard !database.contains("/"), database.utf8.count <= 63 else {
            throw PostgresURLError(
                "names the database \(database.prefix(40).debugDescription); use one name of at most 63 bytes")
        }
        guard let user = components.user, !user.isEmpty else {
            throw PostgresURLError("names no user; use postgres://user:password@host:port/database")
        }
        if components.fragment != nil {
            throw PostgresURLError("has a fragment (#…), which the PostgreSQL store does not read")
        }
        var tls = TLSMode.disable
        for item in components.queryItems ?? [] {
            guard item.name == "sslmode" else {
                throw PostgresURLError(
                    "has the parameter \(item.name.prefix(40).debugDescription), which the PostgreSQL store does not read (only sslmode)"
                )
            }
            guard let mode = item.value.flatMap(TLSMode.init(rawValue:)) else {
                throw PostgresURLError(
                    "has sslmode=\((item.value ?? "").prefix(40)); use sslmode=disable or sslmode=require (TLS, certificate checked)"
                )
            }
            tls = mode
        }
        let password = components.password.flatMap { $0.isEmpty ? nil : $0 }
        // Known to the redactor from here on: logs and messages of this process never carry it, in any encoding.
        if let password { SecretRedactor.register(password) }
        let bareHost = host.hasPrefix("[") && host.hasSuffix("]") ? String(host.dropFirst().dropLast()) : host
        return PostgresEndpoint(
            host: bareHost, port: port, database: database, user: user, password: password, tls: tls)
    }

    /// The URL with any password replaced by `***`, for messages about it.
    package static func masked(_ url: String) -> String {
        URLCredentials.masked(url, loneUserIsSecret: false)
    }

    /// `text` with the password replaced by `***` in every encoding (`URLCredentials.redact`): every message this
    /// store makes passes through it, whatever a server or library put in it.
    package func redact(_ text: String) -> String {
        URLCredentials.redact(text, password: password)
    }
}

package struct PostgresURLError: Error, Sendable {
    package let reason: String
    init(_ reason: String) { self.reason = reason }
}
