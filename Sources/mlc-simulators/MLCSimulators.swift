import ArgumentParser
import ConnectorSimulators
import Foundation
import Logging

/// `mlc-simulators`: runs the JAGGAER ONE, Microsoft Entra ID, Business Central and SAP Business One simulators.
@main
struct MLCSimulators: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mlc-simulators",
        abstract:
            "Simulated JAGGAER ONE, Microsoft Entra ID, Business Central and SAP Business One APIs for ml-connector.",
        subcommands: [Serve.self],
        defaultSubcommand: Serve.self
    )
}

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract:
            "Start all simulators, print one JSON object with their URLs and credentials, run until SIGINT/SIGTERM."
    )

    @Option(help: "Number of JAGGAER invoices in the demo tenant.")
    var invoices: Int = 300

    @Option(help: "Seed of the demo tenant generator.")
    var seed: UInt64 = 42

    @Option(help: "Address to bind (loopback only in tests).")
    var host: String = "127.0.0.1"

    @Option(help: "JAGGAER (and Keycloak) port; 0 picks a free one.")
    var jaggaerPort: Int = 0

    @Option(help: "Entra ID port; 0 picks a free one.")
    var entraPort: Int = 0

    @Option(help: "Business Central port; 0 picks a free one.")
    var bcPort: Int = 0

    @Option(help: "SAP Business One Service Layer port; 0 picks a free one.")
    var b1Port: Int = 0

    @Option(help: "SAP Business One session timeout in minutes (SessionTimeout).")
    var b1SessionTimeout: Int = 30

    @Option(help: "Lifetime in seconds of Keycloak and Entra access tokens.")
    var tokenLifetime: Int = 300

    @Option(help: "Business Central requests allowed per token per 5 minutes.")
    var rateLimit: Int = 6_000

    @Option(help: "Log level on stderr (trace, debug, info, notice, warning, error, critical).")
    var logLevel: String = "info"

    func validate() throws {
        guard invoices >= 0 else { throw ValidationError("--invoices must not be negative") }
        guard tokenLifetime > 0 else { throw ValidationError("--token-lifetime must be positive") }
        guard b1SessionTimeout > 0 else { throw ValidationError("--b1-session-timeout must be positive") }
        for port in [jaggaerPort, entraPort, bcPort, b1Port] where !(0...65_535).contains(port) {
            throw ValidationError("ports must be between 0 and 65535")
        }
        guard Logger.Level(rawValue: logLevel) != nil else { throw ValidationError("unknown --log-level \(logLevel)") }
    }

    func run() async throws {
        let level = Logger.Level(rawValue: logLevel) ?? .info
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        var logger = Logger(label: "mlc-simulators")
        logger.logLevel = level

        let tenant = DemoTenant.generate(invoiceCount: invoices, seed: seed)
        let options = SimulatorHost.Options(
            host: host, jaggaerPort: jaggaerPort, entraPort: entraPort, businessCentralPort: bcPort,
            sapBusinessOnePort: b1Port, sapBusinessOneSessionTimeout: b1SessionTimeout,
            jaggaerTokenLifetime: tokenLifetime, entraTokenLifetime: tokenLifetime, rateLimit: rateLimit,
            logger: logger)
        let simulators = try await SimulatorHost.start(tenant: tenant, options: options)

        // Exactly one JSON object on stdout, then flush: callers read it to find the ports.
        FileHandle.standardOutput.write(Data(simulators.connectionInfo.serialized() + [0x0A]))
        logger.info("simulators running; send SIGINT or SIGTERM to stop")

        let signal = await ShutdownSignal.wait()
        logger.info("received signal \(signal), shutting down")
        await simulators.shutdown()
        logger.info("simulators stopped")
    }
}

/// Waits for SIGINT or SIGTERM.
enum ShutdownSignal {
    static func wait() async -> Int32 {
        let signals: [Int32] = [SIGINT, SIGTERM]
        for number in signals { signal(number, SIG_IGN) }
        let (stream, continuation) = AsyncStream<Int32>.makeStream()
        let sources = signals.map { number in
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler { continuation.yield(number) }
            source.resume()
            return source
        }
        var received: Int32 = SIGTERM
        for await number in stream {
            received = number
            break
        }
        for source in sources { source.cancel() }
        return received
    }
}
