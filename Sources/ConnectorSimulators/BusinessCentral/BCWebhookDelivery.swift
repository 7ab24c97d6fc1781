import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import Synchronization

// The HTTP side of webhooks: the handshake and the delivery of notifications, with retries.

extension BCWebhooks {
    /// Runs notification delivery until the task is cancelled (see ``RunningServer``), calling `ready` once its
    /// client is in place:
    /// one child task per open window, which waits out the delay, then posts the batch with its retries.
    /// Pending changes are dropped when it ends. Shuts its HTTP client down before returning.
    func run(ready: @escaping @Sendable () -> Void = {}) async {
        let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: Self.clientConfiguration)
        let (windows, continuation) = AsyncStream<Window>.makeStream()
        state.withLock { state in
            state.client = client
            state.windows = continuation
            for entry in state.entries where entry.windowOpen {
                continuation.yield(
                    Window(subscriptionId: entry.subscription.id, delay: state.settings.notificationDelay))
            }
        }
        // Handshakes use this client from now on, so none has to wait for a client of its own to shut down.
        ready()
        await withDiscardingTaskGroup { group in
            // Ends when the task is cancelled.
            for await window in windows {
                group.addTask { await self.deliver(window, client: client) }
            }
            group.cancelAll()
        }
        state.withLock { state in
            state.client = nil
            state.windows = nil
            for index in state.entries.indices {
                state.entries[index].pending.removeAll()
                state.entries[index].windowOpen = false
            }
        }
        continuation.finish()
        try? await client.shutdown()
    }

    static var clientConfiguration: HTTPClient.Configuration {
        var configuration = HTTPClient.Configuration()
        configuration.redirectConfiguration = .disallow
        configuration.timeout = .init(connect: .seconds(5))
        return configuration
    }

    /// Runs `body` with the delivery service's client, or with a client of its own when the service is not
    /// running (e.g. a handshake while the server shuts down).
    private func withClient<T: Sendable>(_ body: (HTTPClient) async throws -> T) async throws -> T {
        if let client = state.withLock({ $0.client }) { return try await body(client) }
        let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: Self.clientConfiguration)
        do {
            let result = try await body(client)
            try? await client.shutdown()
            return result
        } catch {
            try? await client.shutdown()
            throw error
        }
    }

    // MARK: Handshake

    /// Calls `{notificationUrl}?validationToken=<random>` and requires 200 with the token as the body (whitespace
    /// trimmed) within the handshake timeout. Counted as `bc handshake <status>` / `bc handshake transport-error`.
    /// - Throws: a 400 ``BCError`` when the subscriber does not confirm.
    func handshake(notificationUrl: String) async throws(BCError) {
        let token = UUID().uuidString.lowercased() + UUID().uuidString.lowercased().prefix(8)
        let separator = notificationUrl.contains("?") ? "&" : "?"
        var request = HTTPClientRequest(url: notificationUrl + separator + "validationToken=" + token)
        request.method = HTTPMethod(rawValue: BCWebhookSettings.handshakeMethod)
        // An empty body, sent as `Content-Length: 0`.
        request.body = .bytes(ByteBuffer())
        let prepared = request
        let timeout = settings.handshakeTimeout
        let failure: String?
        do {
            let (status, text) = try await withClient { client in
                let response = try await client.execute(prepared, timeout: Self.timeAmount(timeout))
                let body = try await response.body.collect(upTo: 1 << 20)
                return (Int(response.status.code), String(buffer: body))
            }
            counters.increment("bc handshake \(status)")
            if status != 200 {
                failure = "the endpoint answered HTTP \(status) instead of 200"
            } else if text.trimmingCharacters(in: .whitespacesAndNewlines) != token {
                failure = "the endpoint did not return the validation token"
            } else {
                failure = nil
            }
        } catch {
            counters.increment("bc handshake transport-error")
            failure = "no answer within \(timeout) seconds (\(error))"
        }
        if let failure {
            // UNCONFIRMED: the code and wording BC uses when the handshake fails; BC answers 400.
            throw BCError(
                400, "Application_DialogException",
                "The subscription could not be validated: \(failure). Notification URL: \(notificationUrl)")
        }
    }

    // MARK: Delivery

    private enum Outcome {
        case status(Int)
        case transportError

        var label: String {
            switch self {
            case .status(let code): return String(code)
            case .transportError: return "transport-error"
            }
        }
    }

    /// Waits for the window to close, then posts its batch; retries on 408, 429, 5xx and transport errors
    /// following ``BCWebhookSettings/retryDelays``; any other non-2xx answer deletes the subscription.
    private func deliver(_ window: Window, client: HTTPClient) async {
        do {
            try await Task.sleep(for: .seconds(window.delay))
        } catch {
            return
        }
        guard let batch = closeWindow(window.subscriptionId) else { return }
        let settings = self.settings
        let payload = batch.body.serialized()
        var retry = 0
        while !Task.isCancelled {
            // Deleted meanwhile (API DELETE or an earlier batch's answer): nothing more to send.
            guard subscription(id: window.subscriptionId) != nil else { return }
            var request = HTTPClientRequest(url: batch.url)
            request.method = .POST
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(bytes: payload))
            let outcome: Outcome
            do {
                let response = try await client.execute(request, timeout: Self.timeAmount(settings.deliveryTimeout))
                _ = try? await response.body.collect(upTo: 1 << 20)
                outcome = .status(Int(response.status.code))
            } catch {
                if Task.isCancelled { return }
                outcome = .transportError
            }
            counters.increment("bc notify \(outcome.label)")
            let retryable: Bool
            switch outcome {
            case .status(200..<300):
                note(window.subscriptionId, outcome: outcome) { stats in
                    stats.delivered += 1
                    stats.notifications += batch.count
                }
                return
            case .status(408), .status(429), .status(500..<600), .transportError:
                retryable = true
            case .status:
                retryable = false
            }
            guard retryable else {
                note(window.subscriptionId, outcome: outcome) { _ in }
                remove(id: window.subscriptionId, reason: "the notification was answered HTTP \(outcome.label)")
                return
            }
            guard retry < settings.retryDelays.count else {
                // UNCONFIRMED: whether BC keeps the subscription after its ~36 hours of retries; it is kept.
                note(window.subscriptionId, outcome: outcome) { $0.abandoned += 1 }
                return
            }
            note(window.subscriptionId, outcome: outcome) { _ in }
            do {
                try await Task.sleep(for: .seconds(settings.retryDelays[retry]))
            } catch {
                return
            }
            retry += 1
        }
    }

    private func note(_ id: String, outcome: Outcome, _ update: (inout BCDeliveryStats) -> Void) {
        let now = clock.now()
        state.withLock { state in
            guard let index = state.entries.firstIndex(where: { $0.subscription.id == id }) else { return }
            state.entries[index].stats.attempts += 1
            state.entries[index].stats.lastOutcome = outcome.label
            state.entries[index].stats.lastAttempt = now
            update(&state.entries[index].stats)
        }
    }

    private static func timeAmount(_ seconds: TimeInterval) -> TimeAmount {
        .milliseconds(Int64(max(seconds, 0.001) * 1000))
    }
}
