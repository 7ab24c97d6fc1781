import BusinessCentral
import ConnectorCore
import ConnectorFlows
import ConnectorHTTP
import ConnectorRuntime
import ConnectorSecurity
import ConnectorTesting
import Foundation
import Testing

/// Store round trips of one invoice through `transform-invoice` and `write-erp-invoice`, whole invocations
/// (`FunctionMain.invoke`: connection load, handler, completion) on each backend, counted by a `CountingStateStore`
/// around the store the step opens. The counts are pinned: a change that adds a round trip to a step's ok path
/// fails here and has to say why.
@Suite("Store round trips per invoice", .serialized, .timeLimit(.minutes(10)))
struct StoreRoundTripTests {
    /// Round trips of each step's whole ok path for one fresh invoice, by backend: the same on every backend now that
    /// SQLite reserves a rate-limiter slot in one write transaction too (it read and compare-and-swapped: 23 for
    /// write-erp-invoice), and the batch lookup stores its answers and drops its pending keys in one `commit` (a
    /// `putAll` and a delete per key before: 21 on Redis and PostgreSQL). Of these, the completion (audit entry, record state, review check) is 2: one
    /// `getMany` and one `commit`; it was 5 before batching (increment + put for the audit entry, get + write for
    /// the record state, get for the review item), so transform-invoice took 19 and write-erp-invoice 24 (26 on
    /// SQLite). transform-invoice then read its master data one key at a time (2 sync states, the vendor, 6
    /// accounts and 3 dimensions for this invoice: 12 of its 16); they are now 2 `getMany` (the sync states, and
    /// everything the mapper's dry run named), so it takes 6: connection, 2 reads, the lookup registration, and the
    /// completion's 2.
    static let pinned: [String: (transform: Int, write: Int)] = [
        "SQLite": (6, 20), "Redis": (6, 20), "PostgreSQL": (6, 20),
    ]

    struct Measured: CustomStringConvertible {
        var transform: [String: Int]
        var write: [String: Int]
        var description: String {
            "transform-invoice \(transform.values.reduce(0, +)) \(transform.sorted { $0.key < $1.key }), "
                + "write-erp-invoice \(write.values.reduce(0, +)) \(write.sorted { $0.key < $1.key })"
        }
    }

    /// Prepares master data in the rig's memory store, copies it into the store at `state` with the connection,
    /// then runs one invoice through both steps on that store.
    static func measure(state: String) async throws -> Measured {
        let rig = try await FlowRig.start()
        do {
            let runtime = try rig.runtime()
            let sync = try rig.event(EventType.masterDataSyncRequested, data: MasterDataSyncRequest(full: true))
            _ = try await SyncVendorsHandler(context: runtime.context, erp: try runtime.erpConnector()).handle(
                sync, input: .init(full: true))
            _ = try await SyncAccountsHandler(context: runtime.context, erp: try runtime.erpConnector()).handle(
                sync, input: .init(full: true))
            let key = MasterKey.generate()
            let setup = try await StateStores.open(state, mode: .create)
            // Tokens are sealed with the rig's key; the steps fetch their own.
            let master = try await rig.store.scanAll(prefix: "").filter { !$0.key.contains("/token") }
            try await setup.putAll(master.map { ($0.key, $0.value.data, nil) })
            try await ConnectionStore(store: setup, vault: Vault(masterKey: try MasterKey(base64: key))).save(
                rig.connection)
            try await setup.close()
            let environment = ["MLC_STATE": state, "MLC_MASTER_KEY": key]

            let invoiceId = try #require(rig.drafted.first)
            let invoice = try await runtime.procurementSource().invoice(id: String(invoiceId))
            let transformStore = CountingStateStore(try await StateStores.open(state, mode: .readWrite))
            let transformed = try await FunctionMain.invoke(
                TransformInvoiceHandler.self, event: try rig.event(EventType.invoiceCaptured, data: invoice),
                environment: environment, openStore: { _ in transformStore },
                make: { runtime in
                    TransformInvoiceHandler(
                        context: runtime.context, constraints: try runtime.erpConstraints(),
                        batchLookups: try runtime.erpModule().capabilities.batchLookups)
                })
            #expect(transformed.result.status == .ok, "\(transformed.result.review?.reasons ?? [])")
            let mappedEvent = try #require(transformed.result.events.first { $0.type == EventType.invoiceMapped })

            let writeStore = CountingStateStore(try await StateStores.open(state, mode: .readWrite))
            let written = try await FunctionMain.invoke(
                WriteInvoiceHandler.self, event: mappedEvent, environment: environment,
                openStore: { _ in writeStore },
                make: { runtime in WriteInvoiceHandler(context: runtime.context, erp: try runtime.erpConnector()) })
            #expect(written.result.status == .ok, "\(String(describing: written.error))")
            #expect(written.result.record?.state == .written)

            // The completion really landed: audit trail, record state.
            let check = try await StateStores.open(state, mode: .readWrite)
            let keys = try StateKeys(connection: rig.connection.id)
            let audit = AuditLog(store: check, keys: keys)
            let recordId = try #require(written.result.record?.recordId)
            #expect(
                try await audit.entries(recordId: recordId).map(\.step) == [
                    TransformInvoiceHandler.step, WriteInvoiceHandler.step,
                ])
            #expect(try await audit.entries(recordId: recordId).map(\.sequence) == [1, 2])
            #expect(try await audit.status(recordId: recordId)?.state == .written)
            try await check.close()
            await rig.stop()
            return Measured(transform: transformStore.byOperation, write: writeStore.byOperation)
        } catch {
            await rig.stop()
            throw error
        }
    }

    static func expectPinned(_ measured: Measured, _ backend: String) {
        let transform = measured.transform.values.reduce(0, +)
        let write = measured.write.values.reduce(0, +)
        print("store round trips per invoice on \(backend): \(measured)")
        #expect(transform == pinned[backend]?.transform, "\(backend): \(measured)")
        #expect(write == pinned[backend]?.write, "\(backend): \(measured)")
        // The completion is one read and one write, whatever the step did before; transform-invoice's other two
        // `getMany` are its master data, write-erp-invoice's other `commit` its batch lookup's answer.
        for (counts, reads, commits) in [(measured.transform, 3, 1), (measured.write, 1, 2)] {
            #expect(counts["commit"] == commits && counts["getMany"] == reads, "\(backend): \(measured)")
            #expect(counts["increment"] == nil, "audit sequences are taken inside the commit: \(measured)")
        }
    }

    @Test("SQLite: round trips per invoice are pinned")
    func sqlite() async throws {
        let directory = try TemporaryDirectory()
        Self.expectPinned(try await Self.measure(state: "sqlite:" + directory.path + "/state.sqlite"), "SQLite")
    }

    @Test("Redis: round trips per invoice are pinned")
    func redis() async throws {
        let server = try RedisServerProcess()
        defer { server.stop() }
        Self.expectPinned(try await Self.measure(state: server.url()), "Redis")
    }

    @Test("PostgreSQL: round trips per invoice are pinned")
    func postgres() async throws {
        let server = try PostgresServerProcess()
        defer { server.stop() }
        try server.createDatabase("trips")
        Self.expectPinned(try await Self.measure(state: server.url(database: "trips")), "PostgreSQL")
    }
}
