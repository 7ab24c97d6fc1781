import CHiredis
import ConnectorCore
import Dispatch
import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// Where a Redis store lives, from `redis://[[user]:password@]host[:port][/db]`. The password is kept for AUTH and
/// never printed: `description` is `host:port/db`.
package struct RedisEndpoint: Sendable, Hashable, CustomStringConvertible {
    package var host: String
    package var port: Int
    package var database: Int
    package var user: String?
    package var password: String?

    package init(host: String, port: Int = 6379, database: Int = 0, user: String? = nil, password: String? = nil) {
        self.host = host
        self.port = port
        self.database = database
        self.user = user
        self.password = password
    }

    /// `host:port/db`, for errors and logs (never the password).
    package var description: String { "\(host.contains(":") ? "[\(host)]" : host):\(port)/\(database)" }

    /// Parses a `redis://` URL; the reason of a refusal never contains the password.
    package static func parse(_ url: String) throws(RedisURLError) -> RedisEndpoint {
        guard let components = URLComponents(string: url), components.scheme?.lowercased() == "redis" else {
            throw RedisURLError("is not a redis://host:port/db URL")
        }
        guard let host = components.host, !host.isEmpty else { throw RedisURLError("needs a host") }
        let port = components.port ?? 6379
        guard (1...65535).contains(port) else { throw RedisURLError("has the port \(port), outside 1-65535") }
        var path = components.path
        if path.hasPrefix("/") { path.removeFirst() }
        let database: Int
        if path.isEmpty {
            database = 0
        } else if let number = Int(path), number >= 0, number < 100_000, path.allSatisfy(\.isASCII) {
            database = number
        } else {
            throw RedisURLError("names the database \(path.prefix(40).debugDescription); use a number, e.g. /0")
        }
        if components.query != nil || components.fragment != nil {
            throw RedisURLError("has a query or fragment, which the Redis store does not read")
        }
        let user = components.user.flatMap { $0.isEmpty ? nil : $0 }
        let password = components.password.flatMap { $0.isEmpty ? nil : $0 }
        if user != nil && password == nil {
            throw RedisURLError("names a user without a password; use redis://user:password@host:port/db")
        }
        // Known to the redactor from here on: logs and messages of this process never carry it, in any encoding.
        if let password { SecretRedactor.register(password) }
        let bareHost =
            host.hasPrefix("[") && host.hasSuffix("]") ? String(host.dropFirst().dropLast()) : host
        return RedisEndpoint(host: bareHost, port: port, database: database, user: user, password: password)
    }

    /// The URL with any password replaced by `***`, for messages about it.
    package static func masked(_ url: String) -> String {
        URLCredentials.masked(url, loneUserIsSecret: true)
    }

    /// `text` (a server's reply, a client library's error) with the password hidden in every encoding.
    package func redact(_ text: String) -> String {
        URLCredentials.redact(text, password: password)
    }
}

package struct RedisURLError: Error, Sendable {
    package let reason: String
    init(_ reason: String) { self.reason = reason }
}

/// One reply of the Redis protocol, copied out of hiredis' reply tree.
enum RedisReply: Sendable, Equatable {
    case string(Data)
    case integer(Int64)
    case array([RedisReply])
    case null
    case status(String)
    case error(String)

    init(_ reply: UnsafePointer<redisReply>) {
        let value = reply.pointee
        switch value.type {
        case REDIS_REPLY_STRING:
            self = .string(value.str.map { Data(bytes: $0, count: value.len) } ?? Data())
        case REDIS_REPLY_INTEGER:
            self = .integer(Int64(value.integer))
        case REDIS_REPLY_ARRAY:
            var items: [RedisReply] = []
            items.reserveCapacity(value.elements)
            for index in 0..<value.elements {
                if let element = value.element?[index] {
                    items.append(RedisReply(element))
                } else {
                    items.append(.null)
                }
            }
            self = .array(items)
        case REDIS_REPLY_STATUS:
            self = .status(value.str.map { String(decoding: Data(bytes: $0, count: value.len), as: UTF8.self) } ?? "")
        case REDIS_REPLY_ERROR:
            self = .error(value.str.map { String(decoding: Data(bytes: $0, count: value.len), as: UTF8.self) } ?? "")
        default:
            self = .null
        }
    }
}

/// One hiredis connection, used by one store at a time: every call runs on the connection's own serial dispatch
/// queue (blocking socket I/O never runs on Swift's cooperative pool). A lost connection is dropped and the next
/// call connects again; the call that saw it fails with a temporary, clear error.
final class RedisConnection: Sendable {
    /// The raw hiredis context; touched only on `queue` (the Mutex makes the class Sendable, it is never contended).
    private struct Context: ~Copyable {
        var pointer: UnsafeMutablePointer<redisContext>?
    }

    let endpoint: RedisEndpoint
    private let queue: DispatchQueue
    private let context = Mutex(Context(pointer: nil))
    private let scriptSHAs = Mutex<[String: String]>([:])
    /// Commands sent so far (each one round trip), for measurements.
    let commandsSent = Atomic<Int>(0)
    private let connectTimeout: Duration
    private let commandTimeout: Duration

    init(endpoint: RedisEndpoint, connectTimeout: Duration = .seconds(5), commandTimeout: Duration = .seconds(15)) {
        self.endpoint = endpoint
        self.connectTimeout = connectTimeout
        self.commandTimeout = commandTimeout
        queue = DispatchQueue(label: "mlc-redis-\(endpoint.host):\(endpoint.port)")
    }

    deinit {
        context.withLock { context in
            if let pointer = context.pointer { redisFree(pointer) }
            context.pointer = nil
        }
    }

    /// Connects now, on the connection's queue (the caller awaits; no thread of the cooperative pool blocks), so a
    /// wrong address or password fails when the store is opened.
    func connect() async throws {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            queue.async {
                do {
                    try self.context.withLock { context in _ = try self.connected(&context) }
                    continuation.resume()
                } catch {
                    continuation.resume(throwing: error)
                }
            }
        }
    }

    /// Runs one command on the connection's queue.
    func command(_ arguments: [Data]) async throws -> RedisReply {
        commandsSent.add(1, ordering: .relaxed)
        return try await withCheckedThrowingContinuation { continuation in
            queue.async {
                do {
                    let reply = try self.context.withLock { context in
                        try self.send(arguments, on: &context)
                    }
                    continuation.resume(returning: reply)
                } catch {
                    continuation.resume(throwing: error)
                }
            }
        }
    }

    /// Runs a Lua script by its SHA (loaded once per connection), falling back to sending its text when the server
    /// lost its script cache (a restart, SCRIPT FLUSH).
    func evaluate(_ script: String, keys: [String], arguments: [Data]) async throws -> RedisReply {
        let tail = [Data(String(keys.count).utf8)] + keys.map { Data($0.utf8) } + arguments
        if let sha = scriptSHAs.withLock({ $0[script] }) {
            let reply = try await command([Data("EVALSHA".utf8), Data(sha.utf8)] + tail)
            if case .error(let message) = reply, message.hasPrefix("NOSCRIPT") {
                scriptSHAs.withLock { $0[script] = nil }
            } else {
                return reply
            }
        }
        let loaded = try await command([Data("SCRIPT".utf8), Data("LOAD".utf8), Data(script.utf8)])
        if case .string(let sha) = loaded {
            scriptSHAs.withLock { $0[script] = String(decoding: sha, as: UTF8.self) }
        }
        return try await command([Data("EVAL".utf8), Data(script.utf8)] + tail)
    }

    func close() async {
        await withCheckedContinuation { continuation in
            queue.async {
                self.context.withLock { context in
                    if let pointer = context.pointer { redisFree(pointer) }
                    context.pointer = nil
                }
                continuation.resume()
            }
        }
    }

    // MARK: - On the queue

    private static func timeval(_ duration: Duration) -> timeval {
        let parts = duration.components
        return Glibc.timeval(tv_sec: Int(parts.seconds), tv_usec: Int(parts.attoseconds / 1_000_000_000_000))
    }

    private static func errorText(_ pointer: UnsafeMutablePointer<redisContext>) -> String {
        withUnsafeBytes(of: pointer.pointee.errstr) { bytes in
            let text = bytes.prefix(while: { $0 != 0 })
            return String(decoding: text, as: UTF8.self)
        }
    }

    private func connected(_ context: inout Context) throws -> UnsafeMutablePointer<redisContext> {
        if let pointer = context.pointer { return pointer }
        guard let pointer = redisConnectWithTimeout(endpoint.host, Int32(endpoint.port), Self.timeval(connectTimeout))
        else {
            throw ConnectorError(
                .stateUnavailable, kind: .temporary, "cannot connect to the Redis store at \(endpoint): out of memory")
        }
        if pointer.pointee.err != 0 {
            let reason = Self.errorText(pointer)
            redisFree(pointer)
            throw ConnectorError(
                .stateUnavailable, kind: .temporary,
                "cannot connect to the Redis store at \(endpoint) (\(endpoint.redact(reason))); check that redis-server runs there and MLC_STATE names its host and port"
            )
        }
        _ = redisSetTimeout(pointer, Self.timeval(commandTimeout))
        _ = redisEnableKeepAlive(pointer)
        var fresh = Context(pointer: pointer)
        do {
            if let password = endpoint.password {
                let auth = [Data("AUTH".utf8)] + (endpoint.user.map { [Data($0.utf8)] } ?? []) + [Data(password.utf8)]
                if case .error(let message) = try send(auth, on: &fresh) {
                    throw ConnectorError(
                        .stateUnavailable, kind: .configuration,
                        "the Redis store at \(endpoint) refused the credentials (\(endpoint.redact(message).prefix(80))); check the user and password in MLC_STATE"
                    )
                }
            }
            if endpoint.database != 0,
                case .error(let message) = try send(
                    [Data("SELECT".utf8), Data(String(endpoint.database).utf8)], on: &fresh)
            {
                throw ConnectorError(
                    .stateUnavailable, kind: .configuration,
                    "the Redis store at \(endpoint) refused database \(endpoint.database) (\(endpoint.redact(message).prefix(80))); check the /db number in MLC_STATE"
                )
            }
        } catch {
            if let pointer = fresh.pointer { redisFree(pointer) }
            throw error
        }
        // Scripts are loaded again on the new connection's first use when the server restarted.
        context.pointer = fresh.pointer
        return pointer
    }

    /// Sends one command and reads its reply; drops the connection on an I/O or protocol error.
    private func send(_ arguments: [Data], on context: inout Context) throws -> RedisReply {
        let pointer = try connected(&context)
        let buffers = arguments.map { argument -> UnsafeMutablePointer<CChar> in
            let buffer = UnsafeMutablePointer<CChar>.allocate(capacity: max(1, argument.count))
            argument.withUnsafeBytes { bytes in
                if let base = bytes.baseAddress {
                    UnsafeMutableRawPointer(buffer).copyMemory(from: base, byteCount: bytes.count)
                }
            }
            return buffer
        }
        defer { for buffer in buffers { buffer.deallocate() } }
        var argv: [UnsafePointer<CChar>?] = buffers.map { UnsafePointer($0) }
        let lengths = arguments.map(\.count)
        let raw = argv.withUnsafeMutableBufferPointer { argvBuffer in
            lengths.withUnsafeBufferPointer { lengthBuffer in
                redisCommandArgv(pointer, Int32(arguments.count), argvBuffer.baseAddress, lengthBuffer.baseAddress)
            }
        }
        guard let raw else {
            let reason = Self.errorText(pointer)
            redisFree(pointer)
            context.pointer = nil
            throw ConnectorError(
                .stateUnavailable, kind: .temporary,
                "lost the connection to the Redis store at \(endpoint) (\(reason.isEmpty ? "no reply" : endpoint.redact(reason))); check that redis-server is running and reachable. The operation may or may not have been applied; the next one connects again"
            )
        }
        let replyPointer = raw.assumingMemoryBound(to: redisReply.self)
        defer { freeReplyObject(raw) }
        return RedisReply(UnsafePointer(replyPointer))
    }
}
