import Foundation
import Synchronization

/// Who may sign in to the simulated instance, and the licence limits (reference §3.2, §3.7).
package struct AcumaticaAccess: Sendable, Equatable {
    /// Tenant login name (cookie sign-in's `tenant`, the part after `@` in the OAuth client id).
    package var tenant: String
    package var username: String
    package var password: String
    /// Connected application (SM303010): `GUID@Tenant`.
    package var clientId: String
    package var clientSecret: String
    /// Branches one may sign in to; the first is the default.
    package var branches: [String]

    package init(
        tenant: String, username: String, password: String, clientId: String, clientSecret: String,
        branches: [String]
    ) {
        self.tenant = tenant
        self.username = username
        self.password = password
        self.clientId = clientId
        self.clientSecret = clientSecret
        self.branches = branches
    }
}

/// Tunables of the simulated instance; the UNCONFIRMED facts are the configurable ones.
package struct AcumaticaOptions: Sendable {
    /// Deployed endpoints as `Name/Version`; any other → 404.
    package var endpoints: [String]
    /// `expires_in` of access tokens (default UNCONFIRMED; IdentityServer's default is an hour).
    package var accessTokenLifetime: TimeInterval
    /// Refresh tokens: absolute lifetime (30 days from first issue, reference §3.2).
    package var refreshTokenLifetime: TimeInterval
    /// Whether a refresh grant issues a new refresh token and retires the old one (UNCONFIRMED; on by default).
    package var rotateRefreshTokens: Bool
    /// Idle expiry of cookie sessions (~20 minutes: a community figure, UNCONFIRMED).
    package var sessionIdleTimeout: TimeInterval
    /// Web-services API users the licence allows at once (trial licence: 2).
    package var maxAPIUsers: Int
    /// API requests per minute the licence allows; nil = no limit (trial licence).
    package var requestsPerMinute: Int?
    /// Unwrapped values (`"VendorRef": "x"`) in a PUT/PATCH body → 400 (UNCONFIRMED); false = accept them.
    package var rejectUnwrappedValues: Bool
    package var detailFilterPolicy: AcuDetailFilterPolicy
    /// String comparisons in `$filter` ignore case, as SQL Server's default collation does (UNCONFIRMED).
    package var caseInsensitiveFilters: Bool
    /// AP preference "Hold Documents on Entry": new bills start On Hold unless `Hold` is given false.
    package var holdBillsOnEntry: Bool
    /// AP preference "Raise an error on duplicate vendor reference number" (setting name UNCONFIRMED): off by
    /// default, so a client that does not dedupe creates duplicates.
    package var rejectDuplicateVendorRef: Bool
    /// Name of the bill release action (UNCONFIRMED, reference §3.4); nil = not served.
    package var releaseActionName: String?
    /// Financial periods (`MMYYYY`) that are closed: bills posted to them are refused.
    package var closedPeriods: Set<String>
    /// Attempts to deliver one push notification (reference §3.8: at most five).
    package var pushAttempts: Int
    /// Pause between push delivery attempts.
    package var pushRetryDelay: TimeInterval

    package init(
        endpoints: [String] = ["Default/24.200.001", "Default/23.200.001"],
        accessTokenLifetime: TimeInterval = 3600,
        refreshTokenLifetime: TimeInterval = 30 * 86_400,
        rotateRefreshTokens: Bool = true,
        sessionIdleTimeout: TimeInterval = 20 * 60,
        maxAPIUsers: Int = 2,
        requestsPerMinute: Int? = nil,
        rejectUnwrappedValues: Bool = true,
        detailFilterPolicy: AcuDetailFilterPolicy = .reject,
        caseInsensitiveFilters: Bool = true,
        holdBillsOnEntry: Bool = true,
        rejectDuplicateVendorRef: Bool = false,
        releaseActionName: String? = "Release",
        closedPeriods: Set<String> = [],
        pushAttempts: Int = 5,
        pushRetryDelay: TimeInterval = 0.05
    ) {
        self.endpoints = endpoints
        self.accessTokenLifetime = accessTokenLifetime
        self.refreshTokenLifetime = refreshTokenLifetime
        self.rotateRefreshTokens = rotateRefreshTokens
        self.sessionIdleTimeout = sessionIdleTimeout
        self.maxAPIUsers = maxAPIUsers
        self.requestsPerMinute = requestsPerMinute
        self.rejectUnwrappedValues = rejectUnwrappedValues
        self.detailFilterPolicy = detailFilterPolicy
        self.caseInsensitiveFilters = caseInsensitiveFilters
        self.holdBillsOnEntry = holdBillsOnEntry
        self.rejectDuplicateVendorRef = rejectDuplicateVendorRef
        self.releaseActionName = releaseActionName
        self.closedPeriods = closedPeriods
        self.pushAttempts = pushAttempts
        self.pushRetryDelay = pushRetryDelay
    }
}

/// Sign-in statistics for tests.
package struct AcumaticaSessionStats: Sendable, Equatable {
    package var logins = 0
    package var logouts = 0
    /// Sign-ins refused by the licence's API-user cap.
    package var refusedByLicence = 0
    /// Sessions ended by idle expiry.
    package var expired = 0
    package var tokensIssued = 0
    package var refreshes = 0
}

/// OAuth tokens and cookie sessions of the instance, timed by the simulator clock.
final class AcumaticaIdentity: Sendable {
    struct Session: Sendable {
        var id: String
        var auth: String
        var branch: String
        var lastUsed: Date
    }

    struct Token: Sendable {
        var expires: Date
        var scope: String
    }

    struct Refresh: Sendable {
        var expires: Date
        var scope: String
    }

    private struct State: Sendable {
        var sessions: [String: Session] = [:]
        var tokens: [String: Token] = [:]
        var refreshTokens: [String: Refresh] = [:]
        var stats = AcumaticaSessionStats()
        var access: AcumaticaAccess
    }

    private let state: Mutex<State>
    let clock: SimulatorClock

    init(access: AcumaticaAccess, clock: SimulatorClock) {
        self.state = Mutex(State(access: access))
        self.clock = clock
    }

    var access: AcumaticaAccess { state.withLock { $0.access } }

    func setAccess(_ access: AcumaticaAccess) { state.withLock { $0.access = access } }

    var stats: AcumaticaSessionStats { state.withLock { $0.stats } }

    /// Sessions not yet expired.
    func openSessions(idleTimeout: TimeInterval) -> Int {
        let now = clock.now()
        return state.withLock { state in
            state.sessions.values.filter { now.timeIntervalSince($0.lastUsed) < idleTimeout }.count
        }
    }

    private static func random(_ bytes: Int) -> String {
        var generator = SystemRandomNumberGenerator()
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
        return String((0..<bytes).map { _ in alphabet[Int(generator.next() % UInt64(alphabet.count))] })
    }

    // MARK: Cookie sessions

    enum LoginOutcome {
        case session(Session)
        case invalid(String)
        case licence
    }

    /// `POST /entity/auth/login`: checks the credentials and the API-user cap, then opens a session.
    func login(
        name: String, password: String, tenant: String?, branch: String?, options: AcumaticaOptions
    ) -> LoginOutcome {
        let now = clock.now()
        return state.withLock { state in
            Self.expireIdle(&state, now: now, idleTimeout: options.sessionIdleTimeout)
            let access = state.access
            guard name == access.username, password == access.password else {
                return .invalid("Invalid credentials. Please try again.")
            }
            if let tenant, !tenant.isEmpty, tenant.lowercased() != access.tenant.lowercased() {
                return .invalid("Invalid credentials. Please try again.")
            }
            let chosen = branch.flatMap { $0.isEmpty ? nil : $0 } ?? access.branches.first ?? ""
            guard access.branches.contains(where: { $0.lowercased() == chosen.lowercased() }) else {
                return .invalid("The branch '\(chosen)' cannot be found in the system.")
            }
            guard state.sessions.count < options.maxAPIUsers else {
                state.stats.refusedByLicence += 1
                return .licence
            }
            let session = Session(
                id: Self.random(24).lowercased(), auth: Self.random(64), branch: chosen, lastUsed: now)
            state.sessions[session.auth] = session
            state.stats.logins += 1
            return .session(session)
        }
    }

    /// `POST /entity/auth/logout`: ends the session the cookie names (if any).
    func logout(auth: String?) {
        state.withLock { state in
            state.stats.logouts += 1
            if let auth { state.sessions[auth] = nil }
        }
    }

    /// The session a `.ASPXAUTH` cookie names, touched; nil when unknown or idle too long (then it is ended).
    func session(auth: String, idleTimeout: TimeInterval) -> Session? {
        let now = clock.now()
        return state.withLock { state in
            Self.expireIdle(&state, now: now, idleTimeout: idleTimeout)
            guard var session = state.sessions[auth] else { return nil }
            session.lastUsed = now
            state.sessions[auth] = session
            return session
        }
    }

    private static func expireIdle(_ state: inout State, now: Date, idleTimeout: TimeInterval) {
        for (key, session) in state.sessions where now.timeIntervalSince(session.lastUsed) >= idleTimeout {
            state.sessions[key] = nil
            state.stats.expired += 1
        }
    }

    // MARK: OAuth

    enum TokenOutcome {
        case issued(access: String, refresh: String?, scope: String)
        case error(String, String)
    }

    /// `POST /identity/connect/token` with `grant_type=password` or `refresh_token`.
    func token(form: [(name: String, value: String)], options: AcumaticaOptions) -> TokenOutcome {
        func value(_ name: String) -> String? { form.first { $0.name == name }?.value }
        let now = clock.now()
        return state.withLock { state in
            let access = state.access
            guard let grant = value("grant_type") else {
                return .error("invalid_request", "grant_type is missing")
            }
            guard value("client_id") == access.clientId, value("client_secret") == access.clientSecret else {
                return .error("invalid_client", "")
            }
            switch grant {
            case "password":
                guard value("username") == access.username, value("password") == access.password else {
                    return .error("invalid_grant", "invalid_username_or_password")
                }
                let scope = (value("scope") ?? "api").split(separator: " ").map(String.init)
                guard scope.allSatisfy({ ["api", "offline_access", "api:concurrent_access"].contains($0) }),
                    scope.contains("api")
                else { return .error("invalid_scope", "") }
                let scopeText = scope.joined(separator: " ")
                let token = Self.random(48)
                state.tokens[token] = Token(
                    expires: now.addingTimeInterval(options.accessTokenLifetime), scope: scopeText)
                state.stats.tokensIssued += 1
                var refresh: String?
                if scope.contains("offline_access") {
                    let newRefresh = Self.random(48)
                    state.refreshTokens[newRefresh] = Refresh(
                        expires: now.addingTimeInterval(options.refreshTokenLifetime), scope: scopeText)
                    refresh = newRefresh
                }
                return .issued(access: token, refresh: refresh, scope: scopeText)
            case "refresh_token":
                guard let presented = value("refresh_token"), let entry = state.refreshTokens[presented],
                    entry.expires > now
                else { return .error("invalid_grant", "") }
                let token = Self.random(48)
                state.tokens[token] = Token(
                    expires: now.addingTimeInterval(options.accessTokenLifetime), scope: entry.scope)
                state.stats.tokensIssued += 1
                state.stats.refreshes += 1
                var refresh = presented
                if options.rotateRefreshTokens {
                    state.refreshTokens[presented] = nil
                    refresh = Self.random(48)
                    // The absolute lifetime counts from the first issue.
                    state.refreshTokens[refresh] = entry
                }
                return .issued(access: token, refresh: refresh, scope: entry.scope)
            default:
                return .error("unsupported_grant_type", "")
            }
        }
    }

    /// Whether a bearer token is known and unexpired.
    func isValid(bearer: String) -> Bool {
        let now = clock.now()
        return state.withLock { state in
            guard let token = state.tokens[bearer] else { return false }
            guard token.expires > now else {
                state.tokens[bearer] = nil
                return false
            }
            return true
        }
    }

    /// Ends every session and invalidates every access token (fault `expireTokens`, `/_sim/tokens/expire`).
    /// Refresh tokens stay valid, as they would after an access token's natural expiry.
    func expireAll() {
        state.withLock { state in
            state.stats.expired += state.sessions.count
            state.sessions.removeAll()
            state.tokens.removeAll()
        }
    }
}
