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
        try await RateLimiterConformance.run { name in try await PostgresStateStore(endpoint: endpoint, table: name) }
    }

    @Test("an acquire is one statement natively, two or more with compare-and-swap; odd states go generic")
    func roundTrips() async throws {
        let server = try PostgresServerProcess()
        defer { server.stop() }
        let endpoint = PostgresStateStoreTests.endpoint(server)
        let now = Date(timeIntervalSince1970: 1_800_000_000)
        func measure(native: Bool, clients: Int, acquires: Int) async throws -> Double {
            let table = PostgresStateStoreTests.table()
            return try await RateLimiterConformance.roundTripsPerAcquire(
                clients: clients, acquires: acquires, native: native,
                open: { try await PostgresStateStore(endpoint: endpoint, table: table) }, roundTrips: \.roundTrips)
        }
        let nativeAlone = try await measure(native: true, clients: 1, acquires: 100)
        let nativeShared = try await measure(native: true, clients: 4, acquires: 100)
        let genericAlone = try await measure(native: false, clients: 1, acquires: 100)
        let genericShared = try await measure(native: false, clients: 4, acquires: 100)
        print(
            "PostgreSQL statements per acquire: native \(nativeAlone) alone, \(nativeShared) with 4 clients; generic \(genericAlone) alone, \(genericShared) with 4 clients"
        )
        #expect(nativeAlone == 1)
        // Only the first writers of the absent row race: each of the (at most 3) losers runs the statement once more,
        // now against the winner's row, instead of going generic.
        #expect(nativeShared <= 403.0 / 400, "400 acquires, at most 3 of them run twice")
        #expect(genericAlone == 2, "a read and a compare-and-swap")
        #expect(genericShared >= 2)

        // A state written by something else (here: JSON with spaces) goes through the generic limiter once, which
        // rewrites it in the form the statement reads.
        let store = try await PostgresStateStore(endpoint: endpoint, table: PostgresStateStoreTests.table())
        try await store.put("limit/erp", Data(#"{ "t": 1800000001.5, "r": 40, "c": 1800000000 }"#.utf8), ttl: nil)
        let limiter = RateLimiter(store: store, key: "limit/erp", limit: 100, window: .seconds(1))
        var before = store.roundTrips
        #expect(try await limiter.acquire(now: now) == .milliseconds(1500))
        #expect(store.roundTrips - before == 3, "the statement, then a read and a compare-and-swap")
        before = store.roundTrips
        let next = try await limiter.acquire(now: now)
        #expect(abs(next.timeInterval - 1.525) <= 0.0015, "one slot at 40/s later: \(next)")
        #expect(store.roundTrips - before == 1, "native again")
        try await store.close()
    }
}
