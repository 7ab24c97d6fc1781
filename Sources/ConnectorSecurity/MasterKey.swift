import ConnectorCore
import Crypto
import Foundation

/// The AES-256 key that seals every secret in the store. It comes from `MLC_MASTER_KEY` (base64 of 32 bytes) or
/// from the file named by `MLC_MASTER_KEY_FILE`; it is never written anywhere by the connector.
package struct MasterKey: Sendable {
    package let key: SymmetricKey

    /// A short, non-secret fingerprint (first 8 bytes of SHA-256 of the key) stored next to sealed values so a
    /// wrong key is reported as such instead of as corrupt data. Computed once: every sealed value checks it.
    package let fingerprint: String

    package init(key: SymmetricKey) {
        self.key = key
        let digest = key.withUnsafeBytes { SHA256.hash(data: Data($0)) }
        fingerprint = FixedFormat.hex(Array(digest.prefix(8)))
    }

    package static func generate() -> String {
        SymmetricKey(size: .bits256).withUnsafeBytes { Data($0).base64EncodedString() }
    }

    package init(base64 text: String) throws {
        let trimmed = text.trimmingWhitespace()
        guard let data = Data(base64Encoded: trimmed), data.count == 32 else {
            throw ConnectorError(
                .masterKeyInvalid,
                "the master key must be 32 random bytes in base64 (44 characters); create one with `local-runner keys generate`"
            )
        }
        self.init(key: SymmetricKey(data: data))
    }

    /// Loads the key from the environment: `MLC_MASTER_KEY`, else `MLC_MASTER_KEY_FILE`.
    package static func fromEnvironment(_ environment: [String: String] = ProcessInfo.processInfo.environment) throws
        -> MasterKey
    {
        if let value = environment["MLC_MASTER_KEY"], !value.isEmpty {
            return try MasterKey(base64: value)
        }
        if let path = environment["MLC_MASTER_KEY_FILE"], !path.isEmpty {
            guard let data = FileManager.default.contents(atPath: path) else {
                throw ConnectorError(.masterKeyMissing, "MLC_MASTER_KEY_FILE names a file that cannot be read")
            }
            return try MasterKey(base64: String(decoding: data, as: UTF8.self))
        }
        throw ConnectorError(
            .masterKeyMissing,
            "MLC_MASTER_KEY is not set: export the key the connections were stored with (create one with `local-runner keys generate`)"
        )
    }
}
