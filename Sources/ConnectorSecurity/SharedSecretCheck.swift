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

    /// Whether `signature` (hex or base64, as `encoding` says; an optional `sha256=` prefix is ignored) is the
    /// HMAC-SHA256 of `body` under one of `keys`. Every key is tried; the comparison is constant-time.
    package static func hmacSHA256Matches(
        _ signature: String?, body: Data, keys: [Secret], encoding: SignatureEncoding
    ) -> Bool {
        guard var text = signature?.trimmingWhitespace(newlines: false), !text.isEmpty else { return false }
        if text.lowercased().hasPrefix("sha256=") { text = String(text.dropFirst("sha256=".count)) }
        let presented: Data
        switch encoding {
        case .hex:
            guard text.count % 2 == 0, text.count <= 256 else { return false }
            var bytes: [UInt8] = []
            var index = text.startIndex
            while index < text.endIndex {
                let next = text.index(index, offsetBy: 2)
                guard let byte = UInt8(text[index..<next], radix: 16) else { return false }
                bytes.append(byte)
                index = next
            }
            presented = Data(bytes)
        case .base64:
            guard let decoded = Data(base64Encoded: text) else { return false }
            presented = decoded
        }
        var matched = false
        for key in keys where !key.value.isEmpty {
            let mac = Data(HMAC<SHA256>.authenticationCode(for: body, using: SymmetricKey(data: Data(key.value.utf8))))
            matched = constantTimeEqual(presented, mac) || matched
        }
        return matched
    }

    package enum SignatureEncoding: String, Sendable, Codable, CaseIterable {
        case hex, base64
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
