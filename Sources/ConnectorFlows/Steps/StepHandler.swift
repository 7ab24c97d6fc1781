import ConnectorCore
import Foundation
import Logging

/// What every step handler gets: the store (namespaced to the connection), the connection, time and a logger.
package struct StepContext: Sendable {
    package var store: any StateStore
    package var keys: StateKeys
    package var connection: Connection
    package var clock: any WallClock
    package var logger: Logger
    /// Identifies this process as the owner of claims and leases.
    package var owner: String

    package init(
        store: any StateStore, keys: StateKeys, connection: Connection, clock: any WallClock, logger: Logger,
        owner: String
    ) {
        self.store = store
        self.keys = keys
        self.connection = connection
        self.clock = clock
        self.logger = logger
        self.owner = owner
    }
}

/// One flow step: pure logic over the clients, the store and the mappings. The executable around it only wires.
package protocol StepHandler: Sendable {
    associatedtype Input: Decodable & Sendable
    /// The step's (and its executable's) name.
    static var step: String { get }
    static var acceptedTypes: Set<String> { get }
    /// The record an event is about, when the step did not say otherwise (for the audit trail).
    static func recordId(for event: CloudEvent) -> String
    func handle(_ event: CloudEvent, input: Input) async throws -> StepResult
    /// The input as the audit trail keeps it: steps whose events carry credentials (webhook requests) strip them.
    static func auditedInput(_ event: CloudEvent) -> CloudEvent
    /// Whether an invocation leaves an audit entry; false only for results that changed nothing and that anyone
    /// may cause (a webhook handshake), so they can't be used to fill the store.
    static func audits(_ result: StepResult) -> Bool
}

extension StepHandler {
    package static func recordId(for event: CloudEvent) -> String {
        event.recordid ?? "\(step)/\(event.id)"
    }

    package static func auditedInput(_ event: CloudEvent) -> CloudEvent { event }

    package static func audits(_ result: StepResult) -> Bool { true }
}

/// The source of events emitted by this product's steps.
package enum EventSource {
    package static func step(_ name: String, connection: String) -> String { "urn:mlconnector:\(connection):\(name)" }
}
