import BusinessCentral
import ConnectorCore
import ConnectorFlows
import ConnectorHTTP
import ConnectorSecurity
import ConnectorSimulators
import ConnectorTesting
import Foundation
import Jaggaer
import Testing

/// Real clients, real HTTP on loopback, real token providers against the simulated identity providers.
final class ClientRig: Sendable {
    let host: SimulatorHost
    let tenant: DemoTenant
    let store = InMemoryStateStore()
    let keys = try! StateKeys(connection: "rig")
    let vault = Vault(masterKey: try! MasterKey(base64: MasterKey.generate()))
    let http = AsyncHTTPClientTransport()
    let counter = RequestCounter()

    init(host: SimulatorHost, tenant: DemoTenant) {
        self.host = host
        self.tenant = tenant
    }

    static func start(invoices: Int = 40, options: SimulatorHost.Options = .init()) async throws -> ClientRig {
        let tenant = DemoTenant.generate(invoiceCount: invoices, seed: 3)
        return ClientRig(host: try await SimulatorHost.start(tenant: tenant, options: options), tenant: tenant)
    }

    func stop() async {
        await http.shutdown()
        await host.shutdown()
    }

    func plain(retryAfterCap: Duration = .seconds(30)) -> any HTTPTransport {
        RetryingTransport(
            base: CountingTransport(base: http, counter: counter),
            policy: RetryPolicy(baseDelay: .milliseconds(10), retryAfterCap: retryAfterCap)
        )
    }

    func entraTokens(secret: String? = nil, owner: String = "a") -> OAuth2ClientCredentialsProvider {
        OAuth2ClientCredentialsProvider(
            configuration: .init(
                name: "businessCentral",
                tokenURL: host.entraTokenURL,
                clientId: tenant.credentials.entraClientId,
                clientSecret: Secret(secret ?? tenant.credentials.entraClientSecret),
                scope: "https://api.businesscentral.dynamics.com/.default"
            ),
            transport: plain(),
            cache: TokenCache(store: store, keys: keys, sealer: vault)
        )
    }

    func businessCentral(secret: String? = nil, pageSize: Int = 1000, retryAfterCap: Duration = .seconds(30))
        -> BusinessCentralClient
    {
        BusinessCentralClient(
            apiRoot:
                "\(host.businessCentralBaseURL)/v2.0/\(tenant.credentials.entraTenantId)/\(tenant.credentials.businessCentralEnvironment)/api/v2.0",
            transport: BearerAuthTransport(
                base: plain(retryAfterCap: retryAfterCap), tokens: entraTokens(secret: secret)),
            pageSize: pageSize
        )
    }

    func jaggaer() -> JaggaerClient {
        let tokens = OAuth2ClientCredentialsProvider(
            configuration: .init(
                name: "jaggaer",
                tokenURL: host.jaggaerTokenURL,
                clientId: tenant.credentials.jaggaerClientId,
                clientSecret: Secret(tenant.credentials.jaggaerClientSecret),
                scope: nil
            ),
            transport: plain(),
            cache: TokenCache(store: store, keys: keys, sealer: vault)
        )
        return JaggaerClient(
            baseURL: host.jaggaerBaseURL, transport: BearerAuthTransport(base: plain(), tokens: tokens))
    }

    var companyId: String { tenant.credentials.companyId }
}

@Suite("Clients against the simulators on loopback", .serialized, .timeLimit(.minutes(5)))
struct ClientSimulatorTests {
    @Test("JAGGAER: pages of approved headers, oldest first, and every invoice converts")
    func jaggaerPaging() async throws {
        let rig = try await ClientRig.start()
        do {
            // Real tenants list by invoiceId; this tenant is set to list oldest change first.
            rig.host.jaggaer.listOptions.order = .lastUpdate
            let client = rig.jaggaer()
            var headers: [JaggaerInvoiceHeader] = []
            var startAt = 1
            while true {
                let page = try await client.listInvoices(
                    startAt: startAt, pageSize: 7, updatedSince: nil, status: "Completed")
                let items = page.items.compactMap { try? $0.get() }
                headers += items
                if page.returned < 7 { break }
                startAt += page.returned
            }
            let approved = rig.tenant.expectations.filter { $0.value != .notApproved }.count
            #expect(headers.count == approved)
            #expect(Set(headers.map(\.invoiceId.value)).count == approved)
            let stamps = headers.compactMap { $0.lastUpdate.flatMap(Timestamp.parse) }
            #expect(stamps == stamps.sorted())
            for header in headers.prefix(10) {
                let invoice = try JaggaerSource.convert(try await client.invoice(id: header.invoiceId.value))
                #expect(!invoice.lines.isEmpty)
                #expect(invoice.total != nil)
            }
            let later = try await client.listInvoices(
                startAt: 1, pageSize: 50, updatedSince: Date().addingTimeInterval(86400 * 365), status: nil)
            #expect(later.returned == 0)
            await #expect(throws: ConnectorError.self) { try await client.invoice(id: "999999999") }
            #expect(rig.host.counters["keycloak POST token", default: 0] == 1, "one token for the whole session")
            await rig.stop()
        } catch {
            await rig.stop()
            throw error
        }
    }

    @Test("BC: master data, paging by nextLink, and the natural-key lookup with escaping")
    func businessCentralReads() async throws {
        let rig = try await ClientRig.start()
        do {
            let client = rig.businessCentral()
            let companies = try await client.companies()
            #expect(companies.map(\.id) == [rig.companyId])
            let vendors = try await client.vendors(companyId: rig.companyId)
            #expect(vendors.count == rig.tenant.businessCentral.vendors.count)
            let small = try await rig.businessCentral(pageSize: 7).vendors(companyId: rig.companyId)
            #expect(small.map(\.number) == vendors.map(\.number), "paging by nextLink returns the same records")
            #expect(rig.host.counters["bc GET vendors", default: 0] >= 1 + (vendors.count + 6) / 7)
            let accounts = try await client.accounts(companyId: rig.companyId)
            #expect(accounts.count == rig.tenant.businessCentral.accounts.count)
            let dimensions = try await client.dimensions(companyId: rig.companyId)
            #expect(Set(dimensions.map(\.code)).isSuperset(of: ["FUND", "DEPARTMENT", "PROGRAM"]))
            #expect(dimensions.allSatisfy { !($0.dimensionValues ?? []).isEmpty })

            let keyed = try #require(rig.tenant.businessCentral.purchaseInvoices.first)
            let found = try await client.findPurchaseInvoices(
                companyId: rig.companyId, vendorNumber: keyed.vendorNumber,
                vendorInvoiceNumber: keyed.vendorInvoiceNumber)
            #expect(found.count == 1)
            for hostile in ["x' or 1 eq 1", "' or vendorNumber ne '", "O'NEIL-2291", "%27) or (1 eq 1"] {
                let none = try await client.findPurchaseInvoices(
                    companyId: rig.companyId, vendorNumber: keyed.vendorNumber, vendorInvoiceNumber: hostile)
                #expect(none.isEmpty, "\(hostile) must match nothing")
            }
            await #expect(throws: ConnectorError.self) { try await client.vendors(companyId: "not-a-guid") }
            await rig.stop()
        } catch {
            await rig.stop()
            throw error
        }
    }

    @Test("BC: a deep insert creates a draft with its lines and dimensions; an invalid one creates nothing")
    func businessCentralCreate() async throws {
        let rig = try await ClientRig.start()
        do {
            let client = rig.businessCentral()
            let vendor = try #require(
                rig.tenant.businessCentral.vendors.first { $0.blocked.trimmingCharacters(in: .whitespaces).isEmpty })
            let line = BCPurchaseInvoiceCreate.Line(
                sequence: 10000, lineObjectNumber: "60100", description: "Toner", quantity: 2,
                unitCost: Decimal(string: "12.34")!, taxCode: nil,
                dimensionSetLines: [DimensionSetLine(code: "FUND", valueCode: try fundValue(rig))]
            )
            let body = BCPurchaseInvoiceCreate(
                vendorNumber: vendor.number, vendorInvoiceNumber: "T-it's-1", invoiceDate: "2026-11-02", dueDate: nil,
                postingDate: nil, currencyCode: nil, purchaseInvoiceLines: [line])
            let created = try await client.createPurchaseInvoice(companyId: rig.companyId, body)
            #expect(created.status == "Draft")
            #expect(created.number != nil)
            let found = try await client.findPurchaseInvoices(
                companyId: rig.companyId, vendorNumber: vendor.number, vendorInvoiceNumber: "T-it's-1")
            #expect(found.map(\.id) == [created.id])
            let lines = try await client.purchaseInvoiceLines(companyId: rig.companyId, invoiceId: created.id)
            #expect(lines.count == 1)
            #expect(lines.first?.unitCost == Decimal(string: "12.34"))

            let before = rig.host.businessCentral.store.allPurchaseInvoices.count
            var bad = body
            bad.vendorInvoiceNumber = "T-2"
            bad.purchaseInvoiceLines.append(
                BCPurchaseInvoiceCreate.Line(
                    sequence: 20000, lineObjectNumber: "99999", description: "nope", quantity: 1, unitCost: 1,
                    taxCode: nil,
                    dimensionSetLines: nil
                )
            )
            do {
                _ = try await client.createPurchaseInvoice(companyId: rig.companyId, bad)
                Issue.record("an unknown account must be refused")
            } catch let error as ConnectorError {
                #expect(error.kind == .rejected)
                #expect(error.httpStatus == 400)
            }
            #expect(rig.host.businessCentral.store.allPurchaseInvoices.count == before, "atomic: nothing created")
            await rig.stop()
        } catch {
            await rig.stop()
            throw error
        }
    }

    @Test("tokens: cached and shared, refreshed after expiry via one retry, wrong secrets are configuration errors")
    func tokens() async throws {
        let rig = try await ClientRig.start()
        do {
            let client = rig.businessCentral()
            _ = try await client.companies()
            _ = try await client.companies()
            #expect(rig.host.counters["entra POST token", default: 0] == 1)
            // A second provider (another process) finds the sealed token in the shared store.
            _ = try await rig.businessCentral().companies()
            #expect(rig.host.counters["entra POST token", default: 0] == 1)

            rig.host.entra.tokens.expireAll()
            _ = try await client.companies()
            #expect(rig.host.counters["entra POST token", default: 0] == 2, "a 401 refreshed the token once")

            let wrong = ClientRig(host: rig.host, tenant: rig.tenant)
            do {
                _ = try await wrong.businessCentral(secret: "not-the-secret").companies()
                Issue.record("a wrong secret must fail")
            } catch let error as ConnectorError {
                #expect(error.code == .authRejected)
                #expect(error.exitCode == .config)
                #expect(!error.message.contains("not-the-secret"))
            }
            await wrong.http.shutdown()
            await rig.stop()
        } catch {
            await rig.stop()
            throw error
        }
    }

    @Test("faults: 429 bursts are retried, long Retry-After is handed back, a lost answer to a create is ambiguous")
    func faults() async throws {
        let rig = try await ClientRig.start()
        do {
            let client = rig.businessCentral(retryAfterCap: .seconds(5))
            _ = try await client.companies()
            rig.host.businessCentral.faults.add(
                FaultRule(
                    kind: .status, system: "bc", method: "GET", endpoint: "vendors", count: 2, status: 429,
                    retryAfter: 0))
            let vendors = try await client.vendors(companyId: rig.companyId)
            #expect(!vendors.isEmpty)
            rig.host.businessCentral.faults.add(
                FaultRule(
                    kind: .status, system: "bc", method: "GET", endpoint: "vendors", count: 1, status: 429,
                    retryAfter: 120))
            do {
                _ = try await client.vendors(companyId: rig.companyId)
                Issue.record("a 120 s Retry-After must not be slept")
            } catch let error as ConnectorError {
                #expect(error.kind == .temporary)
                #expect(error.retryAt != nil)
            }

            let vendor = try #require(
                rig.tenant.businessCentral.vendors.first { $0.blocked.trimmingCharacters(in: .whitespaces).isEmpty })
            let body = BCPurchaseInvoiceCreate(
                vendorNumber: vendor.number, vendorInvoiceNumber: "DROP-1", invoiceDate: "2026-11-02", dueDate: nil,
                postingDate: nil, currencyCode: nil,
                purchaseInvoiceLines: [
                    .init(
                        sequence: 10000, lineObjectNumber: "60100", description: "x", quantity: 1, unitCost: 5,
                        taxCode: nil, dimensionSetLines: nil)
                ]
            )
            rig.host.businessCentral.faults.add(
                FaultRule(kind: .dropAfterCommit, system: "bc", method: "POST", endpoint: "purchaseInvoices", count: 1))
            do {
                _ = try await client.createPurchaseInvoice(companyId: rig.companyId, body)
                Issue.record("the client must see the dropped answer")
            } catch let error as ConnectorError {
                #expect(error.code == .ambiguousWrite)
            }
            #expect(rig.host.counters["bc POST purchaseInvoices", default: 0] == 1, "never resent blindly")
            let found = try await client.findPurchaseInvoices(
                companyId: rig.companyId, vendorNumber: vendor.number, vendorInvoiceNumber: "DROP-1")
            #expect(found.count == 1, "the ERP committed it; a lookup settles the ambiguity")
            await rig.stop()
        } catch {
            await rig.stop()
            throw error
        }
    }
}

/// A value code of the FUND dimension in the simulated company.
func fundValue(_ rig: ClientRig) throws -> String {
    let data = rig.tenant.businessCentral
    let fund = try #require(data.dimensions.first { $0.code == "FUND" })
    return try #require(data.dimensionValues.first { $0.dimensionId == fund.id }).code
}
