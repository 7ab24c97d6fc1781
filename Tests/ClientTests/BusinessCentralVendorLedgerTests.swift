import BusinessCentral
import ConnectorCore
import ConnectorSimulators
import ConnectorTesting
import Foundation
import Testing

/// Partial payments through the Analytics API's vendor ledger entries, against the simulator.
@Suite("Business Central: payment status from the Analytics vendor ledger", .serialized, .timeLimit(.minutes(5)))
struct BusinessCentralVendorLedgerTests {
    func connector(_ rig: ClientRig, analytics: Bool) -> BusinessCentralConnector {
        BusinessCentralConnector(
            client: rig.businessCentral(),
            settings: BusinessCentralSettings(
                tenantId: rig.tenant.credentials.entraTenantId, environment: "x", clientId: "c",
                clientSecret: .sealed("s"), companyId: rig.companyId, analyticsVendorLedgerEntries: analytics),
            store: rig.store, keys: rig.keys)
    }

    func document(vendor: String, number: String) -> MappedInvoice {
        MappedInvoice(
            recordId: "jaggaer-invoice-\(number)", source: "jaggaer", sourceId: number, sourceUpdatedAt: nil,
            vendorNumber: vendor, vendorInvoiceNumber: number, invoiceDate: LocalDate(year: 2026, month: 11, day: 3)!,
            dueDate: nil, postingDate: nil, currencyCode: nil, sourceCurrency: "USD", headerDimensions: [],
            lines: [
                MappedLine(
                    kind: .item, sourceLineNumber: 1, description: "Toner", glAccount: "60100", quantity: 4,
                    unitCost: 25, taxCode: nil, dimensions: [], poNumber: nil, poLineNumber: nil)
            ],
            expectedTotal: 100, poNumbers: [])
    }

    func status(_ page: ChangePage<ERPPaymentStatus>, _ id: String) -> ERPPaymentStatus? {
        page.items.last { $0.document.id.lowercased() == id.lowercased() }
    }

    @Test("a partial payment is reported partly paid with its share, then paid; without the ledger it is not seen")
    func partialPayments() async throws {
        let rig = try await ClientRig.start()
        do {
            let vendor = try #require(
                rig.tenant.businessCentral.vendors.first { $0.blocked.trimmingCharacters(in: .whitespaces).isEmpty })
            let erp = connector(rig, analytics: true)
            let plain = connector(rig, analytics: false)
            let id = try await erp.createDraftInvoice(document(vendor: vendor.number, number: "VLE-1")).id
            let sim = rig.host.businessCentral.store
            try sim.postPurchaseInvoice(companyId: rig.companyId, id: id)
            var total: Decimal = 0
            sim.modifyCompany(id: rig.companyId) { company in
                total = company.purchaseInvoices.first { $0.id == id.lowercased() }?.totalAmountIncludingTax ?? 0
            }
            #expect(total > 0)

            let first = try await erp.paymentStatuses(after: nil, pageSize: 500)
            #expect(status(first, id)?.state == .unpaid)
            let plainFirst = try await plain.paymentStatuses(after: nil, pageSize: 500)
            #expect(first.next?.value.contains("|ledger=") == true, "the cursor keeps the ledger's posting date")

            let part = total / 4
            _ = try sim.markPaid(companyId: rig.companyId, id: id, amount: part)
            let second = try await erp.paymentStatuses(after: first.next, pageSize: 500)
            let partly = try #require(status(second, id), "the ledger row of the payment brings the invoice back")
            #expect(partly.state == .partiallyPaid)
            #expect(partly.paidAmount == part && partly.amount == total)
            #expect(partly.vendorNumber == vendor.number && partly.vendorInvoiceNumber == "VLE-1")
            let plainSecond = try await plain.paymentStatuses(after: plainFirst.next, pageSize: 500)
            // The invoice itself did not change: without the ledger the payment is not seen (the invoice may be
            // read again when its stamp is finer than the cursor's milliseconds, still as unpaid).
            #expect(status(plainSecond, id).map { $0.state == .unpaid && $0.paidAmount == 0 } ?? true)

            _ = try sim.markPaid(companyId: rig.companyId, id: id)
            let third = try await erp.paymentStatuses(after: second.next, pageSize: 500)
            let paid = try #require(status(third, id))
            #expect(paid.state == .paid && paid.paidAmount == total)
            let plainThird = try await plain.paymentStatuses(after: plainSecond.next, pageSize: 500)
            #expect(status(plainThird, id)?.state == .paid, "Paid status is seen either way")
            await rig.stop()
        } catch {
            await rig.stop()
            throw error
        }
    }

    @Test(
        "ping checks the Analytics API when the ledger is on; a tenant without it is named with the setting to change")
    func fitCheckAndMissingAPI() async throws {
        let rig = try await ClientRig.start()
        do {
            let on = connector(rig, analytics: true)
            let checks = await on.fitChecks()
            let ledger = try #require(checks.first { $0.check.contains("vendor ledger entries") })
            #expect(ledger.outcome == .pass)
            #expect(await connector(rig, analytics: false).fitChecks().allSatisfy { !$0.check.contains("ledger") })

            rig.host.businessCentral.faults.add(
                FaultRule(
                    kind: .status, system: "bc", method: "GET", endpoint: "analytics:vendorLedgerEntries", count: 1,
                    status: 404))
            do {
                _ = try await on.paymentStatuses(after: nil, pageSize: 500)
                Issue.record("a 404 from the Analytics API must fail the read")
            } catch let error as ConnectorError {
                #expect(error.code == .connectionInvalid)
                #expect(error.message.contains("analyticsVendorLedgerEntries"))
            }
            await rig.stop()
        } catch {
            await rig.stop()
            throw error
        }
    }

    @Test("ledger states: the amount is the initial entry, what remains sums every detail, a detail counts once")
    func ledgerState() {
        func row(_ vle: Int, _ dvle: Int, _ amount: Decimal, initial: Bool, open: Bool = true, doc: String = "109001")
            -> BCVendorLedgerRow
        {
            BCVendorLedgerRow(
                vleEntryNo: vle, vleOpen: open, vleClosedAtDate: nil, dvleEntryNo: dvle, dvlePostingDate: "2026-11-03",
                dvleLedgerEntryAmount: initial, dvleAmountLCY: amount, dvleVendorNo: "V1", purchInvHeaderDocumentNo: doc
            )
        }
        let states = BCInvoiceLedgerState.from([
            row(1, 1, -120, initial: true), row(1, 2, 20, initial: false), row(1, 2, 20, initial: false),
            row(2, 3, -50, initial: true, open: false, doc: "109002"),
            row(2, 4, 50, initial: false, open: false, doc: "109002"),
            row(3, 5, -10, initial: true, doc: ""),
        ])
        #expect(
            states["109001"]
                == BCInvoiceLedgerState(documentNumber: "109001", amountLCY: 120, remainingLCY: 100, open: true))
        #expect(states["109001"]?.paidLCY == 20)
        #expect(states["109002"]?.open == false && states["109002"]?.paidLCY == 50)
        #expect(states.count == 2, "rows of no invoice are left out")
    }
}
