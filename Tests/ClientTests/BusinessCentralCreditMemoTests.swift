import BusinessCentral
import ConnectorCore
import ConnectorSimulators
import ConnectorTesting
import Foundation
import Testing

@Suite("Business Central purchase credit memos", .serialized, .timeLimit(.minutes(5)))
struct BusinessCentralCreditMemoTests {
    func connector(_ rig: ClientRig, creditMemos: Bool) -> BusinessCentralConnector {
        BusinessCentralConnector(
            client: rig.businessCentral(),
            settings: BusinessCentralSettings(
                tenantId: rig.tenant.credentials.entraTenantId, environment: "x", clientId: "c",
                clientSecret: .sealed("s"), companyId: rig.companyId, purchaseCreditMemos: creditMemos),
            store: rig.store, keys: rig.keys)
    }

    func memo(vendor: String, number: String) -> MappedInvoice {
        MappedInvoice(
            recordId: "jaggaer-invoice-77", source: "jaggaer", sourceId: "77", sourceUpdatedAt: nil,
            vendorNumber: vendor, vendorInvoiceNumber: number, invoiceDate: LocalDate(year: 2026, month: 11, day: 3)!,
            dueDate: nil, postingDate: nil, currencyCode: nil, sourceCurrency: "USD", headerDimensions: [],
            lines: [
                MappedLine(
                    kind: .item, sourceLineNumber: 1, description: "Returned toner", glAccount: "60100", quantity: 2,
                    unitCost: Decimal(string: "12.50")!, taxCode: nil, dimensions: [], poNumber: nil,
                    poLineNumber: nil)
            ],
            expectedTotal: 25, poNumbers: [], kind: .creditMemo)
    }

    @Test("a credit memo becomes a draft purchase credit memo with positive amounts, found again by its natural key")
    func creditMemoWritten() async throws {
        let rig = try await ClientRig.start()
        do {
            let vendor = try #require(
                rig.tenant.businessCentral.vendors.first { $0.blocked.trimmingCharacters(in: .whitespaces).isEmpty })
            let erp = connector(rig, creditMemos: true)
            #expect(try await erp.findInvoices(vendorNumber: vendor.number, vendorInvoiceNumber: "CM-'1'").isEmpty)
            let invoicesBefore = rig.host.businessCentral.store.allPurchaseInvoices.count
            let created = try await erp.createDraftInvoice(memo(vendor: vendor.number, number: "CM-'1'"))
            #expect(created.status == "Draft")
            let memos = rig.host.businessCentral.store.companies.flatMap(\.purchaseCreditMemos)
            let stored = try #require(memos.first { $0.id == created.id })
            #expect(stored.vendorCreditMemoNumber == "CM-'1'")
            #expect(stored.totalAmountIncludingTax == 25)
            #expect(stored.document.lines.first?.unitCost == Decimal(string: "12.50"))
            #expect(rig.host.businessCentral.store.allPurchaseInvoices.count == invoicesBefore, "never an invoice")
            // Dedup holds: the natural-key lookup sees the credit memo.
            let found = try await erp.findInvoices(vendorNumber: vendor.number, vendorInvoiceNumber: "CM-'1'")
            #expect(found.map(\.id) == [created.id])
            await rig.stop()
        } catch {
            await rig.stop()
            throw error
        }
    }

    @Test("with purchase credit memos off, a credit memo is refused for review and nothing is written")
    func creditMemoOff() async throws {
        let rig = try await ClientRig.start()
        do {
            let vendor = try #require(rig.tenant.businessCentral.vendors.first)
            let erp = connector(rig, creditMemos: false)
            await #expect {
                _ = try await erp.createDraftInvoice(memo(vendor: vendor.number, number: "CM-2"))
            } throws: { error in
                (error as? ConnectorError)?.code == .creditMemoUnsupported
                    && (error as? ConnectorError)?.kind == .rejected
            }
            #expect(rig.host.businessCentral.store.companies.flatMap(\.purchaseCreditMemos).isEmpty)
            let settings = BusinessCentralSettings(
                tenantId: "t", environment: "e", clientId: "c", clientSecret: .sealed("s"), companyId: rig.companyId)
            #expect(!settings.purchaseCreditMemos, "off by default: older API builds lack vendorCreditMemoNumber")
            await rig.stop()
        } catch {
            await rig.stop()
            throw error
        }
    }

    @Test("the credit memo's own field names (creditMemoDate, vendorCreditMemoNumber) round-trip")
    func simulatorNames() async throws {
        let rig = try await ClientRig.start()
        do {
            let vendor = try #require(
                rig.tenant.businessCentral.vendors.first { $0.blocked.trimmingCharacters(in: .whitespaces).isEmpty })
            let client = rig.businessCentral()
            var body = BusinessCentralConnector.creditMemo(for: memo(vendor: vendor.number, number: "CM-3"))
            body.creditMemoDate = "2026-11-03"
            _ = try await client.createPurchaseCreditMemo(companyId: rig.companyId, body)
            let found = try await client.findPurchaseCreditMemos(
                companyId: rig.companyId, vendorNumber: vendor.number, vendorCreditMemoNumber: "CM-3")
            #expect(found.count == 1)
            #expect(found.first?.creditMemoDate == "2026-11-03")
            await rig.stop()
        } catch {
            await rig.stop()
            throw error
        }
    }
}
