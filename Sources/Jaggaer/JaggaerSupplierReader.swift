import ConnectorCore
import ConnectorHTTP
import Foundation

/// Reading suppliers back from JAGGAER ONE (the JAGGAER → ERP half of the vendor sync).
///
/// The supplier list of J1P is not publicly documented (UNCONFIRMED, reference §1.10). The call follows the one
/// supplier list that is seen in public code, `ja/v1/companyprofiles` (reference §1.2, §1.5): `start` (1-based) paging
/// until `totRecords` is reached or a short page comes, `flt=LASTMODTIME>=yyyyMMddHHmmss` for a delta, the
/// `returnCode`/`returnMessage` envelope, the items under `returnCompanyData`. Its path is the writer's supplier
/// resource (`jaggaer.writer.supplierListPath`), so each item is read in the shape the writer sends, with the
/// change stamp in `supplierFields.lastModified` (ISO-8601, or `yyyyMMddHHmmss` / `yyyyMMdd` in UTC as the `ja`
/// API writes dates).
extension JaggaerWriter {
    package var pullsSuppliers: Bool { settings.pullSuppliers }

    /// The cursor: `since|start|newest` (`since` and `newest` as `yyyyMMddHHmmss`, empty for "from the start").
    /// While a read is paging, `start` moves on and `since` stays; the last page hands over `newest|1|newest`.
    package func suppliers(after cursor: ChangeCursor?, pageSize: Int) async throws -> ChangePage<Vendor> {
        let parts = (cursor?.value ?? "").split(separator: "|", omittingEmptySubsequences: false).map(String.init)
        let since = parts.first.flatMap { $0.isEmpty ? nil : $0 }
        let start = parts.count > 1 ? max(1, Int(parts[1]) ?? 1) : 1
        var newest = parts.count > 2 && !parts[2].isEmpty ? parts[2] : since
        if let text = since ?? newest, Self.parseStamp(text) == nil {
            throw ConnectorError(.internalError, "the JAGGAER supplier cursor \(text.prefix(40)) is not a stamp")
        }
        var query = [("start", String(start))]
        if let since { query.append(("flt", "LASTMODTIME>=\(since)")) }
        let request = HTTPRequest(
            method: "GET", url: URLBuilder.url(baseURL, path: settings.supplierListPath, query: query),
            headers: [("Accept", "application/json")], timeout: timeout)
        let response = try await transport.send(request)
        let envelope = try? JSONCoding.decoder.decode(JaggaerErrorBody.self, from: response.body)
        guard response.isSuccess else {
            throw UpstreamError.from(
                response, request: request, system: "JAGGAER",
                code: envelope?.error ?? envelope?.returnCode?.value,
                message: envelope?.returnMessage ?? envelope?.errorDescription ?? envelope?.message)
        }
        if let code = envelope?.returnCode?.value, code != "0" {
            throw ConnectorError(
                .upstreamRejected,
                "JAGGAER refused the supplier list: returnCode \(SecretRedactor.excerpt(code, limit: 20)): \(SecretRedactor.excerpt(envelope?.returnMessage ?? "", limit: 300))"
            )
        }
        guard let body = try? JSONCoding.decoder.decode(JSONValue.self, from: response.body) else {
            throw ConnectorError(.upstreamRejected, kind: .rejected, "the JAGGAER supplier list is not JSON")
        }
        guard case .array(let items)? = body[settings.supplierListKey] ?? .array([]) else {
            throw ConnectorError(
                .upstreamRejected, kind: .rejected,
                "the JAGGAER supplier list's \(settings.supplierListKey.prefix(40)) is not an array")
        }
        var vendors: [Vendor] = []
        for item in items {
            let vendor = try Self.vendor(item, settings: settings)
            vendors.append(vendor)
            if let stamp = vendor.lastModified {
                let text = Self.formatStamp(stamp)
                if newest.map({ text > $0 }) ?? true { newest = text }
            }
        }
        let total = Self.int(body["totRecords"])
        let returned = Self.int(body["returnedRecords"]) ?? items.count
        // The page size is the server's: more come while the total is not reached (or, without a total, until an
        // empty page).
        let hasMore = returned > 0 && (total.map { start - 1 + returned < $0 } ?? true)
        let next =
            hasMore
            ? ChangeCursor("\(since ?? "")|\(start + returned)|\(newest ?? "")")
            : newest.map { ChangeCursor("\($0)|1|\($0)") } ?? cursor
        return ChangePage(items: vendors, next: next, hasMore: hasMore)
    }

    /// One supplier item as a vendor; the reverse of ``supplierBody(_:settings:)``.
    package static func vendor(_ item: JSONValue, settings: JaggaerWriterSettings) throws -> Vendor {
        func text(_ name: String) -> String? {
            guard let value = item[settings.supplierField(name)] else { return nil }
            switch value {
            case .string(let text): return text.isEmpty ? nil : text
            case .number(let number): return "\(number)"
            default: return nil
            }
        }
        func flag(_ name: String) -> Bool? {
            switch item[settings.supplierField(name)] {
            case .bool(let value)?: return value
            // JAGGAER's own payloads carry booleans as strings.
            case .string(let text)?: return ["true", "yes", "1"].contains(text.lowercased())
            default: return nil
            }
        }
        guard let number = text("number"), let name = text("name") else {
            throw ConnectorError(
                .upstreamRejected, kind: .rejected,
                "a JAGGAER supplier has no \(settings.supplierField("number")) or \(settings.supplierField("name"))")
        }
        let active = flag("active") ?? true
        var address: PostalAddress?
        if let object = item[settings.supplierField("address")], case .object = object {
            var lines: [(Int, String)] = []
            if case .array(let list)? = object["addressLineList"]?["addressLine"] {
                for (index, line) in list.enumerated() {
                    guard let text = line["addressLine"]?.stringValue else { continue }
                    let position: Int
                    if case .number(let number)? = line["lineNumber"] {
                        position = NSDecimalNumber(decimal: number).intValue
                    } else {
                        position = index + 1
                    }
                    lines.append((position, text))
                }
            }
            address =
                PostalAddress(
                    lines: lines.sorted { $0.0 < $1.0 }.map(\.1), city: object["city"]?.stringValue,
                    state: object["state"]?.stringValue, postalCode: object["postalCode"]?.stringValue,
                    country: object["isoCountryCode"]?.stringValue
                ).nonEmpty
        }
        return Vendor(
            number: number, name: name,
            blocked: !active ? .all : flag("paymentHold") == true ? .payment : .none,
            currencyCode: text("currency"), taxRegistrationNumber: text("taxId"), erpId: nil,
            lastModified: text("lastModified").flatMap(parseStamp), address: address,
            paymentTermsCode: text("paymentTerms"),
            parentNumber: settings.supplierParentField.flatMap { item[$0]?.stringValue }.flatMap {
                $0.isEmpty ? nil : $0
            })
    }

    static func int(_ value: JSONValue?) -> Int? {
        switch value {
        case .number(let number)?: return NSDecimalNumber(decimal: number).intValue
        case .string(let text)?: return Int(text)
        default: return nil
        }
    }

    /// `yyyyMMddHHmmss` in UTC, the `ja` API's filter format.
    package static func formatStamp(_ date: Date) -> String {
        let iso = Timestamp.format(date)  // YYYY-MM-DDThh:mm:ss.sssZ
        return String(iso.prefix(19).filter(\.isNumber))
    }

    /// ISO-8601, `yyyyMMddHHmmss` or `yyyyMMdd` (UTC).
    package static func parseStamp(_ text: String) -> Date? {
        if let date = Timestamp.parse(text) { return date }
        let digits = Array(text)
        guard digits.allSatisfy(\.isNumber), digits.count == 14 || digits.count == 8 else { return nil }
        func part(_ from: Int, _ length: Int) -> String { String(digits[from..<(from + length)]) }
        let time = digits.count == 14 ? "T\(part(8, 2)):\(part(10, 2)):\(part(12, 2))Z" : "T00:00:00Z"
        return Timestamp.parse("\(part(0, 4))-\(part(4, 2))-\(part(6, 2))\(time)")
    }
}
