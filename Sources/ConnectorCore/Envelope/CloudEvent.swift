import Foundation

/// A CloudEvents 1.0 event in structured JSON mode: the one input of every step and the unit routed between steps.
///
/// Extension attributes used by ml-connector: `connection` (which connection the event belongs to), `flow`,
/// `attempt` (1-based delivery attempt), `recordid` (the business record the event is about, the key of its
/// audit trail) and `causationid` (the id of the event that produced this one); and the distributed tracing
/// extension's `traceparent` / `tracestate` (W3C Trace Context, see ``TraceContext``).
package struct CloudEvent: Sendable, Hashable {
    package static let specVersion = "1.0"

    package var id: String
    package var source: String
    package var type: String
    package var time: Date?
    package var subject: String?
    package var datacontenttype: String?
    package var data: JSONValue?
    package var connection: String?
    package var flow: String?
    package var attempt: Int
    package var recordid: String?
    package var causationid: String?
    /// W3C `traceparent` of the span that emitted the event; an invalid one is dropped when decoded (the spec's
    /// rule: start a new trace rather than refuse the request).
    package var traceparent: String?
    /// W3C `tracestate`, carried along unchanged with a valid `traceparent` only, cut to `maxTracestateLength`.
    package var tracestate: String?
    /// The longest `tracestate` kept (W3C Trace Context lets a vendor truncate; 512 is what platforms propagate).
    package static let maxTracestateLength = 512

    package init(
        id: String = UUID().uuidString.lowercased(),
        source: String,
        type: String,
        time: Date? = Date(),
        subject: String? = nil,
        data: JSONValue?,
        connection: String?,
        flow: String? = nil,
        attempt: Int = 1,
        recordid: String? = nil,
        causationid: String? = nil
    ) {
        self.id = id
        self.source = source
        self.type = type
        self.time = time
        self.subject = subject
        self.datacontenttype = data == nil ? nil : "application/json"
        self.data = data
        self.connection = connection
        self.flow = flow
        self.attempt = attempt
        self.recordid = recordid
        self.causationid = causationid
    }

    /// `source` + `id` identify an event (CloudEvents 1.0); used as the key of per-event state.
    package var identity: String { "\(source)#\(id)" }

    /// Builds the next event of a flow, carrying connection, flow and record along.
    package func next(
        type: String,
        source: String,
        data: some Encodable,
        recordid: String? = nil,
        id: String? = nil,
        time: Date = Date()
    ) throws -> CloudEvent {
        CloudEvent(
            id: id ?? UUID().uuidString.lowercased(),
            source: source,
            type: type,
            time: time,
            data: try JSONValue(encoding: data),
            connection: connection,
            flow: flow,
            attempt: 1,
            recordid: recordid ?? self.recordid,
            causationid: self.id
        )
    }

    /// Decodes `data` into the step's input type; a mismatch is bad input.
    package func decodeData<T: Decodable>(_ type: T.Type) throws -> T {
        guard let data else {
            throw ConnectorError(.eventInvalid, "event \(self.type) has no data")
        }
        do {
            return try data.decode(T.self)
        } catch let error as DecodingError {
            throw ConnectorError(.eventInvalid, "event data is not a valid \(self.type): \(error.safeDescription)")
        }
    }
}

extension CloudEvent: Codable {
    private enum CodingKeys: String, CodingKey {
        case specversion, id, source, type, time, subject, datacontenttype, data
        case dataBase64 = "data_base64"
        case connection, flow, attempt, recordid, causationid, traceparent, tracestate
    }

    package init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let spec = try c.decode(String.self, forKey: .specversion)
        guard spec == Self.specVersion else {
            throw DecodingError.dataCorruptedError(
                forKey: .specversion,
                in: c,
                debugDescription: "unsupported specversion \(spec.prefix(20).debugDescription), expected \"1.0\""
            )
        }
        id = try c.decode(String.self, forKey: .id)
        source = try c.decode(String.self, forKey: .source)
        type = try c.decode(String.self, forKey: .type)
        for (key, value) in [(CodingKeys.id, id), (.source, source), (.type, type)] where value.isEmpty {
            throw DecodingError.dataCorruptedError(forKey: key, in: c, debugDescription: "must not be empty")
        }
        time = try c.decodeIfPresent(Date.self, forKey: .time)
        subject = try c.decodeIfPresent(String.self, forKey: .subject)
        datacontenttype = try c.decodeIfPresent(String.self, forKey: .datacontenttype)
        if c.contains(.dataBase64) {
            throw DecodingError.dataCorruptedError(
                forKey: .dataBase64,
                in: c,
                debugDescription: "binary data_base64 is not accepted; send JSON data"
            )
        }
        data = try c.decodeIfPresent(JSONValue.self, forKey: .data)
        connection = try c.decodeIfPresent(String.self, forKey: .connection)
        flow = try c.decodeIfPresent(String.self, forKey: .flow)
        // CloudEvents extension values may travel as strings (e.g. through HTTP binary mode); accept both.
        if let number = try? c.decodeIfPresent(Int.self, forKey: .attempt) {
            attempt = number
        } else if let text = try c.decodeIfPresent(String.self, forKey: .attempt) {
            guard let number = Int(text) else {
                throw DecodingError.dataCorruptedError(forKey: .attempt, in: c, debugDescription: "not an integer")
            }
            attempt = number
        } else {
            attempt = 1
        }
        guard attempt >= 1 else {
            throw DecodingError.dataCorruptedError(forKey: .attempt, in: c, debugDescription: "must be >= 1")
        }
        recordid = try c.decodeIfPresent(String.self, forKey: .recordid)
        causationid = try c.decodeIfPresent(String.self, forKey: .causationid)
        // Tracing is advisory: a malformed context is ignored (with its tracestate), never a reason to refuse.
        let parent = (try? c.decodeIfPresent(String.self, forKey: .traceparent)).flatMap { $0 }
        if let parent, TraceContext(traceparent: parent) != nil {
            traceparent = parent
            tracestate = (try? c.decodeIfPresent(String.self, forKey: .tracestate)).flatMap { $0 }.map {
                String($0.prefix(Self.maxTracestateLength))
            }
        } else {
            traceparent = nil
            tracestate = nil
        }
    }

    package func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(Self.specVersion, forKey: .specversion)
        try c.encode(id, forKey: .id)
        try c.encode(source, forKey: .source)
        try c.encode(type, forKey: .type)
        try c.encodeIfPresent(time, forKey: .time)
        try c.encodeIfPresent(subject, forKey: .subject)
        try c.encodeIfPresent(datacontenttype, forKey: .datacontenttype)
        try c.encodeIfPresent(data, forKey: .data)
        try c.encodeIfPresent(connection, forKey: .connection)
        try c.encodeIfPresent(flow, forKey: .flow)
        try c.encode(attempt, forKey: .attempt)
        try c.encodeIfPresent(recordid, forKey: .recordid)
        try c.encodeIfPresent(causationid, forKey: .causationid)
        try c.encodeIfPresent(traceparent, forKey: .traceparent)
        try c.encodeIfPresent(tracestate, forKey: .tracestate)
    }
}

/// Event types, `com.mlconnector.<noun>.<verb>`.
package enum EventType {
    package static let pollRequested = "com.mlconnector.poll.requested"
    package static let pollContinue = "com.mlconnector.poll.continue"
    package static let invoiceDetected = "com.mlconnector.invoice.detected"
    package static let invoiceCaptured = "com.mlconnector.invoice.captured"
    package static let invoiceMapped = "com.mlconnector.invoice.mapped"
    package static let invoiceWritten = "com.mlconnector.invoice.written"
    package static let invoiceDuplicate = "com.mlconnector.invoice.duplicate"
    package static let recordNeedsReview = "com.mlconnector.record.needs_review"
    package static let masterDataSyncRequested = "com.mlconnector.masterdata.sync_requested"
    package static let masterDataSynced = "com.mlconnector.masterdata.synced"
    /// An HTTP request that reached the webhook gateway (a handshake or a change notification from an ERP).
    package static let notificationReceived = "com.mlconnector.notification.received"
    /// Create or renew the ERP's change subscriptions (Business Central webhooks expire after 3 days).
    package static let subscriptionRenewRequested = "com.mlconnector.subscription.renew_requested"
    /// An operator asks whether a connection fits its systems (`local-runner ping`).
    package static let pingRequested = "com.mlconnector.ping.requested"
    /// Read JAGGAER purchase orders changed since the cursor into the ERP (`sync-purchase-orders`).
    package static let purchaseOrderSyncRequested = "com.mlconnector.purchaseorders.sync_requested"
    package static let purchaseOrderSyncContinue = "com.mlconnector.purchaseorders.sync_continue"
    /// One JAGGAER purchase order to write again (a retry from review).
    package static let purchaseOrderDetected = "com.mlconnector.purchaseorder.detected"
    /// An operator (`local-runner approve`) or an approval system approved a written draft for posting.
    package static let invoiceApproved = "com.mlconnector.invoice.approved"
    /// `post-erp-invoice` posted an approved draft in the ERP.
    package static let invoicePosted = "com.mlconnector.invoice.posted"
    /// Read the ERP's paid invoices and set their payment status in JAGGAER (`sync-payment-status`).
    package static let paymentStatusSyncRequested = "com.mlconnector.paymentstatus.sync_requested"
    /// The ERP confirmed one purchase order (a business event, or a retry of one): `push-purchase-orders` reads it
    /// from the ERP by number and sends it to JAGGAER.
    package static let purchaseOrderConfirmed = "com.mlconnector.purchaseorder.confirmed"
}

extension DecodingError {
    /// A description that names the path and the problem but never echoes the input's values.
    package var safeDescription: String {
        func path(_ context: Context) -> String {
            let keys = context.codingPath.map { key in key.intValue.map { "[\($0)]" } ?? key.stringValue }
            return keys.isEmpty ? "the document" : keys.joined(separator: ".")
        }
        switch self {
        case .typeMismatch(let type, let context):
            return "\(path(context)): expected \(type)"
        case .valueNotFound(let type, let context):
            return "\(path(context)): missing \(type) value"
        case .keyNotFound(let key, let context):
            let parent = path(context)
            return parent == "the document"
                ? "missing field \(key.stringValue)" : "\(parent): missing field \(key.stringValue)"
        case .dataCorrupted(let context):
            let detail = context.debugDescription.prefix(200)
            return "\(path(context)): \(detail)"
        @unknown default:
            return "undecodable"
        }
    }
}
