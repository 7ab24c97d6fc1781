import ConnectorCore
import Foundation
import Logging

/// When and how long to retry.
package struct RetryPolicy: Sendable {
    package var maxAttempts: Int
    package var baseDelay: Duration
    package var maxDelay: Duration
    /// The longest `Retry-After` waited for in-process; anything longer is handed back as `retry` with `retryAt`.
    package var retryAfterCap: Duration
    package var retryStatuses: Set<Int>

    package init(
        maxAttempts: Int = 4,
        baseDelay: Duration = .milliseconds(200),
        maxDelay: Duration = .seconds(8),
        retryAfterCap: Duration = .seconds(30),
        retryStatuses: Set<Int> = [408, 429, 500, 502, 503, 504]
    ) {
        self.maxAttempts = max(1, maxAttempts)
        self.baseDelay = baseDelay
        self.maxDelay = maxDelay
        self.retryAfterCap = retryAfterCap
        self.retryStatuses = retryStatuses
    }

    /// Exponential backoff with full jitter: a random delay in [0, min(maxDelay, base·2^(attempt-1))].
    package func backoff(attempt: Int, random: Double) -> Duration {
        let exponent = min(max(attempt - 1, 0), 20)
        let ceiling = min(maxDelay.timeInterval, baseDelay.timeInterval * pow(2, Double(exponent)))
        let seconds = ceiling * min(max(random, 0), 1)
        return .milliseconds(Int64(seconds * 1000))
    }

    /// Statuses where the server promises it did not act on the request, so even a create may be sent again.
    static let notProcessedStatuses: Set<Int> = [429, 503]
}

/// Parses `Retry-After`: delta-seconds or an HTTP-date.
package enum RetryAfter {
    package static func parse(_ value: String?, now: Date) -> Duration? {
        guard let value = value?.trimmingWhitespace(newlines: false), !value.isEmpty else { return nil }
        if let seconds = Int(value), seconds >= 0 { return .seconds(seconds) }
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "GMT")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss zzz"
        guard let date = formatter.date(from: value) else { return nil }
        return .milliseconds(Int64(max(0, date.timeIntervalSince(now)) * 1000))
    }
}

/// Retries 408/429/5xx and transport failures with exponential backoff and jitter, honouring `Retry-After` up to
/// the cap. Creates (non-idempotent requests) are only retried where the server cannot have acted: 429/503 or a
/// connection that was never opened; otherwise the ambiguity goes up to the caller, which resolves it by reading
/// the ERP (DESIGN §8).
package struct RetryingTransport: HTTPTransport {
    package let base: any HTTPTransport
    package let policy: RetryPolicy
    package let clock: any WallClock
    package let random: @Sendable () -> Double
    package let logger: Logger

    package init(
        base: any HTTPTransport,
        policy: RetryPolicy = RetryPolicy(),
        clock: any WallClock = SystemWallClock(),
        random: @escaping @Sendable () -> Double = { Double.random(in: 0...1) },
        logger: Logger = Logger(label: "mlc.http")
    ) {
        self.base = base
        self.policy = policy
        self.clock = clock
        self.random = random
        self.logger = logger
    }

    package func send(_ request: HTTPRequest) async throws -> HTTPResponse {
        var attempt = 0
        while true {
            attempt += 1
            try Task.checkCancellation()
            let response: HTTPResponse
            do {
                response = try await base.send(request)
            } catch let error as TransportError {
                let retryable = request.idempotent || !error.requestMayHaveReachedServer
                guard retryable else {
                    throw ConnectorError(
                        .ambiguousWrite,
                        "\(request.method) to \(Self.hostAndPath(request.url)) failed after it may have reached the server (\(error.phase.rawValue))"
                    )
                }
                guard attempt < policy.maxAttempts else {
                    throw ConnectorError(
                        .upstreamUnavailable,
                        "\(Self.hostAndPath(request.url)) unreachable after \(attempt) attempts: \(error.detail)"
                    )
                }
                let delay = policy.backoff(attempt: attempt, random: random())
                logger.debug(
                    "retrying after transport failure",
                    metadata: ["attempt": "\(attempt)", "delayMs": "\(Int(delay.timeInterval * 1000))"])
                try await clock.sleep(for: delay)
                continue
            }

            guard policy.retryStatuses.contains(response.status) else { return response }
            guard request.idempotent || RetryPolicy.notProcessedStatuses.contains(response.status) else {
                return response
            }
            let retryAfter = RetryAfter.parse(response.header("Retry-After"), now: clock.now())
            if let retryAfter, retryAfter > policy.retryAfterCap {
                throw ConnectorError(
                    response.status == 429 ? .httpRateLimited : .upstreamUnavailable,
                    kind: .temporary,
                    "\(Self.hostAndPath(request.url)) asked to wait \(Int(retryAfter.timeInterval)) s (HTTP \(response.status))",
                    retryAt: clock.now().addingTimeInterval(retryAfter.timeInterval),
                    httpStatus: response.status
                )
            }
            guard attempt < policy.maxAttempts else { return response }
            let delay = retryAfter ?? policy.backoff(attempt: attempt, random: random())
            logger.debug(
                "retrying after HTTP status",
                metadata: [
                    "status": "\(response.status)", "attempt": "\(attempt)",
                    "delayMs": "\(Int(delay.timeInterval * 1000))",
                ]
            )
            try await clock.sleep(for: delay)
        }
    }

    static func hostAndPath(_ url: String) -> String {
        guard let components = URLComponents(string: url) else { return "the server" }
        return (components.host ?? "") + components.path
    }
}
