import ConnectorCore
import Foundation
import Jaggaer
import Testing

/// Real tenants' payloads: numbers that do not parse exactly are bad input, dates keep the day as written, and the
/// fields real tenants leave out decode as absent.
@Suite("JAGGAER payloads as real tenants send them")
struct JaggaerStrictnessTests {
    static func invoice(header: String, lines: String = #"[{"lineNumber": 1, "quantity": 1, "unitPrice": 10}]"#)
        throws -> JaggaerInvoice
    {
        let text =
            #"{"header": {"invoiceId": 9, "#
            + header + #"}, "lineList": {"invoiceLine": "# + lines + "}}"
        return try JSONCoding.decode(JaggaerInvoice.self, from: Data(text.utf8))
    }

    @Test(
        "money that does not parse exactly is refused with the field named, never read as another number",
        arguments: [#""1,000.00""#, #""12 USD""#, #""1e3""#, #""$5.00""#, #""""#, #""1.""#, #"".5""#, #""--1""#])
    func inexactMoney(_ literal: String) throws {
        do {
            _ = try Self.invoice(header: #""total": {"currency": "USD", "value": "# + literal + "}")
            Issue.record("\(literal) must not decode")
        } catch let error as DecodingError {
            #expect(error.safeDescription.contains("total.value"), "\(error.safeDescription)")
            #expect(error.safeDescription.contains("not an exact decimal number"))
        }
    }

    @Test(
        "plain decimal strings and bare numbers keep their exact value",
        arguments: [
            (#""1000.00""#, "1000"), (#""-12.5""#, "-12.5"), (#"" 7 ""#, "7"), ("1102.5", "1102.5"), ("-3", "-3"),
        ])
    func exactMoney(_ literal: String, _ expected: String) throws {
        let invoice = try Self.invoice(header: #""total": {"currency": "USD", "value": "# + literal + "}")
        #expect(invoice.header.total?.value?.value == Decimal(string: expected))
    }

    @Test("a line quantity given as a grouped string is an error naming the line's field")
    func inexactQuantity() throws {
        do {
            _ = try Self.invoice(header: #""total": {"value": 10}"#, lines: #"[{"quantity": "1,5", "unitPrice": 1}]"#)
            Issue.record("1,5 must not decode")
        } catch let error as DecodingError {
            #expect(error.safeDescription.contains("quantity"))
        }
    }

    @Test("booleans other than true/false, yes/no, 0/1 are refused")
    func booleans() throws {
        #expect(try Self.invoice(header: #""nonPOInvoice": 1"#).header.nonPOInvoice?.value == true)
        #expect(try Self.invoice(header: #""nonPOInvoice": "false""#).header.nonPOInvoice?.value == false)
        #expect(throws: DecodingError.self) { try Self.invoice(header: #""nonPOInvoice": 2"#) }
        #expect(throws: DecodingError.self) { try Self.invoice(header: #""nonPOInvoice": "maybe""#) }
    }

    @Test("dates with an offset keep the day as written, not the UTC day")
    func offsetDates() throws {
        let invoice = try Self.invoice(
            header: #""invoiceDate": "2024-03-01T23:30:00-08:00", "dueDate": "2024-03-31T00:30:00+02:00", "#
                + #""accountingDate": "2024-02-14T00:00:00.000Z", "total": {"value": 10}"#)
        let converted = try JaggaerSource.convert(invoice)
        #expect(converted.invoiceDate?.description == "2024-03-01")
        #expect(converted.dueDate?.description == "2024-03-31")
        #expect(converted.accountingDate?.description == "2024-02-14")
        #expect(LocalDate(parsing: "2024-03-01T23:30:00-08:00")?.description == "2024-03-01")
        #expect(LocalDate(parsing: "2024-02-30T00:00:00Z") == nil)
        #expect(LocalDate(parsing: "2024-03-01 junk") == nil)
    }

    @Test("a date that is not a date is an error naming the field, not an invoice without a date")
    func badDate() throws {
        let invoice = try Self.invoice(header: #""dueDate": "2024-02-30T00:00:00Z", "total": {"value": 10}"#)
        #expect {
            try JaggaerSource.convert(invoice)
        } throws: { error in
            (error as? ConnectorError)?.message.contains("header.dueDate") == true
        }
    }

    @Test("total, supplier invoice number, business unit and DUNS can be absent; real statuses decode")
    func sparse() throws {
        let invoice = try Self.invoice(
            header: #""workflowStatus": "Pending", "paymentStatus": "InProcess", "supplier": {"id": 5}"#)
        let converted = try JaggaerSource.convert(invoice)
        #expect(converted.total == nil)
        #expect(converted.supplierInvoiceNumber == nil)
        #expect(converted.businessUnit == nil)
        #expect(converted.workflowStatus == "Pending")
        #expect(converted.paymentStatus == "InProcess")
        #expect(invoice.header.supplier?.duns == nil)
    }

    @Test("both tax figures are kept: the current one (taxCharge1) and the supplier's own")
    func taxFigures() throws {
        let invoice = try Self.invoice(
            header: #""taxCharge1": 102.5, "tax1HeaderChargeDetail": {"currentTax": 102.5, "supplierTax": "100.00", "#
                + #""engineTax": 0}, "total": {"value": 112.5}"#,
            lines: #"[{"quantity": 1, "unitPrice": 10, "taxCharge1": 102.5}]"#)
        let converted = try JaggaerSource.convert(invoice)
        #expect(converted.taxTotal == Decimal(string: "102.5"))
        #expect(converted.currentTax == Decimal(string: "102.5"))
        #expect(converted.supplierTax == 100)
        #expect(converted.lineTaxTotal == Decimal(string: "102.5"))
    }

    @Test("a credit memo keeps JAGGAER's negative amounts when converted")
    func negativeCreditMemo() throws {
        let invoice = try Self.invoice(
            header: #""invoiceType": "Credit Memo", "taxCharge1": -9.5, "shippingCharge": -5, "#
                + #""total": {"currency": "USD", "value": -114.5}"#,
            lines: #"[{"lineNumber": 1, "quantity": 1, "unitPrice": -100, "taxCharge1": -9.5}]"#)
        let converted = try JaggaerSource.convert(invoice)
        #expect(converted.kind == .creditMemo)
        #expect(converted.total == Decimal(string: "-114.5"))
        #expect(converted.taxTotal == Decimal(string: "-9.5"))
        #expect(converted.shippingCharge == -5)
        #expect(converted.lines[0].unitPrice == -100)
    }
}
