import ArgumentParser
import BusinessCentral
import ConnectorCore
import ConnectorFlows
import ConnectorHTTP
import ConnectorRunner
import ConnectorRuntime
import ConnectorSecurity
import ConnectorSimulators
import Foundation

/// `make bench`: cold start of every function, HTTP requests per invoice on each side, invoices per second through
/// the runner (optionally at a simulated latency and BC rate limit), and peak memory per step process.
struct Bench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measures cold start, requests per invoice, throughput and memory.")

    @Option(help: "Invoices in the simulated tenant.") var invoices = 300
    @Option(help: "Repetitions per function for cold start.") var repeats = 15
    @Option(help: "Latency added to every JAGGAER and BC request (ms).") var latencyMs = 0
    @Option(help: "Step processes at once.") var concurrency = 6
    @Option(help: "Write the results as JSON to this file too.") var output: String?
    @Option(help: "Workers per step for the scaling figure (repeatable; none with --scaling-workers 0).")
    var scalingWorkers: [Int] = [1, 2, 4]
    @Option(help: "Latency per Business Central request for the scaling figure (ms).") var scalingLatencyMs = 100
    @Option(help: "Invoices in the tenant of each scaling point.") var scalingInvoices = 200
    @Option(help: "Store backends of the scaling figure (repeatable: sqlite, redis, postgres).")
    var scalingBackends: [String] = ["sqlite", "redis", "postgres"]
    @Option(
        help:
            "Business Central connections of the scaling figure, each its own environment and request budget (repeatable)."
    )
    var scalingConnections: [Int] = [1, 2]
    @Option(help: "Runs per step for the step budget breakdown (none with 0).") var breakdownRuns = 31
    @Option(help: "Items queued ahead for the claim cost figure (none with 0).") var claimBacklog = 2000
    @Option(help: "Claims timed per backend and kind of claim for the claim cost figure.") var claimRuns = 400

    struct Result: Codable {
        struct Start: Codable {
            var function: String
            var event: String
            var medianMs: Double
            var p90Ms: Double
            var peakRSSMiB: Double
            var runs: Int
        }
        var coldStart: [Start]
        var demo: DemoReport
        var latencyMs: Int
        var concurrency: Int
        var machine: String
        /// Invoices per second against workers per step (`BenchWorkers.swift`).
        var scaling: [WorkerScaling.Point]?
        /// Where a step invocation's time goes (`BenchBreakdown.swift`).
        var stepBudget: [StepBreakdown.Figure]?
        /// One claim and its ack with a backlog queued, oldest first and fair, per backend (`BenchClaims.swift`).
        var claims: [ClaimCost.Figure]?
    }

    func run() async throws {
        await guarded {
            let logger = runnerLogger()
            let tenant = DemoTenant.generate(invoiceCount: invoices, seed: 42)
            let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
                "mlc-bench-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(at: directory) }
            let stateURL = "sqlite:" + directory.appendingPathComponent("state.sqlite").path
            let host = try await SimulatorHost.start(tenant: tenant)
            do {
                let endpoints = SimulatorEndpoints(host: host, tenant: tenant)
                if latencyMs > 0 {
                    try await Self.addLatency(latencyMs, endpoints: endpoints)
                }
                let key = MasterKey.generate()
                setenv("MLC_MASTER_KEY", key, 1)
                // 1. Throughput and requests per invoice: the full demo flow.
                _ = logger
                let summary = try await Self.runFlow(
                    concurrency: concurrency, tenant: tenant, endpoints: endpoints, stateURL: stateURL)

                // 2. Cold start: each function re-run with a real input taken from the audit trail.
                let environment = ProcessInfo.processInfo.environment.merging([
                    "MLC_STATE": stateURL, "MLC_MASTER_KEY": key, "MLC_LOG_LEVEL": "error",
                ]) { $1 }
                var starts: [Result.Start] = []
                let samples = try await Self.sampleEvents(stateURL: stateURL)
                for (function, event, label) in samples {
                    starts.append(
                        try await Self.measure(
                            function: function, event: event, label: label, environment: environment, repeats: repeats))
                }
                let companyId =
                    (try? endpoints.connection(id: "demo").erp.typed(BusinessCentralSettings.self))?
                    .companyId ?? tenant.credentials.companyId
                for (event, label) in try Self.webhookEvents(companyId: companyId) {
                    starts.append(
                        try await Self.measure(
                            function: "handle-erp-notification", event: event, label: label, environment: environment,
                            repeats: repeats))
                }
                let malformed = Data("{not json".utf8)
                starts.append(
                    try await Self.measure(
                        function: "transform-invoice", event: malformed, label: "malformed event (exit 65, no state)",
                        environment: environment, repeats: repeats))
                let budget =
                    breakdownRuns > 0
                    ? try await Self.stepBudget(samples: samples, environment: environment, runs: breakdownRuns) : nil
                await host.shutdown()

                let counts = scalingWorkers.filter { $0 > 0 }
                let backends = try scalingBackends.map { name in
                    guard let backend = WorkerScaling.Backend(rawValue: name) else {
                        throw ConnectorError(
                            .configInvalid, "--scaling-backends: \(name.prefix(40)) is not sqlite, redis or postgres")
                    }
                    return backend
                }
                let scaling =
                    counts.isEmpty
                    ? nil
                    : try await WorkerScaling.measure(
                        counts: counts, invoices: scalingInvoices, latencyMs: scalingLatencyMs, backends: backends,
                        connections: scalingConnections.filter { $0 > 0 })
                let claims =
                    claimBacklog > 0 && claimRuns > 0
                    ? try await ClaimCost.measure(backends: backends, backlog: claimBacklog, runs: claimRuns) : nil
                let result = Result(
                    coldStart: starts, demo: summary, latencyMs: latencyMs, concurrency: concurrency,
                    machine: Self.machine(), scaling: scaling, stepBudget: budget, claims: claims)
                Self.report(result)
                if let budget { StepBreakdown.report(budget) }
                if let scaling { WorkerScaling.report(scaling, latencyMs: scalingLatencyMs) }
                if let claims { ClaimCost.report(claims) }
                if let output {
                    let encoder = JSONCoding.encoder
                    encoder.outputFormatting.insert(.prettyPrinted)
                    try encoder.encode(result).write(to: URL(fileURLWithPath: output))
                }
            } catch {
                await host.shutdown()
                throw error
            }
        }
    }

    static func runFlow(concurrency: Int, tenant: DemoTenant, endpoints: SimulatorEndpoints, stateURL: String)
        async throws -> DemoReport
    {
        let keyText = ProcessInfo.processInfo.environment["MLC_MASTER_KEY"] ?? ""
        return try await Demo.runFlow(
            tenant: tenant, endpoints: endpoints, url: stateURL, keyText: keyText, concurrency: concurrency,
            logPath: nil, logger: runnerLogger(), started: .now
        ) { connection in
            // Webhook settings for the cold-start samples of handle-erp-notification (nothing subscribes here).
            if connection.erp.kind == BusinessCentralSettings.kind {
                connection.notifications = NotificationSettings(
                    BusinessCentralNotifications(clientState: .plain(Secret(benchClientState))),
                    kind: BusinessCentralSettings.kind)
            }
        }
    }

    /// One stored input per function, from the audit trail of the run just made.
    static func sampleEvents(stateURL: String) async throws -> [(String, Data, String)] {
        let store = try await StateStores.open(stateURL)
        let keys = try StateKeys(connection: "demo")
        let audit = AuditLog(store: store, keys: keys)
        var samples: [String: (Data, String)] = [:]
        for status in try await audit.allStatuses().prefix(40) {
            for entry in try await audit.entries(recordId: status.recordId) {
                guard samples[entry.step] == nil, let input = entry.input else { continue }
                samples[entry.step] = (
                    try JSONCoding.encode(input), "\(entry.eventType) redelivered (\(entry.status.rawValue) path)"
                )
            }
        }
        for record in ["masterdata/vendors", "masterdata/accounts", "poll/jaggaer-invoices"] {
            for entry in try await audit.entries(recordId: record) {
                guard samples[entry.step] == nil, let input = entry.input else { continue }
                samples[entry.step] = (try JSONCoding.encode(input), "\(entry.eventType) redelivered")
            }
        }
        try await store.close()
        return FunctionCatalog.all.compactMap { spec in samples[spec.name].map { (spec.name, $0.0, $0.1) } }
    }

    static let benchClientState = "bench-client-state-\(UUID().uuidString.prefix(8))"

    /// Webhook requests as the gateway hands them to `handle-erp-notification`: a handshake, a genuine
    /// notification and a forged one.
    static func webhookEvents(companyId: String?) throws -> [(Data, String)] {
        func event(_ request: WebhookRequest) throws -> Data {
            try JSONCoding.encode(
                CloudEvent(
                    source: "urn:mlconnector:webhook-gateway", type: EventType.notificationReceived,
                    data: try JSONValue(encoding: request), connection: "demo", flow: "notifications"))
        }
        func notification(_ clientState: String) -> String {
            let entry = [
                "subscriptionId": "c670ea73cacb459bb51dc1740da2f1db", "clientState": clientState,
                "resource":
                    "api/v2.0/companies(00000000-0000-0000-0000-000000000000)/vendors(00000000-0000-0000-0000-000000000001)",
                "changeType": "updated", "expirationDateTime": "2030-01-01T00:00:00Z",
            ]
            return (try? JSONCoding.encode(["value": [entry]])).map { String(decoding: $0, as: UTF8.self) } ?? ""
        }
        return [
            (
                try event(
                    WebhookRequest(system: "businessCentral", method: "POST", query: ["validationToken": "bench-token"])
                ),
                "BC handshake (200 with the token, nothing stored)"
            ),
            (
                try event(
                    WebhookRequest(system: "businessCentral", method: "POST", body: notification(benchClientState))),
                "BC notification, one vendor change (202, emits one sync)"
            ),
            (
                try event(
                    WebhookRequest(
                        system: "businessCentral", method: "POST", body: notification("forged-state-0000000000"))),
                "forged BC notification (401, exit 65, nothing stored)"
            ),
        ]
    }

    /// Runs the function `repeats` times, one after the other: wall time and peak RSS of each process.
    static func measure(function: String, event: Data, label: String, environment: [String: String], repeats: Int)
        async throws -> Result.Start
    {
        let executable = functionsDirectory().appendingPathComponent(function)
        var times: [Double] = []
        for _ in 0..<max(1, repeats) {
            let output = try await ChildProcess.run(
                executable: executable, environment: environment, stdin: event, stderrPath: nil, timeout: .seconds(60))
            times.append(output.elapsedMs)
        }
        // Peak memory through GNU time, which forks (posix_spawn's vfork would charge this process's memory
        // to the child's high-water mark).
        var peak = 0
        if FileManager.default.isExecutableFile(atPath: "/usr/bin/time") {
            let report = FileManager.default.temporaryDirectory.appendingPathComponent("mlc-rss-\(UUID().uuidString)")
                .path
            defer { try? FileManager.default.removeItem(atPath: report) }
            for _ in 0..<3 {
                _ = try await ChildProcess.run(
                    executable: URL(fileURLWithPath: "/usr/bin/time"),
                    arguments: ["-f", "%M", "-o", report, executable.path],
                    environment: environment, stdin: event, stderrPath: nil, timeout: .seconds(60)
                )
                let text = (try? String(contentsOfFile: report, encoding: .utf8)) ?? ""
                peak = max(
                    peak,
                    Int(text.split(separator: "\n").last.map(String.init)?.trimmingCharacters(in: .whitespaces) ?? "")
                        ?? 0)
            }
        }
        times.sort()
        return Result.Start(
            function: function,
            event: label,
            medianMs: times[times.count / 2],
            p90Ms: times[min(times.count - 1, Int(Double(times.count) * 0.9))],
            peakRSSMiB: Double(peak) / 1024,
            runs: times.count
        )
    }

    /// The step budget's three cases: `write-erp-invoice`'s ok path (a fresh invoice each run: claim, ERP lookup,
    /// create, record), the same step on a redelivered event (duplicate path), and a malformed event.
    ///
    /// The store stays open in this process meanwhile, as it does in `local-runner run` and `trigger`, which run every
    /// step: on SQLite the first process to open a WAL database when no other has it open rebuilds the WAL index by
    /// reading the whole WAL (up to 4 MB), which a step under the runner never does.
    static func stepBudget(samples: [(String, Data, String)], environment: [String: String], runs: Int) async throws
        -> [StepBreakdown.Figure]
    {
        let held = try await StateStores.open(StateStores.url(from: environment), mode: .readWrite)
        _ = try await held.get("bench/hold")
        do {
            let figures = try await budgetFigures(samples: samples, environment: environment, runs: runs)
            try await held.close()
            return figures
        } catch {
            try? await held.close()
            throw error
        }
    }

    private static func budgetFigures(samples: [(String, Data, String)], environment: [String: String], runs: Int)
        async throws -> [StepBreakdown.Figure]
    {
        var figures: [StepBreakdown.Figure] = []
        if let (_, sample, _) = samples.first(where: { $0.0 == "write-erp-invoice" }) {
            let event = try JSONCoding.decode(CloudEvent.self, from: sample)
            let invoice = try event.decodeData(MappedInvoice.self)
            figures.append(
                try await StepBreakdown.measure(
                    function: "write-erp-invoice", label: "ok path, a new invoice each run", runs: runs,
                    environment: environment
                ) { run in
                    var fresh = invoice
                    fresh.sourceId = "\(invoice.sourceId)-b\(run)"
                    fresh.recordId = "\(invoice.recordId)-b\(run)"
                    fresh.vendorInvoiceNumber = "\(invoice.vendorInvoiceNumber.prefix(24))-B\(run)"
                    var copy = event
                    copy.id = UUID().uuidString
                    copy.recordid = fresh.recordId
                    copy.data = try JSONValue(encoding: fresh)
                    return try JSONCoding.encode(copy)
                })
            figures.append(
                try await StepBreakdown.measure(
                    function: "write-erp-invoice", label: "redelivered, duplicate path", runs: runs,
                    environment: environment
                ) { _ in sample })
        }
        figures.append(
            try await StepBreakdown.measure(
                function: "transform-invoice", label: "malformed event (exit 65, no state)", runs: runs,
                environment: environment
            ) { _ in Data("{not json".utf8) })
        return figures
    }

    static func addLatency(_ ms: Int, endpoints: SimulatorEndpoints) async throws {
        let transport = AsyncHTTPClientTransport()
        for base in [endpoints.jaggaer.baseURL] + endpoints.erps.map(\.baseURL) {
            let rule = #"[{"kind":"latency","latencyMs":\#(ms),"count":1000000}]"#
            _ = try await transport.send(
                HTTPRequest(
                    method: "POST", url: base + "/_sim/faults", headers: [("Content-Type", "application/json")],
                    body: Data(rule.utf8)))
        }
        await transport.shutdown()
    }

    /// ERP requests per written invoice on a steady flow, lookups and sign-in included (issue 9's bar for BC).
    static let requestBar = 1.05

    static func machine() -> String {
        let cores = ProcessInfo.processInfo.activeProcessorCount
        let memory = Double(ProcessInfo.processInfo.physicalMemory) / 1_073_741_824
        return "\(cores) cores, \(String(format: "%.0f", memory)) GiB"
    }

    static func report(_ result: Result) {
        print(
            "ml-connector benchmark (\(result.machine); simulated latency \(result.latencyMs) ms; \(result.concurrency) concurrent steps)"
        )
        print("")
        print(
            "Cold start per function (whole process: spawn → result → exit), \(result.coldStart.first?.runs ?? 0) runs:"
        )
        for start in result.coldStart {
            print(
                "  \(start.function.padding(toLength: 24, withPad: " ", startingAt: 0)) median \(String(format: "%6.1f", start.medianMs)) ms  p90 \(String(format: "%6.1f", start.p90Ms)) ms  peak RSS \(String(format: "%5.1f", start.peakRSSMiB)) MiB  [\(start.event)]"
            )
        }
        let demo = result.demo
        print("")
        print("Flow over the same JAGGAER tenant into \(demo.connections.count) ERPs, one connection each:")
        for summary in demo.connections {
            let perInvoice = summary.http.erpRequestsPerWrittenInvoice
            let bar =
                perInvoice.map {
                    $0 <= Self.requestBar
                        ? " (within the \(Self.requestBar) bar)" : " (above the \(Self.requestBar) bar)"
                } ?? ""
            print(
                "  \(summary.erpName): captured \(summary.captured), written \(summary.draftedThisRun), already in ERP \(summary.alreadyInERP), review \(summary.sentToReview), failed \(summary.failed); \(summary.http.erpRequestsPerWrittenInvoice.map { String(format: "%.2f", $0) } ?? "-") ERP requests per written invoice (\(summary.http.erpRequests) requests)\(bar)"
            )
        }
        print(
            "  JAGGAER requests per captured invoice: \(demo.http.jaggaerRequestsPerCapturedInvoice.map { String(format: "%.2f", $0) } ?? "-") (\(demo.http.jaggaerRequests) requests, \(demo.http.keycloakTokenRequests) token requests); Entra tokens \(demo.http.entraTokenRequests)"
        )
        print(
            "  throughput: \(demo.timings.invoicesPerSecond.map { String(format: "%.1f", $0) } ?? "-") invoices/s over all connections (flow \(demo.timings.flowMs) ms)"
        )
        print("  expectations met: \(demo.expectationsMet)")
    }
}
