import ConnectorCore
import ConnectorFlows
import ConnectorHTTP
import ConnectorRuntime
import ConnectorSecurity
import ConnectorSimulators
import ConnectorTesting
import FinanceOperations
import Foundation
import Logging
import Testing

/// The real wiring (ConnectionRuntime → FinanceOperationsModule) against the F&O simulator on loopback.
final class FORig: SimulatorRig {
    let parts: SimulatorRigParts
    let connection: Connection

    init(host: SimulatorHost, tenant: DemoTenant, settings: (inout FinanceOperationsSettings) -> Void) {
        parts = SimulatorRigParts(host: host, tenant: tenant)
        let credentials = tenant.credentials
        var fo = FinanceOperationsSettings(
            tenantId: credentials.entraTenantId, clientId: credentials.entraClientId,
            clientSecret: .plain(Secret(credentials.entraClientSecret)),
            environmentURL: host.financeOperationsBaseURL, authorityURL: host.entraAuthorityURL,
            dataAreaId: FODemoData.company, chartOfAccounts: FODemoData.chartOfAccounts,
            dimensions: FODemoData.dimensions)
        settings(&fo)
        connection = .onSimulators(id: "fo", host: host, tenant: tenant, erp: ERPSettings(fo))
    }

    static func start(_ settings: (inout FinanceOperationsSettings) -> Void = { _ in }) async throws -> FORig {
        let tenant = DemoTenant.generate(invoiceCount: 5, seed: 13)
        return FORig(host: try await SimulatorHost.start(tenant: tenant), tenant: tenant, settings: settings)
    }

    var simulator: FinanceOperationsSimulator { host.financeOperations }
}

/// The F&O simulator as the conformance suite's backend: data and faults arranged from outside the connector.
struct FinanceOperationsTestBackend: ERPTestBackend {
    let rig: FORig
    var simulator: FinanceOperationsSimulator { rig.simulator }

    func activeVendor() async throws -> String {
        try #require(
            rig.tenant.businessCentral.vendors.first { $0.blocked.trimmingCharacters(in: .whitespaces).isEmpty }
        )
        .number
    }

    func expenseAccount() async throws -> String {
        try #require(
            rig.tenant.businessCentral.accounts.first {
                $0.accountType == "Posting" && !$0.blocked && $0.directPosting && $0.category == "Expense"
            }
        ).number
    }

    func addVendors(count: Int, prefix: String) async throws -> [String] {
        (0..<count).map { index in
            let number = "\(prefix)\(String(format: "%05d", index))"
            simulator.store.upsert(
                "VendorsV2",
                SimJSONObject([
                    "dataAreaId": .string(FODemoData.company), "VendorAccountNumber": .string(number),
                    "VendorOrganizationName": .string("Conformance \(index)"), "OnHoldStatus": .string("No"),
                ]))
            return number
        }
    }

    func documentCount(vendor: String, vendorInvoiceNumber: String) async throws -> Int {
        simulator.pendingInvoices(company: FODemoData.company, vendor: vendor, invoiceNumber: vendorInvoiceNumber)
    }

    func dropNextCreateAfterCommit() async throws {
        simulator.faults.add(
            FaultRule(kind: .dropAfterCommit, system: "fo", method: "POST", endpoint: "VendorInvoiceHeaders", count: 1))
    }

    func failReads(status: Int) async throws {
        simulator.faults.add(
            FaultRule(kind: .status, system: "fo", method: "GET", endpoint: "VendorsV2", status: status))
    }

    func clearFaults() async throws { simulator.faults.clear() }

    func advanceClock(seconds: Double) async throws { rig.host.clock.advance(by: seconds) }
}

@Suite("Finance and Operations adapter against its simulator", .serialized, .timeLimit(.minutes(5)))
struct FinanceOperationsTests {
    @Test("Finance and Operations passes the adapter conformance suite against its simulator")
    func conformance() async throws {
        try await FORig.start().run { rig in
            try await ERPConformance.run({ try rig.connector() }, backend: FinanceOperationsTestBackend(rig: rig))
        }
    }

    @Test("a failure between the header and its lines is completed by the next lookup, never duplicated")
    func headerThenLinesRecovery() async throws {
        try await FORig.start().run { rig in
            let backend = FinanceOperationsTestBackend(rig: rig)
            let erp = try rig.connector()
            let vendor = try await backend.activeVendor()
            let account = try await backend.expenseAccount()
            var invoice = ERPConformanceSample.invoice(vendor: vendor, number: "SPLIT-1", account: account)
            invoice.lines.append(invoice.lines[0])
            invoice.lines[1].description = "second line"
            // The header is written; the second line's answer never comes (it was committed), then F&O is down.
            rig.simulator.faults.add([
                FaultRule(
                    kind: .dropAfterCommit, system: "fo", method: "POST", endpoint: "VendorInvoiceLines", count: 1),
                FaultRule(
                    kind: .status, system: "fo", method: "POST", endpoint: "VendorInvoiceLines", count: 8, status: 503),
            ])
            do {
                _ = try await erp.createDraftInvoice(invoice)
                Issue.record("a create whose lines did not all land must not report success")
            } catch let error as ConnectorError {
                #expect(error.code == .ambiguousWrite, "\(error)")
            }
            rig.simulator.faults.clear()
            #expect(try await backend.documentCount(vendor: vendor, vendorInvoiceNumber: "SPLIT-1") == 1)
            let found = try await erp.findInvoices(vendorNumber: vendor, vendorInvoiceNumber: "SPLIT-1")
            #expect(found.count == 1)
            let document = try #require(rig.simulator.documents().first { $0.vendorInvoiceNumber == "SPLIT-1" })
            #expect(document.lines == 2, "the lookup wrote the missing line")
            // Completed once: another lookup writes nothing more.
            _ = try await erp.findInvoices(vendorNumber: vendor, vendorInvoiceNumber: "SPLIT-1")
            #expect(rig.simulator.documents().filter { $0.vendorInvoiceNumber == "SPLIT-1" }.map(\.lines) == [2])
        }
    }

    @Test("two processes completing the same header at once leave one invoice with every line")
    func concurrentCompletion() async throws {
        try await FORig.start().run { rig in
            let backend = FinanceOperationsTestBackend(rig: rig)
            let vendor = try await backend.activeVendor()
            let account = try await backend.expenseAccount()
            var invoice = ERPConformanceSample.invoice(vendor: vendor, number: "RACE-1", account: account)
            for index in 2...6 {
                var line = invoice.lines[0]
                line.description = "line \(index)"
                invoice.lines.append(line)
            }
            // The first line's connection drops before F&O sees it: the header stands without lines.
            rig.simulator.faults.add(
                FaultRule(
                    kind: .dropBeforeCommit, system: "fo", method: "POST", endpoint: "VendorInvoiceLines", count: 1)
            )
            let first = try rig.connector()
            do {
                _ = try await first.createDraftInvoice(invoice)
                Issue.record("the create must report the missing lines")
            } catch let error as ConnectorError {
                #expect(error.code == .ambiguousWrite, "\(error)")
            }
            rig.simulator.faults.clear()
            let second = try rig.connector()
            async let a = first.findInvoices(vendorNumber: vendor, vendorInvoiceNumber: "RACE-1")
            async let b = second.findInvoices(vendorNumber: vendor, vendorInvoiceNumber: "RACE-1")
            let (foundA, foundB) = try await (a, b)
            #expect(foundA.count == 1 && foundB.count == 1)
            #expect(rig.simulator.documents().filter { $0.vendorInvoiceNumber == "RACE-1" }.map(\.lines) == [6])
        }
    }

    @Test("an app with a token but no F&O registration is reported as such, with the fix")
    func unregisteredApp() async throws {
        try await FORig.start().run { rig in
            rig.simulator.setRegistered(rig.tenant.credentials.entraClientId, false)
            let erp = try rig.connector()
            do {
                _ = try await erp.vendors(after: nil, pageSize: 50)
                Issue.record("an unregistered app read vendors")
            } catch let error as ConnectorError {
                #expect(error.kind == .configuration)
                #expect(error.message.contains("Microsoft Entra applications"), "\(error.message)")
            }
            let checks = await (erp as? any FitChecking)?.fitChecks() ?? []
            let failed = try #require(checks.first { $0.outcome == .fail })
            #expect(failed.fix?.contains("System administration > Setup > Microsoft Entra applications") == true)
        }
    }

    @Test("reads are pinned to the legal entity; ping passes and names it")
    func companyScoping() async throws {
        try await FORig.start().run { rig in
            let erp = try rig.connector()
            let vendors = try await erp.all(from: nil) { try await erp.vendors(after: $0, pageSize: $1) }.items
            #expect(vendors.count == rig.tenant.businessCentral.vendors.count, "no vendor of usrt")
            #expect(!vendors.contains { $0.name.hasPrefix("Retail supplier") })
            let dimensions = try await erp.dimensions()
            #expect(Set(dimensions.map(\.code)) == Set(FODemoData.dimensions))
            let checks = await (erp as? any FitChecking)?.fitChecks() ?? []
            #expect(checks.allSatisfy { $0.outcome != .fail }, "\(checks.filter { $0.outcome == .fail })")
            #expect(checks.contains { $0.detail.contains("usmf") })
        }
    }

    @Test("a line quoting a PO of the vendor is matched to its PO line")
    func purchaseOrderLink() async throws {
        try await FORig.start().run { rig in
            let erp = try rig.connector()
            let order = try #require(
                rig.simulator.store.records("PurchaseOrderHeadersV2").first)
            let number = order["PurchaseOrderNumber"]?.stringValue ?? ""
            let vendor = order["OrderVendorAccountNumber"]?.stringValue ?? ""
            let line = try #require(
                rig.simulator.store.records("PurchaseOrderLinesV2").first {
                    $0["PurchaseOrderNumber"]?.stringValue == number
                })
            let account = try await FinanceOperationsTestBackend(rig: rig).expenseAccount()
            var invoice = ERPConformanceSample.invoice(vendor: vendor, number: "PO-LINK-1", account: account)
            invoice.lines[0].poNumber = number
            invoice.lines[0].poLineNumber = line["LineNumber"].flatMap { $0.intValue }.map(String.init)
            invoice.poNumbers = [number]
            _ = try await erp.createDraftInvoice(invoice)
            let document = try #require(rig.simulator.documents().first { $0.vendorInvoiceNumber == "PO-LINK-1" })
            #expect(document.purchaseOrderLinkedLines == 1)
            // An order no longer confirmed is not linked to (the filter names the enum member in F&O's syntax).
            var draft = order
            draft["DocumentApprovalStatus"] = .string("Draft")
            rig.simulator.store.upsert("PurchaseOrderHeadersV2", draft)
            #expect(try await erp.purchaseOrders(numbers: [number]).isEmpty)
        }
    }
}

@Suite("Finance and Operations simulator follows the reference", .serialized, .timeLimit(.minutes(2)))
struct FinanceOperationsSimulatorTests {
    func get(_ rig: FORig, _ path: String, token: String) async throws -> HTTPResponse {
        try await rig.http.send(
            HTTPRequest(
                method: "GET", url: rig.host.financeOperationsBaseURL + path,
                headers: [("Authorization", "Bearer \(token)"), ("Accept", "application/json")]))
    }

    func token(_ rig: FORig) -> String {
        rig.host.entra.tokens.issue(
            clientId: rig.tenant.credentials.entraClientId, audience: rig.host.financeOperationsBaseURL
        ).token
    }

    @Test("keys name every key field; enums only in the namespace syntax; company scoping by cross-company")
    func strictness() async throws {
        try await FORig.start().run { rig in
            let token = token(rig)
            let vendor = try #require(rig.tenant.businessCentral.vendors.first).number
            let partial = try await get(rig, "/data/VendorsV2(VendorAccountNumber='\(vendor)')", token: token)
            #expect(partial.status == 400)
            let full = try await get(
                rig, "/data/VendorsV2(dataAreaId='usmf',VendorAccountNumber='\(vendor)')", token: token)
            #expect(full.status == 200)
            let plain = try await get(rig, "/data/MainAccounts?$filter=IsSuspended%20eq%20'Yes'", token: token)
            #expect(plain.status == 400, "an enum compared with a string literal is refused")
            let namespaced = try await get(
                rig,
                "/data/MainAccounts?$filter=IsSuspended%20eq%20Microsoft.Dynamics.DataEntities.NoYes'Yes'",
                token: token)
            #expect(namespaced.status == 200)
            let inOperator = try await get(
                rig, "/data/VendorsV2?$filter=VendorAccountNumber%20in%20('a','b')", token: token)
            #expect(inOperator.status == 400, "`in` is not supported")
            let defaultCompany = try await get(rig, "/data/VendorsV2?$filter=dataAreaId%20eq%20'usrt'", token: token)
            #expect(String(decoding: defaultCompany.body, as: UTF8.self).contains("\"value\":[]"))
            let otherCompany = try await get(
                rig, "/data/VendorsV2?cross-company=true&$filter=dataAreaId%20eq%20'usrt'", token: token)
            #expect(String(decoding: otherCompany.body, as: UTF8.self).contains("Retail supplier"))
            let foreign = rig.host.entra.tokens.issue(
                clientId: rig.tenant.credentials.entraClientId, audience: "https://api.businesscentral.dynamics.com"
            ).token
            #expect(try await get(rig, "/data/VendorsV2", token: foreign).status == 401, "a token for another resource")
        }
    }

    @Test("over the budget: 429 with a Retry-After that grows while the client keeps sending")
    func throttling() async throws {
        try await FORig.start().run { rig in
            rig.simulator.limit(requests: 2, window: 60)
            let token = token(rig)
            var waits: [Int] = []
            for _ in 0..<4 {
                let response = try await get(rig, "/data/DimensionAttributes", token: token)
                if response.status == 429 { waits.append(Int(response.header("Retry-After") ?? "") ?? 0) }
            }
            #expect(waits.count == 2)
            #expect(waits.count == 2 && waits[1] > waits[0] && waits[0] > 0, "\(waits)")
        }
    }
}

@Suite("Finance and Operations settings")
struct FinanceOperationsSettingsTests {
    func decode(_ json: String) throws -> FinanceOperationsSettings {
        try JSONDecoder().decode(FinanceOperationsSettings.self, from: Data(json.utf8))
    }

    let base = """
        "tenantId": "11111111-2222-3333-4444-555555555555", "clientId": "66666666-7777-8888-9999-000000000000",
        "clientSecret": "s3cret-value", "environmentURL": "https://contoso.operations.dynamics.com"
        """

    @Test("the scope is the environment's own; an unknown setting is refused by name")
    func scopeAndUnknownKeys() throws {
        let settings = try decode("{\(base)}")
        #expect(settings.effectiveScope == "https://contoso.operations.dynamics.com/.default")
        #expect(settings.serviceRoot == "https://contoso.operations.dynamics.com/data")
        try settings.validate(prefix: "erp.financeOperations")
        #expect(throws: ConnectorError.self) { try decode("{\(base), \"dataAreaID\": \"usmf\"}") }
        do {
            _ = try decode("{\(base), \"dataAreaID\": \"usmf\"}")
        } catch let error as ConnectorError {
            #expect(error.message.contains("dataAreaId"), "\(error.message)")
        }
    }

    @Test("an environment URL with /data, a bad legal entity or a foreign scope is refused")
    func validation() throws {
        let withPath = try decode(
            "{\(base.replacingOccurrences(of: "dynamics.com\"", with: "dynamics.com/data\""))}")
        #expect(throws: ConnectorError.self) { try withPath.validate(prefix: "erp.financeOperations") }
        var settings = try decode("{\(base)}")
        settings.dataAreaId = "us mf"
        #expect(throws: ConnectorError.self) { try settings.validate(prefix: "erp.financeOperations") }
        settings.dataAreaId = "usmf"
        settings.scope = "https://contoso.operations.dynamics.com"
        #expect(throws: ConnectorError.self) { try settings.validate(prefix: "erp.financeOperations") }
        #expect(settings.endpoints.contains { $0.hostSuffixes == ["operations.dynamics.com"] })
    }
}
