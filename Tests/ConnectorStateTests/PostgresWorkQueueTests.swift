import ConnectorCore
import ConnectorStatePostgres
import ConnectorTesting
import Foundation
import Synchronization
import Testing

@Suite("PostgreSQL work queue")
struct PostgresWorkQueueTests {
    @Test("the work queue conformance suite, native (FOR UPDATE SKIP LOCKED claims), two connections on a real server")
    func conformance() async throws {
        let server = try PostgresServerProcess()
        defer { server.stop() }
        let endpoint = PostgresStateStoreTests.endpoint(server)
        try await WorkQueueConformance.run {
            let table = PostgresStateStoreTests.table()
            let first = try await PostgresStateStore(endpoint: endpoint, table: table)
            let second = try await PostgresStateStore(endpoint: endpoint, table: table)
            let queues = (WorkQueue(store: first), WorkQueue(store: second))
            #expect(queues.0.backend is PostgresWorkQueue)
            return queues
        }
        let store = try await PostgresStateStore(endpoint: endpoint, table: PostgresStateStoreTests.table())
        try await WorkQueueTests.nativeRoundTrips(WorkQueue(store: store), roundTrips: { store.roundTrips })
        try await store.close()
    }

    @Test(
        "an undecodable row is quarantined whole and leaves the queue; queue names are separate; modes check the table")
    func quarantineAndNames() async throws {
        let server = try PostgresServerProcess()
        defer { server.stop() }
        try server.createDatabase("fresh")
        let endpoint = PostgresStateStoreTests.endpoint(server, database: "fresh")
        let store = try await PostgresStateStore(endpoint: endpoint, mode: .create)
        let runner = WorkQueue(store: store)
        let other = WorkQueue(store: store, name: "other")
        try await runner.enqueue(WorkQueueConformance.item("sync-vendors", 1))
        try await other.enqueue(WorkQueueConformance.item("sync-vendors", 2))
        // A row written by something else (not a work item), due before the good one.
        try server.psql(
            """
            INSERT INTO mlc_state_queue (queue, step, item_id, body, not_before)
            VALUES ('runner', 'sync-vendors', 'x', convert_to('{not json', 'UTF8'), now() - interval '1 minute')
            """, database: "fresh")
        #expect(try await runner.count(step: "sync-vendors") == 2)
        let quarantined = Mutex<[String]>([])
        let claims = try await runner.claim(step: "sync-vendors", consumer: "c", limit: 5, visibility: .seconds(30)) {
            location, raw, _ in
            quarantined.withLock { $0.append(location + " " + String(decoding: raw, as: UTF8.self)) }
        }
        #expect(claims.map(\.item.event.id) == ["event-1"], "only this queue's good item")
        let moved = quarantined.withLock { $0 }
        #expect(moved.count == 1)
        #expect(moved.first?.hasPrefix("mlc_state_queue/runner/sync-vendors/") == true, "\(moved)")
        #expect(moved.first?.hasSuffix(" {not json") == true, "kept whole: \(moved)")
        #expect(try await runner.count() == 1, "the bad row left the queue")
        #expect(try await other.count() == 1)
        #expect(try await runner.ack(try #require(claims.first)))
        try await store.close()

        // A database that has the state table but not the queue's (made by an older version) is refused, with the
        // command that creates it.
        try server.psql("DROP TABLE mlc_state_queue", database: "fresh")
        for mode in [PostgresStateStore.OpenMode.readWrite, .readOnly] {
            let error = await #expect(throws: ConnectorError.self) {
                try await PostgresStateStore(endpoint: endpoint, mode: mode)
            }
            #expect(error?.kind == .configuration)
            #expect(error?.message.contains("mlc_state_queue") == true, "\(error?.message ?? "")")
            #expect(error?.message.contains("connections add") == true, "\(error?.message ?? "")")
        }
        let recreated = try await PostgresStateStore(endpoint: endpoint, mode: .create)
        #expect(try await WorkQueue(store: recreated).count() == 0)
        try await WorkQueue(store: recreated).enqueue(WorkQueueConformance.item("sync-vendors", 3))
        try await recreated.close()
        await #expect(throws: Never.self) { try await PostgresStateStore(endpoint: endpoint, mode: .readWrite) }

        // A queue table without the connection column (made before fair claims) is refused too; `.create` adds the
        // column and keeps the rows, which claim as items naming no connection.
        try server.psql("ALTER TABLE mlc_state_queue DROP COLUMN connection", database: "fresh")
        let old = await #expect(throws: ConnectorError.self) {
            try await PostgresStateStore(endpoint: endpoint, mode: .readWrite)
        }
        #expect(old?.message.contains("connection column") == true, "\(old?.message ?? "")")
        let upgraded = try await PostgresStateStore(endpoint: endpoint, mode: .create)
        let fair = try await WorkQueue(store: upgraded).claim(
            step: "sync-vendors", consumer: "c", limit: 5, visibility: .seconds(30), inFlight: ["acme": 1])
        #expect(fair.map(\.item.event.id) == ["event-3"])
        try await upgraded.close()
        await #expect(throws: Never.self) { try await PostgresStateStore(endpoint: endpoint, mode: .readWrite) }
    }
    @Test("the KEDA scaler's query counts what a claim would take: due and unclaimed, or a dead worker's")
    func readyCount() async throws {
        let server = try PostgresServerProcess()
        defer { server.stop() }
        let endpoint = PostgresStateStoreTests.endpoint(server)
        let store = try await PostgresStateStore(endpoint: endpoint, table: PostgresStateStoreTests.table())
        let queue = WorkQueue(store: store)
        let backend = try #require(queue.backend as? PostgresWorkQueue)
        let visibility = Duration.seconds(60)
        for index in 0..<3 { try await queue.enqueue(WorkQueueConformance.item("write-erp-invoice", index)) }
        try await queue.enqueue(
            WorkQueueConformance.item("write-erp-invoice", 3, notBefore: Date().addingTimeInterval(3600)))
        try await queue.enqueue(WorkQueueConformance.item("transform-invoice", 4))
        try await WorkQueue(store: store, name: "other").enqueue(WorkQueueConformance.item("write-erp-invoice", 5))
        #expect(try await backend.readyCount(step: "write-erp-invoice", visibility: visibility) == 3, "not the delayed")
        let claims = try await queue.claim(step: "write-erp-invoice", consumer: "w1", limit: 2, visibility: visibility)
        #expect(claims.count == 2)
        #expect(try await backend.readyCount(step: "write-erp-invoice", visibility: visibility) == 1, "held ones")
        // Claimed long enough ago (the holder died): claimable again, so counted again.
        try server.psql(
            "UPDATE \(store.queueTable) SET claimed_at = now() - interval '61 seconds' WHERE claimed_by = 'w1'",
            database: endpoint.database)
        #expect(try await backend.readyCount(step: "write-erp-invoice", visibility: visibility) == 3)
        #expect(try await backend.readyCount(step: "transform-invoice", visibility: visibility) == 1)
        #expect(
            PostgresWorkQueue.readyCountQuery(table: "t", queue: "o'q", step: "s", visibility: .seconds(1))
                .contains("queue = 'o''q'"), "a quote in a name is doubled, not closing the literal")
        try await store.close()
    }
}
