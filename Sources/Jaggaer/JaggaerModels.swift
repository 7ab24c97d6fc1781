import ConnectorCore
import Foundation

/// JAGGAER sends booleans as strings (`"false"`); accept strings, JSON booleans and the numbers 0 and 1. Anything
/// else is bad input, never read as one or the other.
package struct LenientBool: Decodable, Sendable, Hashable {
    package var value: Bool
    package init(_ value: Bool) { self.value = value }
    package init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        if let bool = try? c.decode(Bool.self) {
            value = bool
        } else if let text = try? c.decode(String.self) {
            switch text.trimmingWhitespace(newlines: false).lowercased() {
            case "true", "yes", "y", "1": value = true
            case "false", "no", "n", "0", "": value = false
            default:
                throw DecodingError.dataCorruptedError(in: c, debugDescription: "not a boolean")
            }
        } else if let number = try? c.decode(Int.self), number == 0 || number == 1 {
            value = number == 1
        } else {
            throw DecodingError.dataCorruptedError(in: c, debugDescription: "not a boolean")
        }
    }
}

/// Money and quantities arrive as bare JSON numbers (sometimes as strings); kept as exact `Decimal`. A string must
/// be a plain decimal number (`"1000.00"`, `"-12.5"`): grouping separators, currency signs, exponents or trailing
/// text (`"1,000.00"`, `"12 USD"`) are bad input, never read as a different number.
package struct LenientDecimal: Decodable, Sendable, Hashable {
    package var value: Decimal
    package init(_ value: Decimal) { self.value = value }
    package init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        if let number = try? c.decode(Decimal.self) {
            value = number
        } else if let text = try? c.decode(String.self) {
            guard let number = Self.exact(text) else {
                // The value is not echoed (descriptions never carry input values).
                throw DecodingError.dataCorruptedError(
                    in: c,
                    debugDescription:
                        "not an exact decimal number (digits with an optional sign and decimal point; no grouping, currency or exponent)"
                )
            }
            value = number
        } else {
            throw DecodingError.dataCorruptedError(in: c, debugDescription: "not a number")
        }
        guard value.isFinite else {
            throw DecodingError.dataCorruptedError(in: c, debugDescription: "not a finite number")
        }
    }

    /// The number a plain decimal string states exactly (optional sign, digits, optional fraction), or nil.
    package static func exact(_ text: String) -> Decimal? {
        let trimmed = text.trimmingWhitespace(newlines: false)
        var rest = Substring(trimmed)
        if rest.first == "-" { rest = rest.dropFirst() }
        let parts = rest.split(separator: ".", maxSplits: 1, omittingEmptySubsequences: false)
        guard let whole = parts.first, !whole.isEmpty, whole.allSatisfy(\.isASCIIDigitCharacter) else { return nil }
        if parts.count == 2 {
            guard !parts[1].isEmpty, parts[1].allSatisfy(\.isASCIIDigitCharacter) else { return nil }
        }
        guard let number = Decimal(string: trimmed, locale: Locale(identifier: "en_US_POSIX")) else { return nil }
        return number
    }
}

extension Character {
    fileprivate var isASCIIDigitCharacter: Bool { ("0"..."9").contains(self) }
}

/// Identifiers that may arrive as numbers or strings (`"poLineNumber": "1"`, `"invoiceId": 2526304`).
package struct LenientString: Decodable, Sendable, Hashable {
    package var value: String
    package init(_ value: String) { self.value = value }
    package init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        if let text = try? c.decode(String.self) {
            value = text
        } else if let number = try? c.decode(Int64.self) {
            value = String(number)
        } else if let number = try? c.decode(Decimal.self) {
            value = "\(number)"
        } else {
            throw DecodingError.dataCorruptedError(in: c, debugDescription: "expected a string or number")
        }
    }
}

/// `GET /j1p/api/public/ji/v1/invoices/{id}`: header and lines (shape of the real sample payload).
package struct JaggaerInvoice: Decodable, Sendable {
    package var header: JaggaerInvoiceHeader
    package var lineList: LineList?

    package struct LineList: Decodable, Sendable {
        package var invoiceLine: [JaggaerInvoiceLine]?
    }

    package var lines: [JaggaerInvoiceLine] { lineList?.invoiceLine ?? [] }
}

package struct JaggaerInvoiceHeader: Decodable, Sendable {
    package var invoiceId: LenientString
    package var invoiceNumber: String?
    package var supplierInvoiceNumber: String?
    package var originalInvoiceNumber: String?
    package var invoiceName: String?
    package var invoiceType: String?
    package var invoiceLineType: String?
    package var invoiceSource: String?
    package var invoiceDate: String?
    package var dueDate: String?
    package var accountingDate: String?
    package var lastUpdate: String?
    package var paymentStatus: String?
    package var workflowStatus: String?
    package var matchStatus: String?
    package var validationStatus: String?
    package var nonPOInvoice: LenientBool?
    package var containsNonPOLines: LenientBool?
    package var businessUnit: LenientString?
    package var supplier: JaggaerSupplier?
    package var terms: Terms?
    package var taxCharge1: LenientDecimal?
    package var taxCharge2: LenientDecimal?
    package var shippingCharge: LenientDecimal?
    package var handlingCharge: LenientDecimal?
    package var discountAmount: LenientDecimal?
    package var total: JaggaerMoney?
    /// The tax figures behind `taxCharge1`: `currentTax` (what `taxCharge1` carries), and, where the tenant keeps
    /// them, the supplier's own `supplierTax` and the tax engine's `engineTax`.
    package var tax1HeaderChargeDetail: TaxChargeDetail?
    package var customFieldValueSetList: CustomFieldValueSetList?
    package var splittableFieldSetGroupList: SplittableFieldSetGroupList?

    package struct TaxChargeDetail: Decodable, Sendable {
        package var currentTax: LenientDecimal?
        package var supplierTax: LenientDecimal?
        package var engineTax: LenientDecimal?
    }

    package struct Terms: Decodable, Sendable {
        package var standardPaymentTermsCode: String?
        package var type: String?
        package var daysAfter: LenientDecimal?
    }
}

package struct JaggaerSupplier: Decodable, Sendable {
    package var id: LenientString?
    package var name: String?
    package var supplierNumber: LenientString?
    package var duns: String?
}

package struct JaggaerMoney: Decodable, Sendable {
    package var currency: String?
    package var value: LenientDecimal?
}

package struct JaggaerInvoiceLine: Decodable, Sendable {
    package var lineId: LenientString?
    package var lineNumber: LenientString?
    package var item: Item?
    package var poNumber: LenientString?
    package var poLineNumber: LenientString?
    package var quantity: LenientDecimal?
    package var unitPrice: UnitPrice?
    package var taxable: LenientBool?
    package var capitalExpense: LenientBool?
    package var taxCharge1: LenientDecimal?
    package var taxCharge2: LenientDecimal?
    package var shippingCharge: LenientDecimal?
    package var handlingCharge: LenientDecimal?
    package var discountAmount: LenientDecimal?
    package var matchStatus: String?
    package var customFieldValueSetList: CustomFieldValueSetList?
    package var splittableFieldSetGroupList: SplittableFieldSetGroupList?

    package struct Item: Decodable, Sendable {
        package var description: String?
        package var unitOfMeasure: UnitOfMeasure?
        package var productType: String?
    }

    /// `{"dimension": "EA", ...}` in invoices; a plain string in the OCR import format.
    package struct UnitOfMeasure: Decodable, Sendable {
        package var dimension: String?
        package init(from decoder: any Decoder) throws {
            if let text = try? decoder.singleValueContainer().decode(String.self) {
                dimension = text
                return
            }
            struct Object: Decodable { var dimension: String? }
            dimension = try Object(from: decoder).dimension
        }
    }

    /// A bare number on invoice lines; `{"currency", "money"}` in other JAGGAER payloads.
    package struct UnitPrice: Decodable, Sendable {
        package var amount: Decimal
        package var currency: String?
        package init(from decoder: any Decoder) throws {
            if let number = try? decoder.singleValueContainer().decode(LenientDecimal.self) {
                amount = number.value
                currency = nil
                return
            }
            struct Object: Decodable {
                var currency: String?
                var money: LenientDecimal?
                var value: LenientDecimal?
            }
            let object = try Object(from: decoder)
            guard let value = object.money ?? object.value else {
                throw DecodingError.dataCorrupted(
                    .init(codingPath: decoder.codingPath, debugDescription: "unit price without amount"))
            }
            amount = value.value
            currency = object.currency
        }
    }
}

/// Tenant-defined custom fields: `{name, label, customFieldValueList.customFieldValue[]{value, description}}`.
package struct CustomFieldValueSetList: Decodable, Sendable {
    package var customFieldValueSet: [CustomFieldValueSet]?

    package struct CustomFieldValueSet: Decodable, Sendable {
        package var name: String?
        package var label: String?
        package var customFieldValueList: CustomFieldValueList?
    }

    /// Name → first non-empty value.
    package var values: [String: String] {
        var result: [String: String] = [:]
        for set in customFieldValueSet ?? [] {
            guard let name = set.name else { continue }
            if let value = set.customFieldValueList?.customFieldValue?.compactMap({ $0.value?.value }).first(where: {
                !$0.isEmpty
            }) {
                result[name] = result[name] ?? value
            }
        }
        return result
    }
}

package struct CustomFieldValueList: Decodable, Sendable {
    package var customFieldValue: [CustomFieldValue]?
}

package struct CustomFieldValue: Decodable, Sendable {
    package var internalName: String?
    package var value: LenientString?
    package var description: String?
}

/// Accounting distribution: groups → index sets (context "Line") → indexes (one per split) → segment values.
package struct SplittableFieldSetGroupList: Decodable, Sendable {
    package var splittableFieldSetGroup: [Group]?

    package struct Group: Decodable, Sendable {
        package var splittableFieldIndexSet: [IndexSet]?
    }

    package struct IndexSet: Decodable, Sendable {
        package var context: String?
        package var splittableFieldIndexList: IndexList?
    }

    package struct IndexList: Decodable, Sendable {
        package var splittableFieldIndex: [Index]?
    }

    package struct Index: Decodable, Sendable {
        package var customFieldValueList: CustomFieldValueList?
    }

    /// The largest number of distributions (splits) in any index set: more than one means the amount is split
    /// across codings.
    package var maxSplits: Int {
        (splittableFieldSetGroup ?? []).flatMap { $0.splittableFieldIndexSet ?? [] }
            .map { $0.splittableFieldIndexList?.splittableFieldIndex?.count ?? 0 }
            .max() ?? 0
    }

    /// Segment name → value over all groups (first non-empty value wins), with descriptions.
    package var segments: [(name: String, value: String, description: String?)] {
        var seen = Set<String>()
        var result: [(String, String, String?)] = []
        for group in splittableFieldSetGroup ?? [] {
            for set in group.splittableFieldIndexSet ?? [] {
                for index in set.splittableFieldIndexList?.splittableFieldIndex ?? [] {
                    for field in index.customFieldValueList?.customFieldValue ?? [] {
                        guard let name = field.internalName, let value = field.value?.value, !value.isEmpty,
                            !seen.contains(name)
                        else { continue }
                        seen.insert(name)
                        result.append((name, value, field.description))
                    }
                }
            }
        }
        return result
    }
}

/// The list envelope (`returnCode`, `totRecords`, `returnedRecords`, `startAt`, `jiinvoiceList.jiinvoice[]`).
package struct JaggaerInvoiceListPage: Decodable, Sendable {
    package var returnCode: LenientString?
    package var returnMessage: String?
    package var totRecords: LenientDecimal?
    package var returnedRecords: LenientDecimal?
    package var startAt: LenientDecimal?
    package var jiinvoiceList: List?

    package struct List: Decodable, Sendable {
        /// Kept raw so one malformed item does not sink the whole page.
        package var jiinvoice: [JSONValue]?
    }

    /// Each list item decoded on its own: a header, or the reason it could not be read.
    package var items: [Result<JaggaerInvoiceHeader, ConnectorError>] {
        (jiinvoiceList?.jiinvoice ?? []).enumerated().map { index, raw in
            struct Item: Decodable { var header: JaggaerInvoiceHeader }
            do {
                return .success(try raw.decode(Item.self).header)
            } catch let error as DecodingError {
                return .failure(ConnectorError(.upstreamMalformed, "list item \(index): \(error.safeDescription)"))
            } catch {
                return .failure(ConnectorError(.upstreamMalformed, "list item \(index) unreadable"))
            }
        }
    }

    package var total: Int? { totRecords.map { NSDecimalNumber(decimal: $0.value).intValue } }
    package var returned: Int {
        returnedRecords.map { NSDecimalNumber(decimal: $0.value).intValue } ?? (jiinvoiceList?.jiinvoice?.count ?? 0)
    }
}
