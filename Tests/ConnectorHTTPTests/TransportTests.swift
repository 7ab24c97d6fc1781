import ConnectorCore
import ConnectorHTTP
import ConnectorTesting
import Foundation
import Synchronization
import Testing

/// Replies from a script and records every request.
final class ScriptedTransport: HTTPTransport {
    private let script: Mutex<[Result<HTTPResponse, TransportError>]>
    private let seen = Mutex<[HTTPRequest]>([])

    init(_ script: [Result<HTTPResponse, TransportError>]) {
        self.script = Mutex(script)
    }

    func send(_ request: HTTPRequest) async throws -> HTTPResponse {
        seen.withLock { $0.append(request) }
        let next = script.withLock { $0.isEmpty ? nil : $0.removeFirst() }
        guard let next else { return HTTPResponse(status: 599) }
        return try next.get()
    }

    var requests: [HTTPRequest] { seen.withLock { $0 } }
}

@Suite("Retry, backoff, Retry-After and bearer auth")
struct TransportTests {
    let get = HTTPRequest(method: "GET", url: "https://api.example.test/x")
    let post = HTTPRequest(method: "POST", url: "https://api.example.test/x", body: Data("{}".utf8))

    @Test("5xx and 429 on a GET are retried with backoff until success")
    func retriesGet() async throws {
        let clock = ManualClock()
        let base = ScriptedTransport([
            .success(.init(status: 503)), .success(.init(status: 429)), .success(.init(status: 200)),
        ])
        let transport = RetryingTransport(base: base, policy: RetryPolicy(maxAttempts: 4), clock: clock, random: { 1 })
        let response = try await transport.send(get)
        #expect(response.status == 200)
        #expect(base.requests.count == 3)
        #expect(clock.sleeps == [.milliseconds(200), .milliseconds(400)], "exponential backoff")
    }

    @Test("jitter spreads the delay within [0, ceiling]")
    func jitter() {
        let policy = RetryPolicy(baseDelay: .seconds(1), maxDelay: .seconds(5))
        #expect(policy.backoff(attempt: 1, random: 0) == .zero)
        #expect(policy.backoff(attempt: 3, random: 0.5) == .seconds(2))
        #expect(policy.backoff(attempt: 10, random: 1) == .seconds(5), "capped at maxDelay")
    }

    @Test("Retry-After is honoured below the cap and handed back above it")
    func retryAfter() async throws {
        let clock = ManualClock()
        let short = ScriptedTransport([
            .success(.init(status: 429, headers: [("Retry-After", "7")])), .success(.init(status: 200)),
        ])
        _ = try await RetryingTransport(base: short, policy: RetryPolicy(retryAfterCap: .seconds(30)), clock: clock)
            .send(get)
        #expect(clock.sleeps == [.seconds(7)])

        let long = ScriptedTransport([.success(.init(status: 429, headers: [("Retry-After", "120")]))])
        do {
            _ = try await RetryingTransport(base: long, policy: RetryPolicy(retryAfterCap: .seconds(30)), clock: clock)
                .send(get)
            Issue.record("a long Retry-After must not be slept")
        } catch let error as ConnectorError {
            #expect(error.kind == .temporary)
            let retryAt = try #require(error.retryAt)
            #expect(abs(retryAt.timeIntervalSince(clock.now()) - 120) < 1)
            #expect(StepResult.failure(error).status == .retry)
        }
        #expect(RetryAfter.parse("Wed, 21 Oct 2099 07:28:00 GMT", now: Date()) != nil)
        #expect(RetryAfter.parse("soon", now: Date()) == nil)
    }

    @Test("a create is not resent after it may have reached the server")
    func postNotRetriedWhenAmbiguous() async throws {
        let clock = ManualClock()
        let dropped = ScriptedTransport([
            .failure(TransportError(phase: .exchange, detail: "connection reset")), .success(.init(status: 201)),
        ])
        do {
            _ = try await RetryingTransport(base: dropped, clock: clock).send(post)
            Issue.record("must not resend")
        } catch let error as ConnectorError {
            #expect(error.code == .ambiguousWrite)
        }
        #expect(dropped.requests.count == 1)

        let gateway = ScriptedTransport([.success(.init(status: 502)), .success(.init(status: 201))])
        #expect(try await RetryingTransport(base: gateway, clock: clock).send(post).status == 502)
        #expect(gateway.requests.count == 1)

        // Never connected, or 429/503: the server did nothing, so the create may go again.
        let refused = ScriptedTransport([
            .failure(TransportError(phase: .connect, detail: "refused")), .success(.init(status: 503)),
            .success(.init(status: 201)),
        ])
        #expect(try await RetryingTransport(base: refused, clock: clock).send(post).status == 201)
        #expect(refused.requests.count == 3)
    }

    @Test("attempts are bounded")
    func bounded() async throws {
        let base = ScriptedTransport(
            Array(repeating: .failure(TransportError(phase: .timeout, detail: "t")), count: 10))
        do {
            _ = try await RetryingTransport(base: base, policy: RetryPolicy(maxAttempts: 3), clock: ManualClock()).send(
                get)
            Issue.record("must give up")
        } catch let error as ConnectorError {
            #expect(error.code == .upstreamUnavailable)
        }
        #expect(base.requests.count == 3)
    }

    @Test("a 401 refreshes the token once and retries once, never loops")
    func bearer() async throws {
        let tokens = CountingTokens()
        let base = ScriptedTransport([.success(.init(status: 401)), .success(.init(status: 401))])
        let response = try await BearerAuthTransport(base: base, tokens: tokens).send(post)
        #expect(response.status == 401)
        #expect(base.requests.count == 2)
        #expect(base.requests.map { $0.header("Authorization") } == ["Bearer t1", "Bearer t2"])
        #expect(tokens.invalidated == ["t1"])
    }

    @Test("form and query encoding escape everything outside the unreserved set")
    func encoding() {
        #expect(FormEncoding.encode([("a b", "x&y=z"), ("s", "p+q/é")]) == "a%20b=x%26y%3Dz&s=p%2Bq%2F%C3%A9")
        let url = URLBuilder.url("https://h/api/", path: "/items", query: [("$filter", "name eq 'O''Neil'")])
        #expect(url == "https://h/api/items?$filter=name%20eq%20%27O%27%27Neil%27")
    }

    @Test("upstream failures map to kinds by status and idempotency")
    func upstreamMapping() {
        func map(_ status: Int, _ request: HTTPRequest) -> ConnectorError {
            UpstreamError.from(HTTPResponse(status: status), request: request, system: "X", code: "C", message: "M")
        }
        #expect(map(400, post).kind == .rejected)
        #expect(map(401, get).kind == .configuration)
        #expect(map(429, post).kind == .temporary)
        #expect(map(503, get).kind == .temporary)
        #expect(map(502, post).code == .ambiguousWrite)
        #expect(map(500, post).code == .ambiguousWrite)
        #expect(map(500, get).code == .upstreamUnavailable)
    }
}

final class CountingTokens: TokenProvider {
    private let state = Mutex<(Int, [String])>((0, []))
    func token() async throws -> AccessToken {
        let count = state.withLock {
            $0.0 += 1
            return $0.0
        }
        return AccessToken(value: "t\(count)", expiresAt: Date().addingTimeInterval(3600))
    }
    func invalidate(_ token: AccessToken) async { state.withLock { $0.1.append(token.value) } }
    var invalidated: [String] { state.withLock { $0.1 } }
}
