import ConnectorCore
import ConnectorFlows
import Foundation
import Jaggaer
import Testing

@Suite("JAGGAER payloads decode as they are")
struct JaggaerDecodingTests {
    static func fixture(_ name: String) throws -> Data {
        let url = try #require(Bundle.module.url(forResource: "Fixtures/\(name)", withExtension: nil))
        return try Data(contentsOf: url)
    }

    @Test("the real invoice sample decodes and converts exactly")
    func sample() throws {
        let invoice = try JSONCoding.decode(JaggaerInvoice.self, from: try Self.fixture("invoice_sample.json"))
        #expect(invoice.header.invoiceId.value == "2526304")
        #expect(invoice.header.nonPOInvoice?.value == false)
        let converted = try JaggaerSource.convert(invoice)
        #expect(converted.recordId == "jaggaer-invoice-2526304")
        #expect(converted.supplierInvoiceNumber == "InvoiceTest125")
        #expect(converted.supplier.number == "279765")
        #expect(converted.supplier.name == "10x genomics, inc.")
        #expect(converted.currency == "USD")
        #expect(converted.total == Decimal(string: "1102.5"))
        #expect(converted.taxTotal == Decimal(string: "102.5"))
        #expect(converted.invoiceDate?.description == "2024-02-14")
        #expect(converted.dueDate?.description == "2024-03-15")
        #expect(converted.sourceUpdatedAt == Timestamp.parse("2024-02-14T19:58:56.973Z"))
        #expect(converted.workflowStatus == "Completed")
        #expect(converted.isPOInvoice)
        #expect(converted.kind == .invoice)
        #expect(converted.customFields["TaxCode"] == "T")
        #expect(converted.lines.count == 1)
        let line = try #require(converted.lines.first)
        #expect(line.lineNumber == 1)
        #expect(line.quantity == 1)
        #expect(line.unitPrice == 1000)
        #expect(line.taxable)
        #expect(line.taxAmount == Decimal(string: "102.5"))
        #expect(line.poNumber == "0000000049")
        #expect(line.poLineNumber == "1")
        #expect(line.unitOfMeasure == "EA")
        #expect(line.distributions == 1)
        #expect(line.segment("Account") == "100000")
        #expect(line.segment("Fund") == "14306")
        #expect(line.segment("FAUFundNumber") == "19900")
        #expect(line.segment("Future2") == nil, "empty segments are not values")
        #expect(converted.linesNetTotal + converted.taxTotal == converted.total)
    }

    @Test("string booleans, numbers as strings, unknown fields and odd shapes are accepted")
    func lenient() throws {
        let text = """
            {"header": {"invoiceId": "77", "nonPOInvoice": "TRUE", "taxCharge1": "1.10", "total": {"currency": "EUR", "value": "12.30"},
              "supplier": {"supplierNumber": 555}, "brandNewField": {"x": [1, 2]}},
             "lineList": {"invoiceLine": [{"lineNumber": "2", "quantity": "3", "unitPrice": {"currency": "EUR", "money": 3.4},
               "item": {"unitOfMeasure": "BOX"}, "taxable": false}]}}
            """
        let invoice = try JSONCoding.decode(JaggaerInvoice.self, from: Data(text.utf8))
        let converted = try JaggaerSource.convert(invoice)
        #expect(converted.supplier.number == "555")
        #expect(converted.total == Decimal(string: "12.3"))
        #expect(converted.taxTotal == Decimal(string: "1.1"))
        #expect(converted.lines[0].lineNumber == 2)
        #expect(converted.lines[0].unitPrice == Decimal(string: "3.4"))
        #expect(converted.lines[0].unitOfMeasure == "BOX")
        #expect(!converted.isPOInvoice)
    }

    @Test("a line without a price is an error, never a guess")
    func missingMoney() throws {
        let text = #"{"header": {"invoiceId": 1}, "lineList": {"invoiceLine": [{"quantity": 1}]}}"#
        let invoice = try JSONCoding.decode(JaggaerInvoice.self, from: Data(text.utf8))
        #expect(throws: ConnectorError.self) { try JaggaerSource.convert(invoice) }
    }

    @Test("a malformed list item does not sink the page")
    func listItems() throws {
        let text =
            #"{"returnCode": 0, "totRecords": 3, "returnedRecords": 3, "startAt": 1, "jiinvoiceList": {"jiinvoice": [{"header": {"invoiceId": 1}}, {"header": {"nope": true}}, {"header": {"invoiceId": "3", "lastUpdate": "2024-02-14T19:58:56.973Z"}}]}}"#
        let page = try JSONCoding.decode(JaggaerInvoiceListPage.self, from: Data(text.utf8))
        #expect(page.total == 3)
        #expect(page.returned == 3)
        let ids = page.items.compactMap { try? $0.get().invoiceId.value }
        #expect(ids == ["1", "3"])
        #expect(page.items.filter { if case .failure = $0 { true } else { false } }.count == 1)
    }

    @Test("wrong types are reported with their path, not their value")
    func wrongTypes() {
        let text = #"{"header": {"invoiceId": {"nested": "secret-looking-value"}}}"#
        do {
            _ = try JSONCoding.decode(JaggaerInvoice.self, from: Data(text.utf8))
            Issue.record("must fail")
        } catch let error as DecodingError {
            #expect(error.safeDescription.contains("header.invoiceId"))
            #expect(!error.safeDescription.contains("secret-looking-value"))
        } catch {
            Issue.record("unexpected \(error)")
        }
    }
}
