import BusinessCentral
import ConnectorCore
import ConnectorFlows
import ConnectorTesting
import Foundation
import Testing

@Suite("Invoice mapping (transform-invoice)")
struct InvoiceMapperTests {
    let keys = try! StateKeys(connection: "acme")

    func masterData() async throws -> MasterData {
        let data = MasterData(store: InMemoryStateStore(), keys: keys)
        try await data.vendors.put("V100", Vendor(number: "V100", name: "Acme Lab Supply"))
        try await data.vendors.put("V200", Vendor(number: "V200", name: "Blocked Inc", blocked: .all))
        try await data.vendors.put("V300", Vendor(number: "V300", name: "Payment hold", blocked: .payment))
        try await data.accounts.put("60100", GLAccount(number: "60100", name: "Office", postable: true))
        try await data.accounts.put("60400", GLAccount(number: "60400", name: "Lab", postable: true))
        try await data.accounts.put("22500", GLAccount(number: "22500", name: "Use tax", postable: true))
        try await data.accounts.put("62300", GLAccount(number: "62300", name: "Freight", postable: true))
        try await data.accounts.put("60900", GLAccount(number: "60900", name: "Closed", postable: true, blocked: true))
        try await data.accounts.put("20100", GLAccount(number: "20100", name: "AP", postable: false))
        try await data.dimensions.put(
            "FUND",
            ERPDimension(
                code: "FUND", name: "Fund",
                values: [DimensionValue(code: "14306", name: "GSE"), DimensionValue(code: "19900", name: "General")]))
        try await data.dimensions.put(
            "DEPARTMENT",
            ERPDimension(
                code: "DEPARTMENT", name: "Dept",
                values: [
                    DimensionValue(code: "1000006", name: "EDU"),
                    DimensionValue(code: "OLD", name: "Old", blocked: true),
                ]))
        let now = Date()
        try await data.setSyncState(
            "vendors", .init(syncedAt: now, fullSyncAt: now, cursor: ChangeCursor(Timestamp.format(now)), count: 3))
        try await data.setSyncState(
            "accounts", .init(syncedAt: now, fullSyncAt: now, cursor: ChangeCursor(Timestamp.format(now)), count: 6))
        return data
    }

    func rules(_ change: (inout MappingRules) -> Void = { _ in }) -> MappingRules {
        var rules = MappingRules(
            accountSegment: "Account",
            dimensions: [
                SegmentDimensionRule(segment: "Fund", dimension: "FUND"),
                SegmentDimensionRule(segment: "Financial_Unit", dimension: "DEPARTMENT"),
            ],
            taxAccount: "22500",
            chargesAccount: "62300",
            localCurrency: "USD"
        )
        change(&rules)
        return rules
    }

    func line(
        _ number: Int, account: String = "60100", fund: String? = "14306", unit: String? = "1000006",
        quantity: Decimal = 2, price: Decimal = 50, tax: Decimal = 0
    ) -> SupplierInvoiceLine {
        var segments = [AccountingSegment(name: "Account", value: account)]
        if let fund { segments.append(AccountingSegment(name: "Fund", value: fund)) }
        if let unit { segments.append(AccountingSegment(name: "Financial_Unit", value: unit)) }
        return SupplierInvoiceLine(
            lineNumber: number, description: "Item \(number)", quantity: quantity, unitPrice: price, poNumber: "PO-1",
            poLineNumber: "\(number)", taxAmount: tax, segments: segments)
    }

    func invoice(
        vendor: String = "V100", number: String = "INV-1", lines: [SupplierInvoiceLine]? = nil, tax: Decimal = 0,
        shipping: Decimal = 0, total: Decimal? = nil, change: (inout SupplierInvoice) -> Void = { _ in }
    ) -> SupplierInvoice {
        let theLines = lines ?? [line(1), line(2, account: "60400", quantity: 1, price: Decimal(string: "19.99")!)]
        let net = theLines.reduce(Decimal(0)) { $0 + $1.netAmount }
        var invoice = SupplierInvoice(
            source: "jaggaer", sourceId: "42", supplierInvoiceNumber: number, workflowStatus: "Completed",
            invoiceDate: LocalDate(year: 2026, month: 11, day: 2),
            supplier: SupplierRef(sourceId: "1", number: vendor, name: "Vendor"),
            currency: "USD", total: total ?? (net + tax + shipping), taxTotal: tax, shippingCharge: shipping,
            lines: theLines
        )
        change(&invoice)
        return invoice
    }

    func map(_ invoice: SupplierInvoice, rules: MappingRules? = nil) async throws -> InvoiceMapper.Outcome {
        try await InvoiceMapper(
            rules: rules ?? self.rules(), constraints: .businessCentral, approvedStatuses: ["Completed"],
            masterData: try await masterData()
        ).map(invoice)
    }

    func reasons(_ outcome: InvoiceMapper.Outcome) -> [String] {
        if case .review(let reasons) = outcome { return reasons.map(\.code) }
        return []
    }

    @Test("a clean invoice maps to real vendor, accounts and dimensions, with tax and freight on their own lines")
    func happyPath() async throws {
        let outcome = try await map(invoice(tax: Decimal(string: "12.34")!, shipping: 5))
        guard case .mapped(let mapped) = outcome else {
            Issue.record("expected mapped, got \(reasons(outcome))")
            return
        }
        #expect(mapped.vendorNumber == "V100")
        #expect(mapped.vendorInvoiceNumber == "INV-1")
        #expect(mapped.currencyCode == nil, "local currency is sent empty")
        #expect(mapped.lines.map(\.glAccount) == ["60100", "60400", "22500", "62300"])
        #expect(mapped.lines.map(\.kind) == [.item, .item, .tax, .charge])
        #expect(
            mapped.lines[0].dimensions == [
                DimensionAssignment(dimension: "FUND", value: "14306"),
                DimensionAssignment(dimension: "DEPARTMENT", value: "1000006"),
            ])
        #expect(mapped.expectedTotal == Decimal(string: "137.33")!)
        #expect(mapped.poNumbers == ["PO-1"])
        #expect(mapped.lines[0].poLineNumber == "1")
    }

    @Test("explicit mappings translate supplier, account and dimension codes")
    func explicitMappings() async throws {
        let custom = rules {
            $0.vendors = ["279765": "V100"]
            $0.accounts = ["100000": "60400"]
            $0.dimensionValues = ["FUND": ["F-EXT": "19900"]]
        }
        let outcome = try await map(
            invoice(vendor: "279765", lines: [line(1, account: "100000", fund: "F-EXT")]), rules: custom)
        guard case .mapped(let mapped) = outcome else {
            Issue.record("expected mapped, got \(reasons(outcome))")
            return
        }
        #expect(mapped.vendorNumber == "V100")
        #expect(mapped.lines[0].glAccount == "60400")
        #expect(mapped.lines[0].dimensions.first == DimensionAssignment(dimension: "FUND", value: "19900"))
    }

    @Test(
        "problems go to review with a reason code",
        arguments: [
            ("vendor.unmapped", "V999", "60100", "14306"),
            ("vendor.blocked", "V200", "60100", "14306"),
            ("account.unmapped", "V100", "77777", "14306"),
            ("account.blocked", "V100", "60900", "14306"),
            ("account.not_postable", "V100", "20100", "14306"),
            ("dimension.unmapped", "V100", "60100", "NOPE"),
        ]
    )
    func reviewReasons(code: String, vendor: String, account: String, fund: String) async throws {
        let outcome = try await map(invoice(vendor: vendor, lines: [line(1, account: account, fund: fund)]))
        #expect(reasons(outcome).contains(code), "\(reasons(outcome))")
    }

    @Test("a payment block does not stop a draft")
    func paymentBlocked() async throws {
        guard case .mapped = try await map(invoice(vendor: "V300")) else {
            Issue.record("payment-blocked vendors still get drafts")
            return
        }
    }

    @Test("every problem of an invoice is reported at once")
    func allReasons() async throws {
        let bad = invoice(
            vendor: "V999", number: String(repeating: "9", count: 36),
            lines: [line(1, account: "77777", fund: nil), line(2, unit: "OLD")])
        let codes = Set(reasons(try await map(bad)))
        #expect(
            codes.isSuperset(of: [
                "vendor.unmapped", "invoice.number_too_long", "account.unmapped", "dimension.missing",
                "dimension.blocked",
            ]))
    }

    @Test("document-level checks")
    func documentChecks() async throws {
        #expect(reasons(try await map(invoice(number: "  "))).contains("invoice.number_missing"))
        #expect(reasons(try await map(invoice { $0.kind = .creditMemo })).contains("type.unsupported"))
        #expect(reasons(try await map(invoice { $0.workflowStatus = "In Progress" })).contains("invoice.not_approved"))
        #expect(reasons(try await map(invoice { $0.invoiceDate = nil })).contains("invoice.date_missing"))
        #expect(reasons(try await map(invoice(lines: []))).contains("invoice.no_lines"))
        var split = line(1)
        split.distributions = 2
        #expect(reasons(try await map(invoice(lines: [split]))).contains("line.split_unsupported"))
    }

    @Test("totals must add up; tax and charges need accounts")
    func totals() async throws {
        #expect(reasons(try await map(invoice(total: 1))).contains("total.mismatch"))
        #expect(reasons(try await map(invoice(tax: 3), rules: rules { $0.taxAccount = nil })).contains("tax.unmapped"))
        #expect(
            reasons(try await map(invoice(shipping: 3), rules: rules { $0.chargesAccount = nil })).contains(
                "charges.unmapped"))
        // Within tolerance is fine.
        let net = Decimal(string: "119.99")!
        guard case .mapped = try await map(invoice(total: net + Decimal(string: "0.01")!)) else {
            Issue.record("a cent of rounding is within tolerance")
            return
        }
    }

    @Test("with tax codes configured the ERP computes tax: lines carry codes and no tax line is added")
    func taxCodes() async throws {
        var taxed = line(1)
        taxed.customFields = ["TaxCode": "T"]
        let outcome = try await map(
            invoice(lines: [taxed], tax: 8),
            rules: rules {
                $0.taxAccount = nil
                $0.taxCodes = ["T": "TAXABLE"]
            })
        guard case .mapped(let mapped) = outcome else {
            Issue.record("expected mapped, got \(reasons(outcome))")
            return
        }
        #expect(mapped.lines.count == 1)
        #expect(mapped.lines[0].taxCode == "TAXABLE")
    }

    @Test("foreign currency is kept, long descriptions are cut to the ERP's limit")
    func currencyAndDescriptions() async throws {
        var long = line(1)
        long.description = String(repeating: "x", count: 150)
        let outcome = try await map(invoice(lines: [long]) { $0.currency = "EUR" })
        guard case .mapped(let mapped) = outcome else {
            Issue.record("expected mapped, got \(reasons(outcome))")
            return
        }
        #expect(mapped.currencyCode == "EUR")
        #expect(mapped.lines[0].description.count == 100)
    }
}
