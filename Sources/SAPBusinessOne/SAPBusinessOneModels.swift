// The models mirror the Service Layer's field names (`CardCode`, `DocEntry`) so they decode as B1 writes them.
// swift-format-ignore-file: AlwaysUseLowerCamelCase

import ConnectorCore
import Foundation

/// A JSON object key known only at run time (a user-defined field such as `U_JaggaerPO`).
struct B1Key: CodingKey {
    var stringValue: String
    var intValue: Int? { nil }
    init(_ name: String) { stringValue = name }
    init(stringValue: String) { self.stringValue = stringValue }
    init?(intValue: Int) { nil }
}

/// `tYES` / `tNO` (BoYesNoEnum).
enum B1YesNo {
    static func isYes(_ value: String?) -> Bool { value == "tYES" }
    static func text(_ value: Bool) -> String { value ? "tYES" : "tNO" }
}

/// B1's change stamp: `UpdateDate` and `UpdateTime` in separate fields, local time of the company's server.
/// v1 may send the date as `2026-11-30T00:00:00Z` and the time as `1899-12-30T10:15:30`; both are cut to
/// `yyyy-MM-dd` and `HH:mm:ss`, the form the filter literals use.
struct B1ChangeStamp: Sendable, Hashable, Comparable {
    var date: String
    var time: String

    init?(date: String?, time: String?) {
        guard let date, date.count >= 10 else { return nil }
        self.date = String(date.prefix(10))
        self.time = Self.normalizeTime(time)
    }

    init(date: String, time: String) {
        self.date = date
        self.time = time
    }

    static func normalizeTime(_ raw: String?) -> String {
        guard var text = raw, !text.isEmpty else { return "00:00:00" }
        if let t = text.firstIndex(of: "T") { text = String(text[text.index(after: t)...]) }
        if let cut = text.firstIndex(where: { $0 == "Z" || $0 == "." || $0 == "+" }) { text = String(text[..<cut]) }
        let parts = text.split(separator: ":").map { String($0) }
        guard parts.count >= 2, parts.allSatisfy({ Int($0) != nil }) else {
            // `HHmmss` as a number (some versions keep `UpdateTS`-like integers).
            if let number = Int(text), number >= 0, number < 240_000 {
                return [number / 10000, (number / 100) % 100, number % 100].map { FixedFormat.decimal($0, width: 2) }
                    .joined(separator: ":")
            }
            return "00:00:00"
        }
        let numbers = parts.prefix(3).map { Int($0) ?? 0 } + Array(repeating: 0, count: max(0, 3 - parts.count))
        return numbers.prefix(3).map { FixedFormat.decimal($0, width: 2) }.joined(separator: ":")
    }

    static func < (a: B1ChangeStamp, b: B1ChangeStamp) -> Bool { (a.date, a.time) < (b.date, b.time) }

    /// The instant, reading the stamp in the company's time zone.
    func instant(in timeZone: TimeZone) -> Date? {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = timeZone
        let d = date.split(separator: "-").compactMap { Int($0) }
        let t = time.split(separator: ":").compactMap { Int($0) }
        guard d.count == 3, t.count == 3 else { return nil }
        return calendar.date(
            from: DateComponents(year: d[0], month: d[1], day: d[2], hour: t[0], minute: t[1], second: t[2]))
    }
}

/// The adapter's change cursor: the last record's change stamp and key, so the next page starts strictly after
/// it (`v1|date|time|key`). Records with the same stamp are ordered by key: paging never skips or repeats one.
struct B1Cursor: Sendable, Hashable {
    var stamp: B1ChangeStamp
    var key: String

    var cursor: ChangeCursor { ChangeCursor("v1|\(stamp.date)|\(stamp.time)|\(key)") }

    init(stamp: B1ChangeStamp, key: String) {
        self.stamp = stamp
        self.key = key
    }

    init(_ cursor: ChangeCursor) throws {
        let parts = cursor.value.split(separator: "|", maxSplits: 3, omittingEmptySubsequences: false).map(String.init)
        guard parts.count == 4, parts[0] == "v1", parts[1].count == 10, parts[2].count == 8 else {
            throw ConnectorError(
                .stateCorrupt,
                "the SAP Business One change cursor \(SecretRedactor.excerpt(cursor.value, limit: 60).debugDescription) is not one this adapter wrote"
            )
        }
        stamp = B1ChangeStamp(date: parts[1], time: parts[2])
        key = parts[3]
    }
}

/// `BusinessPartners` as read.
struct B1BusinessPartner: Decodable, Sendable {
    var CardCode: String
    var CardName: String?
    var CardType: String?
    var Currency: String?
    var FederalTaxID: String?
    var Valid: String?
    var Frozen: String?
    var UpdateDate: String?
    var UpdateTime: String?

    var stamp: B1ChangeStamp? { B1ChangeStamp(date: UpdateDate, time: UpdateTime) }
}

/// `ChartOfAccounts` as read.
struct B1Account: Decodable, Sendable {
    var Code: String
    var Name: String?
    var FormatCode: String?
    var ActiveAccount: String?
    var FrozenFor: String?
    var AccountType: String?
    var UpdateDate: String?
    var UpdateTime: String?

    var stamp: B1ChangeStamp? { B1ChangeStamp(date: UpdateDate, time: UpdateTime) }
}

/// `Dimensions` (cost accounting dimensions 1–5).
struct B1Dimension: Decodable, Sendable {
    var DimensionCode: Int
    var DimensionName: String?
    var IsActive: String?
    var DimensionDescription: String?
}

/// `ProfitCenters`: the values of a dimension (`InWhichDimension`).
struct B1ProfitCenter: Decodable, Sendable {
    var CenterCode: String
    var CenterName: String?
    var InWhichDimension: Int?
    var Active: String?
}

/// A marketing document as read (`PurchaseInvoices`, `Drafts`, `PurchaseOrders`). Every string field is kept by
/// name too, so a user-defined field (the PO number in `U_…`) is read without a fixed model.
struct B1Document: Decodable, Sendable {
    var DocEntry: Int
    var DocNum: Int?
    var CardCode: String?
    var NumAtCard: String?
    var DocType: String?
    var DocObjectCode: String?
    var DocumentStatus: String?
    var Cancelled: String?
    var DocTotal: Decimal?
    var PaidToDate: Decimal?
    var UpdateDate: String?
    var UpdateTime: String?
    var DocumentLines: [B1DocumentLine]?
    var strings: [String: String]

    var stamp: B1ChangeStamp? { B1ChangeStamp(date: UpdateDate, time: UpdateTime) }

    init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: B1Key.self)
        DocEntry = try c.decode(Int.self, forKey: B1Key("DocEntry"))
        DocNum = try c.decodeIfPresent(Int.self, forKey: B1Key("DocNum"))
        DocTotal = try c.decodeIfPresent(Decimal.self, forKey: B1Key("DocTotal"))
        PaidToDate = try c.decodeIfPresent(Decimal.self, forKey: B1Key("PaidToDate"))
        DocumentLines = try c.decodeIfPresent([B1DocumentLine].self, forKey: B1Key("DocumentLines"))
        var strings: [String: String] = [:]
        for key in c.allKeys {
            if let text = try? c.decodeIfPresent(String.self, forKey: key) { strings[key.stringValue] = text }
        }
        self.strings = strings
        CardCode = strings["CardCode"]
        NumAtCard = strings["NumAtCard"]
        DocType = strings["DocType"]
        DocObjectCode = strings["DocObjectCode"]
        DocumentStatus = strings["DocumentStatus"]
        Cancelled = strings["Cancelled"]
        UpdateDate = strings["UpdateDate"]
        UpdateTime = strings["UpdateTime"]
    }
}

struct B1DocumentLine: Decodable, Sendable {
    var LineNum: Int
    var ItemCode: String?
    var ItemDescription: String?
    var AccountCode: String?
    var Quantity: Decimal?
    var UnitPrice: Decimal?
    var LineTotal: Decimal?
    var RemainingOpenQuantity: Decimal?
    var LineStatus: String?
    var BaseType: Int?
    var BaseEntry: Int?
    var BaseLine: Int?
}

/// The body of a created document line (`DocumentLines[]`).
struct B1LineBody: Encodable, Sendable, Hashable {
    var LineNum: Int?
    var AccountCode: String?
    var ItemDescription: String?
    var Quantity: Decimal?
    var UnitPrice: Decimal?
    var LineTotal: Decimal?
    var TaxCode: String?
    var BaseType: Int?
    var BaseEntry: Int?
    var BaseLine: Int?
    var CostingCode: String?
    var CostingCode2: String?
    var CostingCode3: String?
    var CostingCode4: String?
    var CostingCode5: String?

    mutating func setCostingCode(_ field: String, _ value: String) {
        switch field {
        case "CostingCode": CostingCode = value
        case "CostingCode2": CostingCode2 = value
        case "CostingCode3": CostingCode3 = value
        case "CostingCode4": CostingCode4 = value
        case "CostingCode5": CostingCode5 = value
        default: break
        }
    }

    func costingCode(_ field: String) -> String? {
        switch field {
        case "CostingCode": CostingCode
        case "CostingCode2": CostingCode2
        case "CostingCode3": CostingCode3
        case "CostingCode4": CostingCode4
        case "CostingCode5": CostingCode5
        default: nil
        }
    }
}

/// The body of a created or patched document (`Drafts`, `PurchaseInvoices`, `PurchaseOrders`). Nil fields are
/// left out; `extra` carries a user-defined field (the PO number in `U_…`).
struct B1DocumentBody: Encodable, Sendable, Hashable {
    var DocObjectCode: String?
    var DocType: String?
    var CardCode: String?
    var NumAtCard: String?
    var DocDate: String?
    var DocDueDate: String?
    var TaxDate: String?
    var DocCurrency: String?
    var Comments: String?
    var DocumentLines: [B1LineBody]?
    var extra: [String: String] = [:]

    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: B1Key.self)
        try c.encodeIfPresent(DocObjectCode, forKey: B1Key("DocObjectCode"))
        try c.encodeIfPresent(DocType, forKey: B1Key("DocType"))
        try c.encodeIfPresent(CardCode, forKey: B1Key("CardCode"))
        try c.encodeIfPresent(NumAtCard, forKey: B1Key("NumAtCard"))
        try c.encodeIfPresent(DocDate, forKey: B1Key("DocDate"))
        try c.encodeIfPresent(DocDueDate, forKey: B1Key("DocDueDate"))
        try c.encodeIfPresent(TaxDate, forKey: B1Key("TaxDate"))
        try c.encodeIfPresent(DocCurrency, forKey: B1Key("DocCurrency"))
        try c.encodeIfPresent(Comments, forKey: B1Key("Comments"))
        for (key, value) in extra.sorted(by: { $0.key < $1.key }) { try c.encode(value, forKey: B1Key(key)) }
        try c.encodeIfPresent(DocumentLines, forKey: B1Key("DocumentLines"))
    }
}

/// The body of a created or patched business partner.
struct B1BusinessPartnerBody: Encodable, Sendable, Hashable {
    var CardCode: String?
    var CardName: String?
    var CardType: String?
    var Currency: String?
    var FederalTaxID: String?
    var Frozen: String?
}

/// The answer to `POST /Login`.
struct B1LoginAnswer: Decodable, Sendable {
    var SessionId: String?
    var Version: String?
    var SessionTimeout: Int?
}
