import ConnectorCore
import Foundation
import Synchronization

/// A `WallClock` that only moves when told: `sleep` advances it instead of waiting.
package final class ManualClock: WallClock {
    private let current: Mutex<Date>
    private let slept = Mutex<[Duration]>([])

    package init(_ start: Date = Date(timeIntervalSince1970: 1_790_000_000)) {
        current = Mutex(start)
    }

    package func now() -> Date { current.withLock { $0 } }

    package func advance(by seconds: TimeInterval) {
        current.withLock { $0 = $0.addingTimeInterval(seconds) }
    }

    package func sleep(for duration: Duration) async throws {
        try Task.checkCancellation()
        slept.withLock { $0.append(duration) }
        advance(by: duration.timeInterval)
    }

    /// Every sleep requested so far.
    package var sleeps: [Duration] { slept.withLock { $0 } }

    /// The clock as a closure for stores.
    package var nowFunction: @Sendable () -> Date { { [self] in self.now() } }
}
