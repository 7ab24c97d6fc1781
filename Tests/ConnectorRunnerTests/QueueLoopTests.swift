import ConnectorCore
import ConnectorRunner
import Foundation
import Logging
import Testing

/// The queue loop (`drain`) and the pull-mode loop (`trigger`) over fake steps on an in-memory store.
@Suite("The runner's queue loop")
struct QueueLoopTests {
    @Test("a step's emitted events are routed to the next step, and the item is acked")
    func routesAndAcks() async throws {
        let steps = try FakeSteps()
        defer { steps.remove() }
        let mapped = event(EventType.invoiceMapped, recordid: "r-1")
        try steps.step("transform-invoice", result: .ok([mapped]))
        try steps.step("write-erp-invoice", result: StepResult(status: .duplicate))
        let store = InMemoryStateStore()
        let runner = runner(store, steps: steps)
        let captured = event(EventType.invoiceCaptured, recordid: "r-1")
        try await runner.submit(captured)
        try await runner.drain(waitForDelayed: false)
        #expect(try steps.inputs("transform-invoice") == [captured])
        #expect(try steps.inputs("write-erp-invoice") == [mapped])
        #expect(try await WorkQueue(store: store).count() == 0)
        let stats = await runner.stats
        #expect(stats.invocations == 2)
        #expect(stats.byFunctionStatus["write-erp-invoice:duplicate"] == 1)
        let summary = await runner.finalSummary()
        #expect(summary.connections["acme"]?.duplicates == 1)
        #expect(summary.exitCode == 0)
    }

    @Test("a refused event is dead-lettered at once, kept whole, and the record marked failed")
    func refusedIsDeadLettered() async throws {
        let steps = try FakeSteps()
        defer { steps.remove() }
        try steps.step(
            "transform-invoice", exit: 65,
            result: StepResult(status: .failed, error: .init(code: "event.invalid", message: "bad", retryable: false)))
        let store = InMemoryStateStore()
        let runner = runner(store, steps: steps)
        let captured = event(EventType.invoiceCaptured, recordid: "r-2")
        try await runner.submit(captured)
        try await runner.drain(waitForDelayed: true)
        let keys = try StateKeys(connection: "acme")
        let letters = try await DeadLetterList(store: store, keys: keys).list()
        #expect(letters.map(\.id) == ["transform-invoice-\(captured.id)"])
        #expect(letters.first?.event == captured)
        #expect(letters.first?.exitCode == 65)
        #expect(try await AuditLog(store: store, keys: keys).status(recordId: "r-2")?.state == .failed)
        #expect(try steps.inputs("transform-invoice").count == 1, "never retried")
        #expect(await runner.finalSummary().exitCode == 1)
    }

    @Test("a temporary failure is retried with its attempt counted, then dead-lettered after the last attempt")
    func retriesThenDeadLetters() async throws {
        let steps = try FakeSteps()
        defer { steps.remove() }
        try steps.step(
            "transform-invoice", exit: 75,
            result: StepResult(
                status: .retry, error: .init(code: "http.unavailable", message: "later", retryable: true)))
        let store = InMemoryStateStore()
        let runner = runner(store, steps: steps, maxAttempts: 3)
        try await runner.submit(event(EventType.invoiceCaptured))
        try await runner.drain(waitForDelayed: true, deadline: Date().addingTimeInterval(30))
        #expect(try steps.inputs("transform-invoice").map(\.attempt) == [1, 2, 3])
        #expect(await runner.stats.retried == 2)
        #expect(await runner.stats.deadLettered == 1)
        #expect(try await WorkQueue(store: store).count() == 0)
        let summary = await runner.finalSummary()
        #expect(summary.connections["acme"]?.deadLettered["http.unavailable"] == 1)
        #expect(summary.connections["acme"]?.retries == 2)
    }

    @Test("trigger runs up to max items of one step only, and leaves the rest queued")
    func triggerIsBounded() async throws {
        let steps = try FakeSteps()
        defer { steps.remove() }
        try steps.step("transform-invoice", result: .ok())
        let store = InMemoryStateStore()
        let producer = runner(store, steps: steps)
        for _ in 0..<3 { try await producer.submit(event(EventType.invoiceCaptured)) }
        try await producer.submit(event(EventType.masterDataSyncRequested))
        let spec = try #require(FunctionCatalog.named("transform-invoice"))
        let trigger = runner(store, steps: steps, consumer: "trigger-1")
        let outcomes = try await trigger.trigger(step: spec, max: 2)
        #expect(outcomes.map(\.exitCode) == [0, 0])
        let queue = WorkQueue(store: store)
        #expect(try await queue.count(step: "transform-invoice") == 1)
        #expect(try await queue.count(step: "sync-vendors") == 1, "other steps' items are not touched")
        #expect(try steps.inputs("transform-invoice").count == 2)
    }

    @Test("a directory without a step's executable is refused before anything is claimed, naming the step")
    func missingExecutableRefused() async throws {
        let steps = try FakeSteps()
        defer { steps.remove() }
        try FileManager.default.removeItem(at: steps.directory.appendingPathComponent("sync-vendors"))
        let store = InMemoryStateStore()
        let runner = runner(store, steps: steps)
        try await runner.submit(event(EventType.invoiceCaptured))
        let refused = await #expect(throws: ConnectorError.self) { try await runner.drain(waitForDelayed: false) }
        #expect(refused?.code == .configInvalid)
        #expect(refused?.message.contains("sync-vendors") == true, "\(refused?.message ?? "")")
        #expect(refused?.message.contains("transform-invoice") == false, "\(refused?.message ?? "")")
        // Nothing ran, nothing was spent: the item waits, unclaimed, for a runner that has the steps.
        #expect(try steps.inputs("transform-invoice").isEmpty)
        #expect(try await WorkQueue(store: store).count(step: "transform-invoice") == 1)
        #expect(await runner.stats.invocations == 0)
        // `trigger` checks only its own step.
        let transform = try #require(FunctionCatalog.named("transform-invoice"))
        let vendors = try #require(FunctionCatalog.named("sync-vendors"))
        await #expect(throws: ConnectorError.self) { try await runner.trigger(step: vendors, max: 1) }
        try steps.step("transform-invoice", result: .ok())
        #expect(try await runner.trigger(step: transform, max: 1).map(\.exitCode) == [0])
    }

    @Test("with several connections, a step's workers are shared between them, not filled by one's backlog")
    func claimsAreFairAcrossConnections() async throws {
        let steps = try FakeSteps()
        defer { steps.remove() }
        try steps.step("write-erp-invoice", result: .ok(), sleepSeconds: 1)
        let store = InMemoryStateStore()
        let runner = Runner(
            store: store,
            options: .init(
                binDirectory: steps.directory, environment: ["PATH": "/usr/bin:/bin"], workers: ["write-erp-invoice": 2]
            ),
            logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }), report: { _ in })
        try await backlog(runner, in: store, big: 6, small: 2)
        try await runner.drain(waitForDelayed: false)
        let order = try steps.inputs("write-erp-invoice").map { $0.connection ?? "-" }
        #expect(order.count == 8)
        // Oldest first would run `small` last (positions 7 and 8); fair, one of the first two workers takes it.
        #expect(order.prefix(2).sorted() == ["big", "small"], "\(order)")
        #expect(order.prefix(4).filter { $0 == "small" }.count == 2, "\(order)")
        #expect(try await WorkQueue(store: store).count() == 0)
    }

    @Test("a trigger balances against other consumers' live claims: a held connection's next item waits its turn")
    func triggerClaimsFairly() async throws {
        let steps = try FakeSteps()
        defer { steps.remove() }
        try steps.step("write-erp-invoice", result: .ok())
        let store = InMemoryStateStore()
        try await backlog(runner(store, steps: steps), in: store, big: 3, small: 1)
        // Another worker holds `big`'s oldest invoice.
        let queue = WorkQueue(store: store)
        let held = try await queue.claim(
            step: "write-erp-invoice", consumer: "other", limit: 1, visibility: .seconds(60))
        #expect(held.map(\.item.event.recordid) == ["big-0"])
        let spec = try #require(FunctionCatalog.named("write-erp-invoice"))
        let outcomes = try await runner(store, steps: steps, consumer: "trigger-1").trigger(step: spec, max: 1)
        #expect(outcomes.map(\.exitCode) == [0])
        // Oldest first would take big-1; `big` has one in flight and `small` none.
        #expect(try steps.inputs("write-erp-invoice").map(\.recordid) == ["small-3"])
    }
}

/// Two connections in `store`, `big` and `small` (the runner looks them up as a drain starts; their contents do not
/// matter), and `big` invoices queued by `runner` for the write step before `small` ones, ten milliseconds apart so
/// their order is certain (record ids `big-0`, …, then `small-<n>` numbered on).
private func backlog(_ runner: Runner, in store: InMemoryStateStore, big: Int, small: Int) async throws {
    for id in ["big", "small"] { _ = try await store.put(StateKeys.connectionKey(id), Data("{}".utf8), ttl: nil) }
    let start = Date().addingTimeInterval(-1)
    for index in 0..<(big + small) {
        let connection = index < big ? "big" : "small"
        try await runner.submit(
            event(EventType.invoiceMapped, connection: connection, recordid: "\(connection)-\(index)"),
            notBefore: start.addingTimeInterval(Double(index) / 100))
    }
}
