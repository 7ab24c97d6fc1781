import Foundation
import Hummingbird
import Logging
import Synchronization

/// One running Hummingbird application bound to a loopback port.
final class RunningServer: Sendable {
    let host: String
    let port: Int
    private let task: Task<Void, any Error>

    private init(host: String, port: Int, task: Task<Void, any Error>) {
        self.host = host
        self.port = port
        self.task = task
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
        // An unstructured (not detached) task owns the server and the app's background work; `stop()` cancels
        // it and waits for both to end.
        let task = Task {
            defer { continuation.yield(false) }
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { await app.runBackground() }
                try await application.run()
                group.cancelAll()
            }
        }
        var started = false
        for await event in events {
            started = event
            break
        }
        continuation.finish()
        guard started else {
            let failure: any Error
            do {
                try await task.value
                failure = SimulatorStartError(message: "\(app.name) stopped before it started listening")
            } catch {
                failure = error
            }
            throw failure
        }
        let boundPort = port != 0 ? port : capture.port
        guard let boundPort else {
            task.cancel()
            _ = try? await task.value
            throw SimulatorStartError(message: "\(app.name) started but its port could not be determined")
        }
        logger.info("\(app.name) simulator listening", metadata: ["url": "http://\(host):\(boundPort)"])
        return RunningServer(host: host, port: boundPort, task: task)
    }

    /// Stops the server and waits until it has shut down.
    func stop() async {
        task.cancel()
        _ = try? await task.value
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
