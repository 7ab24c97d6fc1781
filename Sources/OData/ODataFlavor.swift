import ConnectorCore
import Foundation

/// How one OData service spells literals and which operators it understands. The presets are data, not a switch on
/// the ERP: an ERP target picks (or builds) the flavor that matches its endpoint.
package struct ODataFlavor: Sendable, Hashable {
    package enum Version: Sendable, Hashable { case v3, v4 }

    /// How a point in time is written.
    package enum DateTimeStyle: Sendable, Hashable {
        /// OData v4: `2024-01-02T03:04:05Z` (fraction only when the instant has one).
        case bare
        /// Acumatica: `datetimeoffset'2024-01-02T03:04:05.000Z'`.
        case dateTimeOffsetPrefixed
        /// OData v3: `datetime'2024-01-02T03:04:05'` (UTC, no offset).
        case dateTimePrefixed
        /// SAP Business One: a quoted string `'2024-01-02T03:04:05Z'`.
        case quoted
    }

    /// How a calendar date is written.
    package enum DateStyle: Sendable, Hashable {
        /// OData v4 `Edm.Date`: `2024-01-02`.
        case bare
        /// Acumatica: `date'2024-01-02'`.
        case datePrefixed
        /// OData v3 has no date type: `datetime'2024-01-02T00:00:00'`.
        case dateTimePrefixed
        /// SAP Business One: `'2024-01-02'`.
        case quoted
    }

    package var name: String
    package var version: Version
    package var dateTime: DateTimeStyle
    package var date: DateStyle
    /// Whether `field in (a,b)` is understood; otherwise it is written as `(field eq a or field eq b)`.
    package var supportsIn: Bool

    package init(name: String, version: Version, dateTime: DateTimeStyle, date: DateStyle, supportsIn: Bool) {
        self.name = name
        self.version = version
        self.dateTime = dateTime
        self.date = date
        self.supportsIn = supportsIn
    }

    /// Plain OData v4 (URL conventions 4.01 allow `in`).
    package static let v4 = ODataFlavor(name: "OData v4", version: .v4, dateTime: .bare, date: .bare, supportsIn: true)
    /// Plain OData v3 (no `in`, prefixed literals).
    package static let v3 = ODataFlavor(
        name: "OData v3", version: .v3, dateTime: .dateTimePrefixed, date: .dateTimePrefixed, supportsIn: false)
    /// Business Central API v2.0: `in` only with `$schemaversion=2.1`, so it is expanded to `or` here.
    package static let businessCentral = ODataFlavor(
        name: "Business Central", version: .v4, dateTime: .bare, date: .bare, supportsIn: false)
    /// Finance & Operations `/data`: `in` and `has` are not supported (odata.md, 2020).
    package static let financeOperations = ODataFlavor(
        name: "Finance and Operations", version: .v4, dateTime: .bare, date: .bare, supportsIn: false)
    /// NAV 2017/2018 and BC on-premises ODataV4 pages. `in` support on these versions is UNCONFIRMED: expanded.
    package static let dynamicsNAV = ODataFlavor(
        name: "Dynamics NAV", version: .v4, dateTime: .bare, date: .bare, supportsIn: false)
    /// SAP Business One Service Layer `/b1s/v2` (OData v4): dates and times are quoted strings in separate fields
    /// (`UpdateDate`, `UpdateTime`); `in` support is UNCONFIRMED, so it is expanded.
    package static let sapBusinessOne = ODataFlavor(
        name: "SAP Business One", version: .v4, dateTime: .quoted, date: .quoted, supportsIn: false)
    /// SAP Business One Service Layer `/b1s/v1` (OData v3 conventions, `odata.nextLink`); literals as in v2.
    /// Whether v1 takes `contains` besides v3's `substringof` is UNCONFIRMED; this flavor writes `substringof`.
    package static let sapBusinessOneV1 = ODataFlavor(
        name: "SAP Business One", version: .v3, dateTime: .quoted, date: .quoted, supportsIn: false)
    /// Acumatica contract-based REST: OData v3 URI conventions with `datetimeoffset'…'` and `date'…'`.
    package static let acumatica = ODataFlavor(
        name: "Acumatica", version: .v3, dateTime: .dateTimeOffsetPrefixed, date: .datePrefixed, supportsIn: false)
}

/// A field path in a filter, `$select`, `$orderby` or key: letters, digits and `_`, with `/` between navigation
/// steps. Anything else is refused, so a field name can never carry an expression.
package struct ODataField: Sendable, Hashable, ExpressibleByStringLiteral, CustomStringConvertible {
    package let name: String

    package init(_ name: String) { self.name = name }
    package init(stringLiteral value: String) { self.name = value }

    package var description: String { name }

    /// The name, or an error naming what is wrong with it.
    package func validated() throws -> String {
        try Self.validate(name)
    }

    package static func validate(_ name: String) throws -> String {
        let steps = name.split(separator: "/", omittingEmptySubsequences: false)
        let valid =
            !name.isEmpty && name.count <= 200
            && steps.allSatisfy { step in
                guard let first = step.unicodeScalars.first, first.isASCIILetterOrUnderscore else { return false }
                return step.unicodeScalars.allSatisfy { $0.isASCIILetterOrUnderscore || ("0"..."9").contains($0) }
            }
        guard valid else {
            throw ConnectorError(
                .configInvalid,
                "\(SecretRedactor.excerpt(name, limit: 60).debugDescription) is not an OData field name "
                    + "(letters, digits, _ and / between navigation steps)")
        }
        return name
    }
}

extension Unicode.Scalar {
    fileprivate var isASCIILetterOrUnderscore: Bool {
        ("a"..."z").contains(self) || ("A"..."Z").contains(self) || self == "_"
    }
}

/// A value in a filter or a key, written by the flavor's rules.
package enum ODataValue: Sendable, Hashable {
    case string(String)
    case int(Int64)
    case decimal(Decimal)
    case bool(Bool)
    case null
    case dateTime(Date)
    /// A calendar date; the components are read in `timeZone`.
    case date(Date, timeZone: TimeZone)
    /// A time of day (`hh:mm:ss`), written as a quoted string (SAP Business One's `UpdateTime`).
    case timeOfDay(Date, timeZone: TimeZone)
    case guid(UUID)
    /// An enum member in the F&O namespace syntax: `Microsoft.Dynamics.DataEntities.NoYes'Yes'`.
    case enumMember(type: String, member: String)

    /// A quoted string literal: every `'` doubled (OData URL conventions, both versions).
    package static func quoted(_ text: String) -> String {
        "'" + text.replacingOccurrences(of: "'", with: "''") + "'"
    }

    /// The literal as the flavor writes it.
    package func literal(_ flavor: ODataFlavor) throws -> String {
        switch self {
        case .string(let text):
            return Self.quoted(text)
        case .int(let number):
            return String(number)
        case .decimal(let number):
            return try Self.decimal(number)
        case .bool(let value):
            return value ? "true" : "false"
        case .null:
            return "null"
        case .dateTime(let date):
            switch flavor.dateTime {
            case .bare: return Self.iso8601(date, fraction: Self.hasFraction(date))
            case .dateTimeOffsetPrefixed: return "datetimeoffset" + Self.quoted(Self.iso8601(date, fraction: true))
            case .dateTimePrefixed: return "datetime" + Self.quoted(Self.localDateTime(date))
            case .quoted: return Self.quoted(Self.iso8601(date, fraction: Self.hasFraction(date)))
            }
        case .date(let date, let timeZone):
            let day = Self.day(date, timeZone: timeZone)
            switch flavor.date {
            case .bare: return day
            case .datePrefixed: return "date" + Self.quoted(day)
            case .dateTimePrefixed: return "datetime" + Self.quoted(day + "T00:00:00")
            case .quoted: return Self.quoted(day)
            }
        case .timeOfDay(let date, let timeZone):
            return Self.quoted(Self.time(date, timeZone: timeZone))
        case .guid(let id):
            let text = id.uuidString.lowercased()
            return flavor.version == .v4 ? text : "guid" + Self.quoted(text)
        case .enumMember(let type, let member):
            let steps = type.split(separator: ".", omittingEmptySubsequences: false)
            guard steps.count >= 2, steps.allSatisfy({ (try? ODataField.validate(String($0))) != nil }) else {
                throw ConnectorError(.configInvalid, "\(type.prefix(80).debugDescription) is not an OData enum type")
            }
            return type + Self.quoted(member)
        }
    }

    /// A decimal in plain notation (never an exponent, which OData literals do not allow).
    static func decimal(_ number: Decimal) throws -> String {
        guard number.isFinite else { throw ConnectorError(.configInvalid, "a filter number must be finite") }
        let text = number.description
        guard !text.contains("e"), !text.contains("E") else {
            throw ConnectorError(.internalError, "decimal rendered with an exponent: \(text)")
        }
        return text
    }

    private static let utc = TimeZone(identifier: "UTC")!

    static func hasFraction(_ date: Date) -> Bool {
        let milliseconds = (date.timeIntervalSince1970 * 1000).rounded(.down)
        return milliseconds.truncatingRemainder(dividingBy: 1000) != 0
    }

    static func iso8601(_ date: Date, fraction: Bool) -> String {
        date.formatted(Date.ISO8601FormatStyle(includingFractionalSeconds: fraction, timeZone: utc))
    }

    static func localDateTime(_ date: Date) -> String {
        // OData v3 `datetime` carries no offset; the instant is written in UTC.
        String(iso8601(date, fraction: false).dropLast())
    }

    static func day(_ date: Date, timeZone: TimeZone) -> String {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = timeZone
        let parts = calendar.dateComponents([.year, .month, .day], from: date)
        return [(parts.year ?? 0, 4), (parts.month ?? 0, 2), (parts.day ?? 0, 2)]
            .map { FixedFormat.decimal($0.0, width: $0.1) }.joined(separator: "-")
    }

    static func time(_ date: Date, timeZone: TimeZone) -> String {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = timeZone
        let parts = calendar.dateComponents([.hour, .minute, .second], from: date)
        return [parts.hour ?? 0, parts.minute ?? 0, parts.second ?? 0].map { FixedFormat.decimal($0, width: 2) }
            .joined(separator: ":")
    }
}
