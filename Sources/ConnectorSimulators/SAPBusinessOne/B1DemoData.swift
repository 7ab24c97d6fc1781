import Foundation

/// The demo tenant's company as SAP Business One holds it, derived from the same ``DemoTenant`` the JAGGAER
/// simulator serves, so that the identity mapping holds: JAGGAER `supplierNumber` = `CardCode`, `Account` segment =
/// `ChartOfAccounts.Code`, `Fund`/`Financial_Unit`/`Program` segments = profit centres of dimensions 1/2/3
/// (`CostingCode`/`CostingCode2`/`CostingCode3`).
///
/// - Business partners: every BC vendor as a supplier (`Frozen` tYES for the vendor blocked `All`, `PaymentBlock`
///   tYES for the one blocked for payments; currency = the vendor's or `USD`), plus three customers.
/// - Chart of accounts: BC's accounts; headings and totals are title accounts (`ActiveAccount` tNO), the blocked one
///   is `FrozenFor` tYES, the one without direct posting (Accounts Payable) is a control account.
/// - Dimensions 1 `FUND`, 2 `DEPARTMENT`, 3 `PROGRAM` active, 4 and 5 inactive. Profit centre codes are unique across
///   dimensions in B1, so a value used by two dimensions keeps its code in the first and gets the dimension's
///   letter in front in the later one (``centerCode(dimension:value:)``: Program `40100` is `P40100`, since Fund
///   `40100` exists). A connection for this demo maps that value (`dimensionValues`).
/// - Purchase orders: one per JAGGAER PO number the invoices carry (vendor known to B1), `NumAtCard` and UDF
///   `U_JaggaerPO` = the PO number, lines in JAGGAER order with `LineNum` = `poLineNumber` − 1, quantity and price
///   of the invoice line (all open), account and cost centres of the invoice line where B1 has them.
/// - The two invoices the AP clerk keyed by hand in BC: the draft as a `Drafts` entry, the posted one as an A/P
///   invoice (same `CardCode` + `NumAtCard`).
package enum B1DemoData {
    /// The company database name of the demo.
    package static let companyDB = "SBODEMOUS"
    package static let userName = "manager"

    /// The demo's login; the password is derived from the tenant's seed.
    package static func account(for tenant: DemoTenant) -> B1Sessions.Account {
        B1Sessions.Account(companyDB: companyDB, userName: userName, password: "B1sim-\(tenant.seed)")
    }

    /// Segment → (dimension number, BC dimension code).
    package static let segmentDimensions: [(segment: String, dimension: Int, code: String)] = [
        ("Fund", 1, "FUND"), ("Financial_Unit", 2, "DEPARTMENT"), ("Program", 3, "PROGRAM"),
    ]

    /// The `mapping.dimensionValues` a connection to this demo needs: per dimension code, the values whose profit
    /// centre got a different code (`PROGRAM`: `40100` → `P40100`).
    package static func dimensionValueMapping(_ tenant: DemoTenant) -> [String: [String: String]] {
        var result: [String: [String: String]] = [:]
        let codes = centerCodes(tenant)
        for (_, dimension, code) in segmentDimensions {
            for (value, center) in codes[dimension] ?? [:] where value != center {
                result[code, default: [:]][value] = center
            }
        }
        return result
    }

    /// The profit centre code of a demo dimension value (see the type's documentation).
    package static func centerCode(dimension: Int, value: String, in tenant: DemoTenant) -> String {
        centerCodes(tenant)[dimension]?[value] ?? value
    }

    private static func centerCodes(_ tenant: DemoTenant) -> [Int: [String: String]] {
        let bc = tenant.businessCentral
        var used = Set<String>()
        var result: [Int: [String: String]] = [:]
        for (_, dimension, code) in segmentDimensions {
            guard let bcDimension = bc.dimension(code: code) else { continue }
            for value in bc.dimensionValues where value.dimensionId == bcDimension.id {
                var center = value.code
                if used.contains(center) { center = String(code.prefix(1)) + value.code }
                used.insert(center)
                result[dimension, default: [:]][value.code] = center
            }
        }
        return result
    }

    /// The outcome of a JAGGAER invoice against this company, by the rules of ``DemoTenant`` read for B1: the vendor
    /// must be a supplier that is not frozen, the vendor reference fits `NumAtCard` (100 characters, so the long
    /// numbers that BC refuses are drafted here), accounts must be postable (not title, control or frozen), each
    /// segment value must be a centre of its dimension under ``centerCode(dimension:value:in:)``, and a draft or
    /// invoice with the same `CardCode` + `NumAtCard` means ``DemoTenant/Outcome/alreadyInERP``.
    package static func expectedOutcome(of invoice: SimJSON, in company: B1CompanyData, tenant: DemoTenant)
        -> DemoTenant.Outcome
    {
        let header = invoice["header"]
        guard header?["workflowStatus"]?.stringValue == "Completed" else { return .notApproved }
        guard header?["invoiceType"]?.stringValue == "Invoice" else { return .review(reason: "type.unsupported") }
        let cardCode = header?["supplier"]?["supplierNumber"]?.stringValue ?? ""
        guard let partner = company.businessPartner(cardCode), partner["CardType"]?.stringValue == "cSupplier" else {
            return .review(reason: "vendor.unmapped")
        }
        guard partner["Frozen"]?.stringValue != "tYES" else { return .review(reason: "vendor.blocked") }
        let numAtCard = header?["supplierInvoiceNumber"]?.stringValue ?? ""
        guard numAtCard.count <= 100 else { return .review(reason: "invoice.number_too_long") }
        let segments = (invoice["lineList"]?["invoiceLine"]?.arrayValue ?? []).map(DemoTenant.segments(of:))
        for line in segments where company.account(line["Account"] ?? "") == nil {
            return .review(reason: "account.unmapped")
        }
        for line in segments {
            guard let account = company.account(line["Account"] ?? "") else { continue }
            if account["ActiveAccount"]?.stringValue != "tYES" || account["ControlAccount"]?.stringValue == "tYES"
                || account["FrozenFor"]?.stringValue == "tYES"
            {
                return .review(reason: "account.blocked")
            }
        }
        for line in segments {
            for (segment, dimension, _) in segmentDimensions {
                guard let value = line[segment], !value.isEmpty else { continue }
                let code = centerCode(dimension: dimension, value: value, in: tenant)
                guard company.profitCenter(code)?["InWhichDimension"]?.intValue == dimension else {
                    return .review(reason: "dimension.unmapped")
                }
            }
        }
        let exists = (company.drafts + company.purchaseInvoices).contains {
            $0["CardCode"]?.stringValue == cardCode && $0["NumAtCard"]?.stringValue == numAtCard
        }
        return exists ? .alreadyInERP : .drafted
    }

    /// Builds the company.
    /// - Parameter purchaseOrders: false leaves the company without purchase orders, for a demo that brings them
    ///   from JAGGAER through `sync-purchase-orders`.
    package static func company(from tenant: DemoTenant, purchaseOrders: Bool = true) -> B1CompanyData {
        let bc = tenant.businessCentral
        var data = B1CompanyData()
        for vendor in bc.vendors {
            var row = B1Store.businessPartner(
                code: vendor.number, name: vendor.displayName, type: "cSupplier",
                currency: vendor.currencyCode.isEmpty ? data.localCurrency : vendor.currencyCode,
                taxId: "94-\(vendor.number)",
                frozen: vendor.blocked == "All", now: vendor.lastModified)
            row["PaymentBlock"] = .string(vendor.blocked == "Payment" ? "tYES" : "tNO")
            row["Address"] = .string(vendor.addressLine1)
            row["City"] = .string(vendor.city)
            row["ZipCode"] = .string(vendor.postalCode)
            row["EmailAddress"] = .string(vendor.email)
            data.businessPartners.append(row)
        }
        for (index, name) in ["Adventure Works", "Wide World Importers", "Coho Winery"].enumerated() {
            data.businessPartners.append(
                B1Store.businessPartner(
                    code: "C2000\(index + 1)", name: name, type: "cCustomer", currency: data.localCurrency,
                    now: bc.company.createdAt))
        }
        for account in bc.accounts {
            let postable = account.accountType == "Posting"
            let type: String
            switch account.category {
            case "Expense", "Cost of Goods Sold": type = "at_Expenses"
            case "Income": type = "at_Revenues"
            default: type = "at_Other"
            }
            data.chartOfAccounts.append(
                SimJSONObject([
                    "Code": .string(account.number), "Name": .string(account.displayName),
                    "FormatCode": .string(account.number), "ActiveAccount": .string(postable ? "tYES" : "tNO"),
                    "AcctCurrency": .string("##"), "AccountType": .string(type),
                    "FrozenFor": .string(account.blocked ? "tYES" : "tNO"),
                    "ControlAccount": .string(postable && !account.directPosting ? "tYES" : "tNO"),
                    "CreateDate": .string(B1Clock.day(account.lastModified)),
                    "UpdateDate": .string(B1Clock.day(account.lastModified)),
                    "UpdateTime": .string(B1Clock.time(account.lastModified)),
                ]))
        }
        data.dimensions = B1CompanyData.defaultDimensions(names: segmentDimensions.map(\.code), active: 3)
        let codes = centerCodes(tenant)
        for (_, dimension, code) in segmentDimensions {
            guard let bcDimension = bc.dimension(code: code) else { continue }
            for value in bc.dimensionValues where value.dimensionId == bcDimension.id {
                data.profitCenters.append(
                    SimJSONObject([
                        "CenterCode": .string(codes[dimension]?[value.code] ?? value.code),
                        "CenterName": .string(value.displayName), "InWhichDimension": .int(dimension),
                        "Active": .string("tYES"), "EffectiveFrom": .string("2020-01-01"),
                    ]))
            }
        }
        if purchaseOrders { addPurchaseOrders(tenant, codes: codes, to: &data) }
        for invoice in bc.purchaseInvoices {
            let set: B1EntitySet = invoice.status == "Draft" ? .drafts : .purchaseInvoices
            var lines: [SimJSON] = []
            var total: Decimal = 0
            for (index, line) in invoice.lines.enumerated() {
                let lineTotal = (line.quantity * line.unitCost).rounded(scale: 2)
                total += lineTotal
                lines.append(
                    .object(
                        SimJSONObject([
                            "LineNum": .int(index), "AccountCode": .string(line.lineObjectNumber),
                            "ItemDescription": .string(line.description), "Quantity": .decimal(line.quantity),
                            "UnitPrice": .decimal(line.unitCost), "LineTotal": .decimal(lineTotal),
                            "Currency": .string(
                                invoice.currencyCode.isEmpty ? data.localCurrency : invoice.currencyCode),
                            "LineStatus": .string("bost_Open"), "RemainingOpenQuantity": .decimal(line.quantity),
                        ])))
            }
            let numbers = data.takeNumbers(set)
            var document = SimJSONObject()
            document["DocEntry"] = .int(numbers.docEntry)
            document["DocNum"] = .int(numbers.docNum)
            document["DocType"] = .string("dDocument_Service")
            if set == .drafts { document["DocObjectCode"] = .string("oPurchaseInvoices") }
            document["DocDate"] = .string(invoice.invoiceDate)
            document["DocDueDate"] = .string(invoice.dueDate)
            document["TaxDate"] = .string(invoice.invoiceDate)
            document["CardCode"] = .string(invoice.vendorNumber)
            document["CardName"] = .string(invoice.vendorName)
            document["NumAtCard"] = .string(invoice.vendorInvoiceNumber)
            document["DocCurrency"] = .string(invoice.currencyCode.isEmpty ? data.localCurrency : invoice.currencyCode)
            document["DocTotal"] = .decimal(total)
            document["VatSum"] = .decimal(0)
            document["PaidToDate"] = .decimal(0)
            document["DocumentStatus"] = .string("bost_Open")
            document["Cancelled"] = .string("tNO")
            document["Comments"] = .string("Keyed by hand")
            document["CreateDate"] = .string(B1Clock.day(invoice.lastModified))
            document["UpdateDate"] = .string(B1Clock.day(invoice.lastModified))
            document["UpdateTime"] = .string(B1Clock.time(invoice.lastModified))
            document["DocumentLines"] = .array(lines)
            data[set].append(document)
        }
        return data
    }

    private static func addPurchaseOrders(
        _ tenant: DemoTenant, codes: [Int: [String: String]], to data: inout B1CompanyData
    ) {
        var seen = Set<String>()
        let fallbackAccount = "60100"
        for invoice in tenant.jaggaerInvoices {
            let header = invoice["header"]
            let cardCode = header?["supplier"]?["supplierNumber"]?.stringValue ?? ""
            let lines = invoice["lineList"]?["invoiceLine"]?.arrayValue ?? []
            let poLines = lines.compactMap { line -> (number: String, line: Int, json: SimJSON)? in
                guard let number = line["poNumber"]?.stringValue, !number.isEmpty,
                    let lineNumber = line["poLineNumber"]?.stringValue.flatMap({ Int($0) })
                else { return nil }
                return (number, lineNumber, line)
            }
            guard let poNumber = poLines.first?.number, !seen.contains(poNumber),
                let partner = data.businessPartner(cardCode)
            else { continue }
            seen.insert(poNumber)
            let currency = partner["Currency"]?.stringValue ?? data.localCurrency
            var total: Decimal = 0
            var documentLines: [SimJSON] = []
            for entry in poLines.sorted(by: { $0.line < $1.line }) where entry.number == poNumber {
                let line = entry.json
                let segments = DemoTenant.segments(of: line)
                let quantity = line["quantity"]?.decimalValue ?? 1
                let price = line["unitPrice"]?.decimalValue ?? 0
                let lineTotal = (quantity * price).rounded(scale: 2)
                total += lineTotal
                var account = segments["Account"] ?? fallbackAccount
                if data.account(account) == nil { account = fallbackAccount }
                var object = SimJSONObject([
                    "LineNum": .int(entry.line - 1),
                    "ItemDescription": .string(line["item"]?["description"]?.stringValue ?? ""),
                    "AccountCode": .string(account), "Quantity": .decimal(quantity), "UnitPrice": .decimal(price),
                    "LineTotal": .decimal(lineTotal), "Currency": .string(currency),
                    "RemainingOpenQuantity": .decimal(quantity), "LineStatus": .string("bost_Open"),
                ])
                for (segment, dimension, _) in segmentDimensions {
                    guard let value = segments[segment], let center = codes[dimension]?[value],
                        data.profitCenter(center) != nil
                    else { continue }
                    object[dimension == 1 ? "CostingCode" : "CostingCode\(dimension)"] = .string(center)
                }
                documentLines.append(.object(object))
            }
            let day = header?["invoiceDate"]?.stringValue.flatMap { B1Clock.parseDay($0) } ?? "2026-01-01"
            let orderDate = Timestamps.parseDay(day).map { B1Clock.day($0.addingTimeInterval(-14 * 86_400)) } ?? day
            let numbers = data.takeNumbers(.purchaseOrders)
            data.purchaseOrders.append(
                SimJSONObject([
                    "DocEntry": .int(numbers.docEntry), "DocNum": .int(numbers.docNum),
                    "DocType": .string("dDocument_Service"), "DocDate": .string(orderDate),
                    "DocDueDate": .string(day), "TaxDate": .string(orderDate), "CardCode": .string(cardCode),
                    "CardName": partner["CardName"] ?? .string(""), "NumAtCard": .string(poNumber),
                    "DocCurrency": .string(currency), "DocTotal": .decimal(total), "VatSum": .decimal(0),
                    "PaidToDate": .decimal(0), "DocumentStatus": .string("bost_Open"), "Cancelled": .string("tNO"),
                    "Comments": .string("JAGGAER PO \(poNumber)"), "U_JaggaerPO": .string(poNumber),
                    "CreateDate": .string(orderDate), "UpdateDate": .string(orderDate),
                    "UpdateTime": .string("09:00:00"), "DocumentLines": .array(documentLines),
                ]))
        }
    }
}
