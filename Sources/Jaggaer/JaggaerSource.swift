import ConnectorCore
import ConnectorHTTP
import Foundation

/// JAGGAER ONE as a `ProcurementSource`: lists invoice headers and turns full invoices into `SupplierInvoice`.
package struct JaggaerSource: ProcurementSource {
    package let client: JaggaerClient
    /// Sent as the status filter when exactly one approved status is configured.
    package let approvedStatuses: [String]
    /// The Keycloak token provider behind the client, for the sign-in check of the fit report.
    package let tokens: (any TokenProvider)?
    package let listOrder: ProcurementListOrder

    package init(
        client: JaggaerClient, approvedStatuses: [String], tokens: (any TokenProvider)? = nil,
        listOrder: ProcurementListOrder = .unknown
    ) {
        self.client = client
        self.approvedStatuses = approvedStatuses
        self.tokens = tokens
        self.listOrder = listOrder
    }

    /// JAGGAER's part of "see if we fit": Keycloak sign-in, then one page of approved invoices (a read only).
    package func fitChecks() async -> [FitCheck] {
        var checks: [FitCheck] = []
        if let tokens {
            checks.append(
                await FitCheck.run("jaggaer", "sign-in (Keycloak)", advice: Self.advice) {
                    let token = try await tokens.signIn()
                    return "token issued, valid until \(Timestamp.format(token.expiresAt))"
                })
            guard checks.last?.outcome == .pass else { return checks }
        }
        checks.append(
            await FitCheck.run("jaggaer", "read approved invoices", advice: Self.advice) {
                // The list is 1-based (as the poll reads it).
                let page = try await invoiceHeaders(startAt: 1, pageSize: 1, updatedSince: nil)
                let statuses = approvedStatuses.joined(separator: ", ")
                if let total = page.total { return "\(total) invoices listed (status \(statuses))" }
                return "the invoice list answers (\(page.returned) on the first page; status \(statuses))"
            })
        return checks
    }

    static func advice(_ error: ConnectorError) -> String? {
        switch error.httpStatus {
        case 400 where error.code == .authRejected, 401:
            return
                "JAGGAER's Keycloak refused the client: check jaggaer.clientId and clientSecret (a confidential client with client credentials in the J1p-integrations realm)"
        case 403:
            return "the integration client may not read invoices: ask JAGGAER to grant it the invoice API"
        case 404:
            return
                "the invoice list path is not confirmed publicly: set jaggaer.invoiceListPath to the one your tenant serves"
        default:
            break
        }
        if error.code == .authRejected {
            return "JAGGAER's Keycloak refused the client: check jaggaer.clientId, clientSecret and tokenURL"
        }
        if error.code == .httpTransport || error.code == .upstreamUnavailable {
            return "JAGGAER could not be reached: check jaggaer.baseURL, tokenURL and the network"
        }
        return nil
    }

    package var system: String { "jaggaer" }

    package func invoiceHeaders(startAt: Int, pageSize: Int, updatedSince: Date?) async throws -> InvoiceHeaderPage {
        let status = approvedStatuses.count == 1 ? approvedStatuses.first : nil
        let page = try await client.listInvoices(
            startAt: startAt, pageSize: pageSize, updatedSince: updatedSince, status: status)
        let items = page.items.map { result in
            result.flatMap { header -> Result<InvoiceHeaderSummary, ConnectorError> in
                .success(
                    InvoiceHeaderSummary(
                        id: header.invoiceId.value,
                        updatedAt: header.lastUpdate.flatMap(Timestamp.parse),
                        workflowStatus: header.workflowStatus
                    )
                )
            }
        }
        return InvoiceHeaderPage(
            items: items, returned: page.returned, total: page.total,
            startAt: page.startAt.map { NSDecimalNumber(decimal: $0.value).intValue })
    }

    package func invoice(id: String) async throws -> SupplierInvoice {
        try Self.convert(try await client.invoice(id: id))
    }

    /// JAGGAER invoice → ERP-neutral invoice. Missing money or quantities, and dates that are not dates, are an
    /// error naming the field, never guessed. Amounts keep the sign JAGGAER gives them (credit memos are negative);
    /// the mapping turns a credit memo into a document with positive amounts.
    package static func convert(_ invoice: JaggaerInvoice) throws -> SupplierInvoice {
        let header = invoice.header
        let id = header.invoiceId.value
        func date(_ text: String?, _ field: String) throws -> LocalDate? {
            guard let text, !text.trimmingWhitespace(newlines: false).isEmpty else { return nil }
            guard let value = LocalDate(parsing: text) else {
                throw ConnectorError(
                    .upstreamMalformed,
                    "JAGGAER invoice \(id) header.\(field) is not a valid date or RFC 3339 date-time")
            }
            return value
        }
        var lines: [SupplierInvoiceLine] = []
        var lineTax: Decimal? = 0
        for (index, line) in invoice.lines.enumerated() {
            let number = line.lineNumber.flatMap { Int($0.value) } ?? (index + 1)
            guard let quantity = line.quantity?.value else {
                throw ConnectorError(.upstreamMalformed, "JAGGAER invoice \(id) line \(number) has no quantity")
            }
            guard let unitPrice = line.unitPrice?.amount else {
                throw ConnectorError(.upstreamMalformed, "JAGGAER invoice \(id) line \(number) has no unit price")
            }
            if line.taxCharge1 == nil && line.taxCharge2 == nil {
                lineTax = nil
            } else if let sum = lineTax {
                lineTax = sum + (line.taxCharge1?.value ?? 0) + (line.taxCharge2?.value ?? 0)
            }
            let splits = line.splittableFieldSetGroupList?.maxSplits ?? 0
            lines.append(
                SupplierInvoiceLine(
                    sourceLineId: line.lineId?.value,
                    lineNumber: number,
                    description: line.item?.description,
                    quantity: quantity,
                    unitPrice: unitPrice,
                    unitOfMeasure: line.item?.unitOfMeasure?.dimension,
                    poNumber: line.poNumber?.value,
                    poLineNumber: line.poLineNumber?.value,
                    taxable: line.taxable?.value ?? false,
                    taxAmount: (line.taxCharge1?.value ?? 0) + (line.taxCharge2?.value ?? 0),
                    segments: (line.splittableFieldSetGroupList?.segments ?? []).map {
                        AccountingSegment(name: $0.name, value: $0.value, description: $0.description)
                    },
                    customFields: line.customFieldValueSetList?.values ?? [:],
                    distributions: max(1, splits)
                )
            )
        }
        let nonPO = header.nonPOInvoice?.value
        let isPO = header.invoiceLineType.map { $0.caseInsensitiveCompare("PO") == .orderedSame } ?? (nonPO == false)
        return SupplierInvoice(
            source: "jaggaer",
            sourceId: id,
            sourceUpdatedAt: header.lastUpdate.flatMap(Timestamp.parse),
            invoiceNumber: header.invoiceNumber,
            supplierInvoiceNumber: header.supplierInvoiceNumber,
            kind: InvoiceKind(sourceValue: header.invoiceType),
            workflowStatus: header.workflowStatus,
            paymentStatus: header.paymentStatus,
            isPOInvoice: isPO,
            invoiceDate: try date(header.invoiceDate, "invoiceDate"),
            dueDate: try date(header.dueDate, "dueDate"),
            accountingDate: try date(header.accountingDate, "accountingDate"),
            supplier: SupplierRef(
                sourceId: header.supplier?.id?.value,
                number: header.supplier?.supplierNumber?.value,
                name: header.supplier?.name
            ),
            businessUnit: header.businessUnit?.value,
            paymentTermsCode: header.terms?.standardPaymentTermsCode,
            currency: header.total?.currency,
            total: header.total?.value?.value,
            taxTotal: (header.taxCharge1?.value ?? 0) + (header.taxCharge2?.value ?? 0),
            currentTax: header.tax1HeaderChargeDetail?.currentTax?.value ?? header.taxCharge1?.value,
            supplierTax: header.tax1HeaderChargeDetail?.supplierTax?.value,
            lineTaxTotal: invoice.lines.isEmpty ? nil : lineTax,
            shippingCharge: header.shippingCharge?.value ?? 0,
            handlingCharge: header.handlingCharge?.value ?? 0,
            discountAmount: header.discountAmount?.value ?? 0,
            segments: (header.splittableFieldSetGroupList?.segments ?? []).map {
                AccountingSegment(name: $0.name, value: $0.value, description: $0.description)
            },
            customFields: header.customFieldValueSetList?.values ?? [:],
            lines: lines
        )
    }
}
