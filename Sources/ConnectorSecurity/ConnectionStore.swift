import ConnectorCore
import Foundation

/// Connections kept in the state store, secrets sealed. The store never holds a plaintext secret.
package struct ConnectionStore: Sendable {
    package let store: any StateStore
    package let vault: Vault

    package init(store: any StateStore, vault: Vault) {
        self.store = store
        self.vault = vault
    }

    /// Validates, seals and saves a connection (replacing one with the same id).
    package func save(_ connection: Connection) async throws {
        let sealed = try Self.prepare(connection, vault: vault)
        try await store.put(StateKeys.connectionKey(connection.id), json: sealed)
        // Tokens cached under the connection's previous credentials must not outlive them: the next request (and
        // `local-runner ping`) signs in with what was just stored.
        let keys = try StateKeys(connection: connection.id)
        for entry in try await store.scanAll(prefix: keys.prefix("token")) {
            _ = try await store.delete(entry.key)
        }
    }

    /// Everything `connections add` checks before anything is written: the id, every setting, every URL, and every
    /// secret (references resolved, sealed values opened under this master key). Returns the connection sealed.
    package static func prepare(
        _ connection: Connection, vault: Vault,
        environment: [String: String] = ProcessInfo.processInfo.environment
    ) throws -> Connection {
        try StateKeys.validateConnectionId(connection.id)
        try ConnectionValidator.validate(connection)
        try connection.erp.settings.validateIdentifiers(prefix: "erp.\(connection.erp.kind)")
        for (label, field) in connection.secretFields {
            guard case .sealed = field else { continue }
            do {
                _ = try vault.reveal(field, label: label, connection: connection.id)
            } catch let error as ConnectorError {
                throw ConnectorError(
                    .connectionInvalid,
                    "\(label) is a sealed value that does not open here (\(error.message)); give the secret itself, {env: NAME} or {file: PATH} instead"
                )
            }
        }
        try ConnectionValidator.validateSecrets(connection, vault: vault, environment: environment)
        return try vault.sealSecrets(of: connection, environment: environment)
    }

    /// Loads a connection; unknown ids are a configuration error (exit 78).
    package func load(_ id: String) async throws -> Connection {
        guard (try? StateKeys.validateConnectionId(id)) != nil else {
            throw ConnectorError(.connectionUnknown, "unknown connection \(id.prefix(64).debugDescription)")
        }
        guard let stored = try await store.get(StateKeys.connectionKey(id), as: Connection.self) else {
            throw ConnectorError(
                .connectionUnknown,
                "unknown connection \(id.debugDescription): add it with `local-runner connections add --file <conn.yaml>`"
            )
        }
        return stored.value
    }

    package func list() async throws -> [Connection] {
        try await store.scanAll(prefix: StateKeys.connectionsPrefix).map {
            try JSONCoding.decode(Connection.self, from: $0.value.data)
        }
    }

    /// Every stored connection, each decoded and its secrets opened on its own: one that cannot be read (sealed
    /// under another master key, damaged) is reported with its reason and does not hide the others.
    package func listEach() async throws -> [(id: String, result: Result<Connection, ConnectorError>)] {
        try await store.scanAll(prefix: StateKeys.connectionsPrefix).map { entry in
            let id = String(entry.key.dropFirst(StateKeys.connectionsPrefix.count))
            do {
                let connection = try JSONCoding.decode(Connection.self, from: entry.value.data)
                try verifySecrets(connection)
                return (id, .success(connection))
            } catch {
                let wrapped = ConnectorError.wrap(error)
                return (id, .failure(wrapped))
            }
        }
    }

    @discardableResult
    package func remove(_ id: String) async throws -> Bool {
        try await store.delete(StateKeys.connectionKey(id))
    }

    /// Opens every secret of a connection once, proving the master key is the right one.
    package func verifySecrets(_ connection: Connection) throws {
        for (label, field) in connection.secretFields {
            _ = try vault.reveal(field, label: label, connection: connection.id)
        }
    }

    /// The secret behind one field of a stored connection.
    package func secret(_ connection: Connection, _ label: String) throws -> Secret {
        guard let field = connection.secretFields.first(where: { $0.label == label })?.field else {
            throw ConnectorError(.connectionInvalid, "connection \(connection.id) has no \(label)")
        }
        return try vault.reveal(field, label: label, connection: connection.id)
    }
}

/// Checks a connection before it is stored: URLs by the URL policy, required fields, numbers in range, and the
/// shapes people commonly get wrong (a full API root as the base URL, a tenant in the authority URL).
package enum ConnectionValidator {
    /// The accepted range of every whole-number setting (the README's reference shows them).
    package static let ranges: [(path: String, range: ClosedRange<Int>, value: @Sendable (Connection) -> Int?)] = [
        ("jaggaer.pageSize", 1...1000, { $0.jaggaer.pageSize }),
        ("jaggaer.invoiceFetchConcurrency", 1...16, { $0.jaggaer.invoiceFetchConcurrency }),
        ("jaggaer.requestsPerMinute", 1...100_000, { $0.jaggaer.requestsPerMinute }),
        ("flow.pollIntervalSeconds", 1...604_800, { $0.flow.pollIntervalSeconds }),
        ("flow.pollOverlapSeconds", 0...86_400, { $0.flow.pollOverlapSeconds }),
        ("flow.maxAttempts", 1...100, { $0.flow.maxAttempts }),
        ("flow.retryAfterCapSeconds", 0...300, { $0.flow.retryAfterCapSeconds }),
        ("flow.ambiguousWriteSettleSeconds", 0...86_400, { $0.flow.ambiguousWriteSettleSeconds }),
        ("flow.masterDataIntervalSeconds", 1...604_800, { $0.flow.masterDataIntervalSeconds }),
        ("flow.paymentStatusIntervalSeconds", 1...604_800, { $0.flow.paymentStatusIntervalSeconds }),
        ("flow.auditRetentionDays", 1...36_500, { $0.flow.auditRetentionDays }),
        ("network.requestTimeoutSeconds", 1...600, { $0.network.requestTimeoutSeconds }),
        ("flow.reconcileIntervalSeconds", 0...2_592_000, { $0.flow.reconcileIntervalSeconds }),
        ("flow.reconcileLookbackDays", 1...3650, { $0.flow.reconcileLookbackDays }),
        ("flow.purchaseOrderIntervalSeconds", 1...604_800, { $0.flow.purchaseOrderIntervalSeconds }),
    ]

    /// The ranges of the connection's own whole-number settings: the core's and its ERP's.
    package static func allRanges(_ connection: Connection) -> [(path: String, range: ClosedRange<Int>, value: Int?)] {
        var result = ranges.map { ($0.path, $0.range, $0.value(connection)) }
        let erp = connection.erp.settings
        result += type(of: erp).ranges.map { ("erp.\(connection.erp.kind).\($0.key)", $0.range, erp.number($0.key)) }
        if let notifications = connection.notifications?.erp {
            let settings = notifications.settings
            result += type(of: settings).ranges.map {
                ("notifications.\(notifications.kind).\($0.key)", $0.range, settings.number($0.key))
            }
        }
        return result
    }

    /// Every range of every registered ERP, for the README's reference.
    package static var registeredRanges: [(path: String, range: ClosedRange<Int>)] {
        var result = ranges.map { ($0.path, $0.range) }
        for kind in ERPRegistry.kinds {
            guard let type = ERPRegistry.settingsType(kind) else { continue }
            result += type.ranges.map { ("erp.\(kind).\($0.key)", $0.range) }
            if let notifications = type.notificationsType {
                result += notifications.ranges.map { ("notifications.\(kind).\($0.key)", $0.range) }
            }
        }
        return result
    }

    package static func validate(_ connection: Connection) throws {
        for (path, range, value) in allRanges(connection) {
            if let number = value, !range.contains(number) {
                throw ConnectorError(
                    .connectionInvalid,
                    "\(path) is \(number); it must be between \(range.lowerBound) and \(range.upperBound)")
            }
        }
        let tolerance = connection.mapping.totalTolerance
        guard tolerance >= 0, tolerance <= 1000 else {
            throw ConnectorError(
                .connectionInvalid, "mapping.totalTolerance is \(tolerance); it must be between 0 and 1000")
        }
        let policy = try URLPolicy(connection.network)
        try policy.check(connection.jaggaer.baseURL, system: .jaggaer, setting: "jaggaer.baseURL")
        try policy.check(
            connection.jaggaer.resolvedTokenURL, system: .jaggaer,
            setting: connection.jaggaer.tokenURL == nil
                ? "jaggaer.tokenURL (from baseURL and realm)" : "jaggaer.tokenURL")
        for (name, value) in [
            ("jaggaer.clientId", connection.jaggaer.clientId), ("jaggaer.realm", connection.jaggaer.realm),
        ] where value.isEmpty {
            throw ConnectorError(.connectionInvalid, "\(name) must not be empty")
        }
        for (name, path) in [
            ("jaggaer.invoiceListPath", connection.jaggaer.invoiceListPath),
            ("jaggaer.invoicePath", connection.jaggaer.invoicePath),
        ] where !path.hasPrefix("/") || path.contains("?") || path.contains("#") {
            throw ConnectorError(.connectionInvalid, "\(name) must be a path starting with / (no query)")
        }
        for (index, pem) in connection.network.trustedCertificates.enumerated() {
            let body = pem.trimmingWhitespace()
            guard body.hasPrefix("-----BEGIN CERTIFICATE-----"), body.hasSuffix("-----END CERTIFICATE-----"),
                body.count <= 64 * 1024
            else {
                throw ConnectorError(
                    .connectionInvalid,
                    "network.trustedCertificates[\(index)] must be a CA certificate in PEM form (-----BEGIN CERTIFICATE----- … -----END CERTIFICATE-----); a private key or any other PEM is refused"
                )
            }
        }
        let prefix = "erp.\(connection.erp.kind)"
        for endpoint in connection.erp.settings.endpoints {
            try policy.check(endpoint.url, system: URLPolicy.System(endpoint), setting: "\(prefix).\(endpoint.label)")
        }
        try connection.erp.settings.validate(prefix: prefix)
        if let notifications = connection.notifications {
            if let url = notifications.publicURL {
                try policy.check(url, system: .other, setting: "notifications.publicURL")
            }
            if let erp = notifications.erp {
                guard erp.kind == connection.erp.kind else {
                    throw ConnectorError(
                        .connectionInvalid,
                        "notifications.\(erp.kind) is set, but the connection's ERP is \(connection.erp.kind)")
                }
                try erp.settings.validate(prefix: "notifications.\(erp.kind)")
            }
        }
        guard !connection.jaggaer.approvedStatuses.isEmpty else {
            throw ConnectorError(.connectionInvalid, "jaggaer.approvedStatuses must name at least one status")
        }
        for (index, rule) in connection.mapping.dimensions.enumerated()
        where rule.segment.isEmpty || rule.dimension.isEmpty {
            throw ConnectorError(
                .connectionInvalid, "mapping.dimensions[\(index)] needs both segment and dimension")
        }
    }

    /// Checks the secrets once they are resolved (they may come from the environment or a file): none is empty,
    /// the webhook shared secrets are strong enough, and a Business Central client secret is not its secret's ID.
    package static func validateSecrets(
        _ connection: Connection, vault: Vault,
        environment: [String: String] = ProcessInfo.processInfo.environment
    ) throws {
        for (label, field) in connection.secretFields {
            let secret = try vault.reveal(field, label: label, connection: connection.id, environment: environment)
            guard !secret.value.isEmpty else { throw ConnectorError(.connectionInvalid, "\(label) is empty") }
            let erpPrefix = "erp.\(connection.erp.kind)."
            if label.hasPrefix(erpPrefix) {
                try connection.erp.settings.validateSecret(
                    label: String(label.dropFirst(erpPrefix.count)), secret, prefix: String(erpPrefix.dropLast()))
            }
            if let notifications = connection.notifications?.erp {
                let prefix = "notifications.\(notifications.kind)."
                if label.hasPrefix(prefix) {
                    try notifications.settings.validateSecret(
                        label: String(label.dropFirst(prefix.count)), secret, prefix: String(prefix.dropLast()))
                }
            }
        }
    }
}
