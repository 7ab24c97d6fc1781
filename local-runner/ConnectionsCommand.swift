import ArgumentParser
import ConnectorConfig
import ConnectorCore
import ConnectorRuntime
import ConnectorSecurity
import Foundation

struct Connections: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Adds, lists and removes connections (secrets sealed with MLC_MASTER_KEY).",
        subcommands: [Add.self, List.self, Remove.self]
    )

    static func loadFile(_ path: String) throws -> Connection {
        try ConnectionFile.load(path: path)
    }

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Adds or replaces a connection from a YAML (or JSON) file; the store is created if needed.")
        @OptionGroup var store: StoreOptions
        @Option(help: "The connection file.") var file: String

        func run() async throws {
            await guarded {
                // Everything is checked (settings, URLs, secrets resolved, sealed values opened) before the store is
                // opened: a refused connection writes nothing, not even an empty store.
                let connection = try Connections.loadFile(file)
                let vault = Vault(masterKey: try MasterKey.fromEnvironment())
                let sealed = try ConnectionStore.prepare(connection, vault: vault)
                let state = try await store.open(.create)
                try await state.put(StateKeys.connectionKey(sealed.id), json: sealed)
                try await state.close()
                print("connection \(connection.id) saved (secrets sealed)")
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract:
                "Lists connections; secrets are shown masked. A connection that cannot be opened is reported on stderr and the command exits 78."
        )
        @OptionGroup var store: StoreOptions
        @Flag(help: "Print as JSON.") var json = false

        func run() async throws {
            await guarded {
                let vault = Vault(masterKey: try MasterKey.fromEnvironment())
                let state = try await store.open(.readOnly)
                let connections = ConnectionStore(store: state, vault: vault)
                var rows: [[String: String]] = []
                var failures: [(id: String, error: ConnectorError)] = []
                for (id, result) in try await connections.listEach() {
                    switch result {
                    case .success(let connection): rows.append(Self.row(connection))
                    case .failure(let error): failures.append((id, error))
                    }
                }
                try await state.close()
                if json {
                    try printJSON(rows)
                } else if rows.isEmpty, failures.isEmpty {
                    print("no connections")
                } else {
                    for row in rows {
                        print(row.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value)" }.joined(separator: "\n  "))
                    }
                }
                guard let worst = failures.first else { return }
                for (id, error) in failures {
                    StandardError.write(
                        Data("connection \(id) cannot be opened: \(SecretRedactor.scrub(error.message))\n".utf8))
                }
                let listed = rows.count
                throw ConnectorError(
                    worst.error.code, kind: .configuration,
                    "\(failures.count) connection(s) could not be opened (\(failures.map(\.id).joined(separator: ", "))); \(listed) listed"
                )
            }
        }

        static func row(_ connection: Connection) -> [String: String] {
            var row = [
                "id": connection.id,
                "name": connection.name ?? "",
                "erp": connection.erp.kind,
                "jaggaer": connection.jaggaer.baseURL,
                "jaggaer.clientId": connection.jaggaer.clientId,
                "jaggaer.clientSecret": "********",
            ]
            let prefix = "erp.\(connection.erp.kind)"
            for endpoint in connection.erp.settings.endpoints { row["\(prefix).\(endpoint.label)"] = endpoint.url }
            for secret in connection.erp.settings.secretFields { row["\(prefix).\(secret.label)"] = "********" }
            if let notifications = connection.notifications, let erp = notifications.erp {
                row["notifications.\(erp.kind)"] =
                    notifications.notificationURL(connection: connection.id, system: erp.kind) ?? "(no publicURL)"
                for secret in erp.settings.secretFields {
                    row["notifications.\(erp.kind).\(secret.label)"] = "********"
                }
            }
            return row
        }
    }

    struct Remove: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Removes a connection (its history stays in the store).")
        @OptionGroup var store: StoreOptions
        @Argument(help: "The connection id.") var id: String

        func run() async throws {
            await guarded {
                let state = try await store.open()
                let vault = Vault(masterKey: try MasterKey.fromEnvironment())
                let removed = try await ConnectionStore(store: state, vault: vault).remove(id)
                try await state.close()
                guard removed else {
                    throw ConnectorError(.connectionUnknown, "unknown connection \(id.debugDescription)")
                }
                print("connection \(id) removed")
            }
        }
    }
}
