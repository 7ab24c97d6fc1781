import Foundation

/// Builds a ``DemoTenant`` from a seed. All randomness comes from one SplitMix64 stream, consumed in a fixed
/// order, so the output depends only on the seed, the invoice count and the reference date.
struct DemoGenerator {
    var rng: SplitMix64
    let referenceDate: Date

    let seed: UInt64

    init(seed: UInt64, referenceDate: Date) {
        self.seed = seed
        self.rng = SplitMix64(seed: seed)
        self.referenceDate = referenceDate
    }

    // MARK: Master data (fixed lists; ids from the PRNG)

    struct SupplierSpec {
        var name: String
        var number: String
        var city: String
        var state: String
        var postalCode: String
        var street: String
        var currency: String = "USD"
        var blocked = " "
        var inBusinessCentral = true
        var invoicePrefix: String
    }

    static let supplierNames = [
        "10x genomics, inc.", "Fisher Scientific Company LLC", "Grainger Industrial Supply",
        "Staples Business Advantage",
        "Dell Marketing L.P.", "CDW Government LLC", "VWR International", "Thermo Electron North America",
        "Office Depot, Inc.", "Bio-Rad Laboratories", "Sigma-Aldrich Inc.", "Airgas USA LLC",
        "Cintas Corporation", "FedEx Freight", "United Parcel Service", "Amazon Business",
        "Apple Inc.", "Hewlett Packard Enterprise", "Xerox Corporation", "McMaster-Carr Supply",
        "Corning Incorporated", "Eppendorf North America", "Beckman Coulter, Inc.", "Agilent Technologies",
        "Waters Technologies Corp.", "Illumina, Inc.", "Qiagen LLC", "Promega Corporation",
        "O'Neil Office Supply, LLC", "Pacific Gas and Electric", "AT&T Mobility", "Verizon Wireless",
        "Steelcase Inc.", "Herman Miller, Inc.", "Johnson Controls", "Siemens Healthineers",
        "Northwind Traders", "Contoso Consulting Group",
    ]
    static let cities: [(String, String, String)] = [
        ("PLEASANTON", "CA", "94588"), ("Pittsburgh", "PA", "15275"), ("Lake Forest", "IL", "60045"),
        ("Framingham", "MA", "01702"), ("Round Rock", "TX", "78682"), ("Vernon Hills", "IL", "60061"),
        ("Radnor", "PA", "19087"), ("Atlanta", "GA", "30303"), ("Seattle", "WA", "98101"),
        ("Hercules", "CA", "94547"), ("St. Louis", "MO", "63103"), ("Boca Raton", "FL", "33496"),
    ]
    static let streets = [
        "6230 STONERIDGE MALL RD", "300 Industry Drive", "100 Grainger Pkwy", "500 Staples Dr", "1 Dell Way",
        "200 N Milwaukee Ave", "100 Matsonford Rd", "81 Wyman St", "6600 N Military Trl", "1000 Alfred Nobel Dr",
    ]

    /// G/L accounts: (number, name, category, subCategory, type, blocked, directPosting).
    static let chartOfAccounts: [(String, String, String, String, String, Bool, Bool)] = [
        ("10000", "BALANCE SHEET", "Assets", "", "Heading", false, false),
        ("10100", "Checking account", "Assets", "Cash", "Posting", false, true),
        ("13100", "Prepaid Expenses", "Assets", "Prepaid Expenses", "Posting", false, true),
        ("20000", "LIABILITIES", "Liabilities", "", "Heading", false, false),
        ("20100", "Accounts Payable", "Liabilities", "Current Liabilities", "Posting", false, false),
        ("22500", "Use Tax Payable", "Liabilities", "Current Liabilities", "Posting", false, true),
        ("29999", "Total Liabilities", "Liabilities", "", "Total", false, false),
        ("54800", "Purchase Discounts", "Cost of Goods Sold", "Discounts", "Posting", false, true),
        ("60000", "OPERATING EXPENSES", "Expense", "", "Heading", false, false),
        ("60100", "Office Supplies", "Expense", "Office Expense", "Posting", false, true),
        ("60200", "Computer Equipment", "Expense", "Office Expense", "Posting", false, true),
        ("60300", "Software Subscriptions", "Expense", "Office Expense", "Posting", false, true),
        ("60400", "Laboratory Supplies", "Expense", "Research Expense", "Posting", false, true),
        ("60500", "Research Services", "Expense", "Research Expense", "Posting", false, true),
        ("60900", "Furniture and Fixtures (closed)", "Expense", "Office Expense", "Posting", true, true),
        ("61100", "Travel", "Expense", "Travel Expense", "Posting", false, true),
        ("61300", "Professional Fees", "Expense", "Professional Services", "Posting", false, true),
        ("61400", "Consulting Services", "Expense", "Professional Services", "Posting", false, true),
        ("61500", "Repairs and Maintenance", "Expense", "Facilities", "Posting", false, true),
        ("62100", "Utilities", "Expense", "Facilities", "Posting", false, true),
        ("62200", "Telephone and Internet", "Expense", "Facilities", "Posting", false, true),
        ("62300", "Freight and Postage", "Expense", "Shipping", "Posting", false, true),
        ("63100", "Rent", "Expense", "Facilities", "Posting", false, true),
        ("64100", "Training", "Expense", "Personnel", "Posting", false, true),
        ("69999", "Total Operating Expenses", "Expense", "", "Total", false, false),
    ]

    /// Accounts invoice lines use, with item descriptions.
    static let catalog: [(account: String, items: [String], uom: String)] = [
        (
            "60100",
            ["Copy paper, letter, 10 reams", "Toner cartridge, black", "Desk organizer set", "Binder clips, assorted"],
            "EA"
        ),
        (
            "60200",
            ["27-inch monitor", "Docking station USB-C", "Laptop 14-inch, 16 GB", "Wireless keyboard and mouse"], "EA"
        ),
        ("60300", ["Annual analytics license", "Cloud storage, 1 TB, 12 months", "Reference manager seats"], "EA"),
        (
            "60400",
            [
                "Pipette tips 200 uL, rack of 96", "Nitrile gloves, box of 100", "Centrifuge tubes 50 mL",
                "Agarose, 500 g",
            ], "BOX"
        ),
        ("60500", ["Sequencing run, 2x150", "Sample prep service", "Mass spectrometry analysis"], "EA"),
        ("61300", ["Legal review, contract", "Audit fieldwork"], "HOUR"),
        ("61400", ["Process improvement workshop", "Data migration consulting"], "HOUR"),
        ("61500", ["HVAC preventive maintenance", "Freezer repair", "Fume hood certification"], "EA"),
        ("62200", ["Mobile service, monthly", "Fiber internet, monthly"], "EA"),
        ("62300", ["Overnight courier", "Freight, pallet"], "EA"),
        ("64100", ["Safety training course", "Conference registration"], "EA"),
    ]

    static let funds: [(String, String)] = [
        ("19900", "General Funds"), ("14306", "Leadership Program"), ("20010", "Research Grants"),
        ("30500", "Endowment Income"), ("40100", "Capital Projects"), ("50200", "Auxiliary Enterprises"),
    ]
    static let departments: [(String, String)] = [
        ("ADM", "Administration"), ("SALES", "Sales"), ("PROD", "Production"), ("RND", "Research and Development"),
        ("IT", "Information Technology"), ("FIN", "Finance"), ("HR", "Human Resources"), ("FAC", "Facilities"),
    ]
    static let programs: [(String, String)] = [
        ("10100", "Instruction"), ("20100", "Research"), ("30100", "Public Service"), ("40100", "Academic Support"),
        ("60100", "Institutional Support"), ("70100", "Operations and Maintenance"),
    ]

    mutating func uuid() -> String {
        let a = rng.next()
        let b = rng.next()
        let hex = String(format: "%016llx%016llx", a, b)
        let chars = Array(hex)
        var text = String(chars[0..<8]) + "-" + String(chars[8..<12]) + "-4" + String(chars[13..<16]) + "-"
        let variant = ["8", "9", "a", "b"][Int(b >> 62)]
        text += variant + String(chars[17..<20]) + "-" + String(chars[20..<32])
        return text
    }

    mutating func token(_ length: Int) -> String {
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")
        return String((0..<length).map { _ in alphabet[rng.int(in: 0...(alphabet.count - 1))] })
    }

    /// Removes and returns a random element of `pool`.
    mutating func take(from pool: inout [Int]) -> Int? {
        guard !pool.isEmpty else { return nil }
        return pool.remove(at: rng.int(in: 0...(pool.count - 1)))
    }

    mutating func money(_ range: ClosedRange<Int>) -> Decimal {
        Decimal(rng.int(in: range)) / 100
    }

    // MARK: Generated invoice model

    struct Line {
        var lineId: Int
        var description: String
        var uom: String
        var quantity: Decimal
        var unitPrice: Decimal
        var taxable: Bool
        var tax: Decimal
        var account: String
        var fund: String
        var department: String
        var program: String
        var project: String
        var poLine: String?
    }

    struct Invoice {
        var id: Int
        var messageId: String
        var supplier: Int
        var supplierInvoiceNumber: String
        var invoiceType = "Invoice"
        var workflowStatus = "Completed"
        var isPO: Bool
        var poNumber: String
        var source: String
        var lastUpdate: Date
        var invoiceDate: Date
        var shipping: Decimal = 0
        var handling: Decimal = 0
        var discount: Decimal = 0
        var lines: [Line]

        var subtotal: Decimal { lines.reduce(0) { $0 + $1.quantity * $1.unitPrice } }
        var tax: Decimal { lines.reduce(0) { $0 + $1.tax } }
        var total: Decimal { subtotal + tax + 0 + shipping + handling - discount }
        var approved: Bool { workflowStatus == "Completed" }
        var isCreditMemo: Bool { invoiceType.lowercased() == "credit memo" }
    }

    // MARK: Build

    mutating func build(invoiceCount: Int) -> DemoTenant {
        let created = referenceDate.addingTimeInterval(-400 * 86_400)
        let credentials = DemoTenant.Credentials(
            jaggaerClientId: "mlc-jaggaer-integration",
            jaggaerClientSecret: "jg-" + token(24),
            entraTenantId: uuid(),
            entraClientId: uuid(),
            entraClientSecret: "sim~" + token(32),
            businessCentralEnvironment: DemoTenant.environmentName,
            companyId: DemoTenant.companyId,
            companyName: DemoTenant.companyName)

        // Suppliers: 36 with a BC vendor of the same number (one blocked All, one blocked Payment, one in CAD,
        // one in EUR), 2 without one.
        var suppliers: [SupplierSpec] = []
        var usedNumbers = Set<String>(["279765"])
        for (index, name) in Self.supplierNames.enumerated() {
            var number = "279765"
            if index > 0 {
                repeat { number = String(rng.int(in: 100_000...999_999)) } while usedNumbers.contains(number)
                usedNumbers.insert(number)
            }
            let city = Self.cities[index % Self.cities.count]
            let prefixes = ["INV-", "", "A-", "SI", "2026-", "INV"]
            var spec = SupplierSpec(
                name: name, number: number, city: city.0, state: city.1, postalCode: city.2,
                street: Self.streets[index % Self.streets.count], invoicePrefix: prefixes[index % prefixes.count])
            switch index {
            case 33: spec.blocked = "All"
            case 34: spec.blocked = "Payment"
            case 4: spec.currency = "CAD"
            case 11: spec.currency = "EUR"
            case 36, 37: spec.inBusinessCentral = false
            default: break
            }
            suppliers.append(spec)
        }
        let apostropheSupplier = Self.supplierNames.firstIndex { $0.hasPrefix("O'Neil") } ?? 0
        let normalSuppliers = suppliers.indices.filter {
            suppliers[$0].inBusinessCentral && suppliers[$0].blocked != "All"
        }

        // Business Central master data.
        var company = BCCompanyData(
            company: BCCompany(id: DemoTenant.companyId, name: DemoTenant.companyName, createdAt: created))
        for spec in suppliers where spec.inBusinessCentral {
            var vendor = BCVendor(id: uuid(), number: spec.number, displayName: spec.name, lastModified: created)
            vendor.addressLine1 = spec.street
            vendor.city = spec.city
            vendor.state = spec.state
            vendor.postalCode = spec.postalCode
            vendor.phoneNumber = "555-01\(String(format: "%02d", rng.int(in: 0...99)))"
            vendor.email = "ap@" + spec.name.lowercased().filter { $0.isLetter || $0.isNumber }.prefix(12) + ".example"
            vendor.currencyCode = spec.currency == "USD" ? "" : spec.currency
            vendor.blocked = spec.blocked
            vendor.taxLiable = rng.chance(0.3)
            // The generator's random stream stays as it was (one id drawn here before terms were modelled).
            _ = uuid()
            let terms = company.paymentTerms.filter { ["30 DAYS", "1M(8D)"].contains($0.code) }
            vendor.paymentTermsId = terms[company.vendors.count % terms.count].id
            company.vendors.append(vendor)
        }
        for (index, name) in ["Fabrikam Facilities", "Adatum Corporation", "Litware Logistics", "Tailspin Toys"]
            .enumerated()
        {
            var vendor = BCVendor(id: uuid(), number: "V9000\(index + 1)", displayName: name, lastModified: created)
            vendor.city = "Atlanta"
            vendor.state = "GA"
            company.vendors.append(vendor)
        }
        for row in Self.chartOfAccounts {
            var account = BCAccount(
                id: uuid(), number: row.0, displayName: row.1, category: row.2, subCategory: row.3,
                lastModified: created)
            account.accountType = row.4
            account.blocked = row.5
            account.directPosting = row.6
            company.accounts.append(account)
        }
        for (code, name, values) in [
            ("FUND", "Fund", Self.funds), ("DEPARTMENT", "Department", Self.departments),
            ("PROGRAM", "Program", Self.programs),
        ] {
            let dimension = BCDimension(id: uuid(), code: code, displayName: name, lastModified: created)
            company.dimensions.append(dimension)
            for (valueCode, valueName) in values {
                company.dimensionValues.append(
                    BCDimensionValue(
                        id: uuid(), code: valueCode, dimensionId: dimension.id, displayName: valueName,
                        lastModified: created))
            }
        }

        // JAGGAER invoices, all clean at first.
        var invoices: [Invoice] = []
        var perSupplierCounter = [Int](repeating: 0, count: suppliers.count)
        var nextLineId = 8_900_001
        var nextPO = 120
        for index in 0..<invoiceCount {
            let supplier = rng.pick(normalSuppliers)
            perSupplierCounter[supplier] += 1
            let spec = suppliers[supplier]
            let supplierInvoiceNumber = spec.invoicePrefix + String(1000 + perSupplierCounter[supplier] * 7 + supplier)
            var lastUpdate = referenceDate.addingTimeInterval(-Double(rng.int(in: 60_000...(14 * 86_400_000))) / 1000)
            if !invoices.isEmpty, rng.chance(0.08) {
                lastUpdate = invoices[rng.int(in: 0...(invoices.count - 1))].lastUpdate
            }
            lastUpdate = Date(timeIntervalSince1970: (lastUpdate.timeIntervalSince1970 * 1000).rounded(.down) / 1000)
            let invoiceDate = lastUpdate.addingTimeInterval(-Double(rng.int(in: 0...6)) * 86_400)
            let isPO = rng.chance(0.6)
            if isPO { nextPO += 1 }
            let statusRoll = rng.unit()
            let status = statusRoll < 0.9 ? "Completed" : statusRoll < 0.96 ? "In Progress" : "Pending Approval"
            let taxRate: Decimal = rng.chance(0.5) ? Decimal(725) / 10_000 : Decimal(95) / 1_000
            var lines: [Line] = []
            let lineCount = rng.int(in: 1...6)
            for lineNumber in 1...lineCount {
                let entry = rng.pick(Self.catalog)
                var quantity = Decimal(rng.int(in: 1...12))
                var unitPrice = money(500...250_000)
                if rng.chance(0.1) {
                    quantity += Decimal(5) / 10
                    unitPrice = Decimal(rng.int(in: 250...50_000)) * 2 / 100
                }
                let taxable = rng.chance(0.6)
                let tax = taxable ? (quantity * unitPrice * taxRate).rounded(scale: 2) : 0
                lines.append(
                    Line(
                        lineId: nextLineId, description: rng.pick(entry.items), uom: entry.uom, quantity: quantity,
                        unitPrice: unitPrice, taxable: taxable, tax: tax, account: entry.account,
                        fund: rng.pick(Self.funds).0, department: rng.pick(Self.departments).0,
                        program: rng.pick(Self.programs).0, project: String(format: "%08d", rng.int(in: 0...40)),
                        poLine: isPO ? String(lineNumber) : nil))
                nextLineId += 1
            }
            var invoice = Invoice(
                id: 2_600_001 + index, messageId: uuid(), supplier: supplier,
                supplierInvoiceNumber: supplierInvoiceNumber,
                isPO: isPO, poNumber: String(format: "%010d", nextPO), source: rng.chance(0.7) ? "Manual" : "Automated",
                lastUpdate: lastUpdate, invoiceDate: invoiceDate, lines: lines)
            invoice.workflowStatus = status
            if rng.chance(0.2) { invoice.shipping = money(500...15_000) }
            if rng.chance(0.05) { invoice.handling = 10 }
            if rng.chance(0.05) { invoice.discount = (invoice.subtotal * 2 / 100).rounded(scale: 2) }
            invoices.append(invoice)
        }

        // Deliberate problems, each on its own approved, otherwise clean invoice.
        var injected: [String: [Int]] = [:]
        var available = invoices.indices.filter { invoices[$0].approved }
        func record(_ key: String, _ index: Int) { injected[key, default: []].append(invoices[index].id) }
        let blockedVendorSupplier = suppliers.firstIndex { $0.blocked == "All" } ?? 0
        let unmappedSuppliers = suppliers.indices.filter { !suppliers[$0].inBusinessCentral }
        let blockedAccount = Self.chartOfAccounts.first { $0.5 }?.0 ?? "60900"
        for round in 0..<2 {
            if let i = take(from: &available) {
                invoices[i].invoiceType = "Credit memo"
                record("type.unsupported", i)
            }
            if let i = take(from: &available) {
                let supplier = unmappedSuppliers[round % unmappedSuppliers.count]
                invoices[i].supplier = supplier
                invoices[i].supplierInvoiceNumber = suppliers[supplier].invoicePrefix + "77\(round)1"
                record("vendor.unmapped", i)
            }
            if let i = take(from: &available) {
                invoices[i].supplier = blockedVendorSupplier
                invoices[i].supplierInvoiceNumber = "BLK-\(round + 1)\(invoices[i].id % 1000)"
                record("vendor.blocked", i)
            }
            if let i = take(from: &available) {
                invoices[i].supplierInvoiceNumber =
                    "INV-2026-11-CONSOLIDATED-STATEMENT-00\(round)\(invoices[i].id % 100)"
                record("invoice.number_too_long", i)
            }
            if let i = take(from: &available) {
                invoices[i].lines[invoices[i].lines.count - 1].account = round == 0 ? "67100" : "100000"
                record("account.unmapped", i)
            }
            if let i = take(from: &available) {
                invoices[i].lines[0].account = blockedAccount
                record("account.blocked", i)
            }
            if let i = take(from: &available) {
                invoices[i].lines[0].fund = round == 0 ? "99999" : "14307"
                record("dimension.unmapped", i)
            }
        }
        if let i = take(from: &available) {
            invoices[i].supplier = apostropheSupplier
            invoices[i].supplierInvoiceNumber = "O'NEIL-2291"
            record("apostrophe", i)
        }
        if let i = take(from: &available) {
            invoices[i].supplierInvoiceNumber = "x' or 1 eq 1"
            record("injection", i)
        }
        var handKeyed: [Int] = []
        for _ in 0..<2 {
            if let i = take(from: &available) {
                handKeyed.append(i)
                record("alreadyInERP", i)
            }
        }

        // The clerk's hand-keyed BC invoices: same vendor and vendor invoice number; one draft, one posted.
        for (position, index) in handKeyed.enumerated() {
            let source = invoices[index]
            let spec = suppliers[source.supplier]
            guard let vendor = company.vendors.first(where: { $0.number == spec.number }) else { continue }
            let day = Timestamps.day(source.invoiceDate)
            var document = BCPurchaseInvoice(
                id: uuid(), number: String(company.nextInvoiceNumber), invoiceDate: day, postingDate: day,
                dueDate: Timestamps.day(source.invoiceDate.addingTimeInterval(30 * 86_400)), vendorId: vendor.id,
                vendorNumber: vendor.number, vendorName: vendor.displayName, lastModified: source.lastUpdate)
            company.nextInvoiceNumber += 1
            document.vendorInvoiceNumber = source.supplierInvoiceNumber
            document.currencyCode = vendor.currencyCode
            document.buyFrom.line1 = vendor.addressLine1
            document.buyFrom.city = vendor.city
            document.buyFrom.state = vendor.state
            document.buyFrom.postCode = vendor.postalCode
            for (lineIndex, line) in source.lines.enumerated() {
                guard let account = company.accounts.first(where: { $0.number == line.account }) else { continue }
                var bcLine = BCPurchaseInvoiceLine(
                    id: uuid(), documentId: document.id, sequence: (lineIndex + 1) * 10_000)
                bcLine.lineType = "Account"
                bcLine.accountId = account.id
                bcLine.lineObjectNumber = account.number
                bcLine.description = line.description
                bcLine.quantity = line.quantity
                bcLine.unitCost = line.unitPrice
                document.lines.append(bcLine)
            }
            if position == 1 {
                document.status = "Open"
                document.number = String(company.nextPostedNumber)
                company.nextPostedNumber += 1
            }
            company.purchaseInvoices.append(document)
        }

        // Business Central purchase orders: one per JAGGAER PO number, for the invoice's vendor, except two
        // deliberate problems for the ERPs that match POs (BC): one PO BC does not have, one of another vendor.
        var poUnknown: Int?
        var poOtherVendor: Int?
        var withPO = available.filter { invoices[$0].isPO }
        if let i = take(from: &withPO) {
            poUnknown = i
            record("po.unknown", i)
        }
        if let i = take(from: &withPO) {
            poOtherVendor = i
            record("po.vendor_mismatch", i)
        }
        let otherVendor = company.vendors.first { $0.number == "V90001" }
        // A supplier BC does not know by its JAGGAER number is a BC vendor under another number: its POs are that
        // vendor's, so the vendor mapping that clears its review also matches its PO.
        let standIn = company.vendors.first {
            $0.blocked.trimmingCharacters(in: .whitespaces).isEmpty && $0.number != otherVendor?.number
        }
        for (index, invoice) in invoices.enumerated() where invoice.isPO && index != poUnknown {
            let spec = suppliers[invoice.supplier]
            guard var vendor = company.vendors.first(where: { $0.number == spec.number }) ?? standIn else { continue }
            if index == poOtherVendor, let otherVendor { vendor = otherVendor }
            var order = BCPurchaseOrder(
                id: uuid(), number: invoice.poNumber,
                orderDate: Timestamps.day(invoice.invoiceDate.addingTimeInterval(-14 * 86_400)), vendorId: vendor.id,
                vendorNumber: vendor.number, vendorName: vendor.displayName, lastModified: created)
            order.currencyCode = vendor.currencyCode
            order.totalAmountExcludingTax = invoice.subtotal
            company.purchaseOrders.append(order)
        }

        let json = invoices.map { render($0, suppliers: suppliers) }
        var expectations: [Int: DemoTenant.Outcome] = [:]
        for document in json {
            if let id = document["header"]?["invoiceId"]?.intValue {
                expectations[id] = DemoTenant.expectedOutcome(of: document, in: company, matchesPurchaseOrders: true)
            }
        }
        return DemoTenant(
            seed: seed, credentials: credentials, jaggaerInvoices: json, businessCentral: company,
            expectations: expectations, injected: injected)
    }

    // MARK: Rendering on the sample's shape

    func render(_ invoice: Invoice, suppliers: [SupplierSpec]) -> SimJSON {
        let sample = JaggaerSampleInvoice.json
        guard var header = sample["header"]?.objectValue,
            let lineTemplate = sample["lineList"]?["invoiceLine"]?.arrayValue?.first?.objectValue
        else {
            preconditionFailure("the embedded sample has a header and a line")  // checked by a test
        }
        let spec = suppliers[invoice.supplier]
        let currency = spec.currency
        header["originalRequestMessageId"] = .string(invoice.messageId)
        header["invoiceId"] = .int(invoice.id)
        header["lastUpdate"] = .string(Timestamps.millis(invoice.lastUpdate))
        header["invoiceName"] = .string("\(Timestamps.day(invoice.invoiceDate)) buyer@example.edu \(invoice.id % 100)")
        header["invoiceNumber"] = .string("I\(invoice.id - 2_500_000)")
        header["originalInvoiceNumber"] = .string("I\(invoice.id - 2_500_000)")
        header["invoiceType"] = .string(invoice.invoiceType)
        header["invoiceLineType"] = .string(invoice.isPO ? "PO" : "Non-PO")
        header["invoiceSource"] = .string(invoice.source)
        header["invoiceDate"] = .string(Timestamps.midnight(invoice.invoiceDate))
        header["invoiceCreateDate"] = .string(Timestamps.midnight(invoice.invoiceDate))
        header["dueDate"] = .string(Timestamps.midnight(invoice.invoiceDate.addingTimeInterval(30 * 86_400)))
        header["accountingDate"] = .string(Timestamps.midnight(invoice.invoiceDate))
        var supplier = header["supplier"]?.objectValue ?? SimJSONObject()
        supplier["id"] = .int(1_003_837_000 + invoice.supplier)
        supplier["name"] = .string(spec.name)
        supplier["supplierNumber"] = .string(spec.number)
        supplier["contactInfoList"] = .object(
            SimJSONObject([
                "contactInfo": .array([
                    .object(
                        SimJSONObject([
                            "type": .string("main"),
                            "address": .object(
                                SimJSONObject([
                                    "addressLineList": .object(
                                        SimJSONObject([
                                            "addressLine": .array([
                                                .object(
                                                    SimJSONObject([
                                                        "lineNumber": .int(1), "addressLine": .string(spec.street),
                                                    ]))
                                            ])
                                        ])),
                                    "city": .string(spec.city),
                                    "state": .string(spec.state),
                                    "postalCode": .string(spec.postalCode),
                                    "country": .string("United States"),
                                    "isoCountryCode": .string("US"),
                                ])),
                        ]))
                ])
            ]))
        header["supplier"] = .object(supplier)
        header["supplierInvoiceNumber"] = .string(invoice.supplierInvoiceNumber)
        header["matchStatus"] = .string(invoice.isPO ? "Matched" : "Do Not Match")
        header["workflowStatus"] = .string(invoice.workflowStatus)
        header["nonPOInvoice"] = .string(invoice.isPO ? "false" : "true")
        header["containsNonPOLines"] = .string(invoice.isPO ? "false" : "true")
        if let first = invoice.lines.first {
            header["splittableFieldSetGroupList"] = splittable(
                first, template: sample["header"]?["splittableFieldSetGroupList"])
        }
        // Real tenants keep a credit memo's amounts negative: total, tax, charges and the lines' prices.
        let sign: Decimal = invoice.isCreditMemo ? -1 : 1
        header["taxCharge1"] = .decimal(sign * invoice.tax)
        header["taxCharge2"] = .int(0)
        header["shippingCharge"] = .decimal(sign * invoice.shipping)
        header["handlingCharge"] = .decimal(sign * invoice.handling)
        header["discountAmount"] = .decimal(sign * invoice.discount)
        header["tax1HeaderChargeDetail"] = .object(
            SimJSONObject(["currentTax": .decimal(sign * invoice.tax), "engineTax": .int(0)]))
        header["total"] = .object(
            SimJSONObject(["currency": .string(currency), "value": .decimal(sign * invoice.total)]))

        var lines: [SimJSON] = []
        for (index, line) in invoice.lines.enumerated() {
            var object = lineTemplate
            object["lineId"] = .int(line.lineId)
            object["lineNumber"] = .int(index + 1)
            var item = object["item"]?.objectValue ?? SimJSONObject()
            item["description"] = .string(line.description)
            let uomSystem: [SimJSON] = ["system", "buyer", "supplier"].map {
                .object(SimJSONObject(["type": .string($0), "dimension": .string(line.uom)]))
            }
            item["unitOfMeasure"] = .object(
                SimJSONObject(["dimension": .string(line.uom), "alternateUnitOfMeasure": .array(uomSystem)]))
            object["item"] = .object(item)
            if let poLine = line.poLine {
                object["poNumber"] = .string(invoice.poNumber)
                object["poLineNumber"] = .string(poLine)
            } else {
                for key in ["poNumber", "poLineNumber", "poAPStatus", "poMatchStatus", "poLineMatchStatus"] {
                    object[key] = nil
                }
                object["matchStatus"] = .string("Do Not Match")
            }
            object["quantity"] = .decimal(line.quantity)
            object["unitPrice"] = .decimal(sign * line.unitPrice)
            object["taxable"] = .string(line.taxable ? "true" : "false")
            object["taxCharge1"] = .decimal(sign * line.tax)
            object["splittableFieldSetGroupList"] = splittable(
                line, template: lineTemplate["splittableFieldSetGroupList"])
            lines.append(.object(object))
        }
        return .object(
            SimJSONObject([
                "header": .object(header),
                "lineList": .object(SimJSONObject(["invoiceLine": .array(lines)])),
            ]))
    }

    /// The sample's splittable field sets with this line's chart-of-accounts segments.
    func splittable(_ line: Line, template: SimJSON?) -> SimJSON {
        let descriptions: [String: String] = [
            "Entity": "CRONUS USA, Inc.",
            "Fund": Self.funds.first { $0.0 == line.fund }?.1 ?? line.fund,
            "Financial_Unit": Self.departments.first { $0.0 == line.department }?.1 ?? line.department,
            "Account": Self.chartOfAccounts.first { $0.0 == line.account }?.1 ?? line.account,
            "Program": Self.programs.first { $0.0 == line.program }?.1 ?? line.program,
            "Project": line.project,
        ]
        let values: [String: String] = [
            "Entity": "1000", "Fund": line.fund, "Financial_Unit": line.department, "Account": line.account,
            "Program": line.program, "Project": line.project,
        ]
        return template.map { rewrite($0, values: values, descriptions: descriptions, inFirstGroup: false) } ?? .null
    }

    private func rewrite(
        _ value: SimJSON, values: [String: String], descriptions: [String: String], inFirstGroup: Bool
    )
        -> SimJSON
    {
        switch value {
        case .object(var object):
            if let groups = object["splittableFieldSetGroup"]?.arrayValue {
                object["splittableFieldSetGroup"] = .array(
                    groups.enumerated().map {
                        rewrite($1, values: values, descriptions: descriptions, inFirstGroup: $0 == 0)
                    })
                return .object(object)
            }
            if inFirstGroup, let name = object["internalName"]?.stringValue, let newValue = values[name] {
                object["value"] = .string(newValue)
                object["description"] = .string(descriptions[name] ?? newValue)
                return .object(object)
            }
            var copy = SimJSONObject()
            for (key, child) in object {
                copy[key] = rewrite(child, values: values, descriptions: descriptions, inFirstGroup: inFirstGroup)
            }
            return .object(copy)
        case .array(let array):
            return .array(
                array.map { rewrite($0, values: values, descriptions: descriptions, inFirstGroup: inFirstGroup) })
        default:
            return value
        }
    }
}
