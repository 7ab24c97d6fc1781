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

    package init() {}

    package func record(host: String) {
        counts.withLock { $0[host, default: 0] += 1 }
    }

    package var total: Int { counts.withLock { $0.values.reduce(0, +) } }
    package var byHost: [String: Int] { counts.withLock { $0 } }
}

/// Wraps a transport and counts every request sent through it.
package struct CountingTransport: HTTPTransport {
    package let base: any HTTPTransport
    package let counter: RequestCounter

    package init(base: any HTTPTransport, counter: RequestCounter) {
        self.base = base
        self.counter = counter
    }

    package func send(_ request: HTTPRequest) async throws -> HTTPResponse {
        counter.record(host: URLComponents(string: request.url)?.host ?? "?")
        return try await base.send(request)
    }
}
