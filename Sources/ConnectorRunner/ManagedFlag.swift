import Synchronization

/// A flag set once from any thread (a signal handler, a lost lock) and read by the runner's loops.
package final class ManagedFlag: Sendable {
    private let storage = Mutex(false)
    package init() {}
    package func set() { storage.withLock { $0 = true } }
    package var value: Bool { storage.withLock { $0 } }
}
