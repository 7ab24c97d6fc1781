import ConnectorCore
import ConnectorRunner
import ConnectorRuntime
import ConnectorSecurity
import ConnectorSimulators
import ConnectorStateSQLite
import ConnectorTesting
import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// A process started in the background (a runner that keeps running), stopped by a signal.
struct BackgroundProcess {
    let pid: pid_t
    let stdoutPath: String
    let stderrPath: String

    static func start(_ name: String, _ arguments: [String], environment: [String: String], in directory: String)
        throws -> BackgroundProcess
    {
        let tag = UUID().uuidString.prefix(8)
        let stdoutPath = directory + "/bg-\(tag).out"
        let stderrPath = directory + "/bg-\(tag).err"
        let pid = try ChildProcess.spawn(
            Binaries.directory.appendingPathComponent(name).path, arguments: arguments,
            environment: environment.map { "\($0.key)=\($0.value)" }, stdin: "/dev/null", stdout: stdoutPath,
            stderr: .append(stderrPath))
        return BackgroundProcess(pid: pid, stdoutPath: stdoutPath, stderrPath: stderrPath)
    }

    /// Waits for the exit (polling, so the test can bound it); nil when it did not end in time.
    func wait(upTo seconds: Double) async -> Int32? {
        let deadline = Date().addingTimeInterval(seconds)
        var status: Int32 = 0
        while Date() < deadline {
            let result = waitpid(pid, &status, WNOHANG)
            if result == pid {
                let signaled = (status & 0x7F) != 0
                return signaled ? 128 + (status & 0x7F) : (status >> 8) & 0xFF
            }
            try? await Task.sleep(for: .milliseconds(50))
        }
        return nil
    }

    func signal(_ number: Int32) { kill(pid, number) }

    var stdout: String { (try? String(contentsOfFile: stdoutPath, encoding: .utf8)) ?? "" }
    var stderr: String { (try? String(contentsOfFile: stderrPath, encoding: .utf8)) ?? "" }
}

@Suite("The runner ends, stops, refuses and reports", .serialized, .timeLimit(.minutes(15)))
struct RunnerBehaviourTests {
    struct Rig {
        var host: SimulatorHost
        var tenant: DemoTenant
        var directory: TemporaryDirectory
        var environment: [String: String]
        var key: String
        var statePath: String
        var file: String

        static func start(invoices: Int, yaml transform: (String) -> String = { $0 }) async throws -> Rig {
            let tenant = DemoTenant.generate(invoiceCount: invoices, seed: 31)
            let host = try await SimulatorHost.start(tenant: tenant)
            let directory = try TemporaryDirectory()
            let key = MasterKey.generate()
            let statePath = directory.path + "/state.sqlite"
            var environment = Binaries.environment(state: "sqlite:" + statePath, key: key)
            environment["TEST_JAGGAER_SECRET"] = tenant.credentials.jaggaerClientSecret
            let file = directory.path + "/acme.yaml"
            let yaml = transform(
                CLITests.yaml(host: host, tenant: tenant, bcSecret: tenant.credentials.entraClientSecret))
            try yaml.write(toFile: file, atomically: true, encoding: .utf8)
            let rig = Rig(
                host: host, tenant: tenant, directory: directory, environment: environment, key: key,
                statePath: statePath, file: file)
            let add = try await rig.cli(["connections", "add", "--file", file])
            guard add.exitCode == 0 else {
                await host.shutdown()
                throw ConnectorError(.configInvalid, "connections add failed: \(add.stderr)")
            }
            return rig
        }

        func cli(_ arguments: [String], environment extra: [String: String] = [:], timeout: Duration = .seconds(300))
            async throws -> Binaries.Run
        {
            try await Binaries.run(
                "local-runner", arguments, environment: environment.merging(extra) { $1 }, timeout: timeout)
        }

        func queued(_ name: String = "runner") async throws -> Int {
            let store = try SQLiteStateStore(path: statePath)
            let count = try await WorkQueue(store: store, name: name).count()
            try await store.close()
            return count
        }
    }

    @Test("run --once against an unreachable ERP ends within its attempts, non-zero, with a summary and reasons")
    func unreachableERP() async throws {
        let rig = try await Rig.start(invoices: 12) { yaml in
            // BC's token endpoint and API on a port where nothing listens.
            let lines = yaml.split(separator: "\n", omittingEmptySubsequences: false).map { line -> String in
                let indent = String(line.prefix { $0 == " " })
                if line.contains("authorityURL:") { return indent + "authorityURL: http://127.0.0.1:9" }
                if line.contains("apiBaseURL:") { return indent + "apiBaseURL: http://127.0.0.1:9" }
                return String(line)
            }
            return lines.joined(separator: "\n") + "flow:\n  maxAttempts: 2\n"
        }
        do {
            let started = Date()
            let run = try await rig.cli(["run", "--once", "--retry-base-ms", "100"], timeout: .seconds(240))
            let elapsed = Date().timeIntervalSince(started)
            #expect(run.exitCode == 1, "\(run.text)\n\(run.stderr.suffix(2000))")
            #expect(elapsed < 180, "run --once must end; it took \(Int(elapsed)) s")
            #expect(run.text.contains("dead-lettered"))
            // Invoices waiting on master data that will not come go to review with that reason, not round and round.
            #expect(run.text.contains("in review: masterdata.sync_failed"))
            #expect(run.text.contains("captured"))
            #expect(try await rig.queued() == 0, "nothing left waiting")
            let review = try JSONCoding.decode(
                [ReviewItem].self, from: try await rig.cli(["review", "list", "--json"]).stdout)
            #expect(!review.isEmpty)
            #expect(review.allSatisfy { $0.reasons.contains { $0.code == "masterdata.sync_failed" } })
            await rig.host.shutdown()
        } catch {
            await rig.host.shutdown()
            throw error
        }
    }

    @Test("SIGINT stops run --once within 10 s; the queue stays consistent and the next run finishes the work")
    func interruptOnce() async throws {
        let rig = try await Rig.start(invoices: 30)
        do {
            // Slow BC: every request takes 8 s, so the steps in flight can't finish within the stop's grace period
            // and are abandoned: their items must stay queued.
            rig.host.businessCentral.faults.add(FaultRule(kind: .latency, system: "bc", latencyMs: 8000))
            let process = try BackgroundProcess.start(
                "local-runner", ["run", "--once"], environment: rig.environment, in: rig.directory.path)
            try await Task.sleep(for: .seconds(3))
            let signalled = Date()
            process.signal(SIGINT)
            let code = await process.wait(upTo: 10)
            #expect(code != nil, "run --once did not stop within 10 s of SIGINT")
            if code == nil { process.signal(SIGKILL) }
            #expect(Date().timeIntervalSince(signalled) < 10)
            #expect(code == 130, "\(process.stdout)\n\(process.stderr.suffix(1500))")
            #expect(process.stdout.contains("stopped by SIGINT"))
            #expect(try await rig.queued() > 0, "the unfinished work is still queued")

            rig.host.businessCentral.faults.clear()
            let next = try await rig.cli(["run", "--once"])
            #expect(next.exitCode == 0, "\(next.text)\n\(next.stderr.suffix(1500))")
            let drafted = rig.tenant.expectations.filter { $0.value == .drafted }.count
            // The two keyed by hand in the tenant, plus every draftable invoice exactly once.
            #expect(rig.host.businessCentral.store.allPurchaseInvoices.count == drafted + 2)
            #expect(try await rig.queued() == 0)
            await rig.host.shutdown()
        } catch {
            await rig.host.shutdown()
            throw error
        }
    }

    @Test("a second runner is refused for as long as the first runs; operator commands queue for it or refuse")
    func oneRunnerPerStore() async throws {
        let rig = try await Rig.start(invoices: 6)
        do {
            let short = ["MLC_RUNNER_LOCK_SECONDS": "3"]
            let first = try BackgroundProcess.start(
                "local-runner", ["run"], environment: rig.environment.merging(short) { $1 }, in: rig.directory.path)
            try await Task.sleep(for: .seconds(2))
            let second = try await rig.cli(["run", "--once"], environment: short)
            #expect(second.exitCode == 78)
            #expect(second.stderr.contains("already running on this store"), "\(second.stderr)")
            // Well past two lock periods: still held, because the first keeps renewing it.
            try await Task.sleep(for: .seconds(8))
            let third = try await rig.cli(["run", "--once"], environment: short)
            #expect(third.exitCode == 78, "the lock must be renewed while the first runner runs")

            // An operator replay while the runner runs is queued for it, not run beside it.
            let letter = DeadLetter(
                id: "sync-vendors-test", recordId: "masterdata/vendors", step: "sync-vendors",
                event: CloudEvent(
                    source: "urn:test", type: EventType.masterDataSyncRequested, data: .object([:]),
                    connection: "acme"),
                error: nil, exitCode: 75, attempts: 5, at: Date())
            let store = try SQLiteStateStore(path: rig.statePath)
            try await DeadLetterList(store: store, keys: try StateKeys(connection: "acme")).add(letter)
            try await store.close()
            let replay = try await rig.cli(["dead-letter", "replay", "--all"], environment: short)
            #expect(replay.exitCode == 0)
            #expect(replay.text.contains("queued for a local-runner"), "\(replay.text)\(replay.stderr)")

            first.signal(SIGTERM)
            let code = await first.wait(upTo: 15)
            #expect(code == 0, "\(first.stdout)\n\(first.stderr.suffix(1000))")
            if code == nil { first.signal(SIGKILL) }
            let after = try await rig.cli(["run", "--once"], environment: short)
            #expect(after.exitCode == 0, "once the first has stopped, a runner may start: \(after.stderr.suffix(800))")
            await rig.host.shutdown()
        } catch {
            await rig.host.shutdown()
            throw error
        }
    }

    @Test("a replay runs only what it names: other queued items are left for the runner")
    func replayRunsOnlyWhatItNames() async throws {
        let rig = try await Rig.start(invoices: 6)
        do {
            #expect(try await rig.cli(["run", "--once"]).exitCode == 0)
            let store = try SQLiteStateStore(path: rig.statePath)
            let shared = WorkQueue(store: store)
            for index in 0..<3 {
                try await shared.enqueue(
                    WorkItem(
                        function: "sync-vendors",
                        event: CloudEvent(
                            id: "unrelated-\(index)", source: "urn:test", type: EventType.masterDataSyncRequested,
                            data: .object([:]), connection: "acme"),
                        notBefore: Date(), enqueuedAt: Date()))
            }
            let list = DeadLetterList(store: store, keys: try StateKeys(connection: "acme"))
            for index in 0..<2 {
                try await list.add(
                    DeadLetter(
                        id: "letter-\(index)", recordId: "masterdata/accounts", step: "sync-accounts",
                        event: CloudEvent(
                            id: "letter-event-\(index)", source: "urn:test", type: EventType.masterDataSyncRequested,
                            data: .object(["kinds": .array([.string("accounts")])]), connection: "acme"),
                        error: nil, exitCode: 75, attempts: 5, at: Date()))
            }
            try await store.close()
            let replay = try await rig.cli(["dead-letter", "replay", "--all"])
            #expect(replay.exitCode == 0, "\(replay.text)\(replay.stderr.suffix(800))")
            #expect(replay.text.contains("replayed 2"))
            #expect(try await rig.queued() == 3, "the three unrelated items are untouched")
            let invocations = replay.text.components(separatedBy: "step invocations").count - 1
            #expect(invocations == 1)
            #expect(
                replay.text.contains("4 step invocations"), "2 letters × (sync-vendors, sync-accounts): \(replay.text)")
            await rig.host.shutdown()
        } catch {
            await rig.host.shutdown()
            throw error
        }
    }

    @Test("a poison queue entry is moved aside whole and the run goes on; --concurrency 0 and a wrong key are refused")
    func poisonConcurrencyAndKey() async throws {
        let rig = try await Rig.start(invoices: 20)
        do {
            let store = try SQLiteStateStore(path: rig.statePath)
            let garbage = Data("{\"not\": \"a work item\", \"x\": [1,2".utf8)
            _ = try await store.put("queue/runner/000000000000001/poison", garbage, ttl: nil)
            try await store.close()
            let run = try await rig.cli(["run", "--once"])
            #expect(run.exitCode == 1, "a poison entry is a dead letter: \(run.text)\(run.stderr.suffix(800))")
            #expect(run.text.contains("unreadable queue entr"))
            let drafted = rig.tenant.expectations.filter { $0.value == .drafted }.count
            #expect(drafted > 0)
            #expect(run.text.contains("drafted \(drafted),"), "the run went on: \(run.text)")
            let letters = try await rig.cli(["dead-letter", "list", "--json", "--connection", "_runner"])
            let kept = try JSONCoding.decode([DeadLetter].self, from: letters.stdout)
            #expect(kept.count == 1)
            #expect(kept.first?.event.data?["raw"]?.stringValue == String(decoding: garbage, as: UTF8.self))
            #expect(kept.first?.event.data?["queueKey"]?.stringValue == "queue/runner/000000000000001/poison")

            let zero = try await rig.cli(["run", "--once", "--concurrency", "0"])
            #expect(zero.exitCode != 0)
            #expect(zero.stderr.contains("--concurrency must be between 1 and 64"))

            let wrongKey = try await rig.cli(["run", "--once"], environment: ["MLC_MASTER_KEY": MasterKey.generate()])
            #expect(wrongKey.exitCode == 78)
            #expect(wrongKey.stderr.contains("connection acme: configuration error config.master_key_mismatch"))
            #expect(wrongKey.text.contains("configuration error"), "the summary names it too")
            #expect(wrongKey.stderr.components(separatedBy: "config.master_key_mismatch:").count == 2, "said once")
            let after = try JSONCoding.decode(
                [DeadLetter].self, from: try await rig.cli(["dead-letter", "list", "--json"]).stdout)
            #expect(after.count == 1, "a wrong key dead-letters nothing: the connection never ran")
            await rig.host.shutdown()
        } catch {
            await rig.host.shutdown()
            throw error
        }
    }
}
