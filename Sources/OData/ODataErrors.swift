import ConnectorCore
import ConnectorHTTP
import Foundation

extension ConnectorError.Code {
    /// The record changed since it was read (a stale ETag): read it again and reapply.
    package static let upstreamConflict: ConnectorError.Code = "upstream.conflict"
}

/// The (code, message) an ERP put in an error body, whichever of the shapes it used.
package struct ODataErrorDetail: Sendable, Hashable {
    package var code: String?
    package var message: String?

    package init(code: String? = nil, message: String? = nil) {
        self.code = code
        self.message = message
    }
}

/// What an ERP's own error code means beyond its HTTP status, as data: each ERP target passes its rules, and a
/// rule the reference could not confirm says so.
package struct ODataErrorRules: Sendable {
    package enum Outcome: Sendable, Hashable {
        /// `auth.session_expired` (kind temporary): sign in again and replay once.
        case sessionExpired
        /// `auth.rejected` (kind configuration): the credentials themselves were refused.
        case credentialsRejected
        /// `upstream.conflict` (kind conflict): re-read and retry.
        case conflict
    }

    package struct Rule: Sendable, Hashable {
        /// The ERP's code, exactly (numbers as their decimal text: `301`, `-2028`).
        package var code: String?
        /// A case-insensitive fragment of the message.
        package var messageContains: String?
        /// HTTP statuses the rule applies to; nil for any.
        package var statuses: Set<Int>?
        package var outcome: Outcome
        /// False where the reference marks the behaviour UNCONFIRMED.
        package var confirmed: Bool

        package init(
            code: String? = nil, messageContains: String? = nil, statuses: Set<Int>? = nil, outcome: Outcome,
            confirmed: Bool
        ) {
            self.code = code
            self.messageContains = messageContains
            self.statuses = statuses
            self.outcome = outcome
            self.confirmed = confirmed
        }

        func matches(_ detail: ODataErrorDetail, status: Int) -> Bool {
            guard code != nil || messageContains != nil || statuses != nil else { return false }
            if let statuses, !statuses.contains(status) { return false }
            if let code, detail.code != code { return false }
            if let messageContains {
                guard let message = detail.message, message.range(of: messageContains, options: .caseInsensitive) != nil
                else { return false }
            }
            return true
        }
    }

    package var rules: [Rule]

    package init(_ rules: [Rule]) { self.rules = rules }

    package func outcome(for detail: ODataErrorDetail, status: Int) -> Outcome? {
        rules.first { $0.matches(detail, status: status) }?.outcome
    }

    package static let none = ODataErrorRules([])

    /// SAP Business One Service Layer (reference §2.2, §2.3).
    package static let sapBusinessOne = ODataErrorRules([
        // 401 + code 301 "Invalid session or session already timeout." (v1 sends a number, v2 the string "301").
        Rule(code: "301", outcome: .sessionExpired, confirmed: true),
        // The same answer with another code spelling: match the documented text too.
        Rule(messageContains: "session already timeout", outcome: .sessionExpired, confirmed: true),
        Rule(messageContains: "Invalid session", outcome: .sessionExpired, confirmed: true),
        // "Login failed": the code is documented; the HTTP status of a failed login is UNCONFIRMED, hence any.
        Rule(code: "100000027", outcome: .credentialsRejected, confirmed: true),
        // Not a session code: -5002 is listed as a generic business/validation failure (HTTP 400) with varying
        // text; treating it as expiry would sign in again on every validation error. Add a rule here if a tenant
        // is seen answering an expired session with it.
    ])

    /// Business Central API v2.0 (reference §1.7, §1.10).
    package static let businessCentral = ODataErrorRules([
        Rule(code: "Request_EntityChanged", outcome: .conflict, confirmed: true),
        Rule(code: "Authentication_InvalidCredentials", outcome: .credentialsRejected, confirmed: true),
    ])

    /// Dynamics NAV / BC on-premises ODataV4: BC's codes where the server is BC; NAV's bodies are UNCONFIRMED.
    package static let dynamicsNAV = businessCentral

    /// Finance & Operations: the status carries the meaning; the body's `code` is usually empty (reference §2.7).
    package static let financeOperations = none

    /// Acumatica with a cookie session: 401 means "not signed in" (reference §3.6), i.e. the session is gone.
    /// The idle expiry time (~20 min) is UNCONFIRMED, so the connector reacts to the 401 rather than a timer.
    package static let acumaticaCookieSession = ODataErrorRules([
        Rule(statuses: [401], outcome: .sessionExpired, confirmed: true)
    ])
}

/// Error bodies of the five ERPs, read into (code, message) and mapped to a ``ConnectorError``.
///
/// Shapes understood:
/// - OData v4 (BC, NAV, F&O): `{"error":{"code":"…","message":"…","innererror":{"message":"…","internalexception":{…}}}}`;
///   F&O's useful text is in `innererror.message` and nested `internalexception`s.
/// - SAP Business One: `{"error":{"code":-1 | "301","message":{"lang":"en-us","value":"…"} | "…"}}`.
/// - Acumatica: `{"message":"…","exceptionMessage":"…","exceptionType":"…"}`, the ModelState shape
///   `{"message":"…","modelState":{"field":["…"]}}`, and a 422 record with per-field `"error"`s.
/// - OAuth-style `{"error":"…","error_description":"…"}`, and any other body as (bounded) text.
package enum ODataErrors {
    /// Bodies beyond this size are not parsed as JSON (an error body is small; a huge one is not worth the memory).
    static let parseLimit = 1 << 20
    /// Each piece of a message is scrubbed, then cut to this length.
    static let pieceLimit = 500

    /// Maps a failed response: the status through ``UpstreamError/from(_:request:system:code:message:now:)``
    /// (429/503 `Retry-After`, ambiguous writes on 5xx), then the ERP's own code through `rules`.
    package static func error(
        _ response: HTTPResponse, request: HTTPRequest, system: String, rules: ODataErrorRules, now: Date = Date()
    ) -> ConnectorError {
        let detail = parse(response.body)
        var error = UpstreamError.from(
            response, request: request, system: system, code: detail.code, message: detail.message, now: now)
        switch rules.outcome(for: detail, status: response.status) {
        case .sessionExpired:
            error.code = .sessionExpired
            error.kind = .temporary
            error.retryAt = nil
        case .credentialsRejected:
            error.code = .authRejected
            error.kind = .configuration
            error.retryAt = nil
        case .conflict:
            error.code = .upstreamConflict
            error.kind = .conflict
        case nil:
            break
        }
        return error
    }

    /// The code and message of an error body, scrubbed and bounded; nil parts when the body has none.
    package static func parse(_ body: Data) -> ODataErrorDetail {
        guard !body.isEmpty else { return ODataErrorDetail() }
        if body.count <= parseLimit, let object = try? JSONSerialization.jsonObject(with: body) as? [String: Any] {
            let detail = parse(object)
            if detail.code != nil || detail.message != nil { return detail }
        }
        // Scrubbed before tags and whitespace are removed, so a secret is matched as the server echoed it.
        let text = plainText(SecretRedactor.scrub(String(decoding: body.prefix(parseLimit), as: UTF8.self)))
        return ODataErrorDetail(message: text.isEmpty ? nil : SecretRedactor.excerpt(text, limit: pieceLimit))
    }

    private static func parse(_ object: [String: Any]) -> ODataErrorDetail {
        if let error = object["error"] as? [String: Any] {
            var pieces = [text(error["message"])]
            var inner = error["innererror"] as? [String: Any]
            var depth = 0
            while let current = inner, depth < 4 {
                pieces.append(text(current["message"]))
                inner = (current["internalexception"] ?? current["innererror"]) as? [String: Any]
                depth += 1
            }
            return ODataErrorDetail(code: code(error["code"]), message: join(pieces))
        }
        if let error = object["error"] as? String {
            return ODataErrorDetail(code: bounded(error, 80), message: join([text(object["error_description"])]))
        }
        let lowered = Dictionary(
            object.map { ($0.key.lowercased(), $0.value) }, uniquingKeysWith: { first, _ in first })
        var pieces = [text(lowered["message"]), text(lowered["exceptionmessage"])]
        if let modelState = lowered["modelstate"] as? [String: Any] {
            for (field, messages) in modelState.sorted(by: { $0.key < $1.key }).prefix(10) {
                let list = (messages as? [Any])?.compactMap { text($0) } ?? [text(messages)].compactMap { $0 }
                pieces.append(list.isEmpty ? nil : "\(field): \(list.joined(separator: "; "))")
            }
        }
        var fieldErrors: [String] = []
        collectFieldErrors(object, path: [], into: &fieldErrors, depth: 0)
        pieces += fieldErrors.prefix(10).map { $0 }
        let code = text(lowered["exceptiontype"]) ?? text(lowered["code"])
        return ODataErrorDetail(code: code.map { bounded($0, 80) }, message: join(pieces))
    }

    /// Acumatica's 422 echoes the record with `{"value":…,"error":"…"}` on each refused field.
    private static func collectFieldErrors(_ object: Any, path: [String], into errors: inout [String], depth: Int) {
        guard depth < 6, errors.count < 10 else { return }
        if let dictionary = object as? [String: Any] {
            if !path.isEmpty, let message = text(dictionary["error"]) {
                errors.append("\(path.joined(separator: ".")): \(message)")
            }
            for (key, value) in dictionary.sorted(by: { $0.key < $1.key }) where key != "error" {
                collectFieldErrors(value, path: path + [key], into: &errors, depth: depth + 1)
            }
        } else if let array = object as? [Any] {
            for (index, value) in array.prefix(50).enumerated() {
                collectFieldErrors(value, path: path + ["\(index)"], into: &errors, depth: depth + 1)
            }
        }
    }

    /// A code sent as a string or a number (B1 v1 sends `301`, v2 `"301"`); an empty string is no code.
    private static func code(_ value: Any?) -> String? {
        if let number = value as? NSNumber, !(value is String) {
            let double = number.doubleValue
            if double == double.rounded(), abs(double) < 1e15 { return String(Int64(double)) }
            return bounded(number.stringValue, 80)
        }
        return text(value).map { bounded($0, 80) }
    }

    /// A message as a string, or B1's `{"lang":…,"value":…}`.
    private static func text(_ value: Any?) -> String? {
        if let string = value as? String {
            let trimmed = string.trimmingWhitespace()
            return trimmed.isEmpty ? nil : trimmed
        }
        if let object = value as? [String: Any] { return text(object["value"]) }
        return nil
    }

    private static func join(_ pieces: [String?]) -> String? {
        var seen: [String] = []
        for piece in pieces.compactMap({ $0 }) where !seen.contains(piece) { seen.append(piece) }
        guard !seen.isEmpty else { return nil }
        return seen.map { bounded($0, pieceLimit) }.joined(separator: " | ")
    }

    private static func bounded(_ text: String, _ limit: Int) -> String {
        SecretRedactor.excerpt(text, limit: limit)
    }

    /// Text of a non-JSON body: HTML tags dropped, whitespace collapsed.
    static func plainText(_ body: String) -> String {
        var output = ""
        var inTag = false
        for character in body {
            if character == "<" {
                inTag = true
            } else if character == ">" && inTag {
                inTag = false
                output.append(" ")
            } else if !inTag {
                output.append(character)
            }
        }
        return output.split(whereSeparator: \.isWhitespace).joined(separator: " ")
    }
}
