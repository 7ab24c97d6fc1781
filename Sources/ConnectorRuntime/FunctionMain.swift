import ConnectorCore
import ConnectorFlows
import ConnectorHTTP
import ConnectorSecurity
import Foundation
import Logging
import Synchronization

/// The body of every step executable: decode the event and its data (bad input exits 65 before anything is
/// opened), open the store, load the connection (unknown → 78), run the handler, then write the audit trail,
/// the record's state and any review item, and print the one result.
package enum FunctionMain {
    package static func run<H: StepHandler>(
        _ handler: H.Type,
        make: @escaping @Sendable (ConnectionRuntime) throws -> H
    ) async -> Never {
        ProcessTimings.current?.mark("main")
        // Only a step that will run SwiftNIO (a PostgreSQL store, or AsyncHTTPClient chosen) sizes NIO's shared
        // threads; the others never touch NIO, and its first use costs a step measurable start-up time.
        if usesNIO(ProcessInfo.processInfo.environment) { AsyncHTTPClientTransport.configureForOneShotProcess() }
        JSONLogHandler.bootstrap()
        Systems.bootstrap()
        ProcessTimings.current?.mark("bootstrap")
        await StepDriver.main(acceptedTypes: H.acceptedTypes) { event in
            try await invoke(
                handler, event: event, environment: ProcessInfo.processInfo.environment,
                openStore: { url in
                    let store = try await StateStores.open(url, mode: .readWrite)
                    keptUntilExit.withLock { $0.append(store) }
                    return store
                }, make: make)
        }
    }

    /// The process's store, referenced until `exit`: it is closed when the step is done, and deallocating it as well
    /// would only tear down its objects (and, for some backends, run deinit work that makes the Swift runtime scan
    /// conformance records: issue 10's step budget) in a process about to end anyway.
    private static let keptUntilExit = Mutex<[any StateStore]>([])

    /// Whether this step process will run SwiftNIO: a PostgreSQL store (postgres-nio) or `MLC_HTTP_CLIENT`
    /// naming AsyncHTTPClient. Misspelt values are reported by `invoke`, with everything else about the configuration.
    static func usesNIO(_ environment: [String: String]) -> Bool {
        if case .postgres = try? StateStores.location(StateStores.url(from: environment)) { return true }
        return environment[HTTPClients.variable]?.lowercased() == "asynchttpclient"
    }

    /// One invocation, without process concerns (also used in tests).
    package static func invoke<H: StepHandler>(
        _ handler: H.Type,
        event: CloudEvent,
        environment: [String: String],
        clock: any WallClock = SystemWallClock(),
        openStore: @Sendable (String) async throws -> any StateStore = {
            try await StateStores.open($0, mode: .readWrite)
        },
        make: @Sendable (ConnectionRuntime) throws -> H
    ) async throws -> StepDriver.Outcome {
        let started = ContinuousClock.now
        // 1. Everything about the event itself, before any state is touched.
        let input = try event.decodeData(H.Input.self)
        guard let connectionId = event.connection, !connectionId.isEmpty else {
            throw ConnectorError(.connectionMissing, kind: .badInput, "the event has no `connection` attribute")
        }
        // 2. Configuration: key, store, connection.
        let masterKey = try MasterKey.fromEnvironment(environment)
        let timings = ProcessTimings.current
        timings?.mark("key")
        // A step never creates a store: a missing one is a configuration error, not an empty installation.
        var store = try await openStore(StateStores.url(from: environment))
        timings?.mark("storeOpen")
        if let timings { store = TimedStateStore(base: store, log: timings.store) }
        let vault = Vault(masterKey: masterKey)
        let connection: Connection
        let http: any ClosableHTTPTransport
        do {
            connection = try await ConnectionStore(store: store, vault: vault).load(connectionId)
            timings?.mark("connection")
            // The connection's own CA certificates (on-premises servers) join the system's roots for its requests.
            http = try HTTPClients.make(connection.network, environment: environment)
            timings?.mark("httpClient")
        } catch {
            try? await store.close()
            throw error
        }
        do {
            let outcome = try await run(
                handler, event: event, input: input, connection: connection, store: store,
                vault: vault, http: http, clock: clock, started: started, make: make)
            await http.shutdown()
            timings?.mark("httpShutdown")
            try? await store.close()
            timings?.mark("storeClose")
            return outcome
        } catch {
            await http.shutdown()
            try? await store.close()
            throw error
        }
    }

    private static func run<H: StepHandler>(
        _ handler: H.Type,
        event: CloudEvent,
        input: H.Input,
        connection: Connection,
        store: any StateStore,
        vault: Vault,
        http: any ClosableHTTPTransport,
        clock: any WallClock,
        started: ContinuousClock.Instant,
        make: @Sendable (ConnectionRuntime) throws -> H
    ) async throws -> StepDriver.Outcome {
        let keys = try StateKeys(connection: connection.id)
        var logger = Logger(label: "mlc.\(H.step)")
        logger[metadataKey: "step"] = "\(H.step)"
        logger[metadataKey: "connection"] = "\(connection.id)"
        logger[metadataKey: "event"] = "\(event.id)"
        let span = TraceContext.span(for: event)
        logger[metadataKey: "trace_id"] = "\(span.traceId)"
        logger[metadataKey: "span_id"] = "\(span.spanId)"
        if let record = event.recordid { logger[metadataKey: "record"] = "\(record)" }
        let context = StepContext(
            store: store,
            keys: keys,
            connection: connection,
            clock: clock,
            logger: logger,
            owner: "\(H.step)-\(ProcessInfo.processInfo.processIdentifier)-\(UUID().uuidString.prefix(8))"
        )
        let counter = RequestCounter()
        let runtime = try ConnectionRuntime(context: context, vault: vault, http: http, counter: counter)
        let stepHandler = try make(runtime)

        var outcome: StepDriver.Outcome
        do {
            outcome = .init(result: try await stepHandler.handle(event, input: input))
            await runtime.close()
        } catch {
            await runtime.close()
            let wrapped = ConnectorError.wrap(error)
            if wrapped.kind == .badInput || wrapped.kind == .configuration {
                // Not audited (nothing about the record happened), but the requests made on the way (a refused
                // token request, say) still count.
                var result = StepResult.failure(wrapped)
                result.metrics = .init(
                    httpRequests: counter.total,
                    durationMs: Int((ContinuousClock.now - started).timeInterval * 1000))
                logger.warning("step failed", metadata: ["code": "\(wrapped.code)", "error": "\(wrapped.message)"])
                return .init(result: result, error: wrapped)
            }
            outcome = .init(result: .failure(wrapped), error: wrapped)
            logger.warning("step failed", metadata: ["code": "\(wrapped.code)", "error": "\(wrapped.message)"])
        }
        outcome.result.metrics = .init(
            httpRequests: counter.total,
            durationMs: Int((ContinuousClock.now - started).timeInterval * 1000),
            requests: counter.byOutcome.isEmpty ? nil : counter.byOutcome,
            rateLimitWaitMs: counter.rateLimitWait > .zero ? Int(counter.rateLimitWait.timeInterval * 1000) : nil
        )
        // The events emitted continue this invocation's trace, with this span as their parent.
        outcome.result.events = CloudEvent.traced(
            outcome.result.events, in: span, tracestate: event.traceparent == nil ? nil : event.tracestate)
        FailPoint.hit("step.handled")
        ProcessTimings.current?.mark("handled")
        if H.audits(outcome.result) {
            try await StepCompletion.record(H.self, event: event, outcome: outcome, context: context, trace: span)
        }
        ProcessTimings.current?.mark("recorded")
        FailPoint.hit("step.audited")
        return outcome
    }
}
