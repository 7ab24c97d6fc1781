import Foundation

/// Exit codes of a step process (sysexits.h), the contract with the runner and the function platforms.
package enum StepExitCode: Int32, Sendable, Codable {
    /// Handled: ok, duplicate or needs_review.
    case ok = 0
    /// The input event is malformed; never retried, dead-lettered with the event kept.
    case dataError = 65
    /// The upstream system stayed unavailable after the step's own retries.
    case unavailable = 69
    /// An internal bug.
    case software = 70
    /// A temporary failure; retry later (see `retryAt`).
    case tempFail = 75
    /// Missing or invalid configuration: connection, credentials, master key.
    case config = 78
}

/// The error type of ml-connector: a stable dotted code (a wire contract: it appears in step results, the audit
/// trail and the dead-letter list; never rename one), a message that is safe to show, and a kind that decides the
/// exit code and whether a retry can help.
package struct ConnectorError: Error, Sendable, CustomStringConvertible {
    package enum Kind: String, Sendable, Codable {
        case badInput, configuration, temporary, unavailable, rejected, conflict, internalError
    }

    package struct Code: Hashable, Sendable, Codable, CustomStringConvertible, ExpressibleByStringLiteral {
        package let rawValue: String
        package init(_ rawValue: String) { self.rawValue = rawValue }
        package init(stringLiteral value: String) { self.rawValue = value }
        package init(from decoder: any Decoder) throws {
            rawValue = try decoder.singleValueContainer().decode(String.self)
        }
        package func encode(to encoder: any Encoder) throws {
            var c = encoder.singleValueContainer()
            try c.encode(rawValue)
        }
        package var description: String { rawValue }

        package static let eventMalformed: Code = "event.malformed"
        package static let eventInvalid: Code = "event.invalid"
        package static let eventTypeUnsupported: Code = "event.type_unsupported"
        package static let connectionUnknown: Code = "connection.unknown"
        package static let connectionMissing: Code = "connection.missing"
        package static let connectionInvalid: Code = "connection.invalid"
        package static let masterKeyMissing: Code = "config.master_key_missing"
        package static let masterKeyInvalid: Code = "config.master_key_invalid"
        package static let masterKeyMismatch: Code = "config.master_key_mismatch"
        package static let configInvalid: Code = "config.invalid"
        package static let stateUnavailable: Code = "state.unavailable"
        package static let stateCorrupt: Code = "state.corrupt"
        package static let urlRejected: Code = "security.url_rejected"
        package static let authFailed: Code = "auth.failed"
        package static let authRejected: Code = "auth.rejected"
        package static let httpTransport: Code = "http.transport"
        package static let httpTimeout: Code = "http.timeout"
        package static let httpStatus: Code = "http.status"
        package static let httpRateLimited: Code = "http.rate_limited"
        package static let upstreamUnavailable: Code = "upstream.unavailable"
        package static let upstreamRejected: Code = "upstream.rejected"
        package static let upstreamMalformed: Code = "upstream.malformed"
        package static let ambiguousWrite: Code = "erp.ambiguous_write"
        /// An invoice line references a purchase order the ERP does not have (yet): the invoice waits in review,
        /// naming the PO, instead of landing unlinked.
        package static let purchaseOrderNotFound: Code = "erp.po_not_found"
        /// The ERP cannot do what was asked (see its capabilities): a configuration matter, not a retry.
        package static let unsupported: Code = "erp.unsupported"
        /// A credit memo for an ERP (or a connection) that has no credit document for it: it waits in review,
        /// never written as a negative invoice.
        package static let creditMemoUnsupported: Code = "erp.credit_memo_unsupported"
        /// The ERP session (SAP Business One `B1SESSION`, an Acumatica cookie session) expired or is unknown to the
        /// server: sign in again once and replay; unlike `auth.rejected` the credentials are not at fault.
        package static let sessionExpired: Code = "auth.session_expired"
        package static let inFlight: Code = "dedup.in_flight"
        package static let internalError: Code = "internal.error"
    }

    package var code: Code
    package var kind: Kind
    package var message: String
    /// When a retry makes sense at the earliest (from `Retry-After` or backoff).
    package var retryAt: Date?
    /// HTTP status of the upstream response, when there was one.
    package var httpStatus: Int?

    package init(_ code: Code, kind: Kind? = nil, _ message: String, retryAt: Date? = nil, httpStatus: Int? = nil) {
        self.code = code
        self.kind = kind ?? Self.defaultKind(for: code)
        self.message = message
        self.retryAt = retryAt
        self.httpStatus = httpStatus
    }

    package var retryable: Bool {
        switch kind {
        case .temporary, .unavailable, .conflict: true
        case .badInput, .configuration, .rejected, .internalError: false
        }
    }

    package var exitCode: StepExitCode {
        switch kind {
        case .badInput: .dataError
        case .configuration: .config
        case .temporary, .conflict: .tempFail
        case .unavailable: .unavailable
        case .rejected: .unavailable
        case .internalError: .software
        }
    }

    package var description: String { "\(code): \(message)" }

    private static func defaultKind(for code: Code) -> Kind {
        switch code {
        case .eventMalformed, .eventInvalid, .eventTypeUnsupported: .badInput
        case .connectionUnknown, .connectionMissing, .connectionInvalid, .masterKeyMissing, .masterKeyInvalid,
            .masterKeyMismatch, .configInvalid, .urlRejected, .authRejected, .unsupported:
            .configuration
        case .httpTransport, .httpTimeout, .httpRateLimited, .inFlight, .stateUnavailable, .ambiguousWrite,
            .sessionExpired:
            .temporary
        case .upstreamUnavailable: .unavailable
        case .upstreamRejected, .upstreamMalformed, .httpStatus, .purchaseOrderNotFound, .creditMemoUnsupported:
            .rejected
        default: .internalError
        }
    }

    /// Whether a session provider should sign in again and replay the request once.
    package var isSessionExpired: Bool { code == .sessionExpired }

    /// Wraps any error as a `ConnectorError`, keeping connector errors as they are.
    package static func wrap(_ error: any Error) -> ConnectorError {
        if let error = error as? ConnectorError { return error }
        if error is CancellationError { return ConnectorError(.internalError, kind: .temporary, "cancelled") }
        if let error = error as? DecodingError {
            return ConnectorError(.internalError, "unexpected decoding failure: \(error.safeDescription)")
        }
        return ConnectorError(.internalError, "unexpected error: \(String(describing: type(of: error)))")
    }
}
