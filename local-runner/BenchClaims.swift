import ConnectorCore
import ConnectorRuntime
import Foundation

/// `make bench`'s claim figure: what one claim and its ack cost on each store backend with a backlog queued ahead,
/// oldest first and fair across connections. The backlog is one step's lane holding `backlog` items of about 2.4 KB
/// (the first half of connection `a`, the second of `b`), and the fair claimer says it runs two items of each, so
/// no connection is idle and the claim looks through its whole window (256 items) before it picks: the costliest
/// case of a fair claim. `runs` claims of one item each, every one acked at once, each timed alone.
enum ClaimCost {
    struct Figure: Codable {
        var backend: String
        /// `oldest first` or `fair`.
        var claim: String
        var backlog: Int
        var runs: Int
        var itemBytes: Int
        var medianMs: Double
        var p90Ms: Double
    }

    static func measure(backends: [WorkerScaling.Backend], backlog: Int, runs: Int) async throws -> [Figure] {
        var figures: [Figure] = []
        for backend in backends {
            let server = try WorkerScaling.BenchServer(backend)
            defer { server.stop() }
            let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
                "mlc-bench-claims-\(UUID().uuidString.prefix(8))")
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(at: directory) }
            let url = try server.freshStore(in: directory, redisDatabase: 0, name: "bench_claims")
            let store = try await StateStores.open(url, mode: .create)
            do {
                let queue = WorkQueue(store: store)
                for fair in [false, true] {
                    figures.append(
                        try await figure(
                            queue, backend: backend.rawValue, fair: fair, backlog: backlog, runs: min(runs, backlog)))
                }
                try await store.close()
            } catch {
                try? await store.close()
                throw error
            }
        }
        return figures
    }

    static let step = "write-erp-invoice"

    /// Fills the lane, times `runs` claims with their acks, then empties the lane for the next figure.
    static func figure(_ queue: WorkQueue, backend: String, fair: Bool, backlog: Int, runs: Int) async throws -> Figure
    {
        var fields: [String: JSONValue] = [:]
        for index in 0..<40 { fields["line\(index)"] = .string(String(repeating: "x", count: 48)) }
        let data = JSONValue.object(fields)
        var items: [WorkItem] = []
        let start = Date().addingTimeInterval(-3600)
        for index in 0..<backlog {
            items.append(
                WorkItem(
                    function: step,
                    event: CloudEvent(
                        id: "bench-\(index)", source: "urn:mlconnector:bench", type: EventType.invoiceMapped,
                        data: data, connection: index < backlog / 2 ? "a" : "b"),
                    notBefore: start.addingTimeInterval(Double(index) / 1000), enqueuedAt: start))
        }
        let itemBytes = try JSONCoding.encode(items.first).count
        for first in stride(from: 0, to: items.count, by: 100) {
            try await queue.enqueue(contentsOf: Array(items[first..<min(first + 100, items.count)]))
        }
        var samples: [Double] = []
        for _ in 0..<runs {
            let began = ContinuousClock.now
            let claims =
                fair
                ? try await queue.claim(
                    step: step, consumer: "bench", limit: 1, visibility: .seconds(300), inFlight: ["a": 2, "b": 2])
                : try await queue.claim(step: step, consumer: "bench", limit: 1, visibility: .seconds(300))
            guard let claim = claims.first else {
                throw ConnectorError(.stateCorrupt, "the \(backend) queue handed out nothing with a backlog queued")
            }
            guard try await queue.ack(claim) else {
                throw ConnectorError(.stateCorrupt, "the \(backend) queue refused the ack of a live claim")
            }
            samples.append((ContinuousClock.now - began).timeInterval * 1000)
        }
        while true {
            let rest = try await queue.claim(step: step, consumer: "drain", limit: 500, visibility: .seconds(300))
            if rest.isEmpty { break }
            for claim in rest { _ = try await queue.ack(claim) }
        }
        samples.sort()
        return Figure(
            backend: backend, claim: fair ? "fair" : "oldest first", backlog: backlog, runs: runs, itemBytes: itemBytes,
            medianMs: samples[samples.count / 2], p90Ms: samples[min(samples.count - 1, samples.count * 9 / 10)])
    }

    static func report(_ figures: [Figure]) {
        guard let first = figures.first else { return }
        print("")
        print(
            "Claim cost (one claim of one item and its ack, \(first.runs) in a row, with \(first.backlog) items of \(first.itemBytes) bytes queued, half of connection a ahead of half of b; the fair claimer runs two of each, so it looks through its whole 256-item window):"
        )
        for figure in figures {
            print(
                "  \(figure.backend.padding(toLength: 8, withPad: " ", startingAt: 0)) \(figure.claim.padding(toLength: 12, withPad: " ", startingAt: 0)): median \(String(format: "%.2f", figure.medianMs)) ms, p90 \(String(format: "%.2f", figure.p90Ms)) ms"
            )
        }
    }
}
