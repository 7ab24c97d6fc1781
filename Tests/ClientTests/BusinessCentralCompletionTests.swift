import BusinessCentral
import ConnectorCore
import ConnectorFlows
import ConnectorSimulators
import ConnectorTesting
import Foundation
import Logging
import Testing

/// Business Central's remaining issue-9 pieces against the simulator: vendor payment terms, the PO matching switch,
/// credit memos in the batch lookup, and payment status for cancelled invoices.
@Suite(
    "Business Central: payment terms, PO matching switch, credit memos in batches", .serialized,
    .timeLimit(.minutes(5)))
struct BusinessCentralCompletionTests {
    func settings(_ rig: ClientRig, creditMemos: Bool = false, matching: Bool = true) -> BusinessCentralSettings {
        BusinessCentralSettings(
            tenantId: rig.tenant.credentials.entraTenantId, environment: "x", clientId: "c",
            clientSecret: .sealed("s"), companyId: rig.companyId, purchaseCreditMemos: creditMemos,
            purchaseOrderMatching: matching)
    }

    func connector(_ rig: ClientRig, creditMemos: Bool = false, matching: Bool = true) -> BusinessCentralConnector {
        BusinessCentralConnector(
            client: rig.businessCentral(), settings: settings(rig, creditMemos: creditMemos, matching: matching),
            store: rig.store, keys: rig.keys)
    }

    func openVendor(_ rig: ClientRig) throws -> ConnectorSimulators.BCVendor {
        try #require(
            rig.tenant.businessCentral.vendors.first { $0.blocked.trimmingCharacters(in: .whitespaces).isEmpty })
    }

    func document(vendor: String, number: String, po: String? = nil, kind: MappedInvoice.DocumentKind = .invoice)
        -> MappedInvoice
    {
        MappedInvoice(
            recordId: "jaggaer-invoice-\(number)", source: "jaggaer", sourceId: number, sourceUpdatedAt: nil,
            vendorNumber: vendor, vendorInvoiceNumber: number, invoiceDate: LocalDate(year: 2026, month: 11, day: 3)!,
            dueDate: nil, postingDate: nil, currencyCode: nil, sourceCurrency: "USD", headerDimensions: [],
            lines: [
                MappedLine(
                    kind: .item, sourceLineNumber: 1, description: "Toner", glAccount: "60100", quantity: 2,
                    unitCost: Decimal(string: "12.50")!, taxCode: nil, dimensions: [], poNumber: po,
                    poLineNumber: po == nil ? nil : "1")
            ],
            expectedTotal: 25, poNumbers: po.map { [$0] } ?? [], kind: kind)
    }

    // MARK: Payment terms

    @Test("vendors carry their payment terms code, read from paymentTerms once per connector instance")
    func paymentTerms() async throws {
        let rig = try await ClientRig.start()
        do {
            let data = rig.tenant.businessCentral
            let codes = Dictionary(uniqueKeysWithValues: data.paymentTerms.map { ($0.id, $0.code) })
            let erp = connector(rig)
            let vendors = try await erp.vendors(after: nil, pageSize: 500).items
            #expect(vendors.count == data.vendors.count)
            for source in data.vendors {
                let vendor = try #require(vendors.first { $0.number == source.number })
                #expect(vendor.paymentTermsCode == codes[source.paymentTermsId], "vendor \(source.number)")
            }
            #expect(Set(vendors.compactMap(\.paymentTermsCode)) == ["30 DAYS", "1M(8D)"])
            #expect(vendors.contains { $0.paymentTermsCode == nil }, "vendors without terms (all-zero id) get none")
            #expect(rig.host.businessCentral.counters.count("bc GET paymentTerms") == 1)
            _ = try await erp.vendors(after: nil, pageSize: 500)
            #expect(rig.host.businessCentral.counters.count("bc GET paymentTerms") == 1, "kept in the instance")
            _ = try await connector(rig).vendors(after: nil, pageSize: 500)
            #expect(rig.host.businessCentral.counters.count("bc GET paymentTerms") == 2, "a new instance reads again")
            await rig.stop()
        } catch {
            await rig.stop()
            throw error
        }
    }

    @Test("no paymentTerms read when no changed vendor has terms; a term deleted since gives no code")
    func paymentTermsEdges() async throws {
        let rig = try await ClientRig.start()
        do {
            let data = rig.tenant.businessCentral
            let withTerms = try #require(
                data.vendors.first { $0.paymentTermsId != "00000000-0000-0000-0000-000000000000" })
            // Only the vendors changed after the cursor are read: none has terms, so no paymentTerms read.
            let later = Date(timeIntervalSince1970: 1_900_000_000)
            rig.host.businessCentral.store.modifyCompany(id: rig.companyId) { company in
                for index in company.vendors.indices where company.vendors[index].paymentTermsId.hasPrefix("0000") {
                    company.vendors[index].lastModified = later
                }
                company.paymentTerms.removeAll { $0.id == withTerms.paymentTermsId }
            }
            let erp = connector(rig)
            let cursor = ChangeCursor(Timestamp.format(later.addingTimeInterval(-1)))
            let changed = try await erp.vendors(after: cursor, pageSize: 500).items
            #expect(!changed.isEmpty && changed.allSatisfy { $0.paymentTermsCode == nil })
            #expect(rig.host.businessCentral.counters.count("bc GET paymentTerms") == 0)
            let all = try await erp.vendors(after: nil, pageSize: 500).items
            #expect(all.first { $0.number == withTerms.number }?.paymentTermsCode == nil)
            #expect(rig.host.businessCentral.counters.count("bc GET paymentTerms") == 1)
            await rig.stop()
        } catch {
            await rig.stop()
            throw error
        }
    }

    // MARK: PO matching switch

    @Test("erp.businessCentral.purchaseOrderMatching: on by default, decoded, and it sets matchesPurchaseOrders")
    func matchingSetting() throws {
        let on = try JSONDecoder().decode(
            BusinessCentralSettings.self,
            from: Data(
                #"{"tenantId":"t","environment":"e","clientId":"c","clientSecret":"s","companyId":"x"}"#.utf8))
        #expect(on.purchaseOrderMatching)
        let off = try JSONDecoder().decode(
            BusinessCentralSettings.self,
            from: Data(
                #"{"tenantId":"t","environment":"e","clientId":"c","clientSecret":"s","companyId":"x","purchaseOrderMatching":false}"#
                    .utf8))
        #expect(!off.purchaseOrderMatching)
        #expect(BusinessCentralModule.capabilities(on).matchesPurchaseOrders)
        #expect(!BusinessCentralModule.capabilities(off).matchesPurchaseOrders)
        #expect(BusinessCentralModule().capabilities.matchesPurchaseOrders, "the module's default")
    }

    func writeStep(_ rig: ClientRig, erp: BusinessCentralConnector, _ invoice: MappedInvoice) async throws
        -> StepResult
    {
        let connection = Connection(
            id: "rig",
            jaggaer: JaggaerSettings(baseURL: "https://x.jaggaer.com", clientId: "c", clientSecret: .sealed("s")),
            erp: ERPSettings(erp.settings), flow: FlowSettings(ambiguousWriteSettleSeconds: 120))
        let context = StepContext(
            store: rig.store, keys: rig.keys, connection: connection, clock: SystemWallClock(),
            logger: Logger(label: "test"), owner: "a")
        let event = CloudEvent(
            source: "urn:test", type: EventType.invoiceMapped, data: try JSONValue(encoding: invoice),
            connection: "rig", recordid: invoice.recordId)
        return try await WriteInvoiceHandler(context: context, erp: erp).handle(event, input: invoice)
    }

    @Test("a PO unknown in BC sends the invoice to review with matching on, and is written with matching off")
    func matchingBothWays() async throws {
        let rig = try await ClientRig.start()
        do {
            let vendor = try openVendor(rig)
            let on = try await writeStep(
                rig, erp: connector(rig, matching: true),
                document(vendor: vendor.number, number: "PO-ON-1", po: "NOPE-1"))
            #expect(on.status == .needsReview)
            #expect(on.review?.reasons.map(\.code) == ["po.unknown"])
            let before = rig.host.businessCentral.counters.snapshot()
            let off = try await writeStep(
                rig, erp: connector(rig, matching: false),
                document(vendor: vendor.number, number: "PO-OFF-1", po: "NOPE-1"))
            #expect(off.status == .ok)
            let drafts = rig.host.businessCentral.store.allPurchaseInvoices.filter {
                $0.invoice.vendorInvoiceNumber == "PO-OFF-1"
            }
            #expect(drafts.count == 1)
            let after = rig.host.businessCentral.counters.snapshot()
            let orderReads =
                after.filter { $0.key.contains("purchaseOrders") }.map(\.value).reduce(0, +)
                - before.filter { $0.key.contains("purchaseOrders") }.map(\.value).reduce(0, +)
            #expect(orderReads == 0, "matching off reads no purchase orders")
            await rig.stop()
        } catch {
            await rig.stop()
            throw error
        }
    }

    // MARK: Credit memos in the batch lookups

    @Test("with purchase credit memos on, both batch lookups find a hand-keyed credit memo; off, neither reads them")
    func creditMemoInBatch() async throws {
        let rig = try await ClientRig.start()
        do {
            let vendor = try openVendor(rig)
            // Keyed by a clerk in BC (through the API, as the simulator's only door).
            let memo = try await rig.businessCentral().createPurchaseCreditMemo(
                companyId: rig.companyId,
                BusinessCentralConnector.creditMemo(
                    for: document(vendor: vendor.number, number: "CM-HAND-1", kind: .creditMemo)))
            let key = InvoiceNaturalKey(vendorNumber: vendor.number, vendorInvoiceNumber: "CM-HAND-1")
            let other = InvoiceNaturalKey(vendorNumber: vendor.number, vendorInvoiceNumber: "INV-NEW-1")

            let on = connector(rig, creditMemos: true)
            #expect(on.capabilities.creditMemos && on.constraints.supportsCreditMemos)
            let read = try await on.lookUp(keys: [key, other], purchaseOrderNumbers: [])
            #expect(read.invoices[key]?.map(\.id) == [memo.id])
            #expect(read.invoices[other]?.isEmpty == true)
            #expect(rig.host.businessCentral.counters.count("bc-batch GET purchaseCreditMemos") == 1)
            let filtered = try await on.findInvoices(keys: [key, other])
            #expect(filtered[key]?.map(\.id) == [memo.id])
            #expect(filtered[other]?.isEmpty == true)

            let off = connector(rig, creditMemos: false)
            #expect(!off.capabilities.creditMemos && !off.constraints.supportsCreditMemos)
            let before = rig.host.businessCentral.counters.snapshot()
            let plain = try await off.lookUp(keys: [key], purchaseOrderNumbers: [])
            #expect(plain.invoices[key]?.isEmpty == true)
            _ = try await off.findInvoices(keys: [key])
            let after = rig.host.businessCentral.counters.snapshot()
            #expect(
                after.filter { $0.key.contains("purchaseCreditMemos") }
                    == before.filter {
                        $0.key.contains("purchaseCreditMemos")
                    }, "off: no credit memo reads")
            await rig.stop()
        } catch {
            await rig.stop()
            throw error
        }
    }

    // MARK: Payment status

    @Test("Canceled and Corrective purchase invoices are never reported as paid; Paid is")
    func cancelledNotPaid() async throws {
        let rig = try await ClientRig.start()
        do {
            let vendor = try openVendor(rig)
            let erp = connector(rig)
            var ids: [String: String] = [:]
            for status in ["Canceled", "Corrective", "Paid"] {
                ids[status] = try await erp.createDraftInvoice(document(vendor: vendor.number, number: "ST-\(status)"))
                    .id
            }
            rig.host.businessCentral.store.modifyCompany(id: rig.companyId) { company in
                for (status, id) in ids {
                    guard let index = company.purchaseInvoices.firstIndex(where: { $0.id == id.lowercased() }) else {
                        continue
                    }
                    company.purchaseInvoices[index].status = status
                    company.purchaseInvoices[index].lastModified = Date()
                }
            }
            let page = try await erp.paymentStatuses(after: nil, pageSize: 500)
            let reported = Dictionary(page.items.map { ($0.document.id, $0.state) }, uniquingKeysWith: { a, _ in a })
            #expect(reported[try #require(ids["Paid"])] == .paid)
            #expect(reported[try #require(ids["Canceled"])] == nil)
            #expect(reported[try #require(ids["Corrective"])] == nil)
            #expect(page.items.allSatisfy { $0.state != .paid || $0.document.status == "Paid" })
            #expect(page.next != nil, "the cursor still moves past them")
            await rig.stop()
        } catch {
            await rig.stop()
            throw error
        }
    }
}
