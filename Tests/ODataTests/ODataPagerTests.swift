import ConnectorCore
import ConnectorHTTP
import ConnectorSimulators
import Foundation
import OData
import Synchronization
import Testing

/// A scripted server: answers each URL from a table and records what was asked.
final class ScriptedTransport: HTTPTransport {
    let pages: [String: HTTPResponse]
    private let requests = Mutex<[HTTPRequest]>([])

    init(_ pages: [String: String], status: Int = 200) {
        self.pages = pages.mapValues { HTTPResponse(status: status, body: Data($0.utf8)) }
    }

    init(responses: [String: HTTPResponse]) { self.pages = responses }

    var urls: [String] { requests.withLock { $0.map(\.url) } }
    var sent: [HTTPRequest] { requests.withLock { $0 } }

    func send(_ request: HTTPRequest) async throws -> HTTPResponse {
        requests.withLock { $0.append(request) }
        return pages[request.url] ?? HTTPResponse(status: 404, body: Data(#"{"error":{"code":"NotFound"}}"#.utf8))
    }
}

struct Row: Decodable, Sendable, Equatable {
    var id: Int
}

@Suite("OData paging")
struct ODataPagerTests {
    static func page(_ ids: ClosedRange<Int>?, next: String? = nil, key: String = "@odata.nextLink") -> String {
        let rows = (ids.map(Array.init) ?? []).map { #"{"id":\#($0)}"# }.joined(separator: ",")
        return #"{"value":[\#(rows)]"# + (next.map { #","\#(key)":"\#($0)""# } ?? "") + "}"
    }

    @Test("absolute @odata.nextLink until the last page, with the caller's headers on every page")
    func absoluteLinks() async throws {
        let transport = ScriptedTransport([
            "https://erp.example/api/v2.0/vendors": Self.page(
                1...2, next: "https://erp.example/api/v2.0/vendors?$skiptoken=2"),
            "https://erp.example/api/v2.0/vendors?$skiptoken=2": Self.page(3...3),
        ])
        let pager = ODataPager(
            transport: transport, system: "Test",
            headers: [("Accept", "application/json"), ("Prefer", "odata.maxpagesize=2")])
        let (rows, outcome) = try await pager.all(of: Row.self, from: "https://erp.example/api/v2.0/vendors")
        #expect(rows.map(\.id) == [1, 2, 3])
        #expect(outcome == ODataPager.Outcome(pages: 2, items: 3, stop: .lastPage))
        #expect(transport.sent.allSatisfy { $0.header("Prefer") == "odata.maxpagesize=2" })
    }

    @Test("relative links (v3 odata.nextLink, as SAP B1 sends them) resolve against the request URL")
    func relativeLinks() async throws {
        let transport = ScriptedTransport([
            "https://b1.example:50000/b1s/v1/BusinessPartners?$select=CardCode":
                Self.page(1...2, next: "BusinessPartners?$select=CardCode&$skip=2", key: "odata.nextLink"),
            "https://b1.example:50000/b1s/v1/BusinessPartners?$select=CardCode&$skip=2":
                Self.page(3...4, next: "/b1s/v1/BusinessPartners?$select=CardCode&$skip=4", key: "odata.nextLink"),
            "https://b1.example:50000/b1s/v1/BusinessPartners?$select=CardCode&$skip=4": Self.page(5...5),
        ])
        let pager = ODataPager(transport: transport, system: "SAP Business One")
        let (rows, outcome) = try await pager.all(
            of: Row.self, from: "https://b1.example:50000/b1s/v1/BusinessPartners?$select=CardCode")
        #expect(rows.map(\.id) == [1, 2, 3, 4, 5])
        #expect(outcome.pages == 3 && outcome.stop == .lastPage)
    }

    @Test("relative links can resolve against the service root instead (nested collections)")
    func serviceRootLinks() async throws {
        let transport = ScriptedTransport([
            "https://b1.example/b1s/v1/Orders(1)/DocumentLines": Self.page(
                1...1, next: "Orders(1)/DocumentLines?$skip=1"),
            "https://b1.example/b1s/v1/Orders(1)/DocumentLines?$skip=1": Self.page(2...2),
        ])
        let pager = ODataPager(
            transport: transport, system: "SAP Business One", serviceRoot: "https://b1.example/b1s/v1")
        let (rows, _) = try await pager.all(of: Row.self, from: "https://b1.example/b1s/v1/Orders(1)/DocumentLines")
        #expect(rows.map(\.id) == [1, 2])
    }

    @Test(
        "a next link to another host, scheme or port is refused",
        arguments: [
            "https://evil.example/api/vendors?$skiptoken=2", "http://erp.example/api/vendors?$skiptoken=2",
            "https://erp.example:8443/api/vendors?$skiptoken=2", "//evil.example/api/vendors",
        ])
    func foreignLinks(link: String) async throws {
        let transport = ScriptedTransport([
            "https://erp.example/api/vendors": Self.page(1...1, next: link)
        ])
        let pager = ODataPager(transport: transport, system: "Test")
        await #expect(throws: ConnectorError.self) {
            _ = try await pager.all(of: Row.self, from: "https://erp.example/api/vendors")
        }
        #expect(transport.urls.count == 1, "the foreign link was never requested")
    }

    @Test("an explicit default port counts as the same origin")
    func defaultPort() async throws {
        let transport = ScriptedTransport([
            "https://erp.example/api/v": Self.page(1...1, next: "https://erp.example:443/api/v?p=2"),
            "https://erp.example:443/api/v?p=2": Self.page(2...2),
        ])
        let (rows, _) = try await ODataPager(transport: transport, system: "Test").all(
            of: Row.self, from: "https://erp.example/api/v")
        #expect(rows.count == 2)
    }

    @Test("a server that loops its next link is stopped and says so")
    func loopGuard() async throws {
        let transport = ScriptedTransport([
            "https://erp.example/a": Self.page(1...1, next: "https://erp.example/b"),
            "https://erp.example/b": Self.page(2...2, next: "https://erp.example/a"),
        ])
        let outcome = try await ODataPager(transport: transport, system: "Test").forEachPage(
            of: Row.self, from: "https://erp.example/a"
        ) { _ in }
        #expect(outcome == ODataPager.Outcome(pages: 2, items: 2, stop: .repeatedLink))
        #expect(!outcome.stop.complete)
    }

    @Test("max pages bounds the read and reports it")
    func maxPages() async throws {
        var pages: [String: String] = [:]
        for index in 0..<10 {
            pages["https://erp.example/p\(index)"] = Self.page(index...index, next: "/p\(index + 1)")
        }
        let transport = ScriptedTransport(pages)
        let outcome = try await ODataPager(transport: transport, system: "Test", maxPages: 3).forEachPage(
            of: Row.self, from: "https://erp.example/p0"
        ) { _ in }
        #expect(outcome == ODataPager.Outcome(pages: 3, items: 3, stop: .maxPages))
        #expect(transport.urls.count == 3)
    }

    @Test("an empty page ends the read even when it carries a link")
    func emptyPage() async throws {
        let transport = ScriptedTransport([
            "https://erp.example/a": Self.page(1...1, next: "/b"), "https://erp.example/b": Self.page(nil, next: "/c"),
        ])
        let outcome = try await ODataPager(transport: transport, system: "Test").forEachPage(
            of: Row.self, from: "https://erp.example/a"
        ) { _ in }
        #expect(outcome == ODataPager.Outcome(pages: 2, items: 1, stop: .emptyPage))
    }

    @Test("$skip paging (Acumatica): $top and $skip set by the pager, a short page is the last")
    func skipPaging() async throws {
        let base = "https://acu.example/entity/Default/24.200.001/Vendor"
        let transport = ScriptedTransport([
            "\(base)?$filter=Status%20eq%20%27Active%27&$top=2&$skip=0": Self.page(1...2),
            "\(base)?$filter=Status%20eq%20%27Active%27&$top=2&$skip=2": Self.page(3...4),
            "\(base)?$filter=Status%20eq%20%27Active%27&$top=2&$skip=4": Self.page(5...5),
        ])
        let pager = ODataPager(transport: transport, system: "Acumatica", strategy: .skip(pageSize: 2))
        let (rows, outcome) = try await pager.all(
            of: Row.self, from: "\(base)?$filter=Status%20eq%20%27Active%27&$top=999&%24skip=7")
        #expect(rows.map(\.id) == [1, 2, 3, 4, 5])
        #expect(outcome == ODataPager.Outcome(pages: 3, items: 5, stop: .lastPage))
    }

    @Test("$skip paging stops on an empty page after a full one")
    func skipPagingEmpty() async throws {
        let base = "https://acu.example/entity/Default/24.200.001/Bill"
        let transport = ScriptedTransport([
            "\(base)?$top=2&$skip=0": Self.page(1...2), "\(base)?$top=2&$skip=2": Self.page(nil),
        ])
        let outcome = try await ODataPager(transport: transport, system: "Acumatica", strategy: .skip(pageSize: 2))
            .forEachPage(of: Row.self, from: base) { _ in }
        #expect(outcome == ODataPager.Outcome(pages: 2, items: 2, stop: .emptyPage))
    }

    @Test("next link first, $skip when the server stops sending links after a full page")
    func mixed() async throws {
        let transport = ScriptedTransport([
            "https://erp.example/v?$top=2": Self.page(1...2, next: "https://erp.example/v?$top=2&$skip=2"),
            "https://erp.example/v?$top=2&$skip=2": Self.page(3...4),
            "https://erp.example/v?$top=2&$skip=4": Self.page(5...5),
        ])
        let (rows, outcome) = try await ODataPager(
            transport: transport, system: "Test", strategy: .nextLinkOrSkip(pageSize: 2)
        ).all(of: Row.self, from: "https://erp.example/v?$top=2")
        #expect(rows.map(\.id) == [1, 2, 3, 4, 5])
        #expect(outcome.pages == 3)
    }

    @Test("an error page becomes a ConnectorError with the ERP's code; a garbled page is upstream.malformed")
    func errors() async throws {
        let failing = ScriptedTransport(
            [
                "https://b1.example/b1s/v2/Items":
                    #"{"error":{"code":"301","message":"Invalid session or session already timeout."}}"#
            ],
            status: 401)
        let pager = ODataPager(transport: failing, system: "SAP Business One", errorRules: .sapBusinessOne)
        do {
            _ = try await pager.all(of: Row.self, from: "https://b1.example/b1s/v2/Items")
            Issue.record("expected an error")
        } catch let error as ConnectorError {
            #expect(error.isSessionExpired)
            #expect(error.httpStatus == 401)
        }
        let garbled = ScriptedTransport(["https://erp.example/v": #"{"value":[{"id":"x"}]}"#])
        do {
            _ = try await ODataPager(transport: garbled, system: "Test").all(
                of: Row.self, from: "https://erp.example/v")
            Issue.record("expected an error")
        } catch let error as ConnectorError {
            #expect(error.code == .upstreamMalformed)
        }
    }

    @Test("against the Business Central simulator on loopback: small pages, same records as one big page")
    func simulator() async throws {
        let tenant = DemoTenant.generate(invoiceCount: 5, seed: 3)
        let host = try await SimulatorHost.start(tenant: tenant)
        let http = AsyncHTTPClientTransport()
        do {
            let tokens = OAuth2ClientCredentialsProvider(
                configuration: .init(
                    name: "bc", tokenURL: host.entraTokenURL, clientId: tenant.credentials.entraClientId,
                    clientSecret: Secret(tenant.credentials.entraClientSecret),
                    scope: "https://api.businesscentral.dynamics.com/.default"),
                transport: http, cache: nil)
            let transport = BearerAuthTransport(base: http, tokens: tokens)
            let root =
                "\(host.businessCentralBaseURL)/v2.0/\(tenant.credentials.entraTenantId)/\(tenant.credentials.businessCentralEnvironment)/api/v2.0"
            let url = try ODataQuery(select: ["id", "number"]).url(
                root, path: "/companies(\(tenant.credentials.companyId))/vendors", flavor: .businessCentral)
            struct Vendor: Decodable, Sendable { var number: String }
            let small = try await ODataPager(
                transport: transport, system: "Business Central",
                headers: [("Accept", "application/json"), ("Prefer", "odata.maxpagesize=3")]
            ).all(of: Vendor.self, from: url)
            let big = try await ODataPager(transport: transport, system: "Business Central").all(
                of: Vendor.self, from: url)
            #expect(small.items.map(\.number) == big.items.map(\.number))
            #expect(small.items.count == tenant.businessCentral.vendors.count)
            #expect(small.outcome.pages >= (small.items.count + 2) / 3)
            #expect(small.outcome.stop == .lastPage)
        } catch {
            await http.shutdown()
            await host.shutdown()
            throw error
        }
        await http.shutdown()
        await host.shutdown()
    }
}
