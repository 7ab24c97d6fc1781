import ArgumentParser
import ConnectorCore
import ConnectorRunner
import ConnectorRuntime
import ConnectorSecurity
import Foundation
import Logging

@main
struct LocalRunner: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "local-runner",
        abstract: "Runs ml-connector's flow steps on one machine: demo, run, invoke, connections, audit.",
        discussion: """
            State lives in the store named by MLC_STATE (default sqlite:.mlc/state.sqlite); secrets are sealed with \
            the key in MLC_MASTER_KEY (create one with `local-runner keys generate`).
            """,
        subcommands: [
            Demo.self, Run.self, Invoke.self, Keys.self, Connections.self, Audit.self, Review.self, Approve.self,
            DeadLetters.self,
            Replay.self, Ping.self, Functions.self, Schedule.self, Bench.self, Chaos.self, Trigger.self,
            MetricsCommand.self,
        ]
    )

    /// ArgumentParser's entry point, after making every ERP's settings known to connection decoding.
    static func main() async {
        Systems.bootstrap()
        do {
            var command = try parseAsRoot()
            if var asyncCommand = command as? any AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch {
            exit(withError: error)
        }
    }
}

/// Options shared by commands that use the store.
struct StoreOptions: ParsableArguments {
    @Option(name: .customLong("state"), help: "State store URL (overrides MLC_STATE).")
    var state: String?

    func url() throws -> String {
        try state ?? StateStores.url()
    }

    /// Opens the store; it must exist unless `mode` is `.create` (only `connections add` creates one).
    func open(_ mode: StateStores.Mode = .readWrite) async throws -> any StateStore {
        try await StateStores.open(try url(), mode: mode)
    }
}

/// Exits with the code of a `ConnectorError` after printing it as JSON on stderr.
func fail(_ error: any Error) -> Never {
    let wrapped = ConnectorError.wrap(error)
    let body: [String: JSONValue] = [
        "error": .object([
            "code": .string(wrapped.code.rawValue), "message": .string(SecretRedactor.scrub(wrapped.message)),
            "retryable": .bool(wrapped.retryable),
        ])
    ]
    if let data = try? JSONCoding.encode(JSONValue.object(body)) {
        StandardError.write(data + Data("\n".utf8))
    }
    exit(wrapped.exitCode.rawValue)
}

/// Runs a command body, mapping connector errors to their exit codes.
func guarded(_ body: () async throws -> Void) async {
    do {
        try await body()
    } catch let error as ExitCode {
        exit(error.rawValue)
    } catch let error as ConnectorError {
        fail(error)
    } catch {
        fail(error)
    }
}

func printJSON(_ value: some Encodable) throws {
    let encoder = JSONCoding.encoder
    encoder.outputFormatting.insert(.prettyPrinted)
    let data = try encoder.encode(value)
    print(SecretRedactor.scrub(String(decoding: data, as: UTF8.self)))
}

func runnerLogger(_ label: String = "mlc.runner") -> Logger {
    JSONLogHandler.bootstrap()
    return Logger(label: label)
}

/// Where the step executables live: MLC_FUNCTIONS_BIN, else next to this executable.
func functionsDirectory() -> URL {
    if let path = ProcessInfo.processInfo.environment["MLC_FUNCTIONS_BIN"], !path.isEmpty {
        return URL(fileURLWithPath: path)
    }
    let executable = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
    if executable.path.contains("/") {
        return executable.deletingLastPathComponent()
    }
    return URL(fileURLWithPath: FileManager.default.currentDirectoryPath)
}

struct Keys: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Master keys.",
        subcommands: [Generate.self]
    )

    struct Generate: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract:
                "Prints a new random AES-256 master key (base64). Store it in your secret manager and export it as MLC_MASTER_KEY; it is never written by ml-connector."
        )
        func run() async throws {
            print(MasterKey.generate())
        }
    }
}

struct Functions: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Lists the step functions and the event types they consume and emit.")

    @Flag(help: "Print as JSON.")
    var json = false

    @Flag(help: "Print an OpenFaaS stack (classic watchdog, one function per step).")
    var openfaas = false

    @Flag(help: "Print the Knative manifests (broker, triggers, one Service per step running mlc-http-adapter).")
    var knative = false

    @Flag(help: "Print the KEDA manifests (one ScaledJob per step on the store's work queue, the schedule CronJob).")
    var keda = false

    @Flag(help: "Print the Fission manifests (the image as an environment, a Package and a Function per step).")
    var fission = false

    @Option(help: "With --keda: the store whose queue the ScaledJobs watch (redis or postgres).")
    var queue: InfraManifests.KEDAQueue = .redis

    func validate() throws {
        if [json, openfaas, knative, keda, fission].filter({ $0 }).count > 1 {
            throw ValidationError("choose one of --json, --openfaas, --knative, --keda and --fission")
        }
        if queue != .redis && !keda { throw ValidationError("--queue chooses the KEDA scaler: use it with --keda") }
    }

    func run() async throws {
        if knative || keda {
            let problems = InfraManifests.problems()
            guard problems.isEmpty else {
                fail(
                    ConnectorError(
                        .configInvalid, "the function manifests cannot be deployed: " + problems.joined(separator: "; ")
                    ))
            }
            print(knative ? InfraManifests.knative() : InfraManifests.keda(queue: queue), terminator: "")
        } else if openfaas {
            print(Self.openFaaSStack(), terminator: "")
        } else if fission {
            print(InfraManifests.fission(), terminator: "")
        } else if json {
            try printJSON(FunctionCatalog.all)
        } else {
            for function in FunctionCatalog.all {
                print(
                    "\(function.name)\n  consumes: \(function.events.joined(separator: ", "))\n  emits: \(function.emits.joined(separator: ", "))"
                )
            }
        }
    }
    /// The OpenFaaS stack generated from the catalog (which a test keeps equal to the function manifests).
    static func openFaaSStack() -> String {
        var lines = [
            "# Generated by `local-runner functions --openfaas` from functions/*/function.json; do not edit.",
            "version: 1.0",
            "provider:",
            "  name: openfaas",
            "functions:",
        ]
        for function in FunctionCatalog.all {
            lines += [
                "  \(function.name):",
                // infra/openfaas/Dockerfile: the image with the classic watchdog as its entrypoint.
                "    image: ml-connector-openfaas:latest",
                "    fprocess: /usr/local/bin/\(function.name)",
                "    environment:",
                "      exec_timeout: \(function.timeoutSeconds)s",
                "      read_timeout: \(function.timeoutSeconds)s",
                "      write_timeout: \(function.timeoutSeconds)s",
                // The response is the step's stdout alone; its JSON log lines (stderr) go to the function's log.
                "      combine_output: \"false\"",
                // OpenFaaS mounts each secret as a file named after it.
                "      MLC_STATE_FILE: /var/openfaas/secrets/mlc-state",
                "      MLC_MASTER_KEY_FILE: /var/openfaas/secrets/mlc-master-key",
                "    secrets:",
                "      - mlc-master-key",
                "      - mlc-state",
                "    annotations:",
                "      com.mlconnector.consumes: \"\(function.events.joined(separator: ","))\"",
                "      com.mlconnector.emits: \"\(function.emits.joined(separator: ","))\"",
                "      com.openfaas.scale.max: \"\(function.concurrency)\"",
                "    limits:",
                "      memory: \(function.memoryMiB)Mi",
            ]
        }
        return lines.joined(separator: "\n") + "\n"
    }
}

extension InfraManifests.KEDAQueue: ExpressibleByArgument {}
