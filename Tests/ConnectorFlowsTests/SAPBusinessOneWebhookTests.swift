import ConnectorCore
import ConnectorFlows
import ConnectorHTTP
import ConnectorSecurity
import ConnectorTesting
import Crypto
import Foundation
import Logging
import SAPBusinessOne
import Testing

/// Optional SAP Business One webhooks: a delivery counts only with the right HMAC (or shared secret), and it only
/// asks for a sync of what it names.
@Suite("SAP Business One webhooks")
struct SAPBusinessOneWebhookTests {
    static let secret = "b1-webhook-secret-0123456789"
    static let previous = "b1-old-webhook-secret-98765"

    static func handler(
        authentication: SAPBusinessOneNotifications.Authentication = .hmac,
        encoding: SharedSecretCheck.SignatureEncoding = .hex, store: InMemoryStateStore = InMemoryStateStore()
    ) throws -> NotificationHandler {
        let connection = Connection(
            id: "b1-hooks",
            jaggaer: JaggaerSettings(baseURL: "https://x.jaggaer.com", clientId: "c", clientSecret: .sealed("s")),
            erp: ERPSettings(
                SAPBusinessOneSettings(
                    serviceLayerURL: "https://b1.example.com:50000/b1s/v2", companyDB: "SBODEMOUS", username: "u",
                    password: .sealed("p"))),
            notifications: NotificationSettings(
                publicURL: "https://hooks.example.com",
                SAPBusinessOneNotifications(
                    secret: .sealed("x"), previousSecret: .sealed("y"), authentication: authentication,
                    signatureEncoding: encoding),
                kind: SAPBusinessOneSettings.kind))
        return NotificationHandler(
            context: StepContext(
                store: store, keys: try StateKeys(connection: connection.id), connection: connection,
                clock: ManualClock(Date()), logger: Logger(label: "test"), owner: "test"),
            receiver: SAPBusinessOneModule().notifications, secrets: [Secret(secret), Secret(previous)])
    }

    static func sign(_ body: String, key: String = secret, base64: Bool = false) -> String {
        let mac = Data(HMAC<SHA256>.authenticationCode(for: Data(body.utf8), using: SymmetricKey(data: Data(key.utf8))))
        return base64 ? mac.base64EncodedString() : mac.map { String(format: "%02x", $0) }.joined()
    }

    static func handle(_ handler: NotificationHandler, body: String, headers: [String: String]) async throws
        -> StepResult
    {
        let request = WebhookRequest(system: "sapBusinessOne", method: "POST", headers: headers, body: body)
        let event = CloudEvent(
            source: "urn:test", type: EventType.notificationReceived, data: try JSONValue(encoding: request),
            connection: "b1-hooks")
        return try await handler.handle(event, input: try event.decodeData(WebhookRequest.self))
    }

    static func kinds(_ result: StepResult) throws -> [MasterDataSyncRequest] {
        try result.events.map { try $0.decodeData(MasterDataSyncRequest.self) }
    }

    @Test("a signed delivery starts the sync of what it names; deletions ask for a full read")
    func signed() async throws {
        let handler = try Self.handler()
        let update = #"[{"BizObject":"BusinessPartners","TransType":"Updated","Key":"V10000"}]"#
        let result = try await Self.handle(handler, body: update, headers: ["x-sap-signature": Self.sign(update)])
        #expect(try Self.kinds(result) == [MasterDataSyncRequest(kinds: ["vendors"])])
        #expect(result.reply?.status == 202)

        let deletion = #"{"ObjectType":1,"TransType":"Deleted"}"#
        let deleted = try await Self.handle(
            handler, body: deletion, headers: ["x-sap-signature": "sha256=" + Self.sign(deletion, key: Self.previous)])
        #expect(try Self.kinds(deleted) == [MasterDataSyncRequest(full: true, kinds: ["accounts"])])

        let other = #"{"BizObject":"Items","TransType":"Updated"}"#
        let ignored = try await Self.handle(handler, body: other, headers: ["x-sap-signature": Self.sign(other)])
        #expect(ignored.events.isEmpty)
        #expect(ignored.detail?["ignored"]?.contains("Items") == true)
    }

    @Test(
        "a delivery without the right signature is refused and leaves nothing",
        arguments: [
            [:], ["x-sap-signature": "00"], ["x-sap-signature": String(repeating: "a", count: 64)],
            ["x-sap-signature": "not hex at all"], ["x-other": "x"],
        ])
    func forged(headers: [String: String]) async throws {
        let store = InMemoryStateStore()
        let handler = try Self.handler(store: store)
        let body = #"{"BizObject":"BusinessPartners","TransType":"Updated"}"#
        var forged = headers
        if headers.isEmpty {
            // Signed with a key the connection does not have.
            forged["x-sap-signature"] = Self.sign(body, key: "an-attacker-key-0123456789")
        }
        do {
            _ = try await Self.handle(handler, body: body, headers: forged)
            Issue.record("a forged delivery was accepted")
        } catch let error as ConnectorError {
            #expect(error.code == NotificationHandler.Code.unauthenticated)
            #expect(error.kind == .badInput)
            #expect(!error.message.contains(Self.secret))
        }
        #expect(try await store.scanAll(prefix: "").isEmpty)
    }

    @Test("base64 signatures and the shared-secret header mode")
    func otherModes() async throws {
        let body = #"{"BizObject":"ChartOfAccounts","TransType":"Created"}"#
        let base64 = try Self.handler(encoding: .base64)
        let signed = try await Self.handle(
            base64, body: body, headers: ["x-sap-signature": Self.sign(body, base64: true)])
        #expect(try Self.kinds(signed) == [MasterDataSyncRequest(kinds: ["accounts"])])
        await #expect(throws: ConnectorError.self) {
            _ = try await Self.handle(base64, body: body, headers: ["x-sap-signature": Self.sign(body)])
        }

        let header = try Self.handler(authentication: .header)
        let plain = try await Self.handle(header, body: body, headers: ["x-sap-signature": Self.secret])
        #expect(plain.events.count == 1)
        await #expect(throws: ConnectorError.self) {
            _ = try await Self.handle(header, body: body, headers: ["x-sap-signature": Self.sign(body)])
        }
    }
}
