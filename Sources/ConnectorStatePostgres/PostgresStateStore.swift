import ConnectorCore
import Foundation
import Logging
import NIOCore
import NIOSSL
import PostgresNIO
import Synchronization

/// A `StateStore` in a PostgreSQL database, for steps running as many processes on many machines.
///
/// One table (default `mlc_state`): `key text COLLATE "C" PRIMARY KEY` (so order and prefix ranges are byte-wise),
/// `value bytea`, `version bigint` and `expires_at timestamptz` (null: never). Versions grow per row (`version + 1`
/// on every write; no sequence every write would queue on); a row inserted afresh starts at the server's
/// `clock_timestamp()` in microseconds × 1000 plus a random 0…999 (`StoreVersion`), so a deleted and re-created key
/// does not give a stale compare-and-swap holder its old version back. Batches (`commit`) run in the function
/// `<table>_commit`, made with the table: one statement, all or nothing. Expiry is decided by the SERVER's clock (`now()`): every statement
/// treats a row whose `expires_at` has passed as absent, and `purgeExpired()` (also run when a store is opened for
/// writing) deletes such rows to reclaim space. The work queue has a table of its own, `<table>_queue`
/// (`PostgresWorkQueue`), made and checked with this one.
///
/// Every operation is ONE statement (an `INSERT … ON CONFLICT`, an `UPDATE … WHERE version = …`, a
/// `DELETE … RETURNING`), so each is atomic on its own and needs no transaction spanning round trips; `putAll` is
/// one `INSERT … SELECT FROM unnest(…)`: all rows or none, in one implicit transaction, one round trip.
///
/// The store holds one connection for its whole life (a step opens one store per invocation, so one connection per
/// invocation); queries from concurrent tasks are queued on it. A lost connection fails the operation that saw it
/// with a temporary error and the next operation connects again.
package final class PostgresStateStore: StateStore {
    /// How a store is opened: `.create` makes the tables and the batch function when missing (where a store is born:
    /// `connections add`, the demo); `.readWrite` and `.readOnly` refuse a database without them as a configuration
    /// error; `.readOnly` also makes the session read-only on the server.
    package enum OpenMode: Sendable {
        case create, readWrite, readOnly
    }

    package let endpoint: PostgresEndpoint
    package let table: String
    private let link: PostgresLink
    private let queryTimeout: Duration
    private let statementsSent = Atomic<Int>(0)
    /// Statements this store has sent through its operations so far (each one network round trip), for
    /// measurements.
    package var roundTrips: Int { statementsSent.load(ordering: .relaxed) }

    /// The batch function (see `commit`), made with the table.
    private var commitFunction: String { table + "_commit" }
    /// The work queue's table (see `PostgresWorkQueue`), made with the store's.
    package var queueTable: String { table + "_queue" }

    /// Connects now (postgres-nio's asynchronous connect: no thread of the cooperative pool blocks), so a wrong
    /// address, database or password fails when the store is opened. `table` separates several stores in one
    /// database (tests use one each). `verifySchema: false` skips making or checking the tables and the purge of
    /// expired rows on open: for further connections of a pool whose first store did both.
    package init(
        endpoint: PostgresEndpoint, mode: OpenMode = .create, table: String = "mlc_state",
        connectTimeout: Duration = .seconds(5), queryTimeout: Duration = .seconds(15), verifySchema: Bool = true
    ) async throws {
        guard Self.isPlainIdentifier(table) else {
            throw ConnectorError(
                .stateUnavailable, kind: .configuration,
                "the PostgreSQL store's table name \(table.prefix(70).debugDescription) is not a lowercase identifier (a-z, 0-9, _; at most 50 bytes)"
            )
        }
        self.endpoint = endpoint
        self.table = table
        self.queryTimeout = queryTimeout
        link = PostgresLink(endpoint: endpoint, readOnly: mode == .readOnly, connectTimeout: connectTimeout)
        let connection: PostgresConnection
        do {
            connection = try await link.connection()
        } catch {
            throw Self.failure(error, endpoint: endpoint, operation: "connecting", key: nil, connecting: true)
        }
        guard verifySchema else { return }
        do {
            switch mode {
            case .create:
                _ = try await connection.query(createSchema, logger: link.logger).get()
            case .readWrite, .readOnly:
                let result = try await connection.query(
                    """
                    SELECT to_regclass(\(table)) IS NOT NULL AND to_regclass(\(queueTable)) IS NOT NULL
                        AND to_regprocedure(\(commitFunction + "(text[],text[],bytea[],bigint[],bigint[],text[])"))
                            IS NOT NULL
                        AND EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = to_regclass(\(queueTable))
                            AND attname = 'connection' AND NOT attisdropped)
                    """,
                    logger: link.logger
                ).get()
                guard let row = result.rows.first, try row.decode(Bool.self) else {
                    throw ConnectorError(
                        .stateUnavailable, kind: .configuration,
                        "the PostgreSQL store at \(endpoint) does not have the ml-connector tables \(table) and \(queueTable) and the function \(commitFunction) yet (a store made by an earlier version lacks the function or the queue's connection column); `local-runner connections add --file <connection.yaml>` with this MLC_STATE creates them (check the database in MLC_STATE)"
                    )
                }
            }
            if mode != .readOnly {
                _ = try await connection.query(purgeQuery(limit: 1000), logger: link.logger).get()
            }
        } catch {
            await link.close()
            throw Self.failure(error, endpoint: endpoint, operation: "opening the store", key: nil, connecting: false)
        }
    }

    /// How many connections this store has established (one, unless a lost connection was replaced).
    package var connectionsMade: Int { link.connectionsMade }

    static func isPlainIdentifier(_ name: String) -> Bool {
        guard let first = name.utf8.first, (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(first) || first == 95,
            name.utf8.count <= 50
        else { return false }
        return name.utf8.allSatisfy {
            (UInt8(ascii: "a")...UInt8(ascii: "z")).contains($0) || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0)
                || $0 == 95
        }
    }

    // MARK: - Statements

    /// Tables, expiry index and batch function, made once under an advisory lock (concurrent first opens do not
    /// race).
    private var createSchema: PostgresQuery {
        """
        DO $mlc$ BEGIN
            PERFORM pg_advisory_xact_lock(hashtext('ml-connector state schema'));
            CREATE TABLE IF NOT EXISTS \(unescaped: table) (
                key text COLLATE "C" PRIMARY KEY,
                value bytea NOT NULL,
                version bigint NOT NULL,
                expires_at timestamptz
            );
            CREATE INDEX IF NOT EXISTS \(unescaped: table)_expiry ON \(unescaped: table) (expires_at)
                WHERE expires_at IS NOT NULL;
            \(unescaped: PostgresWorkQueue.schema(table: queueTable))
            \(unescaped: commitFunctionDefinition)
        END $mlc$
        """
    }

    /// `<table>_commit(kinds, keys, values, ttl milliseconds (-1: none), expected versions, append prefixes)`: applies
    /// a `commit` batch in order, raising SQLSTATE MLC01 (which rolls the whole statement back) when a condition
    /// does not hold; returns one number per write. Row locks are taken as the writes go, in the batch's order.
    private var commitFunctionDefinition: String {
        let expiry = "CASE WHEN ms[i] < 0 THEN NULL ELSE now() + ms[i] * interval '1 millisecond' END"
        let expired = "(t.expires_at IS NOT NULL AND t.expires_at <= now())"
        return """
            CREATE OR REPLACE FUNCTION \(commitFunction)(
                kinds text[], keys text[], vals bytea[], ms bigint[], expected bigint[], prefixes text[])
            RETURNS bigint[] LANGUAGE plpgsql AS $fn$
            DECLARE
                results bigint[] := '{}';
                v bigint;
                n bigint;
                alive boolean;
                target text;
            BEGIN
                FOR i IN 1 .. coalesce(array_length(kinds, 1), 0) LOOP
                    v := NULL;
                    IF kinds[i] = 'cas' THEN
                        UPDATE \(table) AS t SET value = vals[i], version = t.version + 1, expires_at = \(expiry)
                        WHERE t.key = keys[i] AND t.version = expected[i] AND NOT \(expired)
                        RETURNING t.version INTO v;
                    ELSIF kinds[i] IN ('put', 'add') THEN
                        INSERT INTO \(table) AS t (key, value, version, expires_at)
                        VALUES (keys[i], vals[i], \(Self.freshVersion), \(expiry))
                        ON CONFLICT (key) DO UPDATE
                            SET value = EXCLUDED.value, version = t.version + 1, expires_at = EXCLUDED.expires_at
                            WHERE kinds[i] = 'put' OR \(expired)
                        RETURNING t.version INTO v;
                    ELSIF kinds[i] IN ('del', 'delif') THEN
                        alive := NULL;
                        DELETE FROM \(table) AS t
                        WHERE t.key = keys[i] AND (kinds[i] = 'del' OR (t.version = expected[i] AND NOT \(expired)))
                        RETURNING NOT \(expired) INTO alive;
                        v := CASE WHEN coalesce(alive, false) THEN 1 ELSE 0 END;
                        IF kinds[i] = 'delif' AND v = 0 THEN v := NULL; END IF;
                    ELSIF kinds[i] = 'append' THEN
                        INSERT INTO \(table) AS t (key, value, version, expires_at)
                        VALUES (keys[i], convert_to('1', 'UTF8'), \(Self.freshVersion), NULL)
                        ON CONFLICT (key) DO UPDATE SET
                            value = CASE WHEN \(expired) THEN EXCLUDED.value
                                ELSE convert_to((convert_from(t.value, 'UTF8')::bigint + 1)::text, 'UTF8') END,
                            version = t.version + 1,
                            expires_at = CASE WHEN \(expired) THEN NULL ELSE t.expires_at END
                        RETURNING convert_from(t.value, 'UTF8')::bigint INTO n;
                        target := prefixes[i] || CASE WHEN length(n::text) >= 12 THEN n::text
                            ELSE lpad(n::text, 12, '0') END;
                        INSERT INTO \(table) AS t (key, value, version, expires_at)
                        VALUES (target, vals[i], \(Self.freshVersion), \(expiry))
                        ON CONFLICT (key) DO UPDATE
                            SET value = EXCLUDED.value, version = t.version + 1, expires_at = EXCLUDED.expires_at;
                        v := n;
                    END IF;
                    IF v IS NULL THEN
                        RAISE EXCEPTION 'ml-connector batch condition failed' USING ERRCODE = 'MLC01';
                    END IF;
                    results := results || v;
                END LOOP;
                RETURN results;
            END $fn$;
            """
    }

    /// Deletes up to `limit` expired rows, skipping rows another session holds (a purge never waits or deadlocks).
    private func purgeQuery(limit: Int64) -> PostgresQuery {
        """
        WITH expired AS (
            SELECT key FROM \(unescaped: table) WHERE expires_at <= now()
            ORDER BY expires_at LIMIT \(limit) FOR UPDATE SKIP LOCKED
        )
        DELETE FROM \(unescaped: table) AS t USING expired WHERE t.key = expired.key
        """
    }

    var live: String { "(t.expires_at IS NULL OR t.expires_at > now())" }
    var expired: String { "(t.expires_at IS NOT NULL AND t.expires_at <= now())" }
    /// The first version of a row inserted afresh (`StoreVersion`): the server's clock in microseconds × 1000 plus
    /// a random 0…999. An existing row's next version is `version + 1`.
    static let freshVersion =
        "((extract(epoch FROM clock_timestamp()) * 1000000)::bigint * 1000 + floor(random() * 1000)::bigint)"
    var nextVersion: String { Self.freshVersion }

    static func milliseconds(_ ttl: Duration?) -> Int64? {
        guard let ttl else { return nil }
        let parts = ttl.components
        return max(1, parts.seconds * 1000 + parts.attoseconds / 1_000_000_000_000_000)
    }

    // MARK: - Running

    private struct Row: Sendable {
        var key: String
        var value: StoredValue
    }

    func run(_ operation: String, _ key: String?, _ query: PostgresQuery) async throws -> PostgresQueryResult {
        let connection: PostgresConnection
        do {
            connection = try await link.connection()
        } catch {
            throw Self.failure(error, endpoint: endpoint, operation: operation, key: key, connecting: true)
        }
        do {
            statementsSent.add(1, ordering: .relaxed)
            return try await Self.withDeadline(queryTimeout, connection: connection) {
                try await connection.query(query, logger: self.link.logger).get()
            }
        } catch {
            if link.isConnectionLost(error) { link.drop(connection) }
            if let psql = error as? PSQLError, psql.serverInfo?[.sqlState] == "MLC01" { throw BatchConflict() }
            throw Self.failure(error, endpoint: endpoint, operation: operation, key: key, connecting: false)
        }
    }

    struct TimedOut: Error {}

    /// Runs `body`; past `timeout` closes the connection (which fails the query in flight) and throws `TimedOut`.
    private static func withDeadline<T: Sendable>(
        _ timeout: Duration, connection: PostgresConnection, _ body: @escaping @Sendable () async throws -> T
    ) async throws -> T {
        try await withThrowingTaskGroup(of: T?.self) { group in
            group.addTask { try await body() }
            group.addTask {
                try await Task.sleep(for: timeout)
                connection.close().whenComplete { _ in }
                return nil
            }
            defer { group.cancelAll() }
            guard let first = try await group.next(), let value = first else { throw TimedOut() }
            return value
        }
    }

    private func version(_ result: PostgresQueryResult, _ operation: String) throws -> Int64? {
        guard let row = result.rows.first else { return nil }
        do {
            return try row.decode(Int64.self)
        } catch {
            throw unexpected(operation)
        }
    }

    func unexpected(_ operation: String) -> ConnectorError {
        ConnectorError(
            .stateCorrupt, "the PostgreSQL store at \(endpoint) answered \(operation) with an unexpected row")
    }

    // MARK: - StateStore

    package func get(_ key: String) async throws -> StoredValue? {
        let result = try await run(
            "a read", key,
            "SELECT t.value, t.version, t.expires_at FROM \(unescaped: table) AS t WHERE t.key = \(key)::text AND \(unescaped: live)"
        )
        guard let row = result.rows.first else { return nil }
        do {
            let (data, version, expiresAt) = try row.decode((Data, Int64, Date?).self)
            return StoredValue(data: data, version: version, expiresAt: expiresAt)
        } catch {
            throw unexpected("a read")
        }
    }

    /// One statement: one round trip, one snapshot.
    package func getMany(_ keys: [String]) async throws -> [StoredValue?] {
        guard let first = keys.first else { return [] }
        let result = try await run(
            "a read", first,
            "SELECT t.key, t.value, t.version, t.expires_at FROM \(unescaped: table) AS t WHERE t.key = ANY(\(keys)::text[]) AND \(unescaped: live)"
        )
        var found: [String: StoredValue] = [:]
        do {
            for row in result.rows {
                let (key, data, version, expiresAt) = try row.decode((String, Data, Int64, Date?).self)
                found[key] = StoredValue(data: data, version: version, expiresAt: expiresAt)
            }
        } catch {
            throw unexpected("a read")
        }
        return keys.map { found[$0] }
    }

    @discardableResult
    package func put(_ key: String, _ value: Data, ttl: Duration?) async throws -> Int64 {
        let result = try await run(
            "a write", key,
            """
            INSERT INTO \(unescaped: table) AS t (key, value, version, expires_at)
            VALUES (\(key)::text, \(ByteBuffer(bytes: value))::bytea, \(unescaped: nextVersion),
                now() + \(Self.milliseconds(ttl))::bigint * interval '1 millisecond')
            ON CONFLICT (key) DO UPDATE
                SET value = EXCLUDED.value, version = t.version + 1, expires_at = EXCLUDED.expires_at
            RETURNING t.version
            """)
        guard let version = try version(result, "a write") else { throw unexpected("a write") }
        return version
    }

    package func putIfAbsent(_ key: String, _ value: Data, ttl: Duration?) async throws -> Int64? {
        let result = try await run(
            "a claim", key,
            """
            INSERT INTO \(unescaped: table) AS t (key, value, version, expires_at)
            VALUES (\(key)::text, \(ByteBuffer(bytes: value))::bytea, \(unescaped: nextVersion),
                now() + \(Self.milliseconds(ttl))::bigint * interval '1 millisecond')
            ON CONFLICT (key) DO UPDATE
                SET value = EXCLUDED.value, version = t.version + 1, expires_at = EXCLUDED.expires_at
                WHERE \(unescaped: expired)
            RETURNING t.version
            """)
        return try version(result, "a claim")
    }

    package func compareAndSwap(_ key: String, expectedVersion: Int64, newValue: Data, ttl: Duration?) async throws
        -> Int64?
    {
        let result = try await run(
            "a compare-and-swap", key,
            """
            UPDATE \(unescaped: table) AS t
            SET value = \(ByteBuffer(bytes: newValue))::bytea, version = t.version + 1,
                expires_at = now() + \(Self.milliseconds(ttl))::bigint * interval '1 millisecond'
            WHERE t.key = \(key)::text AND t.version = \(expectedVersion)::bigint AND \(unescaped: live)
            RETURNING t.version
            """)
        return try version(result, "a compare-and-swap")
    }

    @discardableResult
    package func delete(_ key: String) async throws -> Bool {
        // An expired row is removed too, but reported absent.
        let result = try await run(
            "a delete", key,
            """
            WITH gone AS (DELETE FROM \(unescaped: table) AS t WHERE t.key = \(key)::text RETURNING t.expires_at)
            SELECT count(*)::bigint FROM gone AS t WHERE \(unescaped: live)
            """)
        return try (version(result, "a delete") ?? 0) > 0
    }

    package func delete(_ key: String, expectedVersion: Int64) async throws -> Bool {
        let result = try await run(
            "a delete", key,
            """
            DELETE FROM \(unescaped: table) AS t
            WHERE t.key = \(key)::text AND t.version = \(expectedVersion)::bigint AND \(unescaped: live)
            RETURNING t.version
            """)
        return try version(result, "a delete") != nil
    }

    /// The counter's text is the row's value; the server parses it as a bigint (refusing text that is not one) and
    /// refuses a 64-bit overflow. An existing live counter keeps its expiry; an absent or expired one starts at
    /// `delta` with `ttl`.
    package func increment(_ key: String, by delta: Int64, ttl: Duration?) async throws -> Int64 {
        let result = try await run(
            "an increment", key,
            """
            INSERT INTO \(unescaped: table) AS t (key, value, version, expires_at)
            VALUES (\(key)::text, convert_to(\(delta)::bigint::text, 'UTF8'), \(unescaped: nextVersion),
                now() + \(Self.milliseconds(ttl))::bigint * interval '1 millisecond')
            ON CONFLICT (key) DO UPDATE SET
                value = CASE WHEN \(unescaped: expired) THEN EXCLUDED.value
                    ELSE convert_to((convert_from(t.value, 'UTF8')::bigint + \(delta)::bigint)::text, 'UTF8') END,
                version = t.version + 1,
                expires_at = CASE WHEN \(unescaped: expired) THEN EXCLUDED.expires_at ELSE t.expires_at END
            RETURNING convert_from(t.value, 'UTF8')::bigint
            """)
        guard let value = try version(result, "an increment") else { throw unexpected("an increment") }
        return value
    }

    package func scan(prefix: String, after: String?, limit: Int) async throws -> [StoredEntry] {
        guard limit > 0 else { return [] }
        // Unnamed statements are planned with their parameters, so the NULL tests fold away and the primary key's
        // index serves the range.
        let query: PostgresQuery = """
            SELECT t.key, t.value, t.version, t.expires_at FROM \(unescaped: table) AS t
            WHERE t.key >= \(prefix)::text COLLATE "C"
                AND (\(Self.upperBound(of: prefix))::text IS NULL OR t.key < $2::text COLLATE "C")
                AND (\(after)::text IS NULL OR t.key > $3::text COLLATE "C")
                AND \(unescaped: live)
            ORDER BY t.key COLLATE "C" LIMIT \(Int64(limit))::bigint
            """
        let result = try await run("a scan", prefix, query)
        do {
            return try result.rows.map { row in
                let (key, data, version, expiresAt) = try row.decode((String, Data, Int64, Date?).self)
                return StoredEntry(key: key, value: StoredValue(data: data, version: version, expiresAt: expiresAt))
            }
        } catch {
            throw unexpected("a scan")
        }
    }

    /// The smallest string greater than every string starting with `prefix` in byte (code point) order: the prefix
    /// with its last scalar raised by one (UTF-8 keeps scalar order and no encoding is a prefix of another); nil
    /// for the empty prefix or one made only of U+10FFFF.
    static func upperBound(of prefix: String) -> String? {
        var scalars = Array(prefix.unicodeScalars)
        while let last = scalars.popLast() {
            var next = last.value + 1
            if next == 0xD800 { next = 0xE000 }
            if let scalar = Unicode.Scalar(next) {
                scalars.append(scalar)
                var result = ""
                result.unicodeScalars.append(contentsOf: scalars)
                return result
            }
        }
        return nil
    }

    /// One statement: every item or none, whatever the others read meanwhile. A key given twice keeps its last value.
    package func putAll(_ items: [(key: String, value: Data, ttl: Duration?)]) async throws {
        guard !items.isEmpty else { return }
        var position: [String: Int] = [:]
        var keys: [String] = []
        var values: [ByteBuffer] = []
        var ttls: [Int64] = []
        for item in items {
            let ttl = Self.milliseconds(item.ttl) ?? -1
            if let index = position[item.key] {
                values[index] = ByteBuffer(bytes: item.value)
                ttls[index] = ttl
            } else {
                position[item.key] = keys.count
                keys.append(item.key)
                values.append(ByteBuffer(bytes: item.value))
                ttls.append(ttl)
            }
        }
        _ = try await run(
            "a batch write", items[0].key,
            """
            INSERT INTO \(unescaped: table) AS t (key, value, version, expires_at)
            SELECT i.k, i.v, \(unescaped: nextVersion),
                CASE WHEN i.ms < 0 THEN NULL ELSE now() + i.ms * interval '1 millisecond' END
            FROM unnest(\(keys)::text[], \(values)::bytea[], \(ttls)::bigint[]) AS i(k, v, ms)
            ON CONFLICT (key) DO UPDATE
                SET value = EXCLUDED.value, version = t.version + 1, expires_at = EXCLUDED.expires_at
            """)
    }

    struct BatchConflict: Error {}

    /// One call of `<table>_commit`: one statement, one round trip, all or nothing.
    package func commit(_ writes: [StoreWrite]) async throws -> [Int64]? {
        guard let first = writes.first else { return [] }
        var kinds: [String] = []
        var keys: [String] = []
        var values: [ByteBuffer] = []
        var ttls: [Int64] = []
        var expected: [Int64] = []
        var prefixes: [String] = []
        for write in writes {
            var value = Data()
            var ttl: Duration?
            var version: Int64 = 0
            var prefix = ""
            let kind: String
            switch write {
            case .put(_, let data, let life):
                (kind, value, ttl) = ("put", data, life)
            case .putIfAbsent(_, let data, let life):
                (kind, value, ttl) = ("add", data, life)
            case .compareAndSwap(_, let expectedVersion, let data, let life):
                (kind, value, ttl, version) = ("cas", data, life, expectedVersion)
            case .delete:
                kind = "del"
            case .deleteIf(_, let expectedVersion):
                (kind, version) = ("delif", expectedVersion)
            case .append(_, let appendPrefix, let data, let life):
                (kind, value, ttl, prefix) = ("append", data, life, appendPrefix)
            }
            kinds.append(kind)
            keys.append(write.key)
            values.append(ByteBuffer(bytes: value))
            ttls.append(Self.milliseconds(ttl) ?? -1)
            expected.append(version)
            prefixes.append(prefix)
        }
        let result: PostgresQueryResult
        do {
            result = try await run(
                "a batch write", first.key,
                """
                SELECT \(unescaped: commitFunction)(\(kinds)::text[], \(keys)::text[], \(values)::bytea[],
                    \(ttls)::bigint[], \(expected)::bigint[], \(prefixes)::text[])
                """)
        } catch is BatchConflict {
            return nil
        }
        guard let row = result.rows.first, let numbers = try? row.decode([Int64].self), numbers.count == writes.count
        else { throw unexpected("a batch write") }
        return numbers
    }

    /// Deletes up to `limit` expired rows (they are already invisible; this only reclaims space) and returns how
    /// many it deleted. Rows another session is writing are skipped, so a purge never waits on the steps.
    @discardableResult
    package func purgeExpired(limit: Int = 10_000) async throws -> Int {
        let result = try await run("a purge of expired entries", nil, purgeQuery(limit: Int64(max(1, limit))))
        return result.metadata.rows ?? 0
    }

    package func close() async throws {
        await link.close()
    }

    // MARK: - Errors

    /// A `ConnectorError` naming the backend, the server (`user@host:port/database`, never the password) and what
    /// to check; every text from the server or the library passes through `redact`.
    static func failure(
        _ error: any Error, endpoint: PostgresEndpoint, operation: String, key: String?, connecting: Bool
    ) -> ConnectorError {
        if let error = error as? ConnectorError {
            return ConnectorError(
                error.code, kind: error.kind, endpoint.redact(error.message), retryAt: error.retryAt)
        }
        let at = "the PostgreSQL store at \(endpoint)"
        let subject = key.map { " of \($0.prefix(200))" } ?? ""
        func make(_ kind: ConnectorError.Kind?, _ text: String, code: ConnectorError.Code = .stateUnavailable)
            -> ConnectorError
        {
            ConnectorError(code, kind: kind, endpoint.redact(text))
        }
        if error is TimedOut {
            return make(
                .temporary,
                "\(at) did not answer \(operation)\(subject) in time; check that the server is up and reachable and not overloaded. The operation may or may not have been applied; the next one connects again"
            )
        }
        guard let psql = error as? PSQLError else {
            return make(
                nil,
                "\(at) failed \(operation)\(subject): \(endpoint.redact(String(describing: error)).prefix(200)); check MLC_STATE and the server"
            )
        }
        if let info = psql.serverInfo, let state = info[.sqlState] {
            // Redacted before it is cut, so no prefix of the password survives the cut.
            let message = endpoint.redact(info[.message] ?? "no message").prefix(200)
            switch state {
            case "28P01", "28000":
                return make(
                    .configuration,
                    "\(at) refused the credentials (\(message)); check the user and password in MLC_STATE")
            case "3D000":
                return make(
                    .configuration,
                    "\(at) has no such database (\(message)); create it (`createdb`) or fix the /database in MLC_STATE")
            case "42P01":
                return make(
                    .configuration,
                    "\(at) has no ml-connector table (\(message)); `local-runner connections add` with this MLC_STATE creates it"
                )
            case "42501":
                return make(
                    .configuration,
                    "\(at) refused \(operation) (\(message)); the user in MLC_STATE needs SELECT, INSERT, UPDATE and DELETE on the store's tables and EXECUTE on its batch function (CREATE on the schema to create them)"
                )
            case "25006":
                return make(
                    .configuration, "\(at) is opened read-only here and refused \(operation)\(subject) (\(message))")
            case let state where operation == "an increment" && ["22P02", "22021", "22003"].contains(state):
                return make(
                    nil,
                    state == "22003"
                        ? "counter \(key ?? "") overflowed (\(at))"
                        : "\(key ?? "the key") does not hold an integer counter (\(at))",
                    code: .stateCorrupt)
            case "22021", "22P05":
                return make(
                    .badInput,
                    "\(at) refused \(operation)\(subject): keys must be UTF-8 text without NUL characters (\(message))")
            default:
                // Connection exceptions, insufficient resources, an operator or crash shutdown, serialization and
                // deadlock failures, a lock not available: worth retrying.
                let passing =
                    state.hasPrefix("08") || state.hasPrefix("53") || state.hasPrefix("57P")
                    || ["40001", "40P01", "55P03", "55006"].contains(state)
                return make(
                    passing ? .temporary : nil,
                    "\(at) failed \(operation)\(subject): \(message) (SQLSTATE \(state)); check the server's log")
            }
        }
        let reason = psql.underlying.map { endpoint.redact(String(describing: $0)).prefix(200) } ?? "\(psql.code)"
        switch psql.code {
        case .sslUnsupported:
            return make(
                .configuration,
                "\(at) does not offer TLS, but MLC_STATE asks sslmode=require; enable ssl on the server or use sslmode=disable on a trusted network"
            )
        case .failedToAddSSLHandler, .receivedUnencryptedDataAfterSSLRequest:
            return make(.configuration, "\(at): the TLS handshake failed (\(reason)); check the server's certificate")
        case .authMechanismRequiresPassword:
            return make(
                .configuration,
                "\(at) wants a password; put it in MLC_STATE (postgres://user:password@host:port/database)")
        case .unsupportedAuthMechanism, .saslError:
            return make(
                .configuration,
                "\(at) asked for a login method this client does not speak or refused the SCRAM exchange (\(reason)); use scram-sha-256, md5 or password in pg_hba.conf and check the password in MLC_STATE"
            )
        default:
            break
        }
        if connecting {
            return make(
                .temporary,
                "cannot connect to \(at) (\(reason)); check that PostgreSQL runs there, listens on that address (listen_addresses, pg_hba.conf) and MLC_STATE names its host and port"
            )
        }
        if let tls = psql.underlying as? NIOSSLError {
            return make(.configuration, "\(at): TLS failed (\(tls)); check the server's certificate")
        }
        return make(
            .temporary,
            "lost the connection to \(at) during \(operation)\(subject) (\(reason)); check that PostgreSQL is running and reachable. The operation may or may not have been applied; the next one connects again"
        )
    }
}

/// The store's one connection: made on open, replaced after it is lost (every caller waiting for a replacement
/// shares the same attempt).
final class PostgresLink: Sendable {
    let endpoint: PostgresEndpoint
    let logger: Logger
    private let readOnly: Bool
    private let connectTimeout: Duration
    private let current = Mutex<EventLoopFuture<PostgresConnection>?>(nil)
    private let made = Mutex(0)
    private let ids = Mutex(0)

    init(endpoint: PostgresEndpoint, readOnly: Bool, connectTimeout: Duration) {
        self.endpoint = endpoint
        self.readOnly = readOnly
        self.connectTimeout = connectTimeout
        var logger = Logger(label: "mlc.state.postgres")
        logger.logLevel = .critical
        self.logger = logger
    }

    var connectionsMade: Int { made.withLock { $0 } }

    /// A store released without `close()` (an error path) still closes its connection.
    deinit {
        let future = current.withLock { current -> EventLoopFuture<PostgresConnection>? in
            defer { current = nil }
            return current
        }
        future?.whenSuccess { connection in connection.close().whenComplete { _ in } }
    }

    private func configuration() throws -> PostgresConnection.Configuration {
        let tls: PostgresConnection.Configuration.TLS =
            switch endpoint.tls {
            case .disable: .disable
            case .require: .require(try NIOSSLContext(configuration: .makeClientConfiguration()))
            }
        var configuration = PostgresConnection.Configuration(
            host: endpoint.host, port: endpoint.port, username: endpoint.user, password: endpoint.password,
            database: endpoint.database, tls: tls)
        let parts = connectTimeout.components
        configuration.options.connectTimeout = .milliseconds(
            parts.seconds * 1000 + parts.attoseconds / 1_000_000_000_000_000)
        var parameters = [("application_name", "ml-connector")]
        if readOnly { parameters.append(("default_transaction_read_only", "on")) }
        configuration.options.additionalStartupParameters = parameters
        return configuration
    }

    private func start() -> EventLoopFuture<PostgresConnection> {
        let eventLoop = PostgresConnection.defaultEventLoopGroup.any()
        let id = ids.withLock { count in
            count += 1
            return count
        }
        let future: EventLoopFuture<PostgresConnection>
        do {
            future = PostgresConnection.connect(
                on: eventLoop, configuration: try configuration(), id: id, logger: logger)
        } catch {
            return eventLoop.makeFailedFuture(error)
        }
        // Registered before any caller waits, so the count is up to date when a caller gets the connection.
        future.whenSuccess { _ in self.made.withLock { $0 += 1 } }
        return future
    }

    /// The open connection, or a new one when it was lost.
    func connection() async throws -> PostgresConnection {
        for _ in 0..<2 {
            let future = current.withLock { current in
                if let current { return current }
                let fresh = start()
                current = fresh
                return fresh
            }
            let connection: PostgresConnection
            do {
                connection = try await future.get()
            } catch {
                current.withLock { if $0 === future { $0 = nil } }
                throw error
            }
            if !connection.isClosed { return connection }
            current.withLock { if $0 === future { $0 = nil } }
        }
        throw ConnectorError(
            .stateUnavailable, kind: .temporary,
            "cannot connect to the PostgreSQL store at \(endpoint): every new connection closed at once; check the server's log"
        )
    }

    /// Whether `error` leaves the connection unusable: a deadline (which closed it), a connection-level failure, or a
    /// server error of the connection-exception or operator-intervention classes. A statement the server refused
    /// (a constraint, a bad value) keeps the connection.
    func isConnectionLost(_ error: any Error) -> Bool {
        guard let psql = error as? PSQLError else { return error is PostgresStateStore.TimedOut }
        if let state = psql.serverInfo?[.sqlState] { return state.hasPrefix("08") || state.hasPrefix("57P") }
        return true
    }

    /// Closes `connection`, so the next call connects again.
    func drop(_ connection: PostgresConnection) {
        if !connection.isClosed { connection.close().whenComplete { _ in } }
    }

    func close() async {
        let future = current.withLock { current -> EventLoopFuture<PostgresConnection>? in
            defer { current = nil }
            return current
        }
        if let connection = try? await future?.get() { try? await connection.close() }
    }
}
