import Foundation

extension DynamicsNAVSimulator: SimulatedERP {
    package var kind: String { "dynamicsNAV" }
    package var displayName: String { "Dynamics NAV" }
    package var counterPrefix: String { Self.system }
    /// `Vendor Invoice No.` is Code[35].
    package var maxVendorInvoiceNumberLength: Int { 35 }
    /// The connector matches invoices against NAV's purchase orders, but the demo's NAV starts without any: they
    /// come from JAGGAER through `sync-purchase-orders`, so the demo tenant's PO problems (read against BC's
    /// orders) do not apply here.
    package var matchesPurchaseOrders: Bool { false }
    /// `Vendor Invoice No.`, `External Document No.` and `No.` are Code fields, kept in upper case.
    package var upperCasesNumbers: Bool { true }

    /// Purchase invoices, journal documents (by `Document_No`, counted once their vendor line is in), and posted
    /// invoices (vendor ledger entries).
    package func documents() -> [SimulatedDocument] {
        let company = accessDetails.company
        let headers = store.rows(company: company, table: "Purchase Header").filter {
            $0["Document_Type"]?.stringValue == "Invoice"
                && $0["Your_Reference"]?.stringValue?.hasPrefix("JAG-PENDING-") != true
        }
        let lines = store.rows(company: company, table: "Purchase Line")
        let journal = store.rows(company: company, table: "Gen. Journal Line")
        let invoices = headers.map { header in
            SimulatedDocument(
                vendorNumber: header["Buy_from_Vendor_No"]?.stringValue ?? "",
                vendorInvoiceNumber: header["Vendor_Invoice_No"]?.stringValue ?? "", status: "Open", draft: true,
                lines: lines.filter {
                    $0["Document_Type"]?.stringValue == "Invoice"
                        && $0["Document_No"]?.stringValue == header["No"]?.stringValue
                }.count, purchaseOrderLinkedLines: 0)
        }
        let journals = journal.filter { $0["Account_Type"]?.stringValue == "Vendor" }.map { vendorLine in
            SimulatedDocument(
                vendorNumber: vendorLine["Account_No"]?.stringValue ?? "",
                vendorInvoiceNumber: vendorLine["External_Document_No"]?.stringValue ?? "", status: "Journal",
                draft: true,
                lines: journal.filter { $0["Document_No"]?.stringValue == vendorLine["Document_No"]?.stringValue }.count
                    - 1, purchaseOrderLinkedLines: 0)
        }
        // Posted invoices (the hand-keyed one, or what finance posted) are vendor ledger entries.
        let posted = store.rows(company: company, table: "Vendor Ledger Entry").filter {
            $0["Document_Type"]?.stringValue == "Invoice"
        }.map { entry in
            SimulatedDocument(
                vendorNumber: entry["Vendor_No"]?.stringValue ?? "",
                vendorInvoiceNumber: entry["External_Document_No"]?.stringValue ?? "", status: "Posted", draft: false,
                lines: 0, purchaseOrderLinkedLines: 0)
        }
        return invoices + journals + posted
    }

    package func chaosFaults(probability p: Double, seed: UInt64) -> [FaultRule] {
        let system = Self.system
        return [
            chaosRule(.dropAfterCommit, system, "POST", "PurchaseInvoice", p, seed: seed, salt: 41),
            chaosRule(.dropBeforeCommit, system, "POST", "PurchaseInvoice", p / 2, seed: seed, salt: 42),
            chaosRule(.status, system, "POST", "PurchaseInvoice", p / 2, seed: seed, salt: 43, status: 503),
            chaosRule(
                .dropAfterCommit, system, "POST", "PurchaseInvoice({key})/PurchaseInvoicePurchLines", p, seed: seed,
                salt: 44),
            chaosRule(.status, system, "PATCH", "PurchaseInvoice({key})", p, seed: seed, salt: 45, status: 503),
            chaosRule(.dropAfterCommit, system, "POST", "GeneralJournal", p, seed: seed, salt: 46),
            chaosRule(.status, system, "POST", "GeneralJournal", p / 2, seed: seed, salt: 47, status: 502),
            chaosRule(.status, system, "GET", "PurchaseInvoice", p, seed: seed, salt: 48, status: 500),
            chaosRule(.status, system, "GET", "GeneralJournal", p, seed: seed, salt: 49, status: 503),
            chaosRule(.latency, system, "GET", "VendorLedgerEntries", p, seed: seed, salt: 50, latencyMs: 150),
            chaosRule(.status, system, "GET", "PurchaseOrder", p, seed: seed, salt: 51, status: 503),
            chaosRule(.status, system, "GET", "VendorCard", p, seed: seed, salt: 52, status: 503),
            chaosRule(.status, system, "GET", "$metadata", p / 2, seed: seed, salt: 53, status: 503),
            chaosRule(
                .status, system, "GET", "PurchaseInvoice({key})/PurchaseInvoicePurchLines", p, seed: seed, salt: 54,
                status: 503),
            chaosRule(.status, system, "GET", "PurchaseInvoice({key})", p, seed: seed, salt: 55, status: 502),
            chaosRule(.latency, system, "GET", "PurchaseInvoice", p, seed: seed, salt: 56, latencyMs: 100),
            chaosRule(
                .status, system, "GET", "PurchaseOrder({key})/PurchaseOrderPurchLines", p, seed: seed, salt: 57,
                status: 503),
        ]
    }
}

/// The demo tenant's company as NAV holds it, from the same ``DemoTenant``: vendors, G/L accounts and dimension
/// values of the BC company (so JAGGAER supplier numbers, `Account` segments and segment values map one to one),
/// every vendor's `Last Date Modified` a date before the demo, and the two invoices keyed by hand (the draft as an
/// open purchase invoice, the posted one as a vendor ledger entry). No purchase orders: JAGGAER's come through
/// `sync-purchase-orders`.
package enum NAVDemoData {
    package static let instance = "DynamicsNAV110"
    package static let username = "MLCONNECTOR"
    package static let template = "GENERAL"
    package static let batch = "DEFAULT"

    package static func access(for tenant: DemoTenant) -> DynamicsNAVSimulator.Access {
        DynamicsNAVSimulator.Access(
            instance: instance, company: tenant.credentials.companyName, username: username,
            accessKey: Data("NAVsim-key-\(tenant.seed)-web-service-access-key".utf8).base64EncodedString())
    }

    package static func company(from tenant: DemoTenant) -> NAVCompany {
        let bc = tenant.businessCentral
        var data = NAVCompany()
        for vendor in bc.vendors {
            let blocked = vendor.blocked.trimmingCharacters(in: .whitespaces)
            data.put(
                "Vendor", vendor.number.uppercased(),
                SimJSONObject([
                    "No": .string(vendor.number.uppercased()), "Name": .string(String(vendor.displayName.prefix(50))),
                    "Address": .string(vendor.addressLine1), "Address_2": .string(vendor.addressLine2),
                    "City": .string(vendor.city), "Post_Code": .string(vendor.postalCode),
                    "County": .string(vendor.state), "Country_Region_Code": .string(vendor.country),
                    "Currency_Code": .string(vendor.currencyCode),
                    "VAT_Registration_No": .string(vendor.taxRegistrationNumber),
                    "Blocked": .string(blocked.isEmpty ? " " : blocked),
                    "Last_Date_Modified": .string("2026-01-15"),
                ]))
        }
        for account in bc.accounts {
            data.put(
                "G/L Account", account.number,
                SimJSONObject([
                    "No": .string(account.number), "Name": .string(account.displayName),
                    "Account_Type": .string(account.accountType), "Account_Category": .string(account.category),
                    "Income_Balance": .string(""), "Blocked": .bool(account.blocked),
                    "Direct_Posting": .bool(account.directPosting), "Last_Date_Modified": .string("2026-01-15"),
                ]))
        }
        for value in bc.dimensionValues {
            guard let dimension = bc.dimensions.first(where: { $0.id == value.dimensionId }) else { continue }
            data.put(
                "Dimension Value", NAVStore.key([dimension.code, value.code]),
                SimJSONObject([
                    "Dimension_Code": .string(dimension.code), "Code": .string(value.code),
                    "Name": .string(value.displayName), "Dimension_Value_Type": .string("Standard"),
                    "Blocked": .bool(false),
                ]))
        }
        // The invoices keyed by hand: the draft as an open purchase invoice, the posted one as a vendor ledger entry.
        for invoice in bc.purchaseInvoices {
            if invoice.status == "Draft" {
                let number = String(data.nextInvoice)
                data.nextInvoice += 1
                data.put(
                    "Purchase Header", NAVStore.key(["Invoice", number]),
                    SimJSONObject([
                        "Document_Type": .string("Invoice"), "No": .string(number),
                        "Buy_from_Vendor_No": .string(invoice.vendorNumber.uppercased()),
                        "Vendor_Invoice_No": .string(invoice.vendorInvoiceNumber.uppercased()),
                        "Posting_Date": .string(invoice.postingDate), "Document_Date": .string(invoice.invoiceDate),
                        "Due_Date": .string(invoice.dueDate), "Status": .string("Open"),
                        "Your_Reference": .string("Keyed by hand"),
                    ]))
            } else {
                let entry = data.nextEntry
                data.nextEntry += 1
                data.put(
                    "Vendor Ledger Entry", String(entry),
                    SimJSONObject([
                        "Entry_No": .int(entry), "Vendor_No": .string(invoice.vendorNumber.uppercased()),
                        "Document_Type": .string("Invoice"), "Document_No": .string(invoice.number),
                        "External_Document_No": .string(invoice.vendorInvoiceNumber.uppercased()),
                        "Posting_Date": .string(invoice.postingDate),
                        "Amount": .decimal(-invoice.totalAmountIncludingTax),
                        "Remaining_Amount": .decimal(-invoice.totalAmountIncludingTax), "Open": .bool(true),
                    ]))
            }
        }
        return data
    }
}

extension SimulatorHost {
    /// The `erp.dynamicsNAV` block of a connection to the simulated NAV server: Basic with the access key, the
    /// company by name, invoices that quote a PO as purchase invoices and the others as journal lines.
    var navSettings: SimJSON {
        let access = dynamicsNAV.accessDetails
        return .object(
            SimJSONObject([
                "oDataURL": .string(dynamicsNAVODataURL),
                "company": .string(access.company),
                "username": .string(access.username),
                "accessKey": .string(access.accessKey),
                "invoiceDocument": .string("byPurchaseOrder"),
                "journalTemplate": .string(NAVDemoData.template),
                "journalBatch": .string(NAVDemoData.batch),
                "requestsPerMinute": .int(6000),
                "dimensionFields": .object(
                    SimJSONObject([
                        "FUND": .string("Shortcut_Dimension_1_Code"),
                        "DEPARTMENT": .string("Shortcut_Dimension_2_Code"),
                        "PROGRAM": .string("ShortcutDimCode3"),
                    ])),
            ]))
    }
}
