import ConnectorCore
import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// One TCP connection on a non-blocking socket, used with `poll` so that every call honours the exchange's deadline,
/// optionally with TLS over it (`TLSSession`). Owned by one exchange at a time: it is either in the transport's idle
/// pool or taken out by exactly one `send`, which returns it or closes it.
struct SocketConnection: Sendable {
    let descriptor: Int32
    let tls: TLSSession?
    let key: String

    /// Connects to `host:port` (each address `getaddrinfo` gives, in order) before `deadline`; TLS when `tls` is set.
    /// Every failure is `.connect`: the request was not sent.
    static func open(
        host: String, port: Int, key: String, tls: TLSContext?, deadline: ContinuousClock.Instant,
        cancellation: CancelHandle
    ) throws -> SocketConnection {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        // A literal address needs no resolver (and no netlink query for AI_ADDRCONFIG).
        hints.ai_flags = isIPAddress(host) ? AI_NUMERICHOST : AI_ADDRCONFIG
        var list: UnsafeMutablePointer<addrinfo>?
        let resolved = getaddrinfo(host, String(port), &hints, &list)
        guard resolved == 0, let first = list else {
            let reason = resolved == 0 ? "no address" : String(cString: gai_strerror(resolved))
            throw TransportError(phase: .connect, detail: "could not resolve \(host) (\(reason))")
        }
        defer { freeaddrinfo(list) }
        var lastError = "no address"
        var entry: UnsafeMutablePointer<addrinfo>? = first
        while let address = entry {
            entry = address.pointee.ai_next
            let descriptor = socket(
                address.pointee.ai_family,
                Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue)
                    | Int32(SOCK_NONBLOCK.rawValue), 0)
            guard descriptor >= 0 else {
                lastError = String(cString: strerror(errno))
                continue
            }
            guard cancellation.register(descriptor) else {
                _ = Glibc.close(descriptor)
                throw CancellationError()
            }
            do {
                try connect(descriptor, address.pointee.ai_addr, address.pointee.ai_addrlen, deadline: deadline)
                var one: Int32 = 1
                _ = setsockopt(descriptor, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
                let session = try tls.map { try $0.handshake(descriptor: descriptor, host: host, deadline: deadline) }
                return SocketConnection(descriptor: descriptor, tls: session, key: key)
            } catch let error as TransportError {
                cancellation.unregister()
                _ = Glibc.close(descriptor)
                if cancellation.isCancelled { throw CancellationError() }
                if error.phase == .timeout { throw error }
                lastError = error.detail
                // A TLS failure is about the server, not about one of its addresses.
                if tls != nil, error.detail.hasPrefix("TLS") { throw error }
            }
        }
        throw TransportError(phase: .connect, detail: "could not connect to \(host):\(port) (\(lastError))")
    }

    private static func connect(
        _ descriptor: Int32, _ address: UnsafeMutablePointer<sockaddr>?, _ length: socklen_t,
        deadline: ContinuousClock.Instant
    ) throws {
        if Glibc.connect(descriptor, address, length) == 0 { return }
        guard errno == EINPROGRESS else {
            throw TransportError(phase: .connect, detail: String(cString: strerror(errno)))
        }
        guard try wait(descriptor, for: Int16(POLLOUT), until: deadline) else {
            throw TransportError(phase: .timeout, detail: "could not connect in time")
        }
        var error: Int32 = 0
        var size = socklen_t(MemoryLayout<Int32>.size)
        getsockopt(descriptor, SOL_SOCKET, SO_ERROR, &error, &size)
        guard error == 0 else { throw TransportError(phase: .connect, detail: String(cString: strerror(error))) }
    }

    /// Waits until `descriptor` is ready for `events` or `deadline` passes (false). A descriptor shut down by a
    /// cancellation reports ready, and the next read or write fails.
    static func wait(_ descriptor: Int32, for events: Int16, until deadline: ContinuousClock.Instant) throws -> Bool {
        while true {
            let remaining = deadline - ContinuousClock.now
            guard remaining > .zero else { return false }
            let milliseconds = Int32(min(remaining.timeInterval * 1000 + 1, Double(Int32.max)))
            var entry = pollfd(fd: descriptor, events: events, revents: 0)
            let ready = poll(&entry, 1, milliseconds)
            if ready > 0 { return true }
            if ready < 0, errno != EINTR {
                throw TransportError(phase: .exchange, detail: "poll failed (\(String(cString: strerror(errno))))")
            }
        }
    }

    static func isIPAddress(_ host: String) -> Bool {
        var v4 = in_addr()
        var v6 = in6_addr()
        return inet_pton(AF_INET, host, &v4) == 1 || inet_pton(AF_INET6, host, &v6) == 1
    }

    /// Whether an idle connection can carry another request: nothing to read (no early close, no stray bytes).
    var isReusable: Bool {
        var entry = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
        return poll(&entry, 1, 0) == 0
    }

    /// Writes all of `bytes` before `deadline`.
    func write(_ bytes: [UInt8], deadline: ContinuousClock.Instant) throws {
        var offset = 0
        while offset < bytes.count {
            let written: Int
            if let tls {
                written = try tls.write(bytes, from: offset, descriptor: descriptor, deadline: deadline)
            } else {
                written = bytes.withUnsafeBytes { raw in
                    send(descriptor, raw.baseAddress! + offset, bytes.count - offset, Int32(MSG_NOSIGNAL))
                }
                if written < 0 {
                    if errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR {
                        guard try Self.wait(descriptor, for: Int16(POLLOUT), until: deadline) else {
                            throw TransportError(phase: .timeout, detail: "the request could not be sent in time")
                        }
                        continue
                    }
                    throw TransportError(
                        phase: .exchange, detail: "the request could not be sent (\(String(cString: strerror(errno))))")
                }
            }
            offset += written
        }
    }

    /// Reads what is there (at most `limit` bytes) into `buffer`, waiting until `deadline`; 0 at the end of the
    /// stream.
    func read(into buffer: inout [UInt8], limit: Int, deadline: ContinuousClock.Instant) throws -> Int {
        if let tls { return try tls.read(into: &buffer, limit: limit, descriptor: descriptor, deadline: deadline) }
        var chunk = [UInt8](repeating: 0, count: limit)
        while true {
            let count = chunk.withUnsafeMutableBytes { recv(descriptor, $0.baseAddress, limit, 0) }
            if count >= 0 {
                buffer.append(contentsOf: chunk[0..<count])
                return count
            }
            if errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR {
                guard try Self.wait(descriptor, for: Int16(POLLIN), until: deadline) else {
                    throw TransportError(phase: .timeout, detail: "no complete response in time")
                }
                continue
            }
            throw TransportError(
                phase: .exchange, detail: "the connection failed (\(String(cString: strerror(errno))))")
        }
    }

    func close() {
        tls?.close()
        _ = Glibc.close(descriptor)
    }
}

/// Lets a task's cancellation reach the blocking exchange: the socket is shut down, so `poll` wakes and the next
/// read or write fails.
final class CancelHandle: Sendable {
    private struct State {
        var descriptor: Int32?
        var cancelled = false
    }
    private let state = Mutex(State())

    /// Registers the exchange's socket; false when the task is already cancelled.
    func register(_ descriptor: Int32) -> Bool {
        state.withLock { state in
            guard !state.cancelled else { return false }
            state.descriptor = descriptor
            return true
        }
    }

    func unregister() {
        state.withLock { $0.descriptor = nil }
    }

    func cancel() {
        state.withLock { state in
            state.cancelled = true
            if let descriptor = state.descriptor { _ = shutdown(descriptor, Int32(SHUT_RDWR)) }
        }
    }

    var isCancelled: Bool { state.withLock { $0.cancelled } }
}
