import ConnectorCore
import ConnectorRunner
import ConnectorTesting
import Foundation
import Testing

/// What the queue loop itself costs in store round trips: claims go only to the lanes that may have work (those this
/// runner enqueued into, or found non-empty, or whose next delayed item is due), not to every step's lane each time a
/// step ends; every lane is still looked at on the rescan interval, so other processes' items are not missed.
@Suite("The runner's queue loop: store round trips")
struct LoopRoundTripTests {
    @Test("store round trips per processed item on a two-step flow: claims only where work may be")
    func roundTripsPerItem() async throws {
        let steps = try FakeSteps()
        defer { steps.remove() }
        try steps.step("transform-invoice", result: .ok([event(EventType.invoiceMapped)]))
        try steps.step("write-erp-invoice", result: .ok())
        let store = CountingStateStore(InMemoryStateStore())
        let invoices = 8
        for index in 0..<invoices {
            try await WorkQueue(store: store).enqueue(
                WorkItem(
                    function: "transform-invoice", event: event(EventType.invoiceCaptured, recordid: "r-\(index)"),
                    notBefore: Date(), enqueuedAt: Date()))
        }
        store.reset()
        // No rescan during the run, so the count is the same however fast the steps are.
        let runner = runner(store, steps: steps, rescan: .seconds(600))
        try await runner.drain(waitForDelayed: false)
        let stats = await runner.stats
        #expect(stats.byFunction == ["transform-invoice": invoices, "write-erp-invoice": invoices])
        #expect(try await WorkQueue(store: store).count() == 0)
        let processed = stats.invocations
        let perItem = Double(store.total) / Double(processed)
        print(
            "loop store round trips: \(store.total) for \(processed) items (\(perItem) per item): \(store.byOperation)")
        // Each item: its claim's compare-and-swap, the ack's get and delete, the emitted event's put; the scans are
        // the first and last looks at all 12 lanes and about one per step end (the lanes it enqueued into). Claiming
        // every lane at every step end cost 17.5 per item here (224 scans).
        #expect(store.byOperation["scan", default: 0] <= 2 * 12 + 2 * processed)
        #expect(perItem <= 8)
    }

    @Test("an item another process enqueues while steps run is claimed on the rescan, not only when the loop idles")
    func foreignItemsWhileBusy() async throws {
        let steps = try FakeSteps()
        defer { steps.remove() }
        try steps.step("transform-invoice", result: .ok(), sleepSeconds: 3)
        try steps.step("sync-vendors", result: .ok(), sleepSeconds: 2)
        let store = InMemoryStateStore()
        let runner = runner(store, steps: steps, rescan: .milliseconds(200))
        try await runner.submit(event(EventType.invoiceCaptured))
        let other = Task {
            try await Task.sleep(for: .milliseconds(500))
            try await WorkQueue(store: store).enqueue(
                WorkItem(
                    function: "sync-vendors", event: event(EventType.masterDataSyncRequested), notBefore: Date(),
                    enqueuedAt: Date()))
        }
        // The moment sync-vendors got its event (its script appends it to its `.in` file first thing): did the
        // 3-second transform step still run then? A causal check instead of a bound on the whole run's time (under
        // 4.5 s against about 3 side by side and 5 one after the other), which a loaded machine broke now and then.
        let watch = Task {
            let input = steps.directory.appendingPathComponent("sync-vendors.in").path
            let deadline = Date().addingTimeInterval(30)
            while !FileManager.default.fileExists(atPath: input) && Date() < deadline {
                try await Task.sleep(for: .milliseconds(20))
            }
            return await runner.stats.byFunction["transform-invoice"]
        }
        try await runner.drain(waitForDelayed: false)
        try await other.value
        #expect(await runner.stats.byFunction == ["transform-invoice": 1, "sync-vendors": 1])
        #expect(try await WorkQueue(store: store).count() == 0)
        #expect(
            try await watch.value == nil,
            "the other process's item was claimed only after the transform step ended (the loop idled)")
    }

    @Test("a retry this runner scheduled is claimed when due while other steps run, without waiting for a rescan")
    func retriesWhileBusy() async throws {
        let steps = try FakeSteps()
        defer { steps.remove() }
        try steps.step(
            "transform-invoice", exit: 75,
            result: StepResult(
                status: .retry, error: .init(code: "http.unavailable", message: "later", retryable: true)))
        try steps.step("sync-vendors", result: .ok(), sleepSeconds: 3)
        let store = InMemoryStateStore()
        let runner = runner(store, steps: steps, maxAttempts: 3, rescan: .seconds(600))
        try await runner.submit(event(EventType.masterDataSyncRequested))
        try await runner.submit(event(EventType.invoiceCaptured))
        let watch = Task {
            try await Task.sleep(for: .milliseconds(1500))
            return await runner.stats.byFunction["transform-invoice", default: 0]
        }
        try await runner.drain(waitForDelayed: true, deadline: Date().addingTimeInterval(30))
        #expect(try await watch.value == 3, "every attempt ran while the other step still ran")
        let letters = try await DeadLetterList(store: store, keys: try StateKeys(connection: "acme")).list()
        #expect(letters.filter { $0.step == "transform-invoice" }.map(\.attempts) == [3])
        #expect(try await WorkQueue(store: store).count() == 0)
    }
}
