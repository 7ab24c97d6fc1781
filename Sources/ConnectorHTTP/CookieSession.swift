import ConnectorCore
import Foundation
import Logging

/// A signed-in cookie session (SAP Business One Service Layer `B1SESSION` + `ROUTEID`, Acumatica's
/// `.ASPXAUTH` and friends): the cookies to send back, and the sign-in answer for whoever wants to read it.
package struct CookieSession: Sendable, Codable, Hashable, CustomStringConvertible {
    /// Tells sessions apart in the shared cache without comparing cookie values.
    package var id: String
    /// Cookie name and value, in the order the server set them.
    package var cookies: [Cookie]
    package var createdAt: Date
    /// The body of the sign-in answer (B1: `SessionId`, `Version`, `SessionTimeout`).
    package var signInAnswer: Data

    package struct Cookie: Sendable, Codable, Hashable {
        package var name: String
        package var value: String

        package init(name: String, value: String) {
            self.name = name
            self.value = value
        }
    }

    package init(id: String = UUID().uuidString, cookies: [Cookie], createdAt: Date, signInAnswer: Data = Data()) {
        self.id = id
        self.cookies = cookies
        self.createdAt = createdAt
        self.signInAnswer = signInAnswer
    }

    /// The `Cookie` request header.
    package var header: String { cookies.map { "\($0.name)=\($0.value)" }.joined(separator: "; ") }

    package func value(_ name: String) -> String? { cookies.first { $0.name == name }?.value }

    package var description: String {
        "CookieSession(\(cookies.map(\.name).joined(separator: ", ")): <redacted>, since \(Timestamp.format(createdAt)))"
    }

    /// Makes every cookie value known to `SecretRedactor` (the session may come from another process's sign-in).
    package func registerSecrets() {
        for cookie in cookies where !cookie.value.isEmpty { SecretRedactor.register(cookie.value) }
        SecretRedactor.register(header)
    }

    /// Takes the cookies a response sets (one `Set-Cookie` header each): new names are added, known names get the
    /// new value, and a cookie the server clears (empty value, `Max-Age=0`, an expiry in the past) is removed.
    /// Parsed by hand: the Service Layer sends `B1SESSION=<guid>;HttpOnly;` without a `Path`, which some cookie
    /// jars silently drop.
    package mutating func merge(setCookies response: HTTPResponse, now: Date) -> Bool {
        var changed = false
        for header in response.headers where header.name.caseInsensitiveCompare("Set-Cookie") == .orderedSame {
            guard let parsed = Self.parse(setCookie: header.value, now: now) else { continue }
            if let index = cookies.firstIndex(where: { $0.name == parsed.name }) {
                if parsed.cleared {
                    cookies.remove(at: index)
                    changed = true
                } else if cookies[index].value != parsed.value {
                    cookies[index].value = parsed.value
                    changed = true
                }
            } else if !parsed.cleared {
                cookies.append(Cookie(name: parsed.name, value: parsed.value))
                changed = true
            }
        }
        return changed
    }

    /// Name, value and whether the header clears the cookie.
    package static func parse(setCookie: String, now: Date) -> (name: String, value: String, cleared: Bool)? {
        let parts = setCookie.split(separator: ";", omittingEmptySubsequences: true).map {
            $0.trimmingWhitespace(newlines: false)
        }
        guard let first = parts.first, let equals = first.firstIndex(of: "=") else { return nil }
        let name = String(first[..<equals]).trimmingWhitespace(newlines: false)
        var value = String(first[first.index(after: equals)...]).trimmingWhitespace(newlines: false)
        if value.count >= 2, value.hasPrefix("\""), value.hasSuffix("\"") {
            value = String(value.dropFirst().dropLast())
        }
        guard !name.isEmpty else { return nil }
        var cleared = value.isEmpty
        for attribute in parts.dropFirst() {
            let pair = attribute.split(separator: "=", maxSplits: 1).map { $0.trimmingWhitespace(newlines: false) }
            switch pair[0].lowercased() {
            case "max-age":
                if pair.count == 2, let seconds = Int(pair[1]), seconds <= 0 { cleared = true }
            case "expires":
                if pair.count == 2, let date = httpDate(pair[1]), date <= now { cleared = true }
            default:
                break
            }
        }
        return (name, value, cleared)
    }

    private static func httpDate(_ text: String) -> Date? {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "GMT")
        for format in [
            "EEE, dd MMM yyyy HH:mm:ss zzz", "EEE, dd-MMM-yyyy HH:mm:ss zzz", "EEEE, dd-MMM-yy HH:mm:ss zzz",
        ] {
            formatter.dateFormat = format
            if let date = formatter.date(from: text) { return date }
        }
        return nil
    }
}

/// Cookie sessions shared by all processes of a connection, sealed in the store next to the bearer tokens.
package struct SessionCache: Sendable {
    package let store: any StateStore
    package let keys: StateKeys
    package let sealer: any ValueSealer
    /// How long a stored session is offered to other processes. A session the server has dropped earlier costs
    /// one rejected request and a new sign-in; it is never used past its server-side end.
    package let lifetime: Duration

    package init(
        store: any StateStore, keys: StateKeys, sealer: any ValueSealer, lifetime: Duration = .seconds(8 * 3600)
    ) {
        self.store = store
        self.keys = keys
        self.sealer = sealer
        self.lifetime = lifetime
    }

    /// The token cache's store and sealer, for sessions.
    package init(_ tokens: TokenCache, lifetime: Duration = .seconds(8 * 3600)) {
        self.init(store: tokens.store, keys: tokens.keys, sealer: tokens.sealer, lifetime: lifetime)
    }

    package func key(_ name: String) -> String { keys.key("session", name) }
    func userKey(_ name: String, _ owner: String) -> String { keys.key("session-user", name, owner) }
    func userPrefix(_ name: String) -> String { keys.prefix("session-user", name) }

    package func load(_ name: String) async throws -> CookieSession? {
        guard let stored = try await store.get(key(name)) else { return nil }
        let plain = try sealer.open(stored.data, context: key(name))
        let session = try JSONCoding.decode(CookieSession.self, from: plain)
        session.registerSecrets()
        return session
    }

    package func save(_ name: String, _ session: CookieSession) async throws {
        let sealed = try sealer.seal(JSONCoding.encode(session), context: key(name))
        _ = try await store.put(key(name), sealed, ttl: lifetime)
    }

    /// Stores new cookie values of the same session, unless another process has replaced it meanwhile.
    package func update(_ name: String, _ session: CookieSession) async throws {
        guard let stored = try await store.get(key(name)),
            let plain = try? sealer.open(stored.data, context: key(name)),
            let current = try? JSONCoding.decode(CookieSession.self, from: plain), current.id == session.id
        else { return }
        let sealed = try sealer.seal(JSONCoding.encode(session), context: key(name))
        _ = try await store.compareAndSwap(key(name), expectedVersion: stored.version, newValue: sealed, ttl: lifetime)
    }

    /// Drops the session, but only if it is still the one given (another process may have signed in already).
    package func invalidate(_ name: String, ifId id: String) async throws {
        guard let stored = try await store.get(key(name)) else { return }
        if let plain = try? sealer.open(stored.data, context: key(name)),
            let session = try? JSONCoding.decode(CookieSession.self, from: plain), session.id != id
        {
            return
        }
        _ = try await store.delete(key(name), expectedVersion: stored.version)
    }
}

/// Signs in to an API that keeps a server-side session behind cookies, and keeps that session for every request
/// of every process of the connection.
///
/// - One sign-in at a time: in-process through an actor, across processes through a lease in the store, so
///   parallel steps share one session instead of each opening (and orphaning) one. Each sign-in takes a licence
///   slot in SAP Business One and Acumatica.
/// - The session is stored sealed (like `TokenCache`), so the next process reuses it.
/// - A response the caller's rule calls "session expired" drops the session (only if still current), signs in
///   once more and replays the request once, never in a loop.
/// - `close()` signs out when no other live process still uses the session: each process registers itself as a
///   user of the session in the store (with a time-to-live, so a crashed process does not pin it), and the last
///   one out sends the sign-out request with the cookies and drops the cached session.
package actor CookieSessionProvider {
    package struct Configuration: Sendable {
        /// Names the session in the store and in messages ("sap-business-one").
        package var name: String
        /// The sign-in request (with the password). Built on every sign-in, so the secret is read late.
        package var signInRequest: @Sendable () throws -> HTTPRequest
        /// The sign-out request, without cookies (they are added); nil: the API has none.
        package var signOutRequest: (@Sendable () -> HTTPRequest)?
        /// Whether a response says the session is no longer valid (expired, logged out, unknown on this node).
        package var isExpired: @Sendable (HTTPResponse) -> Bool
        /// Maps a failed sign-in answer to the error the step reports.
        package var signInError: @Sendable (HTTPResponse, HTTPRequest) -> ConnectorError
        package var leaseTTL: Duration
        package var waitForOtherSignIn: Duration
        /// How long a process's registration as a user of the session lasts without being renewed.
        package var userTTL: Duration

        package init(
            name: String,
            signInRequest: @escaping @Sendable () throws -> HTTPRequest,
            signOutRequest: (@Sendable () -> HTTPRequest)?,
            isExpired: @escaping @Sendable (HTTPResponse) -> Bool = { $0.status == 401 },
            signInError: (@Sendable (HTTPResponse, HTTPRequest) -> ConnectorError)? = nil,
            leaseTTL: Duration = .seconds(60),
            waitForOtherSignIn: Duration = .seconds(60),
            userTTL: Duration = .seconds(1800)
        ) {
            self.name = name
            self.signInRequest = signInRequest
            self.signOutRequest = signOutRequest
            self.isExpired = isExpired
            self.signInError =
                signInError ?? { response, request in
                    let error = UpstreamError.from(
                        response, request: request, system: name, code: nil,
                        // Whole: `UpstreamError` scrubs secrets before it cuts the excerpt, so none is cut in half.
                        message: String(decoding: response.body.prefix(64 * 1024), as: UTF8.self))
                    return ConnectorError(
                        error.code == .upstreamRejected ? .authRejected : error.code, kind: error.kind,
                        "sign-in failed: \(error.message)", retryAt: error.retryAt, httpStatus: error.httpStatus)
                }
            self.leaseTTL = leaseTTL
            self.waitForOtherSignIn = waitForOtherSignIn
            self.userTTL = userTTL
        }
    }

    package nonisolated let configuration: Configuration
    private let transport: any HTTPTransport
    private let cache: SessionCache?
    private let clock: any WallClock
    private let logger: Logger
    private let owner = UUID().uuidString
    private var current: CookieSession?
    private var inFlight: Task<CookieSession, any Error>?
    /// When this process last registered as a user of the shared session.
    private var registeredAt: Date?
    private var signIns = 0

    /// - Parameter transport: the stack sign-in and sign-out go through (retrying, counted, paced), without
    ///   session cookies.
    package init(
        configuration: Configuration,
        transport: any HTTPTransport,
        cache: SessionCache?,
        clock: any WallClock = SystemWallClock(),
        logger: Logger = Logger(label: "mlc.session")
    ) {
        self.configuration = configuration
        self.transport = transport
        self.cache = cache
        self.clock = clock
        self.logger = logger
    }

    /// How many times this process has signed in (for tests and metrics).
    package var signInCount: Int { signIns }

    /// The session to send: this process's, the shared one, or a new sign-in.
    package func session() async throws -> CookieSession {
        try await registerUser()
        if let current { return current }
        if let inFlight { return try await inFlight.value }
        let task = Task { try await self.obtain() }
        inFlight = task
        defer { inFlight = nil }
        let session = try await task.value
        current = session
        return session
    }

    /// Signs in now, whatever the cache holds (the check that the credentials work), and shares the new session.
    /// The session it replaces is signed out, so no session is left open behind it.
    package func signIn() async throws -> CookieSession {
        try await registerUser()
        let replaced = current
        let fresh = try await fetch()
        current = fresh
        try? await cache?.save(configuration.name, fresh)
        if let replaced { await signOut(replaced) }
        return fresh
    }

    /// Drops a session the server rejected, so the next `session()` signs in (or takes another process's newer one).
    package func invalidate(_ session: CookieSession) async {
        if current?.id == session.id { current = nil }
        try? await cache?.invalidate(configuration.name, ifId: session.id)
    }

    /// Keeps cookies the server changed on an ordinary answer (Acumatica renews its authentication cookie).
    package func absorb(_ response: HTTPResponse, from session: CookieSession) async {
        guard var updated = current, updated.id == session.id else { return }
        guard updated.merge(setCookies: response, now: clock.now()) else { return }
        updated.registerSecrets()
        current = updated
        try? await cache?.update(configuration.name, updated)
    }

    /// Signs out if no other process still uses the session, and forgets it. Errors are logged, never thrown:
    /// the step's own result matters more than a sign-out the server ends by itself after its idle timeout.
    package func close() async {
        guard let session = current else {
            await unregisterUser()
            return
        }
        current = nil
        await unregisterUser()
        if let cache {
            let others =
                (try? await cache.store.scan(prefix: cache.userPrefix(configuration.name), after: nil, limit: 1)) ?? []
            if !others.isEmpty {
                logger.debug("session kept for other processes", metadata: ["session": "\(configuration.name)"])
                return
            }
            try? await cache.invalidate(configuration.name, ifId: session.id)
        }
        await signOut(session)
    }

    private func signOut(_ session: CookieSession) async {
        guard var request = configuration.signOutRequest?() else { return }
        request.setHeader("Cookie", session.header)
        request.headers.removeAll { $0.name.caseInsensitiveCompare("Expect") == .orderedSame }
        do {
            let response = try await transport.send(request)
            if !response.isSuccess, !configuration.isExpired(response) {
                logger.warning(
                    "sign-out refused",
                    metadata: ["session": "\(configuration.name)", "status": "\(response.status)"])
            }
        } catch {
            logger.warning(
                "sign-out failed",
                metadata: ["session": "\(configuration.name)", "error": "\(SecretRedactor.scrub("\(error)"))"])
        }
    }

    private func registerUser() async throws {
        guard let cache else { return }
        let now = clock.now()
        if let registeredAt, now.timeIntervalSince(registeredAt) < configuration.userTTL.timeInterval / 2 { return }
        _ = try await cache.store.put(
            cache.userKey(configuration.name, owner), Data(Timestamp.format(now).utf8), ttl: configuration.userTTL)
        registeredAt = now
    }

    private func unregisterUser() async {
        guard let cache, registeredAt != nil else { return }
        _ = try? await cache.store.delete(cache.userKey(configuration.name, owner))
        registeredAt = nil
    }

    /// Store cache, else a sign-in under the cross-process lease, else wait for whoever holds the lease.
    private func obtain() async throws -> CookieSession {
        guard let cache else { return try await fetch() }
        return try await SharedRenewal.obtain(
            lease: Lease(
                store: cache.store, key: cache.keys.key("lease", "session-\(configuration.name)"), owner: owner),
            ttl: configuration.leaseTTL, wait: configuration.waitForOtherSignIn, clock: clock,
            what: "sign in to \(configuration.name)",
            load: { try? await cache.load(configuration.name) }, isFresh: { _ in true }, isUsable: { _ in true },
            renew: {
                let session = try await fetch()
                try await cache.save(configuration.name, session)
                return session
            })
    }

    private func fetch() async throws -> CookieSession {
        var request = try configuration.signInRequest()
        request.headers.removeAll { $0.name.caseInsensitiveCompare("Expect") == .orderedSame }
        request.registerCredentials()
        let response = try await transport.send(request)
        guard response.isSuccess else { throw configuration.signInError(response, request) }
        var session = CookieSession(cookies: [], createdAt: clock.now(), signInAnswer: response.body)
        _ = session.merge(setCookies: response, now: clock.now())
        guard !session.cookies.isEmpty else {
            throw ConnectorError(
                .upstreamMalformed, "\(configuration.name) accepted the sign-in but set no session cookie")
        }
        session.registerSecrets()
        signIns += 1
        logger.debug(
            "signed in", metadata: ["session": "\(configuration.name)", "cookies": "\(session.cookies.map(\.name))"])
        return session
    }
}

/// Sends each request with the session's cookies. When the answer says the session expired, drops it, signs in
/// once more and replays the request once: the server did not run a request it refused for its session, so even a
/// create may be sent again. Never sends `Expect: 100-continue` (the Service Layer's load balancer answers it with
/// an empty 500).
package struct SessionAuthTransport: HTTPTransport {
    package let base: any HTTPTransport
    package let sessions: CookieSessionProvider

    package init(base: any HTTPTransport, sessions: CookieSessionProvider) {
        self.base = base
        self.sessions = sessions
    }

    package func send(_ request: HTTPRequest) async throws -> HTTPResponse {
        var outgoing = request
        outgoing.headers.removeAll { $0.name.caseInsensitiveCompare("Expect") == .orderedSame }
        let session = try await sessions.session()
        outgoing.setHeader("Cookie", session.header)
        let response = try await base.send(outgoing)
        guard sessions.configuration.isExpired(response) else {
            await sessions.absorb(response, from: session)
            return response
        }
        await sessions.invalidate(session)
        let fresh = try await sessions.session()
        outgoing.setHeader("Cookie", fresh.header)
        let replayed = try await base.send(outgoing)
        await sessions.absorb(replayed, from: fresh)
        return replayed
    }
}
