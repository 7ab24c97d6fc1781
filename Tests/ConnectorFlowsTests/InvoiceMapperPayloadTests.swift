import BusinessCentral
import ConnectorCore
import ConnectorFlows
import Foundation
import Testing

/// Payloads as real tenants send them: negative credit memos, absent totals, two tax figures.
extension InvoiceMapperTests {
    var creditMemoConstraints: ERPConstraints {
        var constraints = ERPConstraints.businessCentral
        constraints.supportsCreditMemos = true
        return constraints
    }

    func mapCredit(_ invoice: SupplierInvoice, rules: MappingRules? = nil) async throws -> InvoiceMapper.Outcome {
        try await InvoiceMapper(
            rules: rules ?? self.rules(), constraints: creditMemoConstraints, approvedStatuses: ["Completed"],
            masterData: try await masterData()
        ).map(invoice)
    }

    /// A credit memo as JAGGAER keeps it: every amount negative.
    func negativeCreditMemo() -> SupplierInvoice {
        invoice(
            lines: [line(1, quantity: 2, price: -50), line(2, account: "60400", quantity: 1, price: -10)],
            tax: Decimal(string: "-9.50")!, shipping: -5
        ) {
            $0.kind = .creditMemo
            $0.currentTax = Decimal(string: "-9.50")!
        }
    }

    @Test("a negative credit memo becomes a credit document with positive amounts, never a negative invoice")
    func creditMemoPositive() async throws {
        let source = negativeCreditMemo()
        #expect(source.total == Decimal(string: "-124.50")!)
        let outcome = try await mapCredit(source)
        guard case .mapped(let mapped) = outcome else {
            Issue.record("expected mapped, got \(reasons(outcome))")
            return
        }
        #expect(mapped.kind == .creditMemo)
        #expect(mapped.expectedTotal == Decimal(string: "124.50")!)
        #expect(mapped.lines.allSatisfy { $0.amount > 0 }, "\(mapped.lines.map(\.amount))")
        #expect(mapped.lines.map(\.kind) == [.item, .item, .tax, .charge])
        #expect(mapped.lines[0].quantity == 2 && mapped.lines[0].unitCost == 50)
    }

    @Test("a credit memo whose lines say credit by negative quantity turns the quantity, not the price")
    func creditMemoQuantity() async throws {
        let source = invoice(lines: [line(1, quantity: -3, price: 10)]) { $0.kind = .creditMemo }
        guard case .mapped(let mapped) = try await mapCredit(source) else {
            Issue.record("expected mapped")
            return
        }
        #expect(mapped.lines[0].quantity == 3 && mapped.lines[0].unitCost == 10)
        #expect(mapped.expectedTotal == 30)
    }

    @Test("a credit memo in an ERP or connection without credit documents waits in review")
    func creditMemoUnsupported() async throws {
        #expect(reasons(try await map(negativeCreditMemo())) == ["type.unsupported"])
    }

    @Test("an invoice that comes to a negative total is a review, never a document")
    func negativeInvoice() async throws {
        let source = invoice(lines: [line(1, quantity: 1, price: -40)])
        #expect(reasons(try await map(source)).contains("invoice.negative_total"))
    }

    @Test("without a stated total the invoice goes to review, naming what the lines come to")
    func totalMissing() async throws {
        let source = invoice(tax: 5) {
            $0.total = nil
            $0.lineTaxTotal = 4
        }
        let outcome = try await map(source)
        #expect(reasons(outcome) == ["total.missing"])
        if case .review(let found) = outcome {
            #expect(found[0].message.contains("124.99"))
            #expect(found[0].message.contains("lines' tax 4"))
        }
    }

    @Test("supplier and current tax that differ go to review; the booked figure follows mapping.taxSource")
    func taxFigures() async throws {
        let differing = invoice(tax: 10) {
            $0.currentTax = 10
            $0.supplierTax = 9
        }
        #expect(reasons(try await map(differing)) == ["tax.figures_differ"])
        #expect(reasons(try await map(differing, rules: rules { $0.taxSource = .supplier })) == ["tax.figures_differ"])

        // Equal figures: booked as the setting says; with the supplier's figure required, its absence is a review.
        let agreeing = invoice(tax: 10) {
            $0.currentTax = 10
            $0.supplierTax = 10
        }
        guard case .mapped(let mapped) = try await map(agreeing, rules: rules { $0.taxSource = .supplier }) else {
            Issue.record("expected mapped")
            return
        }
        #expect(mapped.lines.first { $0.kind == .tax }?.unitCost == 10)
        let noSupplierFigure = invoice(tax: 10) { $0.currentTax = 10 }
        #expect(
            reasons(try await map(noSupplierFigure, rules: rules { $0.taxSource = .supplier }))
                == ["tax.supplier_missing"])
        #expect(reasons(try await map(noSupplierFigure)).isEmpty)
    }

    @Test("reasons that wait on master data say what they wait for")
    func awaitedCodes() async throws {
        let outcome = try await map(invoice(vendor: "V999", lines: [line(1, account: "67100", fund: "99999")]))
        guard case .review(let found) = outcome else {
            Issue.record("expected review")
            return
        }
        let awaits = Dictionary(found.compactMap { reason in reason.awaits.map { (reason.code, $0) } }) { a, _ in a }
        #expect(awaits["vendor.unmapped"] == AwaitedCode(.vendor, "V999"))
        #expect(awaits["account.unmapped"] == AwaitedCode(.account, "67100"))
        #expect(awaits["dimension.unmapped"] == AwaitedCode(.dimensionValue, "99999", dimension: "FUND"))
    }

    @Test("mapping.taxSource is read strictly")
    func taxSourceSetting() throws {
        let parsed = try JSONCoding.decode(MappingRules.self, from: Data(#"{"taxSource": "supplier"}"#.utf8))
        #expect(parsed.taxSource == .supplier)
        #expect(throws: (any Error).self) {
            try JSONCoding.decode(MappingRules.self, from: Data(#"{"taxSource": "engine"}"#.utf8))
        }
        #expect(MappingRules().taxSource == .current)
    }
}
