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
        try ConnectionValidator.validateIdentifiers(connection)
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
        ("jaggaer.requestsPerMinute", 1...100_000, { $0.jaggaer.requestsPerMinute }),
        ("erp.businessCentral.requestsPerFiveMinutes", 1...100_000, { $0.erp.businessCentral?.requestsPerFiveMinutes }),
        ("flow.pollIntervalSeconds", 1...604_800, { $0.flow.pollIntervalSeconds }),
        ("flow.pollOverlapSeconds", 0...86_400, { $0.flow.pollOverlapSeconds }),
        ("flow.maxAttempts", 1...100, { $0.flow.maxAttempts }),
        ("flow.retryAfterCapSeconds", 0...300, { $0.flow.retryAfterCapSeconds }),
        ("flow.ambiguousWriteSettleSeconds", 0...86_400, { $0.flow.ambiguousWriteSettleSeconds }),
        ("flow.masterDataIntervalSeconds", 1...604_800, { $0.flow.masterDataIntervalSeconds }),
        ("network.requestTimeoutSeconds", 1...600, { $0.network.requestTimeoutSeconds }),
        (
            "notifications.businessCentral.renewBeforeHours", 1...71,
            { $0.notifications?.businessCentral?.renewBeforeHours }
        ),
    ]

    package static func validate(_ connection: Connection) throws {
        for (path, range, value) in ranges {
            if let number = value(connection), !range.contains(number) {
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
        switch connection.erp.kind {
        case .businessCentral:
            guard let bc = connection.erp.businessCentral else {
                throw ConnectorError(
                    .connectionInvalid, "erp.kind is businessCentral but erp.businessCentral is missing")
            }
            try validate(bc, policy: policy)
        }
        if let notifications = connection.notifications {
            try validate(notifications, policy: policy)
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

    /// The identifier shapes Entra and Business Central use, checked when a connection is added (a mistake here
    /// otherwise fails only at run time, as a refused token or an unknown company).
    package static func validateIdentifiers(_ connection: Connection) throws {
        guard let bc = connection.erp.businessCentral else { return }
        let prefix = "erp.businessCentral"
        guard isGUID(bc.tenantId) || bc.tenantId.contains(".") else {
            throw ConnectorError(
                .connectionInvalid,
                "\(prefix).tenantId must be the Entra tenant id (a GUID) or its domain (e.g. contoso.onmicrosoft.com)")
        }
        guard isGUID(bc.clientId) else {
            throw ConnectorError(
                .connectionInvalid,
                "\(prefix).clientId must be the Entra application (client) id, a GUID such as 11111111-2222-3333-4444-555555555555"
            )
        }
        if let companyId = bc.companyId, !isGUID(companyId) {
            throw ConnectorError(
                .connectionInvalid,
                "\(prefix).companyId must be the company's id (a GUID); give the company's name in \(prefix).companyName instead"
            )
        }
        if let name = bc.companyName, isGUID(name) {
            throw ConnectorError(
                .connectionInvalid, "\(prefix).companyName is a GUID; give it as \(prefix).companyId")
        }
    }

    static func isGUID(_ text: String) -> Bool {
        UUID(uuidString: text) != nil
    }

    private static func validate(_ bc: BusinessCentralSettings, policy: URLPolicy) throws {
        let prefix = "erp.businessCentral"
        guard !bc.tenantId.isEmpty, !bc.environment.isEmpty, !bc.clientId.isEmpty else {
            throw ConnectorError(.connectionInvalid, "\(prefix) needs tenantId, environment and clientId")
        }
        try policy.check(bc.authorityURL, system: .entra, setting: "\(prefix).authorityURL")
        try policy.check(bc.apiBaseURL, system: .businessCentral, setting: "\(prefix).apiBaseURL")
        let authorityPath = URLComponents(string: bc.authorityURL)?.path ?? ""
        if !authorityPath.isEmpty, authorityPath != "/" {
            let first = authorityPath.split(separator: "/").first.map(String.init) ?? ""
            let tenantHint =
                first.isEmpty || first == "oauth2" ? "" : " (\(first.prefix(64)) belongs in \(prefix).tenantId)"
            throw ConnectorError(
                .connectionInvalid,
                "\(prefix).authorityURL must be the authority's base URL only, e.g. https://login.microsoftonline.com; ml-connector adds /{tenantId}/oauth2/v2.0/token itself\(tenantHint)"
            )
        }
        let apiPath = URLComponents(string: bc.apiBaseURL)?.path ?? ""
        if !apiPath.isEmpty, apiPath != "/" {
            let parts = apiPath.split(separator: "/").map(String.init)
            var hint = ""
            if parts.count >= 3, parts[0] == "v2.0" {
                hint =
                    " (here the tenant \(parts[1].prefix(64)) goes in \(prefix).tenantId and the environment \(parts[2].prefix(40)) in \(prefix).environment)"
            }
            throw ConnectorError(
                .connectionInvalid,
                "\(prefix).apiBaseURL must be the base URL only, e.g. https://api.businesscentral.dynamics.com; ml-connector adds /v2.0/{tenantId}/{environment}/api/v2.0 itself\(hint)"
            )
        }
        for (name, value) in [("tenantId", bc.tenantId), ("environment", bc.environment)] {
            guard
                value.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" || $0 == ".") })
            else {
                throw ConnectorError(
                    .connectionInvalid, "\(prefix).\(name) has characters a URL path can't carry")
            }
        }
        if let name = bc.companyName {
            guard !name.trimmingCharacters(in: .whitespaces).isEmpty, name == name.trimmingCharacters(in: .whitespaces)
            else {
                throw ConnectorError(
                    .connectionInvalid, "\(prefix).companyName must not be empty or start or end with spaces")
            }
        }
        guard bc.companyId != nil || bc.companyName != nil else {
            throw ConnectorError(.connectionInvalid, "\(prefix) needs companyId or companyName")
        }
        let scope = bc.scope
        guard scope.hasPrefix("https://"), scope.hasSuffix("/.default") else {
            throw ConnectorError(
                .connectionInvalid,
                "\(prefix).scope must be an application ID URI ending in /.default, e.g. https://api.businesscentral.dynamics.com/.default"
            )
        }
    }

    private static func validate(_ notifications: NotificationSettings, policy: URLPolicy) throws {
        if let url = notifications.publicURL {
            try policy.check(url, system: .other, setting: "notifications.publicURL")
        }
        if let bc = notifications.businessCentral {
            guard !bc.resources.isEmpty,
                bc.resources.allSatisfy({ !$0.isEmpty && $0.allSatisfy { $0.isLetter || $0.isNumber } })
            else {
                throw ConnectorError(
                    .connectionInvalid,
                    "notifications.businessCentral.resources must name entity sets such as vendors or accounts")
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

    /// Checks the secrets once they are resolved (they may come from the environment or a file): none is empty,
    /// the webhook shared secrets are strong enough, and a Business Central client secret is not its secret's ID.
    package static func validateSecrets(
        _ connection: Connection, vault: Vault,
        environment: [String: String] = ProcessInfo.processInfo.environment
    ) throws {
        for (label, field) in connection.secretFields {
            let secret = try vault.reveal(field, label: label, connection: connection.id, environment: environment)
            guard !secret.value.isEmpty else { throw ConnectorError(.connectionInvalid, "\(label) is empty") }
            if label == "erp.businessCentral.clientSecret", isGUID(secret.value) {
                throw ConnectorError(
                    .connectionInvalid,
                    "\(label) is a GUID, which is the client secret's ID in Entra, not its value; copy the secret's Value (shown once when it is created)"
                )
            }
            if label.hasPrefix("notifications.") {
                let maxLength =
                    label.hasPrefix("notifications.businessCentral.")
                    ? BusinessCentralNotifications.maxClientStateLength : 1024
                try checkSharedSecret(secret, label: label, maxLength: maxLength)
            }
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
