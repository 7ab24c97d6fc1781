import Foundation

/// A published page of the NAV simulator: the web service name, its table, key, fields (OData names, reference
/// §3.1: `No.` → `No`, `Buy-from Vendor No.` → `Buy_from_Vendor_No`) and its lines containment.
struct NAVPage: Sendable {
    /// The table the page shows (`Purchase Header`).
    var table: String
    /// The EDM type name (`PurchaseInvoice`).
    var entityType: String
    var keys: [String]
    var schema: [String: ODataType]
    /// Fields the page fixes (`Document_Type` = `Invoice` on page 51).
    var fixed: [String: String] = [:]
    /// The lines subpage: navigation name → its page.
    var containment: (name: String, page: String)?
    /// Read-only pages (Vendor Ledger Entries) refuse inserts and changes.
    var readOnly = false
    /// Code fields: stored in upper case, as NAV stores Code fields.
    var codeFields: Set<String> = []
    /// Fields the server computes; a body may not set them.
    var computed: Set<String> = []
}

/// The standard pages the simulator publishes, under the service names an administrator might give them.
enum NAVPageCatalog {
    static let vendorFields: [String: ODataType] = [
        "No": .string, "Name": .string, "Address": .string, "Address_2": .string, "City": .string,
        "Post_Code": .string, "County": .string, "Country_Region_Code": .string, "Currency_Code": .string,
        "VAT_Registration_No": .string, "Payment_Terms_Code": .string, "Blocked": .string,
        "Last_Date_Modified": .date, "Parent_Vendor_No": .string,
    ]

    static let headerFields: [String: ODataType] = [
        "Document_Type": .string, "No": .string, "Buy_from_Vendor_No": .string, "Buy_from_Vendor_Name": .string,
        "Vendor_Invoice_No": .string, "Posting_Date": .date, "Document_Date": .date, "Due_Date": .date,
        "Currency_Code": .string, "Your_Reference": .string, "Status": .string, "Order_Date": .date,
        "Expected_Receipt_Date": .date, "Amount": .decimal,
    ]

    static let lineFields: [String: ODataType] = [
        "Document_Type": .string, "Document_No": .string, "Line_No": .int, "Type": .string, "No": .string,
        "Description": .string, "Quantity": .decimal, "Direct_Unit_Cost": .decimal, "Line_Amount": .decimal,
        "Quantity_Invoiced": .decimal, "Shortcut_Dimension_1_Code": .string, "Shortcut_Dimension_2_Code": .string,
        "ShortcutDimCode3": .string,
    ]

    static let journalFields: [String: ODataType] = [
        "Journal_Template_Name": .string, "Journal_Batch_Name": .string, "Line_No": .int, "Posting_Date": .date,
        "Document_Type": .string, "Document_No": .string, "External_Document_No": .string, "Account_Type": .string,
        "Account_No": .string, "Description": .string, "Amount": .decimal, "Currency_Code": .string,
        "Due_Date": .date, "Shortcut_Dimension_1_Code": .string, "Shortcut_Dimension_2_Code": .string,
        "ShortcutDimCode3": .string,
    ]

    static func pages() -> [String: NAVPage] {
        let headerCodes: Set<String> = ["No", "Buy_from_Vendor_No", "Vendor_Invoice_No", "Currency_Code"]
        let lineCodes: Set<String> = [
            "Document_No", "No", "Shortcut_Dimension_1_Code", "Shortcut_Dimension_2_Code", "ShortcutDimCode3",
        ]
        return [
            "VendorCard": NAVPage(
                table: "Vendor", entityType: "VendorCard", keys: ["No"], schema: vendorFields,
                codeFields: ["No", "Currency_Code", "Country_Region_Code", "Payment_Terms_Code", "Parent_Vendor_No"],
                computed: ["Last_Date_Modified"]),
            "PurchaseInvoice": NAVPage(
                table: "Purchase Header", entityType: "PurchaseInvoice", keys: ["Document_Type", "No"],
                schema: headerFields, fixed: ["Document_Type": "Invoice"],
                containment: ("PurchaseInvoicePurchLines", "PurchaseInvoicePurchLines"), codeFields: headerCodes,
                computed: ["Amount", "Buy_from_Vendor_Name", "Status"]),
            "PurchaseInvoicePurchLines": NAVPage(
                table: "Purchase Line", entityType: "PurchaseInvoicePurchLines",
                keys: ["Document_Type", "Document_No", "Line_No"], schema: lineFields,
                fixed: ["Document_Type": "Invoice"], codeFields: lineCodes,
                computed: ["Line_Amount", "Quantity_Invoiced"]),
            "PurchaseOrder": NAVPage(
                table: "Purchase Header", entityType: "PurchaseOrder", keys: ["Document_Type", "No"],
                schema: headerFields, fixed: ["Document_Type": "Order"],
                containment: ("PurchaseOrderPurchLines", "PurchaseOrderPurchLines"), codeFields: headerCodes,
                computed: ["Amount", "Buy_from_Vendor_Name", "Status"]),
            "PurchaseOrderPurchLines": NAVPage(
                table: "Purchase Line", entityType: "PurchaseOrderPurchLines",
                keys: ["Document_Type", "Document_No", "Line_No"], schema: lineFields,
                fixed: ["Document_Type": "Order"], codeFields: lineCodes,
                computed: ["Line_Amount", "Quantity_Invoiced"]),
            "GeneralJournal": NAVPage(
                table: "Gen. Journal Line", entityType: "GeneralJournal",
                keys: ["Journal_Template_Name", "Journal_Batch_Name", "Line_No"], schema: journalFields,
                codeFields: [
                    "Journal_Template_Name", "Journal_Batch_Name", "Document_No", "External_Document_No",
                    "Account_No", "Currency_Code", "Shortcut_Dimension_1_Code", "Shortcut_Dimension_2_Code",
                    "ShortcutDimCode3",
                ]),
            "ChartOfAccounts": NAVPage(
                table: "G/L Account", entityType: "ChartOfAccounts", keys: ["No"],
                schema: [
                    "No": .string, "Name": .string, "Account_Type": .string, "Income_Balance": .string,
                    "Account_Category": .string, "Blocked": .bool, "Direct_Posting": .bool,
                    "Last_Date_Modified": .date,
                ], readOnly: true),
            "DimensionValues": NAVPage(
                table: "Dimension Value", entityType: "DimensionValues", keys: ["Dimension_Code", "Code"],
                schema: [
                    "Dimension_Code": .string, "Code": .string, "Name": .string, "Dimension_Value_Type": .string,
                    "Blocked": .bool,
                ], readOnly: true),
            "VendorLedgerEntries": NAVPage(
                table: "Vendor Ledger Entry", entityType: "VendorLedgerEntries", keys: ["Entry_No"],
                schema: [
                    "Entry_No": .int, "Vendor_No": .string, "Document_Type": .string, "Document_No": .string,
                    "External_Document_No": .string, "Posting_Date": .date, "Amount": .decimal,
                    "Remaining_Amount": .decimal, "Open": .bool,
                ], readOnly: true),
        ]
    }

    /// The EDMX of the published pages (`$metadata`): entity types with their keys, properties and containments.
    static func metadata(_ pages: [String: NAVPage], published: Set<String>) -> String {
        var types = ""
        var sets = ""
        for (name, page) in pages.sorted(by: { $0.key < $1.key }) where published.contains(name) {
            types += "<EntityType Name=\"\(page.entityType)\"><Key>"
            types += page.keys.map { "<PropertyRef Name=\"\($0)\"/>" }.joined()
            types += "</Key>"
            for (field, type) in page.schema.sorted(by: { $0.key < $1.key }) {
                types += "<Property Name=\"\(field)\" Type=\"\(type.edmName)\"/>"
            }
            if let containment = page.containment {
                types +=
                    "<NavigationProperty Name=\"\(containment.name)\" Type=\"Collection(NAV.\(containment.page))\" ContainsTarget=\"true\"/>"
            }
            types += "<Property Name=\"ETag\" Type=\"Edm.String\"/></EntityType>"
            if !name.hasSuffix("PurchLines") {
                sets += "<EntitySet Name=\"\(name)\" EntityType=\"NAV.\(page.entityType)\"/>"
            }
        }
        return
            "<?xml version=\"1.0\" encoding=\"utf-8\"?><edmx:Edmx Version=\"4.0\" xmlns:edmx=\"http://docs.oasis-open.org/odata/ns/edmx\"><edmx:DataServices><Schema Namespace=\"NAV\" xmlns=\"http://docs.oasis-open.org/odata/ns/edm\">"
            + types + "<EntityContainer Name=\"NAV\">" + sets
            + "</EntityContainer></Schema></edmx:DataServices></edmx:Edmx>"
    }
}
