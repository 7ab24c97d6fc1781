import Foundation
import Synchronization

/// A secret in memory (client secret, password, token). Its description never shows the value, and every secret
/// made known here is scrubbed from log lines and error messages by `SecretRedactor`.
package struct Secret: Sendable, Hashable, CustomStringConvertible, CustomDebugStringConvertible {
    package let value: String

    package init(_ value: String) {
        self.value = value
        SecretRedactor.register(value)
    }

    package var description: String { "<redacted>" }
    package var debugDescription: String { "<redacted>" }
}

/// The last line of defence against leaks: every secret value the process has seen is replaced by `***` in text
/// that leaves the process (logs, error messages, step results).
package enum SecretRedactor {
    private static let secrets = Mutex<Set<String>>([])

    package static func register(_ value: String) {
        // Very short values would turn ordinary words into asterisks; secrets are never that short.
        guard value.count >= 6 else { return }
        secrets.withLock { _ = $0.insert(value) }
    }

    package static func scrub(_ text: String) -> String {
        let known = secrets.withLock { $0 }
        guard !known.isEmpty else { return text }
        var result = text
        for secret in known where result.contains(secret) {
            result = result.replacingOccurrences(of: secret, with: "***")
        }
        return result
    }
}
