import Foundation
import Synchronization

/// The simulators' notion of "now": the wall clock plus an offset that tests can advance, so that token
/// expiry and rate-limit windows are tested without sleeping.
package final class SimulatorClock: Sendable {
    private let offset = Mutex<TimeInterval>(0)
    private let fixedStart: Date?

    /// A clock that follows the wall clock (plus any advance).
    package init() { self.fixedStart = nil }

    /// A clock frozen at `start` (plus any advance); for fully deterministic tests.
    package init(fixedAt start: Date) { self.fixedStart = start }

    /// The current simulated time.
    package func now() -> Date {
        (fixedStart ?? Date()).addingTimeInterval(offset.withLock { $0 })
    }

    /// Moves simulated time forward.
    package func advance(by seconds: TimeInterval) {
        offset.withLock { $0 += seconds }
    }
}
