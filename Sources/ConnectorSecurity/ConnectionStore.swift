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
        try StateKeys.validateConnectionId(connection.id)
        try ConnectionValidator.validate(connection)
        try ConnectionValidator.validateSharedSecrets(connection, vault: vault)
        let sealed = try vault.sealSecrets(of: connection)
        try await store.put(StateKeys.connectionKey(connection.id), json: sealed)
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

/// Checks a connection before it is stored: URLs by the URL policy, required fields, sane numbers.
package enum ConnectionValidator {
    package static func validate(_ connection: Connection) throws {
        let policy = URLPolicy(allowInsecure: connection.network.allowInsecureHTTP)
        try policy.check(connection.jaggaer.baseURL, system: .jaggaer)
        try policy.check(connection.jaggaer.resolvedTokenURL, system: .jaggaer)
        switch connection.erp.kind {
        case .businessCentral:
            guard let bc = connection.erp.businessCentral else {
                throw ConnectorError(
                    .connectionInvalid, "erp.kind is businessCentral but erp.businessCentral is missing")
            }
            try policy.check(bc.authorityURL, system: .entra)
            try policy.check(bc.apiBaseURL, system: .businessCentral)
            guard !bc.tenantId.isEmpty, !bc.environment.isEmpty, !bc.clientId.isEmpty else {
                throw ConnectorError(.connectionInvalid, "erp.businessCentral needs tenantId, environment and clientId")
            }
            for (name, value) in [("tenantId", bc.tenantId), ("environment", bc.environment)] {
                guard value.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" || $0 == "." }) else {
                    throw ConnectorError(
                        .connectionInvalid, "erp.businessCentral.\(name) has characters a URL path can't carry")
                }
            }
            guard bc.companyId != nil || bc.companyName != nil else {
                throw ConnectorError(.connectionInvalid, "erp.businessCentral needs companyId or companyName")
            }
        }
        if let notifications = connection.notifications {
            try validate(notifications, policy: policy)
        }
        guard (1...1000).contains(connection.jaggaer.pageSize) else {
            throw ConnectorError(.connectionInvalid, "jaggaer.pageSize must be between 1 and 1000")
        }
        guard (1...100).contains(connection.flow.maxAttempts) else {
            throw ConnectorError(.connectionInvalid, "flow.maxAttempts must be between 1 and 100")
        }
        guard !connection.jaggaer.approvedStatuses.isEmpty else {
            throw ConnectorError(.connectionInvalid, "jaggaer.approvedStatuses must name at least one status")
        }
    }

    private static func validate(_ notifications: NotificationSettings, policy: URLPolicy) throws {
        if let url = notifications.publicURL {
            try policy.check(url, system: .other)
        }
        if let bc = notifications.businessCentral {
            guard !bc.resources.isEmpty,
                bc.resources.allSatisfy({ !$0.isEmpty && $0.allSatisfy { $0.isLetter || $0.isNumber } })
            else {
                throw ConnectorError(
                    .connectionInvalid,
                    "notifications.businessCentral.resources must name entity sets such as vendors or accounts")
            }
            guard (1...71).contains(bc.renewBeforeHours) else {
                throw ConnectorError(
                    .connectionInvalid,
                    "notifications.businessCentral.renewBeforeHours must be between 1 and 71 (subscriptions last 72 h)")
            }
        }
        if let acumatica = notifications.acumatica {
            let token = CharacterSet.alphanumerics.union(CharacterSet(charactersIn: "!#$%&'*+-.^_`|~"))
            guard !acumatica.headerName.isEmpty, acumatica.headerName.unicodeScalars.allSatisfy(token.contains),
                !["accept", "content-type", "content-length", "host"].contains(acumatica.headerName.lowercased())
            else {
                throw ConnectorError(
                    .connectionInvalid,
                    "notifications.acumatica.headerName must be an HTTP header name other than Accept, Content-Type, Content-Length or Host"
                )
            }
            for kind in acumatica.queries.values where !["vendors", "accounts"].contains(kind) {
                throw ConnectorError(
                    .connectionInvalid,
                    "notifications.acumatica.queries maps to \(kind.prefix(40).debugDescription); expected vendors or accounts"
                )
            }
        }
    }

    /// Checks the webhook shared secrets once they are resolved (they may come from the environment or a file).
    package static func validateSharedSecrets(_ connection: Connection, vault: Vault) throws {
        for (label, field) in connection.secretFields where label.hasPrefix("notifications.") {
            let maxLength =
                label.hasPrefix("notifications.businessCentral.")
                ? BusinessCentralNotifications.maxClientStateLength : 1024
            try checkSharedSecret(
                try vault.reveal(field, label: label, connection: connection.id), label: label, maxLength: maxLength)
        }
    }

    /// A shared secret for webhooks: long enough to resist guessing, short enough for the ERP's field.
    package static func checkSharedSecret(_ secret: Secret, label: String, maxLength: Int) throws {
        let length = secret.value.count
        guard length >= BusinessCentralNotifications.minClientStateLength, length <= maxLength else {
            throw ConnectorError(
                .connectionInvalid,
                "\(label) must be \(BusinessCentralNotifications.minClientStateLength) to \(maxLength) characters long")
        }
        guard secret.value.unicodeScalars.allSatisfy({ $0.value > 0x20 && $0.value < 0x7F }) else {
            throw ConnectorError(.connectionInvalid, "\(label) must be printable ASCII without spaces")
        }
    }
}
