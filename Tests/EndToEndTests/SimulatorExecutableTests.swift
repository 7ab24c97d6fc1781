import ConnectorCore
import ConnectorHTTP
import ConnectorRunner
import ConnectorRuntime
import ConnectorTesting
import Foundation
import Testing

@Suite("mlc-simulators as a black box", .timeLimit(.minutes(2)))
struct SimulatorExecutableTests {
    @Test("serve prints its URLs and credentials once, answers on loopback, and stops cleanly on SIGTERM")
    func serve() async throws {
        let directory = try TemporaryDirectory()
        let output = directory.path + "/out.json"
        let pid = try ChildProcess.spawn(
            Binaries.directory.appendingPathComponent("mlc-simulators").path,
            arguments: ["serve", "--invoices", "12", "--seed", "3"],
            environment: ["PATH=/usr/bin:/bin"],
            stdin: "/dev/null",
            stdout: output,
            stderr: .append(directory.path + "/err.log")
        )
        var text = ""
        for _ in 0..<200 where !text.contains("\n") {
            try await Task.sleep(for: .milliseconds(50))
            text = (try? String(contentsOfFile: output, encoding: .utf8)) ?? ""
        }
        let info = try JSONCoding.decode(JSONValue.self, from: Data(text.utf8))
        let jaggaer = try #require(info["jaggaer"]?["baseURL"]?.stringValue)
        let bc = try #require(info["businessCentral"]?["baseURL"]?.stringValue)
        #expect(jaggaer.hasPrefix("http://127.0.0.1:") && bc.hasPrefix("http://127.0.0.1:"))
        #expect(info["entra"]?["clientSecret"]?.stringValue?.isEmpty == false)

        let transport = ConnectorHTTP.AsyncHTTPClientTransport()
        let counters = try await transport.send(.init(method: "GET", url: bc + "/_sim/counters"))
        #expect(counters.status == 200)
        let unauthorized = try await transport.send(
            .init(method: "GET", url: jaggaer + "/j1p/api/public/ji/v1/invoices"))
        #expect(unauthorized.status == 401, "the API wants a token")
        await transport.shutdown()

        kill(pid, SIGTERM)
        var status: Int32 = 0
        _ = waitpid(pid, &status, 0)
        #expect((status & 0x7F) == 0, "exited, not killed")
        #expect(((status >> 8) & 0xFF) == 0)
        #expect(text.split(separator: "\n").count == 1, "one JSON document on stdout")
    }
}
