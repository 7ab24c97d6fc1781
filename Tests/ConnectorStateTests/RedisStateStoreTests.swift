import ConnectorCore
import ConnectorStateRedis
import ConnectorTesting
import Foundation
import Testing

/// The Redis backend against a real `redis-server` each test starts on a free loopback port (never skipped: a
/// missing server fails with the install hint).
@Suite("Redis store")
struct RedisStateStoreTests {
    static func endpoint(_ server: RedisServerProcess) -> RedisEndpoint {
        RedisEndpoint(host: "127.0.0.1", port: server.port)
    }

    @Test("the conformance suite, the typed helpers and two clients, on a real redis-server")
    func conformance() async throws {
        let server = try RedisServerProcess()
        defer { server.stop() }
        let endpoint = Self.endpoint(server)
        try await StateStoreConformance.run(
            { _ in try await RedisStateStore(endpoint: endpoint, namespace: "t-\(UUID().uuidString)") },
            twoClients: {
                let namespace = "t-\(UUID().uuidString)"
                return (
                    try await RedisStateStore(endpoint: endpoint, namespace: namespace),
                    try await RedisStateStore(endpoint: endpoint, namespace: namespace)
                )
            },
            clock: .server)
    }

    @Test("stores in separate namespaces and databases do not see each other")
    func isolation() async throws {
        let server = try RedisServerProcess()
        defer { server.stop() }
        let first = try await RedisStateStore(endpoint: Self.endpoint(server), namespace: "one")
        let second = try await RedisStateStore(endpoint: Self.endpoint(server), namespace: "two")
        var otherDatabase = Self.endpoint(server)
        otherDatabase.database = 3
        let third = try await RedisStateStore(endpoint: otherDatabase, namespace: "one")
        try await first.put("k", Data("1".utf8), ttl: nil)
        #expect(try await second.get("k") == nil)
        #expect(try await third.get("k") == nil)
        #expect(try await second.scan(prefix: "", after: nil, limit: 10).isEmpty)
        for store in [first, second, third] { try await store.close() }
    }

    @Test("a server that dies mid-run gives a clear, temporary error, not a hang; a restarted one is used again")
    func lostConnection() async throws {
        let server = try RedisServerProcess()
        let store = try await RedisStateStore(endpoint: Self.endpoint(server), namespace: "lost")
        try await store.put("k", Data("v".utf8), ttl: nil)
        server.stop(abruptly: true)
        let started = Date()
        let error = await #expect(throws: ConnectorError.self) { try await store.get("k") }
        #expect(Date().timeIntervalSince(started) < 10, "no hang")
        #expect(error?.code == .stateUnavailable)
        #expect(error?.kind == .temporary)
        #expect(error?.message.contains("Redis store at 127.0.0.1:\(server.port)") == true, "\(error?.message ?? "")")
        let again = await #expect(throws: ConnectorError.self) {
            try await RedisStateStore(endpoint: Self.endpoint(server))
        }
        #expect(again?.message.contains("cannot connect to the Redis store at 127.0.0.1:\(server.port)") == true)
        #expect(again?.message.contains("check that redis-server runs there") == true)
        try await store.close()
    }

    @Test("conformance: a server that stops answering fails every operation with a clear, temporary error; it recovers")
    func outage() async throws {
        let secret = "pw-\(UUID().uuidString)"
        let server = try RedisServerProcess(password: secret)
        defer { server.stop() }
        var withPassword = Self.endpoint(server)
        withPassword.password = secret
        let endpoint = withPassword
        try await StoreOutage(
            open: {
                try await RedisStateStore(
                    endpoint: endpoint, namespace: "o-\(UUID().uuidString)", commandTimeout: .seconds(1))
            },
            cut: { server.freeze() }, restore: { server.thaw() }, names: "Redis store at 127.0.0.1:\(server.port)",
            secret: secret, bound: .seconds(8)
        ).run()
    }

    @Test("a password is used for AUTH and never appears in an error")
    func password() async throws {
        let secret = "s3cret-\(UUID().uuidString)"
        let server = try RedisServerProcess(password: secret)
        defer { server.stop() }
        var endpoint = Self.endpoint(server)
        endpoint.password = secret
        let store = try await RedisStateStore(endpoint: endpoint)
        try await store.put("k", Data("v".utf8), ttl: nil)
        #expect(try await store.get("k")?.data == Data("v".utf8))
        try await store.close()
        endpoint.password = "wrong-\(secret)"
        let refused = await #expect(throws: ConnectorError.self) { try await RedisStateStore(endpoint: endpoint) }
        #expect(refused?.message.contains("refused the credentials") == true, "\(refused?.message ?? "")")
        #expect(refused?.message.contains(secret) == false)
        endpoint.password = nil
        let store2 = try await RedisStateStore(endpoint: endpoint)
        let missing = await #expect(throws: ConnectorError.self) { try await store2.get("k") }
        #expect(missing?.message.contains("password") == true, "\(missing?.message ?? "")")
        try await store2.close()
    }

    @Test("redis:// URLs parse to host, port, database and credentials; their masked form hides the password")
    func urls() throws {
        let full = try RedisEndpoint.parse("redis://user:p%40ss@cache.internal:6380/2")
        #expect(full == RedisEndpoint(host: "cache.internal", port: 6380, database: 2, user: "user", password: "p@ss"))
        #expect(full.description == "cache.internal:6380/2")
        #expect(try RedisEndpoint.parse("redis://:pw@10.0.0.5") == RedisEndpoint(host: "10.0.0.5", password: "pw"))
        #expect(try RedisEndpoint.parse("redis://localhost:6379/0") == RedisEndpoint(host: "localhost"))
        for bad in ["redis://", "redis://host/x", "redis://host:0/0", "redis://host/0?x=1", "redis://u@host/0"] {
            #expect(throws: RedisURLError.self, "\(bad)") { try RedisEndpoint.parse(bad) }
        }
        #expect(RedisEndpoint.masked("redis://:hunter2@h:1/0") == "redis://:***@h:1/0")
        #expect(RedisEndpoint.masked("redis://u:hunter2@h:1/0") == "redis://u:***@h:1/0")
        #expect(RedisEndpoint.masked("redis://h:1/0") == "redis://h:1/0")
        #expect(RedisEndpoint.masked("redis://:a/b?c#d@h:1/0") == "redis://:***@h:1/0")
        #expect(RedisEndpoint.masked("redis://secret@h:1/0") == "redis://***@h:1/0")
        // What a server answers passes through `redact`: the password in any encoding is hidden, before any cut.
        let endpoint = try RedisEndpoint.parse("redis://:s3cr%2Bt%2Fpw@h:1/0")
        #expect(endpoint.password == "s3cr+t/pw")
        let echoed = "ERR s3cr+t/pw s3cr%2Bt%2Fpw s3cr%2bt%2fpw \(Data("s3cr+t/pw".utf8).base64EncodedString())"
        #expect(endpoint.redact(echoed) == "ERR *** *** *** ***", "\(endpoint.redact(echoed))")
    }
}
