import ConnectorCore
import Foundation

/// A `$filter` expression built from field names and values, never by pasting text: literals are written by
/// ``ODataValue/literal(_:)`` (quotes doubled), field names are validated, and parentheses follow the structure,
/// so a value like `x' or 1 eq 1` stays one literal and a field name can never carry an expression.
///
/// Render it for one service with ``render(_:)``; the same expression renders for any flavor.
package indirect enum ODataFilter: Sendable, Hashable {
    package enum Operator: String, Sendable, Hashable, CaseIterable {
        case eq, ne, gt, ge, lt, le
    }

    /// String functions (`contains` is `substringof` in OData v3, with the arguments swapped).
    package enum Function: String, Sendable, Hashable {
        case contains, startswith, endswith
    }

    case compare(ODataField, Operator, ODataValue)
    case all([ODataFilter])
    case any([ODataFilter])
    case not(ODataFilter)
    /// `field in (…)`, written as an `or` chain where the flavor has no `in`.
    case isIn(ODataField, [ODataValue])
    case function(Function, ODataField, String)

    // MARK: Building

    package static func eq(_ field: ODataField, _ value: String) -> ODataFilter { .compare(field, .eq, .string(value)) }
    package static func ne(_ field: ODataField, _ value: String) -> ODataFilter { .compare(field, .ne, .string(value)) }
    package static func eq(_ field: ODataField, _ value: ODataValue) -> ODataFilter { .compare(field, .eq, value) }
    package static func ne(_ field: ODataField, _ value: ODataValue) -> ODataFilter { .compare(field, .ne, value) }
    package static func gt(_ field: ODataField, _ value: ODataValue) -> ODataFilter { .compare(field, .gt, value) }
    package static func ge(_ field: ODataField, _ value: ODataValue) -> ODataFilter { .compare(field, .ge, value) }
    package static func lt(_ field: ODataField, _ value: ODataValue) -> ODataFilter { .compare(field, .lt, value) }
    package static func le(_ field: ODataField, _ value: ODataValue) -> ODataFilter { .compare(field, .le, value) }

    /// `field gt <instant>`: the usual "changed since" on a single timestamp field.
    package static func gt(_ field: ODataField, dateTime: Date) -> ODataFilter {
        .compare(field, .gt, .dateTime(dateTime))
    }

    package static func isIn(_ field: ODataField, _ values: [String]) -> ODataFilter {
        .isIn(field, values.map(ODataValue.string))
    }

    package static func contains(_ field: ODataField, _ text: String) -> ODataFilter {
        .function(.contains, field, text)
    }

    /// "Changed since" on a date and a time kept in two fields (SAP Business One `UpdateDate` + `UpdateTime`):
    /// `(UpdateDate gt 'd' or (UpdateDate eq 'd' and UpdateTime ge 'hh:mm:ss'))`. `ge` on the time re-reads records
    /// of the same second rather than missing one; the caller's dedup absorbs the overlap. The fields hold the
    /// company's local time, so pass its `timeZone`. How B1 compares time fields is UNCONFIRMED (reference §2.5).
    package static func changedSince(
        dateField: ODataField, timeField: ODataField, _ instant: Date, timeZone: TimeZone
    ) -> ODataFilter {
        .any([
            .compare(dateField, .gt, .date(instant, timeZone: timeZone)),
            .all([
                .compare(dateField, .eq, .date(instant, timeZone: timeZone)),
                .compare(timeField, .ge, .timeOfDay(instant, timeZone: timeZone)),
            ]),
        ])
    }

    package func and(_ other: ODataFilter) -> ODataFilter { .all([self, other]) }
    package func or(_ other: ODataFilter) -> ODataFilter { .any([self, other]) }

    // MARK: Rendering

    /// The expression as `flavor` writes it (not yet percent-encoded; ``ODataQuery`` does that).
    /// - Throws: `ConnectorError` (`config.invalid`) for an invalid field name, an empty `in` list or `and`/`or`,
    ///   or an ordering comparison on an enum member.
    package func render(_ flavor: ODataFlavor) throws -> String {
        try renderBare(flavor)
    }

    private enum Precedence {
        case or, and, unary
    }

    private var precedence: Precedence {
        switch self {
        case .any(let parts): parts.count == 1 ? parts[0].precedence : .or
        case .all(let parts): parts.count == 1 ? parts[0].precedence : .and
        case .isIn(_, let values): values.count == 1 ? .unary : .or
        case .compare, .not, .function: .unary
        }
    }

    /// Writes an operand of `and`/`or`: an operand joined by the other operator goes in parentheses, even where
    /// precedence would not need them (`a or (b and c)`), so the text reads as it was built on every server.
    private func render(_ flavor: ODataFlavor, precedence context: Precedence) throws -> String {
        let text = try renderBare(flavor)
        return precedence != .unary && precedence != context ? "(\(text))" : text
    }

    private func renderBare(_ flavor: ODataFlavor) throws -> String {
        switch self {
        case .compare(let field, let op, let value):
            if case .enumMember = value, op != .eq, op != .ne {
                throw ConnectorError(.configInvalid, "enum members compare only with eq and ne")
            }
            return "\(try field.validated()) \(op.rawValue) \(try value.literal(flavor))"
        case .all(let parts):
            guard !parts.isEmpty else { throw ConnectorError(.configInvalid, "an empty 'and' in a filter") }
            return try parts.map { try $0.render(flavor, precedence: .and) }.joined(separator: " and ")
        case .any(let parts):
            guard !parts.isEmpty else { throw ConnectorError(.configInvalid, "an empty 'or' in a filter") }
            return try parts.map { try $0.render(flavor, precedence: .or) }.joined(separator: " or ")
        case .not(let inner):
            // `not` binds tighter than everything but a comparison; a compound operand always gets parentheses.
            return "not (\(try inner.renderBare(flavor)))"
        case .isIn(let field, let values):
            guard !values.isEmpty else {
                throw ConnectorError(.configInvalid, "an empty 'in' list matches nothing; skip the query instead")
            }
            if flavor.supportsIn {
                let list = try values.map { try $0.literal(flavor) }.joined(separator: ",")
                return "\(try field.validated()) in (\(list))"
            }
            return try ODataFilter.any(values.map { .compare(field, .eq, $0) }).renderBare(flavor)
        case .function(let function, let field, let text):
            let name = try field.validated()
            let literal = ODataValue.quoted(text)
            if function == .contains && flavor.version == .v3 { return "substringof(\(literal),\(name))" }
            return "\(function.rawValue)(\(name),\(literal))"
        }
    }
}
