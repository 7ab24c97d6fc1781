import ConnectorCore
import ConnectorHTTP
import Foundation
import OData

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
        // The licence's API requests per minute, paced for every process of every connection to the instance
        // together (the licence counts the instance's requests, whichever tenant or user sends them) and learned
        // lower from 429s (a licence limit or a full request queue).
        let limiter = environment.limiter(
            AcumaticaSettings.kind, limit: settings.requestsPerMinute, window: .seconds(60),
            scope: [settings.instanceURL.trimmingTrailingSlash.lowercased()])
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
            let instance = settings.instanceURL.trimmingTrailingSlash
            let sessions = CookieSessionProvider(
                configuration: .init(
                    name: AcumaticaSettings.kind,
                    signInRequest: {
                        try AcumaticaSession.signInRequest(
                            instanceURL: instance, username: settings.username, password: password,
                            tenant: settings.tenant, branch: settings.branch)
                    },
                    signOutRequest: { AcumaticaSession.signOutRequest(instanceURL: instance) },
                    isExpired: AcumaticaSession.isExpired),
                transport: paced, cache: SessionCache(environment.tokenCache), clock: environment.clock,
                logger: environment.logger)
            let client = AcumaticaClient(
                instanceURL: settings.instanceURL, entityRoot: settings.entityRoot,
                transport: SessionAuthTransport(base: paced, sessions: sessions), clock: environment.clock,
                timeout: environment.timeout)
            let username = settings.username
            let tenant = settings.tenant.map { " to tenant \($0)" } ?? ""
            return AcumaticaConnector(
                client: client, settings: settings, logger: environment.logger,
                signIn: {
                    _ = try await sessions.signIn()
                    return "signed in as \(username)\(tenant) (cookie session)"
                },
                // The last process of the connection out sends `auth/logout`: an API-user session left open holds a
                // licence slot until it times out.
                signOut: { await sessions.close() })
        }
    }
}

/// Acumatica's cookie sign-in (reference §3.2): `POST /entity/auth/login` with the user, tenant and branch (204 and
/// session cookies), `POST /entity/auth/logout` at the end; a 401 means the session is gone.
package enum AcumaticaSession {
    package static func signInRequest(
        instanceURL: String, username: String, password: Secret, tenant: String?, branch: String?
    ) throws -> HTTPRequest {
        var body: [String: String] = ["name": username, "password": password.value]
        if let tenant, !tenant.isEmpty { body["tenant"] = tenant }
        if let branch, !branch.isEmpty { body["branch"] = branch }
        return HTTPRequest(
            method: "POST", url: instanceURL + "/entity/auth/login",
            headers: [("Content-Type", "application/json"), ("Accept", "application/json")],
            body: try JSONCoding.encode(body), timeout: .seconds(30), idempotent: true)
    }

    package static func signOutRequest(instanceURL: String) -> HTTPRequest {
        HTTPRequest(
            method: "POST", url: instanceURL + "/entity/auth/logout", headers: [("Accept", "application/json")],
            timeout: .seconds(30), idempotent: true)
    }

    /// The shared toolkit's rule for Acumatica cookie sessions (401 = not signed in).
    package static func isExpired(_ response: HTTPResponse) -> Bool {
        ODataErrorRules.acumaticaCookieSession.outcome(for: ODataErrors.parse(response.body), status: response.status)
            == .sessionExpired
    }
}
