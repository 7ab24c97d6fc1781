import ConnectorCore
import ConnectorFlows
import ConnectorRuntime
import Foundation
import Hummingbird
import Logging
import NIOCore
import ServiceLifecycle
import Synchronization

/// The HTTP front of `handle-erp-notification`: turns each request on `/webhooks/{connection}/{system}` into a
/// `notification.received` event, runs the step as its own process, stores the events it emits in the runner's
/// queue and only then answers (an answer the ERP takes as "delivered" comes after a durable write).
///
/// Answers: the step's own reply (200 with the token for a BC handshake, 202 for an accepted notification);
/// 401 for a request that fails authentication; 404 for an unknown connection, path or system; 400 for an
/// unreadable one; 413 for a body over 4 MiB; 429 when too many requests are being handled at once, and 503 when
/// the step or the store failed: Business Central and Acumatica deliver again after 408, 429 and 5xx. (Business
/// Central deletes a subscription after any other 4xx, which a genuine notification never gets.)
package final class WebhookGateway: Sendable {
    package let runner: Runner
    package let binDirectory: URL
    package let environment: [String: String]
    package let logPath: String?
    package let logger: Logger
    /// Requests handled at once; more are answered 429 (the ERPs retry them).
    package let maxConcurrent: Int
    private let inFlight = Mutex(0)

    package static let function = "handle-erp-notification"
    package static let maxBodyBytes = NotificationErrors.maxBodyBytes
    /// The step's time (the BC handshake must be answered within 5 s).
    package static let timeout: Duration = .seconds(4)

    package init(
        runner: Runner, binDirectory: URL, environment: [String: String], logPath: String?, logger: Logger,
        maxConcurrent: Int = 8
    ) {
        self.runner = runner
        self.binDirectory = binDirectory
        self.environment = environment
        self.logPath = logPath
        self.logger = logger
        self.maxConcurrent = maxConcurrent
    }

    package struct Answer: Sendable, Equatable {
        package var status: Int
        package var contentType: String? = nil
        package var body: String = ""
        package var retryAfter: Int? = nil

        package static func error(_ status: Int, _ code: String, _ message: String, retryAfter: Int? = nil) -> Answer {
            let body = (try? JSONCoding.encode(["error": ["code": code, "message": message]])).map {
                String(decoding: $0, as: UTF8.self)
            }
            return Answer(status: status, contentType: "application/json", body: body ?? "", retryAfter: retryAfter)
        }
    }

    /// Handles one request; never throws.
    package func handle(method: String, path: String, query: [String: String], headers: [String: String], body: Data?)
        async -> Answer
    {
        if path == "/healthz" { return Answer(status: 200, contentType: "text/plain", body: "ok") }
        let parts = path.split(separator: "/", omittingEmptySubsequences: true).map(String.init)
        guard parts.count == 3, parts[0] == "webhooks", (try? StateKeys.validateConnectionId(parts[1])) != nil,
            Systems.notificationSystems.contains(parts[2])
        else {
            return .error(
                404, "webhook.not_found",
                "expected /webhooks/{connection}/\(Systems.notificationSystems.joined(separator: "|"))")
        }
        guard let body else {
            return .error(413, "webhook.too_large", "the body is larger than \(Self.maxBodyBytes) bytes")
        }
        guard acquire() else {
            return .error(429, "webhook.busy", "too many notifications at once; send again", retryAfter: 5)
        }
        defer { release() }
        let request = WebhookRequest(
            system: parts[2], method: method, query: query, headers: headers,
            body: body.isEmpty ? nil : String(decoding: body, as: UTF8.self))
        let event: CloudEvent
        let input: Data
        do {
            var received = CloudEvent(
                source: "urn:mlconnector:webhook-gateway", type: EventType.notificationReceived,
                data: try JSONValue(encoding: request), connection: parts[1], flow: "notifications")
            // A caller's W3C trace context continues in the step (an invalid one is ignored, as the spec says).
            if let parent = headers["traceparent"], TraceContext(traceparent: parent) != nil {
                received.traceparent = parent
                received.tracestate = headers["tracestate"].map { String($0.prefix(512)) }
            }
            event = received
            input = try JSONCoding.encode(event)
        } catch {
            return .error(400, "webhook.malformed", "the request cannot be represented as an event")
        }
        let invocation: StepInvocation
        do {
            invocation = try await StepInvocation.run(
                input, executable: binDirectory.appendingPathComponent(Self.function), environment: environment,
                stderr: .file(logPath), timeout: Self.timeout)
        } catch {
            logger.error("cannot start \(Self.function)", metadata: ["error": "\(ConnectorError.wrap(error).message)"])
            return .error(
                503, "webhook.unavailable", "the notification could not be handled; send again", retryAfter: 30)
        }
        let (output, result) = (invocation.output, invocation.result)
        logger.info(
            "webhook",
            metadata: [
                "connection": "\(parts[1])", "system": "\(parts[2])", "exit": "\(output.exitCode)",
                "status": "\(result?.status.rawValue ?? "crashed")", "code": "\(result?.error?.code ?? "-")",
                "events": "\(result?.events.count ?? 0)",
            ])
        switch (output.signaled, output.exitCode, result) {
        case (false, 0, let result?):
            do {
                try await runner.submit(result.events)
            } catch {
                return .error(
                    503, "webhook.unavailable", "the notification could not be stored; send again", retryAfter: 30)
            }
            let reply = result.reply ?? HTTPReply(status: 202)
            return Answer(status: reply.status, contentType: reply.contentType, body: reply.body ?? "")
        case (false, 65, let result):
            let code = result?.error?.code ?? "webhook.malformed"
            let message = result?.error?.message ?? "bad request"
            switch code {
            case NotificationHandler.Code.unauthenticated.rawValue: return .error(401, code, message)
            case NotificationHandler.Code.notConfigured.rawValue: return .error(404, code, message)
            default: return .error(400, code, message)
            }
        case (false, 78, let result) where result?.error?.code == ConnectorError.Code.connectionUnknown.rawValue:
            return .error(404, "connection.unknown", "no such connection")
        default:
            return .error(
                503, "webhook.unavailable", "the notification could not be handled; send again", retryAfter: 30)
        }
    }

    private func acquire() -> Bool {
        inFlight.withLock { count in
            guard count < maxConcurrent else { return false }
            count += 1
            return true
        }
    }

    private func release() { inFlight.withLock { $0 -= 1 } }

    /// The gateway's HTTP server on `host:port`, to run in a `ServiceGroup`. Stop it with the group's graceful
    /// shutdown: it stops accepting, finishes the requests in flight (their events reach the queue) and ends.
    /// Cancelling it instead can drop a connection accepted in that instant, which NIO traps on
    /// (apple/swift-nio#2637).
    package func server(host: String, port: Int) -> any Service {
        let logger = self.logger
        return Application(
            responder: GatewayResponder(gateway: self),
            configuration: ApplicationConfiguration(address: .hostname(host, port: port), serverName: nil),
            onServerRunning: { channel in
                logger.info(
                    "webhook gateway listening",
                    metadata: ["url": "http://\(host):\(channel.localAddress?.port ?? port)"])
            },
            logger: logger
        )
    }
}

private struct GatewayResponder: HTTPResponder {
    typealias Context = BasicRequestContext
    let gateway: WebhookGateway

    func respond(to request: Request, context: BasicRequestContext) async throws -> Response {
        var headers: [String: String] = [:]
        for field in request.headers {
            let name = field.name.canonicalName
            headers[name] = headers[name].map { $0 + ", " + field.value } ?? field.value
        }
        var query: [String: String] = [:]
        for (name, value) in request.uri.queryParameters { query[String(name)] = String(value) }
        let body: Data?
        do {
            let buffer = try await request.body.collect(upTo: WebhookGateway.maxBodyBytes)
            body = Data(buffer.readableBytesView)
        } catch {
            body = nil
        }
        let answer = await gateway.handle(
            method: request.method.rawValue, path: request.uri.path, query: query, headers: headers, body: body)
        var fields = HTTPFields()
        if let contentType = answer.contentType { fields[.contentType] = contentType }
        if let retryAfter = answer.retryAfter { fields[.retryAfter] = String(retryAfter) }
        return Response(
            status: .init(code: answer.status), headers: fields,
            body: answer.body.isEmpty ? ResponseBody() : ResponseBody(byteBuffer: ByteBuffer(string: answer.body)))
    }
}
