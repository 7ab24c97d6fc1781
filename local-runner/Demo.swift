import ArgumentParser
import BusinessCentral
import ConnectorCore
import ConnectorHTTP
import ConnectorRuntime
import ConnectorSecurity
import ConnectorSimulators
import Foundation
import Logging

/// Where the simulated systems are and how to sign in: from the in-process simulators, or from the JSON that
/// `mlc-simulators serve` prints.
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
    struct BusinessCentral: Codable, Sendable {
        var baseURL: String
        var environment: String
        var companyId: String
        var companyName: String
    }
    var jaggaer: Jaggaer
    var entra: Entra
    var businessCentral: BusinessCentral

    init(host: SimulatorHost, tenant: DemoTenant) {
        let credentials = tenant.credentials
        jaggaer = .init(
            baseURL: host.jaggaerBaseURL, tokenURL: host.jaggaerTokenURL, clientId: credentials.jaggaerClientId,
            clientSecret: credentials.jaggaerClientSecret)
        entra = .init(
            authorityURL: host.entraAuthorityURL, tenantId: credentials.entraTenantId,
            clientId: credentials.entraClientId, clientSecret: credentials.entraClientSecret)
        businessCentral = .init(
            baseURL: host.businessCentralBaseURL, environment: credentials.businessCentralEnvironment,
            companyId: credentials.companyId, companyName: credentials.companyName)
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

    /// The demo connection: the simulated tenant with the mapping rules an AP team would set up for it.
    func connection(id: String) -> Connection {
        Connection(
            id: id,
            name: "Demo: JAGGAER → Business Central (simulated)",
            jaggaer: JaggaerSettings(
                baseURL: jaggaer.baseURL,
                tokenURL: jaggaer.tokenURL,
                clientId: jaggaer.clientId,
                clientSecret: .plain(Secret(jaggaer.clientSecret)),
                pageSize: 50
            ),
            erp: ERPSettings(
                BusinessCentralSettings(
                    tenantId: entra.tenantId,
                    environment: businessCentral.environment,
                    clientId: entra.clientId,
                    clientSecret: .plain(Secret(entra.clientSecret)),
                    authorityURL: entra.authorityURL,
                    apiBaseURL: businessCentral.baseURL,
                    companyName: businessCentral.companyName
                )
            ),
            mapping: MappingRules(
                accountSegment: "Account",
                dimensions: [
                    SegmentDimensionRule(segment: "Fund", dimension: "FUND"),
                    SegmentDimensionRule(segment: "Financial_Unit", dimension: "DEPARTMENT"),
                    SegmentDimensionRule(segment: "Program", dimension: "PROGRAM"),
                ],
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
            "Runs the main flow end to end against simulated JAGGAER and Business Central on loopback and prints a summary.",
        discussion: """
            Starts the simulators with a generated tenant (hundreds of approved invoices, vendors, accounts, dimensions, \
            a few deliberately unmappable records), adds the demo connection, syncs the ERP's master data, polls \
            JAGGAER and runs every invoice through transform-invoice and write-erp-invoice as separate processes, \
            then checks the result against the tenant's expected outcomes.
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
                let running = try await SimulatorHost.start(tenant: tenant)
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
    ) async throws -> DemoSummary {
        let url = state ?? "sqlite:.mlc/demo/state.sqlite"
        if !keepState, let path = Self.sqlitePath(url) {
            for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + suffix) }
        }
        // The demo's key lives only in this process and its children, unless one is exported already.
        let environment = ProcessInfo.processInfo.environment
        let keyText = environment["MLC_MASTER_KEY"].flatMap { $0.isEmpty ? nil : $0 } ?? MasterKey.generate()
        let masterKey = try MasterKey(base64: keyText)
        let store = try StateStores.open(url)
        // One runner per store, the demo included.
        let lock: RunnerLock
        do {
            lock = try await RunnerLock.acquire(store, kind: .runner)
        } catch let held as RunnerLock.Held {
            throw RunnerLock.refusal(held)
        }
        lock.startRenewing(logger: logger) {}
        let connection = endpoints.connection(id: "demo")
        try await ConnectionStore(store: store, vault: Vault(masterKey: masterKey)).save(connection)

        var childEnvironment = environment
        childEnvironment["MLC_STATE"] = url
        childEnvironment["MLC_MASTER_KEY"] = keyText
        childEnvironment["MLC_LOG_LEVEL"] = environment["MLC_LOG_LEVEL"] ?? "warning"
        let runner = Runner(
            store: store,
            options: .init(
                binDirectory: functionsDirectory(), environment: childEnvironment, concurrency: concurrency,
                logPath: defaultLogPath(url), maxAttempts: connection.flow.maxAttempts, baseBackoff: .milliseconds(500),
                maxBackoff: .seconds(10)),
            logger: logger
        )
        let syncStarted = ContinuousClock.now
        try await runner.submit(Schedules.syncEvent(connection: connection.id, full: true))
        try await runner.drain(waitForDelayed: true, deadline: Date().addingTimeInterval(300))
        let syncElapsed = ContinuousClock.now - syncStarted
        let countersBefore = try await SimulatorControl(endpoints: endpoints).counters()

        let flowStarted = ContinuousClock.now
        try await runner.submit(Schedules.pollEvent(connection: connection.id, fromStart: fromStart))
        try await runner.drain(waitForDelayed: true, deadline: Date().addingTimeInterval(900))
        let flowElapsed = ContinuousClock.now - flowStarted

        let control = SimulatorControl(endpoints: endpoints)
        let countersAfter = try await control.counters()
        let purchaseInvoices = try await control.purchaseInvoices()
        let summary = try await DemoSummary.build(
            tenant: tenant,
            store: store,
            keys: try StateKeys(connection: connection.id),
            stats: await runner.stats,
            pending: try await runner.pending(),
            counters: countersAfter.subtracting(countersBefore),
            purchaseInvoices: purchaseInvoices,
            timings: .init(
                totalMs: Int((ContinuousClock.now - started).timeInterval * 1000),
                syncMs: Int(syncElapsed.timeInterval * 1000),
                flowMs: Int(flowElapsed.timeInterval * 1000)
            ),
            state: url
        )
        await lock.release()
        try await store.close()
        return summary
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
        for base in [endpoints.jaggaer.baseURL, endpoints.entra.authorityURL, endpoints.businessCentral.baseURL] {
            let data = try await get(base.trimmingTrailingSlash + "/_sim/counters")
            merged.merge(try JSONCoding.decode([String: Int].self, from: data)) { $0 + $1 }
        }
        return Counters(values: merged)
    }

    /// Every purchase invoice in the simulated BC, as JSON objects.
    func purchaseInvoices() async throws -> [JSONValue] {
        let data = try await get(
            endpoints.businessCentral.baseURL.trimmingTrailingSlash + "/_sim/data/purchaseInvoices")
        let value = try JSONCoding.decode(JSONValue.self, from: data)
        if case .array(let items) = value { return items }
        if case .array(let items)? = value["value"] { return items }
        return []
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
