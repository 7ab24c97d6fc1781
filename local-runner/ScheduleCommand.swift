import ArgumentParser
import ConnectorCore
import ConnectorHTTP
import ConnectorRunner
import ConnectorRuntime
import ConnectorSecurity
import Foundation
import KnativeAdapter
import Logging

/// The runner's schedules for function platforms, run every minute by a CronJob (`infra/knative`, `infra/keda`):
/// sends each connection's due events once (master-data, purchase-order and payment-status syncs, polls,
/// subscription renewals; each connection's own intervals, claimed in the store exactly as `local-runner run`
/// claims them, so a runner and this never both send one) and exits.
struct Schedule: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Sends the scheduled events that are due, once: to a Knative broker (K_SINK) or the store's queue.",
        discussion: """
            With --sink (or K_SINK, which a Knative SinkBinding sets) each event is POSTed there as a binary-mode \
            CloudEvent; without, it is put on the store's work queue for the steps that consume it (KEDA \
            ScaledJobs or a runner work that queue). Once a day it also purges expired entries (retention). Prints \
            one JSON line: how many events went where, and how many entries were purged.
            """
    )
    @OptionGroup var store: StoreOptions
    @Option(help: "Where to POST the events (default: K_SINK).") var sink: String?

    struct Report: Codable {
        var connections: Int
        var skipped: [String]
        var sent: [String: Int]
        var to: String
        /// Delayed items (retries) that became due and were moved where consumers and KEDA's stream scaler see them.
        var promoted: Int?
        /// Expired entries removed by the daily retention purge (audit entries past their connection's period, spent
        /// claims, caches); present on the run that did it. On a platform nothing else purges: the triggers and the
        /// HTTP adapter live too briefly or serve requests only.
        var purged: Int?
    }

    func run() async throws {
        await guarded {
            let logger = runnerLogger("mlc.schedule")
            let target = sink ?? ProcessInfo.processInfo.environment["K_SINK"].flatMap { $0.isEmpty ? nil : $0 }
            let masterKey = try MasterKey.fromEnvironment()
            let state = try await store.open(.readWrite)
            let ids = try await state.scanAll(prefix: StateKeys.connectionsPrefix).map {
                String($0.key.dropFirst(StateKeys.connectionsPrefix.count))
            }
            let (usable, problems) = try await Run.checkConnections(
                state: state, ids: ids, vault: Vault(masterKey: masterKey))
            for (id, error) in problems {
                logger.error(
                    "connection skipped", metadata: ["connection": "\(id)", "code": "\(error.code.rawValue)"])
            }
            let transport = AsyncHTTPClientTransport()
            let sender = target.map { SinkSender(url: $0, transport: transport) }
            let runner = Runner(
                store: state,
                options: .init(binDirectory: functionsDirectory(), environment: [:]),
                logger: logger)
            var report = Report(
                connections: usable.count, skipped: problems.map(\.0).sorted(), sent: [:],
                to: target == nil ? "queue" : "sink")
            var failure: (any Error)?
            let schedules = Schedules(store: state)
            for connection in usable {
                do {
                    for event in try await schedules.due(connection, now: Date()) {
                        if let sender {
                            try await sender.send(event)
                        } else {
                            try await runner.submit(event)
                        }
                        report.sent[event.type, default: 0] += 1
                    }
                } catch {
                    // The other connections still get theirs; the exit code says that one failed.
                    logger.error(
                        "cannot send a connection's scheduled events",
                        metadata: ["connection": "\(connection.id)", "error": "\(ConnectorError.wrap(error).message)"])
                    failure = failure ?? error
                }
            }
            if sender == nil {
                // A retry waiting in the delayed set is invisible to KEDA's Redis Streams scaler until it is moved
                // into its step's stream; with every worker scaled to zero nothing else would move it.
                do {
                    report.promoted = try await runner.queue.promoteDue()
                } catch {
                    logger.error(
                        "cannot move due retries into the queue",
                        metadata: ["error": "\(ConnectorError.wrap(error).message)"])
                    failure = failure ?? error
                }
            }
            do {
                if try await schedules.purgeDue(now: Date()) { report.purged = await runner.purgeExpired() }
            } catch {
                logger.error(
                    "cannot claim the retention purge", metadata: ["error": "\(ConnectorError.wrap(error).message)"])
                failure = failure ?? error
            }
            await transport.shutdown()
            try await state.close()
            let encoder = JSONCoding.encoder
            encoder.outputFormatting.insert(.sortedKeys)
            print(String(decoding: try encoder.encode(report), as: UTF8.self))
            if let failure { throw failure }
        }
    }
}
