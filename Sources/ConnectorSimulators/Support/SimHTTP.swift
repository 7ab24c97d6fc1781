import Foundation
import Hummingbird

/// A fully-read HTTP request, decoupled from Hummingbird so that the simulators' logic is plain Swift.
struct SimRequest: Sendable {
    let method: String
    /// Percent-decoded path, e.g. `/v2.0/t/production/api/v2.0/companies(…)/vendors`.
    let path: String
    /// The path as sent (still percent-encoded).
    let rawPath: String
    /// The raw (still encoded) query string, without `?`.
    let rawQuery: String
    /// Decoded query items in order.
    let query: [(name: String, value: String)]
    let headers: [(name: String, value: String)]
    let body: [UInt8]
    /// `host:port` the client addressed, when known.
    let authority: String?

    init(
        method: String,
        path: String,
        rawPath: String? = nil,
        rawQuery: String = "",
        headers: [(name: String, value: String)] = [],
        body: [UInt8] = [],
        authority: String? = nil
    ) {
        self.method = method.uppercased()
        self.path = path
        self.rawPath = rawPath ?? path
        self.rawQuery = rawQuery
        self.query = SimRequest.parseQuery(rawQuery)
        self.headers = headers
        self.body = body
        self.authority = authority
    }

    /// The first header with this name (case-insensitive).
    func header(_ name: String) -> String? {
        let lower = name.lowercased()
        return headers.first { $0.name.lowercased() == lower }?.value
    }

    /// The first query item with this name (case-sensitive, as OData's `$filter` etc.).
    func queryValue(_ name: String) -> String? {
        query.first { $0.name == name }?.value
    }

    /// Splits `a=1&b=x%20y` into decoded pairs; `+` is a space (form encoding, as IIS/ASP.NET treat it).
    static func parseQuery(_ raw: String) -> [(name: String, value: String)] {
        guard !raw.isEmpty else { return [] }
        return raw.split(separator: "&", omittingEmptySubsequences: true).map { part in
            let pieces = part.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let name = percentDecode(String(pieces[0]), plusIsSpace: true)
            let value = pieces.count > 1 ? percentDecode(String(pieces[1]), plusIsSpace: true) : ""
            return (name, value)
        }
    }

    static func percentDecode(_ text: String, plusIsSpace: Bool) -> String {
        var bytes: [UInt8] = []
        var iterator = Array(text.utf8).makeIterator()
        while let byte = iterator.next() {
            if byte == UInt8(ascii: "%") {
                guard let high = iterator.next(), let low = iterator.next(), let h = hexValue(high),
                    let l = hexValue(low)
                else {
                    bytes.append(byte)
                    continue
                }
                bytes.append(h << 4 | l)
            } else if plusIsSpace, byte == UInt8(ascii: "+") {
                bytes.append(UInt8(ascii: " "))
            } else {
                bytes.append(byte)
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case 0x30...0x39: return byte - 0x30
        case 0x41...0x46: return byte - 0x41 + 10
        case 0x61...0x66: return byte - 0x61 + 10
        default: return nil
        }
    }

    /// The request body parsed as JSON.
    func jsonBody() throws(JSONParseError) -> SimJSON {
        try SimJSON.parse(body)
    }

    /// The body of an ERP simulator's "pay this invoice" control, `{"vendorNumber", "vendorInvoiceNumber",
    /// "amount"?}` plus whatever else the simulator reads from `body`; nil when either number is missing.
    func payControl() -> (vendorNumber: String, vendorInvoiceNumber: String, amount: Decimal?, body: SimJSON)? {
        guard let body = try? jsonBody(), let vendor = body["vendorNumber"]?.stringValue,
            let number = body["vendorInvoiceNumber"]?.stringValue
        else { return nil }
        return (vendor, number, body["amount"]?.decimalValue, body)
    }

    /// What `payControl` expects, for the control's 400 answer.
    static let payControlUsage = "expected {\"vendorNumber\": \"…\", \"vendorInvoiceNumber\": \"…\", \"amount\"?: 1.5}"

    /// The request body parsed as `application/x-www-form-urlencoded`.
    func formBody() -> [(name: String, value: String)] {
        SimRequest.parseQuery(String(decoding: body, as: UTF8.self))
    }
}

/// A complete response before it is handed to Hummingbird.
struct SimResponse: Sendable {
    var status: Int
    var headers: [(name: String, value: String)]
    var body: [UInt8]

    init(status: Int, headers: [(name: String, value: String)] = [], body: [UInt8] = []) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    /// A JSON response (`Content-Type: application/json; charset=utf-8`).
    static func json(
        _ status: Int,
        _ value: SimJSON,
        headers: [(name: String, value: String)] = [],
        contentType: String = "application/json; charset=utf-8"
    ) -> SimResponse {
        SimResponse(status: status, headers: [("Content-Type", contentType)] + headers, body: value.serialized())
    }

    /// An empty-bodied response.
    static func empty(_ status: Int, headers: [(name: String, value: String)] = []) -> SimResponse {
        SimResponse(status: status, headers: headers)
    }

    func header(_ name: String) -> String? {
        let lower = name.lowercased()
        return headers.first { $0.name.lowercased() == lower }?.value
    }
}

/// Thrown inside a response body writer to abort the connection mid-response.
struct SimulatedConnectionDrop: Error {}

extension SimRequest {
    /// Reads a Hummingbird request completely (bodies up to 32 MiB).
    static func read(_ request: Request) async throws -> SimRequest {
        let buffer = try await request.body.collect(upTo: 32 << 20)
        let bytes = Array(buffer.readableBytesView)
        var headers: [(name: String, value: String)] = []
        for field in request.headers {
            headers.append((field.name.rawName, field.value))
        }
        let rawPath = request.uri.path
        return SimRequest(
            method: request.method.rawValue,
            path: percentDecode(rawPath, plusIsSpace: false),
            rawPath: rawPath,
            rawQuery: request.uri.query ?? "",
            headers: headers,
            body: bytes,
            authority: request.head.authority ?? request.headers.first { $0.name.canonicalName == "host" }?.value
        )
    }
}

extension SimResponse {
    /// Converts to a Hummingbird response. `truncate` makes the body writer send only part of the announced
    /// body and then fail, so the client sees a transport error (the "connection dropped" faults).
    func hummingbird(truncate: Bool = false) -> Response {
        var fields = HTTPFields()
        for (name, value) in headers {
            guard let fieldName = HTTPFields.Name(name) else { continue }
            if fieldName == .setCookie {
                // Cookies cannot be folded into one line (their dates contain commas): one field each.
                fields.append(HTTPFields.Element(name: fieldName, value: value))
            } else if let existing = fields[fieldName] {
                fields[fieldName] = existing + ", " + value
            } else {
                fields[fieldName] = value
            }
        }
        let bytes = body
        if truncate {
            // 204 and 304 responses have no body by definition, so clients would ignore a short one; the head is
            // sent as 200 instead so that the missing bytes are a transport error for every client.
            let code = self.status == 204 || self.status == 304 ? 200 : self.status
            let status = HTTPResponse.Status(code: code)
            // Announce a body longer than what is sent so that no client can take the response as complete.
            let announced = max(bytes.count, 64)
            fields[.contentLength] = String(announced)
            let partial = Array(bytes.prefix(bytes.count / 2))
            let writerBody = ResponseBody(contentLength: announced) { writer in
                if !partial.isEmpty {
                    try await writer.write(ByteBuffer(bytes: partial))
                }
                throw SimulatedConnectionDrop()
            }
            return Response(status: status, headers: fields, body: writerBody)
        }
        let status = HTTPResponse.Status(code: self.status)
        if bytes.isEmpty {
            return Response(status: status, headers: fields, body: ResponseBody())
        }
        return Response(status: status, headers: fields, body: ResponseBody(byteBuffer: ByteBuffer(bytes: bytes)))
    }
}

extension HTTPFields {
    typealias Name = Self.Element.Name
}
