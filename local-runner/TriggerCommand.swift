import ArgumentParser
import ConnectorCore
import ConnectorRunner
import ConnectorRuntime
import ConnectorSecurity
import Foundation
import Logging

/// `--workers STEP=N`: how many instances of a step run at once.
enum WorkerCounts {
    static func parse(_ values: [String]) throws -> [String: Int] {
        var counts: [String: Int] = [:]
        for value in values {
            let parts = value.split(separator: "=", maxSplits: 1).map(String.init)
            guard parts.count == 2, let count = Int(parts[1]) else {
                throw ValidationError(
                    "--workers expects STEP=N, e.g. write-erp-invoice=4; got \(value.debugDescription)")
            }
            guard FunctionCatalog.named(parts[0]) != nil else {
                throw ValidationError(
                    "--workers names no step \(parts[0].debugDescription); the steps are \(FunctionCatalog.all.map(\.name).joined(separator: ", "))"
                )
            }
            guard (1...64).contains(count) else {
                throw ValidationError("--workers \(parts[0]) must be between 1 and 64; got \(count)")
            }
            guard counts[parts[0]] == nil else { throw ValidationError("--workers names \(parts[0]) twice") }
            counts[parts[0]] = count
        }
        return counts
    }
}

/// Pull mode, the KEDA ScaledJob shape: one short-lived process per message (or bounded batch) of one step, any
/// number of them at once against the shared queue; claims keep them from running an item twice at once, and an
/// item whose process died is delivered again once its claim runs out.
struct Trigger: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract:
            "Claims one queued item of a step (or up to --max), runs the step, acks it or leaves it queued for retry; exits non-zero when a step failed.",
        discussion: """
            Exit codes: 0 every item handled (or the queue had none); otherwise the first failed step's code: \
            75 temporary failure, the item is queued again with backoff; 65 bad event, 78 configuration error, 69 \
            upstream unavailable, 70 crash (dead-lettered after the connection's last attempt, or queued again \
            before it). Prints one JSON line: the step, the items it ran with their exit codes, and how many items \
            of the step are still queued. The job's step metrics are added to the store's counters, which \
            `local-runner metrics` serves to Prometheus.
            """
    )
    @OptionGroup var store: StoreOptions
    @Option(help: "The step to run, e.g. write-erp-invoice.") var step: String
    @Option(help: "Items to run at most, one after another.") var max = 1
    @Option(help: "Seconds a claimed item stays hidden from other consumers (default: the step's timeout + 30 s).")
    var visibilitySeconds: Int?
    @Option(
        help:
            "Append the step's log lines to this file, or - for stderr (default: <state dir>/logs/steps.log on SQLite, stderr on Redis and PostgreSQL)."
    ) var log: String?
    @Option(help: "First retry delay in milliseconds (doubles per attempt, with jitter).") var retryBaseMs = 2000
    @Option(help: "Longest retry delay in seconds.") var retryMaxSeconds = 300

    struct Outcome: Codable {
        var item: String
        var exitCode: Int32?
    }

    struct Report: Codable {
        var step: String
        var ran: [Outcome]
        var pending: Int
    }

    func validate() throws {
        guard FunctionCatalog.named(step) != nil else {
            throw ValidationError(
                "--step names no step \(step.debugDescription); the steps are \(FunctionCatalog.all.map(\.name).joined(separator: ", "))"
            )
        }
        guard (1...1000).contains(max) else { throw ValidationError("--max must be between 1 and 1000; got \(max)") }
        if let visibilitySeconds, visibilitySeconds < 1 {
            throw ValidationError("--visibility-seconds must be at least 1")
        }
        guard retryBaseMs >= 1, retryMaxSeconds >= 1 else {
            throw ValidationError("--retry-base-ms and --retry-max-seconds must be at least 1")
        }
    }

    func run() async throws {
        await guarded {
            guard let spec = FunctionCatalog.named(step) else {
                throw ConnectorError(.configInvalid, "no step \(step)")
            }
            let logger = runnerLogger("mlc.trigger")
            let url = try store.url()
            // One item at a time; the pool still replaces a connection lost between items.
            let state = try await StateStores.open(
                url, mode: .readWrite, connections: StateStores.runnerConnections(concurrency: 1))
            // Each connection's own attempt limit; the step reports a connection it cannot open itself.
            var attempts: [String: Int] = [:]
            if let key = try? MasterKey.fromEnvironment() {
                let ids = try await state.scanAll(prefix: StateKeys.connectionsPrefix).map {
                    String($0.key.dropFirst(StateKeys.connectionsPrefix.count))
                }
                let (usable, _) = try await Run.checkConnections(state: state, ids: ids, vault: Vault(masterKey: key))
                for connection in usable { attempts[connection.id] = connection.flow.maxAttempts }
            }
            var environment = ProcessInfo.processInfo.environment
            environment["MLC_STATE"] = url
            let host = ProcessInfo.processInfo.hostName
            let consumer =
                "trigger-\(host.prefix(40))-\(ProcessInfo.processInfo.processIdentifier)-\(UUID().uuidString.prefix(6).lowercased())"
            let stop = StopSignal()
            // The job's step metrics go to the store, where `local-runner metrics` serves every job's sum.
            let metrics = StoredMetrics()
            let runner = Runner(
                store: state,
                options: .init(
                    binDirectory: functionsDirectory(), environment: environment, concurrency: 1,
                    logPath: try stepLogPath(log, stateURL: url), maxAttemptsByConnection: attempts,
                    baseBackoff: .milliseconds(retryBaseMs), maxBackoff: .seconds(retryMaxSeconds),
                    workers: [spec.name: 1], visibility: visibilitySeconds.map { .seconds($0) }, consumer: consumer,
                    metrics: metrics),
                logger: logger, stop: stop.flag)
            let outcomes = try await runner.trigger(step: spec, max: max)
            do {
                _ = try await metrics.flush(to: state)
            } catch {
                // The items are handled; only their counts are lost.
                logger.warning(
                    "cannot add this job's metrics to the store",
                    metadata: ["error": "\(ConnectorError.wrap(error).message)"])
            }
            let pending = try await WorkQueue(store: state).count(step: spec.name)
            try await state.close()
            let report = Report(
                step: spec.name, ran: outcomes.map { Outcome(item: $0.item, exitCode: $0.exitCode) }, pending: pending)
            let encoder = JSONCoding.encoder
            print(String(decoding: try encoder.encode(report), as: UTF8.self))
            if let failed = outcomes.first(where: { $0.exitCode != 0 }) {
                let code = failed.exitCode ?? 75
                StandardError.write(
                    Data(
                        "local-runner trigger: \(spec.name) item \(failed.item) ended with exit \(code)\(code == 75 ? " (temporary; queued again for a retry)" : "")\n"
                            .utf8))
                throw ArgumentParser.ExitCode(code)
            }
        }
    }
}
