import ConnectorCore
import Foundation
import Logging

/// Supplies bearer tokens.
package protocol TokenProvider: Sendable {
    func token() async throws -> AccessToken
    /// Drops a token the server rejected, so the next `token()` fetches a fresh one.
    func invalidate(_ token: AccessToken) async
    /// Signs in with the identity provider now, whatever any cache holds: the check that the credentials work.
    func signIn() async throws -> AccessToken
}

extension TokenProvider {
    package func signIn() async throws -> AccessToken { try await token() }
}

/// OAuth 2.0 client credentials (RFC 6749 §4.4) for Microsoft Entra (Business Central) and JAGGAER's Keycloak.
///
/// Tokens are cached in memory and in the store (sealed, shared by every process of the connection) and
/// refreshed ahead of expiry. One refresh at a time: in-process through an actor, across processes through a
/// lease in the store; other processes wait for the new token instead of stampeding the identity provider.
package final class OAuth2ClientCredentialsProvider: TokenProvider {
    package struct Configuration: Sendable {
        package var name: String
        package var tokenURL: String
        package var clientId: String
        package var clientSecret: Secret
        package var scope: String?
        /// Refresh this long before expiry (capped at a fifth of the token's lifetime).
        package var refreshAhead: Duration
        package var leaseTTL: Duration
        package var waitForOtherRefresh: Duration

        package init(
            name: String,
            tokenURL: String,
            clientId: String,
            clientSecret: Secret,
            scope: String?,
            refreshAhead: Duration = .seconds(120),
            leaseTTL: Duration = .seconds(20),
            waitForOtherRefresh: Duration = .seconds(15)
        ) {
            self.name = name
            self.tokenURL = tokenURL
            self.clientId = clientId
            self.clientSecret = clientSecret
            self.scope = scope
            self.refreshAhead = refreshAhead
            self.leaseTTL = leaseTTL
            self.waitForOtherRefresh = waitForOtherRefresh
        }
    }

    private let configuration: Configuration
    private let transport: any HTTPTransport
    private let cache: TokenCache?
    private let clock: any WallClock
    private let flight: SingleFlight
    private let owner = UUID().uuidString
    private let logger: Logger

    package init(
        configuration: Configuration,
        transport: any HTTPTransport,
        cache: TokenCache?,
        clock: any WallClock = SystemWallClock(),
        logger: Logger = Logger(label: "mlc.auth")
    ) {
        self.configuration = configuration
        self.transport = transport
        self.cache = cache
        self.clock = clock
        self.flight = SingleFlight()
        self.logger = logger
    }

    package func token() async throws -> AccessToken {
        if let current = await flight.current, isFresh(current) { return current }
        return try await flight.run { try await self.obtain() }
    }

    /// A token fetched from the identity provider now (and shared through the cache like any other).
    package func signIn() async throws -> AccessToken {
        let token = try await fetch()
        try? await cache?.save(configuration.name, token, now: clock.now())
        return token
    }

    package func invalidate(_ token: AccessToken) async {
        await flight.drop(token)
        try? await cache?.invalidate(configuration.name, ifValue: token.value)
    }

    private func isFresh(_ token: AccessToken) -> Bool {
        token.expiresAt.timeIntervalSince(clock.now()) > lead(for: token).timeInterval
    }

    private func isUsable(_ token: AccessToken) -> Bool {
        token.expiresAt.timeIntervalSince(clock.now()) > 5
    }

    private func lead(for token: AccessToken) -> Duration {
        configuration.refreshAhead
    }

    /// Store cache, else a refresh under the cross-process lease, else wait for whoever holds the lease.
    private func obtain() async throws -> AccessToken {
        guard let cache else { return try await fetch() }
        return try await SharedRenewal.obtain(
            lease: Lease(store: cache.store, key: cache.keys.key("lease", "token-\(configuration.name)"), owner: owner),
            ttl: configuration.leaseTTL, wait: configuration.waitForOtherRefresh, clock: clock,
            what: "refresh the \(configuration.name) token",
            load: { try? await cache.load(configuration.name) }, isFresh: isFresh, isUsable: isUsable,
            renew: {
                let token = try await fetch()
                try await cache.save(configuration.name, token, now: clock.now())
                return token
            })
    }

    private func fetch() async throws -> AccessToken {
        var form = [
            ("grant_type", "client_credentials"),
            ("client_id", configuration.clientId),
            ("client_secret", configuration.clientSecret.value),
        ]
        if let scope = configuration.scope { form.append(("scope", scope)) }
        let request = HTTPRequest(
            method: "POST",
            url: configuration.tokenURL,
            headers: [("Content-Type", "application/x-www-form-urlencoded"), ("Accept", "application/json")],
            body: Data(FormEncoding.encode(form).utf8),
            timeout: .seconds(30),
            idempotent: true
        )
        let response = try await transport.send(request)
        let requestedAt = clock.now()
        guard response.isSuccess else {
            throw Self.tokenError(response, name: configuration.name)
        }
        struct Body: Decodable {
            var accessToken: String
            var expiresIn: LenientInt?
            var tokenType: String?
            enum CodingKeys: String, CodingKey {
                case accessToken = "access_token"
                case expiresIn = "expires_in"
                case tokenType = "token_type"
            }
        }
        guard let body = try? JSONDecoder().decode(Body.self, from: response.body), !body.accessToken.isEmpty else {
            throw ConnectorError(
                .upstreamMalformed, "the \(configuration.name) token endpoint answered without an access_token")
        }
        SecretRedactor.register(body.accessToken)
        let lifetime = Double(body.expiresIn?.value ?? 300)
        logger.debug("token fetched", metadata: ["provider": "\(configuration.name)", "expiresIn": "\(Int(lifetime))"])
        return AccessToken(
            value: body.accessToken,
            expiresAt: requestedAt.addingTimeInterval(lifetime),
            tokenType: body.tokenType ?? "Bearer"
        )
    }

    /// Maps a token endpoint failure by its OAuth `error` string (not by status: Keycloak versions differ).
    package static func tokenError(_ response: HTTPResponse, name: String) -> ConnectorError {
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
        switch code {
        case "invalid_client", "unauthorized_client", "invalid_scope", "invalid_grant", "unsupported_grant_type",
            "invalid_request":
            return ConnectorError(
                .authRejected,
                "\(name) refused the client credentials (\(code)): \(description)",
                httpStatus: response.status
            )
        default:
            if response.status == 429 || response.status >= 500 {
                return ConnectorError(
                    .upstreamUnavailable,
                    kind: .temporary,
                    "\(name) token endpoint unavailable (HTTP \(response.status))",
                    httpStatus: response.status
                )
            }
            return ConnectorError(
                .authFailed,
                kind: .configuration,
                "\(name) token request failed (HTTP \(response.status), \(code))",
                httpStatus: response.status
            )
        }
    }
}

/// Runs one token fetch at a time inside a process; concurrent callers share its result.
actor SingleFlight {
    private(set) var current: AccessToken?
    private var inFlight: Task<AccessToken, any Error>?

    func run(_ work: @escaping @Sendable () async throws -> AccessToken) async throws -> AccessToken {
        if let inFlight { return try await inFlight.value }
        let task = Task { try await work() }
        inFlight = task
        defer { inFlight = nil }
        let token = try await task.value
        current = token
        return token
    }

    func drop(_ token: AccessToken) {
        if current?.value == token.value { current = nil }
    }
}

/// Adds `Authorization: Bearer …`; on a 401 drops the token, fetches a new one and retries once, never in a loop.
package struct BearerAuthTransport: HTTPTransport {
    package let base: any HTTPTransport
    package let tokens: any TokenProvider

    package init(base: any HTTPTransport, tokens: any TokenProvider) {
        self.base = base
        self.tokens = tokens
    }

    package func send(_ request: HTTPRequest) async throws -> HTTPResponse {
        let token = try await tokens.token()
        var authorized = request
        // A token from the shared cache was fetched by another process: make it known to this one's redactor.
        SecretRedactor.register(token.value)
        authorized.setHeader("Authorization", "Bearer \(token.value)")
        let response = try await base.send(authorized)
        guard response.status == 401 else { return response }
        // A 401 means the request was not processed, so even a create may be sent again.
        await tokens.invalidate(token)
        let fresh = try await tokens.token()
        SecretRedactor.register(fresh.value)
        authorized.setHeader("Authorization", "Bearer \(fresh.value)")
        return try await base.send(authorized)
    }
}

/// `application/x-www-form-urlencoded` and URL query encoding.
package enum FormEncoding {
    private static let unreserved = CharacterSet(
        charactersIn: "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")

    package static func escape(_ value: String) -> String {
        value.addingPercentEncoding(withAllowedCharacters: unreserved) ?? ""
    }

    package static func encode(_ pairs: [(String, String)]) -> String {
        pairs.map { "\(escape($0.0))=\(escape($0.1))" }.joined(separator: "&")
    }
}

/// Decodes an integer sent as a JSON number or as a string (some identity providers send `"3599"`).
package struct LenientInt: Decodable, Sendable {
    package var value: Int
    package init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        if let number = try? c.decode(Int.self) {
            value = number
        } else if let text = try? c.decode(String.self), let number = Int(text) {
            value = number
        } else {
            throw DecodingError.dataCorruptedError(in: c, debugDescription: "expected an integer")
        }
    }
}
