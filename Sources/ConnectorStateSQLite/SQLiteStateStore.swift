import ConnectorCore
import Foundation
import GRDB

#if canImport(Glibc)
    import Glibc
#endif

/// The embedded default `StateStore`: one SQLite file in WAL mode, shared safely by many processes (busy timeout,
/// immediate write transactions). Keys are stored as bytes so ordering and prefix scans are byte-wise.
package final class SQLiteStateStore: StateStore {
    private let queue: DatabaseQueue
    private let now: @Sendable () -> Date
    package let path: String

    /// How a store is opened: created when missing (only where a store is born: `connections add`, the demo),
    /// opened for reading and writing when it exists, or opened read-only (inspection commands).
    package enum OpenMode: Sendable {
        case create, readWrite, readOnly
    }

    /// Opens the store at `path`; `mode` decides whether a missing store is created or is a configuration error.
    package init(
        path: String, mode: OpenMode = .create, busyTimeout: TimeInterval = 15,
        now: @escaping @Sendable () -> Date = { Date() }
    ) throws {
        self.path = path
        self.now = now
        if mode != .create {
            guard FileManager.default.fileExists(atPath: path) else {
                throw ConnectorError(
                    .stateUnavailable, kind: .configuration,
                    "there is no store at \(path); `local-runner connections add --file <connection.yaml>` creates it (check MLC_STATE or --state)"
                )
            }
        }
        if mode != .readOnly { try Self.prepareFiles(path) }
        var configuration = Configuration()
        configuration.busyMode = .timeout(busyTimeout)
        configuration.label = "mlc-state"
        configuration.readonly = mode == .readOnly
        if mode == .readOnly {
            do {
                queue = try DatabaseQueue(path: path, configuration: configuration)
                guard try queue.read({ db in try db.tableExists("kv") }) else {
                    throw ConnectorError(
                        .stateUnavailable, kind: .configuration, "\(path) is not an ml-connector store")
                }
            } catch let error as DatabaseError {
                throw ConnectorError(
                    .stateUnavailable, kind: .configuration,
                    "cannot open the SQLite store \(path) for reading: \(error.message ?? "error \(error.resultCode)")")
            }
            return
        }
        configuration.prepareDatabase { db in
            // WAL lets readers and one writer work at the same time across processes; FULL sync keeps every
            // committed claim durable (the dedup ledger depends on it).
            try db.execute(sql: "PRAGMA journal_mode = WAL")
            try db.execute(sql: "PRAGMA synchronous = FULL")
        }
        do {
            queue = try DatabaseQueue(path: path, configuration: configuration)
            try queue.write { db in
                try db.execute(
                    sql: """
                        CREATE TABLE IF NOT EXISTS kv (
                            key BLOB PRIMARY KEY NOT NULL,
                            value BLOB NOT NULL,
                            version INTEGER NOT NULL,
                            expires_at REAL
                        ) WITHOUT ROWID;
                        CREATE TABLE IF NOT EXISTS kv_meta (name TEXT PRIMARY KEY NOT NULL, value INTEGER NOT NULL);
                        INSERT OR IGNORE INTO kv_meta (name, value) VALUES ('version', 0);
                        """
                )
            }
            Self.tightenPermissions(path)
        } catch let error as DatabaseError {
            throw ConnectorError(
                .stateUnavailable, kind: .configuration,
                "cannot open the SQLite store: \(error.message ?? "error \(error.resultCode)")")
        }
    }

    /// The store holds invoices, the audit trail and sealed secrets: only its owner may read it. A new directory is
    /// created 0700 and the database file 0600 before SQLite opens it (SQLite gives the WAL and SHM files the
    /// database file's mode); existing files are tightened to 0600 as well.
    static func prepareFiles(_ path: String) throws {
        let fileManager = FileManager.default
        let directory = URL(fileURLWithPath: path).deletingLastPathComponent().path
        if !directory.isEmpty, !fileManager.fileExists(atPath: directory) {
            do {
                try fileManager.createDirectory(
                    atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
            } catch {
                throw ConnectorError(
                    .stateUnavailable, kind: .configuration, "cannot create the directory of the SQLite store \(path)")
            }
        }
        let descriptor = Glibc.open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        if descriptor >= 0 { _ = Glibc.close(descriptor) }
        tightenPermissions(path)
    }

    static func tightenPermissions(_ path: String) {
        let fileManager = FileManager.default
        for suffix in ["", "-wal", "-shm", "-journal"] where fileManager.fileExists(atPath: path + suffix) {
            _ = chmod(path + suffix, 0o600)
        }
    }

    private func expiry(_ ttl: Duration?, _ time: Date) -> Double? {
        ttl.map { time.addingTimeInterval($0.timeInterval).timeIntervalSince1970 }
    }

    private static func nextVersion(_ db: Database) throws -> Int64 {
        guard
            let version = try Int64.fetchOne(
                db, sql: "UPDATE kv_meta SET value = value + 1 WHERE name = 'version' RETURNING value")
        else {
            throw ConnectorError(.stateCorrupt, "the store's version counter is missing")
        }
        return version
    }

    private static func liveRow(_ db: Database, _ key: Data, _ time: Double) throws -> Row? {
        try Row.fetchOne(
            db,
            sql: "SELECT value, version, expires_at FROM kv WHERE key = ? AND (expires_at IS NULL OR expires_at > ?)",
            arguments: [key, time]
        )
    }

    private static func value(_ row: Row) -> StoredValue {
        let expires: Double? = row["expires_at"]
        return StoredValue(
            data: row["value"], version: row["version"], expiresAt: expires.map { Date(timeIntervalSince1970: $0) })
    }

    private func write<T: Sendable>(_ body: @escaping @Sendable (Database) throws -> T) async throws -> T {
        do {
            return try await queue.write(body)
        } catch let error as DatabaseError {
            throw Self.map(error)
        }
    }

    private func read<T: Sendable>(_ body: @escaping @Sendable (Database) throws -> T) async throws -> T {
        do {
            return try await queue.read(body)
        } catch let error as DatabaseError {
            throw Self.map(error)
        }
    }

    private static func map(_ error: DatabaseError) -> ConnectorError {
        switch error.resultCode {
        case .SQLITE_BUSY, .SQLITE_LOCKED:
            ConnectorError(.stateUnavailable, kind: .temporary, "the SQLite store stayed locked by another process")
        case .SQLITE_FULL, .SQLITE_IOERR, .SQLITE_CANTOPEN, .SQLITE_READONLY:
            ConnectorError(
                .stateUnavailable, kind: .temporary, "the SQLite store cannot be written (\(error.resultCode))")
        default:
            ConnectorError(.stateCorrupt, "SQLite error \(error.resultCode)")
        }
    }

    package func get(_ key: String) async throws -> StoredValue? {
        let time = now().timeIntervalSince1970
        let keyData = Data(key.utf8)
        return try await read { db in try Self.liveRow(db, keyData, time).map(Self.value) }
    }

    package func put(_ key: String, _ value: Data, ttl: Duration?) async throws -> Int64 {
        let time = now()
        let expires = expiry(ttl, time)
        let keyData = Data(key.utf8)
        return try await write { db in
            let version = try Self.nextVersion(db)
            try db.execute(
                sql: "INSERT OR REPLACE INTO kv (key, value, version, expires_at) VALUES (?, ?, ?, ?)",
                arguments: [keyData, value, version, expires]
            )
            return version
        }
    }

    package func putAll(_ items: [(key: String, value: Data, ttl: Duration?)]) async throws {
        guard !items.isEmpty else { return }
        let time = now()
        let rows = items.map { (Data($0.key.utf8), $0.value, expiry($0.ttl, time)) }
        try await write { db in
            for (key, value, expires) in rows {
                let version = try Self.nextVersion(db)
                try db.execute(
                    sql: "INSERT OR REPLACE INTO kv (key, value, version, expires_at) VALUES (?, ?, ?, ?)",
                    arguments: [key, value, version, expires]
                )
            }
        }
    }

    package func putIfAbsent(_ key: String, _ value: Data, ttl: Duration?) async throws -> Int64? {
        let time = now()
        let expires = expiry(ttl, time)
        let keyData = Data(key.utf8)
        return try await write { db in
            if try Self.liveRow(db, keyData, time.timeIntervalSince1970) != nil { return nil }
            let version = try Self.nextVersion(db)
            try db.execute(
                sql: "INSERT OR REPLACE INTO kv (key, value, version, expires_at) VALUES (?, ?, ?, ?)",
                arguments: [keyData, value, version, expires]
            )
            return version
        }
    }

    package func compareAndSwap(_ key: String, expectedVersion: Int64, newValue: Data, ttl: Duration?) async throws
        -> Int64?
    {
        let time = now()
        let expires = expiry(ttl, time)
        let keyData = Data(key.utf8)
        return try await write { db in
            guard let row = try Self.liveRow(db, keyData, time.timeIntervalSince1970),
                Self.value(row).version == expectedVersion
            else { return nil }
            let version = try Self.nextVersion(db)
            try db.execute(
                sql: "UPDATE kv SET value = ?, version = ?, expires_at = ? WHERE key = ?",
                arguments: [newValue, version, expires, keyData]
            )
            return version
        }
    }

    package func delete(_ key: String) async throws -> Bool {
        let time = now().timeIntervalSince1970
        let keyData = Data(key.utf8)
        return try await write { db in
            let existed = try Self.liveRow(db, keyData, time) != nil
            try db.execute(sql: "DELETE FROM kv WHERE key = ?", arguments: [keyData])
            return existed
        }
    }

    package func delete(_ key: String, expectedVersion: Int64) async throws -> Bool {
        let time = now().timeIntervalSince1970
        let keyData = Data(key.utf8)
        return try await write { db in
            guard let row = try Self.liveRow(db, keyData, time), Self.value(row).version == expectedVersion else {
                return false
            }
            try db.execute(sql: "DELETE FROM kv WHERE key = ?", arguments: [keyData])
            return true
        }
    }

    package func increment(_ key: String, by delta: Int64, ttl: Duration?) async throws -> Int64 {
        let time = now()
        let keyData = Data(key.utf8)
        let newExpiry = expiry(ttl, time)
        return try await write { db in
            let row = try Self.liveRow(db, keyData, time.timeIntervalSince1970)
            var current: Int64 = 0
            var expires = newExpiry
            if let row {
                let stored = Self.value(row)
                guard let number = Int64(String(decoding: stored.data, as: UTF8.self)) else {
                    throw ConnectorError(.stateCorrupt, "\(key) does not hold an integer counter")
                }
                current = number
                expires = stored.expiresAt?.timeIntervalSince1970
            }
            let (sum, overflow) = current.addingReportingOverflow(delta)
            guard !overflow else { throw ConnectorError(.stateCorrupt, "counter \(key) overflowed") }
            let version = try Self.nextVersion(db)
            try db.execute(
                sql: "INSERT OR REPLACE INTO kv (key, value, version, expires_at) VALUES (?, ?, ?, ?)",
                arguments: [keyData, Data(String(sum).utf8), version, expires]
            )
            return sum
        }
    }

    package func scan(prefix: String, after: String?, limit: Int) async throws -> [StoredEntry] {
        let time = now().timeIntervalSince1970
        let low = Data(prefix.utf8)
        let high = Self.upperBound(of: low)
        let afterData = after.map { Data($0.utf8) }
        let count = max(0, limit)
        return try await read { db in
            var sql =
                "SELECT key, value, version, expires_at FROM kv WHERE key >= ? AND (expires_at IS NULL OR expires_at > ?)"
            var arguments: StatementArguments = [low, time]
            if let high {
                sql += " AND key < ?"
                arguments += [high]
            }
            if let afterData {
                sql += " AND key > ?"
                arguments += [afterData]
            }
            sql += " ORDER BY key LIMIT ?"
            arguments += [count]
            return try Row.fetchAll(db, sql: sql, arguments: arguments).map { row in
                let keyData: Data = row["key"]
                return StoredEntry(key: String(decoding: keyData, as: UTF8.self), value: Self.value(row))
            }
        }
    }

    /// Removes expired entries (they are already invisible; this only reclaims space).
    package func purgeExpired() async throws -> Int {
        let time = now().timeIntervalSince1970
        return try await write { db in
            try db.execute(sql: "DELETE FROM kv WHERE expires_at IS NOT NULL AND expires_at <= ?", arguments: [time])
            return db.changesCount
        }
    }

    package func purgeExpired(limit: Int) async throws -> Int {
        let time = now().timeIntervalSince1970
        let count = max(0, limit)
        return try await write { db in
            try db.execute(
                sql:
                    "DELETE FROM kv WHERE key IN (SELECT key FROM kv WHERE expires_at IS NOT NULL AND expires_at <= ? LIMIT ?)",
                arguments: [time, count])
            return db.changesCount
        }
    }

    package func close() async throws {
        try queue.close()
    }

    /// The smallest byte string greater than every string starting with `prefix`, or nil if there is none.
    static func upperBound(of prefix: Data) -> Data? {
        var bytes = [UInt8](prefix)
        while let last = bytes.last {
            if last < 0xFF {
                bytes[bytes.count - 1] = last + 1
                return Data(bytes)
            }
            bytes.removeLast()
        }
        return nil
    }
}
