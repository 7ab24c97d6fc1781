import AsyncHTTPClient
import ConnectorCore
import Foundation
import NIOCore
import NIOHTTP1
import NIOSSL
import Synchronization

/// The default transport: AsyncHTTPClient on SwiftNIO. Redirects are never followed (an API that redirects to
/// another host must not receive our bearer token), every call has a deadline, bodies are capped.
///
/// Chosen over URLSession (libcurl) because it starts faster and uses less memory in a one-shot process
/// (DESIGN §11: 11 ms / 21 MiB against 14-20 ms / 28-34 MiB), and because it does not follow redirects unless told.
package final class AsyncHTTPClientTransport: ClosableHTTPTransport {
    /// Made on the first request: a step that sends none (a mapping, a refused event) never starts the client's
    /// event loop or pays for its shutdown.
    private let client = Mutex<HTTPClient?>(nil)
    private let configuration: HTTPClient.Configuration
    private let maxResponseBytes: Int

    package convenience init(connectTimeout: Duration = .seconds(10), maxResponseBytes: Int = 64 * 1024 * 1024) {
        self.init(tls: nil, connectTimeout: connectTimeout, maxResponseBytes: maxResponseBytes)
    }

    /// `trustedCertificates`: PEM CA certificates of a customer's on-premises servers, trusted *in addition to*
    /// the system's roots (`network.trustedCertificates`). Verification is never turned off.
    package convenience init(
        trustedCertificates: [String], connectTimeout: Duration = .seconds(10),
        maxResponseBytes: Int = 64 * 1024 * 1024
    ) throws {
        var tls: TLSConfiguration?
        if !trustedCertificates.isEmpty {
            var configuration = TLSConfiguration.makeClientConfiguration()
            configuration.certificateVerification = .fullVerification
            configuration.additionalTrustRoots = [.certificates(try Self.certificates(trustedCertificates))]
            tls = configuration
        }
        self.init(tls: tls, connectTimeout: connectTimeout, maxResponseBytes: maxResponseBytes)
    }

    private init(tls: TLSConfiguration?, connectTimeout: Duration, maxResponseBytes: Int) {
        var configuration = HTTPClient.Configuration(
            tlsConfiguration: tls,
            redirectConfiguration: .disallow,
            timeout: .init(connect: .nanoseconds(Int64(connectTimeout.timeInterval * 1e9)), read: .seconds(120))
        )
        configuration.connectionPool.idleTimeout = .seconds(30)
        self.configuration = configuration
        self.maxResponseBytes = maxResponseBytes
    }

    /// For a one-shot step process, called first thing in its main: NIO's shared event loop group and blocking pool
    /// get one thread each instead of one per core (a step sends its requests one after the other; on a 64-core node
    /// the default is 128 threads started for a 20 ms process). The `NIO_SINGLETON_*` environment variables still
    /// decide where set. Long-lived processes (the runner, the adapters) keep NIO's defaults.
    package static func configureForOneShotProcess() {
        let environment = ProcessInfo.processInfo.environment
        if environment["NIO_SINGLETON_GROUP_LOOP_COUNT"] == nil { NIOSingletons.groupLoopCountSuggestion = 1 }
        if environment["NIO_SINGLETON_BLOCKING_POOL_THREAD_COUNT"] == nil {
            NIOSingletons.blockingPoolThreadCountSuggestion = 1
        }
    }

    private var httpClient: HTTPClient {
        client.withLock { client in
            if let client { return client }
            let made = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
            client = made
            return made
        }
    }

    /// The certificates of PEM texts; a configuration error naming the entry that does not parse.
    package static func certificates(_ pems: [String]) throws -> [NIOSSLCertificate] {
        var result: [NIOSSLCertificate] = []
        for (index, pem) in pems.enumerated() {
            do {
                let parsed = try NIOSSLCertificate.fromPEMBytes(Array(pem.utf8))
                guard !parsed.isEmpty else { throw NIOSSLError.failedToLoadCertificate }
                result += parsed
            } catch {
                throw ConnectorError(
                    .connectionInvalid,
                    "network.trustedCertificates[\(index)] is not a PEM certificate (-----BEGIN CERTIFICATE----- …)")
            }
        }
        return result
    }

    package func send(_ request: HTTPRequest) async throws -> HTTPResponse {
        // Whatever the credential's source, the redactor knows it before it leaves the process.
        request.registerCredentials()
        var outgoing = HTTPClientRequest(url: request.url)
        outgoing.method = HTTPMethod(rawValue: request.method)
        for header in request.headers {
            outgoing.headers.add(name: header.name, value: header.value)
        }
        if let body = request.body {
            outgoing.body = .bytes(ByteBuffer(bytes: body))
        }
        let timeout = TimeAmount.nanoseconds(Int64(request.timeout.timeInterval * 1e9))
        do {
            // AHC's deadline ends with the response head; the body gets the same deadline here, so a server
            // that announces a body and then stalls cannot hang the step.
            let deadline = ContinuousClock.now + request.timeout
            let response = try await httpClient.execute(outgoing, timeout: timeout)
            let limit = maxResponseBytes
            let buffer = try await withThrowingTaskGroup(of: ByteBuffer?.self) { group in
                group.addTask { try await response.body.collect(upTo: limit) }
                group.addTask {
                    try await Task.sleep(until: deadline, clock: .continuous)
                    return nil
                }
                defer { group.cancelAll() }
                guard let first = try await group.next(), let body = first else {
                    throw TransportError(phase: .timeout, detail: "the response body did not arrive in time")
                }
                return body
            }
            return HTTPResponse(
                status: Int(response.status.code),
                headers: response.headers.map { ($0.name, $0.value) },
                body: Data(buffer.readableBytesView)
            )
        } catch let error as HTTPClientError {
            throw Self.classify(error)
        } catch let error as TransportError {
            throw error
        } catch is CancellationError {
            throw CancellationError()
        } catch {
            throw Self.classifyOther(error)
        }
    }

    /// Closes the connection pool; call once before the process exits.
    package func shutdown() async {
        let made = client.withLock { client in
            defer { client = nil }
            return client
        }
        try? await made?.shutdown()
    }

    private static func classify(_ error: HTTPClientError) -> TransportError {
        if [
            HTTPClientError.connectTimeout, .socksHandshakeTimeout, .tlsHandshakeTimeout, .invalidURL, .emptyHost,
            .emptyScheme,
        ].contains(error) {
            return TransportError(phase: .connect, detail: "could not connect (\(error.shortDescription))")
        }
        if [HTTPClientError.deadlineExceeded, .readTimeout, .writeTimeout].contains(error) {
            return TransportError(phase: .timeout, detail: "no complete response in time")
        }
        return TransportError(phase: .exchange, detail: error.shortDescription)
    }

    private static func classifyOther(_ error: any Error) -> TransportError {
        let name = String(describing: type(of: error))
        let text = String(describing: error)
        // A refused or unreachable connection never carried the request.
        if name.contains("NIOConnectionError") || text.contains("connectionRefused")
            || text.contains("Connection refused") || text.contains("ECONNREFUSED")
        {
            return TransportError(phase: .connect, detail: "connection refused")
        }
        return TransportError(phase: .exchange, detail: "\(name)")
    }
}

extension HTTPClientError {
    fileprivate var shortDescription: String {
        String(describing: self).prefix(120).description
    }
}
