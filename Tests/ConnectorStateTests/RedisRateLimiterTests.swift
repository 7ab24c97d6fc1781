import ConnectorCore
import ConnectorStateRedis
import ConnectorTesting
import Foundation
import Testing

/// The rate limiter run natively on a real `redis-server`: one Lua script per acquire or penalty.
@Suite("Redis rate limiter")
struct RedisRateLimiterTests {
    @Test("the native limiter: the generic one's exact pacing, one budget for two clients, the pace kept")
    func conformance() async throws {
        let server = try RedisServerProcess()
        defer { server.stop() }
        let endpoint = RedisEndpoint(host: "127.0.0.1", port: server.port)
        try await RateLimiterConformance.run { name in try await RedisStateStore(endpoint: endpoint, namespace: name) }
    }

    /// Round trips (commands sent) per acquire, native against the generic read and compare-and-swap, alone and
    /// with two clients racing for one budget.
    @Test("an acquire is one round trip natively, two or more with compare-and-swap")
    func roundTrips() async throws {
        let server = try RedisServerProcess()
        defer { server.stop() }
        let endpoint = RedisEndpoint(host: "127.0.0.1", port: server.port)
        // Warm up: each script is loaded once per connection (the first write and the next ones differ).
        func measure(native: Bool, clients: Int, acquires: Int) async throws -> Double {
            let namespace = "rt-\(UUID().uuidString)"
            return try await RateLimiterConformance.roundTripsPerAcquire(
                clients: clients, acquires: acquires, native: native, warmUp: true,
                open: { try await RedisStateStore(endpoint: endpoint, namespace: namespace) }, roundTrips: \.roundTrips)
        }
        let nativeAlone = try await measure(native: true, clients: 1, acquires: 200)
        let nativeShared = try await measure(native: true, clients: 4, acquires: 200)
        let genericAlone = try await measure(native: false, clients: 1, acquires: 200)
        let genericShared = try await measure(native: false, clients: 4, acquires: 200)
        print(
            "round trips per acquire: native \(nativeAlone) alone, \(nativeShared) with 4 clients; generic \(genericAlone) alone, \(genericShared) with 4 clients"
        )
        #expect(nativeAlone == 1)
        #expect(nativeShared == 1, "no retries, whatever the contention")
        #expect(genericAlone == 2, "a read and a compare-and-swap")
        #expect(genericShared >= 2)
    }
}
