import Foundation
import Hummingbird
import Logging
import ServiceLifecycle
import Synchronization

/// One running Hummingbird application bound to a loopback port, with the app's background work (webhook
/// deliveries).
final class RunningServer: Sendable {
    let host: String
    let port: Int
    private let serviceGroup: ServiceGroup
    private let server: Task<Void, any Error>
    private let background: Task<Void, Never>

    private init(
        host: String, port: Int, serviceGroup: ServiceGroup, server: Task<Void, any Error>,
        background: Task<Void, Never>
    ) {
        self.host = host
        self.port = port
        self.serviceGroup = serviceGroup
        self.server = server
        self.background = background
    }

    /// `http://host:port`.
    var baseURL: String { "http://\(host):\(port)" }

    /// Starts `app` on `host:port` (port 0 = ephemeral) and returns once it accepts connections.
    static func start(app: any SimulatorApp, host: String, port: Int, logger: Logger) async throws -> RunningServer {
        let capture = PortCapture()
        var serverLogger = logger
        serverLogger.handler = PortCapturingLogHandler(inner: logger.handler, capture: capture)
        let (events, continuation) = AsyncStream<Bool>.makeStream()
        let application = Application(
            responder: SimulatorResponder(app: app),
            configuration: ApplicationConfiguration(address: .hostname(host, port: port), serverName: nil),
            onServerRunning: { _ in continuation.yield(true) },
            logger: serverLogger
        )
        let serviceGroup = ServiceGroup(configuration: .init(services: [application], logger: serverLogger))
        // Unstructured (not detached) tasks own the app's background work and the server; `stop()` ends both and
        // waits for them. The server starts once the background work is ready.
        let (readiness, ready) = AsyncStream<Void>.makeStream()
        let background = Task {
            await app.runBackground {
                ready.yield()
                ready.finish()
            }
            ready.finish()
        }
        for await _ in readiness { break }
        let server = Task {
            defer { continuation.yield(false) }
            try await serviceGroup.run()
        }
        var started = false
        for await event in events {
            started = event
            break
        }
        continuation.finish()
        guard started else {
            background.cancel()
            await background.value
            let failure: any Error
            do {
                try await server.value
                failure = SimulatorStartError(message: "\(app.name) stopped before it started listening")
            } catch {
                failure = error
            }
            throw failure
        }
        let running = RunningServer(
            host: host, port: port != 0 ? port : capture.port ?? 0, serviceGroup: serviceGroup, server: server,
            background: background)
        guard running.port != 0 else {
            await running.stop()
            throw SimulatorStartError(message: "\(app.name) started but its port could not be determined")
        }
        logger.info("\(app.name) simulator listening", metadata: ["url": "http://\(host):\(running.port)"])
        return running
    }

    /// Stops the background work, then the server, and waits until both have ended. The server shuts down
    /// gracefully: cancelling its task instead can drop a connection accepted in that instant, which NIO traps
    /// on ("Deinited NIOAsyncWriter without calling finish()", apple/swift-nio#2637). A server still busy after
    /// 10 s is cancelled.
    func stop() async {
        background.cancel()
        await background.value
        await serviceGroup.triggerGracefulShutdown()
        let server = self.server
        await withTaskGroup(of: Bool.self) { group in
            group.addTask {
                _ = try? await server.value
                return true
            }
            group.addTask {
                try? await Task.sleep(for: .seconds(10))
                return false
            }
            if await group.next() == false { server.cancel() }
            group.cancelAll()
        }
    }
}

/// A simulator failed to start.
package struct SimulatorStartError: Error, CustomStringConvertible {
    package let message: String
    package var description: String { message }
}

/// Holds the port read from Hummingbird's start-up log line.
private final class PortCapture: Sendable {
    private let value = Mutex<Int?>(nil)
    var port: Int? { value.withLock { $0 } }
    func set(_ port: Int) { value.withLock { $0 = port } }
}

/// Forwards to the caller's log handler and reads the bound port from Hummingbird's
/// "Server started and listening on HOST:PORT" message. Hummingbird exposes the port only through the NIO
/// channel passed to `onServerRunning`, and reading it there needs NIOCore, which this target does not depend
/// on; the log line is emitted by every Hummingbird 2.x release.
private struct PortCapturingLogHandler: LogHandler {
    var inner: any LogHandler
    let capture: PortCapture

    var metadataProvider: Logger.MetadataProvider? {
        get { inner.metadataProvider }
        set { inner.metadataProvider = newValue }
    }

    var metadata: Logger.Metadata {
        get { inner.metadata }
        set { inner.metadata = newValue }
    }

    var logLevel: Logger.Level {
        get { min(inner.logLevel, .info) }
        set { inner.logLevel = newValue }
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { inner[metadataKey: key] }
        set { inner[metadataKey: key] = newValue }
    }

    func log(event: LogEvent) {
        let text = event.message.description
        let marker = "Server started and listening on "
        if let range = text.range(of: marker) {
            let address = text[range.upperBound...]
            if let colon = address.lastIndex(of: ":"), let port = Int(address[address.index(after: colon)...]) {
                capture.set(port)
            }
        }
        var event = event
        // Stopping a simulator cancels its task; Hummingbird then reports the cancelled child channels at error
        // level although nothing went wrong.
        if event.level >= .error, text.contains("CancellationError") { event.level = .debug }
        if event.level >= inner.logLevel { inner.log(event: event) }
    }
}
