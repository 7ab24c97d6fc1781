import ConnectorCore
import ConnectorHTTP
import Foundation
import Hummingbird
import NIOCore
import Synchronization
import Testing

/// A loopback server with a fixed set of routes, for transport behaviour the simulators do not model.
final class LoopbackServer: Sendable {
    let port: Int
    private let task: Task<Void, any Error>

    private init(port: Int, task: Task<Void, any Error>) {
        self.port = port
        self.task = task
    }

    static func start(_ configure: @escaping @Sendable (Router<BasicRequestContext>) -> Void) async throws
        -> LoopbackServer
    {
        let router = Router()
        configure(router)
        let (ports, continuation) = AsyncStream<Int>.makeStream()
        let app = Application(
            router: router,
            configuration: .init(address: .hostname("127.0.0.1", port: 0)),
            onServerRunning: { channel in continuation.yield(channel.localAddress?.port ?? 0) }
        )
        let task = Task { try await app.runService() }
        var port = 0
        for await value in ports {
            port = value
            break
        }
        return LoopbackServer(port: port, task: task)
    }

    func stop() async {
        task.cancel()
        _ = try? await task.value
    }
}

@Suite("Transport: redirects and stalled bodies", .serialized, .timeLimit(.minutes(2)))
struct RedirectTests {
    @Test(
        "a redirect to another host is never followed, so the bearer token never leaves the API's host",
        arguments: HTTPClients.choices)
    func noRedirects(client: String) async throws {
        let stolen = Mutex<Int>(0)
        let thief = try await LoopbackServer.start { router in
            router.get("/steal") { request, _ -> String in
                if request.headers[.authorization] != nil { stolen.withLock { $0 += 1 } }
                return "gotcha"
            }
        }
        let thiefPort = thief.port
        let api = try await LoopbackServer.start { router in
            router.get("/api") { _, _ -> Response in
                Response(status: .found, headers: [.location: "http://127.0.0.1:\(thiefPort)/steal"])
            }
        }
        let transport = try HTTPClients.make(NetworkSettings(), environment: ["MLC_HTTP_CLIENT": client])
        let response = try await transport.send(
            ConnectorHTTP.HTTPRequest(
                method: "GET", url: "http://127.0.0.1:\(api.port)/api",
                headers: [("Authorization", "Bearer secret-token-value")])
        )
        #expect(response.status == 302, "the redirect comes back as it is")
        #expect(stolen.withLock { $0 } == 0)
        await transport.shutdown()
        await api.stop()
        await thief.stop()
    }

    @Test("a body that never finishes ends at the request deadline", arguments: HTTPClients.choices)
    func stalledBody(client: String) async throws {
        let server = try await LoopbackServer.start { router in
            router.get("/slow") { _, _ -> Response in
                let body = ResponseBody { writer in
                    try await writer.write(ByteBuffer(string: "{\"partial\":"))
                    try await Task.sleep(for: .seconds(30))
                    try await writer.finish(nil)
                }
                return Response(status: .ok, headers: [.contentType: "application/json"], body: body)
            }
        }
        let transport = try HTTPClients.make(NetworkSettings(), environment: ["MLC_HTTP_CLIENT": client])
        let started = ContinuousClock.now
        await #expect(throws: TransportError.self) {
            _ = try await transport.send(
                ConnectorHTTP.HTTPRequest(
                    method: "GET", url: "http://127.0.0.1:\(server.port)/slow", timeout: .seconds(1)))
        }
        #expect(ContinuousClock.now - started < .seconds(10))
        await transport.shutdown()
        await server.stop()
    }
}
