import ConnectorCore
import ConnectorHTTP
import Foundation

extension ERPConstraints {
    /// Acumatica: `VendorRef` is 40 characters, a detail's `TransactionDescription` 256 (UNCONFIRMED for every
    /// version: kept at the smaller documented bounds).
    package static let acumatica = ERPConstraints(
        maxVendorInvoiceNumberLength: 40, maxLineDescriptionLength: 256, supportsCreditMemos: true)
}

/// Acumatica (contract-based REST) as the registry sees it.
package struct AcumaticaModule: ERPModule {
    package init() {}

    package var settingsType: any ERPConnectionSettings.Type { AcumaticaSettings.self }
    package var notifications: (any ChangeNotificationReceiver)? { AcumaticaPushReceiver() }
    package let constraints: ERPConstraints = .acumatica
    package let capabilities = ERPCapabilities(
        draftSemantics: "AP bill on hold",
        purchaseOrderLineLinks: true,
        creditMemos: true,
        paymentStatus: true,
        postDrafts: true,
        changeNotifications: true,
        ambiguousWriteSettle: .seconds(120)
    )

    package func connector(_ environment: SystemEnvironment) throws -> any ERPConnector {
        let settings = try environment.connection.erp.typed(AcumaticaSettings.self)
        let prefix = "erp.\(AcumaticaSettings.kind)"
        // The licence's API requests per minute, paced for every process of the connection together and learned
        // lower from 429s (a licence limit or a full request queue).
        let limiter = environment.limiter(
            AcumaticaSettings.kind, limit: settings.requestsPerMinute, window: .seconds(60))
        let paced = environment.transport(limiter: limiter)
        let password = try environment.secret(settings.password, label: "\(prefix).password")
        switch settings.authentication {
        case .oauth:
            guard let clientId = settings.clientId, let secretField = settings.clientSecret else {
                throw ConnectorError(
                    .connectionInvalid, "\(prefix).authentication is oauth: give clientId and clientSecret")
            }
            let tokens = OAuth2PasswordGrantProvider(
                configuration: .init(
                    name: AcumaticaSettings.kind, tokenURL: settings.tokenURL, clientId: clientId,
                    clientSecret: try environment.secret(secretField, label: "\(prefix).clientSecret"),
                    username: settings.username, password: password, scope: settings.scope),
                // The token endpoint is the instance's too: it spends the same request budget.
                transport: paced, cache: environment.tokenCache, clock: environment.clock, logger: environment.logger)
            let client = AcumaticaClient(
                instanceURL: settings.instanceURL, entityRoot: settings.entityRoot,
                transport: BearerAuthTransport(base: paced, tokens: tokens), clock: environment.clock,
                timeout: environment.timeout)
            let username = settings.username
            return AcumaticaConnector(
                client: client, settings: settings, logger: environment.logger,
                signIn: {
                    _ = try await tokens.signIn()
                    return "signed in as \(username) (OAuth password grant, refresh token kept)"
                })
        case .cookie:
            throw ConnectorError(
                .unsupported, "\(prefix).authentication cookie needs the cookie session provider, not in this build yet"
            )
        }
    }
}
