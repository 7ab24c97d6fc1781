import ConnectorCore
import Foundation

extension StepContext {
    /// Puts one record up for review, the way every step does it: a review item that keeps the event a retry sends
    /// again (`review retry`), and the record's state, `needsReview` with the reasons (what `status` shows).
    func putUpForReview(recordId: String, step: String, reasons: [ReviewReason], retry event: CloudEvent) async throws {
        try await ReviewQueue(store: store, keys: keys).add(
            ReviewItem(recordId: recordId, step: step, reasons: reasons, event: event, createdAt: clock.now()))
        try await AuditLog(store: store, keys: keys).setState(
            RecordStatus(
                recordId: recordId, state: .needsReview, updatedAt: clock.now(), lastStep: step, reasons: reasons))
    }
}
