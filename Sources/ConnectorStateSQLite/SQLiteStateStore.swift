import CSQLite
import ConnectorCore
import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// The embedded default `StateStore`: one SQLite file in WAL mode, shared safely by many processes (busy handler,
/// immediate write transactions). Keys are stored as bytes so ordering and prefix scans are byte-wise.
///
/// It is written on SQLite's C API (`SQLiteConnection`), with every statement prepared once per connection: a step
/// makes about 18 store calls with a handful of distinct statements, and preparing each anew (SQLite's parser) was a
/// sixth of its CPU.
package final class SQLiteStateStore: StateStore, RateLimiterProviding {
    private let connection: Mutex<SQLiteConnection>
    /// Where calls run: nil for the caller's thread, else this serial queue (`Execution`).
    private let queue: DispatchQueue?
    /// Whether the connection may still be at `synchronous = NORMAL` (see `write(durable:_:)`).
    private let relaxed = Mutex(false)
    private let now: @Sendable () -> Date
    package let path: String

    /// How a store is opened: created when missing (only where a store is born: `connections add`, the demo),
    /// opened for reading and writing when it exists, or opened read-only (inspection commands).
    package enum OpenMode: Sendable {
        case create, readWrite, readOnly
    }

    /// Which thread runs a call. Every call is one short synchronous piece of work on the connection (a transaction
    /// never spans a suspension), but it can wait for another process's write lock (`busyRetry`, up to the busy
    /// timeout).
    package enum Execution: Sendable {
        /// On the calling task's thread, one call at a time: a step process, which has nothing else to run while it
        /// waits for its store, and for which a hop to another thread and back on each of its calls would cost
        /// more than the call.
        case inline
        /// On a serial dispatch queue of its own, so that a wait for the lock never holds a thread of the
        /// cooperative pool: long-lived processes (the runner, `trigger`, the HTTP adapter).
        case serialQueue
    }

    /// Opens the store at `path`; `mode` decides whether a missing store is created or is a configuration error.
    package init(
        path: String, mode: OpenMode = .create, busyTimeout: TimeInterval = 15, execution: Execution = .inline,
        now: @escaping @Sendable () -> Date = { Date() }
    ) throws {
        self.path = path
        self.now = now
        if mode != .create {
            guard FileManager.default.fileExists(atPath: path) else {
                throw ConnectorError(
                    .stateUnavailable, kind: .configuration,
                    "there is no SQLite store at \(path); `local-runner connections add --file <connection.yaml>` creates it (check MLC_STATE or --state)"
                )
            }
        }
        if mode != .readOnly { try Self.prepareFiles(path) }
        let database: SQLiteConnection
        do {
            database = try SQLiteConnection(
                path: path, readOnly: mode == .readOnly, retry: Self.busyRetry(timeout: busyTimeout))
            if mode != .readOnly {
                // WAL lets readers and one writer work at the same time across processes; FULL sync keeps every
                // committed claim durable (the dedup ledger depends on it).
                try database.execute("PRAGMA journal_mode = WAL")
                try database.execute("PRAGMA synchronous = FULL")
                // A short-lived step is often the last connection open; its close would copy the WAL into the file
                // and fsync both. Commits stay durable (the WAL is fsynced on each); the WAL is folded back by the
                // automatic checkpoint of the commit that fills it.
                let code = mlc_sqlite_disable_checkpoint_on_close(try database.database)
                guard code == SQLITE_OK else {
                    throw SQLiteError(code: code, message: "sqlite3_db_config(SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE) failed")
                }
            }
            if mode == .create {
                try Self.inTransaction(database, begin: "BEGIN IMMEDIATE TRANSACTION") { database in
                    try database.execute(
                        """
                        CREATE TABLE IF NOT EXISTS kv (
                            key BLOB PRIMARY KEY NOT NULL,
                            value BLOB NOT NULL,
                            version INTEGER NOT NULL,
                            expires_at REAL
                        ) WITHOUT ROWID
                        """
                    )
                }
            } else {
                // A step opens an existing store: a read that checks it, instead of a write transaction that
                // would queue behind every other process's writes for the store's lock at each start.
                guard try Self.hasTable(database) else {
                    throw ConnectorError(
                        .stateUnavailable, kind: .configuration, "\(path) is not an ml-connector store")
                }
            }
            if mode != .readOnly { Self.tightenPermissions(path) }
        } catch let error as SQLiteError {
            throw ConnectorError(
                .stateUnavailable, kind: .configuration,
                mode == .readOnly
                    ? "cannot open the SQLite store \(path) for reading: \(error.message)"
                    : "cannot open the SQLite store \(path): \(error.message); check that the directory exists and this user may write there"
            )
        }
        connection = Mutex(database)
        queue = execution == .serialQueue ? DispatchQueue(label: "mlc-state-sqlite") : nil
    }

    /// Waits for another process's write lock in short steps: 50 µs doubling up to 2 ms, until `timeout` in all.
    /// SQLite's own busy timeout sleeps 1, 2, 5, 10, 15, 20, 25… up to 100 ms between tries; a step's write holds
    /// the lock for about a millisecond, so with several step processes writing at once (workers per step) those
    /// sleeps, not the writes, set the pace (issue 10's scaling figure on SQLite).
    package static func busyRetry(timeout: TimeInterval) -> @Sendable (Int) -> Bool {
        let cap = 2_000
        let budget = Int(max(0, timeout) * 1_000_000)
        return { tries in
            let tries = max(0, tries)
            // Microseconds waited before this try: 50 · (2^n − 1) while doubling, then `cap` per try.
            let doubling = 6  // 50 · 2^6 = 3,200 > cap
            let waited =
                tries <= doubling
                ? 50 * ((1 << tries) - 1) : 50 * ((1 << doubling) - 1) + (tries - doubling) * cap
            guard waited < budget else { return false }
            usleep(UInt32(min(50 << min(tries, doubling), cap)))
            return true
        }
    }

    /// The store holds invoices, the audit trail and sealed secrets: only its owner may read it. A new directory is
    /// created 0700 and the database file 0600 before SQLite opens it (SQLite gives the WAL and SHM files the
    /// database file's mode); existing files are tightened to 0600 as well.
    static func prepareFiles(_ path: String) throws {
        let fileManager = FileManager.default
        // The directory part of the path, as written (no URL: its path handling costs a step's start measurably).
        let directory = path.lastIndex(of: "/").map { String(path[..<$0]) } ?? ""
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

    /// Whether the store's table is there: one query on `sqlite_master`.
    private static func hasTable(_ database: SQLiteConnection) throws -> Bool {
        try database.first("SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'kv'") {
            $0.integer(0)
        } == 1
    }

    /// A key's bytes. `Self.bytes(key)` would ask at run time whether the UTF-8 view is `ContiguousBytes`: in a
    /// step process, a scan of every conformance record of the executable.
    static func bytes(_ text: String) -> Data {
        var text = text
        return text.withUTF8 { buffer in
            guard let base = buffer.baseAddress, !buffer.isEmpty else { return Data() }
            return Data(bytes: base, count: buffer.count)
        }
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

    /// The next version of `key`: one more than the row's (live or expired), else a fresh start from the clock
    /// (`StoreVersion`). No store-wide counter: versions only grow per key.
    private static func nextVersion(_ database: SQLiteConnection, _ key: Data, _ time: Date) throws -> Int64 {
        if let current = try database.first("SELECT version FROM kv WHERE key = ?", [.blob(key)], { $0.integer(0) }) {
            return current + 1
        }
        return StoreVersion.fresh(at: time)
    }

    /// Writes `key` with its next version; returns the version.
    private static func write(
        _ database: SQLiteConnection, _ key: Data, _ value: Data, _ expires: Double?, _ time: Date
    ) throws -> Int64 {
        let version = try nextVersion(database, key, time)
        try database.execute(
            "INSERT OR REPLACE INTO kv (key, value, version, expires_at) VALUES (?, ?, ?, ?)",
            [.blob(key), .blob(value), .integer(version), .real(expires)])
        return version
    }

    /// The entry at `key` unless it has expired at `time`.
    private static func live(_ database: SQLiteConnection, _ key: Data, _ time: Double) throws -> StoredValue? {
        try database.first(
            "SELECT value, version, expires_at FROM kv WHERE key = ? AND (expires_at IS NULL OR expires_at > ?)",
            [.blob(key), .real(time)]
        ) { value($0, from: 0) }
    }

    /// The entry in the row's columns `value, version, expires_at`, the first of them at `column`.
    private static func value(_ row: SQLiteRow, from column: Int32) -> StoredValue {
        StoredValue(
            data: row.blob(column), version: row.integer(column + 1),
            expiresAt: row.real(column + 2).map { Date(timeIntervalSince1970: $0) })
    }

    private static func delete(_ database: SQLiteConnection, _ key: Data) throws {
        try database.execute("DELETE FROM kv WHERE key = ?", [.blob(key)])
    }

    /// `body` with the connection, on the thread `Execution` says, one call at a time; SQLite's errors become the
    /// store's.
    private func withConnection<T: Sendable>(_ body: @escaping @Sendable (SQLiteConnection) throws -> T)
        async throws -> T
    {
        do {
            guard let queue else { return try connection.withLock { try body($0) } }
            return try await withCheckedThrowingContinuation { continuation in
                queue.async { continuation.resume(with: Result { try self.connection.withLock { try body($0) } }) }
            }
        } catch let error as SQLiteError {
            throw Self.map(error, path: path)
        }
    }

    /// `body` in an IMMEDIATE transaction (the write lock taken first, so two writers never deadlock on an upgrade),
    /// rolled back when it throws.
    ///
    /// `durable: false` commits without waiting for the disk (`synchronous = NORMAL` for that one transaction): the
    /// rate limiter's state, which a power cut may roll back by a few requests without harm. The WAL is append-only,
    /// so the next durable commit's sync carries it too; a process crash loses nothing either way. Every other write
    /// (claims, records, the audit trail) stays FULL.
    private func write<T: Sendable>(
        durable: Bool = true, _ body: @escaping @Sendable (SQLiteConnection) throws -> T
    ) async throws -> T {
        try await withConnection { database in
            // A restore of FULL that failed earlier is retried before anything durable is written.
            if durable, self.relaxed.withLock({ $0 }) {
                try database.execute("PRAGMA synchronous = FULL")
                self.relaxed.withLock { $0 = false }
            }
            guard !durable else { return try Self.inTransaction(database, begin: "BEGIN IMMEDIATE TRANSACTION", body) }
            self.relaxed.withLock { $0 = true }
            try database.execute("PRAGMA synchronous = NORMAL")
            let result = Result { try Self.inTransaction(database, begin: "BEGIN IMMEDIATE TRANSACTION", body) }
            try database.execute("PRAGMA synchronous = FULL")
            self.relaxed.withLock { $0 = false }
            return try result.get()
        }
    }

    /// `body`, one statement (SQLite runs each in its own implicit transaction) unless `snapshot` asks for several
    /// statements to see the same state, in a DEFERRED transaction.
    private func read<T: Sendable>(snapshot: Bool = false, _ body: @escaping @Sendable (SQLiteConnection) throws -> T)
        async throws -> T
    {
        try await withConnection { database in
            snapshot ? try Self.inTransaction(database, begin: "BEGIN DEFERRED TRANSACTION", body) : try body(database)
        }
    }

    private static func inTransaction<T>(
        _ database: SQLiteConnection, begin: String, _ body: (SQLiteConnection) throws -> T
    ) throws -> T {
        try database.execute(begin)
        do {
            let result = try body(database)
            try database.execute("COMMIT TRANSACTION")
            return result
        } catch {
            if database.isInsideTransaction { try? database.execute("ROLLBACK TRANSACTION") }
            throw error
        }
    }

    private static func map(_ error: SQLiteError, path: String) -> ConnectorError {
        switch error.code {
        case SQLITE_BUSY, SQLITE_LOCKED:
            ConnectorError(
                .stateUnavailable, kind: .temporary,
                "the SQLite store \(path) stayed locked by another process; check for a stuck process holding it (e.g. `fuser \(path)`)"
            )
        case SQLITE_FULL, SQLITE_IOERR, SQLITE_CANTOPEN, SQLITE_READONLY:
            ConnectorError(
                .stateUnavailable, kind: .temporary,
                "the SQLite store \(path) cannot be written (\(error.message)); check the free disk space and that this user owns the file and its directory"
            )
        default:
            ConnectorError(.stateCorrupt, "the SQLite store \(path) failed (\(error))")
        }
    }

    package func get(_ key: String) async throws -> StoredValue? {
        let time = now().timeIntervalSince1970
        let keyData = Self.bytes(key)
        return try await read { db in try Self.live(db, keyData, time) }
    }

    /// One read transaction: a consistent view of every key.
    package func getMany(_ keys: [String]) async throws -> [StoredValue?] {
        let time = now().timeIntervalSince1970
        let keyData = keys.map { Self.bytes($0) }
        return try await read(snapshot: true) { db in try keyData.map { try Self.live(db, $0, time) }
        }
    }

    package func put(_ key: String, _ value: Data, ttl: Duration?) async throws -> Int64 {
        let time = now()
        let expires = expiry(ttl, time)
        let keyData = Self.bytes(key)
        return try await write { db in try Self.write(db, keyData, value, expires, time) }
    }

    package func putAll(_ items: [(key: String, value: Data, ttl: Duration?)]) async throws {
        guard !items.isEmpty else { return }
        let time = now()
        let rows = items.map { (Self.bytes($0.key), $0.value, expiry($0.ttl, time)) }
        try await write { db in
            for (key, value, expires) in rows { _ = try Self.write(db, key, value, expires, time) }
        }
    }

    package func putIfAbsent(_ key: String, _ value: Data, ttl: Duration?) async throws -> Int64? {
        let time = now()
        let expires = expiry(ttl, time)
        let keyData = Self.bytes(key)
        return try await write { db in
            if try Self.live(db, keyData, time.timeIntervalSince1970) != nil { return nil }
            return try Self.write(db, keyData, value, expires, time)
        }
    }

    package func compareAndSwap(_ key: String, expectedVersion: Int64, newValue: Data, ttl: Duration?) async throws
        -> Int64?
    {
        let time = now()
        let expires = expiry(ttl, time)
        let keyData = Self.bytes(key)
        return try await write { db in
            guard let row = try Self.live(db, keyData, time.timeIntervalSince1970),
                row.version == expectedVersion
            else { return nil }
            return try Self.write(db, keyData, newValue, expires, time)
        }
    }

    package func delete(_ key: String) async throws -> Bool {
        let time = now().timeIntervalSince1970
        let keyData = Self.bytes(key)
        return try await write { db in
            let existed = try Self.live(db, keyData, time) != nil
            try Self.delete(db, keyData)
            return existed
        }
    }

    package func delete(_ key: String, expectedVersion: Int64) async throws -> Bool {
        let time = now().timeIntervalSince1970
        let keyData = Self.bytes(key)
        return try await write { db in
            guard let row = try Self.live(db, keyData, time), row.version == expectedVersion else {
                return false
            }
            try Self.delete(db, keyData)
            return true
        }
    }

    package func increment(_ key: String, by delta: Int64, ttl: Duration?) async throws -> Int64 {
        let time = now()
        let keyData = Self.bytes(key)
        let newExpiry = expiry(ttl, time)
        return try await write { db in
            let row = try Self.live(db, keyData, time.timeIntervalSince1970)
            var current: Int64 = 0
            var expires = newExpiry
            if let row {
                let stored = row
                guard let number = Int64(String(decoding: stored.data, as: UTF8.self)) else {
                    throw ConnectorError(.stateCorrupt, "\(key) does not hold an integer counter")
                }
                current = number
                expires = stored.expiresAt?.timeIntervalSince1970
            }
            let (sum, overflow) = current.addingReportingOverflow(delta)
            guard !overflow else { throw ConnectorError(.stateCorrupt, "counter \(key) overflowed") }
            _ = try Self.write(db, keyData, Self.bytes(String(sum)), expires, time)
            return sum
        }
    }

    /// One immediate write transaction (one sync): every condition is checked first, then every write applied.
    package func commit(_ writes: [StoreWrite]) async throws -> [Int64]? {
        guard !writes.isEmpty else { return [] }
        let time = now()
        let seconds = time.timeIntervalSince1970
        let rows = writes.map { write -> (StoreWrite, Data, Double?) in
            switch write {
            case .put(_, _, let ttl), .putIfAbsent(_, _, let ttl), .compareAndSwap(_, _, _, let ttl),
                .append(_, _, _, let ttl):
                (write, Self.bytes(write.key), expiry(ttl, time))
            case .delete, .deleteIf:
                (write, Self.bytes(write.key), nil)
            }
        }
        return try await write { db -> [Int64]? in
            for (write, key, _) in rows {
                switch write {
                case .putIfAbsent:
                    if try Self.live(db, key, seconds) != nil { return nil }
                case .compareAndSwap(_, let expected, _, _), .deleteIf(_, let expected):
                    guard let row = try Self.live(db, key, seconds), row.version == expected else {
                        return nil
                    }
                case .put, .delete, .append:
                    break
                }
            }
            var results: [Int64] = []
            for (write, key, expires) in rows {
                switch write {
                case .put(_, let value, _), .putIfAbsent(_, let value, _), .compareAndSwap(_, _, let value, _):
                    results.append(try Self.write(db, key, value, expires, time))
                case .delete, .deleteIf:
                    let existed = try Self.live(db, key, seconds) != nil
                    try Self.delete(db, key)
                    results.append(existed ? 1 : 0)
                case .append(let counter, let prefix, let value, _):
                    let current = try Self.live(db, key, seconds)
                    var count: Int64 = 1
                    if let current {
                        guard let number = Int64(String(decoding: current.data, as: UTF8.self)) else {
                            throw ConnectorError(.stateCorrupt, "\(counter) does not hold an integer counter")
                        }
                        count = number + 1
                    }
                    _ = try Self.write(
                        db, key, Self.bytes(String(count)), current?.expiresAt?.timeIntervalSince1970, time)
                    let entry = Self.bytes(StoreWrite.appendedKey(prefix: prefix, sequence: count))
                    _ = try Self.write(db, entry, value, expires, time)
                    results.append(count)
                }
            }
            return results
        }
    }

    package func scan(prefix: String, after: String?, limit: Int) async throws -> [StoredEntry] {
        let time = now().timeIntervalSince1970
        let low = Self.bytes(prefix)
        let high = Self.upperBound(of: low)
        let afterData = after.map { Self.bytes($0) }
        let count = max(0, limit)
        return try await read { db in
            var sql =
                "SELECT key, value, version, expires_at FROM kv WHERE key >= ? AND (expires_at IS NULL OR expires_at > ?)"
            var values: [SQLiteValue] = [.blob(low), .real(time)]
            if let high {
                sql += " AND key < ?"
                values.append(.blob(high))
            }
            if let afterData {
                sql += " AND key > ?"
                values.append(.blob(afterData))
            }
            sql += " ORDER BY key LIMIT ?"
            values.append(.integer(Int64(count)))
            return try db.all(sql, values) { row in
                StoredEntry(key: String(decoding: row.blob(0), as: UTF8.self), value: Self.value(row, from: 1))
            }
        }
    }

    /// Removes expired entries (they are already invisible; this only reclaims space).
    package func purgeExpired() async throws -> Int {
        let time = now().timeIntervalSince1970
        return try await write { db in
            try db.execute("DELETE FROM kv WHERE expires_at IS NOT NULL AND expires_at <= ?", [.real(time)])
            return db.changes
        }
    }

    package func purgeExpired(limit: Int) async throws -> Int {
        let time = now().timeIntervalSince1970
        let count = max(0, limit)
        return try await write { db in
            try db.execute(
                "DELETE FROM kv WHERE key IN (SELECT key FROM kv WHERE expires_at IS NOT NULL AND expires_at <= ? LIMIT ?)",
                [.real(time), .integer(Int64(count))])
            return db.changes
        }
    }

    /// The connection's `PRAGMA synchronous` now (2: FULL, what every durable write commits with).
    package func synchronousSetting() async throws -> Int {
        try await read { db in try db.first("PRAGMA synchronous") { Int($0.integer(0)) } ?? -1 }
    }

    /// The file's `PRAGMA journal_mode` (`wal`, which the store sets and the file keeps).
    package func journalMode() async throws -> String {
        try await read { db in try db.first("PRAGMA journal_mode") { $0.text(0) } ?? "" }
    }

    package func close() async throws {
        connection.withLock { $0.close() }
    }

    // MARK: - Native rate limiter

    /// One write transaction: the budget's state read, `RateLimiter.reserve` computed on it, the result written.
    /// Without it a reservation is a read and a compare-and-swap, retried whenever another process got in between
    /// (several writers at once do, on every request).
    package func reserveRateSlot(_ budget: RateBudget, now: Double, maxWait: Double) async throws -> RateReservation? {
        try await updateRateState(budget) { stored in
            let (next, wait) = RateLimiter.reserve(
                RateLimiter.decode(stored, now: now, budget: budget), now: now, maxWait: maxWait, budget: budget)
            return (next, next == nil ? .refused(wait: wait) : .reserved(wait: wait))
        }
    }

    /// One write transaction: `RateLimiter.penalized` on the budget's state; the pace in force after it.
    package func penalizeRate(_ budget: RateBudget, now: Double, retryAfter: Double?) async throws -> Double? {
        try await updateRateState(budget) { stored in
            let state = RateLimiter.decode(stored, now: now, budget: budget)
            let next = RateLimiter.penalized(state, now: now, retryAfter: retryAfter, budget: budget)
            return (next, next?.rate ?? state.rate)
        }
    }

    /// Reads the entry at `budget.key` and writes the state `change` returns (nil: nothing), in one transaction,
    /// with the expiry and the versions of an ordinary write.
    private func updateRateState<T: Sendable>(
        _ budget: RateBudget, _ change: @escaping @Sendable (StoredValue?) -> (RateLimiter.State?, T)
    ) async throws -> T {
        let time = now()
        let key = Self.bytes(budget.key)
        let expires = expiry(budget.memory, time)
        return try await write(durable: false) { db in
            let stored = try Self.live(db, key, time.timeIntervalSince1970)
            let (next, answer) = change(stored)
            if let next { _ = try Self.write(db, key, try JSONEncoder().encode(next), expires, time) }
            return answer
        }
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
