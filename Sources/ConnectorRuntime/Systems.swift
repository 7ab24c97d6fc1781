import Acumatica
import BusinessCentral
import ConnectorCore
import ConnectorHTTP
import DynamicsNAV
import FinanceOperations
import SAPBusinessOne

/// The registry of systems this build supports. Adding an ERP is its target (client, adapter, settings,
/// constraints, notifications) plus one line in `erps`; nothing else names an ERP.
package enum Systems {
    package static let erps: [any ERPModule] = [
        BusinessCentralModule(),
        AcumaticaModule(),
        SAPBusinessOneModule(),
        DynamicsNAVModule(),
        FinanceOperationsModule(),
    ]

    /// Makes every ERP's settings known to connection decoding. Every entry point calls it first; it is cheap and
    /// may be called again.
    package static func bootstrap() {
        ERPRegistry.register(erps.map(\.settingsType))
    }

    /// The module of an ERP kind, or a configuration error naming the kinds this build has.
    package static func erp(_ kind: String) throws -> any ERPModule {
        guard let module = erps.first(where: { $0.kind == kind }) else {
            throw ConnectorError(
                .connectionInvalid,
                "erp.kind \(kind) is not in this build; it has \(erps.map(\.kind).joined(separator: ", "))"
            )
        }
        return module
    }

    /// The ERP kinds whose notifications the webhook gateway accepts.
    package static var notificationSystems: [String] {
        erps.filter { $0.notifications != nil }.map(\.kind)
    }
}
