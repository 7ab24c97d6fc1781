import ConnectorCore
import Foundation

/// Turns a captured supplier invoice into an ERP-coded draft, or into the list of reasons a person must look at.
/// It never guesses: a code that is not in the ERP, a split it can't allocate, or a total that does not add up
/// sends the invoice to review.
package struct InvoiceMapper: Sendable {
    package let rules: MappingRules
    package let constraints: ERPConstraints
    package let approvedStatuses: [String]
    package let masterData: MasterData

    package init(rules: MappingRules, constraints: ERPConstraints, approvedStatuses: [String], masterData: MasterData) {
        self.rules = rules
        self.constraints = constraints
        self.approvedStatuses = approvedStatuses
        self.masterData = masterData
    }

    package enum Outcome: Sendable {
        case mapped(MappedInvoice)
        case review([ReviewReason])
    }

    package func map(_ invoice: SupplierInvoice) async throws -> Outcome {
        var reasons: [ReviewReason] = []
        var accountCache: [String: GLAccount?] = [:]
        var dimensionCache: [String: ERPDimension?] = [:]

        func account(_ number: String) async throws -> GLAccount? {
            if let cached = accountCache[number] { return cached }
            let found = try await masterData.accounts.get(number)
            accountCache[number] = found
            return found
        }
        func dimension(_ code: String) async throws -> ERPDimension? {
            if let cached = dimensionCache[code] { return cached }
            let found = try await masterData.dimensions.get(code)
            dimensionCache[code] = found
            return found
        }
        /// Checks a G/L account for posting; appends a reason when it can't take the line.
        func postable(_ number: String, field: String) async throws -> Bool {
            guard let found = try await account(number) else {
                reasons.append(
                    ReviewReason("account.unmapped", "G/L account \(number) does not exist in the ERP", field: field))
                return false
            }
            if found.blocked {
                reasons.append(
                    ReviewReason("account.blocked", "G/L account \(number) is blocked in the ERP", field: field))
                return false
            }
            if !found.postable {
                reasons.append(
                    ReviewReason(
                        "account.not_postable", "G/L account \(number) does not accept direct postings", field: field))
                return false
            }
            return true
        }

        // Document type and approval.
        switch invoice.kind {
        case .invoice: break
        case .creditMemo where constraints.supportsCreditMemos: break
        default:
            reasons.append(
                ReviewReason(
                    "type.unsupported", "\(invoice.kind.label) documents are not written to this ERP yet",
                    field: "invoiceType"))
        }
        if let status = invoice.workflowStatus, !approvedStatuses.contains(status) {
            reasons.append(
                ReviewReason(
                    "invoice.not_approved", "workflow status is \(status), not an approved status",
                    field: "workflowStatus"))
        }

        // The natural key.
        let vendorInvoiceNumber = invoice.supplierInvoiceNumber?.trimmingCharacters(in: .whitespaces) ?? ""
        if vendorInvoiceNumber.isEmpty {
            reasons.append(
                ReviewReason(
                    "invoice.number_missing", "the supplier invoice number is empty", field: "supplierInvoiceNumber"))
        } else if vendorInvoiceNumber.count > constraints.maxVendorInvoiceNumberLength {
            reasons.append(
                ReviewReason(
                    "invoice.number_too_long",
                    "the supplier invoice number has \(vendorInvoiceNumber.count) characters; the ERP takes at most \(constraints.maxVendorInvoiceNumberLength)",
                    field: "supplierInvoiceNumber"
                )
            )
        }
        if invoice.invoiceDate == nil {
            reasons.append(
                ReviewReason("invoice.date_missing", "the invoice has no invoice date", field: "invoiceDate"))
        }

        // Vendor.
        var vendorNumber = ""
        if let supplierNumber = invoice.supplier.number, !supplierNumber.isEmpty {
            vendorNumber = rules.vendors[supplierNumber] ?? supplierNumber
            if let vendor = try await masterData.vendors.get(vendorNumber) {
                if vendor.blocked == .all {
                    reasons.append(
                        ReviewReason(
                            "vendor.blocked", "vendor \(vendorNumber) is blocked in the ERP", field: "supplier"))
                }
            } else {
                let via = rules.vendors[supplierNumber] == nil ? "" : " (mapped from supplier \(supplierNumber))"
                reasons.append(
                    ReviewReason(
                        "vendor.unmapped",
                        "supplier \(supplierNumber) (\(invoice.supplier.name ?? "no name")) has no vendor \(vendorNumber)\(via) in the ERP; add the vendor or a vendor mapping",
                        field: "supplier"
                    )
                )
            }
        } else {
            reasons.append(ReviewReason("vendor.missing", "the invoice names no supplier number", field: "supplier"))
        }

        // Currency.
        var currencyCode: String?
        if let currency = invoice.currency?.uppercased(), !currency.isEmpty {
            currencyCode = currency == rules.localCurrency?.uppercased() ? nil : currency
        } else if rules.localCurrency == nil {
            reasons.append(
                ReviewReason(
                    "currency.missing", "the invoice states no currency and no local currency is configured",
                    field: "currency"))
        }

        // Lines.
        if invoice.lines.isEmpty {
            reasons.append(ReviewReason("invoice.no_lines", "the invoice has no lines", field: "lines"))
        }
        var lines: [MappedLine] = []
        for line in invoice.lines.sorted(by: { $0.lineNumber < $1.lineNumber }) {
            let field = "lines[\(line.lineNumber)]"
            if line.distributions > 1 {
                reasons.append(
                    ReviewReason(
                        "line.split_unsupported",
                        "line \(line.lineNumber) is split across \(line.distributions) codings", field: field)
                )
                continue
            }
            var lineOK = true
            var glAccount = ""
            if let value = line.segment(rules.accountSegment), !value.isEmpty {
                glAccount = rules.accounts[value] ?? value
                lineOK = try await postable(glAccount, field: field) && lineOK
            } else {
                reasons.append(
                    ReviewReason(
                        "account.missing", "line \(line.lineNumber) has no \(rules.accountSegment) segment",
                        field: field))
                lineOK = false
            }
            var dimensions: [DimensionAssignment] = []
            for rule in rules.dimensions {
                guard let value = line.segment(rule.segment), !value.isEmpty else {
                    if rule.required {
                        reasons.append(
                            ReviewReason(
                                "dimension.missing",
                                "line \(line.lineNumber) has no \(rule.segment) segment for dimension \(rule.dimension)",
                                field: field)
                        )
                        lineOK = false
                    }
                    continue
                }
                let code = rules.dimensionValues[rule.dimension]?[value] ?? value
                guard let known = try await dimension(rule.dimension) else {
                    reasons.append(
                        ReviewReason("dimension.unknown", "the ERP has no dimension \(rule.dimension)", field: field))
                    lineOK = false
                    continue
                }
                guard let dimensionValue = known.values.first(where: { $0.code == code }) else {
                    reasons.append(
                        ReviewReason(
                            "dimension.unmapped",
                            "line \(line.lineNumber): \(rule.segment) \(value) is not a value of dimension \(rule.dimension)",
                            field: field)
                    )
                    lineOK = false
                    continue
                }
                if dimensionValue.blocked {
                    reasons.append(
                        ReviewReason(
                            "dimension.blocked", "dimension value \(rule.dimension) \(code) is blocked", field: field))
                    lineOK = false
                    continue
                }
                dimensions.append(DimensionAssignment(dimension: rule.dimension, value: code))
            }
            guard lineOK else { continue }
            let description = Self.truncate(
                line.description ?? "Line \(line.lineNumber)", constraints.maxLineDescriptionLength)
            lines.append(
                MappedLine(
                    kind: .item,
                    sourceLineNumber: line.lineNumber,
                    description: description,
                    glAccount: glAccount,
                    quantity: line.quantity,
                    unitCost: line.unitPrice,
                    taxCode: nil,
                    dimensions: dimensions,
                    poNumber: line.poNumber,
                    poLineNumber: line.poLineNumber
                )
            )
        }

        // Tax, charges and discounts stated by the supplier become their own lines on configured accounts, so the
        // draft comes to the same total as the approved invoice.
        let firstDimensions = lines.first?.dimensions ?? []
        var taxIncludedInLines = true
        if invoice.taxTotal != 0 {
            if let taxAccount = rules.taxAccount {
                if try await postable(taxAccount, field: "tax") {
                    lines.append(
                        MappedLine(
                            kind: .tax, sourceLineNumber: nil, description: "Tax stated by supplier",
                            glAccount: taxAccount, quantity: 1, unitCost: invoice.taxTotal, dimensions: firstDimensions)
                    )
                }
            } else if !rules.taxCodes.isEmpty {
                // The ERP calculates tax from the line tax codes; the supplier's figure is not booked.
                taxIncludedInLines = false
                for index in lines.indices where lines[index].kind == .item {
                    let sourceLine = invoice.lines.first { $0.lineNumber == lines[index].sourceLineNumber }
                    if let code = sourceLine?.customFields["TaxCode"], let mapped = rules.taxCodes[code] {
                        lines[index].taxCode = mapped
                    }
                }
            } else {
                reasons.append(
                    ReviewReason(
                        "tax.unmapped",
                        "the invoice carries tax of \(invoice.taxTotal) but neither mapping.taxAccount nor mapping.taxCodes is configured",
                        field: "tax")
                )
            }
        }
        let charges = invoice.shippingCharge + invoice.handlingCharge
        if charges != 0 {
            if let chargesAccount = rules.chargesAccount {
                if try await postable(chargesAccount, field: "charges") {
                    lines.append(
                        MappedLine(
                            kind: .charge, sourceLineNumber: nil, description: "Shipping and handling",
                            glAccount: chargesAccount, quantity: 1, unitCost: charges, dimensions: firstDimensions))
                }
            } else {
                reasons.append(
                    ReviewReason(
                        "charges.unmapped",
                        "the invoice carries charges of \(charges) but mapping.chargesAccount is not configured",
                        field: "charges"))
            }
        }
        if invoice.discountAmount != 0 {
            if let discountAccount = rules.discountAccount {
                if try await postable(discountAccount, field: "discount") {
                    lines.append(
                        MappedLine(
                            kind: .discount, sourceLineNumber: nil, description: "Discount", glAccount: discountAccount,
                            quantity: 1, unitCost: -invoice.discountAmount, dimensions: firstDimensions))
                }
            } else {
                reasons.append(
                    ReviewReason(
                        "discount.unmapped",
                        "the invoice carries a discount of \(invoice.discountAmount) but mapping.discountAccount is not configured",
                        field: "discount"))
            }
        }

        let computed = lines.reduce(Decimal(0)) { $0 + $1.amount }
        if reasons.isEmpty, let total = invoice.total {
            let expected = taxIncludedInLines ? total : total - invoice.taxTotal
            var difference = computed - expected
            if difference < 0 { difference = -difference }
            if difference > rules.totalTolerance {
                reasons.append(
                    ReviewReason(
                        "total.mismatch", "the lines come to \(computed) but the approved invoice total is \(expected)",
                        field: "total")
                )
            }
        }

        guard reasons.isEmpty, let invoiceDate = invoice.invoiceDate else {
            return .review(reasons)
        }
        return .mapped(
            MappedInvoice(
                recordId: invoice.recordId,
                source: invoice.source,
                sourceId: invoice.sourceId,
                sourceUpdatedAt: invoice.sourceUpdatedAt,
                vendorNumber: vendorNumber,
                vendorInvoiceNumber: vendorInvoiceNumber,
                invoiceDate: invoiceDate,
                dueDate: invoice.dueDate,
                postingDate: invoice.accountingDate,
                currencyCode: currencyCode,
                sourceCurrency: invoice.currency,
                headerDimensions: [],
                lines: lines,
                expectedTotal: computed,
                poNumbers: Array(Set(invoice.lines.compactMap(\.poNumber))).sorted(),
                kind: invoice.kind == .creditMemo ? .creditMemo : .invoice
            )
        )
    }

    static func truncate(_ text: String, _ limit: Int) -> String {
        let clean = text.replacingOccurrences(of: "\n", with: " ").trimmingCharacters(in: .whitespaces)
        return clean.count <= limit ? clean : String(clean.prefix(limit - 1)) + "…"
    }
}
