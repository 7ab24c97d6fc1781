import Foundation

/// A payment term (`paymentTerms` entity set, API v2.0 resource `paymentTerm`): the code a vendor's
/// `paymentTermsId` points at. Properties as the v2.0 resource page lists them; `dueDateCalculation` and
/// `discountDateCalculation` are BC date formulas (`30D`, `1M`, `CM`).
package struct BCPaymentTerm: BCEntity {
    static let entityType = "Microsoft.NAV.paymentTerm"
    static let properties: [(name: String, type: ODataType)] = [
        ("id", .guid), ("code", .string), ("displayName", .string), ("dueDateCalculation", .string),
        ("discountDateCalculation", .string), ("discountPercent", .decimal),
        ("calculateDiscountOnCreditMemos", .bool), ("lastModifiedDateTime", .dateTime),
    ]
    static let defaultOrder = ["code"]

    package var id: String
    package var code: String
    package var displayName: String
    package var dueDateCalculation: String
    package var discountDateCalculation = ""
    package var discountPercent: Decimal = 0
    package var calculateDiscountOnCreditMemos = false
    package var lastModified: Date
    var rowVersion = 1

    package init(id: String, code: String, displayName: String, dueDateCalculation: String, lastModified: Date) {
        self.id = id.lowercased()
        self.code = code
        self.displayName = displayName
        self.dueDateCalculation = dueDateCalculation
        self.lastModified = lastModified
    }

    func value(_ property: String) -> SimJSON {
        switch property {
        case "id": return .string(id)
        case "code": return .string(code)
        case "displayName": return .string(displayName)
        case "dueDateCalculation": return .string(dueDateCalculation)
        case "discountDateCalculation": return .string(discountDateCalculation)
        case "discountPercent": return .decimal(discountPercent)
        case "calculateDiscountOnCreditMemos": return .bool(calculateDiscountOnCreditMemos)
        case "lastModifiedDateTime": return .string(Timestamps.millis(lastModified))
        default: return .null
        }
    }

    /// The payment terms a new company is set up with (codes as in the CRONUS demo company; ids fixed so a
    /// generated tenant is the same every run).
    package static func standard(createdAt: Date) -> [BCPaymentTerm] {
        let rows: [(String, String, String, String, String, Decimal)] = [
            ("7d4c1a01-0000-4000-8000-000000000001", "7 DAYS", "Net 7 days", "7D", "", 0),
            ("7d4c1a01-0000-4000-8000-000000000002", "14 DAYS", "Net 14 days", "14D", "", 0),
            ("7d4c1a01-0000-4000-8000-000000000003", "30 DAYS", "Net 30 days", "30D", "", 0),
            ("7d4c1a01-0000-4000-8000-000000000004", "60 DAYS", "Net 60 days", "60D", "", 0),
            ("7d4c1a01-0000-4000-8000-000000000005", "1M(8D)", "1 Month/2% 8 days", "1M", "8D", 2),
            ("7d4c1a01-0000-4000-8000-000000000006", "COD", "Cash on delivery", "0D", "", 0),
        ]
        return rows.map { row in
            var term = BCPaymentTerm(
                id: row.0, code: row.1, displayName: row.2, dueDateCalculation: row.3, lastModified: createdAt)
            term.discountDateCalculation = row.4
            term.discountPercent = row.5
            return term
        }
    }
}
