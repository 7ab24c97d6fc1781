import ConnectorCore
import Foundation
import Logging

/// OAuth 2.0 resource owner password credentials with a refresh token (RFC 6749 §4.3, §6), for identity servers
/// that take no client credentials grant (Acumatica's `/identity/connect/token`, scope `api offline_access`).
///
/// The password goes to the identity server once; after that the refresh token renews the access token, before it
/// expires (`refreshAhead`) or after (the token was dropped or a 401 invalidated it). A refresh token the server
/// refuses (`invalid_grant`: expired, revoked, rotated away) falls back to one new password grant. Access and
/// refresh token are cached sealed in the store, shared by every process of the connection, and renewed under the
/// same cross-process lease as ``OAuth2ClientCredentialsProvider``: one renewal at a time, others wait for it. A
/// rotated refresh token replaces the old one under that lease, so no process ever spends a stale one twice.
package final class OAuth2PasswordGrantProvider: TokenProvider {
    package struct Configuration: Sendable {
        package var name: String
        package var tokenURL: String
        package var clientId: String
        package var clientSecret: Secret
        package var username: String
        package var password: Secret
        /// `api offline_access` for Acumatica: `offline_access` is what brings a refresh token.
        package var scope: String?
        /// Renew this long before the access token expires.
        package var refreshAhead: Duration
        /// How long a refresh token is kept when the server does not say (Acumatica: 30 days from first issue,
        /// unless the connected application slides it). A refused one falls back to the password grant anyway.
        package var refreshTokenLifetime: Duration
        package var leaseTTL: Duration
        package var waitForOtherRefresh: Duration

        package init(
            name: String, tokenURL: String, clientId: String, clientSecret: Secret, username: String,
            password: Secret, scope: String?, refreshAhead: Duration = .seconds(120),
            refreshTokenLifetime: Duration = .seconds(30 * 86400), leaseTTL: Duration = .seconds(20),
            waitForOtherRefresh: Duration = .seconds(15)
        ) {
            self.name = name
            self.tokenURL = tokenURL
            self.clientId = clientId
            self.clientSecret = clientSecret
            self.username = username
            self.password = password
            self.scope = scope
            self.refreshAhead = refreshAhead
            self.refreshTokenLifetime = refreshTokenLifetime
            self.leaseTTL = leaseTTL
            self.waitForOtherRefresh = waitForOtherRefresh
        }
    }

    /// Which grant produced a token, for tests and logs.
    package enum Grant: String, Sendable {
        case password
        case refreshToken = "refresh_token"
    }

    private let configuration: Configuration
    private let transport: any HTTPTransport
    private let cache: TokenCache?
    private let clock: any WallClock
    private let flight = SingleFlight()
    private let memory = RefreshTokenMemory()
    private let owner = UUID().uuidString
    private let logger: Logger

    package init(
        configuration: Configuration, transport: any HTTPTransport, cache: TokenCache?,
        clock: any WallClock = SystemWallClock(), logger: Logger = Logger(label: "mlc.auth")
    ) {
        self.configuration = configuration
        self.transport = transport
        self.cache = cache
        self.clock = clock
        self.logger = logger
    }

    private var accessName: String { configuration.name }
    private var refreshName: String { configuration.name + "-refresh" }

    package func token() async throws -> AccessToken {
        if let current = await flight.current, isFresh(current) { return current }
        return try await flight.run { try await self.obtain() }
    }

    /// A password grant now, whatever any cache holds: the check that client and user credentials work.
    package func signIn() async throws -> AccessToken {
        let tokens = try await request(.password)
        try? await save(tokens)
        return tokens.access
    }

    package func invalidate(_ token: AccessToken) async {
        await flight.drop(token)
        try? await cache?.invalidate(accessName, ifValue: token.value)
    }

    private func isFresh(_ token: AccessToken) -> Bool {
        token.expiresAt.timeIntervalSince(clock.now()) > configuration.refreshAhead.timeInterval
    }

    private func isUsable(_ token: AccessToken) -> Bool {
        token.expiresAt.timeIntervalSince(clock.now()) > 5
    }

    /// Store cache, else a renewal under the cross-process lease, else wait for whoever holds the lease.
    private func obtain() async throws -> AccessToken {
        guard let cache else { return try await renew() }
        return try await SharedRenewal.obtain(
            lease: Lease(store: cache.store, key: cache.keys.key("lease", "token-\(accessName)"), owner: owner),
            ttl: configuration.leaseTTL, wait: configuration.waitForOtherRefresh, clock: clock,
            what: "refresh the \(configuration.name) token",
            load: { try? await cache.load(accessName) }, isFresh: isFresh, isUsable: isUsable, renew: renew)
    }

    /// The refresh token if there is one (read again from the store: another process may have rotated it), else
    /// the password; a refused refresh token falls back to the password once.
    private func renew() async throws -> AccessToken {
        if let refresh = try await currentRefreshToken() {
            do {
                let tokens = try await request(.refreshToken, refreshToken: refresh)
                try await save(tokens, previousRefresh: refresh)
                return tokens.access
            } catch let error as ConnectorError where error.code == .refreshTokenRefused {
                logger.info(
                    "refresh token refused; signing in with the password grant",
                    metadata: ["provider": "\(configuration.name)"])
                await memory.set(nil)
                if let cache { _ = try? await cache.store.delete(cache.key(refreshName)) }
            }
        }
        let tokens = try await request(.password)
        try await save(tokens)
        return tokens.access
    }

    private func currentRefreshToken() async throws -> String? {
        if let cache {
            if let stored = try? await cache.load(refreshName), stored.expiresAt > clock.now() { return stored.value }
            return nil
        }
        return await memory.value
    }

    private func save(_ tokens: Tokens, previousRefresh: String? = nil) async throws {
        // A refresh answer without a refresh token keeps the one that was used (no rotation); it stays stored.
        await memory.set(tokens.refresh ?? previousRefresh)
        guard let cache else { return }
        let now = clock.now()
        try await cache.save(accessName, tokens.access, now: now)
        if let refresh = tokens.refresh {
            let lifetime = tokens.refreshExpiresIn.map(Double.init) ?? configuration.refreshTokenLifetime.timeInterval
            let stored = AccessToken(value: refresh, expiresAt: now.addingTimeInterval(lifetime), tokenType: "refresh")
            try await cache.save(refreshName, stored, now: now)
        }
    }

    private struct Tokens {
        var access: AccessToken
        var refresh: String?
        var refreshExpiresIn: Int?
    }

    private func request(_ grant: Grant, refreshToken: String? = nil) async throws -> Tokens {
        var form = [("grant_type", grant.rawValue)]
        switch grant {
        case .password:
            form += [("username", configuration.username), ("password", configuration.password.value)]
            if let scope = configuration.scope { form.append(("scope", scope)) }
        case .refreshToken:
            form.append(("refresh_token", refreshToken ?? ""))
        }
        form += [("client_id", configuration.clientId), ("client_secret", configuration.clientSecret.value)]
        let request = HTTPRequest(
            method: "POST", url: configuration.tokenURL,
            headers: [("Content-Type", "application/x-www-form-urlencoded"), ("Accept", "application/json")],
            body: Data(FormEncoding.encode(form).utf8), timeout: .seconds(30), idempotent: true)
        // Password, client secret and refresh token are masked in anything an upstream echoes back.
        request.registerCredentials()
        let requestedAt = clock.now()
        let response = try await transport.send(request)
        guard response.isSuccess else {
            throw Self.tokenError(response, name: configuration.name, grant: grant)
        }
        struct Body: Decodable {
            var accessToken: String
            var expiresIn: LenientInt?
            var tokenType: String?
            var refreshToken: String?
            var refreshExpiresIn: LenientInt?
            enum CodingKeys: String, CodingKey {
                case accessToken = "access_token"
                case expiresIn = "expires_in"
                case tokenType = "token_type"
                case refreshToken = "refresh_token"
                case refreshExpiresIn = "refresh_expires_in"
            }
        }
        guard let body = try? JSONDecoder().decode(Body.self, from: response.body), !body.accessToken.isEmpty else {
            throw ConnectorError(
                .upstreamMalformed, "the \(configuration.name) token endpoint answered without an access_token")
        }
        SecretRedactor.register(body.accessToken)
        if let refresh = body.refreshToken { SecretRedactor.register(refresh) }
        if grant == .password, body.refreshToken == nil {
            logger.warning(
                "the password grant brought no refresh token; every renewal will send the password again (add offline_access to the scope)",
                metadata: ["provider": "\(configuration.name)"])
        }
        let lifetime = Double(body.expiresIn?.value ?? 300)
        logger.debug(
            "token fetched",
            metadata: [
                "provider": "\(configuration.name)", "grant": "\(grant.rawValue)", "expiresIn": "\(Int(lifetime))",
            ])
        return Tokens(
            access: AccessToken(
                value: body.accessToken, expiresAt: requestedAt.addingTimeInterval(lifetime),
                tokenType: body.tokenType ?? "Bearer"),
            refresh: body.refreshToken?.isEmpty == false ? body.refreshToken : nil,
            refreshExpiresIn: body.refreshExpiresIn?.value)
    }

    /// Maps a token endpoint failure by its OAuth `error`. `invalid_grant` on a refresh is the refresh token's
    /// end (its own code, so the provider falls back to the password); on the password grant it is the user's
    /// name or password.
    package static func tokenError(_ response: HTTPResponse, name: String, grant: Grant) -> ConnectorError {
        struct OAuthError: Decodable {
            var error: String?
            var errorDescription: String?
            enum CodingKeys: String, CodingKey {
                case error
                case errorDescription = "error_description"
            }
        }
        let parsed = try? JSONDecoder().decode(OAuthError.self, from: response.body)
        let code = SecretRedactor.excerpt(parsed?.error ?? "http_\(response.status)", limit: 60)
        let description = SecretRedactor.excerpt(parsed?.errorDescription ?? "", limit: 300)
        let detail = description.isEmpty ? code : "\(code): \(description)"
        if grant == .refreshToken, code == "invalid_grant" {
            return ConnectorError(
                .refreshTokenRefused, kind: .configuration, "\(name) refused the refresh token (\(detail))",
                httpStatus: response.status)
        }
        switch code {
        case "invalid_grant":
            return ConnectorError(
                .authRejected, "\(name) refused the user name or password of the password grant (\(detail))",
                httpStatus: response.status)
        case "invalid_client", "unauthorized_client":
            return ConnectorError(
                .authRejected, "\(name) refused the client id or secret (\(detail))", httpStatus: response.status)
        case "invalid_scope", "unsupported_grant_type", "invalid_request":
            return ConnectorError(
                .authRejected, "\(name) refused the \(grant.rawValue) grant request (\(detail))",
                httpStatus: response.status)
        default:
            if response.status == 429 || response.status >= 500 {
                return ConnectorError(
                    .upstreamUnavailable, kind: .temporary,
                    "\(name) token endpoint unavailable (HTTP \(response.status))", httpStatus: response.status)
            }
            return ConnectorError(
                .authFailed, kind: .configuration, "\(name) token request failed (HTTP \(response.status), \(code))",
                httpStatus: response.status)
        }
    }
}

extension ConnectorError.Code {
    /// The identity server refused a refresh token (expired, revoked or rotated away): sign in again.
    package static let refreshTokenRefused: ConnectorError.Code = "auth.refresh_token_refused"
}

/// The refresh token of a provider without a store cache.
private actor RefreshTokenMemory {
    private(set) var value: String?
    func set(_ value: String?) { self.value = value }
}
