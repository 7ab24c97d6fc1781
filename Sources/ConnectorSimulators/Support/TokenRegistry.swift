import Foundation
import Synchronization

/// A client id and secret accepted by a simulated identity provider.
package struct ClientCredentials: Sendable, Equatable, Hashable {
    package var clientId: String
    package var clientSecret: String

    package init(clientId: String, clientSecret: String) {
        self.clientId = clientId
        self.clientSecret = clientSecret
    }
}

/// Opaque bearer tokens issued by one identity provider, with their expiry, shared with the API that accepts
/// them (Entra → Business Central; Keycloak → JAGGAER).
package final class TokenRegistry: Sendable {
    private struct Issued {
        var clientId: String
        var expiresAt: Date
        /// The resource the token was issued for (the scope without `/.default`); nil: the provider's only one.
        var audience: String? = nil
    }

    private let tokens = Mutex<[String: Issued]>([:])
    private let issuedTotal = Mutex<Int>(0)
    private let credentials: Mutex<ClientCredentials>
    private let lifetimeSeconds: Mutex<Int>
    package let clock: SimulatorClock

    /// - Parameters:
    ///   - credentials: the only client id / secret accepted.
    ///   - lifetime: token lifetime in seconds (`expires_in`).
    ///   - clock: the clock that decides expiry.
    package init(credentials: ClientCredentials, lifetime: Int, clock: SimulatorClock) {
        self.credentials = Mutex(credentials)
        self.lifetimeSeconds = Mutex(lifetime)
        self.clock = clock
    }

    /// The accepted credentials.
    package var acceptedCredentials: ClientCredentials { credentials.withLock { $0 } }

    /// Replaces the accepted credentials (credential rotation): the old secret stops working at once.
    /// Tokens already issued stay valid until they expire, as with a real identity provider.
    package func rotate(to newCredentials: ClientCredentials) {
        credentials.withLock { $0 = newCredentials }
    }

    /// Token lifetime in seconds for tokens issued from now on.
    package var lifetime: Int {
        get { lifetimeSeconds.withLock { $0 } }
        set { lifetimeSeconds.withLock { $0 = newValue } }
    }

    /// True when the id and secret are the accepted ones.
    package func authenticate(clientId: String, clientSecret: String) -> Bool {
        let accepted = acceptedCredentials
        return accepted.clientId == clientId && accepted.clientSecret == clientSecret
    }

    /// True when the client id is the known one (the secret may still be wrong).
    package func knowsClient(_ clientId: String) -> Bool { acceptedCredentials.clientId == clientId }

    /// Issues a new random token for `clientId`.
    package func issue(clientId: String, audience: String? = nil) -> (token: String, expiresIn: Int) {
        let seconds = lifetime
        var generator = SystemRandomNumberGenerator()
        let raw = (0..<4).map { _ in String(generator.next(), radix: 16) }.joined()
        let token = "sim." + raw + "." + String(UInt32.random(in: 0...UInt32.max, using: &generator), radix: 36)
        let expiresAt = clock.now().addingTimeInterval(TimeInterval(seconds))
        tokens.withLock { $0[token] = Issued(clientId: clientId, expiresAt: expiresAt, audience: audience) }
        issuedTotal.withLock { $0 += 1 }
        return (token, seconds)
    }

    /// True when `token` was issued here and has not expired or been revoked.
    package func isValid(_ token: String) -> Bool {
        let now = clock.now()
        return tokens.withLock { map in
            guard let issued = map[token] else { return false }
            return issued.expiresAt > now
        }
    }

    /// The client and audience of a valid token (nil when it is unknown or expired).
    package func holder(of token: String) -> (clientId: String, audience: String?)? {
        let now = clock.now()
        return tokens.withLock { map in
            guard let issued = map[token], issued.expiresAt > now else { return nil }
            return (issued.clientId, issued.audience)
        }
    }

    /// Invalidates every token issued so far.
    package func expireAll() {
        tokens.withLock { $0.removeAll() }
    }

    /// How many tokens were issued since start.
    package var issuedCount: Int { issuedTotal.withLock { $0 } }
}

/// A per-token sliding-window request limiter (Business Central: 6,000 requests per 5 minutes per user).
package final class SlidingWindowRateLimiter: Sendable {
    private let windows = Mutex<[String: [Date]]>([:])
    private let settings: Mutex<(limit: Int, window: TimeInterval)>
    private let clock: SimulatorClock

    package init(limit: Int, window: TimeInterval, clock: SimulatorClock) {
        self.settings = Mutex((limit, window))
        self.clock = clock
    }

    /// Changes the limit; existing history is kept.
    package func configure(limit: Int, window: TimeInterval) {
        settings.withLock { $0 = (limit, window) }
    }

    /// Records a request for `key` if it is within the limit; otherwise returns the seconds until a slot frees.
    func admit(_ key: String) -> Int? {
        let (limit, window) = settings.withLock { $0 }
        let now = clock.now()
        return windows.withLock { map in
            var stamps = map[key, default: []]
            stamps.removeAll { now.timeIntervalSince($0) >= window }
            if stamps.count >= limit, let oldest = stamps.first {
                map[key] = stamps
                return max(1, Int((oldest.addingTimeInterval(window).timeIntervalSince(now)).rounded(.up)))
            }
            stamps.append(now)
            map[key] = stamps
            return nil
        }
    }

    /// Forgets all history.
    package func reset() {
        windows.withLock { $0.removeAll() }
    }
}
