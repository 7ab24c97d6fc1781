import ConnectorCore
import ConnectorRuntime
import ConnectorTesting
import Foundation
import Testing

/// The conformance case "several clients at once" with the clients in two OS processes (`mlc-store-probe`), on each
/// backend: what one process claims the other does not, no compare-and-swap update is lost, and each queued item is
/// acked by exactly one of them. (The in-process conformance suite covers separate connections in one process.)
@Suite("State store: two processes at once", .serialized, .timeLimit(.minutes(5)))
struct StoreProcessesTests {
    struct Report: Decodable {
        var index: Int
        var won: Int
        var acked: [String]
    }

    static let keys = 60
    static let rounds = 25
    static let items = 30

    /// Runs two probes at once on the store at `url` (made first, as `connections add` would) and checks the result.
    static func race(_ url: String) async throws {
        let made = try await StateStores.open(url, mode: .create)
        try await made.close()
        let environment = ["PATH": "/usr/bin:/bin", "MLC_STATE": url]
        let runs = try await withThrowingTaskGroup(of: Binaries.Run.self) { group in
            for index in 0..<2 {
                group.addTask {
                    try await Binaries.run(
                        "mlc-store-probe", ["\(index)", "\(keys)", "\(rounds)", "\(items)"],
                        environment: environment, timeout: .seconds(120))
                }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        for run in runs { #expect(run.exitCode == 0, "\(run.text) \(run.stderr)") }
        let reports = try runs.map { try JSONCoding.decode(Report.self, from: $0.stdout) }
        #expect(Set(reports.map(\.index)) == [0, 1])
        #expect(reports.map(\.won).reduce(0, +) == keys, "each key claimed by exactly one process")
        let acked = reports.flatMap(\.acked)
        #expect(acked.count == 2 * items && Set(acked).count == 2 * items, "each item acked once, by one process")
        let store = try await StateStores.open(url, mode: .readOnly)
        #expect(try await store.get("sum", as: Int.self)?.value == 2 * rounds, "no compare-and-swap update lost")
        #expect(try await store.get("hits")?.data == Data("\(2 * rounds)".utf8))
        #expect(try await WorkQueue(store: store).count() == 0)
        try await store.close()
    }

    @Test("SQLite: one file, two processes")
    func sqlite() async throws {
        let directory = try TemporaryDirectory()
        try await Self.race("sqlite:\(directory.path)/state.sqlite")
    }

    @Test("Redis: one server, two processes")
    func redis() async throws {
        let server = try RedisServerProcess()
        defer { server.stop() }
        try await Self.race(server.url(database: 2))
    }

    @Test("PostgreSQL: one database, two processes")
    func postgres() async throws {
        let server = try PostgresServerProcess()
        defer { server.stop() }
        try server.createDatabase("probe")
        try await Self.race(server.url(database: "probe"))
    }
}
