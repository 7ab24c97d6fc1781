import ConnectorCore
import ConnectorStateSQLite
import ConnectorTesting
import Foundation
import Testing

/// The rate limiter run natively on SQLite: one write transaction per acquire or penalty, instead of a read and a
/// compare-and-swap retried whenever another process wrote in between.
@Suite("SQLite rate limiter")
struct SQLiteRateLimiterTests {
    @Test("the native limiter: the generic one's exact pacing, one budget for two connections, the pace kept")
    func conformance() async throws {
        let directory = try TemporaryDirectory()
        try await RateLimiterConformance.run { name in try SQLiteStateStore(path: directory.path + "/\(name).sqlite") }
    }

    /// Store operations per acquire, native against the generic read and compare-and-swap, alone and with four
    /// connections racing for one budget.
    @Test("an acquire is one transaction natively, two or more round trips with compare-and-swap")
    func roundTrips() async throws {
        let directory = try TemporaryDirectory()
        func measure(native: Bool, clients: Int) async throws -> Double {
            let path = directory.path + "/rt-\(UUID().uuidString).sqlite"
            return try await RateLimiterConformance.roundTripsPerAcquire(
                clients: clients, acquires: 100, native: native,
                open: { CountingStateStore(try SQLiteStateStore(path: path)) }, roundTrips: \.total)
        }
        let nativeAlone = try await measure(native: true, clients: 1)
        let nativeShared = try await measure(native: true, clients: 4)
        let genericAlone = try await measure(native: false, clients: 1)
        let genericShared = try await measure(native: false, clients: 4)
        #expect(nativeAlone == 1)
        #expect(nativeShared == 1, "no retries, whatever the contention")
        #expect(genericAlone == 2, "a read and a compare-and-swap")
        #expect(genericShared >= 2)
    }
}
