import BusinessCentral
import ConnectorCore
import ConnectorSimulators
import Foundation
import Testing

/// Business Central's purchase orders, batch lookups and posting: the real client against the simulator on
/// loopback (issue 9: PO matching, controlled posting, the request budget).
@Suite("Business Central: purchase orders, batch lookup and posting against the simulator")
struct BusinessCentralPostingTests {
    func connector(_ rig: ClientRig) -> BusinessCentralConnector {
        BusinessCentralConnector(
            client: rig.businessCentral(),
            settings: BusinessCentralSettings(
                tenantId: rig.tenant.credentials.entraTenantId,
                environment: rig.tenant.credentials.businessCentralEnvironment, clientId: "c",
                clientSecret: .sealed("s"), companyId: rig.companyId),
            store: rig.store, keys: rig.keys)
    }

    @Test("purchase orders are read by number with their vendor; an unknown number is simply absent")
    func purchaseOrders() async throws {
        let rig = try await ClientRig.start(invoices: 60)
        do {
            let erp = connector(rig)
            let known = Array(rig.tenant.businessCentral.purchaseOrders.prefix(3))
            try #require(known.count == 3)
            let found = try await erp.purchaseOrders(numbers: known.map(\.number) + ["9999999999"])
            #expect(Set(found.map(\.sourceNumber)) == Set(known.map(\.number)))
            for order in known {
                #expect(found.first { $0.sourceNumber == order.number }?.vendorNumber == order.vendorNumber)
                #expect(found.first { $0.sourceNumber == order.number }?.open == true)
            }
            #expect(rig.host.businessCentral.counters.count("bc GET purchaseOrders") == 1, "one read for all numbers")
            await rig.stop()
        } catch {
            await rig.stop()
            throw error
        }
    }

    @Test("a batch lookup reads many natural keys and their POs in one $batch request, matching vendors exactly")
    func batchLookup() async throws {
        let rig = try await ClientRig.start(invoices: 60)
        do {
            let erp = connector(rig)
            let handKeyed = rig.tenant.businessCentral.purchaseInvoices
            try #require(handKeyed.count == 2)
            var keys = handKeyed.map {
                InvoiceNaturalKey(vendorNumber: $0.vendorNumber, vendorInvoiceNumber: $0.vendorInvoiceNumber)
            }
            // The same number for another vendor is not a match; hostile numbers match nothing.
            keys.append(
                InvoiceNaturalKey(vendorNumber: "V90002", vendorInvoiceNumber: handKeyed[0].vendorInvoiceNumber))
            for index in 0..<70 {
                keys.append(InvoiceNaturalKey(vendorNumber: "279765", vendorInvoiceNumber: "NEW-\(index)-x' or 1 eq 1"))
            }
            let orders = rig.tenant.businessCentral.purchaseOrders.prefix(5).map(\.number)
            let before = rig.host.businessCentral.counters.snapshot()
            let result = try await erp.lookUp(keys: keys, purchaseOrderNumbers: orders + ["0000000000"])
            let after = rig.host.businessCentral.counters.snapshot()
            let requests =
                after.filter { $0.key.hasPrefix("bc ") }.reduce(0) { $0 + $1.value }
                - before.filter { $0.key.hasPrefix("bc ") }.reduce(0) { $0 + $1.value }
            #expect(requests == 1, "one HTTP request to BC: \(after)")
            #expect((after["bc POST $batch"] ?? 0) - (before["bc POST $batch"] ?? 0) == 1)
            #expect((after["bc-batch GET purchaseInvoices"] ?? 0) >= 2, "70+ keys need more than one filtered read")
            #expect(result.invoices.count == keys.count, "every key is answered")
            for (index, invoice) in handKeyed.enumerated() {
                #expect(result.invoices[keys[index]]?.map(\.id) == [invoice.id])
            }
            #expect(result.invoices[keys[2]] == [], "another vendor's number is not this key's document")
            #expect(keys.dropFirst(3).allSatisfy { result.invoices[$0] == [] })
            #expect(Set(result.orders.map(\.sourceNumber)) == Set(orders))
            await rig.stop()
        } catch {
            await rig.stop()
            throw error
        }
    }

    @Test("posting turns the draft into an Open invoice once; a second post is refused as BC refuses it")
    func post() async throws {
        let rig = try await ClientRig.start()
        do {
            let erp = connector(rig)
            let vendor = try #require(
                rig.tenant.businessCentral.vendors.first { $0.blocked.trimmingCharacters(in: .whitespaces).isEmpty })
            let invoice = MappedInvoice(
                recordId: "jaggaer-invoice-77", source: "jaggaer", sourceId: "77", sourceUpdatedAt: nil,
                vendorNumber: vendor.number, vendorInvoiceNumber: "POST-1",
                invoiceDate: LocalDate(year: 2026, month: 11, day: 2)!,
                dueDate: nil, postingDate: nil, currencyCode: nil, sourceCurrency: nil, headerDimensions: [],
                lines: [
                    MappedLine(
                        kind: .item, sourceLineNumber: 1, description: "Toner", glAccount: "60100", quantity: 2,
                        unitCost: 10, taxCode: nil, dimensions: [], poNumber: "0000000121", poLineNumber: "1")
                ],
                expectedTotal: 20, poNumbers: ["0000000121"])
            let draft = try await erp.createDraftInvoice(invoice)
            #expect(draft.status == "Draft")
            // The JAGGAER PO reference travels on the draft as a comment line.
            let lines = try await rig.businessCentral().purchaseInvoiceLines(
                companyId: rig.companyId, invoiceId: draft.id)
            #expect(lines.contains { $0.lineType == "Comment" && $0.description == "JAGGAER PO 0000000121" })
            #expect(try await erp.documentState(draft) == .draft)

            let posted = try await erp.postDraft(draft)
            #expect(posted.id == draft.id, "the id survives posting")
            #expect(posted.status == "Open")
            #expect(posted.number != draft.number, "posting renumbers the invoice")
            #expect(try await erp.documentState(draft) == .posted)
            #expect(rig.host.businessCentral.counters.count("bc POST purchaseInvoices({id})/Microsoft.NAV.post") == 1)

            await #expect(throws: ConnectorError.self) { _ = try await erp.postDraft(draft) }
            let missing = ERPDocumentRef(
                system: "businessCentral", id: "00000000-0000-0000-0000-0000000000aa", number: nil, status: nil)
            #expect(try await erp.documentState(missing) == nil)
            await rig.stop()
        } catch {
            await rig.stop()
            throw error
        }
    }
}
