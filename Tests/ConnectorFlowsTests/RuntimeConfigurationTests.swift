import BusinessCentral
import ConnectorCore
import ConnectorFlows
import ConnectorRuntime
import ConnectorSecurity
import ConnectorStatePostgres
import ConnectorStateRedis
import ConnectorTesting
import Foundation
import Testing

@Suite("Store URLs and configuration failures of a step")
struct RuntimeConfigurationTests {
    @Test(
        "MLC_STATE forms other than sqlite:///abs, sqlite:relative and a plain path are refused with the accepted forms",
        arguments: [
            "sqlite3:///tmp/x.sqlite", "file:///tmp/x.sqlite", "postgres://db/mlc", "redis://localhost:6379/0",
            " sqlite:x.sqlite", "sqlite:x.sqlite ", "sqlite://host/var/x.sqlite", "sqlite:", "sqlite://",
            "sqlite:///", "state/", "x.sqlite\n",
        ])
    func refusedStateURLs(url: String) {
        let error = #expect(throws: ConnectorError.self) { try StateStores.sqlitePath(url) }
        #expect(error?.exitCode == .config)
        #expect(error?.message.contains("sqlite:///absolute/path/state.sqlite") == true, "\(error?.message ?? "")")
    }

    @Test("accepted MLC_STATE forms")
    func acceptedStateURLs() throws {
        #expect(try StateStores.sqlitePath("sqlite:///var/lib/mlc/state.sqlite") == "/var/lib/mlc/state.sqlite")
        #expect(try StateStores.sqlitePath("sqlite:/var/lib/mlc/state.sqlite") == "/var/lib/mlc/state.sqlite")
        #expect(try StateStores.sqlitePath("sqlite:.mlc/state.sqlite") == ".mlc/state.sqlite")
        #expect(try StateStores.sqlitePath("/var/lib/mlc/state.sqlite") == "/var/lib/mlc/state.sqlite")
        #expect(try StateStores.sqlitePath("state.sqlite") == "state.sqlite")
    }

    @Test(
        "redis:// opens the Redis store; rediss: and malformed Redis URLs are refused without the password")
    func redisStateURLs() async throws {
        #expect(
            try StateStores.location("redis://:pw@cache:6380/2")
                == .redis(RedisEndpoint(host: "cache", port: 6380, database: 2, password: "pw")))
        // Generated passwords hold `/`, `?` and `#` unescaped: such a URL cannot be parsed, and the message refusing
        // it must not print the password (nor any piece of it) either.
        for url in [
            "rediss://:hunter2@cache:6380/0", "redis://:hunter2@cache:6380/db", "redis://:hunter2@",
            "redis://:hun/ter2@cache:6380/0", "redis://:hun?ter2@cache/0", "redis://:hun#ter2@cache/0",
            "redis://user:hun/t?er#2@cache/0",
        ] {
            let error = #expect(throws: ConnectorError.self, "\(url)") { try StateStores.location(url) }
            #expect(error?.exitCode == .config)
            #expect(error?.message.contains("hunter2") == false, "\(error?.message ?? "")")
            #expect(error?.message.contains("hun") == false, "\(error?.message ?? "")")
            #expect(error?.message.contains("redis://[:password@]host:port/db") == true)
        }
        let server = try RedisServerProcess()
        defer { server.stop() }
        let store = try await StateStores.open(server.url(database: 1), mode: .readWrite)
        let version = try await store.put("k", Data("v".utf8), ttl: nil)
        let reopened = try await StateStores.open(server.url(database: 1), mode: .readOnly)
        #expect(try await reopened.get("k")?.version == version)
        // A long-lived process asks for a pool: one store over up to that many connections.
        let pooled = try await StateStores.open(server.url(database: 1), mode: .readWrite, connections: 3)
        #expect(pooled is PooledStateStore)
        #expect(try await pooled.get("k")?.version == version)
        try await pooled.close()
        try await store.close()
        try await reopened.close()
        server.stop()
        let refused = await #expect(throws: ConnectorError.self) { try await StateStores.open(server.url()) }
        #expect(refused?.message.contains("Redis store at 127.0.0.1:\(server.port)/0") == true)
    }

    @Test(
        "postgres:// and postgresql:// open the PostgreSQL store; malformed ones are refused without the password")
    func postgresStateURLs() async throws {
        #expect(
            try StateStores.location("postgresql://mlc:pw@db:6543/state")
                == .postgres(PostgresEndpoint(host: "db", port: 6543, database: "state", user: "mlc", password: "pw")))
        for url in [
            "postgres://u:hunter2@db", "postgres://:hunter2@db/mlc", "postgres://u:hunter2@db/mlc?sslmode=allow",
            "postgres://u:hunter2@db/mlc?password=x", "postgresql://u:hunter2@db:99999/mlc",
            "postgres://u:hun/ter2@db/mlc", "postgres://u:hun?ter2@db/mlc", "postgres://u:hun#t/er2@db/mlc",
        ] {
            let error = #expect(throws: ConnectorError.self, "\(url)") { try StateStores.location(url) }
            #expect(error?.exitCode == .config)
            #expect(error?.message.contains("hunter2") == false, "\(error?.message ?? "")")
            #expect(error?.message.contains("hun") == false, "\(error?.message ?? "")")
            #expect(error?.message.contains("postgres://user:password@host:port/database") == true)
            #expect(throws: ConnectorError.self) { try StateStores.sqlitePath(url) }
        }
        let server = try PostgresServerProcess()
        defer { server.stop() }
        try server.createDatabase("runtime")
        // A step (.readWrite) refuses a database where no store was created; .create (connections add) makes it.
        let missing = await #expect(throws: ConnectorError.self) {
            try await StateStores.open(server.url(database: "runtime"), mode: .readWrite)
        }
        #expect(missing?.exitCode == .config)
        #expect(missing?.message.contains("connections add") == true, "\(missing?.message ?? "")")
        let store = try await StateStores.open(server.url(database: "runtime"), mode: .create)
        let version = try await store.put("k", Data("v".utf8), ttl: nil)
        let reopened = try await StateStores.open(server.url(database: "runtime"), mode: .readOnly)
        #expect(try await reopened.get("k")?.version == version)
        await #expect(throws: ConnectorError.self) { try await reopened.put("k", Data(), ttl: nil) }
        let pooled = try await StateStores.open(server.url(database: "runtime"), mode: .readWrite, connections: 3)
        #expect(pooled is PooledStateStore)
        #expect(try await pooled.get("k")?.version == version)
        try await pooled.close()
        try await store.close()
        try await reopened.close()
        let wrong = server.url(database: "runtime").replacingOccurrences(of: server.password, with: "not-it")
        let refused = await #expect(throws: ConnectorError.self) { try await StateStores.open(wrong) }
        #expect(refused?.exitCode == .config)
        #expect(refused?.message.contains("PostgreSQL store at mlc@127.0.0.1:\(server.port)/runtime") == true)
        #expect(refused?.message.contains("not-it") == false)
        server.stop()
        let down = await #expect(throws: ConnectorError.self) {
            try await StateStores.open(server.url(database: "runtime"))
        }
        #expect(down?.exitCode == .tempFail)
        #expect(down?.message.contains(server.password) == false, "\(down?.message ?? "")")
    }

    @Test("only .create makes a store; .readWrite and .readOnly refuse a missing one and create nothing")
    func openModes() async throws {
        let directory = try TemporaryDirectory()
        let path = directory.path + "/sub/state.sqlite"
        for mode in [StateStores.Mode.readWrite, .readOnly] {
            let error = await #expect(throws: ConnectorError.self) {
                try await StateStores.open("sqlite://" + path, mode: mode)
            }
            #expect(error?.exitCode == .config)
            #expect(error?.message.contains("connections add") == true)
            #expect(!FileManager.default.fileExists(atPath: directory.path + "/sub"))
        }
        let created = try await StateStores.open("sqlite://" + path, mode: .create)
        try await created.put("k", Data("v".utf8), ttl: nil)
        try await created.close()

        let reader = try await StateStores.open("sqlite://" + path, mode: .readOnly)
        #expect(try await reader.get("k")?.data == Data("v".utf8))
        await #expect(throws: (any Error).self) { try await reader.put("k2", Data("v".utf8), ttl: nil) }
        try await reader.close()
        // SQLite is one connection whatever a long-lived process asks for (one file, one writer lock).
        let single = try await StateStores.open("sqlite://" + path, mode: .readWrite, connections: 8)
        #expect(!(single is PooledStateStore))
        try await single.close()
        let writer = try await StateStores.open("sqlite://" + path, mode: .readWrite)
        try await writer.put("k2", Data("w".utf8), ttl: nil)
        try await writer.close()
    }

    @Test("a step given a missing store exits 78 and creates no file")
    func stepNeverCreatesStore() async throws {
        let directory = try TemporaryDirectory()
        let path = directory.path + "/state.sqlite"
        let event = CloudEvent(
            id: "1", source: "urn:test", type: EventType.masterDataSyncRequested,
            data: try JSONValue(encoding: MasterDataSyncRequest()), connection: "acme")
        let error = await #expect(throws: ConnectorError.self) {
            _ = try await FunctionMain.invoke(
                SyncVendorsHandler.self, event: event,
                environment: ["MLC_STATE": "sqlite:" + path, "MLC_MASTER_KEY": MasterKey.generate()]
            ) { runtime in SyncVendorsHandler(context: runtime.context, erp: try runtime.erpConnector()) }
        }
        #expect(error?.exitCode == .config)
        #expect(!FileManager.default.fileExists(atPath: path))
    }

    @Test("an invalid connection id is a configuration error (78), not bad input")
    func invalidConnectionId() {
        let error = #expect(throws: ConnectorError.self) { try StateKeys.validateConnectionId("bad id!") }
        #expect(error?.exitCode == .config)
    }

    /// A token request that Entra refuses is still an HTTP request the step made: its result counts it.
    @Test("a refused token request is counted in the failed step's metrics")
    func tokenFailureCounted() async throws {
        let rig = try await FlowRig.start(invoices: 1)
        let directory = try TemporaryDirectory()
        do {
            let key = MasterKey.generate()
            let vault = Vault(masterKey: try MasterKey(base64: key))
            var connection = rig.connection
            var bc = try connection.erp.typed(BusinessCentralSettings.self)
            bc.clientSecret = .plain(Secret("sim~not-the-right-secret"))
            connection.erp = ERPSettings(bc)
            let state = "sqlite:" + directory.path + "/state.sqlite"
            let store = try await StateStores.open(state, mode: .create)
            try await ConnectionStore(store: store, vault: vault).save(connection)
            try await store.close()
            let event = CloudEvent(
                id: "1", source: "urn:test", type: EventType.masterDataSyncRequested,
                data: try JSONValue(encoding: MasterDataSyncRequest()), connection: connection.id)
            let outcome = try await FunctionMain.invoke(
                SyncVendorsHandler.self, event: event, environment: ["MLC_STATE": state, "MLC_MASTER_KEY": key]
            ) { runtime in SyncVendorsHandler(context: runtime.context, erp: try runtime.erpConnector()) }
            #expect(outcome.result.status == .failed)
            #expect(outcome.error?.exitCode == .config, "\(String(describing: outcome.error))")
            #expect(outcome.result.metrics.httpRequests >= 1, "the refused token request is not counted")
            await rig.stop()
        } catch {
            await rig.stop()
            throw error
        }
    }
}
