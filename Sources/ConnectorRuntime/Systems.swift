import BusinessCentral
import ConnectorCore
import ConnectorHTTP

/// The registry of systems this build supports. Adding an ERP is its target (client, adapter, settings,
/// constraints, notifications) plus one line in `erps`; nothing else switches on the ERP kind.
package enum Systems {
    package static let erps: [any ERPModule] = [
        BusinessCentralModule()
    ]

    /// The module of an ERP kind, or a configuration error naming the kinds this build has.
    package static func erp(_ kind: ERPSettings.Kind) throws -> any ERPModule {
        guard let module = erps.first(where: { $0.kind == kind }) else {
            throw ConnectorError(
                .connectionInvalid,
                "erp.kind \(kind.rawValue) is not in this build; it has \(erps.map(\.kind.rawValue).joined(separator: ", "))"
            )
        }
        return module
    }
}
