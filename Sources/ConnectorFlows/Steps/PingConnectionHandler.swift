import ConnectorCore
import Foundation

package struct PingRequest: Codable, Sendable, Hashable {
    package init() {}
}

/// `ping-connection`: "ping your real systems, see if we fit". Both sides check for real what the flows will
/// need (sign-in with each identity provider, the company or endpoint, read access and a sample of each entity,
/// write access where it can be checked without writing) and say what to change for each failure. Writes nothing
/// to either system; the report is the step's result (and its audit entry).
package struct PingConnectionHandler: StepHandler {
    package typealias Input = PingRequest
    package static let step = "ping-connection"
    package static let acceptedTypes: Set<String> = [EventType.pingRequested]

    package let context: StepContext
    package let source: any ProcurementSource
    package let erp: any ERPConnector

    package init(context: StepContext, source: any ProcurementSource, erp: any ERPConnector) {
        self.context = context
        self.source = source
        self.erp = erp
    }

    package static func recordId(for event: CloudEvent) -> String { "ping/connection" }

    package func handle(_ event: CloudEvent, input: PingRequest) async throws -> StepResult {
        let checks = await source.fitChecks() + erp.fitChecks()
        let failed = checks.filter { $0.outcome == .fail }
        return StepResult(
            status: .ok,
            detail: [
                "passed": String(checks.filter { $0.outcome == .pass }.count),
                "failed": String(failed.count),
                "unchecked": String(checks.filter { $0.outcome == .unchecked }.count),
            ],
            fitReport: checks
        )
    }
}
