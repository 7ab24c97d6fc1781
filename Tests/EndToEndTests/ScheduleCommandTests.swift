import ConnectorCore
import ConnectorRuntime
import ConnectorSecurity
import ConnectorSimulators
import ConnectorTesting
import Foundation
import Testing

/// `local-runner schedule`, the CronJob of infra/knative and infra/keda: each connection's due events once, to a
/// Knative sink (an adapter on loopback here) or onto the store's work queue; claimed like the runner's schedules.
@Suite("local-runner schedule", .serialized, .timeLimit(.minutes(3)))
struct ScheduleCommandTests {
    struct Report: Decodable {
        var connections: Int
        var sent: [String: Int]
        var to: String
        var purged: Int?
    }

    @Test("sends the due events to K_SINK once, or puts them on the queue for their steps; a dead sink fails")
    func schedule() async throws {
        let tenant = DemoTenant.generate(invoiceCount: 3, seed: 11)
        let host = try await SimulatorHost.start(tenant: tenant)
        let directory = try TemporaryDirectory()
        do {
            let key = MasterKey.generate()
            let file = directory.path + "/acme.yaml"
            try CLITests.yaml(host: host, tenant: tenant, bcSecret: tenant.credentials.entraClientSecret).write(
                toFile: file, atomically: true, encoding: .utf8)
            func store(_ name: String) async throws -> [String: String] {
                var environment = Binaries.environment(state: "sqlite:\(directory.path)/\(name).sqlite", key: key)
                environment["TEST_JAGGAER_SECRET"] = tenant.credentials.jaggaerClientSecret
                let add = try await Binaries.run(
                    "local-runner", ["connections", "add", "--file", file], environment: environment)
                #expect(add.exitCode == 0, "\(add.stderr)")
                return environment
            }
            let expected: Set = [
                EventType.masterDataSyncRequested, EventType.purchaseOrderSyncRequested, EventType.pollRequested,
            ]

            // To a sink: each due event once, as a CloudEvent the adapter takes.
            let sink = try await HTTPAdapterTests.Adapter(directory: directory.path, name: "broker", sink: nil)
            var environment = try await store("knative")
            environment["K_SINK"] = sink.url
            let first = try await Binaries.run("local-runner", ["schedule"], environment: environment)
            #expect(first.exitCode == 0, "\(first.stderr)")
            let report = try JSONCoding.decode(Report.self, from: first.stdout)
            #expect(report.to == "sink" && report.connections == 1)
            let received = try sink.received()
            #expect(Set(received.map(\.type)) == Set(report.sent.keys))
            #expect(expected.isSubset(of: Set(received.map(\.type))))
            #expect(received.allSatisfy { $0.connection == "acme" && $0.source == "urn:mlconnector:runner" })
            #expect(received.count == report.sent.values.reduce(0, +))
            let again = try await Binaries.run("local-runner", ["schedule"], environment: environment)
            #expect(again.exitCode == 0)
            #expect(try JSONCoding.decode(Report.self, from: again.stdout).sent.isEmpty, "claimed: not due again")
            #expect(try sink.received().count == received.count)
            _ = sink.stop()

            // A sink that is down: the command says so with its exit code.
            var down = try await store("down")
            down["K_SINK"] = "http://127.0.0.1:1/"
            let failed = try await Binaries.run("local-runner", ["schedule"], environment: down)
            #expect(failed.exitCode != 0)

            // No sink: onto the work queue, one item per consuming step.
            let queued = try await store("keda")
            // Retention: on a platform the scheduler is what purges expired entries, once a day.
            let before = try await StateStores.open("sqlite:\(directory.path)/keda.sqlite")
            try await before.put("test/expired", Data("x".utf8), ttl: .milliseconds(1))
            try await before.put("test/live", Data("y".utf8), ttl: .seconds(3600))
            try await before.close()
            try await Task.sleep(for: .milliseconds(20))
            let run = try await Binaries.run("local-runner", ["schedule"], environment: queued)
            #expect(run.exitCode == 0, "\(run.stderr)")
            let queueReport = try JSONCoding.decode(Report.self, from: run.stdout)
            #expect(queueReport.purged ?? 0 >= 1, "\(run.text)")
            let rows = try sqliteRows(directory.path + "/keda.sqlite", like: "test/%")
            #expect(rows == ["test/live"], "the expired entry is gone from the file, not only hidden")
            let next = try await Binaries.run("local-runner", ["schedule"], environment: queued)
            #expect(try JSONCoding.decode(Report.self, from: next.stdout).purged == nil, "daily: not due again")
            #expect(queueReport.to == "queue" && expected.isSubset(of: Set(queueReport.sent.keys)))
            let manifests = try InfraManifestTests.manifests()
            let items = queueReport.sent.reduce(0) { total, sent in
                total + sent.value * manifests.filter { $0.trigger.events.contains(sent.key) }.count
            }
            let state = try await StateStores.open("sqlite:\(directory.path)/keda.sqlite")
            #expect(try await WorkQueue(store: state).count() == items)
            try await state.close()
        } catch {
            await host.shutdown()
            throw error
        }
        await host.shutdown()
    }

    /// Keys in a SQLite store's file that match `pattern`, expired or not (read by Python's sqlite3, not by the store).
    func sqliteRows(_ path: String, like pattern: String) throws -> [String] {
        let script = """
            import sqlite3, sys
            db = sqlite3.connect(sys.argv[1])
            rows = db.execute("select cast(key as text) from kv where cast(key as text) like ? order by 1", (sys.argv[2],))
            print("\\n".join(k.decode() if isinstance(k, bytes) else k for (k,) in rows))
            """
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        process.arguments = ["-c", script, path, pattern]
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return String(decoding: data, as: UTF8.self).split(separator: "\n").map(String.init)
    }
}
