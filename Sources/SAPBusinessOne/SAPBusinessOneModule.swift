import ConnectorCore
import ConnectorHTTP
import Foundation

extension ERPConstraints {
    /// SAP Business One: `NumAtCard` (vendor reference number) is 100 characters; a line's `Dscription` is 100
    /// (the smaller bound of the versions seen; newer releases may allow more).
    package static let sapBusinessOne = ERPConstraints(
        maxVendorInvoiceNumberLength: 100,
        maxLineDescriptionLength: 100,
        supportsCreditMemos: false
    )
}

/// SAP Business One (Service Layer) as the registry sees it.
package struct SAPBusinessOneModule: ERPModule {
    package init() {}

    package var settingsType: any ERPConnectionSettings.Type { SAPBusinessOneSettings.self }
    /// Webhooks are optional (FP 2602+, `notifications.sapBusinessOne`); polling stays the default.
    package var notifications: (any ChangeNotificationReceiver)? { SAPBusinessOneWebhookReceiver() }
    package let constraints: ERPConstraints = .sapBusinessOne
    package var capabilities: ERPCapabilities { Self.capabilities(nil) }

    /// Drafts are posted through `DraftsService_SaveDraftToDocument`; with `draftMode: invoice` there is no draft.
    package static func capabilities(_ settings: SAPBusinessOneSettings?) -> ERPCapabilities {
        ERPCapabilities(
            draftSemantics: settings?.draftMode == .invoice
                ? "A/P invoice (posted on creation)" : "document draft (Drafts, oPurchaseInvoices)",
            purchaseOrderLineLinks: true,
            requiresPurchaseOrderInERP: true,
            creditMemos: false,
            vendorWrites: true,
            purchaseOrderWrites: true,
            paymentStatus: true,
            postDrafts: settings?.draftMode != .invoice,
            changeNotifications: false,
            // A create either commits within the request or not at all; B1 states no later cancellation, so a
            // lookup a minute after the lost answer is trusted (UNCONFIRMED: no documented server-side timeout).
            ambiguousWriteSettle: .seconds(60)
        )
    }

    package func connector(_ environment: SystemEnvironment) throws -> any ERPConnector {
        let settings = try environment.connection.erp.typed(SAPBusinessOneSettings.self)
        let password = try environment.secret(settings.password, label: "erp.sapBusinessOne.password")
        // Our own pace for the Service Layer, shared by every connection to it (each company database is a
        // connection; the server is one).
        let limiter = environment.limiter(
            "sapBusinessOne", limit: settings.requestsPerMinute, window: .seconds(60),
            scope: [settings.root.lowercased()])
        let paced = environment.transport(limiter: limiter)
        let root = settings.root
        let codes = Set(settings.sessionTimeoutCodes)
        let sessions = CookieSessionProvider(
            configuration: .init(
                name: "sapBusinessOne",
                signInRequest: {
                    try SAPBusinessOneSession.signInRequest(
                        root: root, companyDB: settings.companyDB, username: settings.username, password: password)
                },
                signOutRequest: { SAPBusinessOneSession.signOutRequest(root: root) },
                isExpired: { SAPBusinessOneSession.isExpired($0, codes: codes) },
                signInError: SAPBusinessOneSession.signInError
            ),
            transport: paced,
            cache: SessionCache(environment.tokenCache),
            clock: environment.clock,
            logger: environment.logger
        )
        let client = SAPBusinessOneClient(
            root: root, transport: SessionAuthTransport(base: paced, sessions: sessions), timeout: environment.timeout,
            serverPageSize: settings.pageSize)
        return SAPBusinessOneConnector(client: client, settings: settings, sessions: sessions)
    }
}
