import ConnectorCore
import ConnectorHTTP
import ConnectorRunner
import ConnectorRuntime
import ConnectorTesting
import Foundation
import KnativeAdapter
import Testing

/// `mlc-http-adapter` as a black box on loopback, in front of a stand-in step (a shell script that keeps the event
/// it was given on stdin and answers what its event type asks for), with a second adapter as the K_SINK.
@Suite("mlc-http-adapter as a black box", .timeLimit(.minutes(2)))
struct HTTPAdapterTests {
    static func event(_ id: String, _ type: String) -> String {
        #"{"specversion":"1.0","id":"\#(id)","source":"urn:test","type":"\#(type)","attempt":1}"#
    }
    /// The stand-in step: `test.two` emits two events, `test.none` none, `test.temporary` fails with 75 and a
    /// retryAt, `test.refused` with 65, `test.crash` is killed; anything else emits one.
    static let script = """
        #!/bin/sh
        input=$(cat)
        printf '%s' "$input" > "$CAPTURE/$(date +%s%N).json"
        emitted() { printf '{"specversion":"1.0","id":"%s","source":"urn:step","type":"com.mlconnector.test.%s","connection":"acme","recordid":"rec 1%%","attempt":1,"datacontenttype":"application/json","data":{"n":%s}}' "$1" "$2" "$3"; }
        case "$input" in
          *'"type":"test.two"'*) printf '{"status":"ok","events":[%s,%s],"metrics":{"httpRequests":0,"durationMs":1}}' "$(emitted e1 first 1)" "$(emitted e2 second 2)";;
          *'"type":"test.none"'*) printf '{"status":"duplicate","events":[],"metrics":{"httpRequests":0,"durationMs":1}}';;
          *'"type":"test.temporary"'*) printf '{"status":"retry","events":[],"retryAt":"2099-01-01T00:00:00.000Z","error":{"code":"http.timeout","message":"slow upstream","retryable":true},"metrics":{"httpRequests":1,"durationMs":1}}'; exit 75;;
          *'"type":"test.refused"'*) printf '{"status":"failed","events":[],"error":{"code":"event.invalid","message":"no invoice in the event","retryable":false},"metrics":{"httpRequests":0,"durationMs":1}}'; exit 65;;
          *'"type":"test.crash"'*) kill -9 $$;;
          *) printf '{"status":"ok","events":[%s],"metrics":{"httpRequests":2,"durationMs":1,"requests":{"jaggaer 127.0.0.1 200":2},"rateLimitWaitMs":250}}' "$(emitted e0 only 0)";;
        esac
        """

    /// A running adapter: its URL and the folder where its step keeps the events it got.
    final class Adapter: Sendable {
        let url: String
        let pid: pid_t
        let captures: String

        /// An adapter in front of the stand-in step, or in front of the real step executable `realStep`, with
        /// `extra` in its environment (which the step inherits: the store URL and the key, as on Knative).
        init(
            directory: String, name: String, sink: String?, metrics: String? = nil, realStep: String? = nil,
            extra: [String: String] = [:]
        ) async throws {
            captures = directory + "/\(name)-captures"
            try FileManager.default.createDirectory(atPath: captures, withIntermediateDirectories: true)
            var step = directory + "/\(name)-step.sh"
            if let realStep {
                step = Binaries.directory.appendingPathComponent(realStep).path
            } else {
                try HTTPAdapterTests.script.write(toFile: step, atomically: true, encoding: .utf8)
                chmod(step, 0o755)
            }
            var environment = ["CAPTURE": captures]
            environment.merge(extra) { $1 }
            if let sink { environment["K_SINK"] = sink }
            (pid, url) = try await HTTPAdapterTests.launch(
                ["--step", step, "--timeout", "10"] + (metrics.map { ["--metrics", $0] } ?? []),
                environment: environment, directory: directory, name: name)
        }

        func stop() -> Int32 {
            kill(pid, SIGTERM)
            var status: Int32 = 0
            _ = waitpid(pid, &status, 0)
            return status
        }

        /// The events the step was given, oldest first.
        func received() throws -> [CloudEvent] {
            try FileManager.default.contentsOfDirectory(atPath: captures).sorted().map {
                try JSONCoding.decode(
                    CloudEvent.self, from: Data(contentsOf: URL(fileURLWithPath: captures + "/" + $0)))
            }
        }
    }

    /// Starts `mlc-http-adapter` with `arguments` on a free loopback port (PATH, log level and `environment` as its
    /// environment; its log in `directory/name.log`) and waits until it listens: its pid and base URL.
    static func launch(_ arguments: [String], environment: [String: String], directory: String, name: String)
        async throws -> (pid: pid_t, url: String)
    {
        let log = directory + "/\(name).log"
        var variables = ["PATH": "/usr/bin:/bin", "MLC_LOG_LEVEL": "info"]
        variables.merge(environment) { $1 }
        let pid = try ChildProcess.spawn(
            Binaries.directory.appendingPathComponent("mlc-http-adapter").path,
            arguments: arguments + ["--host", "127.0.0.1", "--port", "0"],
            environment: variables.map { "\($0.key)=\($0.value)" }, stdin: "/dev/null",
            stdout: directory + "/\(name).out", stderr: .append(log))
        var found: String?
        for _ in 0..<400 where found == nil {
            try await Task.sleep(for: .milliseconds(50))
            let text = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
            found = text.split(separator: "\n").first { $0.hasPrefix("mlc-http-adapter: listening on ") }
                .map { String($0.dropFirst("mlc-http-adapter: listening on ".count)) }
        }
        guard let found else {
            kill(pid, SIGKILL)
            throw ConnectorError(
                .internalError,
                "the adapter did not start: \((try? String(contentsOfFile: log, encoding: .utf8)) ?? "")")
        }
        return (pid, found)
    }

    static func post(
        _ transport: AsyncHTTPClientTransport, _ url: String, headers: [(name: String, value: String)], body: String
    ) async throws -> HTTPResponse {
        try await transport.send(HTTPRequest(method: "POST", url: url, headers: headers, body: Data(body.utf8)))
    }

    static func errorCode(_ response: HTTPResponse) -> String? {
        (try? JSONCoding.decode(JSONValue.self, from: response.body))?["error"]?["code"]?.stringValue
    }

    @Test("in front of a real step: its refusals and configuration errors come back as 400 and 422, state untouched")
    func realStep() async throws {
        let (directory, path, key) = try await ExecutableTests.prepared()
        let before = try await snapshot(path)
        let adapter = try await Adapter(
            directory: directory.path, name: "real", sink: nil, realStep: "poll-jaggaer-invoices",
            extra: ["MLC_STATE": "sqlite:" + path, "MLC_MASTER_KEY": key])
        let transport = AsyncHTTPClientTransport()
        let binary: [(name: String, value: String)] = [
            ("ce-specversion", "1.0"), ("ce-source", "urn:test"), ("ce-type", EventType.pollRequested),
            ("content-type", "application/json"),
        ]
        // The step reads the store with the key it inherited, and finds no such connection: a configuration error
        // waiting cannot heal, answered 422 so Knative dead-letters it at once.
        let unknown = try await Self.post(
            transport, adapter.url, headers: binary + [("ce-id", "r-1"), ("ce-connection", "nobody")], body: "{}")
        #expect(unknown.status == 422, "\(String(decoding: unknown.body, as: UTF8.self))")
        #expect(Self.errorCode(unknown) == "connection.unknown")
        // An event the step does not take (no connection attribute): the step's exit 65 is a 400.
        let refused = try await Self.post(transport, adapter.url, headers: binary + [("ce-id", "r-2")], body: "{}")
        #expect(refused.status == 400, "\(String(decoding: refused.body, as: UTF8.self))")
        #expect(try await snapshot(path) == before)
        await transport.shutdown()
        _ = adapter.stop()
    }

    @Test("a request's W3C traceparent header carries the trace when the event has none of its own")
    func traceHeaders() async throws {
        let directory = try TemporaryDirectory()
        let adapter = try await Adapter(directory: directory.path, name: "traced", sink: nil)
        let transport = AsyncHTTPClientTransport()
        let header = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
        let own = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
        let binary: [(name: String, value: String)] = [
            ("ce-specversion", "1.0"), ("ce-source", "urn:test"), ("ce-type", "test.one"),
            ("content-type", "application/json"),
        ]
        _ = try await Self.post(
            transport, adapter.url,
            headers: binary + [("ce-id", "t-1"), ("traceparent", header), ("tracestate", "vendor=1")], body: "{}")
        _ = try await Self.post(
            transport, adapter.url,
            headers: [
                ("content-type", "application/cloudevents+json"), ("traceparent", header),
                ("tracestate", String(repeating: "v", count: 2000)),
            ],
            body: Self.event("t-2", "test.one"))
        _ = try await Self.post(
            transport, adapter.url,
            headers: binary + [("ce-id", "t-3"), ("ce-traceparent", own), ("traceparent", header)], body: "{}")
        _ = try await Self.post(
            transport, adapter.url, headers: binary + [("ce-id", "t-4"), ("traceparent", "00-zz-bad")], body: "{}")
        let given = Dictionary(uniqueKeysWithValues: try adapter.received().map { ($0.id, $0) })
        #expect(given["t-1"]?.traceparent == header && given["t-1"]?.tracestate == "vendor=1")
        #expect(given["t-2"]?.traceparent == header, "structured mode too")
        #expect(
            given["t-2"]?.tracestate?.count == CloudEvent.maxTracestateLength, "a long tracestate is cut, as decoded")
        #expect(given["t-3"]?.traceparent == own, "the event's own trace wins")
        #expect(given["t-4"] != nil && given["t-4"]?.traceparent == nil, "an invalid header is ignored")
        await transport.shutdown()
        _ = adapter.stop()
    }

    @Test("--metrics serves the runner's Prometheus metrics for the deliveries the adapter ran")
    func metrics() async throws {
        let directory = try TemporaryDirectory()
        let port = try WebhookTests.freePort()
        let adapter = try await Adapter(
            directory: directory.path, name: "metered", sink: nil, metrics: "127.0.0.1:\(port)")
        let transport = AsyncHTTPClientTransport()
        for (id, type) in [("m-1", "test.one"), ("m-2", "test.temporary"), ("m-3", "test.refused")] {
            _ = try await Self.post(
                transport, adapter.url, headers: [("content-type", "application/cloudevents+json")],
                body: Self.event(id, type))
        }
        let scrape = try await transport.send(HTTPRequest(method: "GET", url: "http://127.0.0.1:\(port)/metrics"))
        let text = String(decoding: scrape.body, as: UTF8.self)
        #expect(scrape.status == 200)
        for line in [
            #"mlc_step_invocations_total{step="metered-step.sh",status="ok"} 1"#,
            #"mlc_step_invocations_total{step="metered-step.sh",status="retry"} 1"#,
            #"mlc_step_invocations_total{step="metered-step.sh",status="failed"} 1"#,
            #"mlc_http_requests_total{step="metered-step.sh",system="jaggaer",host="127.0.0.1",status="200"} 2"#,
            #"mlc_rate_limit_wait_seconds_total{step="metered-step.sh"} 0.25"#,
            #"mlc_step_duration_seconds_count{step="metered-step.sh"} 3"#,
        ] {
            #expect(text.contains(line), "\(line)\n\(text.prefix(3000))")
        }
        await transport.shutdown()
        let status = adapter.stop()
        #expect((status & 0x7F) == 0 && ((status >> 8) & 0xFF) == 0, "stops cleanly on SIGTERM")
    }

    @Test("binary and structured events run the step; the first emitted event is the reply, the others go to K_SINK")
    func delivery() async throws {
        let directory = try TemporaryDirectory()
        let sink = try await Adapter(directory: directory.path, name: "sink", sink: nil)
        let adapter = try await Adapter(directory: directory.path, name: "step", sink: sink.url + "/")
        let transport = AsyncHTTPClientTransport()

        // Binary mode: attributes in ce- headers (percent-encoded), data in the body.
        let binary = try await Self.post(
            transport, adapter.url,
            headers: [
                ("ce-specversion", "1.0"), ("ce-id", "b-1"), ("ce-source", "urn:test"), ("ce-type", "test.one"),
                ("ce-connection", "acme"), ("ce-attempt", "2"), ("ce-recordid", "inv%20%C3%A9"),
                ("ce-time", "2026-12-03T07:00:00.123456789Z"), ("content-type", "application/json"),
                ("ce-knativearrivaltime", "2026-12-03T07:00:00Z"),
            ],
            body: #"{"invoiceId":"42"}"#)
        #expect(binary.status == 200)
        #expect(binary.header("ce-type") == "com.mlconnector.test.only")
        #expect(binary.header("ce-id") == "e0" && binary.header("ce-specversion") == "1.0")
        #expect(binary.header("ce-recordid") == "rec%201%25", "percent-encoded as the HTTP binding asks")
        #expect(binary.header("content-type") == "application/json")
        #expect(String(decoding: binary.body, as: UTF8.self) == #"{"n":0}"#)
        let given = try #require(try adapter.received().last)
        #expect(given.id == "b-1" && given.type == "test.one" && given.connection == "acme" && given.attempt == 2)
        #expect(given.recordid == "inv é")
        #expect(given.data == .object(["invoiceId": .string("42")]))

        // Structured mode: the whole event as the body; two emitted events: one reply, one to the sink.
        let structured = try await Self.post(
            transport, adapter.url, headers: [("content-type", "application/cloudevents+json; charset=utf-8")],
            body: Self.event("s-1", "test.two"))
        #expect(structured.status == 200)
        #expect(structured.header("ce-type") == "com.mlconnector.test.first")
        let forwarded = try sink.received()
        #expect(forwarded.map(\.type) == ["com.mlconnector.test.second"])
        #expect(forwarded.first?.recordid == "rec 1%" && forwarded.first?.connection == "acme")
        #expect(forwarded.first?.data == .object(["n": .number(2)]))

        let none = try await Self.post(
            transport, adapter.url, headers: [("content-type", "application/cloudevents+json")],
            body: Self.event("s-2", "test.none"))
        #expect(none.status == 202 && none.body.isEmpty)

        await transport.shutdown()
        for process in [adapter, sink] {
            let status = process.stop()
            #expect((status & 0x7F) == 0 && ((status >> 8) & 0xFF) == 0, "stops cleanly on SIGTERM")
        }
    }

    @Test("a malformed event is a 400 with a JSON error and never reaches the step; step failures map to 4xx/5xx")
    func failures() async throws {
        let directory = try TemporaryDirectory()
        let adapter = try await Adapter(directory: directory.path, name: "step", sink: nil)
        let transport = AsyncHTTPClientTransport()
        let malformed: [([(name: String, value: String)], String)] = [
            ([("content-type", "application/json")], #"{"invoiceId":"42"}"#),  // no ce- headers
            ([("content-type", "application/cloudevents+json")], #"{"specversion":"1.0","id":"x"}"#),
            ([("content-type", "application/cloudevents+json")], "not json"),
            (
                [("content-type", "application/cloudevents+json")],
                #"{"specversion":"0.3","id":"x","source":"s","type":"t"}"#
            ),
            (
                [
                    ("ce-specversion", "1.0"), ("ce-id", "x"), ("ce-source", "s"), ("ce-type", "t"),
                    ("content-type", "text/plain"),
                ], "hello"
            ),
            (
                [
                    ("ce-specversion", "1.0"), ("ce-id", "x"), ("ce-source", "s"), ("ce-type", "t"),
                    ("ce-attempt", "zero"),
                ], ""
            ),
            ([("content-type", "application/cloudevents-batch+json")], "[]"),
        ]
        for (headers, body) in malformed {
            let response = try await Self.post(transport, adapter.url, headers: headers, body: body)
            #expect(response.status == 400, "\(headers) \(body)")
            #expect(response.header("content-type") == "application/json")
            #expect(Self.errorCode(response) == "event.malformed")
        }
        #expect(try adapter.received().isEmpty, "a malformed event never starts the step")

        func deliver(_ type: String) async throws -> HTTPResponse {
            try await Self.post(
                transport, adapter.url, headers: [("content-type", "application/cloudevents+json")],
                body: Self.event("f-\(type)", type))
        }
        let temporary = try await deliver("test.temporary")
        #expect(temporary.status == 503)
        #expect(Self.errorCode(temporary) == "http.timeout")
        #expect(Int(temporary.header("retry-after") ?? "") ?? 0 > 1000, "the step's retryAt as Retry-After")
        let crash = try await deliver("test.crash")
        #expect(crash.status == 500)
        #expect(Self.errorCode(crash) == "step.crashed")
        let refused = try await deliver("test.refused")
        #expect(refused.status == 400, "a refused event is not retried: Knative dead-letters it")
        #expect(Self.errorCode(refused) == "event.invalid")
        // Two emitted events and no K_SINK: failing is the only answer that drops nothing.
        let noSink = try await deliver("test.two")
        #expect(noSink.status == 500)
        #expect(Self.errorCode(noSink) == "adapter.no_sink")

        await transport.shutdown()
        _ = adapter.stop()
    }

    @Test("--dead-letters keeps a dead-lettered event in the store's dead-letter list and marks its record failed")
    func deadLetterSink() async throws {
        let directory = try TemporaryDirectory()
        let path = directory.path + "/state.sqlite"
        try await StateStores.open("sqlite:" + path, mode: .create).close()
        let log = directory.path + "/dead-letters.log"
        let pid = try ChildProcess.spawn(
            Binaries.directory.appendingPathComponent("mlc-http-adapter").path,
            arguments: ["--dead-letters", "--host", "127.0.0.1", "--port", "0"],
            environment: ["PATH=/usr/bin:/bin", "MLC_STATE=sqlite:" + path], stdin: "/dev/null",
            stdout: directory.path + "/dead-letters.out", stderr: .append(log))
        var url: String?
        for _ in 0..<400 where url == nil {
            try await Task.sleep(for: .milliseconds(50))
            url = ((try? String(contentsOfFile: log, encoding: .utf8)) ?? "").split(separator: "\n")
                .first { $0.hasPrefix("mlc-http-adapter: listening on ") }
                .map { String($0.dropFirst("mlc-http-adapter: listening on ".count)) }
        }
        let address = try #require(url)
        let transport = AsyncHTTPClientTransport()
        let answer = #"{"error":{"code":"erp.rejected","message":"vendor blocked","retryable":false},"exitCode":69}"#
        let response = try await Self.post(
            transport, address,
            headers: [
                ("ce-specversion", "1.0"), ("ce-id", "d-1"), ("ce-source", "urn:test"),
                ("ce-type", EventType.invoiceMapped), ("ce-connection", "acme"), ("ce-recordid", "jaggaer-invoice-7"),
                ("ce-knativeerrordest", "http://mlc-write-erp-invoice.mlc.svc.cluster.local"),
                ("ce-knativeerrorcode", "422"), ("ce-knativeerrordata", Data(answer.utf8).base64EncodedString()),
                ("content-type", "application/json"),
            ],
            body: #"{"invoice":{"id":"7"}}"#)
        #expect(response.status == 202)
        let malformed = try await Self.post(transport, address, headers: [], body: "{}")
        #expect(malformed.status == 400)
        await transport.shutdown()
        kill(pid, SIGTERM)
        var status: Int32 = 0
        _ = waitpid(pid, &status, 0)

        let store = try await StateStores.open("sqlite:" + path)
        let keys = try StateKeys(connection: "acme")
        let letters = try await DeadLetterList(store: store, keys: keys).list()
        #expect(letters.map(\.id) == ["write-erp-invoice-d-1"])
        #expect(letters.first?.event.data == .object(["invoice": .object(["id": .string("7")])]))
        #expect(letters.first?.error?.code == "erp.rejected" && letters.first?.exitCode == 69)
        let record = try await AuditLog(store: store, keys: keys).status(recordId: "jaggaer-invoice-7")
        #expect(record?.state == .failed && record?.lastStep == "write-erp-invoice")
        try await store.close()
    }

    @Test("the dead-letter record names the step, Knative's last answer and the step's own error")
    func deadLetter() throws {
        let event = CloudEvent(
            source: "urn:test", type: EventType.invoiceMapped, data: .object([:]), connection: "acme",
            recordid: "jaggaer-invoice-7")
        let answer = #"{"error":{"code":"erp.rejected","message":"vendor blocked","retryable":false},"exitCode":69}"#
        let letter = DeadLetterSink.letter(
            for: event,
            attributes: [
                "knativeerrordest": "http://mlc-write-erp-invoice.mlc.svc.cluster.local",
                "knativeerrorcode": "422", "knativeerrordata": Data(answer.utf8).base64EncodedString(),
            ], at: Date())
        #expect(letter.step == "write-erp-invoice")
        #expect(letter.id == "write-erp-invoice-\(event.id)")
        #expect(letter.error?.code == "erp.rejected" && letter.error?.message == "vendor blocked")
        #expect(letter.exitCode == 69 && letter.recordId == "jaggaer-invoice-7")
        let bare = DeadLetterSink.letter(for: event, attributes: ["knativeerrorcode": "400"], at: Date())
        #expect(bare.step == "knative" && bare.exitCode == 65 && bare.error?.code == "knative.delivery_failed")
    }
}
