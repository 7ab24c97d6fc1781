import ConnectorCore
import ConnectorStateSQLite
import Foundation

/// Opens the store named by one URL (`MLC_STATE`): `sqlite:///absolute/path.sqlite` (the embedded default),
/// `sqlite:relative/path.sqlite`, or a plain file path.
package enum StateStores {
    package static let defaultPath = ".mlc/state.sqlite"

    package static func url(from environment: [String: String] = ProcessInfo.processInfo.environment) -> String {
        environment["MLC_STATE"].flatMap { $0.isEmpty ? nil : $0 } ?? "sqlite:\(defaultPath)"
    }

    package static func open(_ url: String) throws -> any StateStore {
        if url.hasPrefix("sqlite:") {
            var path = String(url.dropFirst("sqlite:".count))
            if path.hasPrefix("//") { path = String(path.dropFirst(2)) }
            guard !path.isEmpty else {
                throw ConnectorError(
                    .configInvalid, "MLC_STATE=sqlite: needs a file path, e.g. sqlite:///var/lib/mlc/state.sqlite")
            }
            return try SQLiteStateStore(path: path)
        }
        if url.hasPrefix("redis://") || url.hasPrefix("rediss://") || url.hasPrefix("postgres://")
            || url.hasPrefix("postgresql://")
        {
            throw ConnectorError(
                .configInvalid,
                "this build has only the SQLite store; the Redis and PostgreSQL backends are not built yet"
            )
        }
        if url.contains("://") {
            throw ConnectorError(.configInvalid, "MLC_STATE has an unknown scheme; use sqlite:///path/to/state.sqlite")
        }
        return try SQLiteStateStore(path: url)
    }
}
