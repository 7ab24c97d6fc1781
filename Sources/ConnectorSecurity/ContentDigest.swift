import ConnectorCore
import Crypto
import Foundation

/// A SHA-256 digest of content, to tell whether a record changed since it was last sent somewhere.
package enum ContentDigest {
    /// Lower-case hex SHA-256 of `data`.
    package static func sha256Hex(_ data: Data) -> String {
        FixedFormat.hex(Array(SHA256.hash(data: data)))
    }
}
