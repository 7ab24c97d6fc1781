import ConnectorCore
import ConnectorStatePostgres
import ConnectorStateRedis
import ConnectorTesting
import Foundation
import Synchronization
import Testing

/// The connection pool of the long-lived processes (`PooledStateStore`) on real servers: the store, queue and
/// rate-limiter conformance suites through it, many concurrent operations over several connections staying
/// correct, and a server that dies and comes back.
@Suite("Pooled store")
struct PooledStateStoreTests {
    static func redisPool(
        _ endpoint: RedisEndpoint, namespace: String, size: Int = 3, commandTimeout: Duration = .seconds(15)
    ) async throws -> PooledStateStore {
        PooledStateStore(
            first: try await RedisStateStore(endpoint: endpoint, namespace: namespace, commandTimeout: commandTimeout),
            size: size, label: "the Redis store at \(endpoint)"
        ) { try await RedisStateStore(endpoint: endpoint, namespace: namespace, commandTimeout: commandTimeout) }
    }

    static func postgresPool(_ endpoint: PostgresEndpoint, table: String, size: Int = 3) async throws
        -> PooledStateStore
    {
        PooledStateStore(
            first: try await PostgresStateStore(endpoint: endpoint, table: table), size: size,
            label: "the PostgreSQL store at \(endpoint)"
        ) { try await PostgresStateStore(endpoint: endpoint, table: table, verifySchema: false) }
    }

    @Test("conformance: the runner's pools lose their server and come back (Redis frozen, PostgreSQL crashed)")
    func outage() async throws {
        let redis = try RedisServerProcess()
        defer { redis.stop() }
        let redisEndpoint = RedisEndpoint(host: "127.0.0.1", port: redis.port)
        try await StoreOutage(
            open: {
                try await Self.redisPool(
                    redisEndpoint, namespace: "o-\(UUID().uuidString)", commandTimeout: .seconds(1))
            },
            cut: { redis.freeze() }, restore: { redis.thaw() }, names: "Redis store at 127.0.0.1:\(redis.port)",
            bound: .seconds(8)
        ).run()
        let postgres = try PostgresServerProcess()
        defer { postgres.stop() }
        let postgresEndpoint = PostgresStateStoreTests.endpoint(postgres)
        try await StoreOutage(
            open: { try await Self.postgresPool(postgresEndpoint, table: PostgresStateStoreTests.table()) },
            cut: { postgres.stop() }, restore: { try postgres.start() },
            names: "PostgreSQL store at mlc@127.0.0.1:\(postgres.port)/postgres", secret: postgres.password
        ).run()
    }

    @Test("Redis: the store, work queue and rate limiter conformance suites through pools of 3")
    func redisConformance() async throws {
        let server = try RedisServerProcess()
        defer { server.stop() }
        let endpoint = RedisEndpoint(host: "127.0.0.1", port: server.port)
        try await StateStoreConformance.run(
            { _ in try await Self.redisPool(endpoint, namespace: "p-\(UUID().uuidString)") },
            twoClients: {
                let namespace = "p-\(UUID().uuidString)"
                return (
                    try await Self.redisPool(endpoint, namespace: namespace),
                    try await Self.redisPool(endpoint, namespace: namespace)
                )
            },
            clock: .server)
        try await WorkQueueConformance.run {
            let namespace = "q-\(UUID().uuidString)"
            let first = WorkQueue(store: try await Self.redisPool(endpoint, namespace: namespace))
            let second = WorkQueue(store: try await Self.redisPool(endpoint, namespace: namespace))
            #expect(first.backend is PooledWorkQueueBackend, "the members' native queue, through the pool")
            return (first, second)
        }
        try await RateLimiterConformance.run { name in try await Self.redisPool(endpoint, namespace: name) }
    }

    @Test("PostgreSQL: the store, work queue and rate limiter conformance suites through pools of 3")
    func postgresConformance() async throws {
        let server = try PostgresServerProcess()
        defer { server.stop() }
        let endpoint = PostgresStateStoreTests.endpoint(server)
        try await StateStoreConformance.run(
            { _ in try await Self.postgresPool(endpoint, table: PostgresStateStoreTests.table()) },
            twoClients: {
                let table = PostgresStateStoreTests.table()
                return (
                    try await Self.postgresPool(endpoint, table: table),
                    try await Self.postgresPool(endpoint, table: table)
                )
            },
            clock: .server)
        try await WorkQueueConformance.run {
            let table = PostgresStateStoreTests.table()
            let first = WorkQueue(store: try await Self.postgresPool(endpoint, table: table))
            let second = WorkQueue(store: try await Self.postgresPool(endpoint, table: table))
            #expect(first.backend is PooledWorkQueueBackend, "the members' native queue, through the pool")
            return (first, second)
        }
        try await RateLimiterConformance.run { name in try await Self.postgresPool(endpoint, table: name) }
    }

    /// Many tasks at once through one pool of 3: compare-and-swap increments of one key add up exactly, native
    /// increments too, and concurrent queue claims never hand one item to two claimers. Returns the connections the
    /// pool holds at the end.
    static func hammer(_ pool: PooledStateStore) async throws -> Int {
        let tasks = 24
        let perTask = 5
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<tasks {
                group.addTask {
                    for _ in 0..<perTask {
                        try await pool.update("cas-counter", as: Int.self, maxAttempts: 10_000) { ($0 ?? 0) + 1 }
                        _ = try await pool.increment("native-counter", by: 1, ttl: nil)
                    }
                }
            }
            try await group.waitForAll()
        }
        #expect(try await pool.get("cas-counter", as: Int.self)?.value == tasks * perTask)
        #expect(String(decoding: try #require(try await pool.get("native-counter")).data, as: UTF8.self) == "120")

        let queue = WorkQueue(store: pool)
        let items = 60
        for index in 0..<items { try await queue.enqueue(WorkQueueConformance.item("sync-vendors", index)) }
        let ids = try await withThrowingTaskGroup(of: [String].self) { group in
            for claimer in 0..<8 {
                group.addTask {
                    var mine: [String] = []
                    while true {
                        let claims = try await queue.claim(
                            step: "sync-vendors", consumer: "c\(claimer)", limit: 2, visibility: .seconds(60))
                        if claims.isEmpty { return mine }
                        for claim in claims {
                            mine.append(claim.item.id)
                            #expect(try await queue.ack(claim))
                        }
                    }
                }
            }
            return try await group.reduce(into: []) { $0 += $1 }
        }
        #expect(ids.count == items, "every item claimed once")
        #expect(Set(ids).count == items, "no item handed to two claimers")
        #expect(try await queue.count(step: "sync-vendors") == 0)
        let connections = pool.connections
        #expect(connections.peak > 1, "concurrent operations used more than one connection")
        #expect(connections.peak <= 3 && connections.alive <= 3, "never more than the pool's size")
        #expect(connections.opened == connections.alive, "no connection was dropped: none broke")
        return connections.alive
    }

    @Test("Redis: many concurrent operations through a pool of 3 spread over its connections and stay exact")
    func redisConcurrency() async throws {
        let server = try RedisServerProcess()
        defer { server.stop() }
        let pool = try await Self.redisPool(
            RedisEndpoint(host: "127.0.0.1", port: server.port), namespace: "hammer")
        let alive = try await Self.hammer(pool)
        // The server's own view: the pool's connections, plus redis-cli's.
        let clients = try server.cli(["CLIENT", "LIST"]).split(separator: "\n").count
        #expect(clients == alive + 1, "the server sees the pool's \(alive) connections")
        try await pool.close()
    }

    @Test("PostgreSQL: many concurrent operations through a pool of 3 spread over its connections and stay exact")
    func postgresConcurrency() async throws {
        let server = try PostgresServerProcess()
        defer { server.stop() }
        let pool = try await Self.postgresPool(
            PostgresStateStoreTests.endpoint(server), table: PostgresStateStoreTests.table())
        let alive = try await Self.hammer(pool)
        let sessions = try server.query(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'ml-connector'")
        #expect(sessions == String(alive), "the server sees the pool's \(alive) sessions")
        try await pool.close()
    }

    /// Opens every connection of the pool (operations at once), so a dead server breaks several.
    static func warm(_ pool: PooledStateStore) async throws {
        try await withThrowingTaskGroup(of: Void.self) { group in
            for index in 0..<12 {
                group.addTask { try await pool.put("warm-\(index)", Data("w".utf8), ttl: nil) }
            }
            try await group.waitForAll()
        }
    }

    @Test("Redis: a pool whose server dies says so (backend, address, what to check; no password) and recovers")
    func redisServerDies() async throws {
        let secret = "pool-\(UUID().uuidString)"
        let server = try RedisServerProcess(password: secret)
        defer { server.stop() }
        let endpoint = RedisEndpoint(host: "127.0.0.1", port: server.port, password: secret)
        let pool = try await Self.redisPool(endpoint, namespace: "dies")
        try await Self.warm(pool)
        server.stop(abruptly: true)
        let lost = await #expect(throws: ConnectorError.self) { try await pool.get("warm-1") }
        #expect(lost?.code == .stateUnavailable)
        #expect(lost?.kind == .temporary)
        let message = lost?.message ?? ""
        #expect(message.contains("Redis store at 127.0.0.1:\(server.port)/0"), "\(message)")
        #expect(message.contains("check that redis-server"), "\(message)")
        #expect(!message.contains(secret))
        #expect(pool.connections.alive == 0, "the broken connection and the idle ones (same server) were dropped")
        // Still down: the next operation tries a fresh connection and says why it cannot.
        let down = await #expect(throws: ConnectorError.self) { try await pool.put("k", Data("v".utf8), ttl: nil) }
        #expect(down?.message.contains("cannot connect to the Redis store at 127.0.0.1:\(server.port)/0") == true)
        #expect(down?.message.contains(secret) == false)
        try server.start()
        try await pool.put("k", Data("back".utf8), ttl: nil)
        #expect(try await pool.get("k")?.data == Data("back".utf8), "a fresh connection after the restart")
        #expect(pool.connections.alive == 1)
        try await pool.close()
    }

    @Test("PostgreSQL: a pool whose server dies says so (backend, address, what to check; no password) and recovers")
    func postgresServerDies() async throws {
        let server = try PostgresServerProcess()
        defer { server.stop() }
        let pool = try await Self.postgresPool(
            PostgresStateStoreTests.endpoint(server), table: PostgresStateStoreTests.table())
        try await Self.warm(pool)
        #expect(pool.connections.alive > 1)
        server.stop()
        let lost = await #expect(throws: ConnectorError.self) { try await pool.get("warm-1") }
        #expect(lost?.code == .stateUnavailable)
        #expect(lost?.kind == .temporary)
        let message = lost?.message ?? ""
        #expect(message.contains("PostgreSQL store at mlc@127.0.0.1:\(server.port)/postgres"), "\(message)")
        #expect(message.contains("check"), "\(message)")
        #expect(!message.contains(server.password))
        #expect(pool.connections.alive == 0, "the broken connection and the idle ones (same server) were dropped")
        let down = await #expect(throws: ConnectorError.self) { try await pool.get("warm-1") }
        #expect(
            down?.message.contains("cannot connect to the PostgreSQL store at mlc@127.0.0.1:\(server.port)") == true)
        #expect(down?.message.contains(server.password) == false)
        try server.start()
        #expect(try await pool.get("warm-1")?.data == Data("w".utf8), "a fresh connection after the restart")
        #expect(pool.connections.alive == 1)
        try await pool.close()
        await #expect(throws: ConnectorError.self) { try await pool.get("warm-1") }
    }

    @Test(
        "a store operation inside a borrowed one (a claim's quarantine writing the bad entry) reuses its connection: a full pool does not deadlock",
        .timeLimit(.minutes(1)))
    func nestedOperation() async throws {
        let server = try PostgresServerProcess()
        defer { server.stop() }
        let table = PostgresStateStoreTests.table()
        let pool = try await Self.postgresPool(PostgresStateStoreTests.endpoint(server), table: table, size: 1)
        let queue = WorkQueue(store: pool)
        try await queue.enqueue(WorkQueueConformance.item("sync-vendors", 1))
        try server.psql(
            """
            INSERT INTO \(table)_queue (queue, step, item_id, body, not_before)
            VALUES ('runner', 'sync-vendors', 'x', convert_to('{not json', 'UTF8'), now() - interval '1 minute')
            """)
        let claims = try await queue.claim(step: "sync-vendors", consumer: "c", limit: 5, visibility: .seconds(30)) {
            location, raw, _ in
            try await pool.put("quarantine/" + location, raw, ttl: nil)
        }
        #expect(claims.map(\.item.event.id) == ["event-1"])
        let kept = try await pool.scanAll(prefix: "quarantine/")
        #expect(kept.map(\.value.data) == [Data("{not json".utf8)], "kept whole, through the claim's own connection")
        #expect(pool.connections.opened == 1)
        try await pool.close()
    }

    @Test("a pool of 2 serves many concurrent tasks with at most 2 members; a closed pool refuses with its label")
    func smallPool() async throws {
        let shared = InMemoryStateStore()
        let opened = Atomic<Int>(0)
        let pool = PooledStateStore(first: shared, size: 2, label: "the test store") {
            opened.add(1, ordering: .relaxed)
            return shared
        }
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<50 {
                group.addTask { _ = try await pool.increment("n", by: 1, ttl: nil) }
            }
            try await group.waitForAll()
        }
        #expect(String(decoding: try #require(try await pool.get("n")).data, as: UTF8.self) == "50")
        #expect(opened.load(ordering: .relaxed) <= 1, "at most one more member than the first")
        #expect(pool.connections.peak <= 2)
        try await pool.close()
        let closed = await #expect(throws: ConnectorError.self) { try await pool.get("n") }
        #expect(closed?.message.contains("the test store") == true)
    }
}
