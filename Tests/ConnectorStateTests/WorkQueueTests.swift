import ConnectorCore
import ConnectorStateRedis
import ConnectorStateSQLite
import ConnectorTesting
import Foundation
import Synchronization
import Testing

@Suite("Work queue with claims")
struct WorkQueueTests {
    @Test("in-memory store (generic compare-and-swap claims)")
    func inMemory() async throws {
        try await WorkQueueConformance.run {
            let store = InMemoryStateStore()
            return (WorkQueue(store: store), WorkQueue(store: store))
        }
    }

    @Test("SQLite store (generic claims; two connections to one file, as two processes)")
    func sqlite() async throws {
        let directory = try TemporaryDirectory()
        try await WorkQueueConformance.run {
            let path = directory.path + "/\(UUID().uuidString).sqlite"
            let first = WorkQueue(store: try SQLiteStateStore(path: path))
            let second = WorkQueue(store: try SQLiteStateStore(path: path))
            #expect(first.backend is StoreWorkQueue)
            return (first, second)
        }
    }

    @Test("generic queue: a claim of several items is one commit, a step's end (its events and the ack) one more")
    func genericRoundTrips() async throws {
        let directory = try TemporaryDirectory()
        let counting = CountingStateStore(try SQLiteStateStore(path: directory.path + "/q.sqlite"))
        let queue = WorkQueue(store: counting)
        _ = try await queue.enqueue(contentsOf: (0..<4).map { WorkQueueConformance.item("transform-invoice", $0) })
        counting.reset()
        let claims = try await queue.claim(
            step: "transform-invoice", consumer: "a", limit: 4, visibility: .seconds(60))
        #expect(claims.count == 4)
        #expect(counting.byOperation == ["scan": 1, "commit": 1], "\(counting.byOperation)")
        counting.reset()
        let done = try await queue.complete(
            claims[0], enqueueing: [WorkQueueConformance.item("write-erp-invoice", 9)])
        #expect(done.acked)
        #expect(counting.byOperation == ["get": 1, "commit": 1], "\(counting.byOperation)")
        #expect(try await queue.count(step: "transform-invoice") == 3)
        #expect(try await queue.count(step: "write-erp-invoice") == 1)
    }

    @Test("Redis store (native: Streams, consumer groups, XAUTOCLAIM; two connections) on a real redis-server")
    func redis() async throws {
        let server = try RedisServerProcess()
        defer { server.stop() }
        let endpoint = RedisEndpoint(host: "127.0.0.1", port: server.port)
        try await WorkQueueConformance.run {
            let namespace = "q-\(UUID().uuidString)"
            let first = WorkQueue(store: try await RedisStateStore(endpoint: endpoint, namespace: namespace))
            let second = WorkQueue(store: try await RedisStateStore(endpoint: endpoint, namespace: namespace))
            #expect(first.backend is RedisWorkQueue)
            return (first, second)
        }
        // Every consumer that ended holding nothing left the group (one trigger process = one consumer name).
        let store = try await RedisStateStore(endpoint: endpoint, namespace: "tidy")
        let queue = WorkQueue(store: store)
        try await queue.enqueue(WorkQueueConformance.item("sync-vendors", 1))
        for name in ["t1", "t2", "t3"] {
            let claims = try await queue.claim(step: "sync-vendors", consumer: name, limit: 1, visibility: .seconds(60))
            for claim in claims { #expect(try await queue.ack(claim)) }
        }
        #expect(try await store.queueConsumers(name: "runner", step: "sync-vendors") == [])
        // A delayed retry moves into its stream once due, without a claim (what the KEDA schedule job does, so
        // the stream scaler sees it); nothing moves before.
        try await queue.enqueue(
            WorkQueueConformance.item("write-erp-invoice", 2, notBefore: Date().addingTimeInterval(0.4)))
        #expect(try await queue.promoteDue() == 0)
        try await Task.sleep(for: .milliseconds(700))
        #expect(try await queue.promoteDue(step: "write-erp-invoice") == 1)
        #expect(try await queue.promoteDue() == 0)
        #expect(try await queue.count(step: "write-erp-invoice") == 1, "moved, not lost or doubled")
        let claimed = try await queue.claim(
            step: "write-erp-invoice", consumer: "w", limit: 5, visibility: .seconds(60))
        #expect(claimed.map(\.item.event.id) == ["event-2"])
        try await Self.nativeRoundTrips(queue, roundTrips: { store.roundTrips })
        try await store.close()
    }

    @Test(
        "Redis fair claims: what a claim skips stays unread (the KEDA lag counts it), older entries' connections read")
    func redisFairClaims() async throws {
        let server = try RedisServerProcess()
        defer { server.stop() }
        let store = try await RedisStateStore(
            endpoint: RedisEndpoint(host: "127.0.0.1", port: server.port), namespace: "fair")
        let queue = WorkQueue(store: store)
        let step = "write-erp-invoice"
        let stream = "fair:q:runner:\(step):s"
        let start = Date().addingTimeInterval(-60)
        for index in 0..<5 {
            try await queue.enqueue(
                WorkQueueConformance.item(
                    step, index, notBefore: start.addingTimeInterval(Double(index)), connection: "big"))
        }
        try await queue.enqueue(
            WorkQueueConformance.item(step, 5, notBefore: start.addingTimeInterval(5), connection: "small"))
        // An entry an older version wrote: the item only, no connection or age fields. Its item names `big`.
        let legacy = WorkQueueConformance.item(step, 6, notBefore: start, connection: "big")
        _ = try server.cli(["XADD", stream, "*", "d", String(decoding: try JSONCoding.encode(legacy), as: UTF8.self)])

        // `big` runs two: `small` first, then the oldest of `big` (the old entry, read as `big`, is not older).
        let claims = try await queue.claim(
            step: step, consumer: "w", limit: 2, visibility: .seconds(60), inFlight: ["big": 2])
        #expect(claims.map(\.item.event.id) == ["event-5", "event-0"], "\(claims.map(\.item.event.id))")

        // What it read on the way and skipped went back unread: the group's lag (the KEDA scaler's lagCount) counts
        // it, the pending list holds the two claims only, nothing is lost or doubled.
        let groups = try server.cli(["XINFO", "GROUPS", stream]).split(separator: "\n").map(String.init)
        let value = { (name: String) in groups.firstIndex(of: name).map { groups[$0 + 1] } }
        #expect(value("lag") == "5", "\(groups)")
        #expect(value("pending") == "2", "\(groups)")
        #expect(try await queue.count(step: step) == 7)

        // The rest by age, though the skipped ones now sit behind the old entry: their age moved with them (the old
        // entry's age is its stream id's).
        let rest = try await queue.claim(
            step: step, consumer: "v", limit: 10, visibility: .seconds(60), inFlight: [:])
        #expect(rest.map(\.item.event.id) == ["event-1", "event-2", "event-3", "event-4", "event-6"])
        for claim in claims + rest { #expect(try await queue.ack(claim)) }
        #expect(try await queue.count(step: step) == 0)
        // Entries hold connection and age only (a scan reads no items); each item went with its entry.
        try await queue.enqueue(WorkQueueConformance.item(step, 7, connection: "small"))
        let fields = try server.cli(["XRANGE", stream, "-", "+"]).split(separator: "\n").map(String.init)
        #expect(fields.count == 5 && fields[1] == "c" && fields[2] == "small" && fields[3] == "t", "\(fields)")
        #expect(
            try server.cli(["HLEN", "fair:q:runner:\(step):b"]).trimmingCharacters(in: .whitespacesAndNewlines) == "1")
        for claim in try await queue.claim(step: step, consumer: "v", limit: 5, visibility: .seconds(60)) {
            #expect(claim.item.event.id == "event-7")
            #expect(try await queue.ack(claim))
        }
        #expect(
            try server.cli(["HLEN", "fair:q:runner:\(step):b"]).trimmingCharacters(in: .whitespacesAndNewlines) == "0",
            "no item left behind")
        try await store.close()
    }

    /// On a native queue a batch of events is one round trip, and a step's end (its events and the ack) one more.
    static func nativeRoundTrips(_ queue: WorkQueue, roundTrips: () -> Int) async throws {
        let writes = try await queue.count(step: "write-erp-invoice")
        // Once, so Redis has the script cached (its first use is a NOSCRIPT answer and the script sent whole).
        _ = try await queue.enqueue(contentsOf: (30..<32).map { WorkQueueConformance.item("push-purchase-orders", $0) })
        var before = roundTrips()
        let batch = try await queue.enqueue(
            contentsOf: (10..<13).map { WorkQueueConformance.item("transform-invoice", $0) })
        #expect(roundTrips() - before == 1, "three events, one round trip")
        #expect(batch.map(\.event.id) == (10..<13).map { "event-\($0)" } && batch.allSatisfy { $0.queueKey != nil })
        let claims = try await queue.claim(
            step: "transform-invoice", consumer: "rt", limit: 3, visibility: .seconds(60))
        #expect(claims.map(\.item.event.id) == (10..<13).map { "event-\($0)" }, "in the order queued")
        before = roundTrips()
        let done = try await queue.complete(
            try #require(claims.first),
            enqueueing: [
                WorkQueueConformance.item("write-erp-invoice", 20), WorkQueueConformance.item("write-erp-invoice", 21),
            ])
        #expect(done.acked)
        #expect(roundTrips() - before == 1, "two events and the ack, one round trip")
        #expect(try await queue.count(step: "transform-invoice") == 2)
        #expect(try await queue.count(step: "write-erp-invoice") == writes + 2)
    }

    @Test("items an older version left in the single-lane layout move to their lanes; poison is handed over")
    func legacyAdoption() async throws {
        let store = InMemoryStateStore()
        let event = CloudEvent(source: "s", type: "t", data: nil, connection: "acme")
        let old = WorkItem(function: "transform-invoice", event: event, notBefore: Date(), enqueuedAt: Date())
        try await store.put("queue/runner/000000000000002/\(old.id)", json: old)
        _ = try await store.put("queue/runner/000000000000001/poison", Data("{".utf8), ttl: nil)
        let queue = WorkQueue(store: store)
        let quarantined = Mutex<[String]>([])
        let moved = try await queue.adoptLegacyItems { location, raw, _ in
            quarantined.withLock { $0.append(location + " " + String(decoding: raw, as: UTF8.self)) }
        }
        #expect(moved == 1)
        #expect(quarantined.withLock { $0 } == ["queue/runner/000000000000001/poison {"])
        #expect(try await store.scanAll(prefix: "queue/runner/0").isEmpty)
        let claims = try await queue.claim(step: "transform-invoice", consumer: "c", limit: 5, visibility: .seconds(9))
        #expect(claims.map(\.item.id) == [old.id])
    }
}
