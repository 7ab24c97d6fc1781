import ConnectorCore
import ConnectorStateRedis
import ConnectorStateSQLite
import ConnectorTesting
import Foundation
import Synchronization
import Testing

@Suite("StateStore conformance")
struct StateStoreTests {
    @Test("in-memory store")
    func inMemory() async throws {
        try await StateStoreConformance.run(
            { now in InMemoryStateStore(now: now) },
            twoClients: {
                let store = InMemoryStateStore()
                return (store, store)
            })
    }

    /// Both ways a SQLite store runs its calls: inline (a step process) and on its own serial queue (the runner).
    @Test("SQLite store (real files)", arguments: [SQLiteStateStore.Execution.inline, .serialQueue])
    func sqlite(execution: SQLiteStateStore.Execution) async throws {
        let directory = try TemporaryDirectory()
        try await StateStoreConformance.run(
            { now in
                try SQLiteStateStore(
                    path: directory.path + "/\(UUID().uuidString).sqlite", execution: execution, now: now)
            },
            twoClients: {
                let path = directory.path + "/\(UUID().uuidString).sqlite"
                return (
                    try SQLiteStateStore(path: path, execution: execution),
                    try SQLiteStateStore(path: path, execution: execution)
                )
            })
    }

    @Test("SQLite: several connections to one file (as several processes) claim exactly once")
    func sqliteSharedFile() async throws {
        let directory = try TemporaryDirectory()
        let path = directory.path + "/shared.sqlite"
        // Two of them on their own queues, as the runner's is, two inline, as steps' are.
        let stores = try (0..<4).map { index in
            try SQLiteStateStore(path: path, execution: index.isMultiple(of: 2) ? .inline : .serialQueue)
        }
        let wins = try await withThrowingTaskGroup(of: Int.self) { group in
            for (index, store) in stores.enumerated() {
                group.addTask {
                    var won = 0
                    for key in 0..<50
                    where try await store.putIfAbsent("claim/\(key)", Data("\(index)".utf8), ttl: nil) != nil {
                        won += 1
                    }
                    _ = try await store.increment("total", by: 1, ttl: nil)
                    return won
                }
            }
            return try await group.reduce(0, +)
        }
        #expect(wins == 50)
        #expect(try await stores[0].get("total")?.data == Data("4".utf8))
        for store in stores { try await store.close() }
    }

    @Test(
        "conformance: a file another process keeps locked fails every write with a clear, temporary error; it recovers",
        arguments: [SQLiteStateStore.Execution.inline, .serialQueue])
    func outage(execution: SQLiteStateStore.Execution) async throws {
        let directory = try TemporaryDirectory()
        let path = directory.path + "/state.sqlite"
        let holder = Mutex<Process?>(nil)
        try await StoreOutage(
            open: { try SQLiteStateStore(path: path, busyTimeout: 0.05, execution: execution) },
            cut: {
                // Another process (Python's sqlite3, not our code) takes the write lock until its stdin closes, then
                // rolls back.
                let process = Process()
                process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
                process.arguments = [
                    "python3", "-c",
                    """
                    import sqlite3, sys
                    c = sqlite3.connect(sys.argv[1], isolation_level=None)
                    c.execute("BEGIN IMMEDIATE")
                    print("locked", flush=True); sys.stdin.read(); c.execute("ROLLBACK")
                    """,
                    path,
                ]
                let output = Pipe()
                process.standardOutput = output
                process.standardInput = Pipe()
                try process.run()
                holder.withLock { $0 = process }
                #expect(
                    String(decoding: output.fileHandleForReading.readData(ofLength: 7), as: UTF8.self) == "locked\n")
            },
            restore: {
                guard let process = holder.withLock({ $0 }) else { return }
                try (process.standardInput as? Pipe)?.fileHandleForWriting.close()
                process.waitUntilExit()
            },
            names: "the SQLite store \(path) stayed locked by another process", readsFail: false, bound: .seconds(2)
        ).run()
    }

    @Test("SQLite: data survives closing and reopening; WAL mode is on")
    func sqliteDurable() async throws {
        let directory = try TemporaryDirectory()
        let path = directory.path + "/nested/dir/state.sqlite"
        let first = try SQLiteStateStore(path: path)
        let version = try await first.put("k", Data("v".utf8), ttl: nil)
        try await first.close()
        let second = try SQLiteStateStore(path: path)
        let read = try #require(try await second.get("k"))
        #expect(read.version == version)
        #expect(try await second.put("k", Data("w".utf8), ttl: nil) > version, "a key's versions go on after reopening")
        #expect(try await second.journalMode() == "wal")
        #expect(try await second.synchronousSetting() == 2, "FULL: a commit is on disk when it returns")
        try await second.close()
    }

    @Test("SQLite: an unusable path is a configuration error")
    func sqliteBadPath() {
        #expect(throws: ConnectorError.self) { try SQLiteStateStore(path: "/proc/self/nope/state.sqlite") }
    }
}

@Suite("SQLite store files are private to their owner")
struct SQLitePermissionTests {
    static func mode(_ path: String) throws -> Int {
        let attributes = try FileManager.default.attributesOfItem(atPath: path)
        return (attributes[.posixPermissions] as? NSNumber)?.intValue ?? -1
    }

    @Test("a new store's directory is 0700, the file and its WAL and SHM 0600, even under a lax umask")
    func newStore() async throws {
        let directory = try TemporaryDirectory()
        let previous = umask(0o022)
        defer { umask(previous) }
        let path = directory.path + "/nested/state/state.sqlite"
        let store = try SQLiteStateStore(path: path)
        _ = try await store.put("k", Data("v".utf8), ttl: nil)
        #expect(try Self.mode(directory.path + "/nested/state") & 0o777 == 0o700)
        #expect(try Self.mode(path) & 0o777 == 0o600)
        for suffix in ["-wal", "-shm"] where FileManager.default.fileExists(atPath: path + suffix) {
            #expect(try Self.mode(path + suffix) & 0o777 == 0o600, "\(suffix)")
        }
        #expect(FileManager.default.fileExists(atPath: path + "-wal"), "WAL mode keeps a -wal file while open")
        try await store.close()
    }

    @Test("an existing store left readable by others is tightened to 0600 when opened")
    func existingStore() async throws {
        let directory = try TemporaryDirectory()
        let path = directory.path + "/state.sqlite"
        let first = try SQLiteStateStore(path: path)
        try await first.close()
        _ = chmod(path, 0o644)
        let second = try SQLiteStateStore(path: path)
        #expect(try Self.mode(path) & 0o777 == 0o600)
        try await second.close()
    }
}

@Suite("SQLite store: what a step's open and close cost")
struct SQLiteStepOpenTests {
    @Test("a step's close leaves the WAL to the next filling commit: no checkpoint and its fsyncs at each exit")
    func closeKeepsWAL() async throws {
        let directory = try TemporaryDirectory()
        let path = directory.path + "/state.sqlite"
        let created = try SQLiteStateStore(path: path, mode: .create)
        try await created.close()
        let step = try SQLiteStateStore(path: path, mode: .readWrite)
        _ = try await step.put("claim", Data("mine".utf8), ttl: nil)
        try await step.close()
        // The last connection closed; SQLite's default would have copied the WAL into the file and removed it.
        let size = (try FileManager.default.attributesOfItem(atPath: path + "-wal")[.size] as? NSNumber)?.intValue
        #expect((size ?? 0) > 0, "the committed write is still in the WAL")
        // Nothing is lost: the next process reads the write from the WAL.
        let next = try SQLiteStateStore(path: path, mode: .readOnly)
        #expect(try await next.get("claim")?.data == Data("mine".utf8))
        try await next.close()
    }

    @Test("the rate limiter's commits skip the disk sync; the connection is back at FULL for everything else")
    func limiterCommitsRelaxed() async throws {
        let directory = try TemporaryDirectory()
        let store = try SQLiteStateStore(path: directory.path + "/state.sqlite", mode: .create)
        #expect(try await store.synchronousSetting() == 2)
        let budget = RateBudget(key: "limit/erp", ceiling: 5, floor: 1, probeInterval: 30, memory: .seconds(3600))
        let reserved = try await store.reserveRateSlot(budget, now: 1_800_000_000, maxWait: 60)
        #expect(reserved != nil)
        #expect(try await store.synchronousSetting() == 2, "FULL again after the limiter's transaction")
        _ = try await store.penalizeRate(budget, now: 1_800_000_001, retryAfter: nil)
        #expect(try await store.synchronousSetting() == 2)
        #expect(try await store.get("limit/erp") != nil, "the limiter's state is committed")
        try await store.close()
    }

    @Test("a write waits for another process's lock in short steps and gives up once the busy timeout is spent")
    func busyRetryKeepsToTheTimeout() {
        // 50, 100, 200, 400, 800, 1,600 µs, then 2 ms a try: 15 tries fit in 20 ms, the 16th is refused.
        let retry = SQLiteStateStore.busyRetry(timeout: 0.02)
        var tries = 0
        while retry(tries) { tries += 1 }
        #expect(tries == 15)
        #expect(SQLiteStateStore.busyRetry(timeout: 0)(0) == false)
    }

    @Test(
        "another process holding the write lock: a write waits it out, one past the busy timeout is a temporary error",
        arguments: [SQLiteStateStore.Execution.inline, .serialQueue])
    func waitsForAnotherProcessLock(execution: SQLiteStateStore.Execution) async throws {
        let directory = try TemporaryDirectory()
        let path = directory.path + "/state.sqlite"
        let patient = try SQLiteStateStore(path: path, busyTimeout: 10, execution: execution)
        let hasty = try SQLiteStateStore(path: path, busyTimeout: 0.05, execution: execution)
        // Another process (Python's sqlite3, not our code) takes the write lock and holds it until its stdin closes.
        let holder = Process()
        holder.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        holder.arguments = [
            "python3", "-c",
            """
            import sqlite3, sys
            c = sqlite3.connect(sys.argv[1], isolation_level=None)
            c.execute("BEGIN IMMEDIATE"); c.execute("INSERT OR REPLACE INTO kv VALUES (x'6f', x'00', 1, NULL)")
            print("locked", flush=True); sys.stdin.read(); c.execute("COMMIT")
            """,
            path,
        ]
        let output = Pipe()
        let input = Pipe()
        holder.standardOutput = output
        holder.standardInput = input
        try holder.run()
        defer { holder.waitUntilExit() }
        #expect(String(decoding: output.fileHandleForReading.readData(ofLength: 7), as: UTF8.self) == "locked\n")
        await #expect {
            _ = try await hasty.put("k", Data("v".utf8), ttl: nil)
        } throws: { error in
            (error as? ConnectorError)?.kind == .temporary && String(describing: error).contains("stayed locked")
        }
        // The patient write is still waiting after 0.3 s; it goes through once the other process commits.
        let finished = Atomic<Bool>(false)
        let write = Task {
            _ = try await patient.put("k", Data("v".utf8), ttl: nil)
            finished.store(true, ordering: .releasing)
        }
        try await Task.sleep(for: .milliseconds(300))
        let early = finished.load(ordering: .acquiring)
        #expect(!early, "the write waits for the lock")
        try input.fileHandleForWriting.close()
        _ = try await write.value
        #expect(try await patient.get("o")?.data == Data([0]), "the other process's commit is there")
        try await patient.close()
        try await hasty.close()
    }

    @Test("a step's open reads the schema instead of writing it: a file that is not a store is refused, not converted")
    func readWriteRefusesForeignFile() async throws {
        let directory = try TemporaryDirectory()
        let path = directory.path + "/state.sqlite"
        #expect(FileManager.default.createFile(atPath: path, contents: Data()))
        #expect {
            try SQLiteStateStore(path: path, mode: .readWrite)
        } throws: { error in
            (error as? ConnectorError)?.kind == .configuration
                && String(describing: error).contains("not an ml-connector store")
        }
        // No table was made in it: it is still not a store.
        #expect(throws: ConnectorError.self) { try SQLiteStateStore(path: path, mode: .readOnly) }
    }
}
