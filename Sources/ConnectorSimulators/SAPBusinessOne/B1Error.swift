import Foundation

/// A Service Layer error: HTTP status plus the numeric `error.code` and `error.message.value` of the body
/// (reference §2.3). v1 writes the code as a JSON number, v2 as a string (`"301"`).
package struct B1Error: Error, Sendable, CustomStringConvertible {
    package var status: Int
    package var code: Int
    package var message: String

    package init(_ status: Int, _ code: Int, _ message: String) {
        self.status = status
        self.code = code
        self.message = message
    }

    package var description: String { "HTTP \(status) \(code): \(message)" }

    /// `{"error":{"code":…,"message":{"lang":"en-us","value":…}}}`.
    func body(version: B1Version) -> SimJSON {
        let code: SimJSON = version == .v1 ? .int(self.code) : .string(String(self.code))
        return .object(
            SimJSONObject([
                "error": .object(
                    SimJSONObject([
                        "code": code,
                        "message": .object(SimJSONObject(["lang": .string("en-us"), "value": .string(message)])),
                    ]))
            ]))
    }

    /// 401, code 301: a missing, unknown or expired session, or a request without `ROUTEID`.
    static let invalidSession = B1Error(401, 301, "Invalid session or session already timeout.")
    /// 401, code 100000027: wrong company, user or password (the status is UNCONFIRMED, reference §2.3).
    static let loginFailed = B1Error(401, 100_000_027, "Login failed")
    /// 404, code -2028: GET by a key that does not exist.
    static let noMatch = B1Error(404, -2028, "No matching records found (ODBC -2028)")

    /// 400, code -1000: an unknown property in a body or a query.
    static func invalidProperty(_ name: String, of type: String) -> B1Error {
        B1Error(400, -1000, "Property '\(name)' of '\(type)' is invalid")
    }

    /// 400, code -1000: a malformed query option.
    static func query(_ message: String) -> B1Error { B1Error(400, -1000, message) }

    /// 400, code -5002: a business rule refused the document.
    static func business(_ message: String) -> B1Error { B1Error(400, -5002, message) }

    /// 400, code -10: a field names something that does not exist or cannot be used (`Invalid BP code [OPCH.CardCode]`).
    static func field(_ message: String) -> B1Error { B1Error(400, -10, message) }
}

/// The two Service Layer base paths.
package enum B1Version: String, Sendable {
    /// `/b1s/v1`: OData v3 style, `odata.metadata`, `odata.nextLink`, numeric error codes.
    case v1
    /// `/b1s/v2`: OData v4, `@odata.context`, `@odata.nextLink`, error codes as strings.
    case v2

    var nextLinkKey: String { self == .v1 ? "odata.nextLink" : "@odata.nextLink" }
    var metadataKey: String { self == .v1 ? "odata.metadata" : "@odata.context" }
    var countKey: String { self == .v1 ? "odata.count" : "@odata.count" }
}
