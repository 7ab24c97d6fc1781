import Foundation
import Logging

/// Runs the simulated systems — JAGGAER ONE with its Keycloak, Microsoft Entra ID, Business Central, the SAP
/// Business One Service Layer, Acumatica — each as its own Hummingbird application on its own loopback port, seeded
/// from a ``DemoTenant``.
///
/// ```swift
/// try await withSimulators(tenant: .generate()) { host in
///     // point clients at host.jaggaerBaseURL, host.jaggaerTokenURL, host.entraAuthorityURL, host.businessCentralBaseURL
/// }
/// ```
package final class SimulatorHost: Sendable {
    /// Start-up options.
    package struct Options: Sendable {
        package var host: String
        package var jaggaerPort: Int
        package var entraPort: Int
        package var businessCentralPort: Int
        /// SAP Business One Service Layer port.
        package var sapBusinessOnePort: Int
        /// `SessionTimeout` of Service Layer sessions, in minutes.
        package var sapBusinessOneSessionTimeout: Int
        package var acumaticaPort: Int
        /// Seeds SAP Business One with the purchase orders the tenant's invoices quote; false: B1 starts without
        /// them, and they come from JAGGAER's purchase orders through `sync-purchase-orders`.
        package var sapBusinessOnePurchaseOrders: Bool
        /// Acumatica's tunables (deployed endpoint versions, licence limits, UNCONFIRMED behaviours).
        package var acumatica: AcumaticaOptions
        /// Keycloak (JAGGAER) token lifetime in seconds.
        package var jaggaerTokenLifetime: Int
        /// Entra token lifetime in seconds (`expires_in`).
        package var entraTokenLifetime: Int
        /// BC requests allowed per token per `rateLimitWindow` seconds.
        package var rateLimit: Int
        package var rateLimitWindow: TimeInterval
        /// The clock all three systems share; advance it to expire tokens without sleeping.
        package var clock: SimulatorClock
        package var logger: Logger

        package init(
            host: String = "127.0.0.1",
            jaggaerPort: Int = 0,
            entraPort: Int = 0,
            businessCentralPort: Int = 0,
            sapBusinessOnePort: Int = 0,
            sapBusinessOneSessionTimeout: Int = 30,
            acumaticaPort: Int = 0,
            acumatica: AcumaticaOptions = AcumaticaOptions(),
            jaggaerTokenLifetime: Int = 300,
            entraTokenLifetime: Int = 3599,
            rateLimit: Int = 6_000,
            rateLimitWindow: TimeInterval = 300,
            clock: SimulatorClock = SimulatorClock(),
            logger: Logger = SimulatorHost.quietLogger,
            sapBusinessOnePurchaseOrders: Bool = true
        ) {
            self.sapBusinessOnePurchaseOrders = sapBusinessOnePurchaseOrders
            self.host = host
            self.jaggaerPort = jaggaerPort
            self.entraPort = entraPort
            self.businessCentralPort = businessCentralPort
            self.sapBusinessOnePort = sapBusinessOnePort
            self.sapBusinessOneSessionTimeout = sapBusinessOneSessionTimeout
            self.acumaticaPort = acumaticaPort
            self.acumatica = acumatica
            self.jaggaerTokenLifetime = jaggaerTokenLifetime
            self.entraTokenLifetime = entraTokenLifetime
            self.rateLimit = rateLimit
            self.rateLimitWindow = rateLimitWindow
            self.clock = clock
            self.logger = logger
        }
    }

    /// A logger that only reports errors (the default for tests).
    package static var quietLogger: Logger {
        var logger = Logger(label: "mlc-simulators")
        logger.logLevel = .error
        return logger
    }

    package let tenant: DemoTenant
    package let jaggaer: JaggaerSimulator
    package let entra: EntraSimulator
    package let businessCentral: BusinessCentralSimulator
    package let sapBusinessOne: SAPBusinessOneSimulator
    package let acumatica: AcumaticaSimulator
    package let dynamicsNAV: DynamicsNAVSimulator
    package let financeOperations: FinanceOperationsSimulator
    package let clock: SimulatorClock

    private let jaggaerServer: RunningServer
    private let entraServer: RunningServer
    private let businessCentralServer: RunningServer
    private let sapBusinessOneServer: RunningServer
    private let acumaticaServer: RunningServer
    private let dynamicsNAVServer: RunningServer
    private let financeOperationsServer: RunningServer

    /// `http://127.0.0.1:PORT` of JAGGAER (API under `/j1p/api/public/...`, Keycloak under `/auth/realms/...`).
    package var jaggaerBaseURL: String { jaggaerServer.baseURL }
    /// The full Keycloak token URL.
    package var jaggaerTokenURL: String { jaggaerServer.baseURL + JaggaerSimulator.tokenPath }
    /// The Entra authority; the token endpoint is `{authority}/{tenantId}/oauth2/v2.0/token`.
    package var entraAuthorityURL: String { entraServer.baseURL }
    /// The Entra token URL for the tenant's directory.
    package var entraTokenURL: String { "\(entraServer.baseURL)/\(entra.tenantId)/oauth2/v2.0/token" }
    /// The BC host; the API is at `{base}/v2.0/{tenant}/{environment}/api/v2.0`.
    package var businessCentralBaseURL: String { businessCentralServer.baseURL }
    /// The BC API root for the tenant's environment.
    package var businessCentralAPIURL: String {
        "\(businessCentralServer.baseURL)/v2.0/\(entra.tenantId)/\(businessCentral.environmentName)/api/v2.0"
    }
    /// The Acumatica instance URL (identity under `/identity/connect/token`, API under `/entity/...`).
    package var acumaticaBaseURL: String { acumaticaServer.baseURL }
    /// The first deployed endpoint's base URL, e.g. `{instance}/entity/Default/24.200.001`.
    package var acumaticaEndpointURL: String {
        "\(acumaticaServer.baseURL)/entity/\(acumatica.options.endpoints.first ?? "Default/24.200.001")"
    }

    /// The NAV server (its `/_sim/...` control routes are under it).
    package var dynamicsNAVBaseURL: String { dynamicsNAVServer.baseURL }
    /// The NAV server's OData V4 root (`{base}/DynamicsNAV110/ODataV4`).
    package var dynamicsNAVODataURL: String {
        "\(dynamicsNAVServer.baseURL)/\(dynamicsNAV.accessDetails.instance)/ODataV4"
    }
    /// The F&O environment URL (`{base}/data` is the OData service).
    package var financeOperationsBaseURL: String { financeOperationsServer.baseURL }

    /// The Service Layer host; the API is at `{base}/b1s/v1` and `{base}/b1s/v2`.
    package var sapBusinessOneBaseURL: String { sapBusinessOneServer.baseURL }
    /// The Service Layer v2 root (`…/b1s/v2`).
    package var sapBusinessOneServiceURL: String { sapBusinessOneServer.baseURL + "/b1s/v2" }

    private init(
        tenant: DemoTenant,
        jaggaer: JaggaerSimulator,
        entra: EntraSimulator,
        businessCentral: BusinessCentralSimulator,
        sapBusinessOne: SAPBusinessOneSimulator,
        acumatica: AcumaticaSimulator,
        financeOperations: (FinanceOperationsSimulator, RunningServer),
        clock: SimulatorClock,
        servers: (RunningServer, RunningServer, RunningServer, RunningServer, RunningServer),
        dynamicsNAV: DynamicsNAVSimulator, dynamicsNAVServer: RunningServer
    ) {
        self.dynamicsNAV = dynamicsNAV
        self.dynamicsNAVServer = dynamicsNAVServer
        (self.financeOperations, financeOperationsServer) = financeOperations
        self.tenant = tenant
        self.jaggaer = jaggaer
        self.entra = entra
        self.businessCentral = businessCentral
        self.sapBusinessOne = sapBusinessOne
        self.acumatica = acumatica
        self.clock = clock
        (jaggaerServer, entraServer, businessCentralServer, sapBusinessOneServer, acumaticaServer) = servers
    }

    /// Seeds the systems from `tenant` and starts them.
    /// - Throws: when a port cannot be bound; nothing is left running then.
    package static func start(tenant: DemoTenant, options: Options = Options()) async throws -> SimulatorHost {
        let credentials = tenant.credentials
        let jaggaer = JaggaerSimulator(
            credentials: ClientCredentials(
                clientId: credentials.jaggaerClientId, clientSecret: credentials.jaggaerClientSecret),
            tokenLifetime: options.jaggaerTokenLifetime, clock: options.clock)
        for invoice in tenant.jaggaerInvoices {
            try jaggaer.invoices.upsert(invoice)
        }
        for order in JaggaerPurchaseOrderStore.documents(fromInvoices: tenant.jaggaerInvoices) {
            try jaggaer.purchaseOrders.upsert(order)
        }
        let entra = EntraSimulator(
            tenantId: credentials.entraTenantId,
            credentials: ClientCredentials(
                clientId: credentials.entraClientId, clientSecret: credentials.entraClientSecret),
            tokenLifetime: options.entraTokenLifetime, clock: options.clock)
        let businessCentral = BusinessCentralSimulator(
            tenantId: credentials.entraTenantId, environmentName: credentials.businessCentralEnvironment,
            tokens: entra.tokens, clock: options.clock, rateLimit: options.rateLimit,
            rateWindow: options.rateLimitWindow)
        businessCentral.store.seed(tenant.businessCentral)
        let sapBusinessOne = SAPBusinessOneSimulator(
            account: B1DemoData.account(for: tenant), sessionTimeoutMinutes: options.sapBusinessOneSessionTimeout,
            clock: options.clock)
        sapBusinessOne.store.seed(
            B1DemoData.company(from: tenant, purchaseOrders: options.sapBusinessOnePurchaseOrders))
        let acumaticaDemo = tenant.acumatica
        let acumatica = AcumaticaSimulator(
            access: acumaticaDemo.access, options: options.acumatica, clock: options.clock)
        acumatica.seed(acumaticaDemo)
        let dynamicsNAV = DynamicsNAVSimulator(
            access: NAVDemoData.access(for: tenant), clock: options.clock, tokens: entra.tokens)
        dynamicsNAV.store.addCompany(tenant.credentials.companyName, data: NAVDemoData.company(from: tenant))
        let financeOperations = FinanceOperationsSimulator(
            tokens: entra.tokens, registeredClients: [credentials.entraClientId], defaultCompany: FODemoData.company,
            clock: options.clock)
        FODemoData.seed(financeOperations.store, from: tenant)

        var started: [RunningServer] = []
        do {
            started.append(
                try await RunningServer.start(
                    app: jaggaer, host: options.host, port: options.jaggaerPort, logger: options.logger))
            started.append(
                try await RunningServer.start(
                    app: entra, host: options.host, port: options.entraPort, logger: options.logger))
            started.append(
                try await RunningServer.start(
                    app: businessCentral, host: options.host, port: options.businessCentralPort, logger: options.logger)
            )
            started.append(
                try await RunningServer.start(
                    app: sapBusinessOne, host: options.host, port: options.sapBusinessOnePort, logger: options.logger))
            started.append(
                try await RunningServer.start(
                    app: acumatica, host: options.host, port: options.acumaticaPort, logger: options.logger))
            started.append(
                try await RunningServer.start(app: dynamicsNAV, host: options.host, port: 0, logger: options.logger))
            started.append(
                try await RunningServer.start(
                    app: financeOperations, host: options.host, port: 0, logger: options.logger))
        } catch {
            for server in started { await server.stop() }
            throw error
        }
        // F&O tokens are issued for the environment's own URL (`https://<host>/.default`).
        financeOperations.setResource(started[6].baseURL)
        entra.allowScope(started[6].baseURL + "/.default")
        return SimulatorHost(
            tenant: tenant, jaggaer: jaggaer, entra: entra, businessCentral: businessCentral,
            sapBusinessOne: sapBusinessOne, acumatica: acumatica,
            financeOperations: (financeOperations, started[6]), clock: options.clock,
            servers: (started[0], started[1], started[2], started[3], started[4]),
            dynamicsNAV: dynamicsNAV, dynamicsNAVServer: started[5])
    }

    /// Stops all servers and waits for them to close.
    package func shutdown() async {
        await sapBusinessOneServer.stop()
        await acumaticaServer.stop()
        await dynamicsNAVServer.stop()
        await financeOperationsServer.stop()
        await businessCentralServer.stop()
        await entraServer.stop()
        await jaggaerServer.stop()
    }

    /// Request counts of all apps, keyed `"<system> <METHOD> <template>"`.
    package var counters: [String: Int] {
        var merged = jaggaer.counters.snapshot()
        merged.merge(entra.counters.snapshot()) { $0 + $1 }
        merged.merge(businessCentral.counters.snapshot()) { $0 + $1 }
        merged.merge(sapBusinessOne.counters.snapshot()) { $0 + $1 }
        merged.merge(acumatica.counters.snapshot()) { $0 + $1 }
        merged.merge(dynamicsNAV.counters.snapshot()) { $0 + $1 }
        merged.merge(financeOperations.counters.snapshot()) { $0 + $1 }
        return merged
    }

    /// The kinds of the simulated ERPs, in the order of `erps`.
    package static let erpKinds = [
        "businessCentral", "sapBusinessOne", "acumatica", "dynamicsNAV", "financeOperations",
    ]

    /// The simulated ERPs, each with the `erp.<kind>` block of a connection reaching it: what the demo, chaos and
    /// bench run against, one connection per ERP.
    package var erps: [SimulatedERPEndpoint] {
        let credentials = tenant.credentials
        return [
            SimulatedERPEndpoint(
                erp: businessCentral, baseURL: businessCentralBaseURL,
                settings: .object(
                    SimJSONObject([
                        "tenantId": .string(credentials.entraTenantId),
                        "environment": .string(credentials.businessCentralEnvironment),
                        "clientId": .string(credentials.entraClientId),
                        "clientSecret": .string(credentials.entraClientSecret),
                        "authorityURL": .string(entraAuthorityURL),
                        "apiBaseURL": .string(businessCentralBaseURL),
                        "companyName": .string(credentials.companyName),
                    ]))),
            SimulatedERPEndpoint(
                erp: sapBusinessOne, baseURL: sapBusinessOneBaseURL,
                settings: .object(
                    SimJSONObject([
                        "serviceLayerURL": .string(sapBusinessOneServiceURL),
                        "companyDB": .string(sapBusinessOne.sessions.account.companyDB),
                        "username": .string(sapBusinessOne.sessions.account.userName),
                        "password": .string(sapBusinessOne.sessions.account.password),
                        "costingCodes": .object(
                            SimJSONObject(
                                pairs: B1DemoData.segmentDimensions.map {
                                    (
                                        $0.code,
                                        SimJSON.string($0.dimension == 1 ? "CostingCode" : "CostingCode\($0.dimension)")
                                    )
                                })),
                    ])),
                dimensionValues: B1DemoData.dimensionValueMapping(tenant)),
            SimulatedERPEndpoint(
                erp: acumatica, baseURL: acumaticaBaseURL,
                settings: .object(
                    SimJSONObject([
                        "instanceURL": .string(acumaticaBaseURL),
                        "tenant": .string(acumatica.access.tenant),
                        "authentication": .string("oauth"),
                        "clientId": .string(acumatica.access.clientId),
                        "clientSecret": .string(acumatica.access.clientSecret),
                        "username": .string(acumatica.access.username),
                        "password": .string(acumatica.access.password),
                        // The simulator's licence has no per-minute limit; the connection's budget is the pace.
                        "requestsPerMinute": .int(6000),
                        "subaccountSegments": .array(
                            AcumaticaDemo.subaccountSegments.map { .string($0.dimension) }),
                    ]))),
            SimulatedERPEndpoint(erp: dynamicsNAV, baseURL: dynamicsNAVBaseURL, settings: navSettings),
            SimulatedERPEndpoint(
                erp: financeOperations, baseURL: financeOperationsBaseURL,
                settings: FODemoData.connectionSettings(host: self)),
        ]
    }

    /// Resets the counters of all apps.
    package func resetCounters() {
        jaggaer.counters.reset()
        entra.counters.reset()
        businessCentral.counters.reset()
        sapBusinessOne.counters.reset()
        acumatica.counters.reset()
        dynamicsNAV.counters.reset()
        financeOperations.counters.reset()
    }

    /// Clears the fault rules of all apps.
    package func clearFaults() {
        jaggaer.faults.clear()
        entra.faults.clear()
        businessCentral.faults.clear()
        sapBusinessOne.faults.clear()
        acumatica.faults.clear()
        dynamicsNAV.faults.clear()
        financeOperations.faults.clear()
    }

    /// The JSON object the `mlc-simulators serve` command prints: URLs and the tenant's credentials.
    package var connectionInfo: SimJSON {
        let credentials = tenant.credentials
        return .object(
            SimJSONObject([
                "jaggaer": .object(
                    SimJSONObject([
                        "baseURL": .string(jaggaerBaseURL),
                        "tokenURL": .string(jaggaerTokenURL),
                        "clientId": .string(credentials.jaggaerClientId),
                        "clientSecret": .string(credentials.jaggaerClientSecret),
                    ])),
                "entra": .object(
                    SimJSONObject([
                        "authorityURL": .string(entraAuthorityURL),
                        "tokenURL": .string(entraTokenURL),
                        "tenantId": .string(credentials.entraTenantId),
                        "clientId": .string(credentials.entraClientId),
                        "clientSecret": .string(credentials.entraClientSecret),
                        "scope": .string(EntraSimulator.businessCentralScope),
                    ])),
                "businessCentral": .object(
                    SimJSONObject([
                        "baseURL": .string(businessCentralBaseURL),
                        "apiURL": .string(businessCentralAPIURL),
                        "environment": .string(credentials.businessCentralEnvironment),
                        "companyId": .string(credentials.companyId),
                        "companyName": .string(credentials.companyName),
                    ])),
                "erps": .array(erps.map(\.json)),
                "sapBusinessOne": .object(
                    SimJSONObject([
                        "baseURL": .string(sapBusinessOneBaseURL),
                        "serviceURL": .string(sapBusinessOneServiceURL),
                        "serviceURLv1": .string(sapBusinessOneBaseURL + "/b1s/v1"),
                        "companyDB": .string(sapBusinessOne.sessions.account.companyDB),
                        "userName": .string(sapBusinessOne.sessions.account.userName),
                        "password": .string(sapBusinessOne.sessions.account.password),
                    ])),
                "acumatica": .object(
                    SimJSONObject([
                        "instanceURL": .string(acumaticaBaseURL),
                        "tokenURL": .string(acumaticaBaseURL + "/identity/connect/token"),
                        "endpoints": .array(acumatica.options.endpoints.map { .string($0) }),
                        "tenant": .string(acumatica.access.tenant),
                        "branch": .string(acumatica.access.branches.first ?? ""),
                        "username": .string(acumatica.access.username),
                        "password": .string(acumatica.access.password),
                        "clientId": .string(acumatica.access.clientId),
                        "clientSecret": .string(acumatica.access.clientSecret),
                        "scope": .string("api offline_access"),
                    ])),
                "tenant": .object(
                    SimJSONObject([
                        "seed": .number(String(tenant.seed)),
                        "invoices": .int(tenant.jaggaerInvoices.count),
                    ])),
            ]))
    }
}

/// Starts the simulators, runs `body`, and shuts them down even when `body` throws.
package func withSimulators<T>(
    tenant: DemoTenant,
    options: SimulatorHost.Options = SimulatorHost.Options(),
    _ body: (SimulatorHost) async throws -> T
) async throws -> T {
    let host = try await SimulatorHost.start(tenant: tenant, options: options)
    do {
        let result = try await body(host)
        await host.shutdown()
        return result
    } catch {
        await host.shutdown()
        throw error
    }
}
