import ConnectorCore
import Foundation
import Logging

/// The dead-letter sink of the Knative broker and its triggers: keeps every event Knative gave up on in the store's
/// dead-letter list (the same list `local-runner dead-letters` shows and `local-runner replay` replays), with the
/// step it was meant for and why delivery failed, so nothing Knative drops is lost.
///
/// Knative adds `knativeerrordest` (the subscriber's URL), `knativeerrorcode` (its last HTTP status) and
/// `knativeerrordata` (the start of its answer, base64) to a dead-lettered event; the step is the subscriber's
/// Knative Service name without its `mlc-` prefix, and the adapter's JSON error in the answer gives the code,
/// message and exit code.
package struct DeadLetterSink: Sendable {
    package let store: any StateStore
    package let logger: Logger

    package init(store: any StateStore, logger: Logger) {
        self.store = store
        self.logger = logger
    }

    package func handle(headers: [(name: String, value: String)], body: Data) async -> StepAdapter.Answer {
        let event: CloudEvent
        do {
            event = try CloudEventHTTP.decode(headers: headers, body: body)
        } catch {
            // Not even an event: nothing to keep that Knative could deliver again either.
            let wrapped = ConnectorError.wrap(error)
            return .error(400, code: wrapped.code.rawValue, message: wrapped.message, retryable: false)
        }
        let letter = Self.letter(
            for: event, attributes: CloudEventHTTP.otherAttributes(headers: headers, body: body), at: Date())
        do {
            let connection =
                event.connection.flatMap { (try? StateKeys(connection: $0)) != nil ? $0 : nil } ?? "_runner"
            let keys = try StateKeys(connection: connection)
            try await DeadLetterList(store: store, keys: keys).add(letter)
            if let recordId = event.recordid {
                _ = try await AuditLog(store: store, keys: keys).setState(
                    RecordStatus(
                        recordId: recordId, state: .failed, updatedAt: letter.at, lastStep: letter.step,
                        reasons: letter.error.map { [ReviewReason($0.code, $0.message)] }))
            }
        } catch {
            logger.error(
                "cannot keep a dead-lettered event", metadata: ["error": "\(ConnectorError.wrap(error).message)"])
            return .error(
                503, code: "state.unavailable", message: "the dead letter could not be stored", retryable: true)
        }
        logger.warning(
            "dead-lettered",
            metadata: [
                "step": "\(letter.step)", "event": "\(event.id)", "type": "\(event.type)",
                "code": "\(letter.error?.code ?? "-")",
            ])
        return StepAdapter.Answer(status: 202, headers: [], body: Data())
    }

    /// The dead letter for a failed delivery, from Knative's error attributes.
    package static func letter(for event: CloudEvent, attributes: [String: String], at: Date) -> DeadLetter {
        let destination = attributes["knativeerrordest"] ?? ""
        let host = URLComponents(string: destination)?.host ?? ""
        let service = String(host.split(separator: ".").first ?? "")
        let step = service.hasPrefix("mlc-") ? String(service.dropFirst(4)) : (service.isEmpty ? "knative" : service)
        let status = attributes["knativeerrorcode"].flatMap { Int($0) }
        var answer: JSONValue?
        if let data = attributes["knativeerrordata"].flatMap({ Data(base64Encoded: $0) }) {
            answer = try? JSONCoding.decode(JSONValue.self, from: data)
        }
        let code = answer?["error"]?["code"]?.stringValue ?? "knative.delivery_failed"
        let message =
            answer?["error"]?["message"]?.stringValue
            ?? "Knative could not deliver the event to \(service.isEmpty ? "its subscriber" : service)"
            + (status.map { " (last answer HTTP \($0))" } ?? "")
        var exitCode: Int32 = 75
        if case .number(let number)? = answer?["exitCode"] {
            exitCode = NSDecimalNumber(decimal: number).int32Value
        } else if status == 400 {
            exitCode = 65
        }
        return DeadLetter(
            id: "\(step)-\(event.id)", recordId: event.recordid, step: step, event: event,
            error: .init(
                code: code, message: String(message.prefix(1000)), retryable: status.map { $0 >= 500 } ?? true),
            exitCode: exitCode, attempts: event.attempt, at: at)
    }
}
