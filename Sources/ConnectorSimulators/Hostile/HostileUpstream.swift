import Foundation
import Logging
import Synchronization

/// An attacker's upstream for leak tests: it plays an OAuth token endpoint (any path ending in `/token`), a
/// JAGGAER API (paths under `/j1p/`) and an OData API (everything else), and answers errors whose text is the
/// request it received (credential headers and the body first) in one chosen encoding. A client that copies
/// upstream error text into its results, logs or store without masking leaks its secrets through it.
///
/// Control: `POST /_sim/hostile {"encoding": "raw|percent|percentLower|formPlus|base64|json", "tokens":
/// "grant|refuse"}`. With `grant` the token endpoint issues a token (so the API's echo carries it in the
/// `Authorization` header); with `refuse` it answers 401 echoing the form body with the client secret.
package final class HostileUpstream: Sendable {
    package enum Encoding: String, Sendable, CaseIterable {
        case raw, percent, percentLower, formPlus, base64, json
    }

    package enum TokenMode: String, Sendable {
        case grant, refuse
    }

    package let counters = RequestCounters()
    package let faults = FaultInjector()
    package let clock = SimulatorClock()
    private let mode = Mutex<(encoding: Encoding, tokens: TokenMode)>((.raw, .refuse))
    private let server = Mutex<RunningServer?>(nil)

    package init() {}

    package var baseURL: String { server.withLock { $0?.baseURL ?? "" } }

    package static func start(logger: Logger = SimulatorHost.quietLogger) async throws -> HostileUpstream {
        let upstream = HostileUpstream()
        let running = try await RunningServer.start(app: upstream, host: "127.0.0.1", port: 0, logger: logger)
        upstream.server.withLock { $0 = running }
        return upstream
    }

    package func shutdown() async {
        let running = server.withLock { server in
            defer { server = nil }
            return server
        }
        await running?.stop()
    }

    package func set(encoding: Encoding, tokens: TokenMode) {
        mode.withLock { $0 = (encoding, tokens) }
    }

    /// The request as text, credentials first (so they land inside any excerpt a client keeps).
    static func render(_ request: SimRequest) -> String {
        let credentialNames: Set<String> = ["authorization", "cookie", "proxy-authorization", "x-api-key"]
        var lines: [String] = []
        for header in request.headers where credentialNames.contains(header.name.lowercased()) {
            lines.append("\(header.name): \(header.value)")
        }
        lines.append(String(decoding: request.body, as: UTF8.self))
        lines.append("\(request.method) \(request.rawPath)")
        for header in request.headers where !credentialNames.contains(header.name.lowercased()) {
            lines.append("\(header.name): \(header.value)")
        }
        return lines.joined(separator: "\n")
    }

    package static func encode(_ text: String, _ encoding: Encoding) -> String {
        let unreserved = CharacterSet(
            charactersIn: "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
        switch encoding {
        case .raw:
            return text
        case .percent:
            return text.addingPercentEncoding(withAllowedCharacters: unreserved) ?? text
        case .percentLower:
            let upper = text.addingPercentEncoding(withAllowedCharacters: unreserved) ?? text
            var output = ""
            var hexLeft = 0
            for character in upper {
                if character == "%" {
                    hexLeft = 2
                    output.append(character)
                } else if hexLeft > 0 {
                    hexLeft -= 1
                    output += character.lowercased()
                } else {
                    output.append(character)
                }
            }
            return output
        case .formPlus:
            return (text.addingPercentEncoding(withAllowedCharacters: unreserved) ?? text)
                .replacingOccurrences(of: "%20", with: "+")
        case .base64:
            // Header values in base64 (as a server that logs them so would echo them); the rest as sent.
            return text.split(separator: "\n", omittingEmptySubsequences: false)
                .map { line -> String in
                    guard let colon = line.range(of: ": ") else { return String(line) }
                    let value = line[colon.upperBound...]
                    let credential = value.split(separator: " ", maxSplits: 1).last.map(String.init) ?? String(value)
                    return
                        "\(line[..<colon.lowerBound]): \(Data(value.utf8).base64EncodedString()) (credential \(Data(credential.utf8).base64EncodedString()))"
                }
                .joined(separator: "\n")
        case .json:
            let data = (try? JSONEncoder().encode([text])) ?? Data()
            return String(String(decoding: data, as: UTF8.self).dropFirst(2).dropLast(2))
        }
    }
}

extension HostileUpstream: SimulatorApp {
    var name: String { "hostile" }

    func route(_ request: SimRequest) -> RouteMatch? {
        if request.path.hasSuffix("/token") { return RouteMatch(system: "hostile", endpoint: "token") }
        if request.path.hasPrefix("/j1p/") { return RouteMatch(system: "hostile", endpoint: "jaggaer") }
        return RouteMatch(system: "hostile", endpoint: "odata")
    }

    func handle(_ request: SimRequest, route: RouteMatch) async -> SimResponse {
        let (encoding, tokens) = mode.withLock { $0 }
        let echo = Self.encode(Self.render(request), encoding)
        switch route.endpoint {
        case "token":
            if tokens == .grant {
                let token = "hostile.\(UUID().uuidString.lowercased()).\(UUID().uuidString.lowercased())"
                return .json(
                    200,
                    .object(
                        SimJSONObject([
                            "access_token": .string(token), "token_type": .string("Bearer"),
                            "expires_in": .int(3600),
                        ])))
            }
            return .json(
                401,
                .object(
                    SimJSONObject([
                        "error": .string("invalid_client"), "error_description": .string("you sent: \(echo)"),
                    ])))
        case "jaggaer":
            return .json(
                400,
                .object(
                    SimJSONObject([
                        "returnCode": .int(400), "returnMessage": .string("you sent: \(echo)"),
                        "error": .string("bad_request"),
                    ])))
        default:
            return .json(
                400,
                .object(
                    SimJSONObject([
                        "error": .object(
                            SimJSONObject([
                                "code": .string("BadRequest"), "message": .string("you sent: \(echo)"),
                            ]))
                    ])))
        }
    }

    func faultResponse(route: RouteMatch, status: Int, retryAfter: Int?, code: String?) -> SimResponse {
        .json(status, .object(SimJSONObject(["error": .string(code ?? "fault")])))
    }

    func notFound(_ request: SimRequest) -> SimResponse {
        .json(404, .object(SimJSONObject(["error": .string("not found")])))
    }

    func expireTokens() {}

    func rotateCredentials(_ credentials: ClientCredentials) {}

    func control(_ request: SimRequest) async -> SimResponse? {
        guard request.method == "POST", request.path == "/_sim/hostile" else { return nil }
        guard let body = try? request.jsonBody(),
            let encoding = body["encoding"]?.stringValue.flatMap(Encoding.init(rawValue:)),
            let tokens = body["tokens"]?.stringValue.flatMap(TokenMode.init(rawValue:))
        else {
            return controlError(
                "expected {\"encoding\": \"raw|percent|percentLower|formPlus|base64|json\", \"tokens\": \"grant|refuse\"}"
            )
        }
        set(encoding: encoding, tokens: tokens)
        return .empty(204)
    }
}
