import CSQLiteTuning
import ConnectorCore
import Foundation
import GRDB
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// The embedded default `StateStore`: one SQLite file in WAL mode, shared safely by many processes (busy timeout,
/// immediate write transactions). Keys are stored as bytes so ordering and prefix scans are byte-wise.
///
/// Its statements go through the connection's statement cache (`cachedStatement`): a step makes about 18 store calls
/// with a handful of distinct statements, and preparing each anew (SQLite's parser) was a sixth of its CPU.
package final class SQLiteStateStore: StateStore, RateLimiterProviding {
    private let queue: DatabaseQueue
    /// Whether the connection may still be at `synchronous = NORMAL` (see `write(durable:_:)`).
    private let relaxed = Mutex(false)
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
                    "there is no SQLite store at \(path); `local-runner connections add --file <connection.yaml>` creates it (check MLC_STATE or --state)"
                )
            }
        }
        if mode != .readOnly { try Self.prepareFiles(path) }
        var configuration = Configuration()
        configuration.busyMode = .callback(Self.busyRetry(timeout: busyTimeout))
        configuration.label = "mlc-state"
        configuration.readonly = mode == .readOnly
        if mode == .readOnly {
            do {
                queue = try DatabaseQueue(path: path, configuration: configuration)
                guard try queue.unsafeRead(Self.hasTable) else {
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
            // A short-lived step is often the last connection open; its close would copy the WAL into the file
            // and fsync both. Commits stay durable (the WAL is fsynced on each); the WAL is folded back by the
            // automatic checkpoint of the commit that fills it.
            let code = mlc_sqlite_disable_checkpoint_on_close(db.sqliteConnection)
            guard code == 0 else {
                throw DatabaseError(resultCode: ResultCode(rawValue: code), message: "sqlite3_db_config")
            }
        }
        do {
            queue = try DatabaseQueue(path: path, configuration: configuration)
            if mode == .create {
                try queue.write { db in
                    try db.execute(
                        sql: """
                            CREATE TABLE IF NOT EXISTS kv (
                                key BLOB PRIMARY KEY NOT NULL,
                                value BLOB NOT NULL,
                                version INTEGER NOT NULL,
                                expires_at REAL
                            ) WITHOUT ROWID;
                            """
                    )
                }
            } else {
                // A step opens an existing store: a read that checks it, instead of a write transaction that
                // would queue behind every other process's writes for the store's lock at each start.
                guard try queue.unsafeRead(Self.hasTable) else {
                    throw ConnectorError(
                        .stateUnavailable, kind: .configuration, "\(path) is not an ml-connector store")
                }
            }
            Self.tightenPermissions(path)
        } catch let error as DatabaseError {
            throw ConnectorError(
                .stateUnavailable, kind: .configuration,
                "cannot open the SQLite store \(path): \(error.message ?? "error \(error.resultCode)"); check that the directory exists and this user may write there"
            )
        }
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

    /// Whether the store's table is there: one query on `sqlite_master`. GRDB's `tableExists` loads and caches the
    /// whole schema first, which costs a step's start several times as much.
    private static func hasTable(_ db: Database) throws -> Bool {
        try Int64.fetchOne(db, sql: "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'kv'") == 1
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
    private static func nextVersion(_ db: Database, _ key: Data, _ time: Date) throws -> Int64 {
        if let current = try Int64.fetchOne(
            db.cachedStatement(sql: "SELECT version FROM kv WHERE key = ?"), arguments: [key])
        {
            return current + 1
        }
        return StoreVersion.fresh(at: time)
    }

    /// Writes `key` with its next version; returns the version.
    private static func write(_ db: Database, _ key: Data, _ value: Data, _ expires: Double?, _ time: Date) throws
        -> Int64
    {
        let version = try nextVersion(db, key, time)
        try db.cachedStatement(sql: "INSERT OR REPLACE INTO kv (key, value, version, expires_at) VALUES (?, ?, ?, ?)")
            .execute(arguments: [key, value, version, expires])
        return version
    }

    private static func liveRow(_ db: Database, _ key: Data, _ time: Double) throws -> Row? {
        try Row.fetchOne(
            db.cachedStatement(
                sql:
                    "SELECT value, version, expires_at FROM kv WHERE key = ? AND (expires_at IS NULL OR expires_at > ?)"
            ),
            arguments: [key, time]
        )
    }

    private static func value(_ row: Row) -> StoredValue {
        let expires: Double? = row["expires_at"]
        return StoredValue(
            data: row["value"], version: row["version"], expiresAt: expires.map { Date(timeIntervalSince1970: $0) })
    }

    /// `body` in an IMMEDIATE transaction (the write lock taken first, so two writers never deadlock on an upgrade),
    /// rolled back when it throws. GRDB's `write` does the same but prepares BEGIN and COMMIT anew each time; these
    /// come from the statement cache.
    ///
    /// `durable: false` commits without waiting for the disk (`synchronous = NORMAL` for that one transaction): the
    /// rate limiter's state, which a power cut may roll back by a few requests without harm. The WAL is append-only,
    /// so the next durable commit's sync carries it too; a process crash loses nothing either way. Every other write
    /// (claims, records, the audit trail) stays FULL.
    private func write<T: Sendable>(durable: Bool = true, _ body: @escaping @Sendable (Database) throws -> T)
        async throws -> T
    {
        do {
            return try await queue.writeWithoutTransaction { db in
                // A restore of FULL that failed earlier is retried before anything durable is written.
                if durable, self.relaxed.withLock({ $0 }) {
                    try db.cachedStatement(sql: "PRAGMA synchronous = FULL").execute()
                    self.relaxed.withLock { $0 = false }
                }
                guard !durable else { return try Self.inTransaction(db, begin: "BEGIN IMMEDIATE TRANSACTION", body) }
                self.relaxed.withLock { $0 = true }
                try db.cachedStatement(sql: "PRAGMA synchronous = NORMAL").execute()
                let result = Result { try Self.inTransaction(db, begin: "BEGIN IMMEDIATE TRANSACTION", body) }
                try db.cachedStatement(sql: "PRAGMA synchronous = FULL").execute()
                self.relaxed.withLock { $0 = false }
                return try result.get()
            }
        } catch let error as DatabaseError {
            throw Self.map(error, path: path)
        }
    }

    /// `body`, one statement (SQLite runs each in its own implicit transaction) unless `snapshot` asks for several
    /// statements to see the same state, in a DEFERRED transaction.
    private func read<T: Sendable>(snapshot: Bool = false, _ body: @escaping @Sendable (Database) throws -> T)
        async throws -> T
    {
        do {
            return try await queue.unsafeRead { db in
                snapshot ? try Self.inTransaction(db, begin: "BEGIN DEFERRED TRANSACTION", body) : try body(db)
            }
        } catch let error as DatabaseError {
            throw Self.map(error, path: path)
        }
    }

    private static func inTransaction<T>(_ db: Database, begin: String, _ body: (Database) throws -> T) throws -> T {
        try db.cachedStatement(sql: begin).execute()
        do {
            let result = try body(db)
            try db.cachedStatement(sql: "COMMIT TRANSACTION").execute()
            return result
        } catch {
            if db.isInsideTransaction { try? db.cachedStatement(sql: "ROLLBACK TRANSACTION").execute() }
            throw error
        }
    }

    private static func map(_ error: DatabaseError, path: String) -> ConnectorError {
        switch error.resultCode {
        case .SQLITE_BUSY, .SQLITE_LOCKED:
            ConnectorError(
                .stateUnavailable, kind: .temporary,
                "the SQLite store \(path) stayed locked by another process; check for a stuck process holding it (e.g. `fuser \(path)`)"
            )
        case .SQLITE_FULL, .SQLITE_IOERR, .SQLITE_CANTOPEN, .SQLITE_READONLY:
            ConnectorError(
                .stateUnavailable, kind: .temporary,
                "the SQLite store \(path) cannot be written (\(error.resultCode)); check the free disk space and that this user owns the file and its directory"
            )
        default:
            ConnectorError(.stateCorrupt, "the SQLite store \(path) failed (SQLite error \(error.resultCode))")
        }
    }

    package func get(_ key: String) async throws -> StoredValue? {
        let time = now().timeIntervalSince1970
        let keyData = Self.bytes(key)
        return try await read { db in try Self.liveRow(db, keyData, time).map(Self.value) }
    }

    /// One read transaction: a consistent view of every key.
    package func getMany(_ keys: [String]) async throws -> [StoredValue?] {
        let time = now().timeIntervalSince1970
        let keyData = keys.map { Self.bytes($0) }
        return try await read(snapshot: true) { db in try keyData.map { try Self.liveRow(db, $0, time).map(Self.value) }
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
            if try Self.liveRow(db, keyData, time.timeIntervalSince1970) != nil { return nil }
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
            guard let row = try Self.liveRow(db, keyData, time.timeIntervalSince1970),
                Self.value(row).version == expectedVersion
            else { return nil }
            return try Self.write(db, keyData, newValue, expires, time)
        }
    }

    package func delete(_ key: String) async throws -> Bool {
        let time = now().timeIntervalSince1970
        let keyData = Self.bytes(key)
        return try await write { db in
            let existed = try Self.liveRow(db, keyData, time) != nil
            try db.cachedStatement(sql: "DELETE FROM kv WHERE key = ?").execute(arguments: [keyData])
            return existed
        }
    }

    package func delete(_ key: String, expectedVersion: Int64) async throws -> Bool {
        let time = now().timeIntervalSince1970
        let keyData = Self.bytes(key)
        return try await write { db in
            guard let row = try Self.liveRow(db, keyData, time), Self.value(row).version == expectedVersion else {
                return false
            }
            try db.cachedStatement(sql: "DELETE FROM kv WHERE key = ?").execute(arguments: [keyData])
            return true
        }
    }

    package func increment(_ key: String, by delta: Int64, ttl: Duration?) async throws -> Int64 {
        let time = now()
        let keyData = Self.bytes(key)
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
                    if try Self.liveRow(db, key, seconds) != nil { return nil }
                case .compareAndSwap(_, let expected, _, _), .deleteIf(_, let expected):
                    guard let row = try Self.liveRow(db, key, seconds), Self.value(row).version == expected else {
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
                    let existed = try Self.liveRow(db, key, seconds) != nil
                    try db.cachedStatement(sql: "DELETE FROM kv WHERE key = ?").execute(arguments: [key])
                    results.append(existed ? 1 : 0)
                case .append(let counter, let prefix, let value, _):
                    let current = try Self.liveRow(db, key, seconds).map(Self.value)
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
            return try Row.fetchAll(db.cachedStatement(sql: sql), arguments: arguments).map { row in
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

    /// The connection's `PRAGMA synchronous` now (2: FULL, what every durable write commits with).
    package func synchronousSetting() async throws -> Int {
        try await read { db in try Int.fetchOne(db, sql: "PRAGMA synchronous") ?? -1 }
    }

    package func close() async throws {
        try queue.close()
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
            let stored = try Self.liveRow(db, key, time.timeIntervalSince1970).map(Self.value)
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
