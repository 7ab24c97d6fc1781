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
        changeNotifications: true,
        ambiguousWriteSettle: .seconds(120)
    )

    package func connector(_ environment: SystemEnvironment) throws -> any ERPConnector {
        _ = try environment.connection.erp.typed(AcumaticaSettings.self)
        throw ConnectorError(.unsupported, "the Acumatica adapter is not in this build yet")
    }
}
