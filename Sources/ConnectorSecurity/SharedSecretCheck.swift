import ConnectorCore
import Crypto
import Foundation

/// Compares a secret presented by a caller (a webhook's `clientState` or header) with the expected ones in time
/// that depends on neither the contents nor the length of either side: both are hashed with SHA-256 first and the
/// digests compared byte by byte without an early exit. Every accepted secret is compared, match or not.
package enum SharedSecretCheck {
    /// Whether `presented` equals one of `accepted`; nil or empty values never match.
    package static func matches(_ presented: String?, anyOf accepted: [Secret]) -> Bool {
        let candidate = Data((presented ?? "").utf8)
        var matched = false
        for secret in accepted {
            let equal = constantTimeEqual(candidate, Data(secret.value.utf8))
            matched = matched || (equal && !secret.value.isEmpty && !candidate.isEmpty)
        }
        return matched
    }

    /// Equality of two byte strings in time independent of their contents and lengths.
    package static func constantTimeEqual(_ lhs: Data, _ rhs: Data) -> Bool {
        let left = Array(SHA256.hash(data: lhs))
        let right = Array(SHA256.hash(data: rhs))
        var difference: UInt8 = 0
        for index in 0..<left.count { difference |= left[index] ^ right[index] }
        return difference == 0
    }
}
