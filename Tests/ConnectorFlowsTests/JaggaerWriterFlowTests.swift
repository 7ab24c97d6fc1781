import BusinessCentral
import ConnectorCore
import ConnectorFlows
import ConnectorHTTP
import ConnectorRuntime
import ConnectorSimulators
import ConnectorTesting
import Foundation
import Logging
import Testing

/// Master data and payment status into JAGGAER through the real wiring (ConnectionRuntime's writer) against the
/// simulated JAGGAER and Business Central on loopback.
@Suite("Writing to JAGGAER from the sync steps", .serialized, .timeLimit(.minutes(5)))
struct JaggaerWriterFlowTests {
    static func syncEvent(_ rig: FlowRig, full: Bool? = nil) throws -> CloudEvent {
        try rig.event(EventType.masterDataSyncRequested, data: MasterDataSyncRequest(full: full, resend: full))
    }

    static func vendors(_ rig: FlowRig) throws -> SyncVendorsHandler {
        let runtime = try rig.runtime()
        return SyncVendorsHandler(
            context: runtime.context, erp: try runtime.erpConnector(), sink: try runtime.procurementSink())
    }

    static func accounts(_ rig: FlowRig) throws -> SyncAccountsHandler {
        let runtime = try rig.runtime()
        return SyncAccountsHandler(
            context: runtime.context, erp: try runtime.erpConnector(), sink: try runtime.procurementSink())
    }

    static func supplierPuts(_ rig: FlowRig) -> Int { rig.host.counters["jaggaer PUT suppliers/{number}", default: 0] }

    @Test("vendors become suppliers; a replay sends nothing; a change sends only it; a removed vendor turns inactive")
    func suppliers() async throws {
        let rig = try await FlowRig.start(invoices: 3)
        do {
            let writes = rig.host.jaggaer.writes
            let count = rig.tenant.businessCentral.vendors.count
            let first = try await Self.vendors(rig).handle(try Self.syncEvent(rig), input: .init())
            #expect(first.detail?["pushedTo"] == "jaggaer")
            #expect(first.detail?["pushed"] == String(count))
            #expect(writes.supplierCount == count)
            #expect(Self.supplierPuts(rig) == count)
            let vendor = try #require(rig.tenant.businessCentral.vendors.first)
            let supplier = try #require(writes.supplier(vendor.number))
            #expect(supplier["name"]?.stringValue == vendor.displayName)
            #expect(supplier["active"]?.boolValue == (vendor.blocked != "All"))

            // Replays, a delta and the daily full sync: nothing is sent again.
            let quiet = try await Self.vendors(rig).handle(try Self.syncEvent(rig), input: .init())
            #expect(quiet.detail?["pushed"] == "0")
            rig.clock.advance(by: 25 * 3600)
            let daily = try await Self.vendors(rig).handle(try Self.syncEvent(rig), input: .init())
            #expect(daily.detail?["mode"] == "full")
            #expect(daily.detail?["pushed"] == "0")
            #expect(daily.detail?["unchanged"] == String(count))
            #expect(Self.supplierPuts(rig) == count)
            // A full sync someone asks for sends everything again; JAGGAER's upserts change nothing.
            let full = try await Self.vendors(rig).handle(
                try Self.syncEvent(rig, full: true), input: .init(full: true, resend: true))
            #expect(full.detail?["pushed"] == String(count))
            #expect(Self.supplierPuts(rig) == 2 * count)
            #expect(writes.changes == count)

            // One renamed vendor: only it is sent.
            rig.host.businessCentral.store.modifyCompany(id: rig.tenant.credentials.companyId) { company in
                company.vendors[0].displayName = "Renamed Supplies Ltd"
                company.vendors[0].lastModified = Date().addingTimeInterval(3600)
            }
            let delta = try await Self.vendors(rig).handle(try Self.syncEvent(rig), input: .init())
            #expect(delta.detail?["pushed"] == "1")
            #expect(writes.supplier(vendor.number)?["name"]?.stringValue == "Renamed Supplies Ltd")
            #expect(Self.supplierPuts(rig) == 2 * count + 1)

            // A vendor removed from the ERP stays in JAGGAER, inactive, after the next full sync.
            let removed = try #require(rig.tenant.businessCentral.vendors.last)
            _ = try rig.host.businessCentral.store.deleteVendor(
                companyId: rig.tenant.credentials.companyId, number: removed.number)
            rig.clock.advance(by: 25 * 3600)
            let after = try await Self.vendors(rig).handle(try Self.syncEvent(rig), input: .init())
            #expect(after.detail?["mode"] == "full")
            #expect(after.detail?["pushed"] == "1", "\(after.detail ?? [:])")
            #expect(writes.supplier(removed.number)?["active"]?.boolValue == false)
            #expect(writes.supplierCount == count)
            await rig.stop()
        } catch {
            await rig.stop()
            throw error
        }
    }

    @Test("a failed push fails the step and keeps the cursor; the next run pushes what was missed")
    func failedPushKeepsCursor() async throws {
        let rig = try await FlowRig.start(invoices: 3)
        do {
            let keys = try StateKeys(connection: rig.connection.id)
            let masterData = MasterData(store: rig.store, keys: keys)
            _ = try await Self.vendors(rig).handle(try Self.syncEvent(rig), input: .init())
            let before = try #require(try await masterData.syncState("vendors"))

            let vendor = try #require(rig.tenant.businessCentral.vendors.first)
            rig.host.businessCentral.store.modifyCompany(id: rig.tenant.credentials.companyId) { company in
                company.vendors[0].displayName = "Changed While JAGGAER Is Down"
                company.vendors[0].lastModified = Date().addingTimeInterval(7200)
            }
            // JAGGAER refuses the write (a 400 is not retried).
            rig.host.jaggaer.faults.add(.status(400, system: "jaggaer", method: "PUT", count: 10))
            await #expect(throws: ConnectorError.self) {
                _ = try await Self.vendors(rig).handle(try Self.syncEvent(rig), input: .init())
            }
            let stuck = try #require(try await masterData.syncState("vendors"))
            #expect(stuck.cursor == before.cursor)
            #expect(try await masterData.syncFailure("vendors") != nil)
            #expect(try await masterData.vendors.get(vendor.number)?.name != "Changed While JAGGAER Is Down")

            rig.host.jaggaer.faults.clear()
            let retried = try await Self.vendors(rig).handle(try Self.syncEvent(rig), input: .init())
            #expect(retried.detail?["pushed"] == "1")
            #expect(
                rig.host.jaggaer.writes.supplier(vendor.number)?["name"]?.stringValue == "Changed While JAGGAER Is Down"
            )
            #expect(try await masterData.syncState("vendors")?.cursor != before.cursor)
            await rig.stop()
        } catch {
            await rig.stop()
            throw error
        }
    }

    @Test("posting accounts and dimension values become coding values; blocked accounts inactive; replay sends nothing")
    func coding() async throws {
        let rig = try await FlowRig.start(invoices: 3)
        do {
            let writes = rig.host.jaggaer.writes
            let first = try await Self.accounts(rig).handle(try Self.syncEvent(rig), input: .init())
            let pushed = Int(first.detail?["pushed"] ?? "") ?? 0
            #expect(pushed > 0)
            #expect(writes.codingValueCount == pushed)
            let accounts = rig.tenant.businessCentral.accounts
            for account in accounts {
                let value = writes.codingValue(segment: "Account", code: account.number)
                if account.accountType != "Posting" || !account.directPosting {
                    #expect(value == nil, "\(account.number) is not a posting account")
                } else if account.blocked {
                    #expect(value == nil, "\(account.number) is blocked and was never pushed")
                } else {
                    #expect(value?["active"]?.boolValue == true, "\(account.number)")
                }
            }
            // Dimension values land under the segment the mapping ties to their dimension.
            let fund = try #require(rig.tenant.businessCentral.dimensions.first { $0.code == "FUND" })
            let value = try #require(rig.tenant.businessCentral.dimensionValues.first { $0.dimensionId == fund.id })
            #expect(writes.codingValue(segment: "Fund", code: value.code)?["active"]?.boolValue == true)

            let again = try await Self.accounts(rig).handle(try Self.syncEvent(rig), input: .init())
            #expect(again.detail?["pushed"] == "0")

            // An account blocked in the ERP turns inactive in JAGGAER.
            let posting = try #require(
                accounts.first { $0.accountType == "Posting" && $0.directPosting && !$0.blocked })
            rig.host.businessCentral.store.modifyCompany(id: rig.tenant.credentials.companyId) { company in
                if let index = company.accounts.firstIndex(where: { $0.number == posting.number }) {
                    company.accounts[index].blocked = true
                    company.accounts[index].lastModified = Date().addingTimeInterval(3600)
                }
            }
            let blocked = try await Self.accounts(rig).handle(try Self.syncEvent(rig), input: .init())
            #expect(blocked.detail?["pushed"] == "1")
            #expect(writes.codingValue(segment: "Account", code: posting.number)?["active"]?.boolValue == false)
            await rig.stop()
        } catch {
            await rig.stop()
            throw error
        }
    }

    @Test(
        "a paid invoice shows as paid in JAGGAER; invoices the connector did not write are left alone; replay changes nothing"
    )
    func paymentStatus() async throws {
        let rig = try await FlowRig.start()
        do {
            let id = try #require(rig.drafted.first)
            let invoice = try await rig.mapped(id)
            let written = try await rig.write(invoice)
            #expect(written.status == .ok)
            let documentId = try #require(written.record?.document?.id)
            let companyId = rig.tenant.credentials.companyId

            let runtime = try rig.runtime()
            let handler = SyncPaymentStatusHandler(
                context: runtime.context, erp: try runtime.erpConnector(), sink: try runtime.procurementSink())
            let event = try rig.event(EventType.paymentStatusSyncRequested, data: PaymentStatusSyncRequest())

            // Nothing paid yet: nothing is sent.
            let none = try await handler.handle(event, input: .init())
            #expect(none.detail?["updated"] == "0")
            #expect(rig.host.jaggaer.writes.paymentStatus(invoiceId: id) == nil)

            // Paid in BC (the draft is posted, then paid; its id stays).
            let paid = try rig.host.businessCentral.store.markPaid(companyId: companyId, id: documentId)
            #expect(paid.status == "Paid")
            // And one invoice nobody wrote through the connector (the seed's posted one) is paid too.
            let foreign = rig.host.businessCentral.store.allPurchaseInvoices.first {
                $0.invoice.status == "Open" && $0.invoice.id != documentId
            }
            if let foreign {
                _ = try rig.host.businessCentral.store.markPaid(companyId: companyId, id: foreign.invoice.id)
            }

            let result = try await handler.handle(event, input: .init())
            #expect(result.detail?["updated"] == "1")
            #expect(result.detail?["notWrittenByConnector"] == (foreign == nil ? "0" : "1"))
            let status = try #require(rig.host.jaggaer.writes.paymentStatus(invoiceId: id))
            #expect(status["paymentStatus"]?.stringValue == "Paid")
            #expect(status["erpReference"]?.stringValue == paid.number)
            #expect(rig.host.jaggaer.invoices.invoice(id: id)?["header"]?["paymentStatus"]?.stringValue == "Paid")
            let puts = rig.host.counters["jaggaer PUT invoices/{id}/paymentstatus", default: 0]
            #expect(puts == 1)

            // From the start again: recognised, nothing sent.
            let replay = try await handler.handle(event, input: .init(fromStart: true))
            #expect(replay.detail?["updated"] == "0")
            #expect(replay.detail?["unchanged"] == "1")
            #expect(rig.host.counters["jaggaer PUT invoices/{id}/paymentstatus", default: 0] == puts)
            await rig.stop()
        } catch {
            await rig.stop()
            throw error
        }
    }

    @Test("with jaggaer.writer.enabled false the syncs only fill the mapping tables and payment status is skipped")
    func writerOff() async throws {
        let rig = try await FlowRig.start(invoices: 3)
        do {
            var connection = rig.connection
            connection.jaggaer.writer.enabled = false
            let context = StepContext(
                store: rig.store, keys: try StateKeys(connection: connection.id), connection: connection,
                clock: rig.clock, logger: .init(label: "test"), owner: "off")
            let runtime = try ConnectionRuntime(
                context: context, vault: rig.vault, http: rig.http, counter: RequestCounter())
            #expect(try runtime.procurementSink() == nil)
            let result = try await SyncPaymentStatusHandler(
                context: context, erp: try runtime.erpConnector(), sink: nil
            ).handle(
                try rig.event(EventType.paymentStatusSyncRequested, data: PaymentStatusSyncRequest()), input: .init())
            #expect(result.detail?["skipped"] != nil)
            #expect(rig.host.jaggaer.writes.changes == 0)
            await rig.stop()
        } catch {
            await rig.stop()
            throw error
        }
    }
}
