import ConnectorCore
import ConnectorSecurity
import Foundation
import Logging

/// What an ERP target gives the runtime: the one type the registry lists (`ConnectorRuntime/Systems.swift`), the
/// way a database driver registers with FluentKit. Everything about the ERP (client, adapter, constraints,
/// capabilities, how to build its HTTP stack and token provider) lives in its own target behind this protocol, so
/// flows and the runtime never switch on the ERP kind.
package protocol ERPModule: Sendable {
    /// The `erp.kind` of a connection file, and the type of its `erp.<kind>` settings.
    var settingsType: any ERPConnectionSettings.Type { get }
    /// The receiver of the ERP's change notifications (nil: it pushes none; the scheduled sync is the only path).
    var notifications: (any ChangeNotificationReceiver)? { get }
    /// Whether the ERP's webhooks are subscriptions ml-connector must keep renewing (`renew-bc-subscription`).
    var keepsSubscriptions: Bool { get }
    /// Field limits of the ERP's documents, checked while mapping.
    var constraints: ERPConstraints { get }
    var capabilities: ERPCapabilities { get }
    /// The connector for one invocation; building does no I/O (tokens are fetched on first use).
    func connector(_ environment: SystemEnvironment) throws -> any ERPConnector
    /// The limits for one connection, where its settings change them (BC credit memos); `constraints` otherwise.
    func constraints(for connection: Connection) throws -> ERPConstraints
}

extension ERPModule {
    package func constraints(for connection: Connection) throws -> ERPConstraints { constraints }
    package var kind: String { settingsType.kind }
    package var notifications: (any ChangeNotificationReceiver)? { nil }
    package var keepsSubscriptions: Bool { false }
}

/// What a system target needs from the runtime to build its clients for one invocation: the connection, the
/// store, the clock, secrets, and HTTP stacks that count, pace, retry and share tokens like every other system's.
package struct SystemEnvironment: Sendable {
    package var connection: Connection
    package var store: any StateStore
    package var keys: StateKeys
    package var clock: any WallClock
    package var logger: Logger
    /// The deadline of one request (`network.requestTimeoutSeconds`).
    package var timeout: Duration
    /// Tokens shared by every process of the connection, sealed in the store.
    package var tokenCache: TokenCache
    private let makeTransport: @Sendable (RateLimiter?) -> any HTTPTransport
    private let reveal: @Sendable (SecretField, String) throws -> Secret

    package init(
        connection: Connection, store: any StateStore, keys: StateKeys, clock: any WallClock, logger: Logger,
        timeout: Duration, tokenCache: TokenCache,
        transport: @escaping @Sendable (RateLimiter?) -> any HTTPTransport,
        secret: @escaping @Sendable (SecretField, String) throws -> Secret
    ) {
        self.connection = connection
        self.store = store
        self.keys = keys
        self.clock = clock
        self.logger = logger
        self.timeout = timeout
        self.tokenCache = tokenCache
        self.makeTransport = transport
        self.reveal = secret
    }

    /// An HTTP stack (count → shared request budget, learning the real limit from 429s → retry with backoff).
    package func transport(limiter: RateLimiter?) -> any HTTPTransport { makeTransport(limiter) }

    /// The plaintext of one secret field; `label` is its path in the connection file.
    package func secret(_ field: SecretField, label: String) throws -> Secret { try reveal(field, label) }

    /// A request budget for one system, shared by every process that spends the same allowance on it.
    ///
    /// `scope` names what the system counts its limit against (Business Central: the environment and the app's
    /// user; Acumatica: the instance's licence). Every connection with the same scope draws on one budget, so two
    /// connections to two companies of one environment under one app registration pace together instead of each
    /// spending the whole allowance and meeting 429s. Connections that share a budget should configure the same
    /// limit: each paces at the lower of its own ceiling and the pace learned together.
    package func limiter(_ name: String, limit: Int, window: Duration, scope: [String]) -> RateLimiter {
        RateLimiter(store: store, key: Self.budgetKey(name, scope: scope, keys: keys), limit: limit, window: window)
    }

    /// `shared/ratelimit/<system>/<SHA-256 of the scope>` (URLs and client ids stay out of the key); an empty scope
    /// keeps the budget the connection's own.
    package static func budgetKey(_ system: String, scope: [String], keys: StateKeys) -> String {
        guard !scope.isEmpty else { return keys.key("ratelimit", system) }
        let digest = ContentDigest.sha256Hex(Data(scope.joined(separator: "\u{0}").utf8))
        return StateKeys.sharedPrefix + "ratelimit/" + StateKeys.escape(system) + "/" + digest.prefix(32)
    }
}
