import Foundation

/// The demo tenant as an Acumatica company, consistent with what the JAGGAER simulator emits (identity mapping,
/// as for Business Central):
/// - vendors: `VendorID` = JAGGAER `supplierNumber` (the same 40 vendors as BC; blocked `All` → `Hold`, blocked
///   `Payment` → `Hold Payments`);
/// - accounts: `AccountCD` = the `Account` segment values (posting accounts of the chart; BC's blocked and
///   non-direct-posting accounts are inactive, so the same invoices are refused);
/// - subaccounts: every combination of the `Fund`, `Financial_Unit` and `Program` segment values, as
///   `FUND-DEPARTMENT-PROGRAM` (e.g. `19900-ADM-10100`);
/// - branches: `1000` (the `Entity` segment value) and `2000`;
/// - purchase orders: one `Normal` order per JAGGAER PO number the invoices carry (`OrderNbr` = `poNumber`,
///   `LineNbr` = `poLineNumber`, quantity and unit cost of the invoice line), for vendors that exist;
/// - bills: the two invoices BC has "keyed by hand" (same vendor and vendor ref): one On Hold, one Open.
package struct AcumaticaDemo: Sendable {
    package var access: AcumaticaAccess
    /// Records by entity name.
    var records: [String: [AcuRecord]]

    /// How many records of an entity the company has.
    package func count(_ entity: String) -> Int { records[entity]?.count ?? 0 }

    /// Subaccount segments, in order: the JAGGAER segment name and the BC dimension code behind it.
    package static let subaccountSegments: [(segment: String, dimension: String)] = [
        ("Fund", "FUND"), ("Financial_Unit", "DEPARTMENT"), ("Program", "PROGRAM"),
    ]
    package static let tenantName = "CRONUS"
    package static let username = "mlc-integration"
}

extension DemoTenant {
    /// The Acumatica company and the credentials of its integration user, derived from this tenant (credentials
    /// from their own PRNG stream, so the other systems' data does not change).
    package var acumatica: AcumaticaDemo {
        var rng = SplitMix64(seed: seed ^ 0xAC05_A71C_A000_0001)
        func hex(_ count: Int) -> String {
            var text = ""
            while text.count < count { text += String(format: "%016llX", rng.next()) }
            return String(text.prefix(count))
        }
        let guid = "\(hex(8))-\(hex(4))-\(hex(4))-\(hex(4))-\(hex(12))"
        let access = AcumaticaAccess(
            tenant: AcumaticaDemo.tenantName, username: AcumaticaDemo.username, password: "acu-" + hex(20),
            clientId: "\(guid)@\(AcumaticaDemo.tenantName)", clientSecret: "acu~" + hex(32).lowercased(),
            branches: ["1000", "2000"])
        var rowRng = SplitMix64(seed: seed ^ 0xAC05_A71C_A000_0002)
        func uuid() -> String {
            let a = rowRng.next()
            let b = rowRng.next()
            let text = String(format: "%016llx%016llx", a, b)
            let chars = Array(text)
            return String(chars[0..<8]) + "-" + String(chars[8..<12]) + "-4" + String(chars[13..<16]) + "-a"
                + String(chars[17..<20]) + "-" + String(chars[20..<32])
        }
        let company = businessCentral
        let created = AcuTime.format(company.company.createdAt)
        var data: [String: [AcuRecord]] = [:]

        // Vendors.
        for vendor in company.vendors {
            var record = AcuRecord(id: uuid())
            record["VendorID"] = .string(vendor.number)
            record["VendorName"] = .string(vendor.displayName)
            record["LegalName"] = .string(vendor.displayName)
            let status: String
            switch vendor.blocked {
            case "All": status = "Hold"
            case "Payment": status = "Hold Payments"
            default: status = "Active"
            }
            record["Status"] = .string(status)
            record["VendorClass"] = .string("DEFAULT")
            record["Terms"] = .string("30D")
            record["CurrencyID"] = .string(vendor.currencyCode.isEmpty ? "USD" : vendor.currencyCode)
            if !vendor.taxRegistrationNumber.isEmpty {
                record["TaxRegistrationID"] = .string(vendor.taxRegistrationNumber)
            }
            record["PaymentMethod"] = .string("CHECK")
            record["CreatedDateTime"] = .string(created)
            record["LastModifiedDateTime"] = .string(AcuTime.format(vendor.lastModified))
            data["Vendor", default: []].append(record)
        }

        // Accounts: posting accounts only (Acumatica has no heading or total accounts).
        var accountID = 1_000
        for account in company.accounts where account.accountType == "Posting" {
            var record = AcuRecord(id: uuid())
            record["AccountCD"] = .string(account.number)
            record["AccountID"] = .int(accountID)
            accountID += 1
            record["Description"] = .string(account.displayName)
            let type: String
            switch account.category {
            case "Assets": type = "Asset"
            case "Liabilities", "Equity": type = "Liability"
            case "Income": type = "Income"
            default: type = "Expense"
            }
            record["Type"] = .string(type)
            record["Active"] = .bool(!account.blocked && account.directPosting)
            record["AccountClass"] = .string(type.uppercased())
            record["CashAccount"] = .bool(account.subCategory == "Cash")
            record["CurrencyID"] = .string("USD")
            record["PostOption"] = .string("Summary")
            record["LastModifiedDateTime"] = .string(AcuTime.format(account.lastModified))
            data["Account", default: []].append(record)
        }

        // Subaccounts: every combination of the segment values.
        let segmentValues: [[(code: String, name: String)]] = AcumaticaDemo.subaccountSegments.map { segment in
            guard let dimension = company.dimension(code: segment.dimension) else { return [] }
            return company.dimensionValues.filter { $0.dimensionId == dimension.id }.map {
                (code: $0.code, name: $0.displayName)
            }
        }
        var combinations: [[(code: String, name: String)]] = [[]]
        for values in segmentValues {
            combinations = combinations.flatMap { prefix in values.map { prefix + [$0] } }
        }
        for (index, combination) in combinations.enumerated() where !combination.isEmpty {
            var record = AcuRecord(id: uuid())
            record["SubaccountCD"] = .string(combination.map(\.code).joined(separator: "-"))
            record["SubaccountID"] = .int(index + 1)
            record["Description"] = .string(combination.map(\.name).joined(separator: " / "))
            record["Active"] = .bool(true)
            record["LastModifiedDateTime"] = .string(created)
            data["Subaccount", default: []].append(record)
        }

        // Branches.
        for (branchID, name) in [("1000", DemoTenant.companyName), ("2000", "CRONUS Canada, Inc.")] {
            var record = AcuRecord(id: uuid())
            record["BranchID"] = .string(branchID)
            record["BranchName"] = .string(name)
            record["Active"] = .bool(true)
            record["LastModifiedDateTime"] = .string(created)
            data["Branch", default: []].append(record)
        }

        // Purchase orders for the JAGGAER PO numbers.
        let vendorIDs = Set(company.vendors.map(\.number))
        let accountCDs = Set((data["Account"] ?? []).compactMap { $0.string("AccountCD") })
        let subaccountCDs = Set((data["Subaccount"] ?? []).compactMap { $0.string("SubaccountCD") })
        var orders: [String: AcuRecord] = [:]
        var orderNumbers: [String] = []
        for invoice in jaggaerInvoices {
            let header = invoice["header"]
            guard let vendor = header?["supplier"]?["supplierNumber"]?.stringValue, vendorIDs.contains(vendor) else {
                continue
            }
            let invoiceDate = header?["invoiceDate"]?.stringValue.flatMap(Timestamps.parseInstant)
            for line in invoice["lineList"]?["invoiceLine"]?.arrayValue ?? [] {
                guard let number = line["poNumber"]?.stringValue, let lineText = line["poLineNumber"]?.stringValue,
                    let lineNbr = Int(lineText)
                else { continue }
                var order: AcuRecord
                if let existing = orders[number] {
                    order = existing
                } else {
                    order = AcuRecord(id: uuid())
                    order["OrderType"] = .string("Normal")
                    order["OrderNbr"] = .string(number)
                    order["VendorID"] = .string(vendor)
                    order["Status"] = .string("Open")
                    order["Hold"] = .bool(false)
                    let date = (invoiceDate ?? DemoTenant.defaultReferenceDate).addingTimeInterval(-14 * 86_400)
                    order["Date"] = .string(AcuTime.day(date))
                    order["CurrencyID"] = .string(header?["total"]?["currency"]?.stringValue ?? "USD")
                    order["BranchID"] = .string("1000")
                    order["Description"] = .string("JAGGAER purchase order \(number)")
                    order["LastModifiedDateTime"] = .string(AcuTime.format(date))
                    orderNumbers.append(number)
                }
                var lines = order.details["Details"] ?? []
                guard !lines.contains(where: { $0["LineNbr"]?.intValue == lineNbr }) else { continue }
                let segments = DemoTenant.segments(of: line)
                let quantity = line["quantity"]?.decimalValue ?? 1
                let cost = line["unitPrice"]?.decimalValue ?? 0
                var detail = AcuRecord(id: uuid())
                detail["LineNbr"] = .int(lineNbr)
                detail["LineType"] = .string("Non-Stock")
                detail["LineDescription"] = line["item"]?["description"]
                if let account = segments["Account"], accountCDs.contains(account) {
                    detail["Account"] = .string(account)
                }
                let subaccount = AcumaticaDemo.subaccountSegments.compactMap { segments[$0.segment] }.joined(
                    separator: "-")
                if subaccountCDs.contains(subaccount) { detail["Subaccount"] = .string(subaccount) }
                detail["Branch"] = .string("1000")
                detail["UOM"] = line["item"]?["unitOfMeasure"]?["dimension"]
                detail["OrderQty"] = .decimal(quantity)
                detail["UnitCost"] = .decimal(cost)
                detail["ExtendedCost"] = .decimal((quantity * cost).rounded(scale: 2))
                detail["BilledQty"] = .decimal(0)
                detail["OpenQty"] = .decimal(quantity)
                lines.append(detail)
                order.details["Details"] = lines.sorted {
                    ($0["LineNbr"]?.intValue ?? 0) < ($1["LineNbr"]?.intValue ?? 0)
                }
                order["OrderTotal"] = .decimal(
                    (order.details["Details"] ?? []).reduce(Decimal(0)) { $0 + ($1.decimal("ExtendedCost") ?? 0) })
                orders[number] = order
            }
        }
        data["PurchaseOrder"] = orderNumbers.compactMap { orders[$0] }

        // The hand-keyed bills.
        for (index, invoice) in company.purchaseInvoices.enumerated() {
            var bill = AcuRecord(id: uuid())
            bill["Type"] = .string("Bill")
            bill["ReferenceNbr"] = .string(String(format: "%06d", index + 1))
            bill["Vendor"] = .string(invoice.vendorNumber)
            bill["VendorRef"] = .string(invoice.vendorInvoiceNumber)
            let date = Timestamps.parseDay(invoice.invoiceDate) ?? DemoTenant.defaultReferenceDate
            bill["Date"] = .string(AcuTime.day(date))
            bill["DueDate"] = .string(AcuTime.day(Timestamps.parseDay(invoice.dueDate) ?? date))
            let day = Timestamps.day(date).split(separator: "-")
            bill["PostPeriod"] = .string(String(day[1]) + String(day[0]))
            let posted = invoice.status != "Draft"
            bill["Status"] = .string(posted ? "Open" : "On Hold")
            bill["Hold"] = .bool(!posted)
            bill["ApprovedForPayment"] = .bool(false)
            bill["CurrencyID"] = .string(invoice.currencyCode.isEmpty ? "USD" : invoice.currencyCode)
            bill["BranchID"] = .string("1000")
            bill["Terms"] = .string("30D")
            bill["Description"] = .string("Keyed by hand")
            var lines: [AcuRecord] = []
            for line in invoice.lines {
                var detail = AcuRecord(id: uuid())
                detail["Branch"] = .string("1000")
                detail["TransactionDescription"] = .string(line.description)
                detail["Qty"] = .decimal(line.quantity)
                detail["UnitCost"] = .decimal(line.unitCost)
                let amount = (line.quantity * line.unitCost).rounded(scale: 2)
                detail["ExtendedCost"] = .decimal(amount)
                detail["Amount"] = .decimal(amount)
                detail["Account"] = .string(line.lineObjectNumber)
                lines.append(detail)
            }
            bill.details["Details"] = lines
            let amount = lines.reduce(Decimal(0)) { $0 + ($1.decimal("Amount") ?? 0) }
            bill["Amount"] = .decimal(amount)
            bill["Balance"] = .decimal(amount)
            bill["TaxTotal"] = .decimal(0)
            bill["LastModifiedDateTime"] = .string(AcuTime.format(invoice.lastModified))
            data["Bill", default: []].append(bill)
        }
        return AcumaticaDemo(access: access, records: data)
    }
}

extension AcumaticaSimulator {
    /// Replaces the tenant's data with the demo company (credentials stay as configured).
    package func seed(_ demo: AcumaticaDemo) {
        store.seed(demo.records)
    }

    /// Adds `count` active vendors `\(prefix)00000`, `\(prefix)00001`, … (continuing after vendors already added
    /// with the same prefix), each modified one millisecond after the previous one.
    /// - Returns: their `VendorID`s.
    @discardableResult
    package func addVendors(count: Int, prefix: String = "BULK") -> [String] {
        let now = clock.now()
        let offset = store.records("Vendor").filter { $0.string("VendorID")?.hasPrefix(prefix) == true }.count
        let records = (0..<max(count, 0)).map { index -> AcuRecord in
            var record = AcuRecord()
            record["VendorID"] = .string(prefix + String(format: "%05d", offset + index))
            record["VendorName"] = .string("Bulk vendor \(offset + index)")
            record["Status"] = .string("Active")
            record["CurrencyID"] = .string("USD")
            record["CreatedDateTime"] = .string(AcuTime.format(now))
            record["LastModifiedDateTime"] = .string(AcuTime.format(now.addingTimeInterval(Double(index) / 1000)))
            return record
        }
        store.append("Vendor", records)
        return records.compactMap { $0.string("VendorID") }
    }
}
