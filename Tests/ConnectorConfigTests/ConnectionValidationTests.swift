import BusinessCentral
import ConnectorConfig
import ConnectorCore
import ConnectorRuntime
import ConnectorSecurity
import ConnectorTesting
import Foundation
import Testing

func prepareError(_ yaml: String, vault: Vault? = nil, environment: [String: String] = [:]) -> String {
    do {
        let connection = try load(yaml)
        let vault = try vault ?? Vault(masterKey: MasterKey(base64: MasterKey.generate()))
        _ = try ConnectionStore.prepare(connection, vault: vault, environment: environment)
        return "(no error)"
    } catch let error as ConnectorError {
        return error.message
    } catch {
        return "unexpected \(error)"
    }
}

@Suite("Connection validation")
struct ConnectionValidationTests {
    /// Connection files name their ERP by kind: make every ERP of the build known first.
    init() { Systems.bootstrap() }

    @Test(
        "numbers out of range are refused naming the key and the accepted range",
        arguments: [
            ("flow:\n  pollIntervalSeconds: 0", "flow.pollIntervalSeconds is 0; it must be between 1 and 604800"),
            ("flow:\n  pollIntervalSeconds: -5", "flow.pollIntervalSeconds is -5; it must be between 1 and 604800"),
            ("flow:\n  pollOverlapSeconds: -1", "flow.pollOverlapSeconds is -1; it must be between 0 and 86400"),
            ("flow:\n  maxAttempts: 500", "flow.maxAttempts is 500; it must be between 1 and 100"),
            ("flow:\n  retryAfterCapSeconds: 3601", "flow.retryAfterCapSeconds is 3601; it must be between 0 and 300"),
            (
                "flow:\n  ambiguousWriteSettleSeconds: -1",
                "flow.ambiguousWriteSettleSeconds is -1; it must be between 0 and 86400"
            ),
            (
                "flow:\n  masterDataIntervalSeconds: 0",
                "flow.masterDataIntervalSeconds is 0; it must be between 1 and 604800"
            ),
            (
                "network:\n  requestTimeoutSeconds: 0",
                "network.requestTimeoutSeconds is 0; it must be between 1 and 600"
            ),
            (
                "network:\n  requestTimeoutSeconds: 601",
                "network.requestTimeoutSeconds is 601; it must be between 1 and 600"
            ),
            ("jaggaer:\n  pageSize: 0", "jaggaer.pageSize is 0; it must be between 1 and 1000"),
            (
                "jaggaer:\n  invoiceFetchConcurrency: 17",
                "jaggaer.invoiceFetchConcurrency is 17; it must be between 1 and 16"
            ),
            ("jaggaer:\n  requestsPerMinute: 0", "jaggaer.requestsPerMinute is 0; it must be between 1 and 100000"),
            (
                "erp:\n  businessCentral:\n    requestsPerFiveMinutes: 0",
                "erp.businessCentral.requestsPerFiveMinutes is 0; it must be between 1 and 100000"
            ),
        ])
    func ranges(setting: String, message: String) {
        // Put the setting into its section of the valid file.
        let lines = setting.split(separator: "\n").map(String.init)
        var yaml = connectionYAML(replacing: [("  pollIntervalSeconds: 300\n", ""), ("  maxAttempts: 5\n", "")])
        if lines.count == 2 {
            let section = lines[0]
            if yaml.contains("\n\(section)\n") {
                yaml = yaml.replacingOccurrences(of: "\n\(section)\n", with: "\n\(section)\n\(lines[1])\n")
            } else {
                yaml += setting + "\n"
            }
        } else {
            yaml = yaml.replacingOccurrences(of: "  businessCentral:\n", with: "  businessCentral:\n" + lines[2] + "\n")
        }
        #expect(prepareError(yaml) == message)
    }

    @Test("Business Central shapes people get wrong are recognised at add, with what to give instead")
    func businessCentralShapes() {
        let fullRoot = prepareError(
            connectionYAML(
                replacing: [
                    (
                        "    companyName:",
                        "    apiBaseURL: https://api.businesscentral.dynamics.com/v2.0/contoso.onmicrosoft.com/production/api/v2.0\n    companyName:"
                    )
                ]))
        #expect(fullRoot.contains("erp.businessCentral.apiBaseURL must be the base URL only"), "\(fullRoot)")
        #expect(fullRoot.contains("contoso.onmicrosoft.com goes in erp.businessCentral.tenantId"), "\(fullRoot)")

        let tenantInAuthority = prepareError(
            connectionYAML(
                replacing: [
                    (
                        "    companyName:",
                        "    authorityURL: https://login.microsoftonline.com/00000000-0000-0000-0000-000000000001\n    companyName:"
                    )
                ]))
        #expect(tenantInAuthority.contains("erp.businessCentral.authorityURL must be the authority's base URL only"))
        #expect(tenantInAuthority.contains("belongs in erp.businessCentral.tenantId"))

        let secretId = prepareError(
            connectionYAML(replacing: [("bc~secret-value", "2f1e3d4c-5b6a-4789-8a9b-0c1d2e3f4a5b")]))
        #expect(secretId.contains("the client secret's ID in Entra, not its value"), "\(secretId)")

        let clientName = prepareError(
            connectionYAML(replacing: [("clientId: 11111111-1111-1111-1111-111111111111", "clientId: ml-connector")]))
        #expect(clientName.contains("erp.businessCentral.clientId must be the Entra application (client) id"))

        let companyGUID = prepareError(
            connectionYAML(replacing: [("CRONUS USA, Inc.", "6b2a1e57-0c3d-4f8e-9a41-2d7c5e8b9f01")]))
        #expect(companyGUID.contains("give it as erp.businessCentral.companyId"))
    }

    @Test("allowHTTP alone does not open other hosts; allowedHosts lists them; metadata addresses never pass")
    func networkPolicy() {
        let evil = prepareError(
            connectionYAML(
                "network:\n  allowHTTP: true\n",
                replacing: [("https://prep-reg02.api.jaggaer.com", "https://evil.example")]))
        #expect(evil.contains("jaggaer.baseURL has the host evil.example, which is not a jaggaer host"), "\(evil)")
        let local = connectionYAML(
            "network:\n  allowHTTP: true\n  allowedHosts: [\"127.0.0.1:8101\"]\n",
            replacing: [("https://prep-reg02.api.jaggaer.com", "http://127.0.0.1:8101")])
        #expect(prepareError(local) == "(no error)")
        let metadata = prepareError(
            connectionYAML(
                "network:\n  allowHTTP: true\n  allowedHosts: [\"169.254.169.254\"]\n"))
        #expect(metadata.contains("network.allowedHosts[0]"), "\(metadata)")
        #expect(metadata.contains("never allowed"), "\(metadata)")
        let publicURL = prepareError(
            connectionYAML(
                "notifications:\n  publicURL: http://169.254.169.254\n  businessCentral:\n    clientState: 0123456789abcdef0123\n"
                    + "network:\n  allowHTTP: true\n"))
        #expect(publicURL.contains("notifications.publicURL"), "\(publicURL)")
    }

    @Test("{file: PATH} secrets name the path and say whether it is missing, a directory or empty")
    func secretFiles() throws {
        let directory = try TemporaryDirectory()
        let missing = directory.path + "/nope.txt"
        let empty = directory.path + "/empty.txt"
        try Data("\n".utf8).write(to: URL(fileURLWithPath: empty))
        func yaml(_ path: String) -> String {
            connectionYAML(replacing: [("clientSecret: bc~secret-value", "clientSecret: {file: \(path)}")])
        }
        #expect(prepareError(yaml(missing)).contains("\"\(missing)\", which does not exist"))
        #expect(prepareError(yaml(empty)).contains("\"\(empty)\", which is empty"))
        #expect(prepareError(yaml(directory.path)).contains("which is a directory"))
        let good = directory.path + "/secret.txt"
        try Data("bc~from-a-file\n".utf8).write(to: URL(fileURLWithPath: good))
        #expect(prepareError(yaml(good)) == "(no error)")
    }

    @Test("a sealed value from another master key is refused at add, naming the field")
    func sealedUnderAnotherKey() throws {
        let other = Vault(masterKey: try MasterKey(base64: MasterKey.generate()))
        let connection = try load(connectionYAML())
        let sealed = try other.sealSecrets(of: connection, environment: [:])
        guard case .sealed(let value) = try sealed.erp.typed(BusinessCentralSettings.self).clientSecret else {
            Issue.record("not sealed")
            return
        }
        let yaml = connectionYAML(replacing: [("clientSecret: bc~secret-value", "clientSecret: {sealed: \"\(value)\"}")]
        )
        let message = prepareError(yaml)
        #expect(message.contains("erp.businessCentral.clientSecret is a sealed value that does not open here"))
        #expect(message.contains("not the key these secrets were sealed with"))
        #expect(prepareError(yaml, vault: other) == "(no error)")
    }

    @Test("stored connections decode: exactly what the encoder writes, and the network block older versions wrote")
    func storedConnections() throws {
        let vault = Vault(masterKey: try MasterKey(base64: MasterKey.generate()))
        var connection = try load(connectionYAML())
        connection.notifications = NotificationSettings(
            publicURL: "https://hooks.acme.example",
            BusinessCentralNotifications(clientState: .plain(Secret("0123456789abcdef0123"))),
            kind: BusinessCentralSettings.kind)
        connection.flow.pollStartFrom = Date(timeIntervalSince1970: 1_700_000_000)
        connection.jaggaer.requestsPerMinute = 100
        let sealed = try ConnectionStore.prepare(connection, vault: vault, environment: [:])
        let data = try JSONCoding.encode(sealed)
        #expect(try JSONCoding.decode(Connection.self, from: data) == sealed)

        // Written before network.allowHTTP/allowedHosts existed.
        var object = try JSONSerialization.jsonObject(with: data) as! [String: Any]
        object["network"] = ["allowInsecureHTTP": true, "requestTimeoutSeconds": 30]
        let legacy = try JSONCoding.decode(
            Connection.self, from: try JSONSerialization.data(withJSONObject: object))
        #expect(legacy.network == NetworkSettings(allowHTTP: true, allowedHosts: [], requestTimeoutSeconds: 30))
        object["network"] = ["allowInsecureHTTP": false, "requestTimeoutSeconds": 60]
        #expect(
            try JSONCoding.decode(Connection.self, from: try JSONSerialization.data(withJSONObject: object)).network
                == NetworkSettings())
    }

    /// The README's settings reference is checked against the settings types: every key path is documented, every
    /// documented row is a real key, and every range the validator enforces is the one the README states.
    @Test("the README's settings reference matches the settings types")
    func readmeReference() throws {
        var root = URL(fileURLWithPath: #filePath)
        while root.path != "/" {
            root.deleteLastPathComponent()
            if FileManager.default.fileExists(atPath: root.appendingPathComponent("Package.swift").path) { break }
        }
        let readme = try String(contentsOf: root.appendingPathComponent("README.md"), encoding: .utf8)
        guard let start = readme.range(of: "<!-- settings-reference:start -->"),
            let end = readme.range(of: "<!-- settings-reference:end -->")
        else {
            Issue.record("README.md has no settings reference markers")
            return
        }
        var rows: [String: String] = [:]
        for line in readme[start.upperBound..<end.lowerBound].split(separator: "\n") where line.hasPrefix("| `") {
            let cells = line.split(separator: "|").map { $0.trimmingCharacters(in: .whitespaces) }
            let key = cells[0].trimmingCharacters(in: CharacterSet(charactersIn: "`"))
            #expect(rows[key] == nil, "\(key) appears twice")
            rows[key] = String(line)
        }
        Systems.bootstrap()
        let paths = Set(Connection.settingPaths)
        #expect(paths.count > 50)
        for path in paths.sorted() { #expect(rows[path] != nil, "README lacks \(path)") }
        for key in rows.keys.sorted() {
            #expect(paths.contains(key), "README documents \(key), which is not a setting")
        }
        for (path, range) in ConnectionValidator.registeredRanges {
            #expect(
                rows[path]?.contains("\(range.lowerBound) to \(range.upperBound)") == true,
                "README's row of \(path) should state \(range.lowerBound) to \(range.upperBound)")
        }
    }
}
