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
/// that leaves the process (logs, error messages, step results, the audit trail).
///
/// A secret travels in more shapes than its plain text: percent-encoded in a form body or a query (either hex
/// case, `+` or `%20` for spaces), JSON-escaped, base64 (alone, or inside a Basic credential). An upstream that
/// echoes the request back can return any of them, so each registered secret is matched in all of those shapes.
/// Credentials are registered where they are sent (`registerCredentials(in:)`), whatever their source (vault,
/// environment, file, the shared token cache), so nothing a process sends can come back unmasked.
package enum SecretRedactor {
    /// One registered shape, with its bytes for a fast search.
    private struct Pattern: Sendable {
        var text: String
        var bytes: [UInt8]
        /// Percent-escapes come back in either hex case: such patterns are matched case-insensitively.
        var caseless: Bool
    }

    /// Every registered shape, longest first (so a secret's encoding is not half-replaced by a shorter pattern).
    private static let patterns = Mutex<(known: Set<String>, ordered: [Pattern])>(([], []))

    /// Shorter values would turn ordinary words into asterisks; secrets are never that short.
    package static let minimumLength = 6

    package static func register(_ value: String) {
        guard value.count >= minimumLength else { return }
        // Registered before (every request registers its credentials again): its shapes are all known already.
        guard !patterns.withLock({ $0.known.contains(value) }) else { return }
        let variants = encodings(of: value)
        patterns.withLock { state in
            guard !variants.isSubset(of: state.known) else { return }
            state.known.formUnion(variants)
            state.ordered = state.known.sorted { $0.count > $1.count }.map { text in
                let caseless = text.contains("%")
                return Pattern(text: text, bytes: Array((caseless ? text.lowercased() : text).utf8), caseless: caseless)
            }
        }
    }

    /// Registers what an `Authorization` header carries: the whole value, the credential after the scheme and,
    /// for Basic, the decoded `user:password` and the password alone.
    package static func registerAuthorization(_ header: String) {
        register(header)
        let parts = header.split(separator: " ", maxSplits: 1)
        guard parts.count == 2 else { return }
        let credential = String(parts[1]).trimmingWhitespace()
        register(credential)
        if parts[0].lowercased() == "basic", let decoded = Data(base64Encoded: credential) {
            let text = String(decoding: decoded, as: UTF8.self)
            register(text)
            if let colon = text.firstIndex(of: ":") { register(String(text[text.index(after: colon)...])) }
        }
    }

    /// Every shape in which `value` can come back from an upstream that echoes what it was sent.
    package static func encodings(of value: String) -> Set<String> {
        var result: Set<String> = [value]
        // Percent-encoding as a form body or query carries it (RFC 3986 unreserved kept), both hex cases.
        let escaped = PercentEncoding.escaped(value, keeping: PercentEncoding.unreserved)
        result.insert(escaped)
        result.insert(lowercasingPercentEscapes(escaped))
        // application/x-www-form-urlencoded as some clients write it: space as `+`.
        result.insert(escaped.replacingEvery("%20", with: "+"))
        // What URLComponents and browsers leave alone in a query value.
        let query = PercentEncoding.escaped(value, keeping: PercentEncoding.queryAllowed)
        result.insert(query)
        result.insert(lowercasingPercentEscapes(query))
        // JSON string escaping, with and without escaped slashes, and with \u escapes for non-ASCII.
        result.insert(jsonEscaped(value, slashes: false, asciiOnly: false))
        result.insert(jsonEscaped(value, slashes: true, asciiOnly: false))
        result.insert(jsonEscaped(value, slashes: false, asciiOnly: true))
        result.insert(jsonEscaped(value, slashes: true, asciiOnly: true))
        // Base64, standard and URL-safe, with and without padding.
        let base64 = Data(value.utf8).base64EncodedString()
        result.insert(base64)
        var unpadded = base64
        while unpadded.hasSuffix("=") { unpadded.removeLast() }
        result.insert(unpadded)
        result.insert(unpadded.replacingEvery("+", with: "-").replacingEvery("/", with: "_"))
        return result.filter { $0.count >= minimumLength }
    }

    package static func scrub(_ text: String) -> String {
        let ordered = patterns.withLock { $0.ordered }
        guard !ordered.isEmpty, !text.isEmpty else { return text }
        var result = text
        var bytes = Array(result.utf8)
        // Percent-escaped patterns are looked for in a lowercased copy (only when the text has a `%` at all).
        var lowered = bytes.contains(UInt8(ascii: "%")) ? Array(result.lowercased().utf8) : nil
        for pattern in ordered {
            if pattern.caseless {
                guard let haystack = lowered, occurs(pattern.bytes, in: haystack) else { continue }
                result = result.replacingOccurrences(of: pattern.text, with: "***", options: .caseInsensitive)
            } else {
                guard occurs(pattern.bytes, in: bytes) else { continue }
                result = result.replacingOccurrences(of: pattern.text, with: "***")
            }
            bytes = Array(result.utf8)
            if lowered != nil { lowered = Array(result.lowercased().utf8) }
        }
        return result
    }

    /// Whether `needle` occurs in `haystack`: memchr for the first byte, memcmp for the rest (this runs on every
    /// log line, result and audit entry, for every registered shape).
    private static func occurs(_ needle: [UInt8], in haystack: [UInt8]) -> Bool {
        guard let first = needle.first, needle.count <= haystack.count else { return false }
        return haystack.withUnsafeBufferPointer { hay in
            needle.withUnsafeBufferPointer { pin in
                guard let base = hay.baseAddress, let pinBase = pin.baseAddress else { return false }
                var offset = 0
                let last = hay.count - pin.count
                while offset <= last {
                    guard let hit = memchr(base + offset, Int32(first), last - offset + 1) else { return false }
                    let position = base.distance(to: hit.assumingMemoryBound(to: UInt8.self))
                    if memcmp(base + position, pinBase, pin.count) == 0 { return true }
                    offset = position + 1
                }
                return false
            }
        }
    }

    /// A bounded, scrubbed excerpt of text that came from outside (an upstream error body): scrubbed before it is
    /// cut, so a secret straddling the cut can't survive as a fragment, and stripped of control characters.
    package static func excerpt(_ text: String, limit: Int = 300) -> String {
        let clean = String(
            String.UnicodeScalarView(
                scrub(text).unicodeScalars.map { $0.properties.generalCategory == .control ? " " : $0 }))
        guard clean.count > limit else { return clean }
        return String(clean.prefix(limit)) + "…"
    }

    private static func lowercasingPercentEscapes(_ text: String) -> String {
        var output = ""
        var remaining = 0
        for character in text {
            if character == "%" {
                remaining = 2
                output.append(character)
            } else if remaining > 0 {
                remaining -= 1
                output.append(contentsOf: character.lowercased())
            } else {
                output.append(character)
            }
        }
        return output
    }

    private static func jsonEscaped(_ value: String, slashes: Bool, asciiOnly: Bool) -> String {
        var output = ""
        for scalar in value.unicodeScalars {
            switch scalar {
            case "\"": output += "\\\""
            case "\\": output += "\\\\"
            case "/" where slashes: output += "\\/"
            case "\n": output += "\\n"
            case "\r": output += "\\r"
            case "\t": output += "\\t"
            default:
                if scalar.value < 0x20 || (asciiOnly && scalar.value > 0x7E) {
                    if scalar.value > 0xFFFF {
                        for unit in String(scalar).utf16 { output += "\\u" + FixedFormat.hex(unit, width: 4) }
                    } else {
                        output += "\\u" + FixedFormat.hex(scalar.value, width: 4)
                    }
                } else {
                    output.unicodeScalars.append(scalar)
                }
            }
        }
        return output
    }
}
