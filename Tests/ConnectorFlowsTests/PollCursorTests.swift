import ConnectorCore
import ConnectorFlows
import ConnectorHTTP
import ConnectorRuntime
import ConnectorSimulators
import ConnectorTesting
import Foundation
import Logging
import Testing

/// The invoice poll against list orders and paging behaviours JAGGAER might have (its list API is UNCONFIRMED):
/// nothing is missed when invoices change during a cycle, and a list that ignores paging stops the poll loudly.
@Suite("Poll cursor: no missed invoice under any list order", .serialized, .timeLimit(.minutes(5)))
struct PollCursorTests {
    struct Case: CustomTestStringConvertible, Sendable {
        var served: JaggaerListOrder
        var declared: ProcurementListOrder
        var sortParameter: String?
        var testDescription: String {
            "served \(served.rawValue), declared \(declared.rawValue)\(sortParameter.map { ", asked by \($0)" } ?? "")"
        }
    }

    static let cases: [Case] = [
        Case(served: .invoiceId, declared: .invoiceId),
        Case(served: .invoiceId, declared: .unknown),
        Case(served: .lastUpdate, declared: .lastUpdate),
        Case(served: .lastUpdate, declared: .unknown),
        Case(served: .lastUpdateDescending, declared: .lastUpdateDescending),
        Case(served: .lastUpdateDescending, declared: .unknown),
        // The tenant serves invoiceId order, but the sort parameter asks for lastUpdate: keyset paging.
        Case(served: .invoiceId, declared: .lastUpdate, sortParameter: "orderBy"),
    ]

    /// A poll handler of the rig's connection with the JAGGAER list settings changed.
    static func handler(
        _ rig: FlowRig, change: (inout Connection) -> Void
    ) throws -> PollInvoicesHandler {
        var connection = rig.connection
        change(&connection)
        let context = StepContext(
            store: rig.store, keys: try StateKeys(connection: connection.id), connection: connection,
            clock: rig.clock, logger: Logger(label: "test"), owner: "test-\(UUID().uuidString.prefix(6))"
        )
        let runtime = try ConnectionRuntime(
            context: context, vault: rig.vault, http: rig.http, counter: RequestCounter())
        return PollInvoicesHandler(context: context, source: try runtime.procurementSource())
    }

    /// Runs one poll event and its continuations; `between` runs after each page (its index) with the ids read.
    static func drain(
        _ handler: PollInvoicesHandler, _ rig: FlowRig, maxPages: Int = 200,
        between: (Int, [String]) async throws -> Void = { _, _ in }
    ) async throws -> (captured: [String], details: [[String: String]]) {
        var captured: [String] = []
        var details: [[String: String]] = []
        var next: CloudEvent? = try rig.event(EventType.pollRequested, data: PollRequest())
        var pages = 0
        while let current = next {
            pages += 1
            try #require(pages <= maxPages, "the poll never ended")
            let result = try await handler.handle(current, input: try current.decodeData(PollRequest.self))
            let ids = result.events.filter { $0.type == EventType.invoiceCaptured }.compactMap(\.recordid)
            captured += ids
            details.append(result.detail ?? [:])
            next = result.events.first { $0.type == EventType.pollContinue }
            if next != nil { try await between(pages, ids) }
        }
        return (captured, details)
    }

    @Test("invoices changing during a cycle are never missed", arguments: cases)
    func movingInvoices(_ scenario: Case) async throws {
        let rig = try await FlowRig.start(invoices: 45)
        do {
            rig.host.jaggaer.listOptions.order = scenario.served
            let handler = try Self.handler(rig) { connection in
                connection.jaggaer.listOrder = scenario.declared
                connection.jaggaer.sortParameter = scenario.sortParameter
                connection.jaggaer.sortValue = scenario.sortParameter.map { _ in "lastUpdate" }
            }
            let approved = Set(
                rig.tenant.expectations.filter { $0.value != .notApproved }.map { "jaggaer-invoice-\($0.key)" })
            let all = rig.tenant.expectations.keys.sorted()
            var touched: [Int] = []
            let (captured, details) = try await Self.drain(handler, rig) { page, ids in
                guard page <= 3 else { return }
                // One invoice this cycle already read and one it has not read yet change in JAGGAER: in a list
                // ordered by lastUpdate both move, and the rows after them shift.
                let read = ids.compactMap { Int($0.split(separator: "-").last ?? "") }
                if let done = read.first {
                    _ = rig.host.jaggaer.invoices.update(invoiceId: done) { _ in }
                    touched.append(done)
                }
                if let pending = all.reversed().first(where: { !touched.contains($0) && !read.contains($0) }) {
                    _ = rig.host.jaggaer.invoices.update(invoiceId: pending) { _ in }
                    touched.append(pending)
                }
            }
            let missing = approved.subtracting(captured)
            #expect(missing.isEmpty, "missed \(missing.sorted()); pages: \(details)")
            #expect(!touched.isEmpty)
            let keyset = scenario.declared == .lastUpdate
            #expect(details.allSatisfy { $0["paging"] == (keyset ? "keyset" : "offset") })
            if scenario.served != .invoiceId, !keyset {
                // Offset paging over a list that moves must have noticed the shift.
                #expect(details.contains { $0["restarted"] != nil }, "\(details)")
            }
            await rig.stop()
        } catch {
            await rig.stop()
            throw error
        }
    }

    @Test(
        "a list that ignores its paging parameters stops the poll with the setting named",
        arguments: [
            (JaggaerPagingFault.ignoreStart, ProcurementListOrder.unknown, "jaggaer.startParameter"),
            (.ignoreStartSilently, .unknown, "jaggaer.startParameter"),
            (.ignoreStartSilently, .invoiceId, "jaggaer.startParameter"),
            (.ignorePageSize, .unknown, "jaggaer.pageSizeParameter"),
            (.ignorePageSize, .lastUpdate, "jaggaer.pageSizeParameter"),
        ])
    func ignoredPaging(_ fault: JaggaerPagingFault, declared: ProcurementListOrder, setting: String) async throws {
        let rig = try await FlowRig.start(invoices: 45)
        do {
            rig.host.jaggaer.listOptions.pagingFault = fault
            if declared == .lastUpdate { rig.host.jaggaer.listOptions.order = .lastUpdate }
            let handler = try Self.handler(rig) { $0.jaggaer.listOrder = declared }
            do {
                let (captured, details) = try await Self.drain(handler, rig)
                Issue.record("the poll ended after capturing \(captured.count): \(details)")
            } catch let error as ConnectorError {
                #expect(error.kind == .configuration)
                #expect(error.exitCode == .config)
                #expect(error.message.contains(setting), "\(error.message)")
            }
            await rig.stop()
        } catch {
            await rig.stop()
            throw error
        }
    }

    @Test("keyset paging through more rows at one lastUpdate than a page holds, while one of them changes")
    func keysetTies() async throws {
        let rig = try await FlowRig.start(invoices: 35)
        do {
            rig.host.jaggaer.listOptions.order = .lastUpdate
            // Every invoice carries the same lastUpdate: a keyset on lastUpdate alone could not move past them.
            let stamp = "2026-01-05T10:00:00.000Z"
            for var invoice in rig.host.jaggaer.invoices.all {
                invoice.setHeader("lastUpdate", .string(stamp))
                try rig.host.jaggaer.invoices.upsert(invoice)
            }
            let handler = try Self.handler(rig) { $0.jaggaer.listOrder = .lastUpdate }
            let approved = Set(
                rig.tenant.expectations.filter { $0.value != .notApproved }.map { "jaggaer-invoice-\($0.key)" })
            let (captured, details) = try await Self.drain(handler, rig) { page, ids in
                if page == 1, let first = ids.first.flatMap({ Int($0.split(separator: "-").last ?? "") }) {
                    _ = rig.host.jaggaer.invoices.update(invoiceId: first) { _ in }
                }
            }
            #expect(approved.subtracting(captured).isEmpty, "\(details)")
            #expect(details.contains { Int($0["startAt"] ?? "1") ?? 1 > 1 }, "stepped over the ties by offset")
            await rig.stop()
        } catch {
            await rig.stop()
            throw error
        }
    }

    @Test("a list that shifts under every cycle stops the poll with a configuration error, not endless restarts")
    func endlessShift() async throws {
        let rig = try await FlowRig.start(invoices: 45)
        do {
            rig.host.jaggaer.listOptions.order = .lastUpdateDescending
            let handler = try Self.handler(rig) { $0.jaggaer.listOrder = .unknown }
            let ids = rig.tenant.expectations.keys.sorted()
            var turn = 0
            do {
                _ = try await Self.drain(handler, rig) { _, _ in
                    turn += 1
                    _ = rig.host.jaggaer.invoices.update(invoiceId: ids[turn % ids.count]) { _ in }
                }
                Issue.record("the poll must stop")
            } catch let error as ConnectorError {
                #expect(error.exitCode == .config)
                #expect(error.message.contains("jaggaer.listOrder"), "\(error.message)")
            }
            await rig.stop()
        } catch {
            await rig.stop()
            throw error
        }
    }

    @Test("a list that ignores the changed-since filter under keyset paging is a configuration error")
    func ignoredFilter() async throws {
        let rig = try await FlowRig.start(invoices: 25)
        do {
            rig.host.jaggaer.listOptions.order = .lastUpdate
            let handler = try Self.handler(rig) {
                $0.jaggaer.listOrder = .lastUpdate
                $0.jaggaer.updatedSinceParameter = "modifiedSince"
            }
            do {
                _ = try await Self.drain(handler, rig)
                Issue.record("the poll must stop")
            } catch let error as ConnectorError {
                #expect(error.exitCode == .config)
                #expect(error.message.contains("jaggaer.updatedSinceParameter"), "\(error.message)")
            }
            await rig.stop()
        } catch {
            await rig.stop()
            throw error
        }
    }

    @Test("the reconciliation sweep captures an invoice the poll missed and reports it")
    func reconciliation() async throws {
        let rig = try await FlowRig.start(invoices: 20)
        do {
            let handler = try Self.handler(rig) { $0.flow.reconcileLookbackDays = 3650 }
            let first = try await Self.drain(handler, rig)
            #expect(!first.captured.isEmpty)

            // An approved invoice appears with a lastUpdate older than the poll's window: a delta poll cannot see
            // it (as after a skipped row, or a change committed late).
            let template = try #require(
                rig.tenant.expectations.first { $0.value == .drafted }.flatMap {
                    rig.host.jaggaer.invoices.invoice(id: $0.key)
                })
            let stamps = rig.host.jaggaer.invoices.all.compactMap { $0["header"]?["lastUpdate"]?.stringValue }
            let oldest = try #require(stamps.min())
            var missed = template
            missed.setHeader("invoiceId", .int(990_001))
            missed.setHeader("invoiceNumber", .string("MISSED-1"))
            missed.setHeader("supplierInvoiceNumber", .string("MISSED-1"))
            missed.setHeader("lastUpdate", .string(oldest))
            try rig.host.jaggaer.invoices.upsert(missed)

            let quiet = try await Self.drain(handler, rig)
            #expect(quiet.captured.isEmpty, "a delta poll does not see it")

            rig.clock.advance(by: 86_400 + 60)
            let due = try await Self.drain(handler, rig)
            #expect(due.captured.isEmpty)
            #expect(due.details.last?["nextCycle"] == "reconciliation sweep")
            let sweep = try await Self.drain(handler, rig)
            #expect(sweep.captured == ["jaggaer-invoice-990001"])
            #expect(sweep.details.last?["reconciled"] == "1 missed", "\(sweep.details)")
            #expect(sweep.details.allSatisfy { $0["sweep"] == "true" })

            let after = try await Self.drain(handler, rig)
            #expect(after.captured.isEmpty)
            #expect(after.details.allSatisfy { $0["sweep"] == nil })
            await rig.stop()
        } catch {
            await rig.stop()
            throw error
        }
    }
}
