import ConnectorCore
import Crypto
import Foundation

/// Seals and opens secrets with AES-256-GCM under the master key. The format is
/// `mlc1:<key fingerprint>:<base64(nonce ‖ ciphertext ‖ tag)>`; the caller's context (the store key or the
/// secret's field name) is authenticated as associated data, so a sealed value only opens where it was sealed.
package struct Vault: ValueSealer {
    private static let prefix = "mlc1"
    package let masterKey: MasterKey

    package init(masterKey: MasterKey) {
        self.masterKey = masterKey
    }

    package func seal(_ plaintext: Data, context: String) throws -> Data {
        let box = try AES.GCM.seal(plaintext, using: masterKey.key, authenticating: Data(context.utf8))
        guard let combined = box.combined else {
            throw ConnectorError(.internalError, "AES-GCM produced no combined representation")
        }
        return Data("\(Self.prefix):\(masterKey.fingerprint):\(combined.base64EncodedString())".utf8)
    }

    package func open(_ sealed: Data, context: String) throws -> Data {
        let text = String(decoding: sealed, as: UTF8.self)
        let parts = text.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false)
        guard parts.count == 3, parts[0] == Self.prefix, let combined = Data(base64Encoded: String(parts[2])) else {
            throw ConnectorError(.stateCorrupt, "a sealed value is damaged (unknown format)")
        }
        guard parts[1] == masterKey.fingerprint else {
            throw ConnectorError(
                .masterKeyMismatch,
                "the master key in MLC_MASTER_KEY is not the key these secrets were sealed with"
            )
        }
        do {
            let box = try AES.GCM.SealedBox(combined: combined)
            return try AES.GCM.open(box, using: masterKey.key, authenticating: Data(context.utf8))
        } catch {
            throw ConnectorError(
                .stateCorrupt,
                "a sealed value failed authentication (tampered with, or sealed for another connection or field)")
        }
    }

    package func sealString(_ secret: Secret, context: String) throws -> String {
        String(decoding: try seal(Data(secret.value.utf8), context: context), as: UTF8.self)
    }

    package func openString(_ sealed: String, context: String) throws -> Secret {
        Secret(String(decoding: try open(Data(sealed.utf8), context: context), as: UTF8.self))
    }

    /// The plaintext of a connection secret; sealed values are opened, references resolved.
    package func reveal(
        _ field: SecretField, label: String, connection: String,
        environment: [String: String] = ProcessInfo.processInfo.environment
    ) throws -> Secret {
        switch field {
        case .sealed(let value): return try openString(value, context: "connection/\(connection)/\(label)")
        case .plain(let secret): return secret
        case .env(let name):
            guard let value = environment[name], !value.isEmpty else {
                throw ConnectorError(
                    .connectionInvalid, "\(label) refers to environment variable \(name), which is not set")
            }
            return Secret(value)
        case .file(let path):
            return try Self.readSecretFile(path, label: label)
        }
    }

    /// Largest secret file read: secrets are short, and this is not a way to read arbitrary files.
    package static let maxSecretFileBytes = 64 * 1024

    /// The secret in a `{file: PATH}` reference, trimmed; errors name the path and what is wrong with it.
    static func readSecretFile(_ path: String, label: String) throws -> Secret {
        let shown = path.prefix(200).debugDescription
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw ConnectorError(.connectionInvalid, "\(label) refers to the file \(shown), which does not exist")
        }
        guard !isDirectory.boolValue else {
            throw ConnectorError(.connectionInvalid, "\(label) refers to \(shown), which is a directory, not a file")
        }
        guard let handle = FileHandle(forReadingAtPath: path) else {
            throw ConnectorError(
                .connectionInvalid, "\(label) refers to the file \(shown), which cannot be read (permissions?)")
        }
        defer { try? handle.close() }
        let data: Data
        do {
            data = try handle.read(upToCount: maxSecretFileBytes + 1) ?? Data()
        } catch {
            throw ConnectorError(.connectionInvalid, "\(label) refers to the file \(shown), which cannot be read")
        }
        guard data.count <= maxSecretFileBytes else {
            throw ConnectorError(
                .connectionInvalid,
                "\(label) refers to the file \(shown), which is larger than \(maxSecretFileBytes) bytes; it should hold only the secret"
            )
        }
        let text = String(decoding: data, as: UTF8.self).trimmingWhitespace()
        guard !text.isEmpty else {
            throw ConnectorError(.connectionInvalid, "\(label) refers to the file \(shown), which is empty")
        }
        return Secret(text)
    }

    /// Resolves and seals every secret of a connection, for storing it.
    package func sealSecrets(
        of connection: Connection, environment: [String: String] = ProcessInfo.processInfo.environment
    ) throws -> Connection {
        try connection.replacingSecrets { label, field in
            if case .sealed = field { return field }
            let secret = try reveal(field, label: label, connection: connection.id, environment: environment)
            guard !secret.value.isEmpty else {
                throw ConnectorError(.connectionInvalid, "\(label) is empty")
            }
            return .sealed(try sealString(secret, context: "connection/\(connection.id)/\(label)"))
        }
    }
}
