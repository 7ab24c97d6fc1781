import CNIOBoringSSL
import ConnectorCore
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// The TLS client settings of a `SocketHTTPTransport`, on the BoringSSL that swift-nio-ssl already links into every
/// executable (so the lighter transport loads no other TLS library): TLS 1.2 or later, the peer's certificate chain
/// verified against the system's roots (the same bundle NIOSSL loads on Linux) plus the connection's
/// `network.trustedCertificates`, and its name checked against the host. Verification is never turned off.
final class TLSContext: Sendable {
    /// The `SSL_CTX`, configured once in `init` and only read after: BoringSSL allows `SSL_new` on one context from
    /// several threads at once. Freed in `deinit`.
    nonisolated(unsafe) private let context: OpaquePointer

    static let rootFiles = ["/etc/ssl/certs/ca-certificates.crt", "/etc/pki/tls/certs/ca-bundle.crt"]
    static let rootDirectory = "/etc/ssl/certs"

    init(trustedCertificates: [String]) throws {
        guard let context = SSL_CTX_new(TLS_method()) else {
            throw ConnectorError(.connectionInvalid, "TLS could not be set up (\(Self.errorStack()))")
        }
        self.context = context
        SSL_CTX_set_min_proto_version(context, UInt16(TLS1_2_VERSION))
        SSL_CTX_set_verify(context, SSL_VERIFY_PEER, nil)
        let file = Self.rootFiles.first { FileManager.default.fileExists(atPath: $0) }
        var isDirectory: ObjCBool = false
        let directory =
            FileManager.default.fileExists(atPath: Self.rootDirectory, isDirectory: &isDirectory)
                && isDirectory.boolValue
            ? Self.rootDirectory : nil
        if file != nil || directory != nil {
            _ = SSL_CTX_load_verify_locations(context, file, directory)
        }
        let store = SSL_CTX_get_cert_store(context)
        for (index, pem) in trustedCertificates.enumerated() {
            let certificates = try Self.certificates(pem, index: index)
            for certificate in certificates {
                X509_STORE_add_cert(store, certificate)
                X509_free(certificate)
            }
        }
    }

    /// Checks that every entry of `network.trustedCertificates` holds a certificate, without loading the roots.
    static func validate(_ trustedCertificates: [String]) throws {
        for (index, pem) in trustedCertificates.enumerated() {
            for certificate in try certificates(pem, index: index) { X509_free(certificate) }
        }
    }

    deinit {
        SSL_CTX_free(context)
    }

    /// The certificates of one PEM text (a bundle may hold several).
    private static func certificates(_ pem: String, index: Int) throws -> [OpaquePointer] {
        var bytes = Array(pem.utf8)
        let parsed = bytes.withUnsafeMutableBytes { raw -> [OpaquePointer] in
            guard let bio = BIO_new_mem_buf(raw.baseAddress, raw.count) else { return [] }
            defer { BIO_free(bio) }
            var result: [OpaquePointer] = []
            while let certificate = PEM_read_bio_X509(bio, nil, nil, nil) {
                result.append(certificate)
            }
            ERR_clear_error()
            return result
        }
        guard !parsed.isEmpty else {
            throw ConnectorError(
                .connectionInvalid,
                "network.trustedCertificates[\(index)] is not a PEM certificate (-----BEGIN CERTIFICATE----- …)")
        }
        return parsed
    }

    /// Runs the handshake on a connected socket; `.connect` when it fails (nothing of the request was sent).
    func handshake(descriptor: Int32, host: String, deadline: ContinuousClock.Instant) throws -> TLSSession {
        guard let ssl = SSL_new(context) else {
            throw TransportError(phase: .connect, detail: "TLS could not be set up (\(Self.errorStack()))")
        }
        let session = TLSSession(ssl: ssl)
        do {
            SSL_set_fd(ssl, descriptor)
            if SocketConnection.isIPAddress(host) {
                X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), host)
            } else {
                SSL_set_tlsext_host_name(ssl, host)
                SSL_set1_host(ssl, host)
            }
            while true {
                ERR_clear_error()
                let result = SSL_connect(ssl)
                if result == 1 { return session }
                let error = SSL_get_error(ssl, result)
                if error == SSL_ERROR_WANT_READ || error == SSL_ERROR_WANT_WRITE {
                    let events = Int16(error == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT)
                    guard try SocketConnection.wait(descriptor, for: events, until: deadline) else {
                        throw TransportError(phase: .timeout, detail: "TLS handshake did not finish in time")
                    }
                    continue
                }
                let verify = SSL_get_verify_result(ssl)
                if verify != X509_V_OK {
                    let reason = String(cString: X509_verify_cert_error_string(Int(verify)))
                    throw TransportError(phase: .connect, detail: "TLS certificate of \(host) refused (\(reason))")
                }
                throw TransportError(
                    phase: .connect, detail: "TLS handshake with \(host) failed (\(Self.errorStack()))")
            }
        } catch {
            session.close()
            throw error
        }
    }

    static func errorStack() -> String {
        var reasons: [String] = []
        while case let code = ERR_get_error(), code != 0 {
            var buffer = [CChar](repeating: 0, count: 256)
            ERR_error_string_n(code, &buffer, buffer.count)
            reasons.append(String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))
        }
        return reasons.isEmpty ? "no detail" : reasons.joined(separator: "; ")
    }
}

/// One TLS session over a connection's socket. Like its `SocketConnection`, used by one exchange at a time; the
/// `SSL` is freed by `close`.
struct TLSSession: Sendable {
    nonisolated(unsafe) let ssl: OpaquePointer

    func write(_ bytes: [UInt8], from offset: Int, descriptor: Int32, deadline: ContinuousClock.Instant) throws -> Int {
        while true {
            ERR_clear_error()
            let written = bytes.withUnsafeBytes { raw in
                SSL_write(ssl, raw.baseAddress! + offset, Int32(bytes.count - offset))
            }
            if written > 0 { return Int(written) }
            try wait(after: written, descriptor: descriptor, deadline: deadline, sending: true)
        }
    }

    func read(into buffer: inout [UInt8], limit: Int, descriptor: Int32, deadline: ContinuousClock.Instant) throws
        -> Int
    {
        var chunk = [UInt8](repeating: 0, count: limit)
        while true {
            ERR_clear_error()
            let count = chunk.withUnsafeMutableBytes { SSL_read(ssl, $0.baseAddress, Int32(limit)) }
            if count > 0 {
                buffer.append(contentsOf: chunk[0..<Int(count)])
                return Int(count)
            }
            let error = SSL_get_error(ssl, count)
            // The peer's close_notify, or a close without one: the end of the stream. A body cut short is caught by
            // its framing (Content-Length, chunked), as with plain TCP.
            if error == SSL_ERROR_ZERO_RETURN || (error == SSL_ERROR_SYSCALL && ERR_peek_error() == 0) { return 0 }
            try wait(after: count, descriptor: descriptor, deadline: deadline, sending: false)
        }
    }

    private func wait(after result: Int32, descriptor: Int32, deadline: ContinuousClock.Instant, sending: Bool) throws {
        let error = SSL_get_error(ssl, result)
        guard error == SSL_ERROR_WANT_READ || error == SSL_ERROR_WANT_WRITE else {
            throw TransportError(
                phase: .exchange,
                detail: "TLS \(sending ? "write" : "read") failed (\(TLSContext.errorStack()))")
        }
        let events = Int16(error == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT)
        guard try SocketConnection.wait(descriptor, for: events, until: deadline) else {
            throw TransportError(
                phase: .timeout,
                detail: sending ? "the request could not be sent in time" : "no complete response in time")
        }
    }

    func close() {
        SSL_free(ssl)
    }
}
