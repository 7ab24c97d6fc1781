import ConnectorSimulators
import Foundation
import Testing

@Suite("Keycloak and Entra token endpoints", .serialized)
struct IdentityProviderTests {
    @Test("Keycloak issues client-credentials tokens in Keycloak's response shape")
    func keycloakSuccess() async throws {
        try await withSimulators(tenant: smallTenant) { host in
            let credentials = host.tenant.credentials
            let result = try await HTTP.form(
                host.jaggaerTokenURL,
                [
                    ("grant_type", "client_credentials"), ("client_id", credentials.jaggaerClientId),
                    ("client_secret", credentials.jaggaerClientSecret),
                ])
            #expect(result.status == 200)
            let body = try #require(result.json)
            #expect(body["token_type"] == .string("Bearer"))
            #expect(body["expires_in"] == .number("300"))
            #expect(body["refresh_expires_in"] == .number("0"))
            #expect(body["not-before-policy"] == .number("0"))
            #expect(body["scope"] == .string("profile email"))
            #expect((body["access_token"]?.stringValue?.count ?? 0) > 20)
            #expect(host.jaggaer.counters.count("keycloak POST token") == 1)
        }
    }

    @Test("Keycloak accepts HTTP Basic client authentication")
    func keycloakBasic() async throws {
        try await withSimulators(tenant: smallTenant) { host in
            let credentials = host.tenant.credentials
            let basic = Data("\(credentials.jaggaerClientId):\(credentials.jaggaerClientSecret)".utf8)
                .base64EncodedString()
            let result = try await HTTP.form(
                host.jaggaerTokenURL, [("grant_type", "client_credentials")],
                headers: ["Authorization": "Basic \(basic)"])
            #expect(result.status == 200)
            #expect(result.json?["access_token"]?.stringValue != nil)
        }
    }

    @Test("Keycloak rejects a wrong secret, an unknown client, a missing and an unsupported grant type")
    func keycloakErrors() async throws {
        try await withSimulators(tenant: smallTenant) { host in
            let id = host.tenant.credentials.jaggaerClientId
            let wrong = try await HTTP.form(
                host.jaggaerTokenURL,
                [("grant_type", "client_credentials"), ("client_id", id), ("client_secret", "nope")])
            #expect(wrong.status == 401)
            #expect(wrong.json?["error"] == .string("invalid_client"))
            #expect(wrong.json?["error_description"] == .string("Invalid client or Invalid client credentials"))
            let unknown = try await HTTP.form(
                host.jaggaerTokenURL,
                [("grant_type", "client_credentials"), ("client_id", "x"), ("client_secret", "y")])
            #expect(unknown.status == 401)
            let missing = try await HTTP.form(host.jaggaerTokenURL, [("client_id", id)])
            #expect(missing.status == 400)
            #expect(missing.json?["error"] == .string("invalid_request"))
            let password = try await HTTP.form(
                host.jaggaerTokenURL,
                [
                    ("grant_type", "password"), ("client_id", id),
                    ("client_secret", host.tenant.credentials.jaggaerClientSecret),
                ])
            #expect(password.status == 400)
            #expect(password.json?["error"] == .string("unsupported_grant_type"))
        }
    }

    @Test("JAGGAER tokens expire with the clock and unknown tokens are refused")
    func jaggaerExpiry() async throws {
        // Frozen: on a loaded machine a wall-clock second between the token and the check would expire it early.
        let clock = SimulatorClock(fixedAt: Date())
        try await withSimulators(tenant: smallTenant, options: .init(jaggaerTokenLifetime: 120, clock: clock)) { host in
            let token = try await host.jaggaerToken()
            let url = host.jaggaerBaseURL + "/j1p/api/public/ji/v1/invoices?maxRecords=1"
            #expect(try await HTTP.get(url, token: token).status == 200)
            #expect(try await HTTP.get(url, token: "sim.forged").status == 401)
            #expect(try await HTTP.get(url).status == 401)
            clock.advance(by: 119)
            #expect(try await HTTP.get(url, token: token).status == 200)
            clock.advance(by: 2)
            let expired = try await HTTP.get(url, token: token)
            #expect(expired.status == 401)
            #expect(expired.header("WWW-Authenticate")?.hasPrefix("Bearer") == true)
        }
    }

    @Test("credential rotation: the old secret stops working, the new one works, in-process and over HTTP")
    func rotation() async throws {
        try await withSimulators(tenant: smallTenant) { host in
            let credentials = host.tenant.credentials
            let oldToken = try await host.jaggaerToken()
            host.jaggaer.tokens.rotate(
                to: ClientCredentials(clientId: credentials.jaggaerClientId, clientSecret: "rotated-1"))
            let old = try await HTTP.form(
                host.jaggaerTokenURL,
                [
                    ("grant_type", "client_credentials"), ("client_id", credentials.jaggaerClientId),
                    ("client_secret", credentials.jaggaerClientSecret),
                ])
            #expect(old.status == 401)
            let new = try await HTTP.form(
                host.jaggaerTokenURL,
                [
                    ("grant_type", "client_credentials"), ("client_id", credentials.jaggaerClientId),
                    ("client_secret", "rotated-1"),
                ])
            #expect(new.status == 200)
            #expect(
                try await HTTP.get(host.jaggaerBaseURL + "/j1p/api/public/ji/v1/invoices", token: oldToken).status
                    == 200)

            let body = SimJSON.object(
                SimJSONObject(["clientId": .string(credentials.entraClientId), "clientSecret": .string("rotated-2")]))
            let rotate = try await HTTP.json(
                "POST", host.entraAuthorityURL + "/_sim/credentials", token: nil, body: body)
            #expect(rotate.status == 204)
            let oldEntra = try await HTTP.form(
                host.entraTokenURL,
                [
                    ("grant_type", "client_credentials"), ("client_id", credentials.entraClientId),
                    ("client_secret", credentials.entraClientSecret), ("scope", EntraSimulator.businessCentralScope),
                ])
            #expect(oldEntra.status == 401)
            #expect(oldEntra.json?["error_codes"] == .array([.number("7000215")]))
            let newEntra = try await HTTP.form(
                host.entraTokenURL,
                [
                    ("grant_type", "client_credentials"), ("client_id", credentials.entraClientId),
                    ("client_secret", "rotated-2"), ("scope", EntraSimulator.businessCentralScope),
                ])
            #expect(newEntra.status == 200)
            #expect(host.entra.counters.count("entra POST token") == 2)
        }
    }

    @Test("Entra issues tokens in its response shape and counts token requests")
    func entraSuccess() async throws {
        try await withSimulators(tenant: smallTenant, options: .init(entraTokenLifetime: 3599)) { host in
            let credentials = host.tenant.credentials
            let result = try await HTTP.form(
                host.entraTokenURL,
                [
                    ("grant_type", "client_credentials"), ("client_id", credentials.entraClientId),
                    ("client_secret", credentials.entraClientSecret), ("scope", EntraSimulator.businessCentralScope),
                ])
            #expect(result.status == 200)
            let body = try #require(result.json)
            #expect(body["token_type"] == .string("Bearer"))
            #expect(body["expires_in"] == .number("3599"))
            #expect(body["ext_expires_in"] == .number("3599"))
            #expect(body.objectValue?.count == 4)
            _ = try await host.entraToken()
            #expect(host.counters["entra POST token"] == 2)
            #expect(host.entra.tokens.issuedCount == 2)
        }
    }

    @Test("Entra errors: wrong secret 401, unknown tenant, bad scope, unknown client, wrong grant")
    func entraErrors() async throws {
        try await withSimulators(tenant: smallTenant) { host in
            let credentials = host.tenant.credentials
            func request(
                tenant: String? = nil, grant: String = "client_credentials", client: String? = nil,
                secret: String? = nil, scope: String = EntraSimulator.businessCentralScope
            ) async throws -> HTTPResult {
                try await HTTP.form(
                    "\(host.entraAuthorityURL)/\(tenant ?? credentials.entraTenantId)/oauth2/v2.0/token",
                    [
                        ("grant_type", grant), ("client_id", client ?? credentials.entraClientId),
                        ("client_secret", secret ?? credentials.entraClientSecret), ("scope", scope),
                    ])
            }
            let wrongSecret = try await request(secret: "wrong")
            #expect(wrongSecret.status == 401)
            #expect(wrongSecret.json?["error"] == .string("invalid_client"))
            #expect(
                wrongSecret.json?["error_description"]?.stringValue?.hasPrefix(
                    "AADSTS7000215: Invalid client secret provided.") == true)
            let tenant = try await request(tenant: "00000000-1111-2222-3333-444444444444")
            #expect(tenant.status == 400)
            #expect(tenant.json?["error"] == .string("invalid_request"))
            #expect(tenant.json?["error_codes"] == .array([.number("90002")]))
            let scope = try await request(scope: "https://graph.microsoft.com/.default")
            #expect(scope.status == 400)
            #expect(scope.json?["error"] == .string("invalid_scope"))
            let client = try await request(client: "11111111-2222-3333-4444-555555555555")
            #expect(client.status == 400)
            #expect(client.json?["error"] == .string("unauthorized_client"))
            let grant = try await request(grant: "password")
            #expect(grant.status == 400)
            #expect(grant.json?["error"] == .string("unsupported_grant_type"))
        }
    }

    @Test("Business Central accepts only unexpired tokens issued by the Entra simulator")
    func businessCentralTokens() async throws {
        let clock = SimulatorClock()
        try await withSimulators(tenant: smallTenant, options: .init(entraTokenLifetime: 600, clock: clock)) { host in
            let url = host.businessCentralAPIURL + "/companies"
            let missing = try await HTTP.get(url)
            #expect(missing.status == 401)
            #expect(missing.bcErrorCode == "Authentication_InvalidCredentials")
            let message = try #require(missing.bcErrorMessage)
            #expect(message.hasPrefix("The server has rejected the client credentials.  CorrelationId:  "))
            #expect(message.hasSuffix("."))
            let keycloakToken = try await host.jaggaerToken()
            #expect(try await HTTP.get(url, token: keycloakToken).status == 401)
            let token = try await host.entraToken()
            #expect(try await HTTP.get(url, token: token).status == 200)
            clock.advance(by: 601)
            #expect(try await HTTP.get(url, token: token).status == 401)
            let fresh = try await host.entraToken()
            #expect(try await HTTP.get(url, token: fresh).status == 200)
        }
    }
}
