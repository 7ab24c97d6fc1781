import ConnectorCore
import ConnectorHTTP
import Dispatch
import Foundation
import Synchronization
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// A TCP server on loopback that answers from a script, byte for byte, and records every request as received: for
/// the framing cases (chunked, close-delimited, a connection dropped while idle) a real HTTP server does not produce
/// on demand.
final class RawServer: Sendable {
    enum Reply: Sendable {
        /// Sends these bytes, then keeps the connection for the next request, or closes it.
        case send(String, close: Bool)
        /// Sends these bytes, then neither sends more nor closes until the server stops.
        case stall(String)
    }

    let port: Int
    private let listener: Int32
    private let script: @Sendable (Int) -> Reply
    private let received = Mutex<[String]>([])
    private let connections = Mutex<[Int32]>([])
    private let stopped = Mutex(false)

    init(_ script: @escaping @Sendable (Int) -> Reply) throws {
        let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(listener, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard bound == 0, listen(listener, 16) == 0 else { throw ConnectorError(.internalError, "bind failed") }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { _ = getsockname(listener, $0, &length) }
        }
        port = Int(UInt16(bigEndian: address.sin_port))
        self.listener = listener
        self.script = script
        let server = self
        DispatchQueue.global().async { server.acceptLoop() }
    }

    /// The requests received so far, head and body as text.
    var requests: [String] { received.withLock { $0 } }
    /// The connections accepted so far.
    var accepted: Int { connections.withLock { $0.count } }

    func stop() {
        stopped.withLock { $0 = true }
        _ = shutdown(listener, Int32(SHUT_RDWR))
        for descriptor in connections.withLock({ $0 }) { _ = shutdown(descriptor, Int32(SHUT_RDWR)) }
    }

    deinit {
        close(listener)
        for descriptor in connections.withLock({ $0 }) { close(descriptor) }
    }

    private func acceptLoop() {
        while !stopped.withLock({ $0 }) {
            let descriptor = accept(listener, nil, nil)
            guard descriptor >= 0 else { return }
            connections.withLock { $0.append(descriptor) }
            let server = self
            DispatchQueue.global().async { server.serve(descriptor) }
        }
    }

    private func serve(_ descriptor: Int32) {
        var buffer: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            // One request: the head, then as many bytes as its Content-Length says.
            var request: [UInt8]?
            while request == nil {
                if let end = Self.find([13, 10, 13, 10], in: buffer) {
                    let head = String(decoding: buffer[..<end], as: UTF8.self)
                    let length =
                        head.split(separator: "\r\n").first { $0.lowercased().hasPrefix("content-length:") }
                        .flatMap { Int($0.split(separator: ":")[1].trimmingCharacters(in: .whitespaces)) } ?? 0
                    if buffer.count >= end + 4 + length {
                        request = Array(buffer[..<(end + 4 + length)])
                        buffer.removeFirst(end + 4 + length)
                        continue
                    }
                }
                let count = chunk.withUnsafeMutableBytes { recv(descriptor, $0.baseAddress, 65536, 0) }
                guard count > 0 else { return }
                buffer += chunk[0..<count]
            }
            let index = received.withLock { received in
                received.append(String(decoding: request!, as: UTF8.self))
                return received.count - 1
            }
            switch script(index) {
            case .send(let text, let close):
                Self.write(text, to: descriptor)
                if close {
                    _ = shutdown(descriptor, Int32(SHUT_RDWR))
                    return
                }
            case .stall(let text):
                Self.write(text, to: descriptor)
                while !stopped.withLock({ $0 }) { usleep(20_000) }
                return
            }
        }
    }

    private static func write(_ text: String, to descriptor: Int32) {
        let bytes = Array(text.utf8)
        var offset = 0
        while offset < bytes.count {
            let sent = bytes.withUnsafeBytes {
                send(descriptor, $0.baseAddress! + offset, bytes.count - offset, Int32(MSG_NOSIGNAL))
            }
            guard sent > 0 else { return }
            offset += sent
        }
    }

    private static func find(_ needle: [UInt8], in haystack: [UInt8]) -> Int? {
        guard haystack.count >= needle.count else { return nil }
        return (0...(haystack.count - needle.count)).first { Array(haystack[$0..<$0 + needle.count]) == needle }
    }
}

@Suite("Socket transport: HTTP/1.1 framing, reuse, deadlines", .serialized, .timeLimit(.minutes(2)))
struct SocketTransportTests {
    static func ok(_ body: String, extra: String = "") -> String {
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\(extra)Content-Length: \(body.utf8.count)\r\n\r\n\(body)"
    }

    func transport(maxResponseBytes: Int = 1024 * 1024) throws -> SocketHTTPTransport {
        try SocketHTTPTransport(maxResponseBytes: maxResponseBytes)
    }

    @Test("a POST is framed by its bytes, not its characters, and the answer's Content-Length is honoured")
    func contentLength() async throws {
        let server = try RawServer { _ in .send(Self.ok("{\"id\":\"1\"}"), close: false) }
        defer { server.stop() }
        let http = try transport()
        let body = "{\"vendor\":\"Müller & Söhne €\"}"
        let response = try await http.send(
            HTTPRequest(
                method: "POST", url: "http://127.0.0.1:\(server.port)/v2.0/companies(1)/purchaseInvoices?x=a%20b",
                headers: [("Content-Type", "application/json"), ("Content-Length", "1")], body: Data(body.utf8)))
        await http.shutdown()
        #expect(response.status == 200)
        #expect(String(decoding: response.body, as: UTF8.self) == "{\"id\":\"1\"}")
        #expect(response.header("content-type") == "application/json")
        let request = try #require(server.requests.first)
        #expect(request.hasPrefix("POST /v2.0/companies(1)/purchaseInvoices?x=a%20b HTTP/1.1\r\n"))
        #expect(request.contains("\r\nHost: 127.0.0.1:\(server.port)\r\n"))
        #expect(request.contains("\r\nContent-Length: \(body.utf8.count)\r\n"), "the caller's own length is replaced")
        #expect(!request.contains("Content-Length: 1\r\n"))
        #expect(request.hasSuffix("\r\n\r\n\(body)"))
    }

    @Test("a chunked answer, with chunk extensions and trailers, is put together")
    func chunked() async throws {
        let reply =
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n7\r\n, world\r\n0\r\nX-Trailer: t\r\n\r\n"
        let server = try RawServer { _ in .send(reply, close: false) }
        defer { server.stop() }
        let http = try transport()
        let first = try await http.send(HTTPRequest(method: "GET", url: "http://127.0.0.1:\(server.port)/a"))
        let second = try await http.send(HTTPRequest(method: "GET", url: "http://127.0.0.1:\(server.port)/b"))
        await http.shutdown()
        #expect(String(decoding: first.body, as: UTF8.self) == "hello, world")
        #expect(String(decoding: second.body, as: UTF8.self) == "hello, world")
        #expect(server.accepted == 1, "the connection is reused after a chunked answer")
    }

    @Test("an answer without length runs to the end of the connection, which is then not reused")
    func closeDelimited() async throws {
        let server = try RawServer { _ in
            .send("HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nuntil the end", close: true)
        }
        defer { server.stop() }
        let http = try transport()
        for _ in 0..<2 {
            let response = try await http.send(HTTPRequest(method: "GET", url: "http://127.0.0.1:\(server.port)/"))
            #expect(String(decoding: response.body, as: UTF8.self) == "until the end")
        }
        await http.shutdown()
        #expect(server.accepted == 2)
    }

    @Test("a kept-alive connection the server dropped while idle is replaced, not used")
    func staleIdleConnection() async throws {
        // The first answer says nothing of closing, then the server closes: the next request must not be lost on it.
        let server = try RawServer { index in .send(Self.ok("{\"n\":\(index)}"), close: index == 0) }
        defer { server.stop() }
        let http = try transport()
        _ = try await http.send(HTTPRequest(method: "GET", url: "http://127.0.0.1:\(server.port)/"))
        try await Task.sleep(for: .milliseconds(100))
        let second = try await http.send(
            HTTPRequest(method: "POST", url: "http://127.0.0.1:\(server.port)/", body: Data("{}".utf8)))
        await http.shutdown()
        #expect(String(decoding: second.body, as: UTF8.self) == "{\"n\":1}")
        #expect(server.accepted == 2)
    }

    @Test("1xx answers are skipped; HEAD, 204 and 304 have no body")
    func noBody() async throws {
        let server = try RawServer { index in
            switch index {
            case 0: .send("HTTP/1.1 100 Continue\r\n\r\n" + Self.ok("{}"), close: false)
            case 1: .send("HTTP/1.1 204 No Content\r\n\r\n", close: false)
            case 2: .send("HTTP/1.1 200 OK\r\nContent-Length: 5000\r\n\r\n", close: false)
            default: .send("HTTP/1.1 304 Not Modified\r\nETag: \"x\"\r\n\r\n", close: false)
            }
        }
        defer { server.stop() }
        let http = try transport()
        let url = "http://127.0.0.1:\(server.port)/"
        let continued = try await http.send(HTTPRequest(method: "GET", url: url))
        let noContent = try await http.send(HTTPRequest(method: "DELETE", url: url))
        let head = try await http.send(HTTPRequest(method: "HEAD", url: url))
        let notModified = try await http.send(HTTPRequest(method: "GET", url: url))
        await http.shutdown()
        #expect(continued.status == 200 && String(decoding: continued.body, as: UTF8.self) == "{}")
        #expect(noContent.status == 204 && noContent.body.isEmpty)
        #expect(head.status == 200 && head.body.isEmpty)
        #expect(notModified.status == 304 && notModified.header("etag") == "\"x\"")
        #expect(server.accepted == 1)
    }

    @Test("an answer larger than the cap is refused")
    func cap() async throws {
        let big = String(repeating: "x", count: 5000)
        let server = try RawServer { index in
            index == 0
                ? .send(Self.ok(big), close: false)
                : .send(
                    "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1388\r\n\(big)\r\n0\r\n\r\n", close: false)
        }
        defer { server.stop() }
        let http = try transport(maxResponseBytes: 1000)
        for _ in 0..<2 {
            do {
                _ = try await http.send(HTTPRequest(method: "GET", url: "http://127.0.0.1:\(server.port)/"))
                Issue.record("an answer above the cap was accepted")
            } catch let error as TransportError {
                #expect(error.phase == .exchange)
                #expect(error.detail.contains("larger than 1000 bytes"))
            }
        }
        await http.shutdown()
    }

    @Test("a body that stops coming ends at the deadline, as a timeout")
    func stalledBody() async throws {
        let server = try RawServer { _ in .stall("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{\"partial\":") }
        defer { server.stop() }
        let http = try transport()
        let started = ContinuousClock.now
        do {
            _ = try await http.send(
                HTTPRequest(method: "GET", url: "http://127.0.0.1:\(server.port)/", timeout: .milliseconds(500)))
            Issue.record("a stalled body was accepted")
        } catch let error as TransportError {
            #expect(error.phase == .timeout)
        }
        #expect(ContinuousClock.now - started < .seconds(3))
        await http.shutdown()
    }

    @Test("a cancelled task stops waiting at once")
    func cancellation() async throws {
        let server = try RawServer { _ in .stall("") }
        defer { server.stop() }
        let http = try transport()
        let started = ContinuousClock.now
        let task = Task {
            try await http.send(
                HTTPRequest(method: "GET", url: "http://127.0.0.1:\(server.port)/", timeout: .seconds(30)))
        }
        try await Task.sleep(for: .milliseconds(200))
        task.cancel()
        await #expect(throws: CancellationError.self) { _ = try await task.value }
        #expect(ContinuousClock.now - started < .seconds(5))
        await http.shutdown()
    }

    @Test("a refused connection is a connect failure: the request never left")
    func refused() async throws {
        let server = try RawServer { _ in .send("", close: true) }
        let port = server.port
        server.stop()
        try await Task.sleep(for: .milliseconds(50))
        let http = try transport()
        do {
            _ = try await http.send(
                HTTPRequest(method: "POST", url: "http://127.0.0.1:\(port)/", body: Data("{}".utf8)))
            Issue.record("a refused connection succeeded")
        } catch let error as TransportError {
            #expect(error.phase == .connect)
            #expect(!error.requestMayHaveReachedServer)
        }
        await http.shutdown()
    }

    @Test("a header value that would start another header or request is refused before anything is sent")
    func headerInjection() async throws {
        let server = try RawServer { _ in .send(Self.ok("{}"), close: false) }
        defer { server.stop() }
        let http = try transport()
        let url = "http://127.0.0.1:\(server.port)/"
        for headers in [
            [("X-Value", "a\r\nAuthorization: Bearer stolen")], [("X-Value", "a\nb")], [("Bad Name", "v")],
            [("X:Y", "v")],
        ] {
            await #expect(throws: TransportError.self) {
                _ = try await http.send(HTTPRequest(method: "GET", url: url, headers: headers))
            }
        }
        // A line break in the URL is refused or percent-encoded; it never reaches the wire as one.
        _ = try? await http.send(HTTPRequest(method: "GET", url: url + "a\r\nX-Injected: 1"))
        await http.shutdown()
        #expect(!server.requests.contains { $0.contains("\r\nX-Injected") })
        #expect(server.requests.allSatisfy { !$0.contains("Authorization") })
    }

    @Test("garbage instead of an HTTP answer is an exchange failure")
    func notHTTP() async throws {
        let server = try RawServer { _ in .send("SSH-2.0-OpenSSH_9.2\r\n\r\n", close: true) }
        defer { server.stop() }
        let http = try transport()
        do {
            _ = try await http.send(HTTPRequest(method: "GET", url: "http://127.0.0.1:\(server.port)/"))
            Issue.record("garbage was accepted")
        } catch let error as TransportError {
            #expect(error.phase == .exchange)
        }
        await http.shutdown()
    }

    @Test("MLC_HTTP_CLIENT picks the client, and a misspelt value is a configuration error naming it")
    func choice() throws {
        #expect(try HTTPClients.make(NetworkSettings(), environment: [:]) is SocketHTTPTransport)
        #expect(
            try HTTPClients.make(NetworkSettings(), environment: ["MLC_HTTP_CLIENT": "asynchttpclient"])
                is AsyncHTTPClientTransport)
        do {
            _ = try HTTPClients.make(NetworkSettings(), environment: ["MLC_HTTP_CLIENT": "curl"])
            Issue.record("an unknown client was accepted")
        } catch let error as ConnectorError {
            #expect(error.code == .configInvalid)
            #expect(error.message.contains("MLC_HTTP_CLIENT=curl"))
        }
    }
}
