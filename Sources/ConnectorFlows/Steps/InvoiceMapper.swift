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

    /// Maps with the master data read in one round trip: a dry run (every read answered "absent", the store not
    /// touched) names the vendor, accounts and dimensions the invoice needs, one `getMany` reads them, and the real
    /// run is answered from those values. A key only the real run asks for (none today) is read on its own.
    package func map(_ captured: SupplierInvoice) async throws -> Outcome {
        let reads = MasterDataReads(masterData)
        _ = try await map(captured, reads: reads)
        try await reads.load()
        return try await map(captured, reads: reads)
    }

    func map(_ captured: SupplierInvoice, reads: MasterDataReads) async throws -> Outcome {
        // A credit memo is written as a credit document with positive amounts; a negative invoice never is.
        let (invoice, signReasons) = Self.documentSigns(captured)
        var reasons: [ReviewReason] = signReasons
        var accountCache: [String: GLAccount?] = [:]
        var dimensionCache: [String: ERPDimension?] = [:]

        func account(_ number: String) async throws -> GLAccount? {
            if let cached = accountCache[number] { return cached }
            let found = try await reads.value(masterData.accounts, number)
            accountCache[number] = found
            return found
        }
        func dimension(_ code: String) async throws -> ERPDimension? {
            if let cached = dimensionCache[code] { return cached }
            let found = try await reads.value(masterData.dimensions, code)
            dimensionCache[code] = found
            return found
        }
        /// Checks a G/L account for posting; appends a reason when it can't take the line.
        func postable(_ number: String, field: String) async throws -> Bool {
            guard let found = try await account(number) else {
                reasons.append(
                    ReviewReason(
                        "account.unmapped", "G/L account \(number) does not exist in the ERP", field: field,
                        awaits: AwaitedCode(.account, number)))
                return false
            }
            if found.blocked {
                reasons.append(
                    ReviewReason(
                        "account.blocked", "G/L account \(number) is blocked in the ERP", field: field,
                        awaits: AwaitedCode(.account, number)))
                return false
            }
            if !found.postable {
                reasons.append(
                    ReviewReason(
                        "account.not_postable", "G/L account \(number) does not accept direct postings", field: field,
                        awaits: AwaitedCode(.account, number)))
                return false
            }
            return true
        }

        // Document type and approval.
        switch invoice.kind {
        case .invoice: break
        case .creditMemo where constraints.supportsCreditMemos: break
        case .creditMemo:
            reasons.append(
                ReviewReason(
                    "type.unsupported",
                    "credit memos are not written to this ERP, or not on this connection (where the ERP has a credit document, its connection setting turns it on); it is never written as a negative invoice",
                    field: "invoiceType"))
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
        let vendorInvoiceNumber = invoice.supplierInvoiceNumber?.trimmingWhitespace(newlines: false) ?? ""
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
            if let vendor = try await reads.value(masterData.vendors, vendorNumber) {
                if vendor.blocked == .all {
                    reasons.append(
                        ReviewReason(
                            "vendor.blocked", "vendor \(vendorNumber) is blocked in the ERP", field: "supplier",
                            awaits: AwaitedCode(.vendor, vendorNumber)))
                }
            } else {
                let via = rules.vendors[supplierNumber] == nil ? "" : " (mapped from supplier \(supplierNumber))"
                reasons.append(
                    ReviewReason(
                        "vendor.unmapped",
                        "supplier \(supplierNumber) (\(invoice.supplier.name ?? "no name")) has no vendor \(vendorNumber)\(via) in the ERP; add the vendor or a vendor mapping",
                        field: "supplier",
                        awaits: AwaitedCode(.vendor, vendorNumber)
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

        // Tax: which figure is booked is the connection's choice; two figures that disagree need a person.
        var bookedTax = invoice.taxTotal
        if let current = invoice.currentTax, let supplier = invoice.supplierTax, current != supplier {
            reasons.append(
                ReviewReason(
                    "tax.figures_differ",
                    "the supplier states tax of \(supplier) but the invoice's current tax is \(current) (mapping.taxSource books the \(rules.taxSource.rawValue) figure)",
                    field: "tax")
            )
        }
        if rules.taxSource == .supplier {
            if let supplier = invoice.supplierTax {
                bookedTax = invoice.taxTotal - (invoice.currentTax ?? 0) + supplier
            } else if invoice.taxTotal != 0 {
                reasons.append(
                    ReviewReason(
                        "tax.supplier_missing",
                        "mapping.taxSource books the supplier's tax, but the invoice states none (current tax \(invoice.taxTotal))",
                        field: "tax")
                )
            }
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
                        ReviewReason(
                            "dimension.unknown", "the ERP has no dimension \(rule.dimension)", field: field,
                            awaits: AwaitedCode(.dimension, rule.dimension)))
                    lineOK = false
                    continue
                }
                guard let dimensionValue = known.values.first(where: { $0.code == code }) else {
                    reasons.append(
                        ReviewReason(
                            "dimension.unmapped",
                            "line \(line.lineNumber): \(rule.segment) \(value) is not a value of dimension \(rule.dimension)",
                            field: field, awaits: AwaitedCode(.dimensionValue, code, dimension: rule.dimension))
                    )
                    lineOK = false
                    continue
                }
                if dimensionValue.blocked {
                    reasons.append(
                        ReviewReason(
                            "dimension.blocked", "dimension value \(rule.dimension) \(code) is blocked", field: field,
                            awaits: AwaitedCode(.dimensionValue, code, dimension: rule.dimension)))
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
        if bookedTax != 0 {
            if let taxAccount = rules.taxAccount {
                if try await postable(taxAccount, field: "tax") {
                    lines.append(
                        MappedLine(
                            kind: .tax, sourceLineNumber: nil, description: "Tax stated by supplier",
                            glAccount: taxAccount, quantity: 1, unitCost: bookedTax, dimensions: firstDimensions)
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
                        "the invoice carries tax of \(bookedTax) but neither mapping.taxAccount nor mapping.taxCodes is configured",
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
        if reasons.isEmpty {
            reasons += totalCheck(
                invoice, computed: computed, bookedTax: bookedTax, taxIncludedInLines: taxIncludedInLines)
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

    /// The lines, tax and charges checked against what the invoice states: its total, or, where a real payload
    /// leaves the total out, the review (the header's tax is still compared with the lines' for the message). A
    /// document never comes to a negative figure.
    func totalCheck(_ invoice: SupplierInvoice, computed: Decimal, bookedTax: Decimal, taxIncludedInLines: Bool)
        -> [ReviewReason]
    {
        var reasons: [ReviewReason] = []
        guard let total = invoice.total else {
            var detail = ""
            if let lineTax = invoice.lineTaxTotal, lineTax != invoice.taxTotal {
                detail = "; the header's tax \(invoice.taxTotal) also differs from the lines' tax \(lineTax)"
            }
            reasons.append(
                ReviewReason(
                    "total.missing",
                    "the invoice states no total, so nothing confirms what the coded lines, tax and charges come to (\(computed))\(detail)",
                    field: "total")
            )
            return reasons
        }
        let expected = taxIncludedInLines ? total - invoice.taxTotal + bookedTax : total - invoice.taxTotal
        var difference = computed - expected
        if difference < 0 { difference = -difference }
        if difference > rules.totalTolerance {
            reasons.append(
                ReviewReason(
                    "total.mismatch", "the lines come to \(computed) but the approved invoice total is \(expected)",
                    field: "total")
            )
        }
        if computed < 0 {
            reasons.append(
                ReviewReason(
                    "total.negative",
                    "the \(invoice.kind == .creditMemo ? "credit memo" : "invoice") comes to \(computed); an ERP document is never written with a negative total",
                    field: "total")
            )
        }
        return reasons
    }

    /// A credit memo stated with negative amounts (as JAGGAER keeps them) turned into a credit document with
    /// positive ones: quantities or unit prices, tax, charges, discount and total flip their sign together. One
    /// stated positive is kept as it is. An invoice that comes to a negative total is a review, never a document.
    static func documentSigns(_ invoice: SupplierInvoice) -> (SupplierInvoice, [ReviewReason]) {
        let stated =
            invoice.total
            ?? (invoice.linesNetTotal + invoice.taxTotal + invoice.shippingCharge + invoice.handlingCharge
                - invoice.discountAmount)
        guard invoice.kind == .creditMemo else {
            guard stated < 0, invoice.kind == .invoice else { return (invoice, []) }
            return (
                invoice,
                [
                    ReviewReason(
                        "invoice.negative_total",
                        "the invoice comes to \(stated): a negative amount is a credit, and the invoice is not typed as a credit memo",
                        field: "total")
                ]
            )
        }
        guard stated < 0 else { return (invoice, []) }
        var flipped = invoice
        flipped.total = invoice.total.map { -$0 }
        flipped.taxTotal = -invoice.taxTotal
        flipped.currentTax = invoice.currentTax.map { -$0 }
        flipped.supplierTax = invoice.supplierTax.map { -$0 }
        flipped.lineTaxTotal = invoice.lineTaxTotal.map { -$0 }
        flipped.shippingCharge = -invoice.shippingCharge
        flipped.handlingCharge = -invoice.handlingCharge
        flipped.discountAmount = -invoice.discountAmount
        for index in flipped.lines.indices {
            if flipped.lines[index].quantity < 0 {
                flipped.lines[index].quantity = -flipped.lines[index].quantity
            } else {
                flipped.lines[index].unitPrice = -flipped.lines[index].unitPrice
            }
            flipped.lines[index].taxAmount = -flipped.lines[index].taxAmount
        }
        return (flipped, [])
    }

    static func truncate(_ text: String, _ limit: Int) -> String {
        let clean = text.replacingOccurrences(of: "\n", with: " ").trimmingWhitespace(newlines: false)
        return clean.count <= limit ? clean : String(clean.prefix(limit - 1)) + "…"
    }
}

/// The master-data reads of one mapping (see `InvoiceMapper.map`): recording until `load()`, then serving.
actor MasterDataReads {
    private let masterData: MasterData
    private var wanted: [String] = []
    private var loaded: [String: StoredValue?]?

    init(_ masterData: MasterData) { self.masterData = masterData }

    func value<Value: Codable & Sendable>(_ table: MappingTable<Value>, _ key: String) async throws -> Value? {
        let full = table.keys.key("map", table.table, key)
        guard let loaded else {
            if !wanted.contains(full) { wanted.append(full) }
            return nil
        }
        if let hit = loaded[full] { return try hit.map { try JSONCoding.decode(Value.self, from: $0.data) } }
        return try await table.get(key)
    }

    /// Reads every key the dry run asked for, in one round trip.
    func load() async throws {
        let values = wanted.isEmpty ? [] : try await masterData.store.getMany(wanted)
        loaded = Dictionary(uniqueKeysWithValues: zip(wanted, values))
    }
}
