import ConnectorCore
import Foundation
import NIOCore
import PostgresNIO

extension PostgresStateStore: WorkQueueProviding {
    package func workQueueBackend(name: String) -> any WorkQueueBackend {
        PostgresWorkQueue(store: self, name: name)
    }
}

/// The work queue in one PostgreSQL table (`<store table>_queue`, default `mlc_state_queue`), one row per item:
/// `entry` (an identity: the item's queue key), `queue` (the queue's name), `step`, `item_id`, `body` (the item's
/// JSON as bytes, so an entry that is no work item is handed to the quarantine whole), `not_before`, `enqueued_at`,
/// and the current claim: `claimed_by`, `claim_token`, `claimed_at`, `claim_until` (by the holder's own visibility;
/// what `nextDue` and `remove` look at), `deliveries`; and `connection`, the event's connection, for fair claims.
///
/// A claim is ONE statement: `UPDATE … FROM (SELECT … FOR UPDATE SKIP LOCKED LIMIT n) … RETURNING`, so concurrent
/// claimers (other connections, other machines) never wait on each other or get the same row; a row is claimable when
/// its `not_before` has come and it is unclaimed or its claim is older than the claimer's visibility (the
/// `WorkQueueBackend` rule). Every time is the SERVER's (`now()`), so the workers' clocks do not matter. Each claim
/// writes a fresh token; ack, release and quarantine act only on the row still carrying it, so a superseded
/// delivery changes nothing. A release deletes the old row and inserts the next one in the same statement.
package struct PostgresWorkQueue: SingleTripQueueing {
    let store: PostgresStateStore
    let name: String

    init(store: PostgresStateStore, name: String) {
        self.store = store
        self.name = name
    }

    private var table: String { store.queueTable }

    /// The table and its indexes (inside the store's schema `DO` block, under its advisory lock).
    static func schema(table: String) -> String {
        """
        CREATE TABLE IF NOT EXISTS \(table) (
            entry bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            queue text COLLATE "C" NOT NULL,
            step text COLLATE "C" NOT NULL,
            item_id text NOT NULL,
            body bytea NOT NULL,
            not_before timestamptz NOT NULL,
            enqueued_at timestamptz NOT NULL DEFAULT now(),
            claimed_by text,
            claim_token text,
            claimed_at timestamptz,
            claim_until timestamptz,
            deliveries bigint NOT NULL DEFAULT 0,
            connection text COLLATE "C"
        );
        IF NOT EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = '\(table)'::regclass AND attname = 'connection'
            AND NOT attisdropped)
        THEN
            -- A table an earlier version made: ALTER only then (it locks the table exclusively, if briefly).
            ALTER TABLE \(table) ADD COLUMN connection text COLLATE "C";
        END IF;
        CREATE INDEX IF NOT EXISTS \(table)_lane ON \(table) (queue, step, not_before, entry);
        CREATE INDEX IF NOT EXISTS \(table)_holder ON \(table) (queue, claimed_by) WHERE claimed_by IS NOT NULL;
        """
    }

    private static func milliseconds(_ duration: Duration) -> Int64 {
        let parts = duration.components
        return max(1, parts.seconds * 1000 + parts.attoseconds / 1_000_000_000_000_000)
    }

    /// The row a claim's token names (`<entry>.<random>`).
    private static func entry(ofToken token: String) -> Int64? {
        token.split(separator: ".", maxSplits: 1).first.flatMap { Int64($0) }
    }

    private func location(_ step: String, _ entry: Int64) -> String { "\(table)/\(name)/\(step)/\(entry)" }

    private func subject(_ step: String?) -> String { step.map { "the \($0) queue" } ?? "the \(name) queue" }

    @discardableResult
    package func enqueue(_ item: WorkItem) async throws -> WorkItem {
        var stored = item
        stored.queueKey = nil
        let body = try JSONCoding.encode(stored)
        let result = try await store.run(
            "a queue write", subject(item.function),
            """
            INSERT INTO \(unescaped: table) (queue, step, item_id, body, not_before, connection)
            VALUES (\(name)::text, \(item.function)::text, \(item.id)::text, \(ByteBuffer(bytes: body))::bytea,
                \(item.notBefore)::timestamptz, \(item.event.connection)::text)
            RETURNING entry
            """)
        guard let row = result.rows.first, let entry = try? row.decode(Int64.self) else {
            throw store.unexpected("a queue write")
        }
        stored.queueKey = String(entry)
        return stored
    }

    /// ONE statement: `items` inserted in their order (so their identities, the queue keys, grow in that order) and,
    /// given a claim, its row deleted when it still carries the claim's token. A batch enqueue and a step's end are
    /// each one round trip instead of one per item plus one for the ack, and all or nothing.
    package func queue(_ items: [WorkItem], acking claim: QueueClaim?) async throws -> (
        items: [WorkItem], acked: Bool
    ) {
        var stored: [WorkItem] = []
        var bodies: [ByteBuffer] = []
        for item in items {
            var next = item
            next.queueKey = nil
            bodies.append(ByteBuffer(bytes: try JSONCoding.encode(next)))
            stored.append(next)
        }
        let entry = claim.flatMap { Self.entry(ofToken: $0.token) }
        let operation = claim == nil ? "a queue write" : "a step's completion"
        let result = try await store.run(
            operation, subject(claim?.step ?? items.first?.function),
            """
            WITH gone AS (
                DELETE FROM \(unescaped: table)
                WHERE entry = \(entry)::bigint AND claim_token = \(claim?.token)::text
                RETURNING entry
            ),
            added AS (
                INSERT INTO \(unescaped: table) (queue, step, item_id, body, not_before, connection)
                SELECT \(name)::text, i.step, i.item_id, i.body, i.not_before, nullif(i.connection, '')
                FROM unnest(\(items.map(\.function))::text[], \(items.map(\.id))::text[], \(bodies)::bytea[],
                    \(items.map(\.notBefore))::timestamptz[], \(items.map { $0.event.connection ?? "" })::text[])
                    WITH ORDINALITY AS i(step, item_id, body, not_before, connection, n)
                ORDER BY i.n
                RETURNING entry
            )
            SELECT (SELECT count(*) FROM gone)::bigint,
                coalesce((SELECT array_agg(a.entry ORDER BY a.entry) FROM added AS a), '{}'::bigint[])
            """)
        guard let row = result.rows.first, let (acked, entries) = try? row.decode((Int64, [Int64]).self),
            entries.count == items.count
        else { throw store.unexpected(operation) }
        for index in stored.indices { stored[index].queueKey = String(entries[index]) }
        return (stored, acked == 1)
    }

    package func claim(step: String, consumer: String, limit: Int, visibility: Duration, quarantine: QueueQuarantine)
        async throws -> [QueueClaim]
    {
        guard limit > 0 else { return [] }
        let nonce = UUID().uuidString.lowercased()
        let result = try await store.run(
            "a claim", subject(step),
            """
            UPDATE \(unescaped: table) AS t
            SET claimed_by = \(consumer)::text, claim_token = t.entry::text || '.' || \(nonce)::text,
                claimed_at = now(), claim_until = now() + \(Self.milliseconds(visibility))::bigint * interval '1 millisecond',
                deliveries = t.deliveries + 1
            FROM (
                SELECT c.entry FROM \(unescaped: table) AS c
                WHERE c.queue = \(name)::text AND c.step = \(step)::text AND c.not_before <= now()
                    AND (c.claimed_at IS NULL OR c.claimed_at <= now() - \(Self.milliseconds(visibility))::bigint * interval '1 millisecond')
                ORDER BY c.not_before, c.entry
                LIMIT \(Int64(limit))::bigint
                FOR UPDATE SKIP LOCKED
            ) AS picked
            WHERE t.entry = picked.entry
            RETURNING t.entry, t.body, t.deliveries, t.claim_token, t.not_before, 0::bigint
            """)
        return try await claims(result, step: step, consumer: consumer, quarantine: quarantine)
    }

    package var balancesConnections: Bool { true }

    /// ONE statement, fair across connections: of the first `window` claimable rows (oldest first), each connection's
    /// rows are ranked oldest first, and the n-th of a connection comes after its load plus n - 1, where its load is
    /// what the caller runs (`inFlight`) plus the live claims of other consumers; ties go to the older row. That is
    /// the order of taking each next item from the connection with the fewest in flight. The picked rows are locked
    /// `SKIP LOCKED` and re-checked, so concurrent claimers never get the same row.
    package func claim(
        step: String, consumer: String, limit: Int, visibility: Duration, inFlight: [String: Int], window: Int,
        quarantine: QueueQuarantine
    ) async throws -> [QueueClaim] {
        guard limit > 0 else { return [] }
        let nonce = UUID().uuidString.lowercased()
        let visible = Self.milliseconds(visibility)
        let running = inFlight.sorted { $0.key < $1.key }
        let result = try await store.run(
            "a claim", subject(step),
            """
            WITH load AS (
                SELECT c, sum(n)::bigint AS n FROM (
                    SELECT coalesce(l.connection, '') AS c, count(*)::bigint AS n FROM \(unescaped: table) AS l
                    WHERE l.queue = \(name)::text AND l.step = \(step)::text AND l.claimed_by <> \(consumer)::text
                        AND l.claimed_at > now() - \(visible)::bigint * interval '1 millisecond'
                    GROUP BY 1
                    UNION ALL
                    SELECT r.c, r.n FROM unnest(\(running.map(\.key))::text[], \(running.map { Int64($0.value) })::bigint[])
                        AS r(c, n)
                ) AS all_load GROUP BY c
            ),
            ahead AS (
                SELECT w.entry, w.not_before, coalesce(w.connection, '') AS c FROM \(unescaped: table) AS w
                WHERE w.queue = \(name)::text AND w.step = \(step)::text AND w.not_before <= now()
                    AND (w.claimed_at IS NULL OR w.claimed_at <= now() - \(visible)::bigint * interval '1 millisecond')
                ORDER BY w.not_before, w.entry
                LIMIT \(Int64(window))::bigint
            ),
            ranked AS (
                SELECT a.entry, a.not_before,
                    row_number() OVER (PARTITION BY a.c ORDER BY a.not_before, a.entry) + coalesce(load.n, 0) AS turn
                FROM ahead AS a LEFT JOIN load ON load.c = a.c
            ),
            picked AS (
                SELECT t.entry, r.turn FROM \(unescaped: table) AS t
                JOIN (SELECT entry, turn FROM ranked ORDER BY turn, not_before, entry LIMIT \(Int64(limit))::bigint) AS r
                    ON t.entry = r.entry
                WHERE t.claimed_at IS NULL OR t.claimed_at <= now() - \(visible)::bigint * interval '1 millisecond'
                FOR UPDATE OF t SKIP LOCKED
            )
            UPDATE \(unescaped: table) AS t
            SET claimed_by = \(consumer)::text, claim_token = t.entry::text || '.' || \(nonce)::text,
                claimed_at = now(), claim_until = now() + \(visible)::bigint * interval '1 millisecond',
                deliveries = t.deliveries + 1
            FROM picked
            WHERE t.entry = picked.entry
            RETURNING t.entry, t.body, t.deliveries, t.claim_token, t.not_before, picked.turn
            """)
        return try await claims(result, step: step, consumer: consumer, quarantine: quarantine)
    }

    /// The claims of a claim statement's rows; an entry that is no work item goes to `quarantine` and leaves.
    private func claims(
        _ result: PostgresQueryResult, step: String, consumer: String, quarantine: QueueQuarantine
    ) async throws -> [QueueClaim] {
        var rows: [(entry: Int64, body: Data, deliveries: Int64, token: String, notBefore: Date, turn: Int64)] = []
        do {
            for row in result.rows {
                let (entry, body, deliveries, token, notBefore, turn) = try row.decode(
                    (Int64, Data, Int64, String, Date, Int64).self)
                rows.append((entry, body, deliveries, token, notBefore, turn))
            }
        } catch {
            throw store.unexpected("a claim")
        }
        // RETURNING gives no order; hand them out in turn (fair claims), oldest first among equals.
        rows.sort { ($0.turn, $0.notBefore, $0.entry) < ($1.turn, $1.notBefore, $1.entry) }
        var claims: [QueueClaim] = []
        for row in rows {
            do {
                var item = try JSONCoding.decodeParsingTrees(WorkItem.self, from: row.body)
                item.queueKey = String(row.entry)
                claims.append(
                    QueueClaim(item: item, consumer: consumer, deliveries: Int(row.deliveries), token: row.token))
            } catch {
                let reason = (error as? DecodingError)?.safeDescription ?? String(describing: type(of: error))
                try await quarantine(location(step, row.entry), row.body, reason)
                _ = try await delete(entry: row.entry, token: row.token, step: step)
            }
        }
        return claims
    }

    private func delete(entry: Int64, token: String, step: String) async throws -> Bool {
        let result = try await store.run(
            "an ack", subject(step),
            """
            DELETE FROM \(unescaped: table)
            WHERE entry = \(entry)::bigint AND claim_token = \(token)::text
            RETURNING entry
            """)
        return !result.rows.isEmpty
    }

    package func ack(_ claim: QueueClaim) async throws -> Bool {
        guard let entry = Self.entry(ofToken: claim.token) else { return false }
        return try await delete(entry: entry, token: claim.token, step: claim.step)
    }

    package func release(_ claim: QueueClaim, as item: WorkItem, notBefore: Date) async throws -> Bool {
        guard let entry = Self.entry(ofToken: claim.token) else { return false }
        var next = item
        next.function = claim.step
        next.notBefore = notBefore
        next.queueKey = nil
        let body = try JSONCoding.encode(next)
        // One statement: the old delivery goes and the next item comes, or neither.
        let result = try await store.run(
            "a release", subject(claim.step),
            """
            WITH gone AS (
                DELETE FROM \(unescaped: table)
                WHERE entry = \(entry)::bigint AND claim_token = \(claim.token)::text
                RETURNING queue, step
            )
            INSERT INTO \(unescaped: table) (queue, step, item_id, body, not_before, connection)
            SELECT gone.queue, gone.step, \(next.id)::text, \(ByteBuffer(bytes: body))::bytea,
                \(notBefore)::timestamptz, \(next.event.connection)::text
            FROM gone
            RETURNING entry
            """)
        return !result.rows.isEmpty
    }

    package func recover(consumer: String) async throws -> Int {
        let result = try await store.run(
            "a recovery", subject(nil),
            """
            UPDATE \(unescaped: table)
            SET claimed_by = NULL, claim_token = NULL, claimed_at = NULL, claim_until = NULL
            WHERE queue = \(name)::text AND claimed_by = \(consumer)::text
            """)
        return result.metadata.rows ?? 0
    }

    /// The items of `step` a claim with `visibility` would take now, as one SQL text with its values inline: the
    /// query KEDA's `postgresql` scaler polls (infra/keda/ml-connector-postgres.yaml), so a ScaledJob starts jobs
    /// for the work there is. Like `claim`: due (`not_before` has come) and unclaimed, or claimed longer ago than
    /// the visibility (a dead worker's item); a delayed retry counts once it is due, with nothing to promote.
    package static func readyCountQuery(table: String, queue: String, step: String, visibility: Duration) -> String {
        func literal(_ text: String) -> String { "'" + text.replacingOccurrences(of: "'", with: "''") + "'" }
        return
            "SELECT count(*) FROM \(table) WHERE queue = \(literal(queue)) AND step = \(literal(step)) AND not_before <= now() AND (claimed_at IS NULL OR claimed_at <= now() - interval '\(milliseconds(visibility)) milliseconds')"
    }

    /// Runs `readyCountQuery` on this queue, the very text the scaler sends.
    package func readyCount(step: String, visibility: Duration) async throws -> Int {
        let text = Self.readyCountQuery(table: table, queue: name, step: step, visibility: visibility)
        let result = try await store.run("a ready count", subject(step), PostgresQuery(unsafeSQL: text))
        guard let row = result.rows.first, let count = try? row.decode(Int64.self) else {
            throw store.unexpected("a ready count")
        }
        return Int(count)
    }

    package func count(step: String?) async throws -> Int {
        let result = try await store.run(
            "a count", subject(step),
            """
            SELECT count(*)::bigint FROM \(unescaped: table)
            WHERE queue = \(name)::text AND (\(step)::text IS NULL OR step = $2::text)
            """)
        guard let row = result.rows.first, let count = try? row.decode(Int64.self) else {
            throw store.unexpected("a count")
        }
        return Int(count)
    }

    package func items(step: String?) async throws -> [WorkItem] {
        let result = try await store.run(
            "a queue read", subject(step),
            """
            SELECT entry, body FROM \(unescaped: table)
            WHERE queue = \(name)::text AND (\(step)::text IS NULL OR step = $2::text)
            ORDER BY step, not_before, entry
            """)
        var all: [WorkItem] = []
        for row in result.rows {
            let entry: Int64
            let body: Data
            do {
                (entry, body) = try row.decode((Int64, Data).self)
            } catch {
                throw store.unexpected("a queue read")
            }
            // An entry that is no work item is left for the next claim to quarantine.
            guard var item = try? JSONCoding.decodeParsingTrees(WorkItem.self, from: body) else { continue }
            item.queueKey = String(entry)
            all.append(item)
        }
        return all
    }

    package func remove(_ item: WorkItem) async throws -> Bool {
        guard let entry = item.queueKey.flatMap({ Int64($0) }) else { return false }
        let result = try await store.run(
            "a removal", subject(item.function),
            """
            DELETE FROM \(unescaped: table)
            WHERE entry = \(entry)::bigint AND queue = \(name)::text
                AND (claim_until IS NULL OR claim_until <= now())
            RETURNING entry
            """)
        return !result.rows.isEmpty
    }

    package func nextDue(step: String) async throws -> Date? {
        let result = try await store.run(
            "a queue read", subject(step),
            """
            SELECT min(CASE WHEN claim_until IS NULL THEN not_before ELSE greatest(claim_until, not_before) END)
            FROM \(unescaped: table)
            WHERE queue = \(name)::text AND step = \(step)::text
            """)
        // (Not `try?`: it would flatten the NULL of an empty lane into a failure.)
        guard let row = result.rows.first else { throw store.unexpected("a queue read") }
        do {
            return try row.decode(Date?.self)
        } catch {
            throw store.unexpected("a queue read")
        }
    }
}
