import ConnectorCore
import ConnectorHTTP
import ConnectorSecurity
import ConnectorTesting
import Foundation
import Hummingbird
import NIOCore
import Synchronization
import Testing

/// An identity server's token endpoint on loopback: password and refresh token grants, rotating refresh tokens,
/// and a switch that makes it refuse every refresh token (as after their 30 days).
final class PasswordGrantServer: Sendable {
    struct State {
        var grants: [String] = []
        var issued = 0
        var liveRefreshTokens: Set<String> = []
        var refuseRefresh = false
        var rotate = true
        var forms: [[String: String]] = []
    }

    let state = Mutex(State())
    let server: LoopbackServer
    static let clientId = "88358B02-A48D-A50E-F710-39C1636C30F6@Tenant"
    static let clientSecret = "client-secret-8F3kq"
    static let username = "integration"
    static let password = "pass-w0rd-Zq91"

    var tokenURL: String { "http://127.0.0.1:\(server.port)/identity/connect/token" }

    private init(server: LoopbackServer) { self.server = server }

    static func start() async throws -> PasswordGrantServer {
        let box = Mutex<PasswordGrantServer?>(nil)
        let server = try await LoopbackServer.start { router in
            router.post("/identity/connect/token") { request, _ -> Response in
                let body = try await request.body.collect(upTo: 64 * 1024)
                let form = Self.parse(String(buffer: body))
                guard let owner = box.withLock({ $0 }) else { return Self.json(.internalServerError, [:]) }
                return owner.answer(form)
            }
        }
        let owner = PasswordGrantServer(server: server)
        box.withLock { $0 = owner }
        return owner
    }

    func stop() async { await server.stop() }

    var grants: [String] { state.withLock { $0.grants } }

    func answer(_ form: [String: String]) -> Response {
        state.withLock { state in
            state.forms.append(form)
            guard form["client_id"] == Self.clientId, form["client_secret"] == Self.clientSecret else {
                return Self.json(.unauthorized, ["error": "invalid_client"])
            }
            let grant = form["grant_type"] ?? ""
            state.grants.append(grant)
            switch grant {
            case "password":
                guard form["username"] == Self.username, form["password"] == Self.password else {
                    // Some servers echo what they were sent; the redactor must mask it.
                    return Self.json(
                        .badRequest,
                        ["error": "invalid_grant", "error_description": "bad password \(form["password"] ?? "")"])
                }
            case "refresh_token":
                guard !state.refuseRefresh, let token = form["refresh_token"], state.liveRefreshTokens.contains(token)
                else { return Self.json(.badRequest, ["error": "invalid_grant"]) }
                if state.rotate { state.liveRefreshTokens.remove(token) }
            default:
                return Self.json(.badRequest, ["error": "unsupported_grant_type"])
            }
            state.issued += 1
            var answer = ["access_token": "access-\(state.issued)", "token_type": "Bearer", "expires_in": "3600"]
            if grant == "password" || state.rotate {
                let refresh = "refresh-\(state.issued)"
                state.liveRefreshTokens.insert(refresh)
                answer["refresh_token"] = refresh
            }
            return Self.json(.ok, answer)
        }
    }

    static func parse(_ body: String) -> [String: String] {
        var form: [String: String] = [:]
        for pair in body.split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1).map {
                String($0).replacingOccurrences(of: "+", with: " ").removingPercentEncoding ?? String($0)
            }
            if parts.count == 2 { form[parts[0]] = parts[1] }
        }
        return form
    }

    static func json(_ status: HTTPResponse.Status, _ object: [String: String]) -> Response {
        var fields = object.mapValues { $0 as Any }
        if let expires = object["expires_in"], let seconds = Int(expires) { fields["expires_in"] = seconds }
        let data = (try? JSONSerialization.data(withJSONObject: fields)) ?? Data()
        return Response(
            status: status, headers: [.contentType: "application/json"],
            body: ResponseBody(byteBuffer: ByteBuffer(bytes: data)))
    }
}

@Suite("OAuth2 password grant with refresh token", .serialized, .timeLimit(.minutes(2)))
struct PasswordGrantTests {
    let store = InMemoryStateStore()
    let keys = try! StateKeys(connection: "acu-test")
    let vault = Vault(masterKey: try! MasterKey(base64: MasterKey.generate()))

    let transport = AsyncHTTPClientTransport()

    func provider(
        _ server: PasswordGrantServer, clock: any WallClock, cached: Bool = true, password: String? = nil
    ) -> OAuth2PasswordGrantProvider {
        OAuth2PasswordGrantProvider(
            configuration: .init(
                name: "acumatica", tokenURL: server.tokenURL, clientId: PasswordGrantServer.clientId,
                clientSecret: Secret(PasswordGrantServer.clientSecret), username: PasswordGrantServer.username,
                password: Secret(password ?? PasswordGrantServer.password), scope: "api offline_access"),
            transport: transport,
            cache: cached ? TokenCache(store: store, keys: keys, sealer: vault) : nil, clock: clock)
    }

    @Test("the password goes once; later tokens come from the refresh token, before and after expiry")
    func refreshInsteadOfPassword() async throws {
        let server = try await PasswordGrantServer.start()
        let clock = ManualClock()
        let tokens = provider(server, clock: clock)
        let first = try await tokens.token()
        #expect(first.value == "access-1")
        #expect(try await tokens.token().value == "access-1", "a fresh token is reused")
        #expect(server.grants == ["password"])
        let form = try #require(server.state.withLock { $0.forms.first })
        #expect(form["scope"] == "api offline_access")
        #expect(form["username"] == PasswordGrantServer.username)

        clock.advance(by: 3600 - 60)  // inside the refresh-ahead window
        #expect(try await tokens.token().value == "access-2")
        #expect(server.grants == ["password", "refresh_token"])
        #expect(server.state.withLock { $0.forms.last?["refresh_token"] } == "refresh-1")

        clock.advance(by: 7200)  // well past expiry: the refresh token still renews it
        #expect(try await tokens.token().value == "access-3")
        #expect(server.grants == ["password", "refresh_token", "refresh_token"])
        #expect(server.state.withLock { $0.forms.last?["refresh_token"] } == "refresh-2", "the rotated one is used")

        // A 401 drops the access token; the next one again comes from the refresh token, not the password.
        await tokens.invalidate(try await tokens.token())
        #expect(try await tokens.token().value == "access-4")
        #expect(server.grants.filter { $0 == "password" }.count == 1)
        await server.stop()
        await transport.shutdown()
    }

    @Test("another process uses the shared tokens and the rotated refresh token, never the password")
    func sharedAcrossProcesses() async throws {
        let server = try await PasswordGrantServer.start()
        let clock = ManualClock()
        let one = provider(server, clock: clock)
        let two = provider(server, clock: clock)
        #expect(try await one.token().value == "access-1")
        #expect(try await two.token().value == "access-1", "the second process reads the shared cache")
        clock.advance(by: 4000)
        #expect(try await two.token().value == "access-2")
        #expect(try await one.token().value == "access-2")
        clock.advance(by: 4000)
        // `one` renews with refresh-2, which `two` rotated in: refresh-1 would be refused.
        #expect(try await one.token().value == "access-3")
        #expect(server.grants == ["password", "refresh_token", "refresh_token"])
        // Sealed at rest: neither token appears in the store's bytes.
        for key in [
            TokenCache(store: store, keys: keys, sealer: vault).key("acumatica"),
            keys.key("token", "acumatica-refresh"),
        ] {
            let raw = try #require(try await store.get(key))
            let text = String(decoding: raw.data, as: UTF8.self)
            #expect(!text.contains("access-") && !text.contains("refresh-"))
        }
        await server.stop()
        await transport.shutdown()
    }

    @Test("concurrent callers share one sign-in")
    func singleFlight() async throws {
        let server = try await PasswordGrantServer.start()
        let clock = ManualClock()
        let tokens = provider(server, clock: clock)
        let values = try await withThrowingTaskGroup(of: String.self) { group in
            for _ in 0..<8 { group.addTask { try await tokens.token().value } }
            return try await group.reduce(into: Set<String>()) { $0.insert($1) }
        }
        #expect(values == ["access-1"])
        #expect(server.grants == ["password"])
        await server.stop()
        await transport.shutdown()
    }

    @Test("a refused refresh token falls back to one new password grant")
    func refusedRefreshFallsBack() async throws {
        let server = try await PasswordGrantServer.start()
        let clock = ManualClock()
        let tokens = provider(server, clock: clock)
        _ = try await tokens.token()
        server.state.withLock { $0.refuseRefresh = true }
        clock.advance(by: 4000)
        #expect(try await tokens.token().value == "access-2")
        #expect(server.grants == ["password", "refresh_token", "password"])
        server.state.withLock { $0.refuseRefresh = false }
        clock.advance(by: 4000)
        #expect(try await tokens.token().value == "access-3")
        #expect(server.grants.last == "refresh_token", "the new refresh token is used again")
        await server.stop()
        await transport.shutdown()
    }

    @Test("without a store the refresh token is kept in memory")
    func withoutCache() async throws {
        let server = try await PasswordGrantServer.start()
        let clock = ManualClock()
        let tokens = provider(server, clock: clock, cached: false)
        _ = try await tokens.token()
        clock.advance(by: 4000)
        _ = try await tokens.token()
        #expect(server.grants == ["password", "refresh_token"])
        await server.stop()
        await transport.shutdown()
    }

    @Test("a wrong password is a configuration error, and no credential reaches the message")
    func wrongPassword() async throws {
        let server = try await PasswordGrantServer.start()
        let wrong = "Wr0ng-pass-\(UUID().uuidString.prefix(6))"
        let tokens = provider(server, clock: ManualClock(), password: wrong)
        do {
            _ = try await tokens.token()
            Issue.record("a refused password gave a token")
        } catch let error as ConnectorError {
            #expect(error.code == .authRejected)
            #expect(error.kind == .configuration)
            #expect(error.message.contains("user name or password"))
            #expect(!error.message.contains(wrong), "the echoed password is masked: \(error.message)")
        }
        #expect(
            SecretRedactor.scrub("x \(PasswordGrantServer.clientSecret) y").contains(PasswordGrantServer.clientSecret)
                == false)
        await server.stop()
        await transport.shutdown()
    }
}
