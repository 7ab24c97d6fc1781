import Foundation
import Logging

/// Runs the simulated systems — JAGGAER ONE with its Keycloak, Microsoft Entra ID, Business Central, the SAP
/// Business One Service Layer — each as its own Hummingbird application on its own loopback port, seeded from a
/// ``DemoTenant``.
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
            jaggaerTokenLifetime: Int = 300,
            entraTokenLifetime: Int = 3599,
            rateLimit: Int = 6_000,
            rateLimitWindow: TimeInterval = 300,
            clock: SimulatorClock = SimulatorClock(),
            logger: Logger = SimulatorHost.quietLogger
        ) {
            self.host = host
            self.jaggaerPort = jaggaerPort
            self.entraPort = entraPort
            self.businessCentralPort = businessCentralPort
            self.sapBusinessOnePort = sapBusinessOnePort
            self.sapBusinessOneSessionTimeout = sapBusinessOneSessionTimeout
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
    package let clock: SimulatorClock

    private let jaggaerServer: RunningServer
    private let entraServer: RunningServer
    private let businessCentralServer: RunningServer
    private let sapBusinessOneServer: RunningServer

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
        clock: SimulatorClock,
        servers: (RunningServer, RunningServer, RunningServer, RunningServer)
    ) {
        self.tenant = tenant
        self.jaggaer = jaggaer
        self.entra = entra
        self.businessCentral = businessCentral
        self.sapBusinessOne = sapBusinessOne
        self.clock = clock
        (jaggaerServer, entraServer, businessCentralServer, sapBusinessOneServer) = servers
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
        sapBusinessOne.store.seed(B1DemoData.company(from: tenant))

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
        } catch {
            for server in started { await server.stop() }
            throw error
        }
        return SimulatorHost(
            tenant: tenant, jaggaer: jaggaer, entra: entra, businessCentral: businessCentral,
            sapBusinessOne: sapBusinessOne, clock: options.clock,
            servers: (started[0], started[1], started[2], started[3]))
    }

    /// Stops all servers and waits for them to close.
    package func shutdown() async {
        await sapBusinessOneServer.stop()
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
        return merged
    }

    /// Resets the counters of all apps.
    package func resetCounters() {
        jaggaer.counters.reset()
        entra.counters.reset()
        businessCentral.counters.reset()
        sapBusinessOne.counters.reset()
    }

    /// Clears the fault rules of all apps.
    package func clearFaults() {
        jaggaer.faults.clear()
        entra.faults.clear()
        businessCentral.faults.clear()
        sapBusinessOne.faults.clear()
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
                "sapBusinessOne": .object(
                    SimJSONObject([
                        "baseURL": .string(sapBusinessOneBaseURL),
                        "serviceURL": .string(sapBusinessOneServiceURL),
                        "serviceURLv1": .string(sapBusinessOneBaseURL + "/b1s/v1"),
                        "companyDB": .string(sapBusinessOne.sessions.account.companyDB),
                        "userName": .string(sapBusinessOne.sessions.account.userName),
                        "password": .string(sapBusinessOne.sessions.account.password),
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
