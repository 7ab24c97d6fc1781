import ConnectorCore
import ConnectorHTTP
import ConnectorSecurity
import Foundation
import Hummingbird
import NIOCore
import Synchronization
import Testing

/// A loopback server with Service Layer–style sessions: `POST /Login` sets `B1SESSION` (without a `Path`, as the
/// Service Layer does) and `ROUTEID`; `GET /Items` and `POST /Items` need both; `POST /Logout` ends the session.
final class SessionServer: Sendable {
    let routes: SessionRoutes
    let server: LoopbackServer

    private init(routes: SessionRoutes, server: LoopbackServer) {
        self.routes = routes
        self.server = server
    }

    static func start(password: String = "pa55-word-x", loginDelay: Duration = .zero) async throws -> SessionServer {
        let routes = SessionRoutes(password: password, loginDelay: loginDelay)
        return SessionServer(routes: routes, server: try await LoopbackServer.start { routes.install($0) })
    }

    var password: String { routes.password }
    var base: String { "http://127.0.0.1:\(server.port)/b1s/v1" }

    func stop() async { await server.stop() }

    /// Ends every session, as the Service Layer does after its idle timeout.
    func expireAll() { routes.state.withLock { $0.sessions.removeAll() } }

    var counts: SessionRoutes.State { routes.state.withLock { $0 } }
}

final class SessionRoutes: Sendable {
    struct State {
        var sessions: Set<String> = []
        var logins = 0
        var logouts: [String] = []
        var served = 0
        var creates = 0
        var expectSeen = 0
        var refused = 0
    }

    let state = Mutex(State())
    let password: String
    let loginDelay: Duration

    init(password: String, loginDelay: Duration) {
        self.password = password
        self.loginDelay = loginDelay
    }

    private func cookies(_ request: Request) -> [String: String] {
        var result: [String: String] = [:]
        for field in request.headers[values: .cookie] {
            for pair in field.split(separator: ";") {
                let parts = pair.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
                if parts.count == 2 { result[parts[0]] = parts[1] }
            }
        }
        return result
    }

    private func valid(_ request: Request) -> String? {
        let cookies = cookies(request)
        guard let session = cookies["B1SESSION"], cookies["ROUTEID"] == ".node1" else { return nil }
        return state.withLock { $0.sessions.contains(session) } ? session : nil
    }

    private static let expired = Response(
        status: .unauthorized,
        body: .init(
            byteBuffer: ByteBuffer(
                string:
                    #"{"error":{"code":301,"message":{"lang":"en-us","value":"Invalid session or session already timeout."}}}"#
            )))

    func install(_ router: Router<BasicRequestContext>) {
        router.post("/b1s/v1/Login") { request, _ -> Response in
            if request.headers[.expect] != nil { self.state.withLock { $0.expectSeen += 1 } }
            let body = try await request.body.collect(upTo: 1 << 16)
            let object =
                try JSONSerialization.jsonObject(with: Data(body.readableBytesView)) as? [String: String] ?? [:]
            guard object["Password"] == self.password, object["CompanyDB"] == "SBODEMOUS" else {
                // Echoes what it was sent, as careless servers do.
                return Response(
                    status: .unauthorized,
                    body: .init(
                        byteBuffer: ByteBuffer(
                            string:
                                #"{"error":{"code":100000027,"message":{"lang":"en-us","value":"Login failed for "#
                                + (object["Password"] ?? "") + #""}}}"#)))
            }
            if self.loginDelay > .zero { try await Task.sleep(for: self.loginDelay) }
            let id = UUID().uuidString
            self.state.withLock {
                $0.sessions.insert(id)
                $0.logins += 1
            }
            var headers: HTTPFields = [.contentType: "application/json"]
            headers[values: .setCookie] = ["B1SESSION=\(id);HttpOnly;", "ROUTEID=.node1; path=/"]
            return Response(
                status: .ok, headers: headers,
                body: .init(
                    byteBuffer: ByteBuffer(
                        string: #"{"SessionId":"\#(id)","Version":"1000190","SessionTimeout":30}"#)))
        }
        router.get("/b1s/v1/Items") { request, _ -> Response in
            if request.headers[.expect] != nil { self.state.withLock { $0.expectSeen += 1 } }
            guard self.valid(request) != nil else { return Self.expired }
            self.state.withLock { $0.served += 1 }
            return Response(status: .ok, body: .init(byteBuffer: ByteBuffer(string: #"{"value":[]}"#)))
        }
        router.post("/b1s/v1/Items") { request, _ -> Response in
            guard self.valid(request) != nil else { return Self.expired }
            self.state.withLock { $0.creates += 1 }
            return Response(status: .created, body: .init(byteBuffer: ByteBuffer(string: #"{"DocEntry":1}"#)))
        }
        router.get("/b1s/v1/Refuse") { _, _ -> Response in
            self.state.withLock { $0.refused += 1 }
            return Self.expired
        }
        router.post("/b1s/v1/Logout") { request, _ -> Response in
            guard let session = self.valid(request) else { return Self.expired }
            self.state.withLock {
                $0.sessions.remove(session)
                $0.logouts.append(session)
            }
            return Response(status: .noContent)
        }
    }
}

@Suite("Cookie sessions: reuse, expiry, single sign-in, sign-out", .serialized, .timeLimit(.minutes(2)))
struct CookieSessionTests {
    let store = InMemoryStateStore()
    let keys = try! StateKeys(connection: "b1-test")
    let vault = Vault(masterKey: try! MasterKey(base64: MasterKey.generate()))
    let http = AsyncHTTPClientTransport()

    func provider(_ server: SessionServer, password: String? = nil, shared: Bool = true) -> CookieSessionProvider {
        let base = server.base
        let secret = Secret(password ?? server.password)
        return CookieSessionProvider(
            configuration: .init(
                name: "sap-business-one",
                signInRequest: {
                    let body = try JSONSerialization.data(withJSONObject: [
                        "CompanyDB": "SBODEMOUS", "UserName": "manager", "Password": secret.value,
                    ])
                    return ConnectorHTTP.HTTPRequest(
                        method: "POST", url: base + "/Login",
                        headers: [("Content-Type", "application/json"), ("Expect", "100-continue")], body: body,
                        idempotent: true)
                },
                signOutRequest: { ConnectorHTTP.HTTPRequest(method: "POST", url: base + "/Logout", idempotent: true) },
                isExpired: { $0.status == 401 }
            ),
            transport: http,
            cache: shared ? SessionCache(store: store, keys: keys, sealer: vault) : nil
        )
    }

    /// Runs `body` against a fresh server, then shuts the server and the HTTP client down whatever happened.
    func withServer(loginDelay: Duration = .zero, _ body: (SessionServer) async throws -> Void) async throws {
        let server = try await SessionServer.start(loginDelay: loginDelay)
        do {
            try await body(server)
        } catch {
            await http.shutdown()
            await server.stop()
            throw error
        }
        await http.shutdown()
        await server.stop()
    }

    func get(_ transport: SessionAuthTransport, _ server: SessionServer) async throws -> Int {
        try await transport.send(
            ConnectorHTTP.HTTPRequest(method: "GET", url: server.base + "/Items", headers: [("Expect", "100-continue")])
        ).status
    }

    @Test("one sign-in serves every request of a process and the next process; both cookies are sent")
    func reuse() async throws {
        try await withServer { server async throws in
            let first = provider(server)
            let transport = SessionAuthTransport(base: http, sessions: first)
            for _ in 0..<3 { #expect(try await get(transport, server) == 200) }
            // Another process of the connection: takes the sealed session from the store.
            let second = provider(server)
            #expect(try await get(SessionAuthTransport(base: http, sessions: second), server) == 200)
            #expect(server.counts.logins == 1)
            #expect(server.counts.served == 4)
            #expect(server.counts.expectSeen == 0, "Expect: 100-continue is never sent")
            let raw = try #require(try await store.get(keys.key("session", "sap-business-one")))
            let session = try await first.session()
            #expect(!String(decoding: raw.data, as: UTF8.self).contains(try #require(session.value("B1SESSION"))))
            #expect(session.value("ROUTEID") == ".node1")
            await first.close()
            await second.close()
        }
    }

    @Test("an expired session is replaced by one sign-in and the request, a create too, is replayed once")
    func expiry() async throws {
        try await withServer { server async throws in
            let sessions = provider(server)
            let transport = SessionAuthTransport(base: http, sessions: sessions)
            #expect(try await get(transport, server) == 200)
            server.expireAll()
            let created = try await transport.send(
                ConnectorHTTP.HTTPRequest(method: "POST", url: server.base + "/Items", body: Data("{}".utf8)))
            #expect(created.status == 201)
            #expect(server.counts.logins == 2)
            #expect(server.counts.creates == 1)
            #expect(await sessions.signInCount == 2)
            // The next process finds the new session, not the dead one.
            let other = provider(server)
            #expect(try await get(SessionAuthTransport(base: http, sessions: other), server) == 200)
            #expect(server.counts.logins == 2)
            await other.close()
            await sessions.close()
        }
    }

    @Test("a session that is refused again right after a new sign-in is not replayed a second time")
    func replayOnce() async throws {
        try await withServer { server async throws in
            let sessions = provider(server)
            let transport = SessionAuthTransport(base: http, sessions: sessions)
            let response = try await transport.send(
                ConnectorHTTP.HTTPRequest(method: "GET", url: server.base + "/Refuse"))
            #expect(response.status == 401, "the second refusal goes back to the caller")
            #expect(server.counts.refused == 2)
            #expect(server.counts.logins == 2)
            await sessions.close()
        }
    }

    @Test("parallel processes of a connection sign in once between them")
    func singleSignIn() async throws {
        try await withServer(loginDelay: .milliseconds(300)) { server async throws in
            let providers = (0..<6).map { _ in provider(server) }
            try await withThrowingTaskGroup(of: Int.self) { group in
                for sessions in providers {
                    for _ in 0..<3 {
                        group.addTask { try await get(SessionAuthTransport(base: http, sessions: sessions), server) }
                    }
                }
                for try await status in group { #expect(status == 200) }
            }
            #expect(server.counts.logins == 1)
            #expect(server.counts.served == 18)
            for sessions in providers { await sessions.close() }
        }
    }

    @Test("the last process to close signs out with the cookies and drops the shared session")
    func signOutOnClose() async throws {
        try await withServer { server async throws in
            let first = provider(server)
            let second = provider(server)
            #expect(try await get(SessionAuthTransport(base: http, sessions: first), server) == 200)
            #expect(try await get(SessionAuthTransport(base: http, sessions: second), server) == 200)
            await first.close()
            #expect(server.counts.logouts.isEmpty, "another process still uses the session")
            #expect(try await get(SessionAuthTransport(base: http, sessions: second), server) == 200)
            await second.close()
            #expect(server.counts.logouts.count == 1)
            #expect(server.counts.sessions.isEmpty, "no session left open on the server")
            #expect(try await store.get(keys.key("session", "sap-business-one")) == nil)
            // A process that never used the session does not sign anyone out.
            await provider(server).close()
            #expect(server.counts.logouts.count == 1)
        }
    }

    @Test("a refused sign-in names the system but never the password or a cookie")
    func secretsNeverInErrors() async throws {
        try await withServer { server async throws in
            let wrong = "wr0ng-Pa55word-zz"
            let transport = SessionAuthTransport(base: http, sessions: provider(server, password: wrong))
            do {
                _ = try await get(transport, server)
                Issue.record("a wrong password must fail")
            } catch let error as ConnectorError {
                #expect(error.code == .authRejected)
                #expect(!error.description.contains(wrong))
                #expect(error.description.contains("sap-business-one"))
            }
            // A cookie value echoed into an error text is masked too.
            let good = provider(server)
            let session = try await good.session()
            let cookie = try #require(session.value("B1SESSION"))
            #expect(!SecretRedactor.scrub("server said: \(cookie)").contains(cookie))
            await good.close()
        }
    }
}

@Suite("Set-Cookie parsing")
struct SetCookieParsingTests {
    @Test("Set-Cookie parsing keeps name and value, honours clearing, and tolerates a missing Path")
    func parsing() {
        let now = Date(timeIntervalSince1970: 1_790_000_000)
        #expect(CookieSession.parse(setCookie: "B1SESSION=abc-123;HttpOnly;", now: now)?.value == "abc-123")
        #expect(CookieSession.parse(setCookie: "ROUTEID=.node1; path=/", now: now)?.name == "ROUTEID")
        #expect(
            CookieSession.parse(setCookie: ".ASPXAUTH=; expires=Mon, 11-Oct-1999 00:00:00 GMT", now: now)?.cleared
                == true)
        #expect(CookieSession.parse(setCookie: "x=1; Max-Age=0", now: now)?.cleared == true)
        #expect(CookieSession.parse(setCookie: "novalue", now: now) == nil)
        var session = CookieSession(
            cookies: [.init(name: "a", value: "1"), .init(name: "b", value: "2")], createdAt: now)
        let changed = session.merge(
            setCookies: ConnectorHTTP.HTTPResponse(
                status: 200, headers: [("Set-Cookie", "a=9"), ("set-cookie", "b=; Max-Age=0")]),
            now: now)
        #expect(changed)
        #expect(session.header == "a=9")
    }
}
