import ConnectorCore
import ConnectorStatePostgres
import ConnectorStateRedis
import ConnectorStateSQLite
import Dispatch
import Foundation

/// Opens the store named by one URL (`MLC_STATE`): `sqlite:///absolute/path.sqlite` (the embedded default),
/// `sqlite:relative/path.sqlite`, a plain file path, `redis://[[user]:password@]host[:port][/db]` (a shared
/// Redis server), or `postgres://user[:password]@host[:port]/database` (`postgresql://` too; a shared PostgreSQL
/// database). Anything else is refused (exit 78) with the accepted forms, so a typo never turns into an empty
/// store somewhere unexpected. Messages about a URL never show its password.
package enum StateStores {
    package static let defaultPath = ".mlc/state.sqlite"

    /// How a store is opened: `.create` makes a missing one (only where a store is born: `connections add`, the
    /// demo, benchmarks); `.readWrite` and `.readOnly` refuse a missing store as a configuration error.
    package enum Mode: Sendable {
        case create, readWrite, readOnly

        var sqlite: SQLiteStateStore.OpenMode {
            switch self {
            case .create: .create
            case .readWrite: .readWrite
            case .readOnly: .readOnly
            }
        }

        var postgres: PostgresStateStore.OpenMode {
            switch self {
            case .create: .create
            case .readWrite: .readWrite
            case .readOnly: .readOnly
            }
        }
    }

    package static let acceptedForms =
        "sqlite:///absolute/path/state.sqlite, sqlite:relative/path/state.sqlite, a plain file path, redis://[:password@]host:port/db, or postgres://user:password@host:port/database"

    /// Where a store URL points.
    package enum Location: Sendable, Equatable {
        case sqlite(path: String)
        case redis(RedisEndpoint)
        case postgres(PostgresEndpoint)
    }

    /// The URL with any password replaced by `***`, for anything printed or logged about it.
    package static func masked(_ url: String) -> String { RedisEndpoint.masked(url) }

    /// The store URL: `MLC_STATE`, else the contents of the file `MLC_STATE_FILE` names (a platform that mounts
    /// secrets as files: OpenFaaS puts them under /var/openfaas/secrets/), else the local SQLite default.
    package static func url(from environment: [String: String] = ProcessInfo.processInfo.environment) throws
        -> String
    {
        if let url = environment["MLC_STATE"], !url.isEmpty { return url }
        if let path = environment["MLC_STATE_FILE"], !path.isEmpty {
            guard let data = FileManager.default.contents(atPath: path) else {
                throw ConnectorError(
                    .configInvalid,
                    "MLC_STATE_FILE names \(path.prefix(200).debugDescription), which cannot be read; mount the store URL there or set MLC_STATE"
                )
            }
            // A secret written with `echo` ends in a newline; the URL itself never does.
            let url = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .newlines)
            guard !url.isEmpty else {
                throw ConnectorError(
                    .configInvalid, "MLC_STATE_FILE names \(path.prefix(200).debugDescription), which is empty")
            }
            return url
        }
        return "sqlite:\(defaultPath)"
    }

    /// The SQLite file a store URL names, or a configuration error saying what is accepted.
    package static func sqlitePath(_ url: String) throws -> String {
        switch try location(url) {
        case .sqlite(let path): return path
        case .redis, .postgres:
            throw ConnectorError(
                .configInvalid,
                "MLC_STATE \(RedisEndpoint.masked(url).prefix(200).debugDescription) names a network store, not a SQLite file; use \(acceptedForms)"
            )
        }
    }

    /// The store a URL names, or a configuration error saying what is accepted.
    package static func location(_ url: String) throws -> Location {
        func refuse(_ reason: String) -> ConnectorError {
            ConnectorError(
                .configInvalid,
                "MLC_STATE \(RedisEndpoint.masked(url).prefix(200).debugDescription) \(reason); use \(acceptedForms)")
        }
        guard url.unicodeScalars.allSatisfy({ $0.value >= 0x20 && $0.value != 0x7F }) else {
            throw refuse("has control characters")
        }
        guard url == url.trimmingWhitespace() else {
            throw refuse("starts or ends with a space")
        }
        let lower = url.lowercased()
        if let colon = url.firstIndex(of: ":"), colon < (url.firstIndex(of: "/") ?? url.endIndex) {
            let scheme = lower[..<colon]
            let isScheme =
                scheme.first?.isLetter == true
                && scheme.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "+-.".contains($0)) })
            if isScheme {
                switch scheme {
                case "sqlite":
                    var rest = String(url[url.index(after: colon)...])
                    if rest.hasPrefix("//") {
                        rest.removeFirst(2)
                        guard !rest.isEmpty else { throw refuse("needs a file path") }
                        guard rest.hasPrefix("/") else {
                            throw refuse(
                                "names a host (\(rest.prefix(while: { $0 != "/" }).prefix(60))); a SQLite store is a local file: sqlite:///absolute/path"
                            )
                        }
                    }
                    guard !rest.isEmpty, !rest.hasSuffix("/") else { throw refuse("needs a file path") }
                    return .sqlite(path: rest)
                case "redis":
                    do {
                        return .redis(try RedisEndpoint.parse(url))
                    } catch {
                        throw refuse(error.reason)
                    }
                case "rediss":
                    throw refuse(
                        "uses rediss: (Redis over TLS), which this build does not speak yet; reach the server over a trusted network or a TLS tunnel and use redis:"
                    )
                case "postgres", "postgresql":
                    do {
                        return .postgres(try PostgresEndpoint.parse(url))
                    } catch {
                        throw refuse(error.reason)
                    }
                default:
                    throw refuse("has the unknown scheme \(scheme.prefix(40)):")
                }
            }
        }
        guard !url.isEmpty, !url.hasSuffix("/") else { throw refuse("needs a file path") }
        return .sqlite(path: url)
    }

    /// Opens a store. `.create` (the default, for `connections add`, the demo and benchmarks) makes a missing
    /// store; `.readWrite` and `.readOnly` refuse a missing one as a configuration error.
    /// A Redis store is shared and always exists, so `mode` does not apply to it. A PostgreSQL store's table is
    /// made by `.create` only; `.readWrite` and `.readOnly` refuse a database without it, and `.readOnly` opens a
    /// read-only session. Network stores connect here (asynchronously: the hiredis connect runs on the connection's
    /// own dispatch queue, postgres-nio's on its event loop; no thread of the cooperative pool blocks), so a wrong
    /// address, database or password fails when the store is opened.
    ///
    /// `connections` is for long-lived processes (the runner, `trigger`, the HTTP adapter): above 1, a Redis or
    /// PostgreSQL store is a `PooledStateStore` that spreads concurrent operations over up to that many connections,
    /// opened as needed. A step invocation keeps the default 1: one connection serves its whole run. A SQLite store
    /// is always one connection (one local file in WAL mode, whose writes take its single writer lock in turn; see
    /// `PooledStateStore`).
    package static func open(_ url: String, mode: Mode = .create, connections: Int = 1) async throws
        -> any StateStore
    {
        switch try location(url) {
        case .sqlite(let path):
            let sqliteMode = mode.sqlite
            // Opening a file (and waiting out another process's lock) blocks: off the cooperative pool in a
            // long-lived process, whose other tasks share that pool. A step (one connection) has nothing else to
            // run yet, so it opens inline instead of starting a dispatch thread for it.
            guard connections > 1 else { return try SQLiteStateStore(path: path, mode: sqliteMode) }
            return try await offCooperativePool {
                try SQLiteStateStore(path: path, mode: sqliteMode, execution: .serialQueue)
            }
        case .redis(let endpoint):
            let first = try await RedisStateStore(endpoint: endpoint)
            guard connections > 1 else { return first }
            return PooledStateStore(first: first, size: connections, label: "the Redis store at \(endpoint)") {
                try await RedisStateStore(endpoint: endpoint)
            }
        case .postgres(let endpoint):
            let postgresMode = mode.postgres
            let first = try await PostgresStateStore(endpoint: endpoint, mode: postgresMode)
            guard connections > 1 else { return first }
            // The first connection made or checked the tables; the others only connect.
            return PooledStateStore(first: first, size: connections, label: "the PostgreSQL store at \(endpoint)") {
                try await PostgresStateStore(endpoint: endpoint, mode: postgresMode, verifySchema: false)
            }
        }
    }

    /// Connections a long-lived runner's store needs: one per step process it runs at once (each one's result is
    /// stored by its own task) plus two for the queue loop and the lock, schedules, webhook gateway and metrics.
    /// At most 64.
    package static func runnerConnections(concurrency: Int) -> Int {
        min(64, max(1, concurrency) + 2)
    }

    private static func offCooperativePool<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            DispatchQueue.global().async { continuation.resume(with: Result { try body() }) }
        }
    }
}
