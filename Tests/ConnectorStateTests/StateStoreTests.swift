import ConnectorCore
import ConnectorStateSQLite
import ConnectorTesting
import Foundation
import Testing

@Suite("StateStore conformance")
struct StateStoreTests {
    @Test("in-memory store")
    func inMemory() async throws {
        try await StateStoreConformance.run { now in InMemoryStateStore(now: now) }
    }

    @Test("SQLite store (real files)")
    func sqlite() async throws {
        let directory = try TemporaryDirectory()
        try await StateStoreConformance.run { now in
            try SQLiteStateStore(path: directory.path + "/\(UUID().uuidString).sqlite", now: now)
        }
    }

    @Test("SQLite: several connections to one file (as several processes) claim exactly once")
    func sqliteSharedFile() async throws {
        let directory = try TemporaryDirectory()
        let path = directory.path + "/shared.sqlite"
        let stores = try (0..<4).map { _ in try SQLiteStateStore(path: path) }
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
        #expect(try await second.put("k2", Data(), ttl: nil) > version, "versions continue after reopening")
        try await second.close()
        #expect(FileManager.default.fileExists(atPath: path + "-wal") || FileManager.default.fileExists(atPath: path))
    }

    @Test("SQLite: an unusable path is a configuration error")
    func sqliteBadPath() {
        #expect(throws: ConnectorError.self) { try SQLiteStateStore(path: "/proc/self/nope/state.sqlite") }
    }
}
