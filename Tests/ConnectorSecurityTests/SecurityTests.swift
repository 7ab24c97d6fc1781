import Acumatica
import BusinessCentral
import ConnectorCore
import ConnectorRuntime
import ConnectorSecurity
import ConnectorTesting
import Foundation
import Testing

@Suite("Vault, master key, connections and URL policy")
struct SecurityTests {
    /// Connection files name their ERP by kind: make every ERP of the build known first.
    init() { Systems.bootstrap() }

    let key = try! MasterKey(base64: MasterKey.generate())

    @Test("sealed values open only with the same key and context")
    func vault() throws {
        let vault = Vault(masterKey: key)
        let sealed = try vault.seal(Data("s3cr3t-value".utf8), context: "conn/a/token/bc")
        #expect(!String(decoding: sealed, as: UTF8.self).contains("s3cr3t"))
        #expect(try vault.open(sealed, context: "conn/a/token/bc") == Data("s3cr3t-value".utf8))
        #expect(throws: ConnectorError.self) { try vault.open(sealed, context: "conn/b/token/bc") }
        let other = Vault(masterKey: try MasterKey(base64: MasterKey.generate()))
        do {
            _ = try other.open(sealed, context: "conn/a/token/bc")
            Issue.record("opened with the wrong key")
        } catch let error as ConnectorError {
            #expect(error.code == .masterKeyMismatch)
            #expect(error.exitCode == .config)
        }
        var tampered = sealed
        tampered[tampered.count - 3] ^= 0x01
        #expect(throws: ConnectorError.self) { try vault.open(tampered, context: "conn/a/token/bc") }
        // Two seals of the same value differ (random nonce).
        #expect(try vault.seal(Data("x".utf8), context: "c") != vault.seal(Data("x".utf8), context: "c"))
    }

    @Test("a missing or malformed master key is a configuration error (78)")
    func masterKey() {
        for environment in [
            [:], ["MLC_MASTER_KEY": "short"], ["MLC_MASTER_KEY": String(repeating: "A", count: 44)],
            ["MLC_MASTER_KEY_FILE": "/nonexistent"],
        ] {
            do {
                _ = try MasterKey.fromEnvironment(environment)
                if environment["MLC_MASTER_KEY"]?.count == 44 { continue }
                Issue.record("accepted \(environment.keys)")
            } catch let error as ConnectorError {
                #expect(error.exitCode == .config)
            } catch {
                Issue.record("unexpected \(error)")
            }
        }
        #expect(MasterKey.generate().count == 44)
    }

    @Test("connections are stored with every secret sealed; nothing plaintext reaches the store")
    func connectionStore() async throws {
        let store = InMemoryStateStore()
        let connections = ConnectionStore(store: store, vault: Vault(masterKey: key))
        let jaggaerSecret = "jaggaer-plain-secret-\(UUID().uuidString)"
        let bcSecret = "bc-plain-secret-\(UUID().uuidString)"
        let connection = Connection(
            id: "acme",
            jaggaer: JaggaerSettings(
                baseURL: "https://prep-reg02.api.jaggaer.com", clientId: "c1",
                clientSecret: .plain(Secret(jaggaerSecret))),
            erp: ERPSettings(
                BusinessCentralSettings(
                    tenantId: "00000000-0000-0000-0000-0000000000a1", environment: "production",
                    clientId: "00000000-0000-0000-0000-0000000000c2", clientSecret: .plain(Secret(bcSecret)),
                    companyName: "CRONUS")
            )
        )
        try await connections.save(connection)
        for entry in try await store.scanAll(prefix: "") {
            let text = String(decoding: entry.value.data, as: UTF8.self)
            #expect(!text.contains(jaggaerSecret) && !text.contains(bcSecret), "plaintext secret in \(entry.key)")
        }
        let loaded = try await connections.load("acme")
        #expect(try connections.secret(loaded, "jaggaer.clientSecret").value == jaggaerSecret)
        #expect(try connections.secret(loaded, "erp.businessCentral.clientSecret").value == bcSecret)
        let wrongKey = ConnectionStore(
            store: store, vault: Vault(masterKey: try MasterKey(base64: MasterKey.generate())))
        #expect(throws: ConnectorError.self) { try wrongKey.verifySecrets(loaded) }
        await #expect(throws: ConnectorError.self) { try await connections.load("nope") }
        #expect(try await connections.remove("acme"))
    }

    @Test("webhook secrets are sealed like the others and checked for length, charset and header names")
    func webhookSecrets() async throws {
        let store = InMemoryStateStore()
        let connections = ConnectionStore(store: store, vault: Vault(masterKey: key))
        func connection(
            clientState: String, headerName: String? = nil, publicURL: String = "https://hooks.acme.example"
        )
            -> Connection
        {
            let jaggaer = JaggaerSettings(
                baseURL: "https://prep-reg02.api.jaggaer.com", clientId: "c1", clientSecret: .plain(Secret("j-secret")))
            if let headerName {
                // An Acumatica connection: its push notifications carry one configured header.
                return Connection(
                    id: "hooks-acumatica", jaggaer: jaggaer,
                    erp: ERPSettings(
                        AcumaticaSettings(
                            instanceURL: "https://acme.acumatica.com", authentication: .cookie, username: "mlc",
                            password: .plain(Secret("a-password")))),
                    notifications: NotificationSettings(
                        publicURL: publicURL,
                        AcumaticaPushNotifications(
                            headerName: headerName, headerValue: .plain(Secret(clientState)), queries: ["Q": "vendors"]),
                        kind: AcumaticaSettings.kind))
            }
            return Connection(
                id: "hooks",
                jaggaer: jaggaer,
                erp: ERPSettings(
                    BusinessCentralSettings(
                        tenantId: "00000000-0000-0000-0000-0000000000a1", environment: "production",
                        clientId: "00000000-0000-0000-0000-0000000000c2",
                        clientSecret: .plain(Secret("b-secret")),
                        companyName: "CRONUS")),
                notifications: NotificationSettings(
                    publicURL: publicURL,
                    BusinessCentralNotifications(
                        clientState: .plain(Secret(clientState)),
                        previousClientState: .plain(Secret("old-state-0123456789"))),
                    kind: BusinessCentralSettings.kind))
        }
        let good = "bc-client-state-\(UUID().uuidString.prefix(8))"
        try await connections.save(connection(clientState: good))
        try await connections.save(connection(clientState: "acumatica-header-0123456789", headerName: "X-Hook"))
        for entry in try await store.scanAll(prefix: "") {
            let text = String(decoding: entry.value.data, as: UTF8.self)
            for secret in [good, "old-state-0123456789", "acumatica-header-0123456789"] {
                #expect(!text.contains(secret), "plaintext webhook secret in \(entry.key)")
            }
        }
        let loaded = try await connections.load("hooks")
        #expect(try connections.secret(loaded, "notifications.businessCentral.clientState").value == good)
        let acumatica = try await connections.load("hooks-acumatica")
        #expect(
            try connections.secret(acumatica, "notifications.acumatica.headerValue").value
                == "acumatica-header-0123456789")
        for bad in [
            connection(clientState: "short"), connection(clientState: String(repeating: "x", count: 251)),
            connection(clientState: "has spaces in the client state"),
            connection(clientState: good, headerName: "Content-Type"),
            connection(clientState: good, headerName: "Bad Header"),
            connection(clientState: "short", headerName: "X-Hook"),
            connection(clientState: good, publicURL: "http://hooks.acme.example"),
            connection(clientState: good, publicURL: "https://user:pw@hooks.acme.example"),
        ] {
            await #expect(throws: ConnectorError.self) { try await connections.save(bad) }
        }
    }

    @Test("a plaintext secret can never be encoded")
    func plaintextRefused() {
        #expect(throws: EncodingError.self) { try JSONCoding.encode(SecretField.plain(Secret("abcdefgh"))) }
        #expect("\(Secret("hunter2-password"))" == "<redacted>")
    }

    @Test("known secrets are scrubbed from text")
    func redactor() {
        _ = Secret("very-secret-token-123")
        #expect(SecretRedactor.scrub("Bearer very-secret-token-123 failed") == "Bearer *** failed")
    }

    @Test(
        "URL policy",
        arguments: [
            ("https://prep-reg02.api.jaggaer.com", URLPolicy.System.jaggaer, false, [String](), true),
            ("https://evil.example.com", .jaggaer, false, [], false),
            ("https://jaggaer.com.evil.net", .jaggaer, false, [], false),
            ("http://prep-reg02.api.jaggaer.com", .jaggaer, false, [], false),
            ("http://prep-reg02.api.jaggaer.com", .jaggaer, true, [], true),
            ("https://user:pw@prep-reg02.api.jaggaer.com", .jaggaer, false, [], false),
            ("https://127.0.0.1:8443", .jaggaer, false, [], false),
            ("https://10.1.2.3", .businessCentral, false, [], false),
            ("https://api.businesscentral.dynamics.com", .businessCentral, false, [], true),
            ("https://login.microsoftonline.com", .entra, false, [], true),
            ("https://login.microsoftonline.com.attacker.io", .entra, false, [], false),
            ("http://127.0.0.1:8080", .businessCentral, true, ["127.0.0.1"], true),
            ("http://127.0.0.1:8080", .businessCentral, true, ["127.0.0.1:8080"], true),
            ("http://127.0.0.1:8081", .businessCentral, true, ["127.0.0.1:8080"], false),
            ("http://nav.corp.local:7048", .businessCentral, true, ["nav.corp.local"], true),
            ("https://nav.corp.example:7048", .businessCentral, false, ["nav.corp.example:7048"], true),
            ("http://[::1]:8080", .businessCentral, true, ["[::1]"], true),
            ("http://[0:0:0:0:0:0:0:1]:8080", .businessCentral, true, ["[::1]"], true),
            ("ftp://api.businesscentral.dynamics.com", .businessCentral, true, [], false),
            ("https://api.businesscentral.dynamics.com?x=1", .businessCentral, false, [], false),
            ("not a url", .businessCentral, true, [], false),
            // allowHTTP alone permits the scheme, not other hosts (it used to turn every host check off).
            ("https://evil.example", .jaggaer, true, [], false),
            ("http://169.254.169.254/latest", .entra, true, [], false),
            ("http://127.0.0.1:8080", .businessCentral, true, [], false),
            // Never allowed, even when listed.
            ("http://169.254.169.254", .other, true, ["169.254.169.254"], false),
            ("http://169.254.10.1", .other, true, ["169.254.10.1"], false),
            ("http://[fe80::1]", .other, true, ["[fe80::1]"], false),
            ("http://[fd00:ec2::254]", .other, true, ["[fd00:ec2::254]"], false),
            ("http://metadata.google.internal", .other, true, ["metadata.google.internal"], false),
            ("http://100.100.100.200", .other, true, ["100.100.100.200"], false),
            ("http://[::ffff:169.254.169.254]", .other, true, [], false),
            // Odd spellings of a host.
            ("https://prep%2dreg02.api.jaggaer.com", .jaggaer, false, [], false),
            ("https://evil.example%00.jaggaer.com", .jaggaer, false, [], false),
            ("https://a%40b.jaggaer.com", .jaggaer, false, [], false),
            ("http://2130706433", .businessCentral, true, ["127.0.0.1"], false),
            ("http://0x7f.1", .businessCentral, true, ["127.0.0.1"], false),
            ("http://0177.0.0.1", .businessCentral, true, ["127.0.0.1"], false),
            ("http://127.1", .businessCentral, true, ["127.0.0.1"], false),
            ("http://0x7f000001", .businessCentral, true, ["127.0.0.1"], false),
            ("https://api.businesscentral.dynamics.com.", .businessCentral, false, [], true),
            ("https://hooks.acme.example", .other, false, [], true),
            ("https://localhost", .other, false, [], false),
            ("https://intranet", .other, false, [], false),
        ]
    )
    func urlPolicy(url: String, system: URLPolicy.System, allowHTTP: Bool, hosts: [String], allowed: Bool) throws {
        // A never-allowed host is refused already as an allowedHosts entry, and again by the check itself.
        let check = { try URLPolicy(allowHTTP: allowHTTP, allowedHosts: hosts).check(url, system: system) }
        if allowed {
            #expect(throws: Never.self) { try check() }
        } else {
            #expect(throws: ConnectorError.self) { try check() }
            #expect(throws: ConnectorError.self) {
                try URLPolicy(allowHTTP: allowHTTP, allowedHosts: []).check(url, system: system)
            }
        }
    }

    @Test(
        "network.allowedHosts refuses entries that are malformed or never allowed",
        arguments: [
            "169.254.169.254", "[fe80::1]", "metadata.google.internal", "127.0.0.1:0", "127.0.0.1:99999", "::1",
            "2130706433", "bad host", "host%2fx", "[fd00:ec2::254]:80", "",
        ])
    func allowedHostsRefused(entry: String) {
        #expect(throws: ConnectorError.self) { try URLPolicy(allowHTTP: true, allowedHosts: [entry]) }
    }

    @Test("a refused URL names the setting and says how to allow an on-premises host")
    func urlMessages() throws {
        let policy = try URLPolicy(allowHTTP: true, allowedHosts: [])
        let error = #expect(throws: ConnectorError.self) {
            try policy.check(
                "http://10.0.0.5:7048", system: .businessCentral, setting: "erp.businessCentral.apiBaseURL")
        }
        #expect(error?.message.contains("erp.businessCentral.apiBaseURL") == true)
        #expect(error?.message.contains("network.allowedHosts") == true)
        let metadata = #expect(throws: ConnectorError.self) {
            try policy.check("http://169.254.169.254", system: .entra)
        }
        #expect(metadata?.message.contains("never allowed") == true)
    }
}

extension URLPolicy.System {
    /// The services of the URL policy table above, as the ERP targets declare them.
    static let businessCentral = URLPolicy.System(
        name: "businessCentral", hostSuffixes: ["api.businesscentral.dynamics.com"])
    static let entra = URLPolicy.System(
        name: "entra",
        hostSuffixes: [
            "login.microsoftonline.com", "login.microsoftonline.us", "login.chinacloudapi.cn",
            "login.partner.microsoftonline.cn",
        ])
}
