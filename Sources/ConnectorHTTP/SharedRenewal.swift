import ConnectorCore
import Foundation

/// One credential (a token, a session) shared by every process of a connection: taken from the store while it is
/// good, renewed by one process at a time under a lease in the store, waited for while another process renews it.
/// The token providers and the cookie-session provider all obtain their credential through this.
enum SharedRenewal {
    /// - Parameters:
    ///   - load: the stored credential, if any.
    ///   - isFresh: good enough to use without renewing.
    ///   - isUsable: still good enough to use while another process renews it.
    ///   - renew: gets a new credential and stores it (runs under the lease).
    ///   - what: for the error when the wait runs out ("refresh the jaggaer token").
    static func obtain<Credential: Sendable>(
        lease: Lease, ttl: Duration, wait: Duration, clock: any WallClock, what: String,
        load: () async -> Credential?, isFresh: (Credential) -> Bool, isUsable: (Credential) -> Bool,
        renew: () async throws -> Credential,
        isolation: isolated (any Actor)? = #isolation
    ) async throws -> Credential {
        let deadline = clock.now().addingTimeInterval(wait.timeInterval)
        while true {
            let cached = await load()
            if let cached, isFresh(cached) { return cached }
            if try await lease.acquire(ttl: ttl, now: clock.now()) {
                do {
                    // Someone may have renewed it between our read and taking the lease.
                    if let again = await load(), isFresh(again) {
                        try? await lease.release()
                        return again
                    }
                    let renewed = try await renew()
                    try? await lease.release()
                    return renewed
                } catch {
                    try? await lease.release()
                    throw error
                }
            }
            // Another process is renewing. A credential still usable can be used meanwhile.
            if let cached, isUsable(cached) { return cached }
            guard clock.now() < deadline else {
                throw ConnectorError(
                    .authFailed, kind: .temporary, "waited too long for another process to \(what)")
            }
            try await clock.sleep(for: .milliseconds(100))
        }
    }
}
