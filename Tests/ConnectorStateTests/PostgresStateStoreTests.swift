import ConnectorCore
import ConnectorStatePostgres
import ConnectorTesting
import Foundation
import Testing

/// The PostgreSQL backend against a real server each test starts (initdb into a temporary directory, a free
/// loopback port; as the `postgres` account when the tests run as root). Never skipped: a missing PostgreSQL fails
/// with the install hint.
@Suite("PostgreSQL store")
struct PostgresStateStoreTests {
    static func endpoint(_ server: PostgresServerProcess, database: String = "postgres") -> PostgresEndpoint {
        PostgresEndpoint(
            host: "127.0.0.1", port: server.port, database: database, user: server.user, password: server.password)
    }

    /// A table name of its own for each store of a test.
    static func table() -> String { "t_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "") }

    @Test("the conformance suite, the typed helpers and two clients on separate connections, on a real server")
    func conformance() async throws {
        let server = try PostgresServerProcess()
        defer { server.stop() }
        let endpoint = Self.endpoint(server)
        try await StateStoreConformance.run(
            { _ in try await PostgresStateStore(endpoint: endpoint, table: Self.table()) },
            twoClients: {
                let table = Self.table()
                return (
                    try await PostgresStateStore(endpoint: endpoint, table: table),
                    try await PostgresStateStore(endpoint: endpoint, table: table)
                )
            },
            clock: .server)
    }

    @Test("one connection serves a store's whole life, concurrent operations included; expiry is the server's")
    func oneConnection() async throws {
        let server = try PostgresServerProcess()
        defer { server.stop() }
        let store = try await PostgresStateStore(endpoint: Self.endpoint(server), table: Self.table())
        try await withThrowingTaskGroup(of: Void.self) { group in
            for index in 0..<30 {
                group.addTask {
                    try await store.put("k/\(index)", Data("\(index)".utf8), ttl: nil)
                    _ = try await store.get("k/\(index)")
                    _ = try await store.increment("n", by: 1, ttl: nil)
                }
            }
            try await group.waitForAll()
        }
        #expect(try await store.scanAll(prefix: "k/", pageSize: 7).count == 30)
        #expect(store.connectionsMade == 1)
        // The expiry written is the server's now() plus the TTL: within the TTL of this machine's clock (the server
        // runs here), stored with the row.
        let before = Date()
        try await store.put("ttl", Data(), ttl: .seconds(60))
        let expiresAt = try #require(try await store.get("ttl")?.expiresAt)
        #expect(abs(expiresAt.timeIntervalSince(before) - 60) < 5)
        try await store.close()
    }

    @Test("a purge deletes expired rows only; a counter refuses overflow; keys are text without NUL")
    func purgeAndLimits() async throws {
        let server = try PostgresServerProcess()
        defer { server.stop() }
        let store = try await PostgresStateStore(endpoint: Self.endpoint(server), table: Self.table())
        for index in 0..<5 { try await store.put("gone/\(index)", Data(), ttl: .milliseconds(100)) }
        try await store.put("kept/short", Data(), ttl: .seconds(60))
        try await store.put("kept/forever", Data(), ttl: nil)
        try await Task.sleep(for: .milliseconds(400))
        #expect(try await store.purgeExpired() == 5)
        #expect(try await store.purgeExpired() == 0)
        #expect(try await store.scanAll(prefix: "").map(\.key) == ["kept/forever", "kept/short"])

        try await store.put("big", Data(String(Int64.max - 1).utf8), ttl: nil)
        #expect(try await store.increment("big", by: 1, ttl: nil) == Int64.max)
        let overflow = await #expect(throws: ConnectorError.self) { try await store.increment("big", by: 1, ttl: nil) }
        #expect(overflow?.code == .stateCorrupt)
        #expect(try await store.get("big")?.data == Data(String(Int64.max).utf8), "a refused increment changes nothing")
        let nul = await #expect(throws: ConnectorError.self) { try await store.put("a\u{0}b", Data(), ttl: nil) }
        #expect(nul?.message.contains("without NUL") == true, "\(nul?.message ?? "")")
        #expect(try await store.get("big") != nil)
        #expect(store.connectionsMade == 1, "a statement the server refused keeps the connection")
        try await store.close()
    }

    @Test(
        "conformance: a crashed server fails every operation with a clear, temporary error; the restarted one is used")
    func outage() async throws {
        let server = try PostgresServerProcess()
        defer { server.stop() }
        let endpoint = Self.endpoint(server)
        try await StoreOutage(
            open: { try await PostgresStateStore(endpoint: endpoint, table: Self.table()) },
            cut: { server.stop() }, restore: { try server.start() },
            names: "PostgreSQL store at mlc@127.0.0.1:\(server.port)/postgres", secret: server.password
        ).run()
    }

    @Test("a server killed mid-run gives a clear, temporary error, not a hang; the restarted server is used again")
    func lostConnection() async throws {
        let server = try PostgresServerProcess()
        defer { server.stop() }
        let store = try await PostgresStateStore(endpoint: Self.endpoint(server), table: Self.table())
        try await store.put("k", Data("v".utf8), ttl: nil)
        server.stop()
        let started = Date()
        let error = await #expect(throws: ConnectorError.self) { try await store.get("k") }
        #expect(Date().timeIntervalSince(started) < 10, "no hang")
        #expect(error?.code == .stateUnavailable)
        #expect(error?.kind == .temporary)
        let message = error?.message ?? ""
        #expect(message.contains("PostgreSQL store at mlc@127.0.0.1:\(server.port)/postgres"), "\(message)")
        #expect(message.contains("check that PostgreSQL"), "\(message)")
        #expect(!message.contains(server.password))
        let refused = await #expect(throws: ConnectorError.self) {
            try await PostgresStateStore(endpoint: Self.endpoint(server), table: Self.table())
        }
        #expect(refused?.kind == .temporary)
        #expect(
            refused?.message.contains("cannot connect to the PostgreSQL store at mlc@127.0.0.1:\(server.port)") == true)
        #expect(refused?.message.contains("listens on that address") == true, "\(refused?.message ?? "")")
        try server.start()
        do {
            #expect(try await store.get("k")?.data == Data("v".utf8), "the next operation connects again")
        } catch {
            Issue.record("after the restart: \(error)")
        }
        #expect(store.connectionsMade == 2)
        try await store.close()
    }

    @Test(
        "credentials: a wrong or missing password, an unknown database or TLS the server lacks say what to check, never the password"
    )
    func credentials() async throws {
        let server = try PostgresServerProcess()
        defer { server.stop() }
        var endpoint = Self.endpoint(server)
        endpoint.password = "wrong-\(server.password)"
        let wrong = await #expect(throws: ConnectorError.self) { try await PostgresStateStore(endpoint: endpoint) }
        #expect(wrong?.kind == .configuration)
        #expect(wrong?.message.contains("refused the credentials") == true, "\(wrong?.message ?? "")")
        #expect(wrong?.message.contains("check the user and password in MLC_STATE") == true)
        #expect(wrong?.message.contains(server.password) == false)

        endpoint.password = nil
        let missing = await #expect(throws: ConnectorError.self) { try await PostgresStateStore(endpoint: endpoint) }
        #expect(missing?.message.contains("wants a password") == true, "\(missing?.message ?? "")")

        let noDatabase = await #expect(throws: ConnectorError.self) {
            try await PostgresStateStore(endpoint: Self.endpoint(server, database: "nope"))
        }
        #expect(noDatabase?.kind == .configuration)
        #expect(noDatabase?.message.contains("has no such database") == true, "\(noDatabase?.message ?? "")")
        #expect(noDatabase?.message.contains(server.password) == false)

        var tls = Self.endpoint(server)
        tls.tls = .require
        let noTLS = await #expect(throws: ConnectorError.self) { try await PostgresStateStore(endpoint: tls) }
        #expect(noTLS?.message.contains("does not offer TLS") == true, "\(noTLS?.message ?? "")")
        #expect(noTLS?.message.contains(server.password) == false)
    }

    @Test(
        "only .create makes the table; .readWrite and .readOnly refuse a database without one; .readOnly writes nothing"
    )
    func modes() async throws {
        let server = try PostgresServerProcess()
        defer { server.stop() }
        try server.createDatabase("fresh")
        let endpoint = Self.endpoint(server, database: "fresh")
        for mode in [PostgresStateStore.OpenMode.readWrite, .readOnly] {
            let error = await #expect(throws: ConnectorError.self) {
                try await PostgresStateStore(endpoint: endpoint, mode: mode)
            }
            #expect(error?.kind == .configuration)
            #expect(error?.message.contains("connections add") == true, "\(error?.message ?? "")")
        }
        let created = try await PostgresStateStore(endpoint: endpoint, mode: .create)
        let version = try await created.put("k", Data("v".utf8), ttl: nil)
        try await created.close()
        let writer = try await PostgresStateStore(endpoint: endpoint, mode: .readWrite)
        #expect(try await writer.get("k")?.version == version)
        try await writer.close()
        let reader = try await PostgresStateStore(endpoint: endpoint, mode: .readOnly)
        #expect(try await reader.get("k")?.data == Data("v".utf8))
        let refused = await #expect(throws: ConnectorError.self) { try await reader.put("k2", Data(), ttl: nil) }
        #expect(refused?.message.contains("read-only") == true, "\(refused?.message ?? "")")
        #expect(try await reader.get("k2") == nil)
        try await reader.close()
        // Stores in other tables or databases do not see each other.
        let other = try await PostgresStateStore(endpoint: Self.endpoint(server), table: "mlc_state")
        #expect(try await other.get("k") == nil)
        try await other.close()
    }

    @Test(
        "postgres:// and postgresql:// URLs parse to host, port, database, user and TLS; their masked form hides the password"
    )
    func urls() throws {
        let full = try PostgresEndpoint.parse("postgres://mlc:p%40ss@db.internal:6543/state?sslmode=require")
        #expect(
            full
                == PostgresEndpoint(
                    host: "db.internal", port: 6543, database: "state", user: "mlc", password: "p@ss", tls: .require))
        #expect(full.description == "mlc@db.internal:6543/state")
        #expect(
            try PostgresEndpoint.parse("postgresql://u@10.0.0.5/mlc")
                == PostgresEndpoint(host: "10.0.0.5", database: "mlc", user: "u"))
        #expect(try PostgresEndpoint.parse("POSTGRES://u:pw@[::1]:5433/mlc?sslmode=disable").host == "::1")
        for bad in [
            "postgres://", "postgres://u:pw@host", "postgres://u:pw@host/", "postgres://:pw@host/db",
            "postgres://host/db", "postgres://u:pw@host:0/db", "postgres://u:pw@host/db?sslmode=verify-full",
            "postgres://u:pw@host/db?table=x", "postgres://u:pw@host/a/b", "redis://u:pw@host/db",
        ] {
            let error = #expect(throws: PostgresURLError.self, "\(bad)") { try PostgresEndpoint.parse(bad) }
            #expect(error?.reason.contains("pw") == false, "\(bad): \(error?.reason ?? "")")
        }
        #expect(PostgresEndpoint.masked("postgres://mlc:hunter2@h:1/db") == "postgres://mlc:***@h:1/db")
        #expect(PostgresEndpoint.masked("postgresql://mlc@h/db") == "postgresql://mlc@h/db")
        let endpoint = PostgresEndpoint(host: "h", database: "d", user: "u", password: "p w/x")
        #expect(endpoint.redact("a p w/x b p%20w%2Fx c p%20w%2fx") == "a *** b *** c ***")
        #expect(PostgresEndpoint.masked("postgres://mlc:a/b?c#d@h:1/db") == "postgres://mlc:***@h:1/db")
        let long = PostgresEndpoint(host: "h", database: "d", user: "u", password: "long+pass/word")
        let base64 = Data("long+pass/word".utf8).base64EncodedString()
        #expect(long.redact("x long+pass/word \(base64) \"long+pass\\/word\"") == "x *** *** \"***\"")
    }
}
