import Synchronization

/// Counts requests per endpoint, keyed `"<system> <METHOD> <path template>"`, e.g. `bc POST purchaseInvoices`,
/// `entra POST token`, `jaggaer GET invoices/{id}`, `keycloak POST token`.
package final class RequestCounters: Sendable {
    private let counts = Mutex<[String: Int]>([:])

    package init() {}

    /// Adds one to `key`.
    package func increment(_ key: String) {
        counts.withLock { $0[key, default: 0] += 1 }
    }

    /// The count for one key (0 if never seen).
    package func count(_ key: String) -> Int {
        counts.withLock { $0[key] ?? 0 }
    }

    /// All counts.
    package func snapshot() -> [String: Int] {
        counts.withLock { $0 }
    }

    /// The sum of all counts whose key starts with `prefix` (e.g. `"bc "`).
    package func total(prefix: String = "") -> Int {
        counts.withLock { $0.filter { $0.key.hasPrefix(prefix) }.values.reduce(0, +) }
    }

    /// Sets every count back to zero.
    package func reset() {
        counts.withLock { $0.removeAll() }
    }
}
