import Acumatica
import BusinessCentral
import ConnectorCore
import FinanceOperations
import SAPBusinessOne
import Testing

/// The notification settings that take a previous secret during a rotation share one implementation
/// (`RotatingSecretNotificationSettings`); each keeps its own field names as labels.
@Suite("Rotating notification secrets keep each ERP's labels")
struct RotatingSecretTests {
    static func check<S: RotatingSecretNotificationSettings>(
        _ make: (SecretField, SecretField?) -> S, current: String, previous: String
    ) {
        let alone = make(.sealed("new"), nil)
        #expect(alone.secretFields.map(\.label) == [current])
        let rotating = make(.sealed("new"), .sealed("old"))
        #expect(rotating.secretFields.map(\.label) == [current, previous])
        #expect(rotating.secretFields.map(\.field) == [.sealed("new"), .sealed("old")])

        var seen: [String] = []
        let sealed = rotating.replacingSecrets { label, field in
            seen.append(label)
            guard case .sealed(let value) = field else { return field }
            return .sealed("\(label)=\(value)")
        }
        #expect(seen == [current, previous])
        #expect(sealed.secretFields.map(\.field) == [.sealed("\(current)=new"), .sealed("\(previous)=old")])
        // Nothing else changes, and no previous secret appears from nowhere.
        #expect(sealed.replacingSecrets { label, _ in .sealed(label) }.secretFields.count == 2)
        #expect(alone.replacingSecrets { _, field in field } == alone)
        #expect(alone.replacingSecrets { _, _ in .sealed("x") }.secretFields.map(\.label) == [current])
    }

    @Test("current first, the previous one only when set, each under its own key")
    func labels() {
        Self.check(
            { BusinessCentralNotifications(clientState: $0, previousClientState: $1) }, current: "clientState",
            previous: "previousClientState")
        Self.check(
            { AcumaticaPushNotifications(headerValue: $0, previousHeaderValue: $1, queries: ["Q": "vendors"]) },
            current: "headerValue", previous: "previousHeaderValue")
        Self.check(
            { FinanceOperationsBusinessEvents(secret: $0, previousSecret: $1) }, current: "secret",
            previous: "previousSecret")
        Self.check(
            { SAPBusinessOneNotifications(secret: $0, previousSecret: $1) }, current: "secret",
            previous: "previousSecret")
    }
}
