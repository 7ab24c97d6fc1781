import ConnectorSimulators
import Foundation
import Testing

@Suite("Demo tenant credit memos")
struct DemoCreditMemoTests {
    @Test("credit memos are served as real tenants keep them: negative total, tax, charges and prices")
    func negative() throws {
        let tenant = DemoTenant.generate()
        let memos = tenant.jaggaerInvoices.filter { $0["header"]?["invoiceType"]?.stringValue == "Credit memo" }
        #expect(!memos.isEmpty)
        for memo in memos {
            let header = try #require(memo["header"])
            let total = try #require(header["total"]?["value"]?.decimalValue)
            #expect(total < 0)
            #expect(header["taxCharge1"]?.decimalValue ?? 0 <= 0)
            #expect(header["shippingCharge"]?.decimalValue ?? 0 <= 0)
            #expect(header["tax1HeaderChargeDetail"]?["currentTax"]?.decimalValue == header["taxCharge1"]?.decimalValue)
            for line in memo["lineList"]?["invoiceLine"]?.arrayValue ?? [] {
                #expect(line["unitPrice"]?.decimalValue ?? 0 < 0)
            }
        }
        let invoices = tenant.jaggaerInvoices.filter { $0["header"]?["invoiceType"]?.stringValue == "Invoice" }
        #expect(invoices.allSatisfy { ($0["header"]?["total"]?["value"]?.decimalValue ?? 0) > 0 })
    }
}
