import ConnectorCore
import ConnectorHTTP
import ConnectorRunner
import ConnectorTesting
import Foundation
import Testing

/// `mlc-http-adapter --fission` as a black box on loopback, driven the way Fission's fetcher and router drive an
/// environment container: specialize once with the function's code, then requests with the body on stdin.
@Suite("mlc-http-adapter --fission as a black box", .timeLimit(.minutes(2)))
struct FissionEnvironmentTests {
    /// A running environment container: its base URL and its log.
    final class Environment: Sendable {
        let url: String
        let pid: pid_t
        let log: String

        init(directory: String, name: String, extra: [String: String] = [:]) async throws {
            log = directory + "/\(name).log"
            (pid, url) = try await HTTPAdapterTests.launch(
                ["--fission", "--timeout", "10"], environment: extra, directory: directory, name: name)
        }

        func stop() -> Int32 {
            kill(pid, SIGTERM)
            var status: Int32 = 0
            _ = waitpid(pid, &status, 0)
            return status
        }
    }

    static func send(
        _ transport: AsyncHTTPClientTransport, _ method: String, _ url: String,
        headers: [(name: String, value: String)] = [], body: String
    ) async throws -> HTTPResponse {
        try await transport.send(HTTPRequest(method: method, url: url, headers: headers, body: Data(body.utf8)))
    }

    static func text(_ response: HTTPResponse) -> String { String(decoding: response.body, as: UTF8.self) }

    /// The function's code as Fission's fetcher leaves it: a deploy archive folder holding a script.
    static func archive(_ directory: String, _ script: String) throws -> String {
        let folder = directory + "/deployarchive"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        try script.write(toFile: folder + "/function.sh", atomically: true, encoding: .utf8)
        return folder
    }

    @Test("specialized once with a script: each request runs it with the body on stdin and CGI variables; no httpoxy")
    func specializeAndInvoke() async throws {
        let directory = try TemporaryDirectory()
        let folder = try Self.archive(
            directory.path,
            """
            input=$(cat)
            case "$input" in
              *refuse*) printf '{"status":"failed","events":[],"error":{"code":"event.invalid","message":"no invoice","retryable":false},"metrics":{"httpRequests":0,"durationMs":1}}'; exit 65;;
              *crash*) kill -9 $$;;
              *later*) printf '{"status":"retry","events":[],"error":{"code":"http.timeout","message":"slow","retryable":true},"metrics":{"httpRequests":1,"durationMs":1}}'; exit 75;;
            esac
            printf '{"method":"%s","uri":"%s","length":"%s","test":"%s","proxy":"%s","state":"%s","path":"%s","input":%s}' \
              "$REQUEST_METHOD" "$REQUEST_URI" "$CONTENT_LENGTH" "$HTTP_X_TEST" "${HTTP_PROXY:-none}" "$MLC_STATE" "$PATH" "$input"
            """)
        let environment = try await Environment(
            directory: directory.path, name: "fission", extra: ["MLC_STATE": "sqlite:/nowhere.sqlite"])
        let transport = AsyncHTTPClientTransport()
        // The router sends nothing before the pod is specialized; if something does, it may retry.
        let early = try await Self.send(transport, "POST", environment.url + "/", body: "{}")
        #expect(early.status == 503 && HTTPAdapterTests.errorCode(early) == "fission.not_specialized")
        #expect(try await Self.send(transport, "GET", environment.url + "/healthz", body: "").status == 200)
        let missing = try await Self.send(
            transport, "POST", environment.url + "/v2/specialize",
            body: #"{"filepath":"\#(folder)","functionName":"nothing.sh"}"#)
        #expect(missing.status == 400 && HTTPAdapterTests.errorCode(missing) == "fission.no_code")
        let garbage = try await Self.send(transport, "POST", environment.url + "/v2/specialize", body: "[1,")
        #expect(garbage.status == 400 && HTTPAdapterTests.errorCode(garbage) == "fission.load_request")
        let loaded = try await Self.send(
            transport, "POST", environment.url + "/v2/specialize",
            body: #"{"filepath":"\#(folder)","functionName":"function.sh"}"#)
        #expect(loaded.status == 200, "\(Self.text(loaded))")
        let again = try await Self.send(
            transport, "POST", environment.url + "/v2/specialize",
            body: #"{"filepath":"\#(folder)/function.sh"}"#)
        #expect(again.status == 400 && HTTPAdapterTests.errorCode(again) == "fission.specialized")

        let answer = try await Self.send(
            transport, "PUT", environment.url + "/ml/step?x=1",
            headers: [("X-Test", "hello"), ("Proxy", "http://evil.example:3128")], body: #"{"n":1}"#)
        #expect(answer.status == 200, "\(Self.text(answer))")
        let document = try JSONCoding.decode(JSONValue.self, from: answer.body)
        #expect(document["method"]?.stringValue == "PUT")
        #expect(document["uri"]?.stringValue == "/ml/step?x=1")
        #expect(document["length"]?.stringValue == "7")
        #expect(document["test"]?.stringValue == "hello")
        #expect(document["proxy"]?.stringValue == "none")
        #expect(document["state"]?.stringValue == "sqlite:/nowhere.sqlite")
        #expect(document["path"]?.stringValue == "/usr/bin:/bin:/userfunc/deployarchive:/userfunc")
        #expect(document["input"]?["n"] == .number(1))

        // The step's exits, in the statuses the Knative adapter answers (not the `binary` environment's bare 500).
        let refused = try await Self.send(transport, "POST", environment.url + "/", body: #"{"refuse":1}"#)
        #expect(refused.status == 400 && HTTPAdapterTests.errorCode(refused) == "event.invalid")
        let later = try await Self.send(transport, "POST", environment.url + "/", body: #"{"later":1}"#)
        #expect(later.status == 503 && HTTPAdapterTests.errorCode(later) == "http.timeout")
        let crashed = try await Self.send(transport, "POST", environment.url + "/", body: #"{"crash":1}"#)
        #expect(crashed.status == 500 && HTTPAdapterTests.errorCode(crashed) == "step.crashed")
        // A body past 8 MiB never reaches the code.
        let huge = try await Self.send(
            transport, "POST", environment.url + "/", body: String(repeating: "x", count: 8 * 1024 * 1024 + 1))
        #expect(huge.status == 413 && HTTPAdapterTests.errorCode(huge) == "event.too_large")
        await transport.shutdown()
        let status = environment.stop()
        #expect(status & 0x7F == 0 && (status >> 8) & 0xFF == 0, "the environment exits 0 on SIGTERM")
    }

    @Test("v1 specialization reads /userfunc/user; a second environment refuses a missing one with 400")
    func specializeWithoutCode() async throws {
        let directory = try TemporaryDirectory()
        let environment = try await Environment(directory: directory.path, name: "v1")
        let transport = AsyncHTTPClientTransport()
        let answer = try await Self.send(transport, "POST", environment.url + "/specialize", body: "")
        if FileManager.default.fileExists(atPath: "/userfunc/user") {
            #expect(answer.status == 200)
        } else {
            #expect(answer.status == 400 && HTTPAdapterTests.errorCode(answer) == "fission.no_code")
        }
        let wrongMethod = try await Self.send(transport, "GET", environment.url + "/v2/specialize", body: "")
        #expect(wrongMethod.status == 405)
        await transport.shutdown()
        _ = environment.stop()
    }

    @Test("specialized with `exec <step>`: a real step's refusals and configuration errors, state untouched")
    func realStep() async throws {
        let (directory, path, key) = try await ExecutableTests.prepared()
        let before = try await snapshot(path)
        let step = Binaries.directory.appendingPathComponent("poll-jaggaer-invoices").path
        let folder = try Self.archive(directory.path, "exec \(step)\n")
        let environment = try await Environment(
            directory: directory.path, name: "real", extra: ["MLC_STATE": "sqlite:" + path, "MLC_MASTER_KEY": key])
        let transport = AsyncHTTPClientTransport()
        let loaded = try await Self.send(
            transport, "POST", environment.url + "/v2/specialize",
            body: #"{"filepath":"\#(folder)","functionName":"function.sh"}"#)
        #expect(loaded.status == 200, "\(Self.text(loaded))")
        // The body is the event as a step reads it on stdin (the OpenFaaS and Fission way: no CloudEvents binding).
        let unknown = try await Self.send(
            transport, "POST", environment.url + "/",
            body:
                #"{"specversion":"1.0","id":"f-1","source":"urn:test","type":"\#(EventType.pollRequested)","connection":"nobody","attempt":1,"data":{}}"#
        )
        #expect(unknown.status == 422, "\(Self.text(unknown))")
        #expect(HTTPAdapterTests.errorCode(unknown) == "connection.unknown")
        let refused = try await Self.send(transport, "POST", environment.url + "/", body: #"{"not":"an event"}"#)
        #expect(refused.status == 400, "\(Self.text(refused))")
        #expect(try await snapshot(path) == before)
        let log = try String(contentsOfFile: environment.log, encoding: .utf8)
        #expect(log.contains(#""msg":"specialized""#) && log.contains(#""function":"function.sh""#))
        #expect(!log.contains(key), "the master key never reaches the log")
        await transport.shutdown()
        _ = environment.stop()
    }
}
