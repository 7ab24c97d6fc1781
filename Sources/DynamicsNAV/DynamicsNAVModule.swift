import ConnectorCore
import ConnectorHTTP
import Foundation

/// Dynamics NAV 2017/2018 and BC on-premises (OData V4 web services) as the registry sees it.
package struct DynamicsNAVModule: ERPModule {
    package init() {}

    package var settingsType: any ERPConnectionSettings.Type { DynamicsNAVSettings.self }
    package let constraints: ERPConstraints = .dynamicsNAV
    package var capabilities: ERPCapabilities { Self.capabilities(nil) }

    package static func capabilities(_ settings: DynamicsNAVSettings?) -> ERPCapabilities {
        ERPCapabilities(
            draftSemantics: settings?.invoiceDocument == .generalJournal
                ? "general journal lines (unposted)" : "unposted purchase invoice (or general journal lines)",
            // Purchase invoice lines on page 51 carry no PO line link.
            purchaseOrderLineLinks: false,
            creditMemos: false,
            vendorWrites: true,
            purchaseOrderWrites: true,
            // From Vendor Ledger Entries (page 29) where the connection names it; its field names are settings
            // (UNCONFIRMED, reference §4), checked against `$metadata`.
            paymentStatus: settings?.readsPaymentStatus ?? true,
            // Pages have no post action (reference §3.2): finance posts in NAV.
            postDrafts: false,
            changeNotifications: false,
            // ODataServicesOperationTimeout defaults to 8 minutes (reference §3.5).
            ambiguousWriteSettle: .seconds(540),
            // Invoices are matched against NAV's purchase orders by their JAGGAER number before writing.
            matchesPurchaseOrders: true
        )
    }

    package func connector(_ environment: SystemEnvironment) throws -> any ERPConnector {
        let settings = try environment.connection.erp.typed(DynamicsNAVSettings.self)
        // Our own pace for the NAV service tier, shared by every connection to it (one per company).
        let limiter = environment.limiter(
            "dynamicsNAV", limit: settings.requestsPerMinute, window: .seconds(60), scope: [settings.root.lowercased()])
        let paced = environment.transport(limiter: limiter)
        let signed: any HTTPTransport
        switch settings.authentication {
        case .basic:
            let key = try environment.secret(
                settings.accessKey ?? .sealed(""), label: "erp.dynamicsNAV.accessKey")
            signed = BasicAuthTransport(base: paced, username: settings.username ?? "", key: key)
        case .oauth:
            let tokens = OAuth2ClientCredentialsProvider(
                configuration: .init(
                    name: "dynamicsNAV", tokenURL: settings.tokenURL ?? "", clientId: settings.clientId ?? "",
                    clientSecret: try environment.secret(
                        settings.clientSecret ?? .sealed(""), label: "erp.dynamicsNAV.clientSecret"),
                    scope: settings.scope ?? ""),
                transport: environment.transport(limiter: nil), cache: environment.tokenCache,
                clock: environment.clock, logger: environment.logger)
            signed = BearerAuthTransport(base: paced, tokens: tokens)
        }
        let client = try DynamicsNAVClient(
            root: settings.root, company: settings.company, companyId: settings.companyId, transport: signed,
            timeout: environment.timeout, serverPageSize: settings.pageSize)
        return DynamicsNAVConnector(
            client: client, settings: settings, store: environment.store, keys: environment.keys)
    }
}
