import ConnectorCore
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import ServiceLifecycle

/// The HTTP server of the adapter: every POST (any path) is one delivery; `GET /healthz` answers 200.
package enum EventServer {
    package typealias Handler = @Sendable ([(name: String, value: String)], Data) async -> StepAdapter.Answer
    /// Events larger than this are refused with 413 (the steps' inputs are one page or one record).
    package static let maxBodyBytes = 8 * 1024 * 1024

    /// The server as a service for a `ServiceGroup`; `onListening` gets the bound port (for `--port 0`).
    package static func service(
        host: String, port: Int, logger: Logger, onListening: @escaping @Sendable (Int) -> Void,
        handler: @escaping Handler
    ) -> any Service {
        serve(Responder(handler: handler), host: host, port: port, logger: logger, onListening: onListening)
    }

    /// A Hummingbird server for `responder`, reporting the bound port (for port 0) once it listens.
    static func serve<R: HTTPResponder>(
        _ responder: R, host: String, port: Int, logger: Logger, onListening: @escaping @Sendable (Int) -> Void
    ) -> any Service where R.Context == BasicRequestContext {
        Application(
            responder: responder,
            configuration: ApplicationConfiguration(address: .hostname(host, port: port), serverName: nil),
            onServerRunning: { channel in onListening(channel.localAddress?.port ?? port) },
            logger: logger
        )
    }

    private struct Responder: HTTPResponder {
        typealias Context = BasicRequestContext
        let handler: Handler

        func respond(to request: Request, context: BasicRequestContext) async throws -> Response {
            if request.method == .get, request.uri.path == "/healthz" {
                return Response(status: .ok, body: ResponseBody(byteBuffer: ByteBuffer(string: "ok")))
            }
            guard request.method == .post else {
                return EventServer.response(
                    .error(405, code: "adapter.method", message: "deliver events with POST", retryable: false))
            }
            guard let body = await EventServer.body(of: request) else { return EventServer.tooLarge }
            let headers = request.headers.map { (name: $0.name.canonicalName, value: $0.value) }
            return EventServer.response(await handler(headers, body))
        }

    }

    /// The request's body; nil when it is larger than ``maxBodyBytes`` (answer ``tooLarge``).
    static func body(of request: Request) async -> Data? {
        guard let buffer = try? await request.body.collect(upTo: maxBodyBytes) else { return nil }
        return Data(buffer.readableBytesView)
    }

    static var tooLarge: Response {
        response(
            .error(
                413, code: "event.too_large", message: "the request is larger than \(maxBodyBytes) bytes",
                retryable: false))
    }

    /// An answer as a Hummingbird response.
    static func response(_ answer: StepAdapter.Answer) -> Response {
        var fields = HTTPFields()
        for (name, value) in answer.headers {
            if let field = HTTPField.Name(name) { fields.append(HTTPField(name: field, value: value)) }
        }
        return Response(
            status: .init(code: answer.status), headers: fields,
            body: answer.body.isEmpty ? ResponseBody() : ResponseBody(byteBuffer: ByteBuffer(bytes: answer.body)))
    }
}
