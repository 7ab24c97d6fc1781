import ConnectorSimulators
import Foundation
import Testing

@Suite("Fault injection and counters", .serialized)
struct FaultInjectionTests {
    @Test("a status fault answers with the system's error body and Retry-After, for `count` requests only")
    func statusFault() async throws {
        try await withSimulators(tenant: smallTenant) { host in
            let token = try await host.entraToken()
            host.businessCentral.faults.add(.status(429, retryAfter: 7, method: "GET", endpoint: "vendors", count: 2))
            for _ in 0..<2 {
                let limited = try await host.bcGet("vendors", token: token)
                #expect(limited.status == 429)
                #expect(limited.header("Retry-After") == "7")
                #expect(limited.bcErrorCode == "Application_TooManyRequests")
                #expect(limited.bcErrorMessage?.contains("CorrelationId:") == true)
            }
            #expect(try await host.bcGet("vendors", token: token).status == 200)
            #expect(try await host.bcGet("accounts", token: token).status == 200, "other endpoints are not affected")
            #expect(host.counters["bc GET vendors"] == 3, "faulted requests are counted too")

            host.jaggaer.faults.add(.status(503, system: "jaggaer", count: 1))
            let jaggaerToken = try await host.jaggaerToken()
            let unavailable = try await HTTP.get(
                host.jaggaerBaseURL + "/j1p/api/public/ji/v1/invoices", token: jaggaerToken)
            #expect(unavailable.status == 503)
            #expect(unavailable.json?["returnCode"]?.intValue == 503)
            host.jaggaer.faults.add(.status(500, system: "keycloak", count: 1))
            let keycloak = try await HTTP.form(host.jaggaerTokenURL, [("grant_type", "client_credentials")])
            #expect(keycloak.status == 500)
            #expect(keycloak.json?["error"] == .string("server_error"))
            host.entra.faults.add(.status(503, retryAfter: 1, count: 1))
            let entra = try await HTTP.form(host.entraTokenURL, [("grant_type", "client_credentials")])
            #expect(entra.status == 503)
            #expect(entra.json?["error"] == .string("temporarily_unavailable"))
            #expect(host.entra.faults.activeRules.isEmpty)
        }
    }

    @Test("latency delays the response, then the request is handled normally")
    func latency() async throws {
        try await withSimulators(tenant: smallTenant) { host in
            let token = try await host.entraToken()
            host.businessCentral.faults.add(.latency(milliseconds: 300, endpoint: "companies", count: 1))
            let start = ContinuousClock.now
            let slow = try await HTTP.get(host.businessCentralAPIURL + "/companies", token: token)
            let elapsed = ContinuousClock.now - start
            #expect(slow.status == 200)
            #expect(elapsed >= .milliseconds(300))
            let fastStart = ContinuousClock.now
            _ = try await HTTP.get(host.businessCentralAPIURL + "/companies", token: token)
            #expect(ContinuousClock.now - fastStart < .milliseconds(300))
        }
    }

    @Test("dropBeforeCommit: the client sees a transport error and nothing was created")
    func dropBeforeCommit() async throws {
        try await withSimulators(tenant: smallTenant) { host in
            let token = try await host.entraToken()
            host.businessCentral.faults.add(.dropBeforeCommit(method: "POST", endpoint: "purchaseInvoices"))
            await #expect(throws: (any Error).self) {
                _ = try await HTTP.json(
                    "POST", host.companyURL + "/purchaseInvoices", token: token,
                    body: invoiceBody(
                        vendorNumber: host.tenant.openVendorNumber, vendorInvoiceNumber: "DROP-BEFORE",
                        lines: [accountLine("60100")]))
            }
            #expect(
                !host.businessCentral.store.allPurchaseInvoices.contains {
                    $0.invoice.vendorInvoiceNumber == "DROP-BEFORE"
                })
            #expect(host.counters["bc POST purchaseInvoices"] == 1)
        }
    }

    @Test("dropAfterCommit: the invoice is created but the client sees a transport error, not a success")
    func dropAfterCommit() async throws {
        try await withSimulators(tenant: smallTenant) { host in
            let token = try await host.entraToken()
            host.businessCentral.faults.add(.dropAfterCommit(method: "POST", endpoint: "purchaseInvoices"))
            let body = invoiceBody(
                vendorNumber: host.tenant.openVendorNumber, vendorInvoiceNumber: "DROP-AFTER",
                lines: [accountLine("60100")])
            await #expect(throws: (any Error).self) {
                let result = try await HTTP.json(
                    "POST", host.companyURL + "/purchaseInvoices", token: token, body: body)
                Issue.record("the client saw a complete response: \(result.status)")
            }
            #expect(
                host.businessCentral.store.allPurchaseInvoices.filter { $0.invoice.vendorInvoiceNumber == "DROP-AFTER" }
                    .count == 1)
            let found = try await host.bcGet(
                "purchaseInvoices", token: token, query: "$filter=" + HTTP.encode("vendorInvoiceNumber eq 'DROP-AFTER'")
            )
            #expect(found.json?["value"]?.arrayValue?.count == 1, "a retrying client can find the committed invoice")

            host.businessCentral.faults.add(.dropAfterCommit(endpoint: "purchaseInvoices({id})/Microsoft.NAV.post"))
            let id = try #require(found.json?["value"]?.arrayValue?.first?["id"]?.stringValue)
            await #expect(throws: (any Error).self) {
                _ = try await HTTP.send(
                    "POST", host.companyURL + "/purchaseInvoices(\(id))/Microsoft.NAV.post",
                    headers: ["Authorization": "Bearer \(token)"])
            }
            let posted = try await host.bcGet("purchaseInvoices(\(id))", token: token)
            #expect(posted.json?["status"] == .string("Open"), "even an empty 204 response is cut off after the commit")
        }
    }

    @Test("expireTokens invalidates every issued token; clients must fetch a new one")
    func expireTokens() async throws {
        try await withSimulators(tenant: smallTenant) { host in
            let token = try await host.entraToken()
            #expect(try await host.bcGet("vendors", token: token, query: "$top=1").status == 200)
            host.businessCentral.faults.add(.expireTokens(endpoint: "vendors", count: 1))
            #expect(try await host.bcGet("vendors", token: token, query: "$top=1").status == 401)
            #expect(try await host.bcGet("accounts", token: token, query: "$top=1").status == 401)
            let fresh = try await host.entraToken()
            #expect(try await host.bcGet("vendors", token: fresh, query: "$top=1").status == 200)
        }
    }

    @Test("probabilistic rules are repeatable for the same seed")
    func probability() async throws {
        func pattern() async throws -> [Int] {
            try await withSimulators(tenant: smallTenant) { host in
                let token = try await host.jaggaerToken()
                host.jaggaer.faults.add(
                    FaultRule(kind: .status, system: "jaggaer", probability: 0.5, seed: 99, status: 502))
                var statuses: [Int] = []
                for _ in 0..<16 {
                    statuses.append(
                        try await HTTP.get(
                            host.jaggaerBaseURL + "/j1p/api/public/ji/v1/invoices?maxRecords=1", token: token
                        ).status)
                }
                return statuses
            }
        }
        let first = try await pattern()
        let second = try await pattern()
        #expect(first == second)
        #expect(first.contains(502))
        #expect(first.contains(200))
    }

    @Test("faults and counters work over HTTP from another process")
    func controlEndpoints() async throws {
        try await withSimulators(tenant: smallTenant) { host in
            let token = try await host.entraToken()
            let rules = try SimJSON.parse(
                #"[{"kind":"status","status":503,"retryAfter":3,"method":"GET","endpoint":"accounts","count":1},{"kind":"latency","latencyMs":1,"pathPrefix":"/v2.0/"}]"#
            )
            let set = try await HTTP.json("POST", host.businessCentralBaseURL + "/_sim/faults", token: nil, body: rules)
            #expect(set.status == 200)
            #expect(set.json?.arrayValue?.count == 2)
            let failed = try await host.bcGet("accounts", token: token)
            #expect(failed.status == 503)
            #expect(failed.header("Retry-After") == "3")
            let listed = try await HTTP.get(host.businessCentralBaseURL + "/_sim/faults")
            #expect(listed.json?.arrayValue?.count == 1)
            #expect(try await HTTP.send("DELETE", host.businessCentralBaseURL + "/_sim/faults").status == 204)
            #expect(host.businessCentral.faults.activeRules.isEmpty)
            let bad = try await HTTP.json(
                "POST", host.businessCentralBaseURL + "/_sim/faults", token: nil,
                body: try SimJSON.parse(#"[{"kind":"explode"}]"#))
            #expect(bad.status == 400)

            let counters = try await HTTP.get(host.businessCentralBaseURL + "/_sim/counters")
            #expect(counters.json?["bc GET accounts"] == .number("1"))
            let entraCounters = try await HTTP.get(host.entraAuthorityURL + "/_sim/counters")
            #expect(entraCounters.json?["entra POST token"] == .number("1"))
            #expect(try await HTTP.send("POST", host.businessCentralBaseURL + "/_sim/counters/reset").status == 204)
            #expect(try await HTTP.get(host.businessCentralBaseURL + "/_sim/counters").json == .object(SimJSONObject()))
            #expect(try await HTTP.send("POST", host.entraAuthorityURL + "/_sim/tokens/expire").status == 204)
            #expect(try await host.bcGet("accounts", token: token).status == 401)
        }
    }
}
