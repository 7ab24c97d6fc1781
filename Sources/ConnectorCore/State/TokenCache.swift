import Foundation

/// Seals values before they go into the store and opens them after (AES-GCM in `ConnectorSecurity`). `context`
/// is bound to the ciphertext (the store key), so a sealed value can't be moved to another key.
package protocol ValueSealer: Sendable {
    func seal(_ plaintext: Data, context: String) throws -> Data
    func open(_ sealed: Data, context: String) throws -> Data
}

/// An access token with its expiry.
package struct AccessToken: Sendable, Codable, Hashable, CustomStringConvertible {
    package var value: String
    package var expiresAt: Date
    package var tokenType: String

    package init(value: String, expiresAt: Date, tokenType: String = "Bearer") {
        self.value = value
        self.expiresAt = expiresAt
        self.tokenType = tokenType
    }

    package var description: String { "AccessToken(<redacted>, expires \(Timestamp.format(expiresAt)))" }
}

/// Access tokens shared by all processes of a connection, stored sealed, so a token is fetched once and reused
/// until shortly before it expires.
package struct TokenCache: Sendable {
    package let store: any StateStore
    package let keys: StateKeys
    package let sealer: any ValueSealer

    package init(store: any StateStore, keys: StateKeys, sealer: any ValueSealer) {
        self.store = store
        self.keys = keys
        self.sealer = sealer
    }

    package func key(_ name: String) -> String { keys.key("token", name) }

    package func load(_ name: String) async throws -> AccessToken? {
        guard let stored = try await store.get(key(name)) else { return nil }
        let plain = try sealer.open(stored.data, context: key(name))
        let token = try JSONCoding.decode(AccessToken.self, from: plain)
        // Fetched by another process: this process's redactor must know it before it is sent anywhere.
        SecretRedactor.register(token.value)
        return token
    }

    package func save(_ name: String, _ token: AccessToken, now: Date) async throws {
        let sealed = try sealer.seal(JSONCoding.encode(token), context: key(name))
        let ttl = max(1, token.expiresAt.timeIntervalSince(now))
        try await store.put(key(name), sealed, ttl: .milliseconds(Int64(ttl * 1000)))
    }

    /// Drops the token, but only if it is still the one given (another process may have refreshed already).
    package func invalidate(_ name: String, ifValue value: String) async throws {
        guard let stored = try await store.get(key(name)) else { return }
        if let plain = try? sealer.open(stored.data, context: key(name)),
            let token = try? JSONCoding.decode(AccessToken.self, from: plain), token.value != value
        {
            return
        }
        _ = try await store.delete(key(name), expectedVersion: stored.version)
    }
}
