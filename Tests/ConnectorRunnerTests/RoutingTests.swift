import ConnectorCore
import ConnectorRunner
import Foundation
import Testing

/// The routing table compiled from `functions/*/function.json` (checked against the manifests field by field in
/// ExecutableTests) and the runner's use of it.
@Suite("Routing from the function manifests")
struct RoutingTests {
    @Test("an event type goes to every function that consumes it, and to nothing else")
    func consumers() {
        #expect(
            FunctionCatalog.consumers(of: EventType.masterDataSyncRequested).map(\.name) == [
                "sync-accounts", "sync-vendors",
            ])
        #expect(FunctionCatalog.consumers(of: EventType.invoiceCaptured).map(\.name) == ["transform-invoice"])
        #expect(FunctionCatalog.consumers(of: "com.mlconnector.nothing.happened").isEmpty)
        #expect(FunctionCatalog.named("no-such-step") == nil)
        for spec in FunctionCatalog.all {
            for type in spec.events {
                #expect(FunctionCatalog.consumers(of: type).contains(spec), "\(spec.name) consumes \(type)")
            }
        }
    }

    @Test("submitting queues one item per consuming step, on that step's lane")
    func submitFansOut() async throws {
        let steps = try FakeSteps()
        defer { steps.remove() }
        let store = InMemoryStateStore()
        let runner = runner(store, steps: steps)
        try await runner.submit(event(EventType.masterDataSyncRequested))
        try await runner.submit(event("com.mlconnector.nothing.happened"))
        let queue = WorkQueue(store: store)
        #expect(try await queue.count() == 2)
        #expect(try await queue.count(step: "sync-accounts") == 1)
        #expect(try await queue.count(step: "sync-vendors") == 1)
        #expect(try await runner.queueDepths().values.reduce(0, +) == 2)
    }
}
