import ConnectorConfig
import ConnectorCore
import ConnectorRuntime
import ConnectorSecurity
import Foundation
import SAPBusinessOne
import Testing

/// The README's SAP Business One connection file, as an operator would write it.
let b1ConnectionYAML = """
    id: acme-b1
    jaggaer:
      baseURL: https://prep-reg02.api.jaggaer.com
      clientId: ml-connector
      clientSecret: {env: JAGGAER_CLIENT_SECRET}
    erp:
      kind: sapBusinessOne
      sapBusinessOne:
        serviceLayerURL: https://b1.acme.example:50000/b1s/v1
        companyDB: SBODEMOUS
        username: jaggaer-integration
        password: {env: B1_PASSWORD}
        draftMode: draft
        purchaseOrderNumberField: U_JaggaerPO
        costingCodes: {DEPARTMENT: CostingCode, FUND: CostingCode2}
        vendorConflictRule: erpWins
        timeZone: Europe/Berlin
    network:
      allowedHosts: ["b1.acme.example:50000"]

    """

@Suite("SAP Business One connection files")
struct SAPBusinessOneConnectionFileTests {
    init() { Systems.bootstrap() }

    @Test("the README's file loads and validates; its settings arrive typed")
    func readmeSample() throws {
        let connection = try ConnectionFile.decode(Data(b1ConnectionYAML.utf8), name: "acme.yaml", json: false)
        try ConnectionValidator.validate(connection)
        let settings = try connection.erp.typed(SAPBusinessOneSettings.self)
        #expect(settings.purchaseOrderNumberField == "U_JaggaerPO")
        #expect(settings.costingCodes == ["DEPARTMENT": "CostingCode", "FUND": "CostingCode2"])
        #expect(settings.sessionTimeoutCodes == ["301"])
        #expect(connection.secretFields.map(\.label).contains("erp.sapBusinessOne.password"))
    }

    @Test("without the host in network.allowedHosts the Service Layer URL is refused")
    func hostMustBeListed() throws {
        let yaml = b1ConnectionYAML.replacingOccurrences(
            of: "network:\n  allowedHosts: [\"b1.acme.example:50000\"]\n", with: "")
        let connection = try ConnectionFile.decode(Data(yaml.utf8), name: "acme.yaml", json: false)
        do {
            try ConnectionValidator.validate(connection)
            Issue.record("an unlisted on-premises host was accepted")
        } catch let error as ConnectorError {
            #expect(error.code == .urlRejected)
            #expect(error.message.contains("erp.sapBusinessOne.serviceLayerURL"))
            #expect(error.message.contains("network.allowedHosts"))
        }
    }

    @Test("a misspelt B1 setting is refused with its full path and the nearest name")
    func misspelt() {
        let yaml = b1ConnectionYAML.replacingOccurrences(of: "    draftMode: draft", with: "    draftMod: draft")
        do {
            _ = try ConnectionFile.decode(Data(yaml.utf8), name: "acme.yaml", json: false)
            Issue.record("a misspelt key was accepted")
        } catch let error as ConnectorError {
            #expect(
                error.message
                    == "acme.yaml: erp.sapBusinessOne.draftMod is not a setting; did you mean erp.sapBusinessOne.draftMode?"
            )
        } catch {
            Issue.record("unexpected \(error)")
        }
    }
    @Test("an enum-valued B1 setting outside its choices is refused with its path and the choices")
    func outsideChoices() {
        let yaml = b1ConnectionYAML.replacingOccurrences(
            of: "vendorConflictRule: erpWins", with: "vendorConflictRule: erpwins")
        do {
            _ = try ConnectionFile.decode(Data(yaml.utf8), name: "acme.yaml", json: false)
            Issue.record("a value outside the choices was accepted")
        } catch let error as ConnectorError {
            #expect(error.code == .connectionInvalid)
            #expect(
                error.message.contains(
                    "erp.sapBusinessOne.vendorConflictRule is \"erpwins\"; use newestWins or erpWins"))
        } catch {
            Issue.record("unexpected \(error)")
        }
    }
}
