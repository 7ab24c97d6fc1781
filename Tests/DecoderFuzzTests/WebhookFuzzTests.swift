import Acumatica
import BusinessCentral
import ConnectorCore
import ConnectorFlows
import ConnectorHTTP
import Foundation
import Logging
import PropertyBased
import Testing

/// The webhook step under random bodies, headers and queries: every request is accepted or refused as bad input
/// (exit 65) with a webhook code; nothing crashes, and a refused request leaves the store as it was.
@Suite("Webhook requests under random input")
struct WebhookFuzzTests {
    static let clientState = "fuzz-client-state-0123456789"
    static let headerSecret = "fuzz-header-secret-0123456789"
    static let bcBody =
        #"{"value":[{"subscriptionId":"c670ea73cacb459bb51dc1740da2f1db","clientState":"fuzz-client-state-0123456789","expirationDateTime":"2026-12-04T10:00:00Z","resource":"api/v2.0/companies(5f6c8c2e-3b5c-4c34-9f0b-1a2b3c4d5e6f)/vendors(a1b2c3d4-0000-0000-0000-000000000001)","changeType":"updated","lastModifiedDateTime":"2026-12-01T10:00:00Z"}]}"#
    static let acumaticaBody =
        #"{"Inserted":[{"VendorID":"V1","Name":"A"}],"Deleted":[{"VendorID":"V1","Name":"B"}],"Query":"MLC-Vendors","CompanyId":"Company","Id":"7c1d","TimeStamp":638000000000,"AdditionalInfo":{}}"#

    /// The step for a connection of the ERP the request names (a BC connection for any other name).
    static func handler(store: InMemoryStateStore, system: String) throws -> NotificationHandler {
        let jaggaer = JaggaerSettings(baseURL: "https://x.jaggaer.com", clientId: "c", clientSecret: .sealed("s"))
        let connection: Connection
        let module: any ERPModule
        if system == AcumaticaSettings.kind {
            module = AcumaticaModule()
            connection = Connection(
                id: "fuzz", jaggaer: jaggaer,
                erp: ERPSettings(
                    AcumaticaSettings(
                        instanceURL: "https://x.acumatica.com", authentication: .cookie, username: "u",
                        password: .sealed("p"))),
                notifications: NotificationSettings(
                    AcumaticaPushNotifications(headerValue: .sealed("y"), queries: ["MLC-Vendors": "vendors"]),
                    kind: AcumaticaSettings.kind))
        } else {
            module = BusinessCentralModule()
            connection = Connection(
                id: "fuzz", jaggaer: jaggaer,
                erp: ERPSettings(
                    BusinessCentralSettings(
                        tenantId: "t", environment: "e", clientId: "c", clientSecret: .sealed("s"),
                        companyId: "5f6c8c2e-3b5c-4c34-9f0b-1a2b3c4d5e6f")),
                notifications: NotificationSettings(
                    BusinessCentralNotifications(clientState: .sealed("x")), kind: BusinessCentralSettings.kind))
        }
        return NotificationHandler(
            context: StepContext(
                store: store, keys: try StateKeys(connection: "fuzz"), connection: connection,
                clock: SystemWallClock(), logger: Logger(label: "fuzz"), owner: "fuzz"),
            receiver: module.notifications,
            secrets: [Secret(system == AcumaticaSettings.kind ? headerSecret : clientState)])
    }

    static func check(_ request: WebhookRequest) async {
        let store = InMemoryStateStore()
        do {
            let handler = try handler(store: store, system: request.system)
            let event = CloudEvent(
                source: "urn:fuzz", type: EventType.notificationReceived, data: try JSONValue(encoding: request),
                connection: "fuzz")
            let result = try await handler.handle(event, input: try event.decodeData(WebhookRequest.self))
            #expect(result.status == .ok)
            #expect(result.reply != nil)
            for emitted in result.events {
                #expect(emitted.type == EventType.masterDataSyncRequested)
            }
        } catch let error as ConnectorError {
            #expect(error.kind == .badInput, "\(error.code)")
            #expect(error.code.rawValue.hasPrefix("webhook."), "\(error.code)")
            #expect(!error.message.contains(clientState) && !error.message.contains(headerSecret))
        } catch {
            Issue.record("unclear failure: \(type(of: error))")
        }
        // Audit input redaction copes with anything too, and never lets a secret through.
        if let event = try? CloudEvent(
            source: "urn:fuzz", type: EventType.notificationReceived, data: JSONValue(encoding: request),
            connection: "fuzz"), let text = try? JSONCoding.encode(NotificationHandler.auditedInput(event))
        {
            let audited = String(decoding: text, as: UTF8.self)
            #expect(!audited.contains(headerSecret))
            if request.body?.contains(clientState) == true,
                (try? JSONDecoder().decode(JSONValue.self, from: Data((request.body ?? "").utf8))) != nil
            {
                #expect(!audited.contains("\"clientState\":\"\(clientState)\""))
            }
        }
        #expect((try? await store.scanAll(prefix: ""))?.isEmpty == true)
    }

    @Test("Business Central notifications: mutations of a real one and random documents")
    func businessCentral() async {
        await propertyCheck(count: 400, input: RandomJSON.mutations(of: Self.bcBody)) { body in
            await Self.check(WebhookRequest(system: "businessCentral", method: "POST", body: body))
        }
        await propertyCheck(count: 200, input: RandomJSON.documents) { body in
            await Self.check(WebhookRequest(system: "businessCentral", method: "POST", body: body))
        }
        await propertyCheck(count: 100, input: RandomJSON.documents) { token in
            await Self.check(
                WebhookRequest(system: "businessCentral", method: "POST", query: ["validationToken": token]))
        }
    }

    @Test("Acumatica pushes: mutations of a real one, random documents, with and without the header")
    func acumatica() async {
        await propertyCheck(count: 400, input: RandomJSON.mutations(of: Self.acumaticaBody)) { body in
            await Self.check(
                WebhookRequest(
                    system: "acumatica", method: "POST", headers: ["x-mlc-webhook-secret": Self.headerSecret],
                    body: body))
        }
        await propertyCheck(count: 200, input: RandomJSON.documents) { value in
            await Self.check(
                WebhookRequest(
                    system: "acumatica", method: "POST", headers: ["x-mlc-webhook-secret": value],
                    body: Self.acumaticaBody))
        }
    }
}
