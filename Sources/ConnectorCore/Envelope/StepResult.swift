import Foundation

/// What a step did with one event.
package enum StepStatus: String, Sendable, Codable, CaseIterable {
    case ok
    case duplicate
    case needsReview = "needs_review"
    case retry
    case failed
}

/// The one JSON document a step writes to stdout.
package struct StepResult: Sendable, Codable, Hashable {
    package struct ErrorBody: Sendable, Codable, Hashable {
        package var code: String
        package var message: String
        package var retryable: Bool
        package init(code: String, message: String, retryable: Bool) {
            self.code = code
            self.message = message
            self.retryable = retryable
        }
    }

    package struct Metrics: Sendable, Codable, Hashable {
        package var httpRequests: Int
        package var durationMs: Int
        /// Requests by `"<system> <host> <status>"` (`error` when no answer came), for the runner's Prometheus metrics.
        package var requests: [String: Int]?
        /// Time spent waiting for the shared request budget.
        package var rateLimitWaitMs: Int?
        package init(
            httpRequests: Int = 0, durationMs: Int = 0, requests: [String: Int]? = nil, rateLimitWaitMs: Int? = nil
        ) {
            self.httpRequests = httpRequests
            self.durationMs = durationMs
            self.requests = requests
            self.rateLimitWaitMs = rateLimitWaitMs
        }
    }

    /// Why a record was sent to review.
    package struct Review: Sendable, Codable, Hashable {
        package var reasons: [ReviewReason]
        package init(reasons: [ReviewReason]) { self.reasons = reasons }
    }

    package var status: StepStatus
    package var events: [CloudEvent]
    package var retryAt: Date?
    package var error: ErrorBody?
    package var review: Review?
    package var metrics: Metrics
    /// The business record this result moves, and to which state.
    package var record: RecordUpdate?
    /// Small, non-secret facts about what happened (e.g. the ERP document number), kept in the audit trail.
    package var detail: [String: String]?
    /// For steps behind an HTTP trigger (webhooks): what the gateway answers the caller, once the emitted events
    /// are stored.
    package var reply: HTTPReply?
    /// For `ping-connection`: the "see if we fit" report, one line per check.
    package var fitReport: [FitCheck]?

    package init(
        status: StepStatus,
        events: [CloudEvent] = [],
        retryAt: Date? = nil,
        error: ErrorBody? = nil,
        review: Review? = nil,
        metrics: Metrics = Metrics(),
        record: RecordUpdate? = nil,
        detail: [String: String]? = nil,
        reply: HTTPReply? = nil,
        fitReport: [FitCheck]? = nil
    ) {
        self.reply = reply
        self.fitReport = fitReport
        self.status = status
        self.events = events
        self.retryAt = retryAt
        self.error = error
        self.review = review
        self.metrics = metrics
        self.record = record
        self.detail = detail
    }

    package static func ok(_ events: [CloudEvent] = [], detail: [String: String]? = nil) -> StepResult {
        StepResult(status: .ok, events: events, detail: detail)
    }

    package static func failure(_ error: ConnectorError) -> StepResult {
        let body = ErrorBody(code: error.code.rawValue, message: error.message, retryable: error.retryable)
        if error.retryable, error.kind == .temporary || error.kind == .conflict {
            return StepResult(status: .retry, retryAt: error.retryAt, error: body)
        }
        return StepResult(status: .failed, error: body)
    }

    /// The exit code the process ends with for this result.
    package func exitCode(for error: ConnectorError?) -> StepExitCode {
        switch status {
        case .ok, .duplicate, .needsReview: .ok
        case .retry: .tempFail
        case .failed: error?.exitCode ?? .software
        }
    }
}

/// The HTTP answer of a step behind an HTTP trigger.
package struct HTTPReply: Sendable, Codable, Hashable {
    package var status: Int
    package var contentType: String?
    package var body: String?
    package init(status: Int, contentType: String? = nil, body: String? = nil) {
        self.status = status
        self.contentType = contentType
        self.body = body
    }
}

/// A reason a record cannot go on without a person: stable code + human message + optional detail.
package struct ReviewReason: Sendable, Codable, Hashable {
    package var code: String
    package var message: String
    package var field: String?
    /// The master-data record this reason waits for (a vendor, account or dimension value missing or unusable in
    /// the ERP): once a sync brings it in usable, the record is sent through its step again without a person.
    package var awaits: AwaitedCode?
    package init(_ code: String, _ message: String, field: String? = nil, awaits: AwaitedCode? = nil) {
        self.code = code
        self.message = message
        self.field = field
        self.awaits = awaits
    }
}

/// A master-data code a review item waits for: what kind of record, and its code in the ERP.
package struct AwaitedCode: Sendable, Codable, Hashable, CustomStringConvertible {
    package enum Kind: String, Sendable, Codable, Hashable {
        case vendor, account, dimension, dimensionValue
    }

    package var kind: Kind
    package var code: String
    /// For a dimension value: the dimension it belongs to.
    package var dimension: String?

    package init(_ kind: Kind, _ code: String, dimension: String? = nil) {
        self.kind = kind
        self.code = code
        self.dimension = dimension
    }

    package var description: String {
        switch kind {
        case .vendor: "vendor \(code)"
        case .account: "G/L account \(code)"
        case .dimension: "dimension \(code)"
        case .dimensionValue: "dimension value \(dimension ?? "?") \(code)"
        }
    }
}

/// A record's new state as reported by a step.
package struct RecordUpdate: Sendable, Codable, Hashable {
    package var recordId: String
    package var state: RecordState
    package var document: ERPDocumentRef?
    package init(recordId: String, state: RecordState, document: ERPDocumentRef? = nil) {
        self.recordId = recordId
        self.state = state
        self.document = document
    }
}
