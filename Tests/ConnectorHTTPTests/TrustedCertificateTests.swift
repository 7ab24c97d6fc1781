import ConnectorCore
import ConnectorHTTP
import ConnectorTesting
import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
import Testing

/// A customer's on-premises server (a B1 Service Layer, a self-hosted Acumatica) with a certificate from the
/// customer's own CA: refused by default, trusted once the connection lists that CA, and never with another CA.
@Suite("Trusting a connection's own CA certificate", .serialized)
struct TrustedCertificateTests {
    /// A CA, and a server certificate for 127.0.0.1 signed by it, made with openssl.
    struct PKI {
        let directory: TemporaryDirectory
        var caPEM: String
        var serverCert: String { directory.path + "/server.pem" }
        var serverKey: String { directory.path + "/server.key" }

        init(name: String, subjectAltName: String = "IP:127.0.0.1") throws {
            directory = try TemporaryDirectory()
            let d = directory.path
            try Self.openssl(
                "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "\(d)/ca.key", "-out", "\(d)/ca.pem",
                "-days", "2", "-subj", "/CN=\(name) Test CA")
            try Self.openssl(
                "req", "-newkey", "rsa:2048", "-nodes", "-keyout", "\(d)/server.key", "-out", "\(d)/server.csr",
                "-subj", "/CN=127.0.0.1")
            try "subjectAltName=\(subjectAltName)\n".write(toFile: "\(d)/ext.cnf", atomically: true, encoding: .utf8)
            try Self.openssl(
                "x509", "-req", "-in", "\(d)/server.csr", "-CA", "\(d)/ca.pem", "-CAkey", "\(d)/ca.key",
                "-CAcreateserial", "-out", "\(d)/server.pem", "-days", "2", "-extfile", "\(d)/ext.cnf")
            caPEM = try String(contentsOfFile: "\(d)/ca.pem", encoding: .utf8)
        }

        static func openssl(_ arguments: String...) throws {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
            process.arguments = arguments
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
            try process.run()
            process.waitUntilExit()
            guard process.terminationStatus == 0 else {
                throw ConnectorError(.internalError, "openssl \(arguments.first ?? "") failed")
            }
        }
    }

    /// Answers every request 200 "on-prem" over TLS.
    final class Responder: ChannelInboundHandler, Sendable {
        typealias InboundIn = HTTPServerRequestPart
        typealias OutboundOut = HTTPServerResponsePart

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            guard case .end = unwrapInboundIn(data) else { return }
            var buffer = context.channel.allocator.buffer(capacity: 7)
            buffer.writeString("on-prem")
            let head = HTTPResponseHead(
                version: .http1_1, status: .ok,
                headers: ["content-length": "7", "content-type": "text/plain", "connection": "close"])
            context.write(wrapOutboundOut(.head(head)), promise: nil)
            context.write(wrapOutboundOut(.body(.byteBuffer(buffer))), promise: nil)
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        }
    }

    static func server(_ pki: PKI) async throws -> any Channel {
        let configuration = TLSConfiguration.makeServerConfiguration(
            certificateChain: try NIOSSLCertificate.fromPEMFile(pki.serverCert).map { .certificate($0) },
            privateKey: .privateKey(try NIOSSLPrivateKey(file: pki.serverKey, format: .pem)))
        let context = try NIOSSLContext(configuration: configuration)
        return try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: context))
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                    try channel.pipeline.syncOperations.addHandler(Responder())
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
    }

    static func get(_ transport: any ClosableHTTPTransport, port: Int) async throws -> HTTPResponse {
        try await transport.send(
            HTTPRequest(method: "GET", url: "https://127.0.0.1:\(port)/b1s/v2/", timeout: .seconds(10)))
    }

    /// Both clients a step can use (`MLC_HTTP_CLIENT`), with the connection's trusted certificates.
    static func client(_ name: String, trusting: [String] = []) throws -> any ClosableHTTPTransport {
        try HTTPClients.make(NetworkSettings(trustedCertificates: trusting), environment: ["MLC_HTTP_CLIENT": name])
    }

    @Test("the customer's CA is trusted only where the connection lists it", arguments: HTTPClients.choices)
    func customerCA(client: String) async throws {
        let pki = try PKI(name: "Customer")
        let other = try PKI(name: "Unrelated")
        let channel = try await Self.server(pki)
        let port = channel.localAddress!.port!
        defer { channel.close(promise: nil) }

        // The system's roots alone: refused (never "accept any certificate").
        let plain = try Self.client(client)
        await #expect(throws: (any Error).self) { _ = try await Self.get(plain, port: port) }
        await plain.shutdown()

        // Another CA listed: still refused.
        let wrong = try Self.client(client, trusting: [other.caPEM])
        await #expect(throws: (any Error).self) { _ = try await Self.get(wrong, port: port) }
        await wrong.shutdown()

        // The customer's CA listed: the server is reached.
        let trusting = try Self.client(client, trusting: [pki.caPEM])
        let response = try await Self.get(trusting, port: port)
        await trusting.shutdown()
        #expect(response.status == 200)
        #expect(String(decoding: response.body, as: UTF8.self) == "on-prem")
    }

    @Test(
        "a certificate from the trusted CA for another name is refused: the host is checked, not only the chain",
        arguments: HTTPClients.choices)
    func hostChecked(client: String) async throws {
        let pki = try PKI(name: "Customer", subjectAltName: "DNS:b1.customer.example")
        let channel = try await Self.server(pki)
        let port = channel.localAddress!.port!
        defer { channel.close(promise: nil) }
        let trusting = try Self.client(client, trusting: [pki.caPEM])
        await #expect(throws: (any Error).self) { _ = try await Self.get(trusting, port: port) }
        await trusting.shutdown()
    }

    @Test(
        "something that is not a certificate is a configuration error naming the entry", arguments: HTTPClients.choices)
    func notACertificate(client: String) throws {
        do {
            _ = try Self.client(
                client, trusting: ["-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----"])
            Issue.record("a broken PEM was accepted")
        } catch let error as ConnectorError {
            #expect(error.code == .connectionInvalid)
            #expect(error.message.contains("network.trustedCertificates[0]"))
        }
    }
}
