import ConnectorSimulators
import Foundation
import Testing

@Suite("Acumatica sign-in, sessions and licence limits", .serialized)
struct AcumaticaAuthTests {
    @Test("password grant: bearer works; refresh rotates the pair; expiry by the clock gives 401")
    func oauthPasswordAndRefresh() async throws {
        try await withSimulators(tenant: smallTenant) { host in
            let (access, refresh) = try await host.acumaticaTokens()
            let refreshToken = try #require(refresh, "offline_access yields a refresh token")
            let vendors = try await host.acu("GET", "Vendor", auth: .bearer(access), query: "$top=1")
            #expect(vendors.status == 200)

            let form = host.acumatica.access
            let refreshed = try await HTTP.form(
                host.acumaticaBaseURL + "/identity/connect/token",
                [
                    ("grant_type", "refresh_token"), ("client_id", form.clientId),
                    ("client_secret", form.clientSecret), ("refresh_token", refreshToken),
                ])
            #expect(refreshed.status == 200)
            let newAccess = try #require(refreshed.json?["access_token"]?.stringValue)
            let newRefresh = try #require(refreshed.json?["refresh_token"]?.stringValue)
            #expect(newRefresh != refreshToken, "refresh tokens rotate by default")
            #expect(refreshed.json?["expires_in"]?.intValue == 3600)
            #expect(refreshed.json?["token_type"]?.stringValue == "Bearer")
            let reused = try await HTTP.form(
                host.acumaticaBaseURL + "/identity/connect/token",
                [
                    ("grant_type", "refresh_token"), ("client_id", form.clientId),
                    ("client_secret", form.clientSecret), ("refresh_token", refreshToken),
                ])
            #expect(reused.status == 400)
            #expect(reused.json?["error"]?.stringValue == "invalid_grant")

            host.clock.advance(by: 3601)
            let expired = try await host.acu("GET", "Vendor", auth: .bearer(newAccess), query: "$top=1")
            #expect(expired.status == 401)
            let unknown = try await host.acu("GET", "Vendor", auth: .bearer("not-a-token"))
            #expect(unknown.status == 401)
            let again = try await HTTP.form(
                host.acumaticaBaseURL + "/identity/connect/token",
                [
                    ("grant_type", "refresh_token"), ("client_id", form.clientId),
                    ("client_secret", form.clientSecret), ("refresh_token", newRefresh),
                ])
            #expect(again.status == 200, "the refresh token outlives the access token")
            #expect(host.acumatica.sessionStats.refreshes == 2)
        }
    }

    @Test("token errors follow OAuth 2.0: invalid_client, invalid_grant, unsupported_grant_type, invalid_scope")
    func oauthErrors() async throws {
        try await withSimulators(tenant: smallTenant) { host in
            let access = host.acumatica.access
            let url = host.acumaticaBaseURL + "/identity/connect/token"
            let badClient = try await HTTP.form(
                url,
                [
                    ("grant_type", "password"), ("client_id", access.clientId), ("client_secret", "wrong"),
                    ("username", access.username), ("password", access.password), ("scope", "api"),
                ])
            #expect(badClient.status == 400)
            #expect(badClient.json?["error"]?.stringValue == "invalid_client")
            let badUser = try await HTTP.form(
                url,
                [
                    ("grant_type", "password"), ("client_id", access.clientId), ("client_secret", access.clientSecret),
                    ("username", access.username), ("password", "wrong"), ("scope", "api"),
                ])
            #expect(badUser.status == 400)
            #expect(badUser.json?["error"]?.stringValue == "invalid_grant")
            let credentialsGrant = try await HTTP.form(
                url,
                [
                    ("grant_type", "client_credentials"), ("client_id", access.clientId),
                    ("client_secret", access.clientSecret),
                ])
            #expect(credentialsGrant.json?["error"]?.stringValue == "unsupported_grant_type")
            let badScope = try await HTTP.form(
                url,
                [
                    ("grant_type", "password"), ("client_id", access.clientId), ("client_secret", access.clientSecret),
                    ("username", access.username), ("password", access.password), ("scope", "everything"),
                ])
            #expect(badScope.json?["error"]?.stringValue == "invalid_scope")
            let noRefresh = try await host.acumaticaTokens(scope: "api")
            #expect(noRefresh.refresh == nil, "without offline_access there is no refresh token")
            #expect(host.acumatica.access.clientId.hasSuffix("@" + host.acumatica.access.tenant))
        }
    }

    @Test("cookie sign-in: 204 with session cookies; the licence allows two API users; logout frees a slot")
    func cookieSessionsAndLicence() async throws {
        try await withSimulators(tenant: smallTenant) { host in
            let first = try await host.acumaticaLoginResult()
            #expect(first.status == 204)
            let cookies = try cookieHeader(from: first)
            for name in [".ASPXAUTH=", "ASP.NET_SessionId=", "UserBranch=1000", "Locale="] {
                #expect(cookies.contains(name), "cookie \(name)")
            }
            #expect(try await host.acu("GET", "Account", auth: .cookie(cookies)).status == 200)
            let second = try await host.acumaticaLogin(branch: "2000")
            #expect(second.contains("UserBranch=2000"))
            let third = try await host.acumaticaLoginResult()
            #expect(third.status == 429, "a trial licence allows 2 API users")
            #expect(host.acumatica.openSessions == 2)
            #expect(host.acumatica.sessionStats.refusedByLicence == 1)

            let logout = try await HTTP.send(
                "POST", host.acumaticaBaseURL + "/entity/auth/logout", headers: ["Cookie": cookies])
            #expect(logout.status == 204)
            #expect(try await host.acu("GET", "Account", auth: .cookie(cookies)).status == 401)
            #expect(host.acumatica.openSessions == 1)
            #expect(try await host.acumaticaLoginResult().status == 204, "the slot is free again")
            let stats = host.acumatica.sessionStats
            #expect(stats.logins == 3)
            #expect(stats.logouts == 1)

            let wrong = try await host.acumaticaLoginResult(password: "nope")
            #expect(wrong.status == 400)
            #expect(wrong.json?["exceptionMessage"]?.stringValue?.contains("Invalid credentials") == true)
            let badBranch = try await host.acumaticaLoginResult(branch: "9999")
            #expect(badBranch.status == 400)
        }
    }

    @Test("idle sessions expire by the simulator clock (401) and free their licence slot")
    func idleExpiry() async throws {
        try await withSimulators(tenant: smallTenant) { host in
            let cookies = try await host.acumaticaLogin()
            _ = try await host.acumaticaLogin()
            host.clock.advance(by: 19 * 60)
            #expect(try await host.acu("GET", "Branch", auth: .cookie(cookies)).status == 200, "use keeps it alive")
            host.clock.advance(by: 19 * 60)
            #expect(try await host.acu("GET", "Branch", auth: .cookie(cookies)).status == 200)
            #expect(host.acumatica.openSessions == 1, "the unused session expired")
            host.clock.advance(by: 21 * 60)
            #expect(try await host.acu("GET", "Branch", auth: .cookie(cookies)).status == 401)
            #expect(host.acumatica.openSessions == 0)
            #expect(host.acumatica.sessionStats.expired == 2)
        }
    }

    @Test("requests per minute: over the licence limit → 429 until the minute has passed")
    func requestsPerMinute() async throws {
        try await withSimulators(tenant: smallTenant) { host in
            let (token, _) = try await host.acumaticaTokens()
            host.acumatica.updateOptions { $0.requestsPerMinute = 3 }
            for _ in 0..<3 {
                #expect(try await host.acu("GET", "Branch", auth: .bearer(token)).status == 200)
            }
            let limited = try await host.acu("GET", "Branch", auth: .bearer(token))
            #expect(limited.status == 429)
            host.clock.advance(by: 61)
            #expect(try await host.acu("GET", "Branch", auth: .bearer(token)).status == 200)
        }
    }

    @Test("an endpoint version that is not deployed answers 404 naming only the URL")
    func undeployedVersion() async throws {
        try await withSimulators(tenant: smallTenant) { host in
            let (token, _) = try await host.acumaticaTokens()
            #expect(
                try await HTTP.get(host.acumaticaBaseURL + "/entity/Default/23.200.001/Vendor?$top=1", token: token)
                    .status == 200)
            let missing = try await HTTP.get(host.acumaticaBaseURL + "/entity/Default/22.200.001/Vendor", token: token)
            #expect(missing.status == 404)
            let message = try #require(missing.json?["message"]?.stringValue)
            #expect(message.contains("/entity/Default/22.200.001/Vendor"))
            #expect(!missing.text.contains("24.200.001"), "the deployed versions are not listed")
            let otherEndpoint = try await HTTP.get(
                host.acumaticaBaseURL + "/entity/Custom/24.200.001/Vendor", token: token)
            #expect(otherEndpoint.status == 404)
            host.acumatica.updateOptions { $0.endpoints = ["Default/25.200.001"] }
            let retired = try await HTTP.get(host.acumaticaBaseURL + "/entity/Default/24.200.001/Vendor", token: token)
            #expect(retired.status == 404)
        }
    }
}
