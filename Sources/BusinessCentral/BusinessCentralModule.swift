import ConnectorCore
import ConnectorHTTP
import Foundation

extension ERPConstraints {
    /// Business Central: `Vendor Invoice No.` is Code[35], line `Description` Text[100].
    package static let businessCentral = ERPConstraints(
        maxVendorInvoiceNumberLength: 35,
        maxLineDescriptionLength: 100,
        supportsCreditMemos: false
    )
}

/// Business Central online (API v2.0) as the registry sees it.
package struct BusinessCentralModule: ERPModule {
    package init() {}

    package var settingsType: any ERPConnectionSettings.Type { BusinessCentralSettings.self }
    package var notifications: (any ChangeNotificationReceiver)? { BusinessCentralWebhooks() }
    package var keepsSubscriptions: Bool { true }
    package let constraints: ERPConstraints = .businessCentral
    package var capabilities: ERPCapabilities { Self.capabilities(nil) }

    /// What BC does for a connection: purchase credit memos and PO matching follow its settings
    /// (`purchaseCreditMemos`, off by default; `purchaseOrderMatching`, on by default).
    package static func capabilities(_ settings: BusinessCentralSettings?) -> ERPCapabilities {
        ERPCapabilities(
            draftSemantics: "unposted purchase invoice (status Draft)",
            // BC v2 purchase invoice lines carry no PO line link.
            purchaseOrderLineLinks: false,
            // `purchaseCreditMemos` (BusinessCentralCreditMemos.swift), where the connection turns them on.
            creditMemos: settings?.purchaseCreditMemos ?? false,
            vendorWrites: false,
            // purchaseInvoices whose status became Paid (BusinessCentralConnector+JaggaerSide.swift).
            paymentStatus: true,
            // `Microsoft.NAV.post`, run by post-erp-invoice for approved drafts only.
            postDrafts: true,
            changeNotifications: true,
            // An operation BC accepted is cancelled after 8 minutes at most.
            ambiguousWriteSettle: .seconds(540),
            // No PO line links in v2, so the write step checks the PO (number and vendor) before the draft is made;
            // off where the tenant's purchase orders are not kept in BC (`purchaseOrderMatching: false`), or every
            // PO invoice would wait in review as "PO unknown".
            matchesPurchaseOrders: settings?.purchaseOrderMatching ?? true,
            // `vendorInvoiceNumber eq 'a' or …` over a batch (an `or` on one field is what BC filters accept).
            batchLookups: true
        )
    }

    /// Credit memos are mapped only where the connection writes purchase credit memos.
    package func constraints(for connection: Connection) throws -> ERPConstraints {
        var constraints = self.constraints
        constraints.supportsCreditMemos = try connection.erp.typed(BusinessCentralSettings.self).purchaseCreditMemos
        return constraints
    }

    package func connector(_ environment: SystemEnvironment) throws -> any ERPConnector {
        let settings = try environment.connection.erp.typed(BusinessCentralSettings.self)
        let tokens = OAuth2ClientCredentialsProvider(
            configuration: .init(
                name: "businessCentral",
                tokenURL: settings.tokenURL,
                clientId: settings.clientId,
                clientSecret: try environment.secret(settings.clientSecret, label: "erp.businessCentral.clientSecret"),
                scope: settings.scope
            ),
            transport: environment.transport(limiter: nil),
            cache: environment.tokenCache,
            clock: environment.clock,
            logger: environment.logger
        )
        // BC online: 6,000 requests per user in a 5-minute sliding window, paced for every process together (and
        // learned lower from 429s where the tenant allows less). The user is the app registration in the
        // environment: every connection to a company of that environment under the same client id shares it.
        let limiter = environment.limiter(
            "businessCentral", limit: settings.requestsPerFiveMinutes, window: .seconds(300),
            scope: [settings.apiRoot.lowercased(), settings.clientId.lowercased()])
        let client = BusinessCentralClient(
            apiRoot: settings.apiRoot,
            transport: BearerAuthTransport(base: environment.transport(limiter: limiter), tokens: tokens),
            timeout: environment.timeout
        )
        return BusinessCentralConnector(
            client: client, settings: settings, store: environment.store, keys: environment.keys, tokens: tokens,
            notifications: environment.connection.notifications?.typed(BusinessCentralNotifications.self))
    }
}
