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
    /// Where the time waited for the budget is added up (the step's metrics), if anywhere.
    package let counter: RequestCounter?

    package init(
        base: any HTTPTransport, limiter: RateLimiter, clock: any WallClock, maxWait: Duration = .seconds(30),
        counter: RequestCounter? = nil
    ) {
        self.base = base
        self.limiter = limiter
        self.clock = clock
        self.maxWait = maxWait
        self.counter = counter
    }

    package func send(_ request: HTTPRequest) async throws -> HTTPResponse {
        let wait = try await limiter.acquire(now: clock.now(), maxWait: maxWait)
        if wait > .zero {
            counter?.recordRateLimitWait(wait)
            try await clock.sleep(for: wait)
        }
        let response = try await base.send(request)
        if response.status == 429 {
            // The ERP's real limit is lower than the budget: every process of the connection slows down.
            let retryAfter = RetryAfter.parse(response.header("Retry-After"), now: clock.now())
            _ = try? await limiter.penalize(now: clock.now(), retryAfter: retryAfter)
        }
        return response
    }
}
