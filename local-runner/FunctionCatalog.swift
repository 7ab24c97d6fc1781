import ConnectorCore
import Foundation

/// The routing table of the runner: which function consumes which event types, and how many may run at once.
/// It mirrors `functions/*/function.json`; `local-runner functions --json` prints it and a test checks the two
/// agree, so the manifests stay the one source of truth.
struct FunctionSpec: Codable, Sendable, Hashable {
    var name: String
    var events: [String]
    var emits: [String]
    var concurrency: Int
    var timeoutSeconds: Int
    var memoryMiB: Int
}

enum FunctionCatalog {
    static let all: [FunctionSpec] = [
        FunctionSpec(
            name: "poll-jaggaer-invoices",
            events: [EventType.pollRequested, EventType.pollContinue, EventType.invoiceDetected],
            emits: [EventType.invoiceCaptured, EventType.pollContinue],
            concurrency: 1,
            timeoutSeconds: 300,
            memoryMiB: 128
        ),
        FunctionSpec(
            name: "transform-invoice",
            events: [EventType.invoiceCaptured],
            emits: [EventType.invoiceMapped],
            concurrency: 8,
            timeoutSeconds: 30,
            memoryMiB: 64
        ),
        FunctionSpec(
            name: "write-erp-invoice",
            events: [EventType.invoiceMapped],
            emits: [EventType.invoiceWritten],
            concurrency: 4,
            timeoutSeconds: 600,
            memoryMiB: 128
        ),
        FunctionSpec(
            name: "sync-vendors",
            events: [EventType.masterDataSyncRequested],
            emits: [],
            concurrency: 1,
            timeoutSeconds: 300,
            memoryMiB: 128
        ),
        FunctionSpec(
            name: "sync-accounts",
            events: [EventType.masterDataSyncRequested],
            emits: [],
            concurrency: 1,
            timeoutSeconds: 300,
            memoryMiB: 128
        ),
        FunctionSpec(
            name: "handle-erp-notification",
            events: [EventType.notificationReceived],
            emits: [EventType.masterDataSyncRequested],
            concurrency: 4,
            timeoutSeconds: 4,
            memoryMiB: 64
        ),
        FunctionSpec(
            name: "ping-connection",
            events: [EventType.pingRequested],
            emits: [],
            concurrency: 2,
            timeoutSeconds: 120,
            memoryMiB: 128
        ),
        FunctionSpec(
            name: "renew-bc-subscription",
            events: [EventType.subscriptionRenewRequested],
            emits: [],
            concurrency: 1,
            timeoutSeconds: 120,
            memoryMiB: 128
        ),
    ]

    static func consumers(of type: String) -> [FunctionSpec] {
        all.filter { $0.events.contains(type) }
    }

    static func named(_ name: String) -> FunctionSpec? {
        all.first { $0.name == name }
    }
}
