import Foundation

/// The demo tenant's company as Finance & Operations holds it, in legal entity `usmf`, derived from the same
/// ``DemoTenant`` the JAGGAER simulator serves so the identity mapping holds: JAGGAER `supplierNumber` =
/// `VendorAccountNumber`, `Account` = `MainAccountId` (and the procurement category of the same name, by which
/// non-PO lines are coded), `Fund`/`Financial_Unit`/`Program` = values of the financial dimensions
/// `FUND`/`DEPARTMENT`/`PROGRAM` (shared values, no legal entity).
///
/// - Vendors: BC's, `OnHoldStatus` `All` for the one blocked for everything, `Payment` for the payment block.
/// - Main accounts (chart `Shared`): BC's; headings and totals are `Total`, blocked or non-direct accounts suspended.
/// - A second legal entity `usrt` with three vendors, one reusing a `usmf` account number under another name, so a
///   read that forgets the company shows the wrong vendor.
/// - The two invoices the AP clerk keyed by hand, as pending vendor invoices.
/// - Confirmed purchase orders: one per JAGGAER PO number the invoices quote (vendor known), lines numbered as the
///   JAGGAER `poLineNumber`.
package enum FODemoData {
    package static let company = "usmf"
    package static let otherCompany = "usrt"
    package static let chartOfAccounts = "Shared"
    package static let dimensions = ["FUND", "DEPARTMENT", "PROGRAM"]
    package static let accountingCurrency = "USD"

    package static func seed(_ store: FOStore, from tenant: DemoTenant) {
        let bc = tenant.businessCentral
        for vendor in bc.vendors {
            let hold =
                switch vendor.blocked.trimmingCharacters(in: .whitespaces) {
                case "All": "All"
                case "Payment": "Payment"
                default: "No"
                }
            store.upsert(
                FOEntity.vendors.set,
                SimJSONObject([
                    "dataAreaId": .string(company), "VendorAccountNumber": .string(vendor.number),
                    "VendorOrganizationName": .string(vendor.displayName), "OnHoldStatus": .string(hold),
                    "CurrencyCode": .string(vendor.currencyCode.isEmpty ? accountingCurrency : vendor.currencyCode),
                    "TaxExemptNumber": .string(vendor.taxRegistrationNumber),
                    "AddressStreet": .string(vendor.addressLine1), "AddressCity": .string(vendor.city),
                    "AddressState": .string(vendor.state), "AddressZipCode": .string(vendor.postalCode),
                    "AddressCountryRegionId": .string(vendor.country), "PaymentTermsName": .string("Net30"),
                    "VendorGroupId": .string("10"),
                ]))
        }
        for (index, number) in ["US-101", "US-102", bc.vendors.first?.number ?? "US-103"].enumerated() {
            store.upsert(
                FOEntity.vendors.set,
                SimJSONObject([
                    "dataAreaId": .string(otherCompany), "VendorAccountNumber": .string(number),
                    "VendorOrganizationName": .string("Retail supplier \(index + 1)"), "OnHoldStatus": .string("No"),
                    "CurrencyCode": .string(accountingCurrency),
                ]))
        }
        var categories: [String] = []
        for account in bc.accounts {
            let type =
                account.accountType != "Posting"
                ? "Total"
                : account.category == "Expense" ? "Expense" : account.category == "Income" ? "Revenue" : "BalanceSheet"
            let suspended = account.blocked || !account.directPosting
            store.upsert(
                FOEntity.mainAccounts.set,
                SimJSONObject([
                    "ChartOfAccounts": .string(chartOfAccounts), "MainAccountId": .string(account.number),
                    "Name": .string(account.displayName), "MainAccountType": .string(type),
                    "MainAccountCategory": .string(account.category), "IsSuspended": .string(suspended ? "Yes" : "No"),
                ]))
            if type != "Total", !suspended { categories.append(account.number) }
        }
        store.addCategories(categories)
        for name in dimensions + ["BusinessUnit"] {
            store.upsert(
                FOEntity.dimensionAttributes.set,
                SimJSONObject(["DimensionName": .string(name), "ReportColumnName": .string(name)]))
        }
        for dimension in bc.dimensions where dimensions.contains(dimension.code) {
            for value in bc.dimensionValues where value.dimensionId == dimension.id {
                store.upsert(
                    FOEntity.dimensionValues.set,
                    SimJSONObject([
                        "FinancialDimension": .string(dimension.code), "LegalEntityId": .string(""),
                        "DimensionValue": .string(value.code), "Description": .string(value.displayName),
                        "IsSuspended": .string("No"), "IsBlockedForManualEntry": .string("No"),
                    ]))
            }
        }
        store.upsert(
            FOEntity.dimensionValues.set,
            SimJSONObject([
                "FinancialDimension": .string("BusinessUnit"), "LegalEntityId": .string(otherCompany),
                "DimensionValue": .string("RT01"), "Description": .string("Retail"),
            ]))
        for (index, invoice) in bc.purchaseInvoices.enumerated() {
            let reference = String(format: "APINV-9%05d", index + 1)
            store.upsert(
                FOEntity.invoiceHeaders.set,
                SimJSONObject([
                    "dataAreaId": .string(company), "HeaderReference": .string(reference),
                    "InvoiceNumber": .string(invoice.vendorInvoiceNumber),
                    "VendorAccount": .string(invoice.vendorNumber),
                    "InvoiceAccount": .string(invoice.vendorNumber),
                    "InvoiceDate": .string(invoice.invoiceDate + "T12:00:00Z"), "Currency": .string(accountingCurrency),
                ]))
            store.upsert(
                FOEntity.invoiceLines.set,
                SimJSONObject([
                    "dataAreaId": .string(company), "HeaderReference": .string(reference),
                    "InvoiceLineNumber": .int(1), "Currency": .string(accountingCurrency),
                    "LineDescription": .string("Keyed by hand"), "Quantity": .int(1),
                    "UnitPrice": .decimal(invoice.totalAmountExcludingTax),
                    "NetAmount": .decimal(invoice.totalAmountExcludingTax),
                ]))
        }
        addPurchaseOrders(tenant, to: store)
        addReleasedProducts(to: store)
    }

    /// Released products of the demo company (one without a purchase price, one in another company).
    package static let releasedProducts: [(number: String, name: String, unit: String, price: Decimal)] = [
        ("A0001", "Office chair", "ea", 189.5), ("A0002", "Chair mat", "ea", 39),
        ("A0003", "Copy paper A4", "box", 24.9),
        ("S0001", "Desk installation", "hr", 0),
    ]

    private static func addReleasedProducts(to store: FOStore) {
        for product in releasedProducts {
            store.upsert(
                FOEntity.releasedProducts.set,
                SimJSONObject([
                    "dataAreaId": .string(company), "ItemNumber": .string(product.number),
                    "ProductNumber": .string(product.number), "ProductName": .string(product.name),
                    "SearchName": .string(product.name.uppercased()), "ProductDescription": .string(""),
                    "PurchaseUnitSymbol": .string(product.unit), "PurchasePrice": .decimal(product.price),
                    "ProcurementProductCategoryName": .string(""),
                ]))
        }
        store.upsert(
            FOEntity.releasedProducts.set,
            SimJSONObject([
                "dataAreaId": .string("demf"), "ItemNumber": .string("D0001"), "ProductName": .string("Not ours"),
                "PurchaseUnitSymbol": .string("ea"), "PurchasePrice": .int(5),
            ]))
    }

    /// The `erp.financeOperations` block of a connection to the simulated environment.
    static func connectionSettings(host: SimulatorHost) -> SimJSON {
        let credentials = host.tenant.credentials
        return .object(
            SimJSONObject([
                "tenantId": .string(credentials.entraTenantId),
                "clientId": .string(credentials.entraClientId),
                "clientSecret": .string(credentials.entraClientSecret),
                "authorityURL": .string(host.entraAuthorityURL),
                "environmentURL": .string(host.financeOperationsBaseURL),
                "dataAreaId": .string(company),
                "chartOfAccounts": .string(chartOfAccounts),
                "dimensions": .array(dimensions.map { .string($0) }),
                "accountingCurrency": .string(accountingCurrency),
                // The simulator's name for the vendor transactions entity (the real one is UNCONFIRMED).
                "vendorTransactionEntity": .string(FOEntity.vendorTransactions.set),
            ]))
    }

    /// A purchase order approved but not yet confirmed: confirming it (`/_sim/fo/businessevents/purchaseorderconfirmed`)
    /// raises the "Purchase order confirmed" business event.
    package static let unconfirmedPurchaseOrder = "FOPO-90001"

    private static func addUnconfirmedPurchaseOrder(_ tenant: DemoTenant, to store: FOStore) {
        guard
            let vendor = tenant.businessCentral.vendors.first(where: {
                $0.blocked.trimmingCharacters(in: .whitespaces).isEmpty
            })
        else { return }
        let number = unconfirmedPurchaseOrder
        store.upsert(
            FOEntity.purchaseOrders.set,
            SimJSONObject([
                "dataAreaId": .string(company), "PurchaseOrderNumber": .string(number),
                "OrderVendorAccountNumber": .string(vendor.number), "PurchaseOrderStatus": .string("Backorder"),
                "DocumentApprovalStatus": .string("Approved"), "CurrencyCode": .string(accountingCurrency),
                "PurchaseOrderName": .string("Office chairs"), "AccountingDate": .string("2024-06-03T12:00:00Z"),
                "RequestedDeliveryDate": .string("2024-06-24T12:00:00Z"),
            ]))
        for (line, (text, quantity, price)) in [("Office chair", 12, Decimal(189.5)), ("Chair mat", 12, Decimal(39))]
            .enumerated()
        {
            store.upsert(
                FOEntity.purchaseOrderLines.set,
                SimJSONObject([
                    "dataAreaId": .string(company), "PurchaseOrderNumber": .string(number),
                    "LineNumber": .int(line + 1),
                    "OrderedPurchaseQuantity": .int(quantity), "PurchasePrice": .decimal(price),
                    "LineAmount": .decimal(price * Decimal(quantity)), "LineDescription": .string(text),
                    "PurchaseUnitSymbol": .string("ea"),
                ]))
        }
    }

    private static func addPurchaseOrders(_ tenant: DemoTenant, to store: FOStore) {
        // After the confirmed ones: a reader taking "the first order" gets a confirmed one, as before.
        defer { addUnconfirmedPurchaseOrder(tenant, to: store) }
        let vendors = Set(tenant.businessCentral.vendors.map(\.number))
        var seen = Set<String>()
        for invoice in tenant.jaggaerInvoices {
            let vendor = invoice["header"]?["supplier"]?["supplierNumber"]?.stringValue ?? ""
            let lines = invoice["lineList"]?["invoiceLine"]?.arrayValue ?? []
            let poLines = lines.compactMap { line -> (number: String, line: Int, json: SimJSON)? in
                guard let number = line["poNumber"]?.stringValue, !number.isEmpty,
                    let lineNumber = line["poLineNumber"]?.stringValue.flatMap({ Int($0) })
                else { return nil }
                return (number, lineNumber, line)
            }
            guard let number = poLines.first?.number, vendors.contains(vendor), seen.insert(number).inserted else {
                continue
            }
            store.upsert(
                FOEntity.purchaseOrders.set,
                SimJSONObject([
                    "dataAreaId": .string(company), "PurchaseOrderNumber": .string(number),
                    "OrderVendorAccountNumber": .string(vendor), "PurchaseOrderStatus": .string("Backorder"),
                    "DocumentApprovalStatus": .string("Confirmed"), "CurrencyCode": .string(accountingCurrency),
                    "PurchaseOrderName": .string("JAGGAER PO \(number)"),
                    "AccountingDate": .string(
                        String((invoice["header"]?["invoiceDate"]?.stringValue ?? "2024-01-01").prefix(10))
                            + "T12:00:00Z"),
                ]))
            for entry in poLines where entry.number == number {
                let quantity = entry.json["quantity"]?.decimalValue ?? 1
                let price = entry.json["unitPrice"]?.decimalValue ?? 0
                store.upsert(
                    FOEntity.purchaseOrderLines.set,
                    SimJSONObject([
                        "dataAreaId": .string(company), "PurchaseOrderNumber": .string(number),
                        "LineNumber": .int(entry.line), "OrderedPurchaseQuantity": .decimal(quantity),
                        "PurchasePrice": .decimal(price), "LineAmount": .decimal((quantity * price).rounded(scale: 2)),
                        "LineDescription": .string(entry.json["item"]?["description"]?.stringValue ?? ""),
                    ]))
            }
        }
    }
}

extension FinanceOperationsSimulator: SimulatedERP {
    package var kind: String { "financeOperations" }
    package var displayName: String { "Finance and Operations" }
    package var counterPrefix: String { "fo" }
    /// The vendor invoice number the connector writes at most (its constraint; UNCONFIRMED in the reference).
    package var maxVendorInvoiceNumberLength: Int { 20 }

    /// Pending vendor invoices, and the invoices posted since (vendor transactions of type `Purch`).
    package func documents() -> [SimulatedDocument] {
        let lines = store.rows(.invoiceLines)
        let posted = store.rows(.vendorTransactions).filter {
            FOEntity.text($0["dataAreaId"]).lowercased() == FODemoData.company
                && FOEntity.text($0["TransType"]) == "Purch"
        }.map { transaction in
            SimulatedDocument(
                vendorNumber: FOEntity.text(transaction["AccountNum"]),
                vendorInvoiceNumber: FOEntity.text(transaction["Invoice"]), status: "Posted", draft: false, lines: 0,
                purchaseOrderLinkedLines: 0)
        }
        return posted
            + store.rows(.invoiceHeaders).filter {
                FOEntity.text($0["dataAreaId"]).lowercased() == FODemoData.company
            }.map { header in
                let reference = FOEntity.text(header["HeaderReference"]).lowercased()
                let own = lines.filter {
                    FOEntity.text($0["HeaderReference"]).lowercased() == reference
                        && FOEntity.text($0["dataAreaId"]).lowercased() == FODemoData.company
                }
                return SimulatedDocument(
                    vendorNumber: FOEntity.text(header["VendorAccount"]),
                    vendorInvoiceNumber: FOEntity.text(header["InvoiceNumber"]), status: "Pending", draft: true,
                    lines: own.count,
                    purchaseOrderLinkedLines: own.filter { !FOEntity.text($0["PurchaseOrder"]).isEmpty }.count)
            }
    }

    /// Faults on every endpoint the flow uses; the ones on `VendorInvoiceLines` strike between a header and its
    /// lines, the recovery point the connector must complete without a second header.
    package func chaosFaults(probability p: Double, seed: UInt64) -> [FaultRule] {
        [
            chaosRule(.dropAfterCommit, "fo", "POST", "VendorInvoiceHeaders", p, seed: seed, salt: 61),
            chaosRule(.dropBeforeCommit, "fo", "POST", "VendorInvoiceHeaders", p / 2, seed: seed, salt: 62),
            chaosRule(
                .status, "fo", "POST", "VendorInvoiceHeaders", p / 2, seed: seed, salt: 63, status: 429, retryAfter: 1),
            chaosRule(.dropAfterCommit, "fo", "POST", "VendorInvoiceLines", p, seed: seed, salt: 64),
            chaosRule(.status, "fo", "POST", "VendorInvoiceLines", p, seed: seed, salt: 65, status: 503),
            chaosRule(.dropBeforeCommit, "fo", "POST", "VendorInvoiceLines", p / 2, seed: seed, salt: 66),
            // Service protection between the header and its lines: 429 with Retry-After backs off.
            chaosRule(
                .status, "fo", "POST", "VendorInvoiceLines", p / 2, seed: seed, salt: 74, status: 429, retryAfter: 1),
            chaosRule(.latency, "fo", "POST", "VendorInvoiceHeaders", p, seed: seed, salt: 75, latencyMs: 120),
            chaosRule(.status, "fo", "GET", "VendorInvoiceHeaders", p, seed: seed, salt: 67, status: 500),
            chaosRule(
                .status, "fo", "GET", "VendorInvoiceHeaders", p / 2, seed: seed, salt: 68, status: 429, retryAfter: 1),
            chaosRule(.latency, "fo", "GET", "VendorInvoiceLines", p, seed: seed, salt: 69, latencyMs: 150),
            chaosRule(.expireTokens, "fo", "GET", "VendorInvoiceHeaders", p / 4, seed: seed, salt: 70),
            chaosRule(.status, "fo", "GET", "VendorsV2", p, seed: seed, salt: 71, status: 503),
            chaosRule(.status, "fo", "GET", "MainAccounts", p, seed: seed, salt: 72, status: 504),
            chaosRule(.status, "fo", "GET", "PurchaseOrderHeadersV2", p, seed: seed, salt: 73, status: 503),
        ]
    }
}
