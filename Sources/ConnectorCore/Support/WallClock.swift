import Foundation

/// Time as the connector sees it: injected so that expiry, backoff and leases are testable without sleeping.
package protocol WallClock: Sendable {
    func now() -> Date
    func sleep(for duration: Duration) async throws
}

package struct SystemWallClock: WallClock {
    package init() {}
    package func now() -> Date { Date() }
    package func sleep(for duration: Duration) async throws {
        try await Task.sleep(for: duration)
    }
}
