import ArgumentParser
import ConnectorCore
import ConnectorFlows
import Foundation

/// `local-runner approve <record>`: an operator approves drafts the connector wrote, and `post-erp-invoice` posts
/// each one exactly once (BC `Microsoft.NAV.post`). Nothing is posted without it, unless the connection sets
/// `flow.autoPost`. Approving twice is harmless: the post is claimed and recorded, and a second approval finds it.
struct Approve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Approves drafts written by the connector for posting in the ERP (post-erp-invoice posts each once)."
    )
    @OptionGroup var store: StoreOptions
    @Option(help: "The connection (default: the only one).") var connection: String?
    @Option(help: "Who approves (kept in the audit trail).") var by =
        ProcessInfo.processInfo.environment["USER"] ?? "operator"
    @Argument(help: "Record ids of written drafts (see `local-runner audit`).") var records: [String]

    func validate() throws {
        guard !records.isEmpty else { throw ValidationError("name at least one record to approve") }
    }

    func run() async throws {
        await guarded {
            let state = try await store.open()
            let id = try await resolveConnection(connection, state: state)
            let events = try await Self.approvals(
                records, by: by, connection: id, audit: AuditLog(store: state, keys: try StateKeys(connection: id)))
            let run = try await runNow(events, state: state, stateURL: store.url())
            try await state.close()
            let code = describe(run, what: "approved \(events.count)")
            if code != 0 { throw ArgumentParser.ExitCode(code) }
        }
    }

    /// One `invoice.approved` event per record; a record that is not a written draft is refused by name.
    static func approvals(_ records: [String], by: String, connection: String, audit: AuditLog) async throws
        -> [CloudEvent]
    {
        var events: [CloudEvent] = []
        for record in records {
            guard let status = try await audit.status(recordId: record) else {
                throw ConnectorError(.eventInvalid, kind: .badInput, "no record \(record.debugDescription)")
            }
            guard status.state == .written || status.state == .posted, status.document != nil else {
                throw ConnectorError(
                    .eventInvalid, kind: .badInput,
                    "\(record) is \(status.state.rawValue), not a draft written by ml-connector; nothing to approve")
            }
            let mapped = try await audit.entries(recordId: record).lazy.compactMap { entry -> MappedInvoice? in
                guard entry.step == WriteInvoiceHandler.step else { return nil }
                return try? entry.input?.data?.decode(MappedInvoice.self)
            }.first
            guard let mapped else {
                throw ConnectorError(
                    .eventInvalid, kind: .badInput, "\(record) has no write in its audit trail; nothing to approve")
            }
            let approval = InvoiceApproval(
                recordId: record, source: mapped.source, sourceId: mapped.sourceId, approvedBy: by)
            events.append(
                CloudEvent(
                    id: "\(record)/approved-\(UUID().uuidString.prefix(8).lowercased())",
                    source: "urn:mlconnector:\(connection):operator", type: EventType.invoiceApproved,
                    data: try JSONValue(encoding: approval), connection: connection, flow: "posting",
                    recordid: record))
        }
        return events
    }
}
