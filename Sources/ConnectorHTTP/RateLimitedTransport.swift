import ConnectorCore
import Foundation

/// Keeps all processes of a connection under an API's request budget through a `RateLimiter` in the store.
/// A wait longer than `maxWait` is handed back as a temporary failure with `retryAt`.
package struct RateLimitedTransport: HTTPTransport {
    package let base: any HTTPTransport
    package let limiter: RateLimiter
    package let clock: any WallClock
    package let maxWait: Duration

    package init(base: any HTTPTransport, limiter: RateLimiter, clock: any WallClock, maxWait: Duration = .seconds(30))
    {
        self.base = base
        self.limiter = limiter
        self.clock = clock
        self.maxWait = maxWait
    }

    package func send(_ request: HTTPRequest) async throws -> HTTPResponse {
        let wait = try await limiter.acquire(now: clock.now(), maxWait: maxWait)
        if wait > .zero { try await clock.sleep(for: wait) }
        return try await base.send(request)
    }
}
