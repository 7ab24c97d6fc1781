import ConnectorCore
import Foundation
import Synchronization

/// An HTTP request as the clients build it.
package struct HTTPRequest: Sendable {
    package var method: String
    package var url: String
    package var headers: [(name: String, value: String)]
    package var body: Data?
    /// Deadline for the whole exchange.
    package var timeout: Duration
    /// Whether sending the request twice has the same effect as once. Non-idempotent requests (creates) are
    /// retried only where the server guarantees it did nothing (429, 503, a connection that was never opened).
    package var idempotent: Bool

    package init(
        method: String,
        url: String,
        headers: [(name: String, value: String)] = [],
        body: Data? = nil,
        timeout: Duration = .seconds(60),
        idempotent: Bool? = nil
    ) {
        self.method = method
        self.url = url
        self.headers = headers
        self.body = body
        self.timeout = timeout
        self.idempotent = idempotent ?? ["GET", "HEAD", "PUT", "DELETE", "OPTIONS"].contains(method)
    }

    package func header(_ name: String) -> String? {
        headers.first { $0.name.caseInsensitiveCompare(name) == .orderedSame }?.value
    }

    package mutating func setHeader(_ name: String, _ value: String) {
        headers.removeAll { $0.name.caseInsensitiveCompare(name) == .orderedSame }
        headers.append((name, value))
    }
}

package struct HTTPResponse: Sendable {
    package var status: Int
    package var headers: [(name: String, value: String)]
    package var body: Data

    package init(status: Int, headers: [(name: String, value: String)] = [], body: Data = Data()) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    package func header(_ name: String) -> String? {
        headers.first { $0.name.caseInsensitiveCompare(name) == .orderedSame }?.value
    }

    package var isSuccess: Bool { (200..<300).contains(status) }
}

/// Sends HTTP requests. The default is `AsyncHTTPClientTransport`; retry, auth and rate limiting wrap it.
package protocol HTTPTransport: Sendable {
    func send(_ request: HTTPRequest) async throws -> HTTPResponse
}

/// A transport that owns connections (the bottom of a stack): `shutdown` closes them, once, before the process
/// exits.
package protocol ClosableHTTPTransport: HTTPTransport {
    func shutdown() async
}

/// A transport-level failure (no HTTP response). `requestMayHaveReachedServer` is false only when the connection
/// was never established, which is the one case where a non-idempotent request is safe to send again.
package struct TransportError: Error, Sendable, CustomStringConvertible {
    package enum Phase: String, Sendable {
        case connect
        case exchange
        case timeout
    }
    package var phase: Phase
    package var detail: String

    package init(phase: Phase, detail: String) {
        self.phase = phase
        self.detail = detail
    }

    package var requestMayHaveReachedServer: Bool { phase != .connect }
    package var description: String { "\(phase.rawValue) failure: \(detail)" }
}

/// Counts HTTP exchanges of a process, for the step result's metrics.
package final class RequestCounter: Sendable {
    private let counts = Mutex<[String: Int]>([:])
    private let outcomes = Mutex<[String: Int]>([:])
    private let waited = Mutex<Duration>(.zero)

    package init() {}

    package func record(host: String) {
        counts.withLock { $0[host, default: 0] += 1 }
    }

    /// How a request ended, by system (`jaggaer`, the ERP's kind; `-` when unknown), host and status (`200`, `429`,
    /// `5xx`…; `error` when no answer came).
    package func record(system: String?, host: String, outcome: String) {
        outcomes.withLock { $0["\(system ?? "-") \(host) \(outcome)", default: 0] += 1 }
    }

    /// Time spent waiting for the shared request budget (the rate limiter) before sending.
    package func recordRateLimitWait(_ wait: Duration) {
        waited.withLock { $0 += wait }
    }

    package var total: Int { counts.withLock { $0.values.reduce(0, +) } }
    package var byHost: [String: Int] { counts.withLock { $0 } }
    /// Requests by `"<system> <host> <status>"`.
    package var byOutcome: [String: Int] { outcomes.withLock { $0 } }
    package var rateLimitWait: Duration { waited.withLock { $0 } }

    /// A status as a metric label: the exact code for the ones that matter (200, 201, 204, 401, 404, 409, 429),
    /// the class otherwise.
    package static func label(status: Int) -> String {
        [200, 201, 204, 400, 401, 403, 404, 409, 412, 429].contains(status) ? String(status) : "\(status / 100)xx"
    }
}

/// Wraps a transport and counts every request sent through it, under the system it talks to.
package struct CountingTransport: HTTPTransport {
    package let base: any HTTPTransport
    package let counter: RequestCounter
    /// `jaggaer` or the ERP's kind (its token requests included), for the metrics' `system` label.
    package let system: String?

    package init(base: any HTTPTransport, counter: RequestCounter, system: String? = nil) {
        self.base = base
        self.counter = counter
        self.system = system
    }

    package func send(_ request: HTTPRequest) async throws -> HTTPResponse {
        let host = URLComponents(string: request.url)?.host ?? "?"
        counter.record(host: host)
        do {
            let response = try await base.send(request)
            counter.record(system: system, host: host, outcome: RequestCounter.label(status: response.status))
            return response
        } catch {
            counter.record(system: system, host: host, outcome: "error")
            throw error
        }
    }
}

extension HTTPRequest {
    /// Header names whose values are credentials.
    static let credentialHeaders: Set<String> = [
        "authorization", "proxy-authorization", "cookie", "x-api-key", "api-key", "apikey",
    ]

    /// Whether a form or JSON field name holds a credential.
    static func isCredentialField(_ name: String) -> Bool {
        let lower = name.lowercased()
        return ["secret", "password", "token", "assertion", "apikey", "api_key", "credential"].contains {
            lower.contains($0)
        }
    }

    /// Makes every credential this request carries known to `SecretRedactor` before it leaves the process:
    /// credential headers, and the credential fields of a form or JSON body. Whatever the credential's source
    /// (vault, environment, file, the shared token cache), an upstream that echoes it back is then masked.
    package func registerCredentials() {
        for header in headers where Self.credentialHeaders.contains(header.name.lowercased()) {
            if header.name.lowercased() == "authorization" || header.name.lowercased() == "proxy-authorization" {
                SecretRedactor.registerAuthorization(header.value)
            } else if header.name.lowercased() == "cookie" {
                SecretRedactor.register(header.value)
                for pair in header.value.split(separator: ";") {
                    if let equals = pair.firstIndex(of: "=") {
                        SecretRedactor.register(String(pair[pair.index(after: equals)...]))
                    }
                }
            } else {
                SecretRedactor.register(header.value)
            }
        }
        guard let body, !body.isEmpty else { return }
        let contentType = header("Content-Type")?.lowercased() ?? ""
        if contentType.contains("x-www-form-urlencoded") {
            for pair in String(decoding: body, as: UTF8.self).split(separator: "&") {
                let parts = pair.split(separator: "=", maxSplits: 1).map(String.init)
                guard parts.count == 2, Self.isCredentialField(parts[0]) else { continue }
                let value = parts[1].replacingOccurrences(of: "+", with: " ")
                SecretRedactor.register(value.removingPercentEncoding ?? value)
                SecretRedactor.register(parts[1])
            }
        } else if contentType.contains("json"),
            let object = try? JSONSerialization.jsonObject(with: body) as? [String: Any]
        {
            for (key, value) in object where Self.isCredentialField(key) {
                if let text = value as? String { SecretRedactor.register(text) }
            }
        }
    }
}
