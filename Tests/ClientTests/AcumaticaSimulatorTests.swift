import Acumatica
import ConnectorCore
import ConnectorFlows
import ConnectorHTTP
import ConnectorRuntime
import ConnectorSecurity
import ConnectorSimulators
import ConnectorTesting
import Foundation
import Logging
import Testing

/// The Acumatica adapter as the runtime builds it (AcumaticaModule through ConnectionRuntime), against the
/// Acumatica simulator on loopback.
final class AcumaticaRig: Sendable {
    let host: SimulatorHost
    let tenant: DemoTenant
    let store = InMemoryStateStore()
    let clock = ManualClock(Date())
    let http = AsyncHTTPClientTransport()
    let vault = Vault(masterKey: try! MasterKey(base64: MasterKey.generate()))

    init(host: SimulatorHost, tenant: DemoTenant) {
        self.host = host
        self.tenant = tenant
    }

    static func start(invoices: Int = 20, options: AcumaticaOptions = AcumaticaOptions()) async throws -> AcumaticaRig {
        let tenant = DemoTenant.generate(invoiceCount: invoices, seed: 5)
        let host = try await SimulatorHost.start(tenant: tenant, options: .init(acumatica: options))
        return AcumaticaRig(host: host, tenant: tenant)
    }

    func stop() async {
        await http.shutdown()
        await host.shutdown()
    }

    /// Runs `body` with a started rig and stops it however `body` ends.
    static func with(options: AcumaticaOptions = AcumaticaOptions(), _ body: (AcumaticaRig) async throws -> Void)
        async throws
    {
        let rig = try await start(options: options)
        do {
            try await body(rig)
            await rig.stop()
        } catch {
            await rig.stop()
            throw error
        }
    }

    var access: AcumaticaAccess { host.acumatica.access }

    func settings(
        authentication: AcumaticaSettings.Authentication = .oauth, endpointVersion: String = "24.200.001"
    ) -> AcumaticaSettings {
        AcumaticaSettings(
            instanceURL: host.acumaticaBaseURL, endpointVersion: endpointVersion, tenant: access.tenant,
            authentication: authentication, clientId: access.clientId,
            clientSecret: .plain(Secret(access.clientSecret)), username: access.username,
            password: .plain(Secret(access.password)), requestsPerMinute: 6000,
            subaccountSegments: ["FUND", "DEPARTMENT", "PROGRAM"], branchDimension: "BRANCH")
    }

    func connection(_ settings: AcumaticaSettings) -> Connection {
        let credentials = tenant.credentials
        return Connection(
            id: "acu",
            jaggaer: JaggaerSettings(
                baseURL: host.jaggaerBaseURL, tokenURL: host.jaggaerTokenURL, clientId: credentials.jaggaerClientId,
                clientSecret: .plain(Secret(credentials.jaggaerClientSecret)), pageSize: 10),
            erp: ERPSettings(settings),
            network: NetworkSettings(allowHTTP: true, allowedHosts: ["127.0.0.1"], requestTimeoutSeconds: 10))
    }

    func runtime(_ settings: AcumaticaSettings) throws -> ConnectionRuntime {
        let connection = connection(settings)
        let context = StepContext(
            store: store, keys: try StateKeys(connection: connection.id), connection: connection, clock: clock,
            logger: Logger(label: "test"), owner: "test-\(UUID().uuidString.prefix(6))")
        return try ConnectionRuntime(context: context, vault: vault, http: http, counter: RequestCounter())
    }

    func connector(_ settings: AcumaticaSettings? = nil) throws -> any ERPConnector {
        try runtime(settings ?? self.settings()).erpConnector()
    }

    func admin(_ method: String, _ path: String, _ body: String? = nil) async throws -> JSONValue {
        let response = try await http.send(
            HTTPRequest(
                method: method, url: host.acumaticaBaseURL + "/_sim/acumatica/" + path,
                headers: [("Content-Type", "application/json")], body: body.map { Data($0.utf8) }))
        guard response.isSuccess else { throw ConnectorError(.httpStatus, "admin \(path): HTTP \(response.status)") }
        return response.body.isEmpty ? .null : try JSONCoding.decode(JSONValue.self, from: response.body)
    }

    var sessions: JSONValue {
        get async throws { try await admin("GET", "sessions") }
    }
}

/// The simulator's admin API as the conformance suite's backend.
struct AcumaticaTestBackend: ERPTestBackend {
    let rig: AcumaticaRig

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
        rig.host.acumatica.addVendors(count: count, prefix: prefix)
    }

    func documentCount(vendor: String, vendorInvoiceNumber: String) async throws -> Int {
        rig.host.acumatica.billCount(vendor: vendor, vendorRef: vendorInvoiceNumber)
    }

    func dropNextCreateAfterCommit() async throws {
        rig.host.acumatica.faults.add(.dropAfterCommit(method: "PUT", endpoint: "Bill"))
    }

    func failReads(status: Int) async throws {
        rig.host.acumatica.faults.add(
            .status(status, system: "acumatica", method: "GET", endpoint: "Vendor", count: nil))
    }

    func clearFaults() async throws { rig.host.acumatica.faults.clear() }

    func advanceClock(seconds: Double) async throws {
        rig.host.clock.advance(by: seconds)
        rig.clock.advance(by: seconds)
    }
}

@Suite("Acumatica adapter against its simulator", .serialized, .timeLimit(.minutes(5)))
struct AcumaticaSimulatorTests {
    @Test("Acumatica passes the adapter conformance suite, with OAuth and with cookie sign-in")
    func conformance() async throws {
        let rig = try await AcumaticaRig.start()
        do {
            try await ERPConformance.run({ try rig.connector() }, backend: AcumaticaTestBackend(rig: rig))
            // The same behaviour with cookie sign-in: a persistent 401 is still a configuration error after the
            // session provider's one sign-in and replay.
            let cookie = rig.settings(authentication: .cookie)
            try await ERPConformance.run({ try rig.connector(cookie) }, backend: AcumaticaTestBackend(rig: rig))
            await rig.stop()
        } catch {
            await rig.stop()
            throw error
        }
    }

    /// A PO line the demo invoices carry (JAGGAER PO number and line), with an active vendor.
    func poLine(_ rig: AcumaticaRig) throws -> (vendor: String, po: String, line: String) {
        let active = Set(
            rig.tenant.businessCentral.vendors.filter { $0.blocked.trimmingCharacters(in: .whitespaces).isEmpty }.map(
                \.number))
        for invoice in rig.tenant.jaggaerInvoices {
            guard let vendor = invoice["header"]?["supplier"]?["supplierNumber"]?.stringValue, active.contains(vendor)
            else { continue }
            for line in invoice["lineList"]?["invoiceLine"]?.arrayValue ?? [] {
                if let po = line["poNumber"]?.stringValue, let number = line["poLineNumber"]?.stringValue {
                    return (vendor, po, number)
                }
            }
        }
        throw ConnectorError(.internalError, "the demo tenant has no PO lines")
    }

    func invoice(
        vendor: String, number: String, account: String, po: (String, String)? = nil,
        dimensions: [DimensionAssignment] = []
    ) -> MappedInvoice {
        MappedInvoice(
            recordId: "t-\(number)", source: "jaggaer", sourceId: number, sourceUpdatedAt: nil, vendorNumber: vendor,
            vendorInvoiceNumber: number, invoiceDate: LocalDate(year: 2026, month: 11, day: 30)!,
            dueDate: LocalDate(year: 2026, month: 12, day: 30), postingDate: nil, currencyCode: nil,
            sourceCurrency: nil, headerDimensions: [],
            lines: [
                MappedLine(
                    kind: .item, sourceLineNumber: 1, description: "Linked line", glAccount: account, quantity: 1,
                    unitCost: 10, dimensions: dimensions, poNumber: po?.0, poLineNumber: po?.1)
            ],
            expectedTotal: 10, poNumbers: po.map { [$0.0] } ?? [])
    }

    @Test("lines that reference a JAGGAER PO are linked to the order line; the bill waits on hold")
    func purchaseOrderLinks() async throws {
        try await AcumaticaRig.with { rig in
            let erp = try rig.connector()
            let backend = AcumaticaTestBackend(rig: rig)
            let (vendor, po, line) = try poLine(rig)
            let orders = try await erp.purchaseOrders(numbers: [po, "NO-SUCH-PO"])
            #expect(orders.map(\.sourceNumber) == [po])
            #expect(orders.first?.line(forSourceLine: line) != nil)
            let number = "PO-LINK-\(UUID().uuidString.prefix(6))"
            let subaccount = [
                DimensionAssignment(dimension: "FUND", value: "19900"),
                DimensionAssignment(dimension: "DEPARTMENT", value: "ADM"),
            ]
            let account = try await backend.expenseAccount()
            await #expect(throws: ConnectorError.self, "part of a subaccount is refused before the write") {
                _ = try await erp.createDraftInvoice(
                    invoice(vendor: vendor, number: number, account: account, po: (po, line), dimensions: subaccount))
            }
            let created = try await erp.createDraftInvoice(
                invoice(vendor: vendor, number: number, account: account, po: (po, line)))
            #expect(created.status == "On Hold")
            let bills = try await rig.admin("GET", "bills")
            guard case .array(let all) = bills else { throw ConnectorError(.internalError, "no bills") }
            let bill = try #require(all.first { $0["VendorRef"]?["value"]?.stringValue == number })
            #expect(bill["Hold"]?["value"] == .bool(true))
            let detail = try #require({ if case .array(let d) = bill["Details"] { d.first } else { nil } }())
            #expect(detail["POOrderNbr"]?["value"]?.stringValue == po)
            #expect(detail["POOrderType"]?["value"]?.stringValue == "Normal")
            #expect(detail["POLine"]?["value"].map { "\($0)" }?.contains(line) == true)
            // The same invoice again finds the bill instead of creating a second one.
            let again = try await erp.createDraftInvoice(invoice(vendor: vendor, number: number, account: account))
            #expect(again.id == created.id)
            #expect(try await backend.documentCount(vendor: vendor, vendorInvoiceNumber: number) == 1)
        }
    }

    @Test("a reviewed bill is posted by the configured actions; paid bills come back as payment statuses")
    func postAndPayments() async throws {
        try await AcumaticaRig.with { rig in
            let erp = try rig.connector()
            let backend = AcumaticaTestBackend(rig: rig)
            let vendor = try await backend.activeVendor()
            let account = try await backend.expenseAccount()
            let start = try await erp.all(from: nil) { try await erp.paymentStatuses(after: $0, pageSize: $1) }
            let number = "POST-\(UUID().uuidString.prefix(6))"
            let created = try await erp.createDraftInvoice(invoice(vendor: vendor, number: number, account: account))
            let posted = try await erp.postDraft(created)
            #expect(posted.id == created.id)
            #expect(posted.status == "Open", "released: \(posted.status ?? "nil")")
            try await backend.advanceClock(seconds: 60)
            _ = try await rig.admin("POST", "bills/pay", #"{"vendor":"\#(vendor)","vendorRef":"\#(number)"}"#)
            let changed = try await erp.all(from: start.cursor) {
                try await erp.paymentStatuses(after: $0, pageSize: $1)
            }
            let status = try #require(changed.items.first { $0.vendorInvoiceNumber == number })
            #expect(status.state == .paid)
            #expect(status.paidAmount == 10)
            #expect(!changed.items.contains { $0.document.status == "On Hold" }, "unreleased bills carry no payments")
        }
    }

    @Test("dimensions are the subaccount segments and the branches")
    func dimensions() async throws {
        try await AcumaticaRig.with { rig in
            let dimensions = try await rig.connector().dimensions()
            #expect(dimensions.map(\.code) == ["FUND", "DEPARTMENT", "PROGRAM", "BRANCH"])
            #expect(dimensions.first { $0.code == "DEPARTMENT" }?.values.contains { $0.code == "ADM" } == true)
            #expect(Set(dimensions.last?.values.map(\.code) ?? []) == ["1000", "2000"])
        }
    }

    @Test("OAuth: the password goes once, expired access tokens are renewed with the refresh token")
    func oauthRefresh() async throws {
        var options = AcumaticaOptions()
        options.accessTokenLifetime = 600
        try await AcumaticaRig.with(options: options) { rig in
            let erp = try rig.connector()
            _ = try await erp.vendors(after: nil, pageSize: 5)
            for _ in 0..<3 {
                try await AcumaticaTestBackend(rig: rig).advanceClock(seconds: 700)
                _ = try await erp.vendors(after: nil, pageSize: 5)
            }
            // A new process (a new connector) uses the shared, sealed tokens.
            _ = try await rig.connector().vendors(after: nil, pageSize: 5)
            let sessions = try await rig.sessions
            #expect(sessions["refreshes"] == .number(3))
            #expect(sessions["tokensIssued"] == .number(4), "one password grant, three refreshes")
        }
    }

    @Test("fit checks: sign-in, the endpoint version, and a sample of every entity read")
    func fitChecks() async throws {
        try await AcumaticaRig.with { rig in
            let checks = await (try rig.connector()).fitChecks()
            #expect(checks.filter { $0.outcome == .fail }.isEmpty, "\(checks)")
            #expect(
                checks.map(\.check) == [
                    "sign-in", "endpoint version", "read Vendor", "read Account", "read Subaccount",
                    "read PurchaseOrder",
                    "read Bill", "create bills",
                ])

            let undeployed = await (try rig.connector(rig.settings(endpointVersion: "99.200.001"))).fitChecks()
            let version = try #require(undeployed.first { $0.check == "endpoint version" })
            #expect(version.outcome == .fail)
            #expect(version.detail.contains("99.200.001"), "\(version.detail)")
            // The instance lists its endpoints at GET /entity (reference §3.1's guide): the fix names the versions
            // it serves.
            let fix = version.fix ?? ""
            #expect(fix.contains("24.200.001") && fix.contains("23.200.001"), "\(fix)")
            #expect(undeployed.count == 2, "nothing is read under an endpoint that is not there")

            var wrong = rig.settings()
            wrong.password = .plain(Secret("not-the-password"))
            let refused = await (try rig.connector(wrong)).fitChecks()
            #expect(refused.first?.check == "sign-in")
            #expect(refused.first?.outcome == .fail)
            #expect(refused.first?.fix?.contains("username") == true)
        }
    }

    @Test("cookie sign-in: one session for the batch, a lost session signed in again once, logout at close")
    func cookieSession() async throws {
        try await AcumaticaRig.with { rig in
            let settings = rig.settings(authentication: .cookie)
            let erp = try rig.connector(settings)
            _ = try await erp.vendors(after: nil, pageSize: 5)
            _ = try await erp.accounts(after: nil, pageSize: 5)
            var sessions = try await rig.sessions
            #expect(sessions["logins"] == .number(1))
            #expect(sessions["open"] == .number(1))
            // The server ends every session (idle timeout, restart): the next request signs in once and is replayed.
            _ = try await rig.http.send(
                HTTPRequest(method: "POST", url: rig.host.acumaticaBaseURL + "/_sim/tokens/expire"))
            _ = try await erp.vendors(after: nil, pageSize: 5)
            sessions = try await rig.sessions
            #expect(sessions["logins"] == .number(2))
            await erp.close()
            sessions = try await rig.sessions
            #expect(sessions["logouts"] == .number(1), "\(sessions)")
            #expect(sessions["open"] == .number(0), "no API-user session is left holding a licence slot")
            // The fit report signs in with the cookie method too.
            let checks = await (try rig.connector(settings)).fitChecks()
            #expect(checks.first?.detail.contains("cookie session") == true)
            #expect(checks.filter { $0.outcome == .fail }.isEmpty, "\(checks)")
        }
    }
}
