import ArgumentParser
import ConnectorCore
import ConnectorSecurity
import Foundation
import Yams

struct Connections: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Adds, lists and removes connections (secrets sealed with MLC_MASTER_KEY).",
        subcommands: [Add.self, List.self, Remove.self]
    )

    static func loadFile(_ path: String) throws -> Connection {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ConnectorError(.configInvalid, "cannot read \(path)")
        }
        let text = String(decoding: data, as: UTF8.self)
        do {
            if path.hasSuffix(".json") {
                return try JSONCoding.decode(Connection.self, from: data)
            }
            return try YAMLDecoder().decode(Connection.self, from: text)
        } catch let error as DecodingError {
            throw ConnectorError(.connectionInvalid, "\(path): \(error.safeDescription)")
        } catch let error as ConnectorError {
            throw error
        } catch {
            throw ConnectorError(.connectionInvalid, "\(path) is not valid YAML")
        }
    }

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Adds or replaces a connection from a YAML (or JSON) file.")
        @OptionGroup var store: StoreOptions
        @Option(help: "The connection file.") var file: String

        func run() async throws {
            await guarded {
                let connection = try Connections.loadFile(file)
                let vault = Vault(masterKey: try MasterKey.fromEnvironment())
                let state = try store.open()
                try await ConnectionStore(store: state, vault: vault).save(connection)
                try await state.close()
                print("connection \(connection.id) saved (secrets sealed)")
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Lists connections; secrets are shown masked.")
        @OptionGroup var store: StoreOptions
        @Flag(help: "Print as JSON.") var json = false

        func run() async throws {
            await guarded {
                let vault = Vault(masterKey: try MasterKey.fromEnvironment())
                let state = try store.open()
                let connections = ConnectionStore(store: state, vault: vault)
                var rows: [[String: String]] = []
                for connection in try await connections.list() {
                    try connections.verifySecrets(connection)
                    var row = [
                        "id": connection.id,
                        "name": connection.name ?? "",
                        "erp": connection.erp.kind.rawValue,
                        "jaggaer": connection.jaggaer.baseURL,
                        "jaggaer.clientId": connection.jaggaer.clientId,
                        "jaggaer.clientSecret": "********",
                    ]
                    if let bc = connection.erp.businessCentral {
                        row["erp.api"] = bc.apiRoot
                        row["erp.clientId"] = bc.clientId
                        row["erp.clientSecret"] = "********"
                        row["erp.company"] = bc.companyId ?? bc.companyName ?? ""
                    }
                    if let notifications = connection.notifications {
                        let gateway = notifications.publicURL.map { $0.trimmingTrailingSlash + "/webhooks/" }
                        if notifications.businessCentral != nil {
                            row["notifications.businessCentral"] =
                                gateway.map { $0 + "\(connection.id)/businessCentral" } ?? "(no publicURL)"
                            row["notifications.businessCentral.clientState"] = "********"
                        }
                        if let acumatica = notifications.acumatica {
                            row["notifications.acumatica"] = acumatica.headerName + ": ********"
                        }
                    }
                    rows.append(row)
                }
                try await state.close()
                if json {
                    try printJSON(rows)
                } else if rows.isEmpty {
                    print("no connections")
                } else {
                    for row in rows {
                        print(row.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value)" }.joined(separator: "\n  "))
                    }
                }
            }
        }
    }

    struct Remove: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Removes a connection (its history stays in the store).")
        @OptionGroup var store: StoreOptions
        @Argument(help: "The connection id.") var id: String

        func run() async throws {
            await guarded {
                let state = try store.open()
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
