import ConnectorCore
import ConnectorRunner
import Foundation
import Logging
import Testing

/// The gateway's answers, without a socket: `handle` is what the HTTP server calls for every request.
@Suite("Webhook gateway")
struct WebhookGatewayTests {
    static func gateway(_ steps: FakeSteps, store: any StateStore, maxConcurrent: Int = 8) -> WebhookGateway {
        WebhookGateway(
            runner: runner(store, steps: steps), binDirectory: steps.directory, environment: ["PATH": "/usr/bin:/bin"],
            logPath: nil, logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }),
            maxConcurrent: maxConcurrent)
    }

    @Test("health, unknown paths, oversized bodies and a full house are answered without running the step")
    func refusals() async throws {
        let steps = try FakeSteps()
        defer { steps.remove() }
        let gateway = Self.gateway(steps, store: InMemoryStateStore())
        let health = await gateway.handle(method: "GET", path: "/healthz", query: [:], headers: [:], body: Data())
        #expect(health.status == 200)
        for path in ["/webhooks/acme", "/webhooks/acme/noSuchErp", "/webhooks/Not Valid/businessCentral", "/other"] {
            let answer = await gateway.handle(method: "POST", path: path, query: [:], headers: [:], body: Data())
            #expect(answer.status == 404, "\(path)")
        }
        let large = await gateway.handle(
            method: "POST", path: "/webhooks/acme/businessCentral", query: [:], headers: [:], body: nil)
        #expect(large.status == 413)
        let busy = await Self.gateway(steps, store: InMemoryStateStore(), maxConcurrent: 0).handle(
            method: "POST", path: "/webhooks/acme/businessCentral", query: [:], headers: [:], body: Data())
        #expect(busy.status == 429)
        #expect(busy.retryAfter == 5)
        #expect(try steps.inputs(WebhookGateway.function).isEmpty)
    }

    @Test("the step's reply is the answer, after its events are queued for their consumers")
    func replyAfterQueueing() async throws {
        let steps = try FakeSteps()
        defer { steps.remove() }
        let sync = event(EventType.masterDataSyncRequested)
        try steps.step(
            WebhookGateway.function,
            result: StepResult(
                status: .ok, events: [sync], reply: HTTPReply(status: 200, contentType: "text/plain", body: "token")))
        let store = InMemoryStateStore()
        let answer = await Self.gateway(steps, store: store).handle(
            method: "POST", path: "/webhooks/acme/businessCentral", query: ["validationToken": "token"],
            headers: ["traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"], body: Data("{}".utf8))
        #expect(answer.status == 200)
        #expect(answer.contentType == "text/plain")
        #expect(answer.body == "token")
        let received = try #require(try steps.inputs(WebhookGateway.function).first)
        #expect(received.type == EventType.notificationReceived)
        #expect(received.connection == "acme")
        #expect(received.traceparent == "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
        let queue = WorkQueue(store: store)
        #expect(try await queue.count(step: "sync-accounts") == 1)
        #expect(try await queue.count(step: "sync-vendors") == 1)
    }

    @Test("a refused notification is 401, 404 or 400 by its code; a failed step is 503 with Retry-After")
    func failures() async throws {
        let steps = try FakeSteps()
        defer { steps.remove() }
        let store = InMemoryStateStore()
        let gateway = Self.gateway(steps, store: store)
        func answer(exit: Int32, code: String?) async throws -> WebhookGateway.Answer {
            try steps.step(
                WebhookGateway.function, exit: exit,
                result: code.map { StepResult(status: .failed, error: .init(code: $0, message: "m", retryable: false)) }
            )
            return await gateway.handle(
                method: "POST", path: "/webhooks/acme/businessCentral", query: [:], headers: [:], body: Data())
        }
        #expect(try await answer(exit: 65, code: NotificationErrors.unauthenticated.rawValue).status == 401)
        #expect(try await answer(exit: 65, code: NotificationErrors.notConfigured.rawValue).status == 404)
        #expect(try await answer(exit: 65, code: "webhook.malformed").status == 400)
        #expect(try await answer(exit: 78, code: ConnectorError.Code.connectionUnknown.rawValue).status == 404)
        let failed = try await answer(exit: 75, code: nil)
        #expect(failed.status == 503)
        #expect(failed.retryAfter == 30)
        #expect(try await WorkQueue(store: store).count() == 0)
    }
}
