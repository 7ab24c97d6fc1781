import ConnectorCore
import Foundation

/// Keeps all processes of a connection under an API's request budget through a `RateLimiter` in the store, and
/// teaches the budget the ERP's real limit: every 429 slows all processes down (see `RateLimiter`). A wait longer
/// than `maxWait` is handed back as a temporary failure with `retryAt`.
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
        let response = try await base.send(request)
        if response.status == 429 {
            // The ERP's real limit is lower than the budget: every process of the connection slows down.
            let retryAfter = RetryAfter.parse(response.header("Retry-After"), now: clock.now())
            _ = try? await limiter.penalize(now: clock.now(), retryAfter: retryAfter)
        }
        return response
    }
}
