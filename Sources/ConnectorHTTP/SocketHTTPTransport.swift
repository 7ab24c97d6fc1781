import ConnectorCore
import Dispatch
import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// The step processes' transport: HTTP/1.1 on plain sockets, TLS through BoringSSL, every exchange run on a dispatch
/// thread so the cooperative pool never blocks. Same contract as `AsyncHTTPClientTransport` (redirects never
/// followed, one deadline over connect, head and body, bodies capped, the same `TransportError` phases), without an
/// event loop to start and stop: a step sends a handful of requests one after the other, and SwiftNIO's start-up,
/// connection pool and first-request costs were the largest part of its own time (`make bench`'s step budget).
/// Idle connections are kept per host and port and checked before they are reused.
package final class SocketHTTPTransport: ClosableHTTPTransport {
    private let tls: Mutex<TLSContext?> = Mutex(nil)
    private let trustedCertificates: [String]
    private let connectTimeout: Duration
    private let maxResponseBytes: Int
    private let idle = Mutex<[String: [SocketConnection]]>([:])
    private static let queue = DispatchQueue(label: "mlc.http", attributes: .concurrent)

    /// `trustedCertificates`: PEM CA certificates trusted in addition to the system's roots; checked here, so a bad
    /// one is a configuration error before any request.
    package init(
        trustedCertificates: [String] = [], connectTimeout: Duration = .seconds(10),
        maxResponseBytes: Int = 64 * 1024 * 1024
    ) throws {
        self.trustedCertificates = trustedCertificates
        self.connectTimeout = connectTimeout
        self.maxResponseBytes = maxResponseBytes
        // A peer that closes while we write must fail the write, not kill the process (TLS writes cannot pass
        // MSG_NOSIGNAL).
        signal(SIGPIPE, SIG_IGN)
        try TLSContext.validate(trustedCertificates)
    }

    /// Made on the first https request: a step that talks plain HTTP (a simulator) or sends nothing loads no roots.
    private func tlsContext() throws -> TLSContext {
        try tls.withLock { context in
            if let context { return context }
            let made = try TLSContext(trustedCertificates: trustedCertificates)
            context = made
            return made
        }
    }

    package func send(_ request: HTTPRequest) async throws -> HTTPResponse {
        request.registerCredentials()
        let target = try Target(request.url)
        let head = try Self.head(request, target: target)
        let body = request.body.map { [UInt8]($0) } ?? []
        let deadline = ContinuousClock.now + request.timeout
        let connectDeadline = min(deadline, ContinuousClock.now + connectTimeout)
        let tls = target.secure ? try tlsContext() : nil
        let cancellation = CancelHandle()
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                Self.queue.async {
                    continuation.resume(
                        with: Result {
                            try self.exchange(
                                request, target: target, bytes: head + body, tls: tls, deadline: deadline,
                                connectDeadline: connectDeadline, cancellation: cancellation)
                        })
                }
            }
        } onCancel: {
            cancellation.cancel()
        }
    }

    /// Closes the idle connections; call once before the process exits.
    package func shutdown() async {
        let connections = idle.withLock { idle in
            defer { idle.removeAll() }
            return idle.values.flatMap { $0 }
        }
        for connection in connections { connection.close() }
    }

    private func exchange(
        _ request: HTTPRequest, target: Target, bytes: [UInt8], tls: TLSContext?, deadline: ContinuousClock.Instant,
        connectDeadline: ContinuousClock.Instant, cancellation: CancelHandle
    ) throws -> HTTPResponse {
        let connection: SocketConnection
        if let reused = takeIdle(target.key) {
            connection = reused
            guard cancellation.register(connection.descriptor) else {
                connection.close()
                throw CancellationError()
            }
        } else {
            connection = try SocketConnection.open(
                host: target.host, port: target.port, key: target.key, tls: tls, deadline: connectDeadline,
                cancellation: cancellation)
        }
        do {
            try connection.write(bytes, deadline: deadline)
            var reader = ResponseReader(connection: connection, deadline: deadline, maxBodyBytes: maxResponseBytes)
            let response = try reader.read(method: request.method)
            cancellation.unregister()
            if reader.reusable && !cancellation.isCancelled {
                putIdle(connection)
            } else {
                connection.close()
            }
            return response
        } catch {
            cancellation.unregister()
            connection.close()
            if cancellation.isCancelled { throw CancellationError() }
            throw error
        }
    }

    private func takeIdle(_ key: String) -> SocketConnection? {
        while let connection = idle.withLock({ $0[key]?.popLast() }) {
            if connection.isReusable { return connection }
            connection.close()
        }
        return nil
    }

    private func putIdle(_ connection: SocketConnection) {
        idle.withLock { $0[connection.key, default: []].append(connection) }
    }

    /// The request line and headers. A header name or value that could end the line (CR, LF, NUL) is refused, so no
    /// value from outside can add a header or a request.
    static func head(_ request: HTTPRequest, target: Target) throws -> [UInt8] {
        let method = request.method
        guard !method.isEmpty, method.utf8.allSatisfy({ Self.isTokenByte($0) }) else {
            throw TransportError(phase: .connect, detail: "invalid HTTP method")
        }
        var text = "\(method) \(target.pathAndQuery) HTTP/1.1\r\nHost: \(target.hostHeader)\r\n"
        for header in request.headers {
            guard !header.name.isEmpty, header.name.utf8.allSatisfy({ Self.isTokenByte($0) }) else {
                throw TransportError(phase: .connect, detail: "invalid header name")
            }
            guard !header.value.utf8.contains(where: { $0 == 0x0D || $0 == 0x0A || $0 == 0x00 }) else {
                throw TransportError(phase: .connect, detail: "invalid value of header \(header.name)")
            }
            let lower = header.name.lowercased()
            // Framing is ours: the body's length is counted here; hop-by-hop headers are not the caller's to set.
            if ["host", "content-length", "transfer-encoding", "connection"].contains(lower) { continue }
            text += "\(header.name): \(header.value)\r\n"
        }
        let count = request.body?.count ?? 0
        if count > 0 || ["POST", "PUT", "PATCH"].contains(method) {
            text += "Content-Length: \(count)\r\n"
        }
        text += "\r\n"
        return Array(text.utf8)
    }

    /// RFC 9110 `token` characters.
    private static func isTokenByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
            UInt8(ascii: "0")...UInt8(ascii: "9"):
            return true
        default:
            return "!#$%&'*+-.^_`|~".utf8.contains(byte)
        }
    }

    /// Where a request goes.
    struct Target {
        var secure: Bool
        var host: String
        var port: Int
        var pathAndQuery: String
        var hostHeader: String
        var key: String

        init(_ url: String) throws {
            guard let components = URLComponents(string: url), let scheme = components.scheme?.lowercased(),
                scheme == "http" || scheme == "https", let host = components.host, !host.isEmpty
            else {
                throw TransportError(phase: .connect, detail: "invalid URL")
            }
            secure = scheme == "https"
            // URLComponents keeps an IPv6 literal's brackets in `host` on some platforms.
            self.host = host.hasPrefix("[") ? String(host.dropFirst().dropLast()) : host
            port = components.port ?? (secure ? 443 : 80)
            let path = components.percentEncodedPath.isEmpty ? "/" : components.percentEncodedPath
            pathAndQuery = components.percentEncodedQuery.map { "\(path)?\($0)" } ?? path
            guard !pathAndQuery.utf8.contains(where: { $0 <= 0x20 || $0 == 0x7F }) else {
                throw TransportError(phase: .connect, detail: "invalid URL")
            }
            let bracketed = self.host.contains(":") ? "[\(self.host)]" : self.host
            hostHeader = components.port == nil ? bracketed : "\(bracketed):\(port)"
            key = "\(scheme)://\(bracketed):\(port)"
        }
    }
}

/// Reads one HTTP/1.1 response (RFC 9112): the head (1xx answers skipped), then the body as framed by
/// `Transfer-Encoding: chunked`, `Content-Length` or the end of the connection; no body for HEAD, 204 and 304.
struct ResponseReader {
    let connection: SocketConnection
    let deadline: ContinuousClock.Instant
    let maxBodyBytes: Int
    static let maxHeadBytes = 64 * 1024
    private var buffer: [UInt8] = []
    private var start = 0
    /// Whether the connection can carry another request once the response is read.
    private(set) var reusable = false

    init(connection: SocketConnection, deadline: ContinuousClock.Instant, maxBodyBytes: Int) {
        self.connection = connection
        self.deadline = deadline
        self.maxBodyBytes = maxBodyBytes
    }

    mutating func read(method: String) throws -> HTTPResponse {
        var head = try readHead()
        while (100..<200).contains(head.status) && head.status != 101 {
            head = try readHead()
        }
        let noBody = method == "HEAD" || head.status == 204 || head.status == 304 || head.status == 101
        var keepAlive = head.version == "HTTP/1.1"
        if let connection = head.value("connection")?.lowercased() {
            if connection.contains("close") { keepAlive = false }
            if connection.contains("keep-alive") { keepAlive = true }
        }
        let body: [UInt8]
        if noBody {
            body = []
        } else if let encoding = head.value("transfer-encoding")?.lowercased(), !encoding.isEmpty {
            guard encoding.split(separator: ",").last?.trimmingWhitespace(newlines: false) == "chunked" else {
                throw TransportError(phase: .exchange, detail: "unsupported transfer encoding \(encoding)")
            }
            body = try readChunked()
        } else if let lengthText = head.value("content-length") {
            let values = Set(lengthText.split(separator: ",").map { $0.trimmingWhitespace(newlines: false) })
            guard values.count == 1, let length = Int(values.first!), length >= 0 else {
                throw TransportError(phase: .exchange, detail: "invalid Content-Length")
            }
            guard length <= maxBodyBytes else { throw Self.tooLarge(maxBodyBytes) }
            body = try readExactly(length)
        } else {
            body = try readToEnd()
            keepAlive = false
        }
        reusable = keepAlive && start == buffer.count
        return HTTPResponse(status: head.status, headers: head.headers, body: Data(body))
    }

    private static func tooLarge(_ limit: Int) -> TransportError {
        TransportError(phase: .exchange, detail: "the response is larger than \(limit) bytes")
    }

    struct Head {
        var version: String
        var status: Int
        var headers: [(name: String, value: String)]

        func value(_ name: String) -> String? {
            let values = headers.filter { $0.name.lowercased() == name }.map(\.value)
            return values.isEmpty ? nil : values.joined(separator: ", ")
        }
    }

    /// Makes more bytes available; false at the end of the stream.
    private mutating func fill() throws -> Bool {
        if start > 0 && start == buffer.count {
            buffer.removeAll(keepingCapacity: true)
            start = 0
        }
        return try connection.read(into: &buffer, limit: 64 * 1024, deadline: deadline) > 0
    }

    /// The next line (without CRLF), at most `limit` bytes.
    private mutating func line(limit: Int) throws -> String {
        // Bytes after `start` already searched (`fill` may move the unread bytes to the front).
        var searched = 0
        while true {
            if let end = buffer[(start + searched)...].firstIndex(of: 0x0A) {
                var last = end
                if last > start && buffer[last - 1] == 0x0D { last -= 1 }
                let text = String(decoding: buffer[start..<last], as: UTF8.self)
                start = end + 1
                return text
            }
            searched = buffer.count - start
            guard searched <= limit else {
                throw TransportError(phase: .exchange, detail: "the response head is too large")
            }
            guard try fill() else {
                throw TransportError(phase: .exchange, detail: "the connection closed before the response was complete")
            }
        }
    }

    private mutating func readHead() throws -> Head {
        let status = try line(limit: Self.maxHeadBytes)
        let parts = status.split(separator: " ", maxSplits: 2, omittingEmptySubsequences: false)
        guard parts.count >= 2, parts[0].hasPrefix("HTTP/1."), parts[1].count == 3, let code = Int(parts[1]) else {
            throw TransportError(phase: .exchange, detail: "not an HTTP/1.1 response")
        }
        var headers: [(name: String, value: String)] = []
        var size = status.utf8.count
        while true {
            let text = try line(limit: Self.maxHeadBytes)
            if text.isEmpty { break }
            size += text.utf8.count
            guard size <= Self.maxHeadBytes else {
                throw TransportError(phase: .exchange, detail: "the response head is too large")
            }
            guard let colon = text.firstIndex(of: ":"), colon != text.startIndex else {
                throw TransportError(phase: .exchange, detail: "invalid response header")
            }
            let name = String(text[..<colon])
            guard !name.contains(" ") && !name.contains("\t") else {
                throw TransportError(phase: .exchange, detail: "invalid response header")
            }
            headers.append((name, text[text.index(after: colon)...].trimmingWhitespace(newlines: false)))
        }
        return Head(version: String(parts[0]), status: code, headers: headers)
    }

    private mutating func readExactly(_ length: Int) throws -> [UInt8] {
        while buffer.count - start < length {
            guard try fill() else {
                throw TransportError(phase: .exchange, detail: "the connection closed before the response was complete")
            }
        }
        let body = Array(buffer[start..<start + length])
        start += length
        return body
    }

    private mutating func readChunked() throws -> [UInt8] {
        var body: [UInt8] = []
        while true {
            let sizeLine = try line(limit: 1024)
            let digits = sizeLine.split(separator: ";", maxSplits: 1).first.map {
                $0.trimmingWhitespace(newlines: false)
            }
            guard let digits, !digits.isEmpty, digits.count <= 16, let size = Int(digits, radix: 16), size >= 0 else {
                throw TransportError(phase: .exchange, detail: "invalid chunk size")
            }
            if size == 0 {
                // Trailers, then the empty line.
                while try !line(limit: Self.maxHeadBytes).isEmpty {}
                return body
            }
            guard body.count + size <= maxBodyBytes else { throw Self.tooLarge(maxBodyBytes) }
            body += try readExactly(size)
            guard try line(limit: 2).isEmpty else {
                throw TransportError(phase: .exchange, detail: "invalid chunk")
            }
        }
    }

    private mutating func readToEnd() throws -> [UInt8] {
        while try fill() {
            guard buffer.count - start <= maxBodyBytes else { throw Self.tooLarge(maxBodyBytes) }
        }
        let body = Array(buffer[start...])
        start = buffer.count
        return body
    }
}
