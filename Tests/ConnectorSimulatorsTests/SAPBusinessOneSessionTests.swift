import ConnectorSimulators
import Foundation
import Testing

@Suite("SAP Business One: login, sessions, logout")
struct SAPBusinessOneSessionTests {
    @Test("login answers SessionId, Version and SessionTimeout and sets B1SESSION and ROUTEID; calls need both")
    func loginAndCookies() async throws {
        try await withB1Simulator { simulator, base in
            var client = B1TestClient(base: base)
            let login = try await client.login()
            #expect(login.status == 200)
            #expect(login.json?["SessionId"]?.stringValue == client.session)
            #expect(login.json?["SessionTimeout"]?.intValue == 30)
            #expect(login.json?["Version"]?.stringValue?.isEmpty == false)
            #expect(login.json?["odata.metadata"]?.stringValue?.hasSuffix("$metadata#B1Sessions/@Element") == true)
            #expect(client.route == B1Sessions.routeId)
            #expect(try await client.get("BusinessPartners('V100')").status == 200)

            // Each cookie in its own Set-Cookie field; B1SESSION without Path (as the real one), ROUTEID with path=/.
            let body = #"{"CompanyDB":"SBOTEST","UserName":"manager","Password":"s3cret"}"#
            let raw = try await rawHTTP(
                base: base,
                request: "POST /b1s/v1/Login HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                    + "Content-Length: \(body.utf8.count)\r\nConnection: close\r\n\r\n" + body)
            let cookies = raw.head.filter { $0.lowercased().hasPrefix("set-cookie:") }
            #expect(raw.status == 200)
            #expect(cookies.count == 2)
            #expect(cookies.contains { $0.contains("B1SESSION=") && !$0.lowercased().contains("path") })
            #expect(cookies.contains { $0.contains("ROUTEID=\(B1Sessions.routeId)") && $0.contains("path=/") })

            var noRoute = client
            noRoute.route = nil
            let missingRoute = try await noRoute.get("BusinessPartners('V100')")
            #expect(missingRoute.status == 401)
            #expect(missingRoute.b1Code == "301")
            #expect(missingRoute.b1Message == "Invalid session or session already timeout.")
            var unknown = client
            unknown.session = UUID().uuidString.lowercased()
            #expect(try await unknown.get("BusinessPartners('V100')").status == 401)
            let none = try await HTTP.get(client.root + "/BusinessPartners")
            #expect(none.status == 401)
            #expect(none.b1CodeIsNumber, "v1 writes the code as a number")
            #expect(simulator.sessions.stats.logins == 2)
        }
    }

    @Test("a failed login is 401 with code 100000027 'Login failed'; v2 writes codes as strings")
    func failedLogin() async throws {
        try await withB1Simulator { simulator, base in
            var v1 = B1TestClient(base: base)
            let wrong = try await v1.login(B1Sessions.Account(companyDB: "SBOTEST", userName: "manager", password: "x"))
            #expect(wrong.status == 401)
            #expect(wrong.b1Code == "100000027")
            #expect(wrong.b1CodeIsNumber)
            #expect(wrong.b1Message == "Login failed")
            #expect(wrong.json?["error"]?["message"]?["lang"]?.stringValue == "en-us")
            var v2 = B1TestClient(base: base, version: "v2")
            let wrongCompany = try await v2.login(
                B1Sessions.Account(companyDB: "OTHER", userName: "manager", password: "s3cret"))
            #expect(wrongCompany.json?["error"]?["code"]?.stringValue == "100000027")
            let expired = try await HTTP.get(v2.root + "/BusinessPartners")
            #expect(expired.json?["error"]?["code"]?.stringValue == "301")
            #expect(simulator.sessions.stats.failedLogins == 2)
            #expect(simulator.sessions.stats.open == 0)
        }
    }

    @Test("sessions expire after SessionTimeout minutes idle, sliding with every request, by the simulator clock")
    func slidingExpiry() async throws {
        let clock = SimulatorClock(fixedAt: Date(timeIntervalSince1970: 1_795_176_000))
        try await withB1Simulator(clock: clock) { simulator, base in
            var client = B1TestClient(base: base, version: "v2")
            try await client.login()
            for _ in 0..<3 {
                clock.advance(by: 29 * 60)
                #expect(try await client.get("ChartOfAccounts('60100')").status == 200, "each call slides the timeout")
            }
            clock.advance(by: 30 * 60)
            let expired = try await client.get("ChartOfAccounts('60100')")
            #expect(expired.status == 401)
            #expect(expired.b1Code == "301")
            let stats = simulator.sessions.stats
            #expect(stats.open == 0)
            #expect(stats.expired == 1)
            // A shorter timeout applies to new sessions.
            let config = try await HTTP.json(
                "POST", base + "/_sim/b1/config", token: nil,
                body: .object(SimJSONObject(["sessionTimeoutMinutes": .int(5)])))
            #expect(config.status == 204)
            let login = try await client.login()
            #expect(login.json?["SessionTimeout"]?.intValue == 5)
            clock.advance(by: 5 * 60)
            #expect(try await client.get("ChartOfAccounts('60100')").status == 401)
        }
    }

    @Test("logout ends the session; the admin API reports logins, logouts, open and peak sessions")
    func logout() async throws {
        try await withB1Simulator { simulator, base in
            var first = B1TestClient(base: base)
            try await first.login()
            var second = B1TestClient(base: base)
            try await second.login()
            #expect(simulator.sessions.stats.open == 2)
            let out = try await first.send("POST", "Logout", nil)
            #expect(out.status == 204)
            #expect(try await first.get("BusinessPartners('V100')").status == 401)
            #expect(try await second.get("BusinessPartners('V100')").status == 200, "other sessions stay")
            #expect(try await second.send("POST", "Logout", nil).status == 204)
            let stats = try await HTTP.get(base + "/_sim/b1/sessions")
            #expect(stats.json?["logins"]?.intValue == 2)
            #expect(stats.json?["logouts"]?.intValue == 2)
            #expect(stats.json?["open"]?.intValue == 0)
            #expect(stats.json?["peakOpen"]?.intValue == 2)
            #expect(try await HTTP.json("POST", base + "/_sim/b1/sessions/reset", token: nil, body: nil).status == 204)
            #expect(simulator.sessions.stats.peakOpen == 0)
            #expect(simulator.sessions.stats.logins == 0)
        }
    }

    @Test("a request with Expect: 100-continue is refused with 417 and counted; nothing is created")
    func expectContinue() async throws {
        try await withB1Simulator { simulator, base in
            var client = B1TestClient(base: base)
            try await client.login()
            let body = b1InvoiceBody(cardCode: "V100", numAtCard: "EXP-1", lines: [b1Line()]).text
            let cookie = "B1SESSION=\(client.session ?? ""); ROUTEID=\(client.route ?? "")"
            let raw = try await rawHTTP(
                base: base,
                request: "POST /b1s/v1/PurchaseInvoices HTTP/1.1\r\nHost: 127.0.0.1\r\nCookie: \(cookie)\r\n"
                    + "Content-Type: application/json\r\nExpect: 100-continue\r\n"
                    + "Content-Length: \(body.utf8.count)\r\nConnection: close\r\n\r\n" + body)
            #expect(raw.status == 417)
            #expect(simulator.sessions.stats.expectRefused == 1)
            #expect(simulator.counters.count("sapBusinessOne refused Expect: 100-continue") == 1)
            #expect(b1Counts(simulator, "V100", "EXP-1") == [0, 0])
            // The same request without the header goes through.
            let created = try await client.send(
                "POST", "PurchaseInvoices", b1InvoiceBody(cardCode: "V100", numAtCard: "EXP-1", lines: [b1Line()]))
            #expect(created.status == 201)
        }
    }
}
