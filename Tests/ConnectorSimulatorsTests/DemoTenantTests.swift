import ConnectorSimulators
import Foundation
import Testing

@Suite("Demo tenant")
struct DemoTenantTests {
    static let tenant = DemoTenant.generate()

    @Test("the same seed gives the same tenant; another seed does not")
    func deterministic() {
        let again = DemoTenant.generate()
        #expect(again.jaggaerInvoices.map(\.text) == Self.tenant.jaggaerInvoices.map(\.text))
        #expect(again.credentials == Self.tenant.credentials)
        #expect(again.businessCentral.vendors.map(\.id) == Self.tenant.businessCentral.vendors.map(\.id))
        #expect(again.expectations == Self.tenant.expectations)
        let other = DemoTenant.generate(seed: 43)
        #expect(other.jaggaerInvoices.map(\.text) != Self.tenant.jaggaerInvoices.map(\.text))
    }

    @Test("header totals add up exactly: sum(qty × price) + tax1 + tax2 + shipping + handling − discount")
    func totals() throws {
        #expect(Self.tenant.jaggaerInvoices.count == 300)
        var sawShipping = false
        for invoice in Self.tenant.jaggaerInvoices {
            let header = try #require(invoice["header"])
            let lines = try #require(invoice["lineList"]?["invoiceLine"]?.arrayValue)
            #expect((1...6).contains(lines.count))
            var subtotal = Decimal(0)
            var tax = Decimal(0)
            for line in lines {
                let quantity = try #require(line["quantity"]?.decimalValue)
                let price = try #require(line["unitPrice"]?.decimalValue)
                #expect(price == price.rounded(scale: 2))
                #expect(quantity * price == (quantity * price).rounded(scale: 2))
                subtotal += quantity * price
                tax += try #require(line["taxCharge1"]?.decimalValue)
            }
            let charge = { (name: String) in header[name]?.decimalValue ?? -1 }
            #expect(charge("taxCharge1") == tax)
            if charge("shippingCharge") > 0 { sawShipping = true }
            let expected =
                subtotal + charge("taxCharge1") + charge("taxCharge2") + charge("shippingCharge")
                + charge("handlingCharge") - charge("discountAmount")
            #expect(header["total"]?["value"]?.decimalValue == expected, "invoice \(header["invoiceId"]?.text ?? "?")")
        }
        #expect(sawShipping)
    }

    @Test("expectations follow the documented rules and cover every deliberately broken category")
    func expectations() {
        let tenant = Self.tenant
        #expect(tenant.expectations.count == tenant.jaggaerInvoices.count)
        for invoice in tenant.jaggaerInvoices {
            let id = invoice["header"]?["invoiceId"]?.intValue ?? -1
            #expect(
                tenant.expectations[id]
                    == DemoTenant.expectedOutcome(of: invoice, in: tenant.businessCentral, matchesPurchaseOrders: true))
        }
        let reasons = [
            "vendor.unmapped", "account.unmapped", "dimension.unmapped", "account.blocked", "vendor.blocked",
            "invoice.number_too_long", "type.unsupported",
        ]
        for reason in reasons {
            let ids = tenant.injected[reason] ?? []
            #expect(ids.count == 2, "\(reason)")
            for id in ids { #expect(tenant.expectations[id] == .review(reason: reason), "\(reason) \(id)") }
            let all = tenant.expectations.filter { $0.value == .review(reason: reason) }.count
            #expect(all == 2, "\(reason) appears only where injected")
        }
        for id in tenant.injected["alreadyInERP"] ?? [] { #expect(tenant.expectations[id] == .alreadyInERP) }
        #expect(tenant.outcomeCounts[.alreadyInERP] == 2)
        for key in ["apostrophe", "injection"] {
            for id in tenant.injected[key] ?? [] { #expect(tenant.expectations[id] == .drafted) }
        }
        let notApproved = tenant.outcomeCounts[.notApproved] ?? 0
        #expect(notApproved > 10 && notApproved < 60, "about 10% are not approved")
        #expect((tenant.outcomeCounts[.drafted] ?? 0) > 200)
    }

    @Test("the data has the tricky cases the connector must handle")
    func trickyCases() throws {
        let headers = Self.tenant.jaggaerInvoices.compactMap { $0["header"] }
        let numbers = headers.compactMap { $0["supplierInvoiceNumber"]?.stringValue }
        #expect(numbers.contains("O'NEIL-2291"))
        #expect(numbers.contains("x' or 1 eq 1"))
        #expect(numbers.contains { $0.count > 35 })
        var seen = Set<String>()
        for header in headers {
            let key =
                (header["supplier"]?["supplierNumber"]?.stringValue ?? "") + "|"
                + (header["supplierInvoiceNumber"]?.stringValue ?? "")
            #expect(seen.insert(key).inserted, "supplier invoice numbers are unique per supplier: \(key)")
        }
        let stamps = headers.compactMap { $0["lastUpdate"]?.stringValue }
        #expect(Set(stamps).count < stamps.count, "some invoices share a lastUpdate millisecond")
        #expect(stamps.allSatisfy { $0.count == 24 && $0.hasSuffix("Z") })
        #expect(headers.contains { $0["invoiceType"]?.stringValue == "Credit memo" })
        #expect(headers.contains { $0["invoiceLineType"]?.stringValue == "Non-PO" })
        #expect(headers.contains { $0["invoiceLineType"]?.stringValue == "PO" })
        #expect(headers.contains { $0["workflowStatus"]?.stringValue == "In Progress" })
        #expect(headers.allSatisfy { ["true", "false"].contains($0["nonPOInvoice"]?.stringValue ?? "") })
    }

    @Test("invoices keep the real sample's shape: same header keys, string booleans, bare numbers")
    func sampleShape() throws {
        let sample = JaggaerSampleInvoice.json
        let sampleKeys = Set(try #require(sample["header"]?.objectValue?.orderedKeys))
        let invoice = try #require(Self.tenant.jaggaerInvoices.first)
        let header = try #require(invoice["header"]?.objectValue)
        #expect(Set(header.orderedKeys) == sampleKeys)
        #expect(header.orderedKeys == sample["header"]?.objectValue?.orderedKeys)
        let line = try #require(invoice["lineList"]?["invoiceLine"]?.arrayValue?.first)
        #expect(line["taxable"]?.stringValue != nil)
        #expect(line["capitalExpense"] == .string("false"))
        guard case .number = line["unitPrice"] else {
            Issue.record("unitPrice must be a bare JSON number")
            return
        }
        let segments = DemoTenant.segments(of: line)
        for name in ["Entity", "Fund", "Financial_Unit", "Account", "Program", "Project"] {
            #expect(segments[name] != nil, "segment \(name)")
        }
    }

    @Test("Business Central master data matches the JAGGAER side")
    func businessCentral() {
        let bc = Self.tenant.businessCentral
        #expect(bc.company.id == DemoTenant.companyId)
        #expect(bc.company.name == "CRONUS USA, Inc.")
        #expect(bc.vendors.count == 40)
        #expect(bc.vendors.filter { $0.blocked == "All" }.count == 1)
        #expect(bc.vendors.contains { $0.number.hasPrefix("V9") })
        #expect(bc.accounts.contains { $0.blocked && $0.accountType == "Posting" })
        #expect(bc.accounts.contains { !$0.directPosting && $0.accountType == "Posting" })
        #expect(bc.accounts.contains { $0.accountType == "Heading" })
        #expect(bc.accounts.contains { $0.accountType == "Total" })
        #expect(Set(bc.dimensions.map(\.code)) == ["FUND", "DEPARTMENT", "PROGRAM"])
        #expect(bc.purchaseInvoices.count == 2)
        #expect(Set(bc.purchaseInvoices.map(\.status)) == ["Draft", "Open"])
        let supplierNumbers = Set(
            Self.tenant.jaggaerInvoices.compactMap { $0["header"]?["supplier"]?["supplierNumber"]?.stringValue })
        let mapped = supplierNumbers.filter { number in bc.vendors.contains { $0.number == number } }
        #expect(mapped.count >= 30)
    }

    @Test("a tiny tenant still builds, with fewer broken cases")
    func tiny() {
        let tiny = DemoTenant.generate(invoiceCount: 5, seed: 1)
        #expect(tiny.jaggaerInvoices.count == 5)
        #expect(tiny.expectations.count == 5)
        let empty = DemoTenant.generate(invoiceCount: 0)
        #expect(empty.jaggaerInvoices.isEmpty)
    }

    @Test("BC holds a purchase order for every JAGGAER PO but two: one it lacks, one of another vendor")
    func purchaseOrders() throws {
        let tenant = Self.tenant
        let unknown = try #require(tenant.injected["po.unknown"]?.first)
        let otherVendor = try #require(tenant.injected["po.vendor_mismatch"]?.first)
        let matching = tenant.expectations(maxVendorInvoiceNumberLength: 35, matchesPurchaseOrders: true)
        #expect(matching[unknown] == .review(reason: "po.unknown"))
        #expect(matching[otherVendor] == .review(reason: "po.vendor_mismatch"))
        #expect(matching.filter { $0.value == .review(reason: "po.unknown") }.count == 1)
        #expect(matching.filter { $0.value == .review(reason: "po.vendor_mismatch") }.count == 1)
        // The tenant's own expectations are Business Central's; ERPs that do not match POs this way draft both.
        #expect(tenant.expectations[unknown] == .review(reason: "po.unknown"))
        let plain = tenant.expectations(maxVendorInvoiceNumberLength: 35)
        #expect(plain[unknown] == .drafted)
        #expect(plain[otherVendor] == .drafted)
        let numbers = Set(tenant.businessCentral.purchaseOrders.map(\.number))
        #expect(numbers.count == tenant.businessCentral.purchaseOrders.count, "one order per number")
        #expect(numbers.count > 100)
    }
}
