import ConnectorCore
import ConnectorFlows
import ConnectorHTTP
import ConnectorSecurity
import Foundation
import Jaggaer
import Logging
import Synchronization

/// Everything a step needs for one connection, built from the stored connection: HTTP stacks per system
/// (count → rate limit → retry → bearer auth), token providers sharing the store's token cache, the clients and
/// their flow adapters. Building does no I/O; tokens are fetched on first use.
package struct ConnectionRuntime: Sendable {
    package let context: StepContext
    package let counter: RequestCounter
    package let http: any HTTPTransport
    private let vault: Vault
    /// The ERP connectors handed out, closed (B1 `Logout`, Acumatica `auth/logout`) when the invocation ends.
    private let opened = OpenedConnectors()

    package init(context: StepContext, vault: Vault, http: any HTTPTransport, counter: RequestCounter) throws {
        self.context = context
        self.vault = vault
        self.http = http
        self.counter = counter
        try ConnectionValidator.validate(context.connection)
    }

    private var connection: Connection { context.connection }

    private var retryPolicy: RetryPolicy {
        RetryPolicy(retryAfterCap: .seconds(connection.flow.retryAfterCapSeconds))
    }

    private var timeout: Duration { .seconds(connection.network.requestTimeoutSeconds) }

    private func plain(limiter: RateLimiter?, system: String) -> any HTTPTransport {
        var transport: any HTTPTransport = CountingTransport(base: http, counter: counter, system: system)
        if let limiter {
            transport = RateLimitedTransport(
                base: transport, limiter: limiter, clock: context.clock,
                maxWait: .seconds(connection.flow.retryAfterCapSeconds), counter: counter)
        }
        return RetryingTransport(base: transport, policy: retryPolicy, clock: context.clock, logger: context.logger)
    }

    private var tokenCache: TokenCache { TokenCache(store: context.store, keys: context.keys, sealer: vault) }

    private func secret(_ field: SecretField, _ label: String) throws -> Secret {
        try vault.reveal(field, label: label, connection: connection.id)
    }

    package func jaggaerClient() throws -> JaggaerClient {
        try jaggaer().client
    }

    private func jaggaer() throws -> (client: JaggaerClient, tokens: any TokenProvider) {
        let settings = connection.jaggaer
        let tokens = OAuth2ClientCredentialsProvider(
            configuration: .init(
                name: "jaggaer",
                tokenURL: settings.resolvedTokenURL,
                clientId: settings.clientId,
                clientSecret: try secret(settings.clientSecret, "jaggaer.clientSecret"),
                scope: nil
            ),
            transport: plain(limiter: nil, system: "jaggaer"),
            cache: tokenCache,
            clock: context.clock,
            logger: context.logger
        )
        // Shared by every connection to the same JAGGAER tenant under the same API client.
        let limiter = settings.requestsPerMinute.map {
            RateLimiter(
                store: context.store,
                key: SystemEnvironment.budgetKey(
                    "jaggaer", scope: [settings.baseURL.trimmingTrailingSlash.lowercased(), settings.clientId],
                    keys: context.keys),
                limit: $0, window: .seconds(60))
        }
        let client = JaggaerClient(
            baseURL: settings.baseURL,
            paths: .init(
                invoiceList: settings.invoiceListPath,
                invoice: settings.invoicePath,
                startParameter: settings.startParameter,
                pageSizeParameter: settings.pageSizeParameter,
                updatedSinceParameter: settings.updatedSinceParameter,
                statusParameter: settings.statusParameter,
                sortParameter: settings.sortParameter,
                sortValue: settings.sortValue,
                purchaseOrderList: settings.purchaseOrderListPath,
                purchaseOrder: settings.purchaseOrderPath
            ),
            transport: BearerAuthTransport(base: plain(limiter: limiter, system: "jaggaer"), tokens: tokens),
            timeout: timeout
        )
        return (client, tokens)
    }

    /// The JAGGAER writer (suppliers, coding values, payment status), or nil when `jaggaer.writer.enabled` is false.
    /// It shares the invoice client's token, rate limit and retries.
    package func procurementSink() throws -> (any ProcurementSink)? {
        let settings = connection.jaggaer
        guard settings.writer.enabled else { return nil }
        let client = try jaggaer().client
        return JaggaerWriter(
            baseURL: settings.baseURL, settings: settings.writer, transport: client.transport, timeout: timeout)
    }

    package func procurementSource() throws -> any ProcurementSource {
        let (client, tokens) = try jaggaer()
        return JaggaerSource(
            client: client, approvedStatuses: connection.jaggaer.approvedStatuses, tokens: tokens,
            listOrder: connection.jaggaer.listOrder)
    }

    /// The environment a system target builds its clients from.
    package var environment: SystemEnvironment {
        let vault = self.vault
        let connectionId = connection.id
        let runtime = self
        let system = connection.erp.kind
        return SystemEnvironment(
            connection: connection, store: context.store, keys: context.keys, clock: context.clock,
            logger: context.logger, timeout: timeout, tokenCache: tokenCache,
            transport: { limiter in runtime.plain(limiter: limiter, system: system) },
            secret: { field, label in try vault.reveal(field, label: label, connection: connectionId) }
        )
    }

    /// The connection's ERP module, from the registry.
    package func erpModule() throws -> any ERPModule {
        try Systems.erp(connection.erp.kind)
    }

    package func erpConnector() throws -> any ERPConnector {
        let connector = try erpModule().connector(environment)
        opened.list.withLock { $0.append(connector) }
        return connector
    }

    /// Ends the ERP sessions this invocation opened; called once the step is done, whatever its outcome.
    package func close() async {
        let connectors = opened.list.withLock { opened in
            defer { opened.removeAll() }
            return opened
        }
        for connector in connectors { await connector.close() }
    }

    /// The document limits of the connection's ERP (for mapping, which talks to no ERP).
    package func erpConstraints() throws -> ERPConstraints {
        try erpModule().constraints(for: connection)
    }

    /// The webhook shared secrets of the connection, current first.
    package func notificationSecrets() throws -> [Secret] {
        guard let notifications = connection.notifications?.erp else { return [] }
        return try notifications.settings.secretFields.map {
            try secret($0.field, "notifications.\(notifications.kind).\($0.label)")
        }
    }

    /// The receiver of the connection's ERP's notifications.
    package func notificationReceiver() throws -> (any ChangeNotificationReceiver)? {
        try erpModule().notifications
    }

    /// The ERP's webhook subscriptions, where its connector keeps them (Business Central).
    package func changeSubscriptions() throws -> (any ChangeSubscriptions)? {
        try erpConnector() as? any ChangeSubscriptions
    }
}

/// The connectors an invocation opened (shared by the copies of its `ConnectionRuntime`).
final class OpenedConnectors: Sendable {
    let list = Mutex<[any ERPConnector]>([])
}
