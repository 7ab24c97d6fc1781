import ArgumentParser
import ConnectorCore
import ConnectorHTTP
import ConnectorRunner
import ConnectorRuntime
import ConnectorSecurity
import Foundation
import Logging
import ServiceLifecycle
import Synchronization

struct Invoke: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Runs one step function with an event (stdin or --file) and prints its result; exits with its code."
    )
    @OptionGroup var store: StoreOptions
    @Argument(help: "The function, e.g. transform-invoice.") var function: String
    @Option(help: "Read the event from this file instead of stdin.") var file: String?

    func run() async throws {
        await guarded {
            guard let spec = FunctionCatalog.named(function) else {
                throw ConnectorError(
                    .configInvalid, "no function named \(function.debugDescription); see `local-runner functions`")
            }
            let input: Data
            if let file {
                guard let data = FileManager.default.contents(atPath: file) else {
                    throw ConnectorError(.configInvalid, "cannot read \(file)")
                }
                input = data
            } else {
                input = FileHandle.standardInput.readDataToEndOfFile()
            }
            var environment = ProcessInfo.processInfo.environment
            environment["MLC_STATE"] = try store.url()
            let output = try await ChildProcess.run(
                executable: functionsDirectory().appendingPathComponent(spec.name),
                environment: environment,
                stdin: input,
                stderr: .inherit,
                timeout: .seconds(spec.timeoutSeconds)
            )
            FileHandle.standardOutput.write(output.stdout)
            throw ArgumentParser.ExitCode(output.signaled ? 70 : output.exitCode)
        }
    }
}

struct Run: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract:
            "Runs the flow: schedules master-data syncs and polls per connection, routes events between the steps, persists its queue in the store."
    )
    @OptionGroup var store: StoreOptions
    @Option(name: .customLong("connection"), help: "Connections to schedule (default: all).") var connections:
        [String] = []
    @Flag(help: "Schedule one sync and one poll per connection, run until the queue is empty, then exit.") var once =
        false
    @Option(help: "Step processes at once.") var concurrency = 6
    @Option(
        help: ArgumentHelp(
            "Run N instances of a step at once against the shared queue, as STEP=N (repeatable).",
            discussion:
                "Default: each step's manifest concurrency. Raises --concurrency to the sum asked for when that is more.",
            valueName: "step=N")) var workers: [String] = []
    @Option(help: "Seconds a claimed item stays hidden from other consumers (default: the step's timeout + 30 s).")
    var visibilitySeconds: Int?
    @Flag(
        help: ArgumentHelp(
            "Start every step at the runner's CPU priority.",
            discussion:
                "By default a step runs at a lower priority (nice 3 per step that follows it in a flow, at most 12), so under CPU contention the steps writing to the ERP go first."
        )) var equalPriority = false
    @Option(
        help:
            "Append the steps' log lines to this file, or - for stderr (default: <state dir>/logs/steps.log on SQLite, stderr on Redis and PostgreSQL)."
    ) var log: String?
    @Option(help: "First retry delay in milliseconds (doubles per attempt, with jitter).") var retryBaseMs = 2000
    @Option(help: "Longest retry delay in seconds.") var retryMaxSeconds = 300
    @Option(
        help: ArgumentHelp(
            "Serve the webhook gateway on HOST:PORT (e.g. 0.0.0.0:8787) for ERP change notifications.",
            discussion:
                "Paths are /webhooks/{connection}/{erp kind} (\(Systems.notificationSystems.joined(separator: ", "))); put TLS in front. Not with --once."
        )) var webhooks: String?
    @Option(
        help: ArgumentHelp(
            "Serve Prometheus metrics at http://HOST:PORT/metrics (e.g. 127.0.0.1:9464).",
            discussion:
                "Step results and durations, HTTP requests by host and status, rate-limit waits, records by state, retries, dead letters and queue depth per step. Not with --once."
        )) var metrics: String?

    func validate() throws {
        guard (1...64).contains(concurrency) else {
            throw ValidationError("--concurrency must be between 1 and 64 (step processes at once); got \(concurrency)")
        }
        guard retryBaseMs >= 1, retryMaxSeconds >= 1 else {
            throw ValidationError("--retry-base-ms and --retry-max-seconds must be at least 1")
        }
        _ = try WorkerCounts.parse(workers)
        if let visibilitySeconds, visibilitySeconds < 1 {
            throw ValidationError("--visibility-seconds must be at least 1")
        }
    }

    func run() async throws {
        await guarded {
            let logger = runnerLogger()
            if once, webhooks != nil {
                throw ConnectorError(.configInvalid, "--webhooks serves until stopped; it does not go with --once")
            }
            if once, metrics != nil {
                throw ConnectorError(.configInvalid, "--metrics serves until stopped; it does not go with --once")
            }
            let metricsAddress = try metrics.map { try ListenAddress.parse($0, option: "--metrics") }
            let runnerMetrics = metricsAddress == nil ? nil : RunnerMetrics()
            let masterKey = try MasterKey.fromEnvironment()
            let url = try store.url()
            let workerCounts = try WorkerCounts.parse(workers)
            // Each step process's result is stored by its own task: a Redis or PostgreSQL store gets a pool of
            // connections sized to the steps run at once (SQLite stays one connection).
            let stepsAtOnce = max(concurrency, workerCounts.values.reduce(0, +))
            var state = try await StateStores.open(
                url, mode: .readWrite, connections: StateStores.runnerConnections(concurrency: stepsAtOnce))
            // `MLC_TIMINGS` (make bench): the runner's store operations are counted too.
            if let timings = ProcessTimings.current { state = TimedStateStore(base: state, log: timings.store) }
            let stop = StopSignal()
            let lock: RunnerLock
            do {
                lock = try await RunnerLock.acquire(state, kind: .runner)
            } catch let held as RunnerLock.Held {
                throw RunnerLock.refusal(held)
            }
            let lockLost = ManagedFlag()
            lock.startRenewing(logger: logger) {
                lockLost.set()
                stop.flag.set()
            }
            let vault = Vault(masterKey: masterKey)
            let ids = try await selectedConnections(state: state)
            // Every connection is checked before anything runs: one whose secrets don't open under this master
            // key, or whose settings are refused, is said once in words and skipped; the others run.
            let (usable, problems) = try await Self.checkConnections(state: state, ids: ids, vault: vault)
            var environment = ProcessInfo.processInfo.environment
            environment["MLC_STATE"] = url
            var attempts: [String: Int] = [:]
            for connection in usable {
                attempts[connection.id] = connection.flow.maxAttempts
            }
            let runner = Runner(
                store: state,
                options: .init(
                    binDirectory: functionsDirectory(), environment: environment, concurrency: concurrency,
                    logPath: try stepLogPath(log, stateURL: url), maxAttemptsByConnection: attempts,
                    baseBackoff: .milliseconds(retryBaseMs), maxBackoff: .seconds(retryMaxSeconds),
                    workers: workerCounts, visibility: visibilitySeconds.map { .seconds($0) },
                    metrics: runnerMetrics, downstreamFirst: !equalPriority
                ),
                logger: logger,
                stop: stop.flag
            )
            for (id, error) in problems {
                await runner.reportConfiguration(connection: id, code: error.code.rawValue, message: error.message)
            }
            let usableIds = usable.map(\.id)
            if once {
                if !usableIds.isEmpty {
                    for connection in usableIds {
                        try await runner.submit(Schedules.syncEvent(connection: connection))
                    }
                    try await runner.drain(waitForDelayed: true)
                    // Purchase orders reach the ERP before the invoices that quote them.
                    if !stop.requested {
                        for connection in usableIds {
                            try await runner.submit(Schedules.purchaseOrderEvent(connection: connection))
                        }
                        try await runner.drain(waitForDelayed: true)
                    }
                    if !stop.requested {
                        for connection in usableIds {
                            try await runner.submit(Schedules.pollEvent(connection: connection))
                        }
                        try await runner.drain(waitForDelayed: true)
                    }
                }
            } else if !usableIds.isEmpty {
                logger.info("runner started", metadata: ["connections": "\(usableIds.joined(separator: ","))"])
                try await runForever(
                    runner: runner, state: state, usableIds: usableIds, vault: vault, environment: environment,
                    url: url, stop: stop, logger: logger,
                    metricsServer: runnerMetrics.flatMap { metrics in metricsAddress.map { (metrics, $0.0, $0.1) } })
            }
            if once, !stop.requested { await runner.purgeExpired() }
            if lockLost.value {
                await runner.reportConfiguration(
                    connection: nil, code: "runner.lock_lost",
                    message: "another process took this store's runner lock; this runner stopped")
            }
            if stop.requested, let signal = stop.signalName { await runner.noteInterrupted(signal) }
            let summary = await runner.finalSummary()
            for line in summary.lines() { print(line) }
            await lock.release()
            try await state.close()
            ProcessTimings.current?.write(process: "local-runner", storeCalls: false)
            // A service stopped by a signal ends normally; a one-shot run says how it went.
            let code: Int32 = once ? summary.exitCode : (usableIds.isEmpty && !problems.isEmpty ? 78 : 0)
            if code != 0 { throw ArgumentParser.ExitCode(code) }
        }
    }

    private func runForever(
        runner: Runner, state: any StateStore, usableIds: [String], vault: Vault, environment: [String: String],
        url: String, stop: StopSignal, logger: Logger, metricsServer: (RunnerMetrics, String, Int)?
    ) async throws {
        let schedules = Schedules(store: state)
        let gateway = try webhooks.map { address in
            let (host, port) = try ListenAddress.parse(address, option: "--webhooks")
            return (
                WebhookGateway(
                    runner: runner, binDirectory: functionsDirectory(), environment: environment,
                    logPath: try stepLogPath(log, stateURL: url), logger: logger),
                host, port
            )
        }
        let gatewayDown = ManagedFlag()
        var services: [any Service] = []
        if let (gateway, host, port) = gateway { services.append(gateway.server(host: host, port: port)) }
        if let (metrics, host, port) = metricsServer {
            let steps = FunctionCatalog.all.map(\.name)
            services.append(
                metrics.server(host: host, port: port, logger: logger) {
                    if let depths = try? await runner.queueDepths() { metrics.queueDepth(depths, steps: steps) }
                })
        }
        let gatewayGroup =
            services.isEmpty ? nil : ServiceGroup(configuration: .init(services: services, logger: logger))
        try await withThrowingTaskGroup(of: Void.self) { group in
            if let gatewayGroup {
                group.addTask {
                    do {
                        try await gatewayGroup.run()
                    } catch is CancellationError {
                    } catch {
                        logger.error(
                            "webhook gateway or metrics server stopped",
                            metadata: ["error": "\(String(describing: error).prefix(300))"])
                        gatewayDown.set()
                    }
                }
            }
            var nextPurge = ContinuousClock.now
            while !stop.requested, !gatewayDown.value {
                if ContinuousClock.now >= nextPurge {
                    // Retention: expired entries (audit entries past their connection's period among them) go daily.
                    await runner.purgeExpired()
                    nextPurge = ContinuousClock.now + .seconds(86_400)
                }
                for connection in try await Self.connections(state: state, ids: usableIds, vault: vault) {
                    for event in try await schedules.due(connection, now: Date()) {
                        try await runner.submit(event)
                    }
                }
                try await runner.drain(waitForDelayed: false)
                for _ in 0..<4 where !stop.requested {
                    try await Task.sleep(for: .milliseconds(125))
                }
            }
            // Graceful: requests in flight finish and store their events before the runner ends.
            await gatewayGroup?.triggerGracefulShutdown()
        }
        if gatewayDown.value {
            throw ConnectorError(
                .configInvalid,
                "the webhook gateway or metrics server could not serve on \([webhooks, metrics].compactMap { $0 }.joined(separator: " / "))"
            )
        }
        let pending = try await runner.pending()
        logger.info("runner stopping; pending items stay queued", metadata: ["pending": "\(pending)"])
    }

    private func selectedConnections(state: any StateStore) async throws -> [String] {
        let all = try await state.scanAll(prefix: StateKeys.connectionsPrefix).map {
            String($0.key.dropFirst(StateKeys.connectionsPrefix.count))
        }
        if connections.isEmpty {
            guard !all.isEmpty else {
                throw ConnectorError(
                    .connectionUnknown, "no connections; add one with `local-runner connections add --file conn.yaml`")
            }
            return all
        }
        for id in connections where !all.contains(id) {
            throw ConnectorError(.connectionUnknown, "unknown connection \(id.debugDescription)")
        }
        return connections
    }

    /// Loads and checks each connection on its own: decodable, settings valid, every secret opens under this
    /// master key. Returns the usable ones and why the others are not.
    static func checkConnections(state: any StateStore, ids: [String], vault: Vault) async throws
        -> (usable: [Connection], problems: [(String, ConnectorError)])
    {
        var usable: [Connection] = []
        var problems: [(String, ConnectorError)] = []
        let connectionStore = ConnectionStore(store: state, vault: vault)
        for id in ids {
            do {
                let connection = try await connectionStore.load(id)
                try ConnectionValidator.validate(connection)
                try connectionStore.verifySecrets(connection)
                usable.append(connection)
            } catch {
                problems.append((id, ConnectorError.wrap(error)))
            }
        }
        return (usable, problems)
    }

    static func connections(state: any StateStore, ids: [String], vault: Vault) async throws -> [Connection] {
        var result: [Connection] = []
        let connectionStore = ConnectionStore(store: state, vault: vault)
        for id in ids {
            if let connection = try? await connectionStore.load(id) { result.append(connection) }
        }
        return result
    }
}

/// Where the steps' stderr (their JSON log lines) goes: `--log PATH` appends to that file, `--log -` passes it to this
/// process's stderr. By default a SQLite store's steps log beside it (`<state dir>/logs/steps.log`); a network store
/// (redis://, postgres://) has no directory of its own, and where one is used (a pod, a KEDA job) the platform collects
/// stderr, so its steps log there.
/// Checked before any step runs: a log that cannot be written would otherwise fail every step's start, and every item
/// would end dead-lettered for a reason that has nothing to do with it.
func stepLogPath(_ explicit: String?, stateURL: String) throws -> String {
    if let explicit {
        guard explicit != ChildProcess.standardErrorPath else { return explicit }
        try checkWritable(log: explicit, created: nil)
        return explicit
    }
    switch try? StateStores.location(stateURL) {
    case .redis, .postgres: return ChildProcess.standardErrorPath
    default: break
    }
    var path = stateURL
    for prefix in ["sqlite://", "sqlite:"] where path.hasPrefix(prefix) {
        path = String(path.dropFirst(prefix.count))
        break
    }
    let directory = URL(fileURLWithPath: path).deletingLastPathComponent().appendingPathComponent("logs")
    let log = directory.appendingPathComponent("steps.log").path
    try checkWritable(log: log, created: directory)
    return log
}

/// Creates `created` (readable by the store's owner only, like the store: step logs name records and connections) and
/// opens `log` for appending once, or says what to do instead.
private func checkWritable(log: String, created directory: URL?) throws {
    do {
        if let directory {
            try FileManager.default.createDirectory(
                at: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        }
        let descriptor = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else {
            throw ConnectorError(.configInvalid, String(cString: strerror(errno)))
        }
        close(descriptor)
    } catch {
        throw ConnectorError(
            .configInvalid,
            "cannot write the steps' log \(log): \(ConnectorError.wrap(error).message); pass --log PATH for a writable file, or --log - for this process's stderr"
        )
    }
}

/// SIGINT / SIGTERM ask the runner to stop: no new step starts, steps in flight get a grace period, queued work
/// stays in the store. The first signal is enough.
///
/// `@unchecked Sendable`: `sources` is written once in `init` and never touched again (it only keeps the signal
/// sources alive); the flag they set and the signal's name are behind locks.
final class StopSignal: @unchecked Sendable {
    private let sources: [any DispatchSourceSignal]
    let flag: ManagedFlag
    private let name = SignalName()

    init(flag: ManagedFlag = ManagedFlag()) {
        self.flag = flag
        var sources: [any DispatchSourceSignal] = []
        for (signalNumber, signalName) in [(SIGINT, "SIGINT"), (SIGTERM, "SIGTERM")] {
            signal(signalNumber, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: signalNumber, queue: .global())
            let flag = self.flag
            let name = self.name
            source.setEventHandler {
                name.setIfUnset(signalName)
                flag.set()
            }
            source.resume()
            sources.append(source)
        }
        self.sources = sources
    }

    var requested: Bool { flag.value }
    /// The signal that asked for the stop, if one did.
    var signalName: String? { name.value }
}

/// The first signal's name, shared with the signal handlers.
final class SignalName: Sendable {
    private let storage = Mutex<String?>(nil)
    func setIfUnset(_ name: String) { storage.withLock { if $0 == nil { $0 = name } } }
    var value: String? { storage.withLock { $0 } }
}

/// When each connection's syncs and polls are due; the last times are kept in the store.
struct Schedules {
    let store: any StateStore

    static func pollEvent(connection: String, fromStart: Bool = false) -> CloudEvent {
        CloudEvent(
            source: "urn:mlconnector:runner",
            type: EventType.pollRequested,
            data: fromStart ? .object(["fromStart": .bool(true)]) : .object([:]),
            connection: connection,
            flow: "invoices"
        )
    }

    static func syncEvent(connection: String, full: Bool = false) -> CloudEvent {
        CloudEvent(
            source: "urn:mlconnector:runner",
            type: EventType.masterDataSyncRequested,
            // An operator's full sync also re-sends every record to JAGGAER (`resend`), to realign it.
            data: .object(full ? ["full": .bool(true), "resend": .bool(true)] : [:]),
            connection: connection,
            flow: "masterdata"
        )
    }

    /// `sync-purchase-orders`: JAGGAER purchase orders into the ERPs that take them, before invoices quote them.
    static func purchaseOrderEvent(connection: String, fromStart: Bool = false) -> CloudEvent {
        CloudEvent(
            source: "urn:mlconnector:runner",
            type: EventType.purchaseOrderSyncRequested,
            data: fromStart ? .object(["fromStart": .bool(true)]) : .object([:]),
            connection: connection,
            flow: "purchaseorders"
        )
    }

    static func paymentStatusEvent(connection: String, fromStart: Bool = false) -> CloudEvent {
        CloudEvent(
            source: "urn:mlconnector:runner",
            type: EventType.paymentStatusSyncRequested,
            data: .object(fromStart ? ["fromStart": .bool(true)] : [:]),
            connection: connection,
            flow: "paymentstatus"
        )
    }

    static func renewEvent(connection: String, force: Bool = false) -> CloudEvent {
        CloudEvent(
            source: "urn:mlconnector:runner",
            type: EventType.subscriptionRenewRequested,
            data: .object(force ? ["force": .bool(true)] : [:]),
            connection: connection,
            flow: "notifications"
        )
    }

    func due(_ connection: Connection, now: Date) async throws -> [CloudEvent] {
        var events: [CloudEvent] = []
        if try await claim(
            "runner/schedule/\(connection.id)/masterdata", every: connection.flow.masterDataIntervalSeconds, now: now)
        {
            events.append(Self.syncEvent(connection: connection.id))
        }
        if try await claim(
            "runner/schedule/\(connection.id)/purchaseorders", every: connection.flow.purchaseOrderIntervalSeconds,
            now: now)
        {
            events.append(Self.purchaseOrderEvent(connection: connection.id))
        }
        if try await claim(
            "runner/schedule/\(connection.id)/poll", every: connection.flow.pollIntervalSeconds, now: now)
        {
            events.append(Self.pollEvent(connection: connection.id))
        }
        // Payment status flows back to JAGGAER where the ERP gives it and the connection writes to JAGGAER.
        if connection.jaggaer.writer.enabled,
            (try? Systems.erp(connection.erp.kind))?.capabilities.paymentStatus == true,
            try await claim(
                "runner/schedule/\(connection.id)/paymentstatus", every: connection.flow.paymentStatusIntervalSeconds,
                now: now)
        {
            events.append(Self.paymentStatusEvent(connection: connection.id))
        }
        // Subscriptions last 3 days; the step renews only what expires within renewBeforeHours, so twice a day
        // leaves room for a day of failed attempts.
        if connection.notifications?.erp != nil, (try? Systems.erp(connection.erp.kind))?.keepsSubscriptions == true,
            try await claim("runner/schedule/\(connection.id)/subscriptions", every: 12 * 3600, now: now)
        {
            events.append(Self.renewEvent(connection: connection.id))
        }
        return events
    }

    /// Whether the daily retention purge is due (`local-runner schedule`, which a CronJob runs every minute or so;
    /// `run` keeps its own daily timer). One claim for the whole store, whichever scheduler gets it.
    func purgeDue(now: Date) async throws -> Bool {
        try await claim("runner/schedule/retention", every: 86_400, now: now)
    }

    private func claim(_ key: String, every seconds: Int, now: Date) async throws -> Bool {
        let last = try await store.get(key, as: Date.self)
        if let last, now.timeIntervalSince(last.value) < Double(seconds) { return false }
        try await store.put(key, json: now)
        return true
    }
}

struct Audit: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Shows a record's state and its full audit trail.")
    @OptionGroup var store: StoreOptions
    @Argument(help: "The record id, e.g. jaggaer-invoice-2526304.") var record: String
    @Option(help: "The connection (default: the only one).") var connection: String?
    @Flag(help: "Print as JSON.") var json = false

    func run() async throws {
        await guarded {
            let state = try await store.open(.readOnly)
            let id = try await resolveConnection(connection, state: state)
            let log = AuditLog(store: state, keys: try StateKeys(connection: id))
            let status = try await log.status(recordId: record)
            let entries = try await log.entries(recordId: record)
            try await state.close()
            guard status != nil || !entries.isEmpty else {
                throw ConnectorError(
                    .eventInvalid, kind: .badInput, "no record \(record.debugDescription) in connection \(id)")
            }
            if json {
                struct Trail: Encodable {
                    var status: RecordStatus?
                    var entries: [AuditEntry]
                }
                try printJSON(Trail(status: status, entries: entries))
                return
            }
            if let status {
                print(
                    "record \(status.recordId): \(status.state.rawValue) (last step \(status.lastStep), \(Timestamp.format(status.updatedAt)))"
                )
                if let document = status.document {
                    print(
                        "  ERP document: \(document.system) \(document.number ?? "-") id \(document.id) status \(document.status ?? "-")"
                    )
                }
                for reason in status.reasons ?? [] { print("  reason: \(reason.code): \(reason.message)") }
            }
            for entry in entries {
                var line =
                    "#\(entry.sequence) \(Timestamp.format(entry.at)) \(entry.step) \(entry.eventType) attempt \(entry.attempt): \(entry.status.rawValue) \(entry.durationMs) ms, \(entry.httpRequests) HTTP"
                if let error = entry.error { line += " error \(error.code): \(error.message)" }
                print(line)
                for reason in entry.reasons ?? [] { print("    review: \(reason.code): \(reason.message)") }
                for (key, value) in (entry.detail ?? [:]).sorted(by: { $0.key < $1.key }) {
                    print("    \(key): \(value)")
                }
                for emitted in entry.emitted { print("    emitted \(emitted)") }
            }
        }
    }
}

/// The named connection, or the only one in the store.
func resolveConnection(_ id: String?, state: any StateStore) async throws -> String {
    if let id { return id }
    let ids = try await state.scanAll(prefix: StateKeys.connectionsPrefix).map {
        String($0.key.dropFirst(StateKeys.connectionsPrefix.count))
    }
    guard ids.count == 1, let only = ids.first else {
        throw ConnectorError(
            .connectionUnknown,
            ids.isEmpty ? "no connections in this store" : "several connections; name one with --connection")
    }
    return only
}
