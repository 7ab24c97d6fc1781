import ConnectorCore
import ConnectorStatePostgres
import ConnectorTesting
import Foundation
import Testing

/// The rate limiter run natively on a real PostgreSQL server: one statement per acquire or penalty.
@Suite("PostgreSQL rate limiter")
struct PostgresRateLimiterTests {
    @Test("the native limiter: the generic one's exact pacing, one budget for two clients, the pace kept")
    func conformance() async throws {
        let server = try PostgresServerProcess()
        defer { server.stop() }
        let endpoint = PostgresStateStoreTests.endpoint(server)
        try await RateLimiterConformance.run { name in try PostgresStateStore(endpoint: endpoint, table: name) }
    }

    @Test("an acquire is one statement natively, two or more with compare-and-swap; odd states go generic")
    func roundTrips() async throws {
        let server = try PostgresServerProcess()
        defer { server.stop() }
        let endpoint = PostgresStateStoreTests.endpoint(server)
        let now = Date(timeIntervalSince1970: 1_800_000_000)
        func measure(native: Bool, clients: Int, acquires: Int) async throws -> Double {
            let table = PostgresStateStoreTests.table()
            let stores = try (0..<clients).map { _ in try PostgresStateStore(endpoint: endpoint, table: table) }
            let before = stores.map(\.roundTrips).reduce(0, +)
            try await withThrowingTaskGroup(of: Void.self) { group in
                for store in stores {
                    group.addTask {
                        let limiter = RateLimiter(
                            store: store, key: "limit/erp", limit: 100, window: .seconds(1), native: native)
                        for _ in 0..<acquires { _ = try await limiter.acquire(now: now) }
                    }
                }
                try await group.waitForAll()
            }
            let sent = stores.map(\.roundTrips).reduce(0, +) - before
            for store in stores { try await store.close() }
            return Double(sent) / Double(clients * acquires)
        }
        let nativeAlone = try await measure(native: true, clients: 1, acquires: 100)
        let nativeShared = try await measure(native: true, clients: 4, acquires: 100)
        let genericAlone = try await measure(native: false, clients: 1, acquires: 100)
        let genericShared = try await measure(native: false, clients: 4, acquires: 100)
        print(
            "PostgreSQL statements per acquire: native \(nativeAlone) alone, \(nativeShared) with 4 clients; generic \(genericAlone) alone, \(genericShared) with 4 clients"
        )
        #expect(nativeAlone == 1)
        // Only the first writers of the absent row can race (one of them then goes generic, once).
        #expect(nativeShared < 1.05)
        #expect(genericAlone == 2, "a read and a compare-and-swap")
        #expect(genericShared >= 2)

        // A state written by something else (here: JSON with spaces) is read by the generic limiter, as before.
        let store = try PostgresStateStore(endpoint: endpoint, table: PostgresStateStoreTests.table())
        let reference = InMemoryStateStore(now: { now })
        let odd = Data(#"{ "t": 1800000001.5, "r": 40, "c": 1800000000 }"#.utf8)
        try await store.put("limit/erp", odd, ttl: nil)
        _ = try await reference.put("limit/erp", odd, ttl: nil)
        for store in [store, reference] as [any StateStore] {
            let limiter = RateLimiter(store: store, key: "limit/erp", limit: 100, window: .seconds(1))
            #expect(try await limiter.acquire(now: now) == .milliseconds(1500))
        }
        let before = store.roundTrips
        let limiter = RateLimiter(store: store, key: "limit/erp", limit: 100, window: .seconds(1))
        #expect(
            try await limiter.acquire(now: now)
                == (try await RateLimiter(store: reference, key: "limit/erp", limit: 100, window: .seconds(1)).acquire(
                    now: now)))
        #expect(store.roundTrips - before == 1, "rewritten in the native form, the next acquire is native again")
        try await store.close()
    }
}
