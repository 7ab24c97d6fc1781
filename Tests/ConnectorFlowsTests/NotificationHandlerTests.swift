import Acumatica
import BusinessCentral
import ConnectorCore
import ConnectorFlows
import ConnectorHTTP
import ConnectorSecurity
import ConnectorTesting
import Foundation
import Logging
import Testing

/// `handle-erp-notification` without processes: authentication, handshakes, what it emits and what it audits.
@Suite("Webhook notifications")
struct NotificationHandlerTests {
    static let companyId = "5f6c8c2e-3b5c-4c34-9f0b-1a2b3c4d5e6f"
    static let clientState = "bc-client-state-0123456789abcdef"
    static let previousClientState = "bc-old-client-state-9876543210"
    static let headerSecret = "acu-header-secret-0123456789"

    /// A Business Central connection with webhooks, or (for `acumatica`) an Acumatica one with push notifications.
    static func connection(for system: String = "businessCentral") -> Connection {
        let jaggaer = JaggaerSettings(baseURL: "https://x.jaggaer.com", clientId: "c", clientSecret: .sealed("s"))
        if system == AcumaticaSettings.kind {
            return Connection(
                id: "hooks", jaggaer: jaggaer,
                erp: ERPSettings(
                    AcumaticaSettings(
                        instanceURL: "https://acme.acumatica.com", authentication: .cookie, username: "u",
                        password: .sealed("p"))),
                notifications: NotificationSettings(
                    publicURL: "https://hooks.example.com",
                    AcumaticaPushNotifications(
                        headerName: "X-Hook-Secret", headerValue: .sealed("y"),
                        queries: ["MLC-Vendors": "vendors", "MLC-Accounts": "accounts"]),
                    kind: AcumaticaSettings.kind))
        }
        return Connection(
            id: "hooks", jaggaer: jaggaer,
            erp: ERPSettings(
                BusinessCentralSettings(
                    tenantId: "t", environment: "production", clientId: "c", clientSecret: .sealed("s"),
                    companyId: companyId)),
            notifications: NotificationSettings(
                publicURL: "https://hooks.example.com", BusinessCentralNotifications(clientState: .sealed("x")),
                kind: BusinessCentralSettings.kind))
    }

    static func handler(store: InMemoryStateStore = InMemoryStateStore(), connection: Connection = connection())
        throws -> NotificationHandler
    {
        let context = StepContext(
            store: store, keys: try StateKeys(connection: connection.id), connection: connection,
            clock: ManualClock(Date()), logger: Logger(label: "test"), owner: "test")
        let acumatica = connection.erp.kind == AcumaticaSettings.kind
        let module: any ERPModule = acumatica ? AcumaticaModule() : BusinessCentralModule()
        return NotificationHandler(
            context: context, receiver: module.notifications,
            secrets: acumatica ? [Secret(headerSecret)] : [Secret(clientState), Secret(previousClientState)])
    }

    static func event(_ request: WebhookRequest) throws -> CloudEvent {
        CloudEvent(
            source: "urn:test", type: EventType.notificationReceived, data: try JSONValue(encoding: request),
            connection: "hooks")
    }

    static func bcBody(_ entries: [(state: String?, resource: String, change: String)]) -> String {
        let value: [[String: String]] = entries.map { entry in
            var object = [
                "subscriptionId": "c670ea73cacb459bb51dc1740da2f1db", "resource": entry.resource,
                "changeType": entry.change, "expirationDateTime": "2026-12-04T10:00:00Z",
                "lastModifiedDateTime": "2026-12-01T10:00:00Z",
            ]
            if let state = entry.state { object["clientState"] = state }
            return object
        }
        return String(decoding: try! JSONEncoder().encode(["value": value]), as: UTF8.self)
    }

    static func vendor(_ id: String = "a1b2c3d4-0000-0000-0000-000000000001") -> String {
        "api/v2.0/companies(\(companyId))/vendors(\(id))"
    }

    func handle(_ request: WebhookRequest, store: InMemoryStateStore = InMemoryStateStore()) async throws
        -> StepResult
    {
        let handler = try Self.handler(store: store, connection: Self.connection(for: request.system))
        let event = try Self.event(request)
        return try await handler.handle(event, input: try event.decodeData(WebhookRequest.self))
    }

    func syncRequests(_ result: StepResult) throws -> [MasterDataSyncRequest] {
        try result.events.map {
            #expect($0.type == EventType.masterDataSyncRequested)
            return try $0.decodeData(MasterDataSyncRequest.self)
        }
    }

    func expectRefused(
        _ request: WebhookRequest, code: ConnectorError.Code, sourceLocation: SourceLocation = #_sourceLocation
    ) async throws {
        let store = InMemoryStateStore()
        do {
            _ = try await handle(request, store: store)
            Issue.record("expected \(code)", sourceLocation: sourceLocation)
        } catch let error as ConnectorError {
            #expect(error.code == code, sourceLocation: sourceLocation)
            #expect(error.exitCode == .dataError, sourceLocation: sourceLocation)
            #expect(!error.message.contains(Self.clientState), sourceLocation: sourceLocation)
        }
        #expect(try await store.scanAll(prefix: "").isEmpty, sourceLocation: sourceLocation)
    }

    @Test("BC handshake: the validation token comes back as plain text, and nothing is audited")
    func handshake() async throws {
        let result = try await handle(
            WebhookRequest(system: "businessCentral", method: "POST", query: ["validationToken": "tok-123 abc"]))
        #expect(result.status == .ok)
        #expect(result.reply == HTTPReply(status: 200, contentType: "text/plain; charset=utf-8", body: "tok-123 abc"))
        #expect(result.events.isEmpty)
        #expect(!NotificationHandler.audits(result))
        await #expect(throws: ConnectorError.self) {
            try await handle(
                WebhookRequest(
                    system: "businessCentral", method: "POST",
                    query: ["validationToken": String(repeating: "x", count: 2000)]))
        }
        await #expect(throws: ConnectorError.self) {
            try await handle(
                WebhookRequest(system: "businessCentral", method: "POST", query: ["validationToken": "a\nb"]))
        }
    }

    @Test("BC notification with the right clientState starts one delta sync per kind; deletions ask for a full read")
    func bcAccepted() async throws {
        let body = Self.bcBody([
            (Self.clientState, Self.vendor(), "updated"),
            (Self.clientState, Self.vendor("a1b2c3d4-0000-0000-0000-000000000002"), "created"),
            (
                Self.clientState,
                "api/v2.0/companies(\(Self.companyId))/accounts(a1b2c3d4-0000-0000-0000-00000000000a)", "deleted"
            ),
            (
                Self.clientState,
                "api/v2.0/companies(\(Self.companyId))/purchaseInvoices(a1b2c3d4-0000-0000-0000-00000000000b)",
                "updated"
            ),
            (Self.clientState, "api/v2.0/companies(11111111-2222-3333-4444-555555555555)/vendors(x)", "updated"),
        ])
        let result = try await handle(
            WebhookRequest(
                system: "businessCentral", method: "POST", headers: ["content-type": "application/json"], body: body))
        #expect(result.status == .ok)
        #expect(result.reply?.status == 202)
        let requests = try syncRequests(result)
        #expect(
            requests == [
                MasterDataSyncRequest(full: true, kinds: ["accounts"]), MasterDataSyncRequest(kinds: ["vendors"]),
            ])
        #expect(result.detail?["ignored"] == "other company×1,purchaseInvoices×1")
        #expect(NotificationHandler.audits(result))
    }

    @Test("BC collection notification (more than 1,000 changes) reads the kind again")
    func bcCollection() async throws {
        let resource =
            "api/v2.0/companies(\(Self.companyId))/vendors?$filter=lastModifiedDateTime%20gt%202026-12-01T10:00:00Z"
        let result = try await handle(
            WebhookRequest(
                system: "businessCentral", method: "POST",
                body: Self.bcBody([(Self.clientState, resource, "collection")])))
        #expect(try syncRequests(result) == [MasterDataSyncRequest(kinds: ["vendors"])])
    }

    @Test("The previous clientState is still accepted during a rotation")
    func bcPreviousSecret() async throws {
        let result = try await handle(
            WebhookRequest(
                system: "businessCentral", method: "POST",
                body: Self.bcBody([(Self.previousClientState, Self.vendor(), "updated")])))
        #expect(result.events.count == 1)
    }

    @Test("A wrong, missing or partly wrong clientState is refused whole, and nothing is stored")
    func bcRefused() async throws {
        for entries in [
            [(state: String?.some("wrong-client-state-0123456789"), resource: Self.vendor(), change: "updated")],
            [(state: String?.none, resource: Self.vendor(), change: "updated")],
            [(state: String?.some(""), resource: Self.vendor(), change: "updated")],
            [
                (state: String?.some(Self.clientState), resource: Self.vendor(), change: "updated"),
                (state: String?.some(String(Self.clientState.dropLast())), resource: Self.vendor(), change: "updated"),
            ],
            [(state: String?.some(Self.clientState + "x"), resource: Self.vendor(), change: "updated")],
        ] {
            try await expectRefused(
                WebhookRequest(system: "businessCentral", method: "POST", body: Self.bcBody(entries)),
                code: NotificationHandler.Code.unauthenticated)
        }
    }

    @Test("Unreadable BC bodies are bad input")
    func bcMalformed() async throws {
        for body in [
            nil, "", "not json", #"{"value": 3}"#, #"{"value": []}"#, #"{"value":[{"clientState":"x"}]}"#, "[]",
        ] {
            try await expectRefused(
                WebhookRequest(system: "businessCentral", method: "POST", body: body),
                code: NotificationHandler.Code.malformed)
        }
        try await expectRefused(
            WebhookRequest(system: "businessCentral", method: "GET"), code: NotificationHandler.Code.malformed)
    }

    @Test("Acumatica push: the configured header authenticates; the query names the kind")
    func acumatica() async throws {
        let update =
            #"{"Inserted":[{"VendorID":"V1"}],"Deleted":[{"VendorID":"V1"}],"Query":"MLC-Vendors","CompanyId":"Company","Id":"7c1d","TimeStamp":638000000000}"#
        let result = try await handle(
            WebhookRequest(
                system: "acumatica", method: "POST", headers: ["x-hook-secret": Self.headerSecret], body: update))
        #expect(try syncRequests(result) == [MasterDataSyncRequest(kinds: ["vendors"])])
        #expect(result.detail?["pushId"] == "7c1d")

        let deletion = #"{"Inserted":[],"Deleted":[{"AccountCD":"6100"}],"Query":"MLC-Accounts","Id":"8"}"#
        let deleted = try await handle(
            WebhookRequest(
                system: "acumatica", method: "POST", headers: ["x-hook-secret": Self.headerSecret], body: deletion))
        #expect(try syncRequests(deleted) == [MasterDataSyncRequest(full: true, kinds: ["accounts"])])

        let unknown = #"{"Inserted":[{}],"Deleted":[],"Query":"SomethingElse","Id":"9"}"#
        let ignored = try await handle(
            WebhookRequest(
                system: "acumatica", method: "POST", headers: ["x-hook-secret": Self.headerSecret], body: unknown))
        #expect(ignored.events.isEmpty)
        #expect(ignored.reply?.status == 202)

        for headers in [[:], ["x-hook-secret": "wrong"], ["x-other": Self.headerSecret], ["x-hook-secret": ""]] {
            try await expectRefused(
                WebhookRequest(system: "acumatica", method: "POST", headers: headers, body: update),
                code: NotificationHandler.Code.unauthenticated)
        }
    }

    @Test("A connection without the protocol's settings takes none of its requests")
    func notConfigured() async throws {
        for system in ["businessCentral", "acumatica", "sap"] {
            var connection = Self.connection(for: system)
            connection.notifications = nil
            let handler = try Self.handler(connection: connection)
            let event = try Self.event(
                WebhookRequest(
                    system: system, method: "POST", body: Self.bcBody([(Self.clientState, Self.vendor(), "updated")])))
            await #expect(throws: ConnectorError.self) {
                try await handler.handle(event, input: try event.decodeData(WebhookRequest.self))
            }
        }
    }

    @Test("A request naming another ERP than the connection's is refused, whatever it carries")
    func otherERP() async throws {
        let handler = try Self.handler(connection: Self.connection(for: "businessCentral"))
        let event = try Self.event(
            WebhookRequest(
                system: "acumatica", method: "POST", headers: ["x-hook-secret": Self.headerSecret],
                body: #"{"Inserted":[{}],"Deleted":[],"Query":"MLC-Vendors","Id":"1"}"#))
        do {
            _ = try await handler.handle(event, input: try event.decodeData(WebhookRequest.self))
            Issue.record("an Acumatica push to a Business Central connection was accepted")
        } catch let error as ConnectorError {
            #expect(error.code == NotificationHandler.Code.notConfigured)
            #expect(error.kind == .badInput)
        }
    }

    @Test("The audit trail keeps the request without its secrets")
    func auditedInput() throws {
        let event = try Self.event(
            WebhookRequest(
                system: "acumatica", method: "POST",
                headers: [
                    "x-hook-secret": Self.headerSecret, "content-type": "application/json",
                    "authorization": "Bearer abc",
                ],
                body: Self.bcBody([(Self.clientState, Self.vendor(), "updated")])))
        let audited = NotificationHandler.auditedInput(event)
        let text = String(decoding: try JSONCoding.encode(audited), as: UTF8.self)
        #expect(!text.contains(Self.headerSecret))
        #expect(!text.contains(Self.clientState))
        #expect(!text.contains("Bearer abc"))
        #expect(text.contains("content-type"))
        #expect(text.contains("<redacted>"))
        let request = try audited.decodeData(WebhookRequest.self)
        #expect(request.headers == ["content-type": "application/json"])
    }

    @Test("Constant-time comparison gives the same answers as ==")
    func sharedSecretCheck() {
        let secret = Secret("the-shared-secret-value")
        #expect(SharedSecretCheck.matches("the-shared-secret-value", anyOf: [secret]))
        #expect(SharedSecretCheck.matches("the-shared-secret-value", anyOf: [Secret("other-secret-value"), secret]))
        for wrong in ["the-shared-secret-valuE", "the-shared-secret-valu", "the-shared-secret-value ", "", "x"] {
            #expect(!SharedSecretCheck.matches(wrong, anyOf: [secret]))
        }
        #expect(!SharedSecretCheck.matches(nil, anyOf: [secret]))
        #expect(!SharedSecretCheck.matches("anything", anyOf: []))
        #expect(!SharedSecretCheck.matches("", anyOf: [Secret("")]))
        #expect(SharedSecretCheck.constantTimeEqual(Data([1, 2, 3]), Data([1, 2, 3])))
        #expect(!SharedSecretCheck.constantTimeEqual(Data([1, 2, 3]), Data([1, 2, 4])))
        #expect(!SharedSecretCheck.constantTimeEqual(Data(), Data([0])))
    }
}
