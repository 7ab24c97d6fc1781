import ArgumentParser
import ConnectorCore
import ConnectorHTTP
import ConnectorRunner
import ConnectorRuntime
import Foundation
import KnativeAdapter
import Logging
import ServiceLifecycle
import UnixSignals

/// Knative's HTTP front of one step executable (or, with `--dead-letters`, the broker's dead-letter sink).
@main
struct HTTPAdapter: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mlc-http-adapter",
        abstract: "Serves one step to Knative Eventing: a CloudEvent over HTTP in, the step's result as the answer.",
        discussion: """
            Each POST (binary or structured CloudEvent) runs the step once with the event on stdin. The first \
            emitted event is the reply (binary mode); further ones are POSTed to K_SINK first. 400 = bad event \
            (not retried), 422 = failed for good, 5xx = retry. Listens on $PORT (default 8080).

            With --fission it is instead a Fission environment runtime (the `binary` environment's contract on \
            port 8888): Fission specializes it with the function's code (a script such as `exec \
            /usr/local/bin/<step>`), then each request runs that code with the body on stdin and answers its \
            stdout (200), or the same error statuses as above.
            """
    )

    @Option(help: "The step executable to run (or MLC_STEP_EXECUTABLE).") var step: String?
    @Option(
        help:
            "Seconds the step may run before it is killed (or MLC_STEP_TIMEOUT; default 300). With --fission: for code whose functionName is not a step (a step gets its manifest's timeout)."
    ) var timeout: Int?
    @Flag(
        help:
            "Be a Fission environment runtime (port 8888): /specialize, /v2/specialize, then any request runs the code."
    )
    var fission = false
    @Flag(help: "Be the dead-letter sink: keep each event in the store's dead-letter list (MLC_STATE).")
    var deadLetters = false
    @Option(
        help: ArgumentHelp(
            "With --dead-letters: connections to a Redis or PostgreSQL store at most, shared by concurrent requests.",
            discussion: "Opened as needed; a SQLite store is always one connection.")) var storeConnections = 4
    @Option(help: "Address to listen on.") var host = "0.0.0.0"
    @Option(help: "Port (default $PORT, else 8080; 0 picks a free one).") var port: Int?
    @Option(
        help: ArgumentHelp(
            "Serve Prometheus metrics at /metrics on HOST:PORT (or MLC_METRICS_ADDRESS), e.g. 0.0.0.0:9464.",
            discussion:
                "The step's results and durations, its HTTP requests by system and status, rate-limit waits and records, as `local-runner run --metrics` counts them. A port of its own: the events' port is the one Knative routes to.",
            valueName: "host:port")) var metrics: String?

    func run() async throws {
        JSONLogHandler.bootstrap()
        let logger = Logger(label: "mlc.http-adapter")
        let environment = ProcessInfo.processInfo.environment
        guard !(fission && (deadLetters || step != nil)) else {
            throw ValidationError("--fission runs the code Fission specializes it with: drop --step and --dead-letters")
        }
        // Fission's router and fetcher talk to an environment container on 8888.
        let port = self.port ?? (fission ? 8888 : environment["PORT"].flatMap { Int($0) } ?? 8080)
        guard (0...65535).contains(port) else { throw ValidationError("the port must be between 0 and 65535") }
        guard (1...64).contains(storeConnections) else {
            throw ValidationError("--store-connections must be between 1 and 64; got \(storeConnections)")
        }
        let metricsAddress = try (metrics ?? environment["MLC_METRICS_ADDRESS"].flatMap { $0.isEmpty ? nil : $0 })
            .map { try ListenAddress.parse($0, option: "--metrics") }
        let recorder = metricsAddress.map { _ in RunnerMetrics() }
        let transport = AsyncHTTPClientTransport()
        let host = self.host
        let onListening: @Sendable (Int) -> Void = { bound in
            StandardError.write(Data("mlc-http-adapter: listening on http://\(host):\(bound)\n".utf8))
        }
        let handler: EventServer.Handler
        var store: (any StateStore)?
        if fission {
            let runtime = FissionEnvironment(
                environment: environment, timeout: .seconds(try stepTimeout(environment)), logger: logger,
                metrics: recorder)
            try await serve(
                runtime.service(host: host, port: port, onListening: onListening), metrics: recorder,
                at: metricsAddress, logger: logger)
            return
        } else if deadLetters {
            let opened = try await StateStores.open(
                StateStores.url(from: environment), mode: .readWrite, connections: storeConnections)
            store = opened
            let sink = DeadLetterSink(store: opened, logger: logger)
            handler = { headers, body in await sink.handle(headers: headers, body: body) }
        } else {
            guard let path = step ?? environment["MLC_STEP_EXECUTABLE"], !path.isEmpty else {
                throw ValidationError("name the step executable with --step or MLC_STEP_EXECUTABLE")
            }
            let seconds = try stepTimeout(environment)
            guard FileManager.default.isExecutableFile(atPath: path) else {
                throw ValidationError("\(path) is not an executable file")
            }
            var sink: (@Sendable (CloudEvent) async throws -> Void)?
            if let url = environment["K_SINK"], !url.isEmpty {
                let sender = SinkSender(url: url, transport: transport)
                sink = { event in try await sender.send(event) }
            }
            let adapter = StepAdapter(
                executable: URL(fileURLWithPath: path), environment: environment, timeout: .seconds(seconds),
                sink: sink, logger: logger, metrics: recorder)
            handler = { headers, body in await adapter.handle(headers: headers, body: body) }
        }
        try await serve(
            EventServer.service(host: host, port: port, logger: logger, onListening: onListening, handler: handler),
            metrics: recorder, at: metricsAddress, logger: logger)
        await transport.shutdown()
        try await store?.close()
    }

    /// Runs `server` (and the metrics endpoint) until SIGTERM or SIGINT.
    private func serve(
        _ server: any Service, metrics: RunnerMetrics?, at address: (host: String, port: Int)?, logger: Logger
    )
        async throws
    {
        var services = [server]
        if let metrics, let address {
            services.append(metrics.server(host: address.host, port: address.port, logger: logger, refresh: {}))
        }
        let group = ServiceGroup(
            configuration: .init(services: services, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        try await group.run()
    }

    /// Seconds a step (or Fission's code) may run: `--timeout`, else MLC_STEP_TIMEOUT, else 300.
    private func stepTimeout(_ environment: [String: String]) throws -> Int {
        let seconds = timeout ?? environment["MLC_STEP_TIMEOUT"].flatMap { Int($0) } ?? 300
        guard seconds >= 1 else { throw ValidationError("the timeout must be at least 1 second") }
        return seconds
    }
}
