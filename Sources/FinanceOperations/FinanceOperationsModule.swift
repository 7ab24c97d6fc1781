import ConnectorCore
import ConnectorHTTP
import Foundation

/// Dynamics 365 Finance & Operations (`/data` OData) as the registry sees it.
package struct FinanceOperationsModule: ERPModule {
    package init() {}

    package var settingsType: any ERPConnectionSettings.Type { FinanceOperationsSettings.self }
    /// The "Purchase order confirmed" business event at the webhook gateway (reference §2.6).
    package var notifications: (any ChangeNotificationReceiver)? { FinanceOperationsBusinessEventReceiver() }
    package let constraints: ERPConstraints = .financeOperations
    package var capabilities: ERPCapabilities { Self.capabilities(nil) }

    /// What a connection can do; payment status only where it names the vendor transaction entity.
    package static func capabilities(_ settings: FinanceOperationsSettings?) -> ERPCapabilities {
        var capabilities = Self.capabilities
        capabilities.paymentStatus = settings?.readsPaymentStatus ?? true
        return capabilities
    }

    package static let capabilities = ERPCapabilities(
        draftSemantics: "pending vendor invoice (VendorInvoiceHeaders + VendorInvoiceLines), posted only in F&O",
        // `PurchaseOrder` + `PurchLineNumber` on a line quoting a PO F&O has for the same vendor.
        purchaseOrderLineLinks: true,
        creditMemos: false,
        vendorWrites: false,
        // From vendor transactions (`VendTrans`: `Closed`, `LastSettleDate`) where the connection names their entity
        // set; the set and its field names are settings (UNCONFIRMED, reference §2.2), checked by the fit report.
        paymentStatus: true,
        // No documented OData post action: pending invoices are posted in F&O (reference §2.2).
        postDrafts: false,
        // Business events: "Purchase order confirmed" pushes that order to JAGGAER; master data comes by the
        // scheduled sync (no master-data events are received).
        changeNotifications: true,
        // F&O documents no cancellation window for a create; two minutes before a lookup's "not found" is trusted.
        ambiguousWriteSettle: .seconds(120),
        matchesPurchaseOrders: false,
        // `InvoiceNumber eq 'a' or …` over a page of invoices (FinanceOperationsConnector.findInvoices(keys:)).
        batchLookups: true,
        // Confirmed POs from `PurchaseOrderHeadersV2`, read whole and diffed against the last snapshot.
        confirmedPurchaseOrders: true,
        // `ReleasedProductsV2`, read whole and diffed against the last snapshot (sent only where
        // `jaggaer.writer.catalogItems` is on).
        releasedProducts: true
    )

    package func connector(_ environment: SystemEnvironment) throws -> any ERPConnector {
        let settings = try environment.connection.erp.typed(FinanceOperationsSettings.self)
        let tokens = OAuth2ClientCredentialsProvider(
            configuration: .init(
                name: "financeOperations",
                tokenURL: settings.tokenURL,
                clientId: settings.clientId,
                clientSecret: try environment.secret(
                    settings.clientSecret, label: "erp.financeOperations.clientSecret"),
                scope: settings.effectiveScope
            ),
            transport: environment.transport(limiter: nil),
            cache: environment.tokenCache,
            clock: environment.clock,
            logger: environment.logger
        )
        // One budget per user of the environment (the app registration) for every process of every connection
        // that signs in as it; a 429's Retry-After (which grows while the client keeps pressing) lowers it for all
        // of them (reference §2.5).
        let limiter = environment.limiter(
            "financeOperations", limit: settings.requestsPerFiveMinutes, window: .seconds(300),
            scope: [settings.environmentURL.trimmingTrailingSlash.lowercased(), settings.clientId.lowercased()])
        let client = FinanceOperationsClient(
            serviceRoot: settings.serviceRoot,
            transport: BearerAuthTransport(base: environment.transport(limiter: limiter), tokens: tokens),
            timeout: environment.timeout)
        return FinanceOperationsConnector(
            client: client, settings: settings, store: environment.store, keys: environment.keys, tokens: tokens)
    }
}
