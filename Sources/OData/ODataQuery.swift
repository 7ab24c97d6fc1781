import ConnectorCore
import ConnectorHTTP
import Foundation

/// The system query options of one request, written as a percent-encoded query string in which the `$` of the
/// option names stays literal. Values are encoded with ``FormEncoding`` (RFC 3986 unreserved kept), so a `'`, `&`,
/// `#` or `+` inside a literal can never end the option early.
package struct ODataQuery: Sendable {
    package enum Order: String, Sendable { case asc, desc }

    package var filter: ODataFilter?
    package var select: [ODataField] = []
    package var expand: [ODataField] = []
    package var orderBy: [(ODataField, Order)] = []
    package var top: Int?
    package var skip: Int?
    /// Ask for the total count (`$count=true`; `$inlinecount=allpages` in OData v3).
    package var count = false
    /// F&O: read every company, not only the user's default one (`cross-company=true`).
    package var crossCompany = false
    /// Further parameters a service needs (`company`, `$schemaversion`), encoded like the rest.
    package var extra: [(String, String)] = []

    package init(
        filter: ODataFilter? = nil, select: [ODataField] = [], expand: [ODataField] = [],
        orderBy: [(ODataField, Order)] = [], top: Int? = nil, skip: Int? = nil, count: Bool = false,
        crossCompany: Bool = false, extra: [(String, String)] = []
    ) {
        self.filter = filter
        self.select = select
        self.expand = expand
        self.orderBy = orderBy
        self.top = top
        self.skip = skip
        self.count = count
        self.crossCompany = crossCompany
        self.extra = extra
    }

    /// The options as name/value pairs, not yet encoded, in a stable order.
    package func items(_ flavor: ODataFlavor) throws -> [(String, String)] {
        var items: [(String, String)] = []
        if let filter { items.append(("$filter", try filter.render(flavor))) }
        if !select.isEmpty { items.append(("$select", try select.map { try $0.validated() }.joined(separator: ","))) }
        if !expand.isEmpty { items.append(("$expand", try expand.map { try $0.validated() }.joined(separator: ","))) }
        if !orderBy.isEmpty {
            let terms = try orderBy.map { field, order in "\(try field.validated()) \(order.rawValue)" }
            items.append(("$orderby", terms.joined(separator: ",")))
        }
        if let top {
            guard top >= 0 else { throw ConnectorError(.configInvalid, "$top must not be negative") }
            items.append(("$top", String(top)))
        }
        if let skip {
            guard skip >= 0 else { throw ConnectorError(.configInvalid, "$skip must not be negative") }
            items.append(("$skip", String(skip)))
        }
        if count { items.append(flavor.version == .v4 ? ("$count", "true") : ("$inlinecount", "allpages")) }
        if crossCompany { items.append(("cross-company", "true")) }
        return items + extra
    }

    /// The percent-encoded query string, without the leading `?`.
    package func queryString(_ flavor: ODataFlavor) throws -> String {
        try Self.encode(items(flavor))
    }

    /// `base` + `path` + the options, through ``URLBuilder``.
    package func url(_ base: String, path: String, flavor: ODataFlavor) throws -> String {
        URLBuilder.url(base, path: path, query: try items(flavor))
    }

    /// Encodes pairs the way ``URLBuilder`` does: names and values escaped, a leading `$` kept literal.
    package static func encode(_ pairs: [(String, String)]) -> String {
        String(URLBuilder.url("", path: "", query: pairs).drop { $0 != "?" }.dropFirst())
    }
}

/// Entity keys in URLs: `('V''1')`, `(42)`, `(dataAreaId='usmf',InvoiceNumber='A''1')`.
///
/// The whole segment is percent-encoded except the characters OData needs to read the key (`'`, `(`, `)`, `,`,
/// `=`): encoding the quotes made a NAV server ignore a company key and fall back to the default company
/// (reference §3.6), while `/`, `?`, `#`, `%`, spaces and non-ASCII must never reach the path raw.
package enum ODataKey {
    private static let allowed = CharacterSet(
        charactersIn: "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~'(),=")

    /// `(<literal>)` for a single-field key; strings are quoted with quotes doubled, numbers are bare.
    package static func single(_ value: ODataValue, flavor: ODataFlavor = .v4) throws -> String {
        encode("(" + (try literal(value, flavor)) + ")")
    }

    /// `(f1=<literal>,f2=<literal>)` for a composite key, in the given order.
    /// - Parameter required: the entity's key fields (F&O needs every one of them); when given, a missing or extra
    ///   field is refused before it reaches a URL.
    package static func composite(
        _ fields: [(ODataField, ODataValue)], required: [String]? = nil, flavor: ODataFlavor = .v4
    ) throws -> String {
        guard !fields.isEmpty else { throw ConnectorError(.configInvalid, "an entity key needs at least one field") }
        let names = try fields.map { try $0.0.validated() }
        guard Set(names).count == names.count else {
            throw ConnectorError(.configInvalid, "an entity key names a field twice")
        }
        if let required, Set(required) != Set(names) {
            let missing = required.filter { !names.contains($0) }
            let extra = names.filter { !required.contains($0) }
            throw ConnectorError(
                .configInvalid,
                "the entity key must name exactly \(required.joined(separator: ", "))"
                    + (missing.isEmpty ? "" : "; missing \(missing.joined(separator: ", "))")
                    + (extra.isEmpty ? "" : "; not a key field: \(extra.joined(separator: ", "))"))
        }
        let parts = try zip(names, fields).map { name, field in "\(name)=\(try literal(field.1, flavor))" }
        return encode("(" + parts.joined(separator: ",") + ")")
    }

    private static func literal(_ value: ODataValue, _ flavor: ODataFlavor) throws -> String {
        switch value {
        case .null: throw ConnectorError(.configInvalid, "an entity key cannot be null")
        case .decimal: throw ConnectorError(.configInvalid, "an entity key cannot be a decimal")
        default: return try value.literal(flavor)
        }
    }

    private static func encode(_ segment: String) -> String {
        segment.addingPercentEncoding(withAllowedCharacters: allowed) ?? ""
    }
}
