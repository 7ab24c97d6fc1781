import ArgumentParser
import BusinessCentral
import ConnectorCore
import ConnectorHTTP
import ConnectorRunner
import ConnectorRuntime
import ConnectorSecurity
import ConnectorSimulators
import Foundation
import Logging

/// Where the simulated systems are and how to sign in: from the in-process simulators, or from the JSON that
/// `mlc-simulators serve` prints. Each simulated ERP brings the `erp.<kind>` block of a connection reaching it, so
/// the demo, chaos and bench build one connection per ERP without knowing any ERP.
struct SimulatorEndpoints: Codable, Sendable {
    struct Jaggaer: Codable, Sendable {
        var baseURL: String
        var tokenURL: String
        var clientId: String
        var clientSecret: String
    }
    struct Entra: Codable, Sendable {
        var authorityURL: String
        var tenantId: String
        var clientId: String
        var clientSecret: String
    }
    struct ERP: Codable, Sendable {
        var kind: String
        var name: String
        var baseURL: String
        var counterPrefix: String
        var maxVendorInvoiceNumberLength: Int
        var takesCreditMemos: Bool?
        var matchesPurchaseOrders: Bool?
        /// The `erp.<kind>` block of a connection file.
        var settings: JSONValue
        /// `mapping.dimensionValues` this ERP's copy of the demo company needs.
        var dimensionValues: [String: [String: String]]?
    }
    var jaggaer: Jaggaer
    var entra: Entra
    var erps: [ERP]

    init(host: SimulatorHost, tenant: DemoTenant) {
        let credentials = tenant.credentials
        jaggaer = .init(
            baseURL: host.jaggaerBaseURL, tokenURL: host.jaggaerTokenURL, clientId: credentials.jaggaerClientId,
            clientSecret: credentials.jaggaerClientSecret)
        entra = .init(
            authorityURL: host.entraAuthorityURL, tenantId: credentials.entraTenantId,
            clientId: credentials.entraClientId, clientSecret: credentials.entraClientSecret)
        erps = host.erps.map { endpoint in
            ERP(
                kind: endpoint.erp.kind, name: endpoint.erp.displayName, baseURL: endpoint.baseURL,
                counterPrefix: endpoint.erp.counterPrefix,
                maxVendorInvoiceNumberLength: endpoint.erp.maxVendorInvoiceNumberLength,
                takesCreditMemos: endpoint.erp.takesCreditMemos,
                matchesPurchaseOrders: endpoint.erp.matchesPurchaseOrders,
                settings: (try? JSONCoding.decode(JSONValue.self, from: Data(endpoint.settings.serialized()))) ?? .null,
                dimensionValues: endpoint.dimensionValues)
        }
    }

    static func load(_ path: String) throws -> SimulatorEndpoints {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ConnectorError(.configInvalid, "cannot read \(path)")
        }
        do {
            return try JSONCoding.decode(SimulatorEndpoints.self, from: data)
        } catch let error as DecodingError {
            throw ConnectorError(
                .configInvalid, "\(path) is not the output of `mlc-simulators serve`: \(error.safeDescription)")
        }
    }

    /// The simulated ERP of a kind.
    func erp(_ kind: String) throws -> ERP {
        guard let erp = erps.first(where: { $0.kind == kind }) else {
            throw ConnectorError(
                .configInvalid,
                "the simulators have no \(kind); they have \(erps.map(\.kind).joined(separator: ", "))")
        }
        return erp
    }

    /// The demo connection id of an ERP: `demo` for Business Central (as before), `demo-<kind>` for the others.
    static func connectionId(_ erp: ERP, base: String = "demo") -> String {
        erp.kind == "businessCentral" ? base : "\(base)-\(erp.kind)"
    }

    /// The demo connection to Business Central.
    func connection(id: String) throws -> Connection {
        try connection(id: id, erp: erp("businessCentral"))
    }

    /// The demo connection to one simulated ERP: its `erp` block as the simulator gives it, and the mapping rules an
    /// AP team would set up for the simulated tenant.
    func connection(id: String, erp: ERP) throws -> Connection {
        let section = JSONValue.object(["kind": .string(erp.kind), erp.kind: erp.settings])
        let settings = try JSONCoding.decode(ERPSettings.self, from: try JSONCoding.encode(section))
        return Connection(
            id: id,
            name: "Demo: JAGGAER → \(erp.name) (simulated)",
            jaggaer: JaggaerSettings(
                baseURL: jaggaer.baseURL,
                tokenURL: jaggaer.tokenURL,
                clientId: jaggaer.clientId,
                clientSecret: .plain(Secret(jaggaer.clientSecret)),
                pageSize: 50
            ),
            erp: settings,
            mapping: MappingRules(
                accountSegment: "Account",
                dimensions: [
                    SegmentDimensionRule(segment: "Fund", dimension: "FUND"),
                    SegmentDimensionRule(segment: "Financial_Unit", dimension: "DEPARTMENT"),
                    SegmentDimensionRule(segment: "Program", dimension: "PROGRAM"),
                ],
                dimensionValues: erp.dimensionValues ?? [:],
                taxAccount: "22500",
                chargesAccount: "62300",
                discountAccount: "54800",
                localCurrency: "USD"
            ),
            flow: FlowSettings(
                pollIntervalSeconds: 60, pollOverlapSeconds: 300, maxAttempts: 6, retryAfterCapSeconds: 20,
                ambiguousWriteSettleSeconds: 5),
            network: NetworkSettings(allowHTTP: true, allowedHosts: ["127.0.0.1"], requestTimeoutSeconds: 30)
        )
    }
}

struct Demo: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract:
            "Runs the main flow end to end against simulated JAGGAER and every simulated ERP on loopback and prints a summary per ERP.",
        discussion: """
            Starts the simulators with a generated tenant (hundreds of approved invoices, vendors, accounts, dimensions, \
            a few deliberately unmappable records), adds one demo connection per simulated ERP, syncs each ERP's \
            master data, polls JAGGAER and runs every invoice through transform-invoice and write-erp-invoice as \
            separate processes, then checks each ERP against the tenant's expected outcomes.
            """
    )

    @Option(help: "Invoices in the simulated JAGGAER tenant.") var invoices = 300
    @Option(help: "Seed of the generated tenant.") var seed: UInt64 = 42
    @Option(help: "State store URL (default sqlite:.mlc/demo/state.sqlite, emptied first unless --keep-state).")
    var state: String?
    @Flag(help: "Keep what the store already holds (runs again against the same store).") var keepState = false
    @Option(help: "Use simulators already running: the JSON file printed by `mlc-simulators serve`.") var simulators:
        String?
    @Option(help: "Step processes at once.") var concurrency = 6
    @Flag(help: "Print the summary as JSON.") var json = false
    @Flag(help: "Start the poll from the beginning, ignoring the stored cursor.") var fromStart = false
    @Option(
        name: .customLong("erp"),
        help: "Only these simulated ERPs (erp.kind, repeatable); default: every one, a connection each.")
    var erps: [String] = []

    func validate() throws {
        guard (1...64).contains(concurrency) else {
            throw ValidationError("--concurrency must be between 1 and 64 (step processes at once); got \(concurrency)")
        }
        guard invoices >= 0 else { throw ValidationError("--invoices must not be negative") }
    }

    func run() async throws {
        await guarded {
            let logger = runnerLogger()
            let tenant = DemoTenant.generate(invoiceCount: invoices, seed: seed)
            let started = ContinuousClock.now
            var host: SimulatorHost?
            let endpoints: SimulatorEndpoints
            if let simulators {
                endpoints = try SimulatorEndpoints.load(simulators)
            } else {
                // SAP Business One gets its purchase orders from JAGGAER, through the flow.
                let running = try await SimulatorHost.start(
                    tenant: tenant, options: .init(sapBusinessOnePurchaseOrders: false))
                host = running
                endpoints = SimulatorEndpoints(host: running, tenant: tenant)
            }
            do {
                let summary = try await runDemo(tenant: tenant, endpoints: endpoints, logger: logger, started: started)
                await host?.shutdown()
                if json {
                    try printJSON(summary)
                } else {
                    summary.print()
                }
                if !summary.expectationsMet { throw ArgumentParser.ExitCode(1) }
            } catch {
                await host?.shutdown()
                throw error
            }
        }
    }

    private func runDemo(
        tenant: DemoTenant, endpoints: SimulatorEndpoints, logger: Logger, started: ContinuousClock.Instant
    ) async throws -> DemoReport {
        let url = state ?? "sqlite:.mlc/demo/state.sqlite"
        if !keepState, let path = Self.sqlitePath(url) {
            for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + suffix) }
        }
        // The demo's key lives only in this process and its children, unless one is exported already.
        let environment = ProcessInfo.processInfo.environment
        let keyText = environment["MLC_MASTER_KEY"].flatMap { $0.isEmpty ? nil : $0 } ?? MasterKey.generate()
        return try await Self.runFlow(
            tenant: tenant, endpoints: endpoints, url: url, keyText: keyText, concurrency: concurrency,
            fromStart: fromStart, kinds: erps, logPath: try stepLogPath(nil, stateURL: url), logger: logger,
            started: started)
    }

    /// The demo flow on every simulated ERP (or those in `kinds`): one connection each, a full master-data sync,
    /// then one poll of JAGGAER per connection, drained to the end; the report checks each ERP.
    static func runFlow(
        tenant: DemoTenant, endpoints: SimulatorEndpoints, url: String, keyText: String, concurrency: Int,
        fromStart: Bool = false, kinds: [String] = [], logPath: String?, logger: Logger,
        started: ContinuousClock.Instant, customize: (inout Connection) -> Void = { _ in }
    ) async throws -> DemoReport {
        let environment = ProcessInfo.processInfo.environment
        let masterKey = try MasterKey(base64: keyText)
        let store = try await StateStores.open(url)
        // One runner per store, the demo included.
        let lock: RunnerLock
        do {
            lock = try await RunnerLock.acquire(store, kind: .runner)
        } catch let held as RunnerLock.Held {
            throw RunnerLock.refusal(held)
        }
        lock.startRenewing(logger: logger) {}
        // One connection per simulated ERP, all reading the same JAGGAER tenant.
        var connections: [(connection: Connection, erp: SimulatorEndpoints.ERP)] = []
        for erp in endpoints.erps where kinds.isEmpty || kinds.contains(erp.kind) {
            var connection = try endpoints.connection(id: SimulatorEndpoints.connectionId(erp), erp: erp)
            customize(&connection)
            try await ConnectionStore(store: store, vault: Vault(masterKey: masterKey)).save(connection)
            connections.append((connection, erp))
        }
        guard !connections.isEmpty else {
            await lock.release()
            try await store.close()
            throw ValidationError(
                "--erp \(kinds.joined(separator: ",")) names no simulated ERP; there are \(endpoints.erps.map(\.kind).joined(separator: ", "))"
            )
        }

        var childEnvironment = environment
        childEnvironment["MLC_STATE"] = url
        childEnvironment["MLC_MASTER_KEY"] = keyText
        childEnvironment["MLC_LOG_LEVEL"] = environment["MLC_LOG_LEVEL"] ?? "warning"
        let runner = Runner(
            store: store,
            options: .init(
                binDirectory: functionsDirectory(), environment: childEnvironment, concurrency: concurrency,
                logPath: logPath, maxAttempts: connections[0].connection.flow.maxAttempts,
                baseBackoff: .milliseconds(500), maxBackoff: .seconds(10)),
            logger: logger
        )
        let syncStarted = ContinuousClock.now
        for (connection, _) in connections {
            try await runner.submit(Schedules.syncEvent(connection: connection.id, full: true))
        }
        try await runner.drain(waitForDelayed: true, deadline: Date().addingTimeInterval(300))
        let purchaseOrders = try await DemoPurchaseOrderLeg.run(runner: runner, store: store, connections: connections)
        let syncElapsed = ContinuousClock.now - syncStarted
        let control = SimulatorControl(endpoints: endpoints)
        let jaggaerBeforeInvoices = try await DemoLegJaggaerWriter.counts(endpoints)
        let countersBefore = try await control.counters()

        let flowStarted = ContinuousClock.now
        for (connection, _) in connections {
            try await runner.submit(Schedules.pollEvent(connection: connection.id, fromStart: fromStart))
        }
        try await runner.drain(waitForDelayed: true, deadline: Date().addingTimeInterval(1800))
        let flowElapsed = ContinuousClock.now - flowStarted

        var report = try await DemoReport.build(
            tenant: tenant,
            store: store,
            connections: connections,
            run: await runner.summary,
            stats: await runner.stats,
            pending: try await runner.pending(),
            counters: try await control.counters().subtracting(countersBefore),
            control: control,
            timings: .init(
                totalMs: Int((ContinuousClock.now - started).timeInterval * 1000),
                syncMs: Int(syncElapsed.timeInterval * 1000),
                flowMs: Int(flowElapsed.timeInterval * 1000)
            ),
            // Printed: a network store's password stays out of it.
            state: StateStores.masked(url)
        )
        report.mappingFirst = try await DemoLegMappingFirst.run(
            tenant: tenant, runner: runner, store: store, connections: connections, endpoints: endpoints)
        report.expectationsMet = report.expectationsMet && (report.mappingFirst?.met ?? true)
        report.purchaseOrders = purchaseOrders
        report.expectationsMet = report.expectationsMet && purchaseOrders.expectationsMet
        if let bc = connections.first(where: { $0.erp.matchesPurchaseOrders == true }) {
            let leg = try await DemoLegBusinessCentral.run(
                runner: runner, store: store, tenant: tenant, connection: bc.connection,
                summary: report.summary(bc.erp.kind), control: control)
            report.businessCentralLegs = leg
            report.expectationsMet = report.expectationsMet && leg.expectationsMet
        }
        // After the report's counters: the payment leg's requests are not the invoice flow's.
        let writerLeg = try await DemoLegJaggaerWriter.payments(
            beforeInvoices: jaggaerBeforeInvoices, endpoints: endpoints, store: store, connections: connections,
            runner: runner)
        report.jaggaerWriter = writerLeg
        report.expectationsMet = report.expectationsMet && writerLeg.expectationsMet
        if let fo = connections.first(where: { $0.erp.kind == "financeOperations" }) {
            let leg = try await DemoLegFinanceOperations.run(
                runner: runner, store: store, vault: Vault(masterKey: masterKey), connection: fo.connection,
                endpoints: endpoints, erp: fo.erp, logger: logger)
            report.financeOperationsPurchaseOrders = leg
            report.expectationsMet = report.expectationsMet && leg.expectationsMet
        }
        await lock.release()
        try await store.close()
        return report
    }

    static func sqlitePath(_ url: String) -> String? {
        for prefix in ["sqlite://", "sqlite:"] where url.hasPrefix(prefix) {
            return String(url.dropFirst(prefix.count))
        }
        return url.contains("://") ? nil : url
    }
}

/// Reads the simulators' control endpoints (`/_sim/...`) over HTTP, the same way for in-process and external ones.
struct SimulatorControl {
    let endpoints: SimulatorEndpoints

    private func get(_ url: String) async throws -> Data {
        let transport = AsyncHTTPClientTransport()
        do {
            let response = try await transport.send(HTTPRequest(method: "GET", url: url, timeout: .seconds(30)))
            await transport.shutdown()
            guard response.isSuccess else {
                throw ConnectorError(.upstreamUnavailable, "simulator control \(url) answered \(response.status)")
            }
            return response.body
        } catch {
            await transport.shutdown()
            throw error
        }
    }

    func counters() async throws -> Counters {
        var merged: [String: Int] = [:]
        for base in [endpoints.jaggaer.baseURL, endpoints.entra.authorityURL] + endpoints.erps.map(\.baseURL) {
            let data = try await get(base.trimmingTrailingSlash + "/_sim/counters")
            merged.merge(try JSONCoding.decode([String: Int].self, from: data)) { $0 + $1 }
        }
        return Counters(values: merged)
    }

    /// Every supplier invoice a simulated ERP holds, in the shape every ERP simulator gives.
    func documents(_ erp: SimulatorEndpoints.ERP) async throws -> [SimulatedDocument] {
        struct Page: Decodable { var value: [SimulatedDocument] }
        let data = try await get(erp.baseURL.trimmingTrailingSlash + "/_sim/erp/documents")
        return try JSONCoding.decode(Page.self, from: data).value
    }

    struct Counters: Sendable, Codable {
        var values: [String: Int]

        func subtracting(_ other: Counters) -> Counters {
            var result = values
            for (key, value) in other.values { result[key, default: 0] -= value }
            return Counters(values: result.filter { $0.value != 0 })
        }

        func sum(_ predicate: (String) -> Bool) -> Int {
            values.filter { predicate($0.key) }.reduce(0) { $0 + $1.value }
        }
    }
}
