import Foundation

/// A deterministic demo tenant: a JAGGAER ONE tenant full of supplier invoices and the Business Central company
/// they should land in, generated consistently from one seed (SplitMix64, so identical on every machine).
///
/// ## Expected outcome of each JAGGAER invoice (``expectedOutcome(of:in:)``), first rule that applies wins
/// 1. `header.workflowStatus` is not `Completed` → ``Outcome/notApproved`` (not for the ERP yet).
/// 2. `header.invoiceType` is not `Invoice` (e.g. `Credit memo`, in an ERP without a credit-memo document) →
///    `review("type.unsupported")`. Credit memos carry negative totals, tax, charges and prices, as real tenants
///    keep them.
/// 3. `header.supplier.supplierNumber` is no BC vendor `number` → `review("vendor.unmapped")`.
/// 4. that vendor is `blocked` `All` → `review("vendor.blocked")` (`Payment` blocks payments only: drafted).
/// 5. `header.supplierInvoiceNumber` is longer than 35 characters (BC's `vendorInvoiceNumber` limit) →
///    `review("invoice.number_too_long")`.
/// 6. a line's `Account` segment (first `splittableFieldSetGroup`) is no BC G/L account `number` →
///    `review("account.unmapped")`.
/// 7. a line's account is blocked, or is not a direct-posting `Posting` account → `review("account.blocked")`.
/// 8. a line's `Fund`, `Financial_Unit` or `Program` segment is no value of dimension `FUND`, `DEPARTMENT` or
///    `PROGRAM` → `review("dimension.unmapped")`.
/// 9. BC already has a purchase invoice with the same vendor and `vendorInvoiceNumber` →
///    ``Outcome/alreadyInERP`` (two such invoices were keyed by hand: one draft, one posted).
/// 10. otherwise → ``Outcome/drafted``.
///
/// Each deliberately broken invoice has exactly one problem, so the order above never changes an outcome.
/// The identity mapping is assumed: JAGGAER `supplierNumber` = BC vendor `number`, `Account` = G/L account
/// `number`, `Fund`/`Financial_Unit`/`Program` = value codes of `FUND`/`DEPARTMENT`/`PROGRAM`.
package struct DemoTenant: Sendable {
    /// What the connector should do with one JAGGAER invoice.
    package enum Outcome: Sendable, Hashable, CustomStringConvertible {
        /// Create a draft purchase invoice in BC.
        case drafted
        /// BC already has it (same vendor + vendor invoice number): do not create another.
        case alreadyInERP
        /// Put it in the review queue with this reason code.
        case review(reason: String)
        /// Not approved in JAGGAER: leave it alone.
        case notApproved

        package var description: String {
            switch self {
            case .drafted: return "drafted"
            case .alreadyInERP: return "alreadyInERP"
            case .review(let reason): return "review(\(reason))"
            case .notApproved: return "notApproved"
            }
        }
    }

    /// Everything a client needs to connect to the simulated tenant.
    package struct Credentials: Sendable, Equatable {
        package var jaggaerClientId: String
        package var jaggaerClientSecret: String
        package var entraTenantId: String
        package var entraClientId: String
        package var entraClientSecret: String
        package var businessCentralEnvironment: String
        package var companyId: String
        package var companyName: String
    }

    /// The BC company's fixed id.
    package static let companyId = "6b2a1e57-0c3d-4f8e-9a41-2d7c5e8b9f01"
    package static let companyName = "CRONUS USA, Inc."
    package static let environmentName = "production"
    /// "Now" for generated timestamps (2026-11-20T12:00:00Z); fixed so that the data is identical on every run.
    package static let defaultReferenceDate = Date(timeIntervalSince1970: 1_795_176_000)

    package let seed: UInt64
    package let credentials: Credentials
    /// JAGGAER invoices (full documents, header + lineList), sorted by `invoiceId`.
    package let jaggaerInvoices: [SimJSON]
    /// The BC company: vendors, chart of accounts, dimensions, and the two hand-keyed invoices.
    package let businessCentral: BCCompanyData
    /// Expected outcome per JAGGAER `invoiceId` in Business Central (which checks each invoice's PO before writing).
    package let expectations: [Int: Outcome]
    /// The invoice ids deliberately given each problem (keys are the reason codes, plus `alreadyInERP`,
    /// `apostrophe` and `injection` for the tricky supplier invoice numbers).
    package let injected: [String: [Int]]

    /// Builds the tenant.
    /// - Parameters:
    ///   - invoiceCount: number of JAGGAER invoices (the broken ones need about 25 approved invoices; with
    ///     fewer, later categories are skipped).
    ///   - seed: PRNG seed; the same seed gives the same tenant everywhere.
    ///   - referenceDate: the "now" that `lastUpdate` values are spread before.
    package static func generate(
        invoiceCount: Int = 300,
        seed: UInt64 = 42,
        referenceDate: Date = defaultReferenceDate
    ) -> DemoTenant {
        var generator = DemoGenerator(seed: seed, referenceDate: referenceDate)
        return generator.build(invoiceCount: max(0, invoiceCount))
    }

    /// The outcome the rules in the type's documentation give for `invoice` against `company`.
    ///
    /// With `matchesPurchaseOrders` (an ERP whose connector checks each invoice's PO before writing, as for BC),
    /// a new invoice naming a PO number the company has no purchase order for goes to `review("po.unknown")`, and
    /// one whose PO belongs to another vendor to `review("po.vendor_mismatch")`.
    package static func expectedOutcome(
        of invoice: SimJSON, in company: BCCompanyData, maxVendorInvoiceNumberLength: Int = 35,
        takesCreditMemos: Bool = false, matchesPurchaseOrders: Bool = false
    ) -> Outcome {
        let header = invoice["header"]
        guard header?["workflowStatus"]?.stringValue == "Completed" else { return .notApproved }
        let type = header?["invoiceType"]?.stringValue
        guard type == "Invoice" || (takesCreditMemos && type?.lowercased() == "credit memo") else {
            return .review(reason: "type.unsupported")
        }
        let supplierNumber = header?["supplier"]?["supplierNumber"]?.stringValue ?? ""
        guard let vendor = company.vendors.first(where: { $0.number == supplierNumber }) else {
            return .review(reason: "vendor.unmapped")
        }
        guard vendor.blocked != "All" else { return .review(reason: "vendor.blocked") }
        let vendorInvoiceNumber = header?["supplierInvoiceNumber"]?.stringValue ?? ""
        guard vendorInvoiceNumber.count <= maxVendorInvoiceNumberLength else {
            return .review(reason: "invoice.number_too_long")
        }
        let lines = invoice["lineList"]?["invoiceLine"]?.arrayValue ?? []
        let segments = lines.map(Self.segments(of:))
        for line in segments {
            guard company.accounts.contains(where: { $0.number == line["Account"] }) else {
                return .review(reason: "account.unmapped")
            }
        }
        for line in segments {
            if let account = company.accounts.first(where: { $0.number == line["Account"] }),
                account.blocked || !account.directPosting || account.accountType != "Posting"
            {
                return .review(reason: "account.blocked")
            }
        }
        for line in segments {
            for (segment, dimensionCode) in [
                ("Fund", "FUND"), ("Financial_Unit", "DEPARTMENT"), ("Program", "PROGRAM"),
            ] {
                guard let value = line[segment], !value.isEmpty else { continue }
                guard let dimension = company.dimension(code: dimensionCode),
                    company.dimensionValue(dimensionId: dimension.id, code: value) != nil
                else { return .review(reason: "dimension.unmapped") }
            }
        }
        let exists = company.purchaseInvoices.contains {
            $0.vendorNumber == vendor.number && $0.vendorInvoiceNumber == vendorInvoiceNumber
        }
        if exists { return .alreadyInERP }
        if matchesPurchaseOrders {
            let numbers = Set(lines.compactMap { $0["poNumber"]?.stringValue }.filter { !$0.isEmpty })
            for number in numbers.sorted() {
                guard let order = company.purchaseOrders.first(where: { $0.number == number }) else {
                    return .review(reason: "po.unknown")
                }
                if order.vendorNumber != vendor.number { return .review(reason: "po.vendor_mismatch") }
            }
        }
        return .drafted
    }

    /// `internalName` → `value` of a line's first `splittableFieldSetGroup` (the chart-of-accounts segments).
    package static func segments(of line: SimJSON) -> [String: String] {
        var result: [String: String] = [:]
        let groups = line["splittableFieldSetGroupList"]?["splittableFieldSetGroup"]?.arrayValue ?? []
        guard let first = groups.first else { return result }
        for set in first["splittableFieldIndexSet"]?.arrayValue ?? [] {
            for index in set["splittableFieldIndexList"]?["splittableFieldIndex"]?.arrayValue ?? [] {
                for value in index["customFieldValueList"]?["customFieldValue"]?.arrayValue ?? [] {
                    if let name = value["internalName"]?.stringValue, let text = value["value"]?.stringValue {
                        result[name] = text
                    }
                }
            }
        }
        return result
    }

    /// The expected outcomes in an ERP whose supplier invoice number is at most `maxVendorInvoiceNumberLength`
    /// characters (35 in BC, longer in SAP Business One and Acumatica): every other rule is the same everywhere,
    /// since each simulated ERP is seeded with the same company.
    package func expectations(
        maxVendorInvoiceNumberLength: Int, takesCreditMemos: Bool = false, matchesPurchaseOrders: Bool = false
    ) -> [Int: Outcome] {
        var result: [Int: Outcome] = [:]
        for invoice in jaggaerInvoices {
            guard let id = invoice["header"]?["invoiceId"]?.intValue else { continue }
            result[id] = Self.expectedOutcome(
                of: invoice, in: businessCentral, maxVendorInvoiceNumberLength: maxVendorInvoiceNumberLength,
                takesCreditMemos: takesCreditMemos, matchesPurchaseOrders: matchesPurchaseOrders)
        }
        return result
    }

    /// How many invoices have each outcome.
    package var outcomeCounts: [Outcome: Int] {
        expectations.values.reduce(into: [:]) { $0[$1, default: 0] += 1 }
    }
}
