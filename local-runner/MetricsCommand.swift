import ArgumentParser
import ConnectorCore
import ConnectorRunner
import ConnectorRuntime
import Foundation
import Logging
import ServiceLifecycle
import UnixSignals

/// The Prometheus endpoint of the pull-mode jobs: their step metrics, which each `trigger` adds to the store's
/// counters, and the queue depth per step, read from the store at each scrape. One long-lived instance per store
/// (the `mlc-metrics` Deployment of infra/keda); `run --metrics` serves its own runner's instead.
struct MetricsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "metrics",
        abstract: "Serves the step metrics the trigger jobs kept in the store, and the queue depth, to Prometheus.",
        discussion: """
            GET /metrics reads the store at each scrape (503 when it cannot); GET /healthz answers 200. With \
            --print, prints one scrape and exits.
            """
    )
    @OptionGroup var store: StoreOptions
    @Option(help: ArgumentHelp("Where to serve /metrics.", valueName: "host:port")) var listen = "0.0.0.0:9464"
    @Flag(help: "Print one scrape on stdout and exit.") var print = false

    func run() async throws {
        await guarded {
            let logger = runnerLogger("mlc.metrics")
            let address = try ListenAddress.parse(listen, option: "--listen")
            let url = try store.url()
            let state = try await StateStores.open(url, mode: print ? .readOnly : .readWrite, connections: 2)
            let steps = FunctionCatalog.all.map(\.name)
            if print {
                let text = try await StoredMetrics.scrape(state, steps: steps, logger: logger)
                try await state.close()
                Swift.print(text, terminator: "")
                return
            }
            let server = StoredMetrics.server(
                store: state, steps: steps, host: address.host, port: address.port, logger: logger,
                onListening: { bound in
                    StandardError.write(
                        Data("local-runner metrics: serving http://\(address.host):\(bound)/metrics\n".utf8))
                })
            let group = ServiceGroup(
                configuration: .init(services: [server], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
            try await group.run()
            try await state.close()
        }
    }
}
