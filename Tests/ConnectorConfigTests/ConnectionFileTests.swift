import ConnectorConfig
import ConnectorCore
import ConnectorRuntime
import ConnectorSecurity
import ConnectorTesting
import Foundation
import Testing

/// A valid connection file; `extra` is inserted at the end, `replacing` swaps lines.
func connectionYAML(_ extra: String = "", replacing: [(String, String)] = []) -> String {
    var text = """
        id: acme-bc
        name: ACME
        jaggaer:
          baseURL: https://prep-reg02.api.jaggaer.com
          clientId: ml-connector
          clientSecret: jaggaer-secret-value
          approvedStatuses: [Completed]
        erp:
          kind: businessCentral
          businessCentral:
            tenantId: 00000000-0000-0000-0000-000000000001
            environment: production
            clientId: 11111111-1111-1111-1111-111111111111
            clientSecret: bc~secret-value
            companyName: CRONUS USA, Inc.
        mapping:
          accountSegment: Account
          dimensions:
            - {segment: Fund, dimension: FUND}
          vendors: {"279765": "V10000"}
          taxAccount: 22500
        flow:
          pollIntervalSeconds: 300
          maxAttempts: 5

        """
    for (old, new) in replacing { text = text.replacingOccurrences(of: old, with: new) }
    return text + extra
}

func load(_ yaml: String) throws -> Connection {
    try ConnectionFile.decode(Data(yaml.utf8), name: "acme.yaml", json: false)
}

func loadError(_ yaml: String, json: Bool = false) -> String {
    do {
        _ = try ConnectionFile.decode(Data(yaml.utf8), name: "acme.yaml", json: json)
        return "(no error)"
    } catch let error as ConnectorError {
        return error.message
    } catch {
        return "unexpected \(error)"
    }
}

@Suite("Connection files")
struct ConnectionFileTests {
    /// Connection files name their ERP by kind: make every ERP of the build known first.
    init() { Systems.bootstrap() }

    @Test("a valid file loads, bare numbers read as text where text is expected")
    func valid() throws {
        let connection = try load(connectionYAML())
        #expect(connection.id == "acme-bc")
        #expect(connection.mapping.vendors == ["279765": "V10000"])
        #expect(connection.mapping.taxAccount == "22500")
        #expect(connection.mapping.dimensions == [SegmentDimensionRule(segment: "Fund", dimension: "FUND")])
        #expect(connection.flow.maxAttempts == 5)
    }

    @Test(
        "a misspelt key is refused with its full path and the nearest valid name, at every level",
        arguments: [
            ("flow:\n  maxAttemps: 500\n", "flow.maxAttemps is not a setting; did you mean flow.maxAttempts?"),
            ("nmae: x\n", "nmae is not a setting; did you mean name?"),
            ("network:\n  allowHTTPS: true\n", "network.allowHTTPS is not a setting; did you mean network.allowHTTP?"),
            (
                "notifications:\n  publicUrl: https://hooks.acme.example\n",
                "notifications.publicUrl is not a setting; did you mean notifications.publicURL?"
            ),
            (
                "notifications:\n  businessCentral:\n    clientState: {env: X}\n    renewBeforeHour: 3\n",
                "notifications.businessCentral.renewBeforeHour is not a setting; did you mean notifications.businessCentral.renewBeforeHours?"
            ),
            (
                "notifications:\n  acumatica:\n    headerValue: {env: X}\n    querys: {}\n",
                "notifications.acumatica.querys is not a setting; did you mean notifications.acumatica.queries?"
            ),
        ])
    func misspeltKeys(extra: String, message: String) {
        let base = connectionYAML(replacing: [("flow:\n  pollIntervalSeconds: 300\n  maxAttempts: 5\n", "")])
        #expect(loadError(base + extra) == "acme.yaml: \(message)")
    }

    @Test("misspelt keys inside jaggaer, erp, erp.businessCentral, mapping, mapping.dimensions[] and secrets")
    func nestedMisspellings() {
        #expect(
            loadError(connectionYAML(replacing: [("  approvedStatuses:", "  approvedStatus:")]))
                == "acme.yaml: jaggaer.approvedStatus is not a setting; did you mean jaggaer.approvedStatuses?")
        #expect(
            loadError(connectionYAML(replacing: [("  kind: businessCentral", "  kind: businessCentral\n  knd: x")]))
                == "acme.yaml: erp.knd is not a setting; did you mean erp.kind?")
        #expect(
            loadError(connectionYAML(replacing: [("    companyName:", "    company:")]))
                .hasPrefix("acme.yaml: erp.businessCentral.company is not a setting"))
        #expect(
            loadError(connectionYAML(replacing: [("  taxAccount:", "  taxAcount:")]))
                == "acme.yaml: mapping.taxAcount is not a setting; did you mean mapping.taxAccount?")
        #expect(
            loadError(connectionYAML(replacing: [("dimension: FUND}", "dimension: FUND, requried: false}")]))
                == "acme.yaml: mapping.dimensions[0].requried is not a setting; did you mean mapping.dimensions[0].required?"
        )
        #expect(
            loadError(connectionYAML(replacing: [("clientSecret: jaggaer-secret-value", "clientSecret: {evn: X}")]))
                == "acme.yaml: jaggaer.clientSecret.evn is not a setting; did you mean jaggaer.clientSecret.env?")
        #expect(
            loadError(
                connectionYAML(replacing: [("clientSecret: jaggaer-secret-value", "clientSecret: {env: X, file: /y}")])
            )
            .contains("jaggaer.clientSecret gives a secret in more than one way"))
        #expect(loadError(connectionYAML("zzzzzz: 1\n")).contains("the top level takes id, name, jaggaer"))
    }

    @Test("the same keys are refused in a JSON connection file")
    func strictJSON() throws {
        let connection = try load(connectionYAML())
        let encoded = try JSONCoding.encode(
            try Vault(masterKey: MasterKey(base64: MasterKey.generate())).sealSecrets(of: connection))
        var object = try JSONSerialization.jsonObject(with: encoded) as! [String: Any]
        var flow = object["flow"] as! [String: Any]
        flow["maxAttemps"] = 500
        object["flow"] = flow
        let data = try JSONSerialization.data(withJSONObject: object)
        #expect(
            loadError(String(decoding: data, as: UTF8.self), json: true)
                == "acme.yaml: flow.maxAttemps is not a setting; did you mean flow.maxAttempts?")
    }

    @Test("allowInsecureHTTP in a file is refused with what replaces it")
    func retiredKey() {
        let message = loadError(connectionYAML("network:\n  allowInsecureHTTP: true\n"))
        #expect(message.contains("network.allowInsecureHTTP is no longer a setting"))
        #expect(message.contains("network.allowHTTP"))
        #expect(message.contains("network.allowedHosts"))
    }

    @Test("a duplicate key names the key and both lines")
    func duplicateKeys() {
        let message = loadError(connectionYAML("flow:\n  maxAttempts: 3\n", replacing: []))
        #expect(message.contains("\"flow\""), "\(message)")
        #expect(message.contains("lines 22 and 25"), "\(message)")
        let inner = loadError(
            connectionYAML(replacing: [("  maxAttempts: 5", "  maxAttempts: 5\n  maxAttempts: 6")]))
        #expect(inner.contains("\"maxAttempts\""), "\(inner)")
        #expect(inner.contains("lines 24 and 25"), "\(inner)")
    }

    @Test("a syntax error gives its line")
    func syntaxError() {
        let message = loadError(connectionYAML("flow: [unclosed\n"))
        #expect(message.contains("not valid YAML at line"), "\(message)")
    }

    @Test("type errors name the full key path")
    func typeErrors() {
        #expect(
            loadError(connectionYAML(replacing: [("maxAttempts: 5", "maxAttempts: five")]))
                == "acme.yaml: flow.maxAttempts must be a whole number")
        #expect(
            loadError(connectionYAML(replacing: [("kind: businessCentral", "kind: sap")]))
                .contains("erp.kind is \"sap\"; this build supports acumatica, businessCentral"))
        #expect(
            loadError(connectionYAML(replacing: [("vendors: {\"279765\": \"V10000\"}", "vendors: {\"279765\": [a]}")]))
                .contains("mapping.vendors.279765 must be a single value"))
    }

    @Test("a file larger than the limit is refused before parsing")
    func sizeLimit() throws {
        let directory = try TemporaryDirectory()
        let path = directory.path + "/big.yaml"
        let filler = String(repeating: "# padding padding padding padding padding padding padding\n", count: 20_000)
        try (connectionYAML() + filler).write(toFile: path, atomically: true, encoding: .utf8)
        let error = #expect(throws: ConnectorError.self) { try ConnectionFile.load(path: path) }
        #expect(error?.message.contains("larger than 1024 KiB") == true)
        #expect(throws: ConnectorError.self) { try ConnectionFile.load(path: directory.path + "/missing.yaml") }
    }

    /// 20,000 vendor mappings used to take 55 s (2,000: under a second): decoding a YAML mapping looked every key
    /// up in a list. Linear time means 10 times the entries take about 10 times as long.
    @Test("a large vendor map parses in linear time")
    func vendorMapScaling() throws {
        func file(_ count: Int) -> Data {
            var vendors = "  vendors:\n"
            for index in 0..<count { vendors += "    \"S\(100_000 + index)\": V\(200_000 + index)\n" }
            return Data(connectionYAML(replacing: [("  vendors: {\"279765\": \"V10000\"}\n", vendors)]).utf8)
        }
        func seconds(_ count: Int) throws -> Double {
            let data = file(count)
            var best = Double.infinity
            for _ in 0..<2 {
                let start = ContinuousClock.now
                let connection = try ConnectionFile.decode(data, name: "big.yaml", json: false)
                best = min(best, (ContinuousClock.now - start).timeInterval)
                #expect(connection.mapping.vendors.count == count)
                #expect(connection.mapping.vendors["S100007"] == "V200007")
            }
            return best
        }
        _ = try seconds(200)  // warm up
        let small = try seconds(2_000)
        let large = try seconds(20_000)
        #expect(large / small < 25, "2,000 entries: \(small) s, 20,000 entries: \(large) s")
    }
}

extension Duration {
    fileprivate var timeInterval: Double {
        let (seconds, attoseconds) = components
        return Double(seconds) + Double(attoseconds) / 1e18
    }
}
