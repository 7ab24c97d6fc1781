import ConnectorCore
import ConnectorFlows
import Foundation

/// The writes that close one step invocation: the audit entry, the record's forward-only state, the review item
/// (added, or resolved when the record moved on), and the first trail entry and state of every record the step
/// emitted. They take ONE read (`getMany` of the record and review entries the rules depend on) and ONE
/// all-or-nothing `commit`, where they took a read and a write per record state, two writes per audit entry and a
/// read per review check before. When a record or review entry changed between the read and the commit, the commit
/// wrote nothing and the whole completion runs again from a fresh read.
enum StepCompletion {
    static func record<H: StepHandler>(
        _ handler: H.Type, event: CloudEvent, outcome: StepDriver.Outcome, context: StepContext, trace: TraceContext
    ) async throws {
        let result = outcome.result
        let store = context.store
        let audit = AuditLog(
            store: store, keys: context.keys,
            retention: .seconds(Int64(context.connection.flow.auditRetentionDays) * 86_400))
        let recordId = result.record?.recordId ?? H.recordId(for: event)
        let now = context.clock.now()
        var appends: [(recordId: String, entry: AuditEntry)] = [
            (
                recordId,
                AuditEntry(
                    at: now,
                    step: H.step,
                    eventId: event.id,
                    eventType: event.type,
                    attempt: event.attempt,
                    status: result.status,
                    durationMs: result.metrics.durationMs,
                    httpRequests: result.metrics.httpRequests,
                    input: H.auditedInput(event),
                    emitted: result.events.map { "\($0.type) \($0.id)" },
                    error: result.error,
                    reasons: result.review?.reasons,
                    detail: result.detail,
                    traceId: trace.traceId
                )
            )
        ]
        var states: [RecordStatus] = []
        if let update = result.record {
            states.append(
                RecordStatus(
                    recordId: update.recordId, state: update.state, updatedAt: now, lastStep: H.step,
                    document: update.document, reasons: result.review?.reasons))
        }
        // Records first seen in this step's output start their own trail.
        for emitted in result.events {
            guard let emittedRecord = emitted.recordid, emittedRecord != recordId else { continue }
            appends.append(
                (
                    emittedRecord,
                    AuditEntry(
                        at: now, step: H.step, eventId: event.id, eventType: event.type, attempt: event.attempt,
                        status: .ok, durationMs: 0, httpRequests: 0, input: nil,
                        emitted: ["\(emitted.type) \(emitted.id)"], error: nil, reasons: nil,
                        detail: ["note": "emitted by \(H.step)"], traceId: trace.traceId
                    )
                ))
            if emitted.type == EventType.invoiceCaptured {
                states.append(RecordStatus(recordId: emittedRecord, state: .captured, updatedAt: now, lastStep: H.step))
            }
        }
        let reviewKey = context.keys.key("review", recordId)
        var newReview: ReviewItem?
        if result.status == .needsReview, let reasons = result.review?.reasons {
            newReview = ReviewItem(
                recordId: recordId, step: H.step, reasons: reasons, event: H.auditedInput(event), createdAt: now)
        }
        // A record that moved on is no longer waiting for review.
        let resolvesReview =
            newReview == nil && (result.status == .ok || result.status == .duplicate)
            && result.record != nil

        var recordKeys: [String] = []
        for status in states where !recordKeys.contains(audit.recordKey(status.recordId)) {
            recordKeys.append(audit.recordKey(status.recordId))
        }
        let reads = recordKeys + (resolvesReview ? [reviewKey] : [])
        let appendWrites = try appends.map { try audit.appending(recordId: $0.recordId, $0.entry) }

        for _ in 0..<50 {
            let values = reads.isEmpty ? [] : try await store.getMany(reads)
            var current: [String: StoredValue] = [:]
            for (key, value) in zip(reads, values) { current[key] = value }
            var writes = appendWrites
            for key in recordKeys {
                let stored = current[key]
                let before = try stored.map { try decode(RecordStatus.self, $0, key) }
                var next = before
                for status in states where audit.recordKey(status.recordId) == key {
                    next = AuditLog.advanced(next, to: status) ?? next
                }
                guard let next, next != before else { continue }
                let data = try JSONCoding.encode(next)
                writes.append(
                    stored.map { .compareAndSwap(key, expectedVersion: $0.version, data, ttl: nil) }
                        ?? .putIfAbsent(key, data, ttl: nil))
            }
            if let newReview {
                writes.append(.put(reviewKey, try JSONCoding.encodeScrubbed(newReview), ttl: nil))
            } else if resolvesReview, let stored = current[reviewKey] {
                var item = try decode(ReviewItem.self, stored, reviewKey)
                if item.status == .open {
                    item.status = .resolved
                    item.note = "moved on: \(H.step) \(result.status.rawValue)"
                    writes.append(
                        .compareAndSwap(
                            reviewKey, expectedVersion: stored.version, try JSONCoding.encode(item), ttl: nil))
                }
            }
            if try await store.commit(writes) != nil { return }
        }
        throw ConnectorError(
            .stateUnavailable, kind: .temporary, "too much contention recording the outcome of \(recordId)")
    }

    private static func decode<T: Decodable>(_ type: T.Type, _ stored: StoredValue, _ key: String) throws -> T {
        do {
            return try JSONCoding.decode(T.self, from: stored.data)
        } catch let error as DecodingError {
            throw ConnectorError(
                .stateCorrupt, "stored value at \(key) is not a valid \(T.self): \(error.safeDescription)")
        }
    }
}
