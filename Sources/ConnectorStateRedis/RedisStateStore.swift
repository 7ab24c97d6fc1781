import ConnectorCore
import Foundation
import Synchronization

/// A `StateStore` on a Redis server, for steps running as many processes on many machines.
///
/// Layout under a namespace `ns` (default `mlc`): each entry is a hash `ns:k:<key>` with fields `d` (the bytes),
/// `v` (its version) and `x` (expiry, Unix milliseconds, when it has one); `ns:index` is a sorted set of all keys
/// (score 0, so `ZRANGEBYLEX` walks them in byte order) for prefix scans. Every write is one Lua script that takes
/// the key's next version, writes the hash, sets the server-side expiry (`PEXPIREAT`, so entries expire by the
/// server's clock) and maintains the index, atomically. Expired keys vanish on their own; their index members are
/// removed lazily by the next scan that meets them.
///
/// Versions grow per key (`HINCRBY` on the entry's `v`, 64-bit on the server); there is no store-wide counter that
/// every write would go through. A key created afresh starts at the server's `TIME` in microseconds × 1000 plus
/// three random digits the client sends (`StoreVersion`), so a deleted and re-created key does not give a stale
/// compare-and-swap holder its old version back. Versions travel as decimal text (Lua numbers are doubles and would
/// round them).
package final class RedisStateStore: StateStore {
    let connection: RedisConnection
    let namespace: String
    package var endpoint: RedisEndpoint { connection.endpoint }
    /// Commands this client has sent to the server so far (each one network round trip), for measurements.
    package var roundTrips: Int { connection.commandsSent.load(ordering: .relaxed) }

    /// Connects to `endpoint` now (on the connection's own queue, never blocking the cooperative pool), so a wrong
    /// address or password fails when the store is opened. `namespace` separates several stores on one server (tests
    /// use one each).
    package init(endpoint: RedisEndpoint, namespace: String = "mlc", commandTimeout: Duration = .seconds(15))
        async throws
    {
        connection = RedisConnection(endpoint: endpoint, commandTimeout: commandTimeout)
        self.namespace = namespace
        try await connection.connect()
    }

    var indexKey: String { namespace + ":index" }
    private var entryPrefix: String { namespace + ":k:" }
    func entryKey(_ key: String) -> String { entryPrefix + key }

    static func ttlArgument(_ ttl: Duration?) -> Data {
        guard let ttl else { return Data() }
        let parts = ttl.components
        let milliseconds = max(1, parts.seconds * 1000 + parts.attoseconds / 1_000_000_000_000_000)
        return Data(String(milliseconds).utf8)
    }

    // MARK: - Scripts

    /// Shared by the write scripts: `write(entryKey, indexKey, key, data, ttlMilliseconds, freshDigits)` returns the
    /// new version as text. An existing entry's version goes up by one; a new one starts from the server's clock.
    static let prelude = """
        local function write(entry, index, key, data, ttl, fresh)
            if redis.call('EXISTS', entry) == 1 then
                redis.call('HINCRBY', entry, 'v', 1)
                redis.call('HDEL', entry, 'x')
                redis.call('PERSIST', entry)
                redis.call('HSET', entry, 'd', data)
            else
                local now = redis.call('TIME')
                redis.call('HSET', entry, 'd', data, 'v', now[1] .. string.format('%06d', tonumber(now[2])) .. fresh)
            end
            if ttl ~= '' then
                local now = redis.call('TIME')
                local at = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000) + tonumber(ttl)
                local text = string.format('%d', at)
                redis.call('HSET', entry, 'x', text)
                redis.call('PEXPIREAT', entry, text)
            end
            redis.call('ZADD', index, 0, key)
            return redis.call('HGET', entry, 'v')
        end

        """

    /// KEYS: entry, index. ARGV: key, data, ttl, fresh digits.
    private static let putScript = prelude + "return write(KEYS[1], KEYS[2], ARGV[1], ARGV[2], ARGV[3], ARGV[4])"

    private static let putIfAbsentScript =
        prelude + """
            if redis.call('EXISTS', KEYS[1]) == 1 then return false end
            return write(KEYS[1], KEYS[2], ARGV[1], ARGV[2], ARGV[3], ARGV[4])
            """

    /// ARGV[5]: the expected version.
    private static let compareAndSwapScript =
        prelude + """
            local current = redis.call('HGET', KEYS[1], 'v')
            if not current or current ~= ARGV[5] then return false end
            return write(KEYS[1], KEYS[2], ARGV[1], ARGV[2], ARGV[3], ARGV[4])
            """

    /// KEYS: entry, index. ARGV: key, expected version or ''.
    private static let deleteScript = """
        if ARGV[2] ~= '' then
            local current = redis.call('HGET', KEYS[1], 'v')
            if not current or current ~= ARGV[2] then return 0 end
        end
        local removed = redis.call('DEL', KEYS[1])
        redis.call('ZREM', KEYS[2], ARGV[1])
        return removed
        """

    /// KEYS: entry, index. ARGV: key, delta, ttl, fresh digits. The counter's text is the entry's data, so
    /// `HINCRBY` checks it is an integer and refuses a 64-bit overflow; an existing counter keeps its expiry.
    private static let incrementScript =
        prelude + """
            local created = false
            if redis.call('EXISTS', KEYS[1]) == 0 then
                write(KEYS[1], KEYS[2], ARGV[1], '0', ARGV[3], ARGV[4])
                created = true
            end
            local ok, err = pcall(redis.call, 'HINCRBY', KEYS[1], 'd', ARGV[2])
            if not ok then
                local text = tostring(err and (err.err or err) or 'error')
                if string.find(text, 'overflow', 1, true) then return redis.error_reply('MLC overflow') end
                return redis.error_reply('MLC notinteger')
            end
            if not created then redis.call('HINCRBY', KEYS[1], 'v', 1) end
            return redis.call('HGET', KEYS[1], 'd')
            """

    /// KEYS: index. ARGV: min, max, limit, entry prefix. Walks the index in byte order from `min`, skipping (and
    /// removing) members whose entry expired, until `limit` live entries are found. Returns key, data, version,
    /// expiry ('' for none) for each.
    private static let scanScript = """
        local found = {}
        local count = 0
        local limit = tonumber(ARGV[3])
        local from = ARGV[1]
        while count < limit do
            local batch = math.max(limit - count, 16)
            local members = redis.call('ZRANGEBYLEX', KEYS[1], from, ARGV[2], 'LIMIT', 0, batch)
            for _, member in ipairs(members) do
                local fields = redis.call('HMGET', ARGV[4] .. member, 'd', 'v', 'x')
                if fields[1] then
                    found[#found + 1] = member
                    found[#found + 1] = fields[1]
                    found[#found + 1] = fields[2]
                    found[#found + 1] = fields[3] or ''
                    count = count + 1
                    if count >= limit then break end
                else
                    redis.call('ZREM', KEYS[1], member)
                end
            end
            if #members < batch then break end
            from = '(' .. members[#members]
        end
        return found
        """

    /// KEYS: index, then one entry per item. ARGV: fresh digits, then key, data, ttl per item. One script: all or
    /// nothing for every reader (Redis runs a script alone), and one round trip.
    private static let putAllScript =
        prelude + """
            for i = 2, #KEYS do
                local base = (i - 2) * 3 + 1
                write(KEYS[i], KEYS[1], ARGV[base + 1], ARGV[base + 2], ARGV[base + 3], ARGV[1])
            end
            return #KEYS - 1
            """

    /// KEYS: index. ARGV: entry prefix, fresh digits, then six per write: kind, key, data, ttl, expected version,
    /// append prefix. Checks every condition first and writes nothing when one fails (Redis runs a script alone, so
    /// nobody sees part of it); then applies the writes in order. Answers false on a failed condition, else one text
    /// per write.
    static let commitScript =
        prelude + """
            local ns = ARGV[1]
            local fresh = ARGV[2]
            local count = (#ARGV - 2) / 6
            for i = 0, count - 1 do
                local b = 2 + i * 6
                local kind = ARGV[b + 1]
                local entry = ns .. ARGV[b + 2]
                if kind == 'add' then
                    if redis.call('EXISTS', entry) == 1 then return false end
                elseif kind == 'cas' or kind == 'delif' then
                    local current = redis.call('HGET', entry, 'v')
                    if not current or current ~= ARGV[b + 5] then return false end
                elseif kind == 'append' then
                    local current = redis.call('HGET', entry, 'd')
                    if current and not string.match(current, '^%-?%d+$') then
                        return redis.error_reply('MLC notinteger ' .. ARGV[b + 2])
                    end
                end
            end
            local results = {}
            for i = 0, count - 1 do
                local b = 2 + i * 6
                local kind = ARGV[b + 1]
                local key = ARGV[b + 2]
                local entry = ns .. key
                if kind == 'del' or kind == 'delif' then
                    local removed = redis.call('DEL', entry)
                    redis.call('ZREM', KEYS[1], key)
                    results[#results + 1] = tostring(removed)
                elseif kind == 'append' then
                    if redis.call('EXISTS', entry) == 0 then write(entry, KEYS[1], key, '0', '', fresh) end
                    local n = redis.call('HINCRBY', entry, 'd', 1)
                    redis.call('HINCRBY', entry, 'v', 1)
                    local target = ARGV[b + 6] .. string.format('%012d', n)
                    write(ns .. target, KEYS[1], target, ARGV[b + 3], ARGV[b + 4], fresh)
                    results[#results + 1] = string.format('%d', n)
                else
                    results[#results + 1] = write(entry, KEYS[1], key, ARGV[b + 3], ARGV[b + 4], fresh)
                end
            end
            return results
            """

    // MARK: - Replies

    func failure(_ message: String, _ operation: String, _ key: String) -> ConnectorError {
        if message.contains("MLC notinteger") {
            return ConnectorError(.stateCorrupt, "\(key) does not hold an integer counter")
        }
        if message.contains("MLC overflow") { return ConnectorError(.stateCorrupt, "counter \(key) overflowed") }
        if message.hasPrefix("NOAUTH") || message.hasPrefix("WRONGPASS") {
            return ConnectorError(
                .stateUnavailable, kind: .configuration,
                "the Redis store at \(endpoint) wants a password for \(operation); check the password in MLC_STATE")
        }
        // A loading, busy, full or read-only server is worth retrying; other errors keep the code's default kind.
        let passing = ["LOADING", "BUSY", "OOM", "READONLY", "MASTERDOWN", "TRYAGAIN"].contains {
            message.hasPrefix($0)
        }
        let kind: ConnectorError.Kind? = passing ? .temporary : nil
        return ConnectorError(
            .stateUnavailable, kind: kind,
            "the Redis store at \(endpoint) failed \(operation) of \(key.prefix(200)): \(endpoint.redact(message).prefix(200))"
        )
    }

    func run(_ operation: String, _ key: String, _ script: String, keys: [String], arguments: [Data])
        async throws -> RedisReply
    {
        let reply = try await connection.evaluate(script, keys: keys, arguments: arguments)
        if case .error(let message) = reply { throw failure(message, operation, key) }
        return reply
    }

    func unexpected(_ reply: RedisReply, _ operation: String) -> ConnectorError {
        ConnectorError(
            .stateCorrupt, "the Redis store at \(endpoint) answered \(operation) with an unexpected reply")
    }

    /// A version (decimal text from the write scripts), or nil for a refused write.
    func version(_ reply: RedisReply, _ operation: String) throws -> Int64? {
        switch reply {
        case .integer(let version): return version
        case .string(let text):
            guard let version = Self.integer(text) else { throw unexpected(reply, operation) }
            return version
        case .null: return nil
        default: throw unexpected(reply, operation)
        }
    }

    private static func integer(_ data: Data?) -> Int64? {
        data.flatMap { Int64(String(decoding: $0, as: UTF8.self)) }
    }

    private static func expiry(_ data: Data?) -> Date? {
        guard let milliseconds = integer(data) else { return nil }
        return Date(timeIntervalSince1970: TimeInterval(milliseconds) / 1000)
    }

    // MARK: - StateStore

    package func get(_ key: String) async throws -> StoredValue? {
        let reply = try await connection.command(
            ["HMGET", entryKey(key), "d", "v", "x"].map { Data($0.utf8) })
        switch reply {
        case .array(let fields) where fields.count == 3:
            guard case .string(let data) = fields[0] else { return nil }
            guard case .string(let versionText) = fields[1], let version = Self.integer(versionText) else {
                throw unexpected(reply, "a read")
            }
            let expiry: Date? =
                if case .string(let text) = fields[2] { Self.expiry(text) } else { nil }
            return StoredValue(data: data, version: version, expiresAt: expiry)
        case .error(let message): throw failure(message, "a read", key)
        default: throw unexpected(reply, "a read")
        }
    }

    /// KEYS: the entries. Answers data, version and expiry ('' for none, false for an absent key) per key.
    private static let getManyScript = """
        local found = {}
        for i = 1, #KEYS do
            local fields = redis.call('HMGET', KEYS[i], 'd', 'v', 'x')
            found[#found + 1] = fields[1]
            found[#found + 1] = fields[2]
            found[#found + 1] = fields[3] or ''
        end
        return found
        """

    /// One script: one round trip, one consistent view.
    package func getMany(_ keys: [String]) async throws -> [StoredValue?] {
        guard let first = keys.first else { return [] }
        let reply = try await run("a read", first, Self.getManyScript, keys: keys.map(entryKey), arguments: [])
        guard case .array(let items) = reply, items.count == keys.count * 3 else { throw unexpected(reply, "a read") }
        return try stride(from: 0, to: items.count, by: 3).map { start -> StoredValue? in
            guard case .string(let data) = items[start] else { return nil }
            guard case .string(let versionText) = items[start + 1], let version = Self.integer(versionText) else {
                throw unexpected(reply, "a read")
            }
            let expiry: Date? = if case .string(let text) = items[start + 2] { Self.expiry(text) } else { nil }
            return StoredValue(data: data, version: version, expiresAt: expiry)
        }
    }

    @discardableResult
    package func put(_ key: String, _ value: Data, ttl: Duration?) async throws -> Int64 {
        let reply = try await run(
            "a write", key, Self.putScript, keys: [entryKey(key), indexKey],
            arguments: [Data(key.utf8), value, Self.ttlArgument(ttl), Self.freshDigits()])
        guard let version = try version(reply, "a write") else { throw unexpected(reply, "a write") }
        return version
    }

    package func putIfAbsent(_ key: String, _ value: Data, ttl: Duration?) async throws -> Int64? {
        let reply = try await run(
            "a claim", key, Self.putIfAbsentScript, keys: [entryKey(key), indexKey],
            arguments: [Data(key.utf8), value, Self.ttlArgument(ttl), Self.freshDigits()])
        return try version(reply, "a claim")
    }

    package func compareAndSwap(_ key: String, expectedVersion: Int64, newValue: Data, ttl: Duration?) async throws
        -> Int64?
    {
        let reply = try await run(
            "a compare-and-swap", key, Self.compareAndSwapScript, keys: [entryKey(key), indexKey],
            arguments: [
                Data(key.utf8), newValue, Self.ttlArgument(ttl), Self.freshDigits(), Data(String(expectedVersion).utf8),
            ])
        return try version(reply, "a compare-and-swap")
    }

    @discardableResult
    package func delete(_ key: String) async throws -> Bool {
        let reply = try await run(
            "a delete", key, Self.deleteScript, keys: [entryKey(key), indexKey], arguments: [Data(key.utf8), Data()])
        return try version(reply, "a delete").map { $0 > 0 } ?? false
    }

    package func delete(_ key: String, expectedVersion: Int64) async throws -> Bool {
        let reply = try await run(
            "a delete", key, Self.deleteScript, keys: [entryKey(key), indexKey],
            arguments: [Data(key.utf8), Data(String(expectedVersion).utf8)])
        return try version(reply, "a delete").map { $0 > 0 } ?? false
    }

    package func increment(_ key: String, by delta: Int64, ttl: Duration?) async throws -> Int64 {
        let reply = try await run(
            "an increment", key, Self.incrementScript, keys: [entryKey(key), indexKey],
            arguments: [Data(key.utf8), Data(String(delta).utf8), Self.ttlArgument(ttl), Self.freshDigits()])
        guard case .string(let text) = reply, let value = Self.integer(text) else {
            throw unexpected(reply, "an increment")
        }
        return value
    }

    package func scan(prefix: String, after: String?, limit: Int) async throws -> [StoredEntry] {
        guard limit > 0 else { return [] }
        var minimum = "[" + prefix
        if let after, !Array(after.utf8).lexicographicallyPrecedes(Array(prefix.utf8)) {
            minimum = "(" + after
        }
        // No UTF-8 key contains the byte 0xFF, so every key with the prefix sorts before prefix + 0xFF.
        var maximum = Data("[".utf8) + Data(prefix.utf8)
        maximum.append(0xFF)
        let reply = try await run(
            "a scan", prefix, Self.scanScript, keys: [indexKey],
            arguments: [
                Data(minimum.utf8), prefix.isEmpty ? Data("+".utf8) : maximum, Data(String(limit).utf8),
                Data(entryPrefix.utf8),
            ])
        guard case .array(let items) = reply, items.count % 4 == 0 else { throw unexpected(reply, "a scan") }
        var entries: [StoredEntry] = []
        entries.reserveCapacity(items.count / 4)
        for start in stride(from: 0, to: items.count, by: 4) {
            guard case .string(let key) = items[start], case .string(let data) = items[start + 1],
                case .string(let versionText) = items[start + 2], let version = Self.integer(versionText)
            else { throw unexpected(reply, "a scan") }
            let expiry: Date? = if case .string(let text) = items[start + 3] { Self.expiry(text) } else { nil }
            entries.append(
                StoredEntry(
                    key: String(decoding: key, as: UTF8.self),
                    value: StoredValue(data: data, version: version, expiresAt: expiry)))
        }
        return entries
    }

    package func putAll(_ items: [(key: String, value: Data, ttl: Duration?)]) async throws {
        guard !items.isEmpty else { return }
        var arguments: [Data] = [Self.freshDigits()]
        arguments.reserveCapacity(items.count * 3 + 1)
        for item in items { arguments += [Data(item.key.utf8), item.value, Self.ttlArgument(item.ttl)] }
        _ = try await run(
            "a batch write", items[0].key, Self.putAllScript,
            keys: [indexKey] + items.map { entryKey($0.key) }, arguments: arguments)
    }

    /// One Lua script: one round trip, all or nothing.
    package func commit(_ writes: [StoreWrite]) async throws -> [Int64]? {
        guard let first = writes.first else { return [] }
        var arguments: [Data] = [Data(entryPrefix.utf8), Self.freshDigits()]
        arguments.reserveCapacity(writes.count * 6 + 2)
        for write in writes {
            let key = Data(write.key.utf8)
            switch write {
            case .put(_, let value, let ttl):
                arguments += [Data("put".utf8), key, value, Self.ttlArgument(ttl), Data(), Data()]
            case .putIfAbsent(_, let value, let ttl):
                arguments += [Data("add".utf8), key, value, Self.ttlArgument(ttl), Data(), Data()]
            case .compareAndSwap(_, let expected, let value, let ttl):
                arguments += [
                    Data("cas".utf8), key, value, Self.ttlArgument(ttl), Data(String(expected).utf8), Data(),
                ]
            case .delete:
                arguments += [Data("del".utf8), key, Data(), Data(), Data(), Data()]
            case .deleteIf(_, let expected):
                arguments += [Data("delif".utf8), key, Data(), Data(), Data(String(expected).utf8), Data()]
            case .append(_, let prefix, let value, let ttl):
                arguments += [Data("append".utf8), key, value, Self.ttlArgument(ttl), Data(), Data(prefix.utf8)]
            }
        }
        let reply = try await connection.evaluate(Self.commitScript, keys: [indexKey], arguments: arguments)
        switch reply {
        case .null: return nil
        case .error(let message):
            if message.contains("MLC notinteger") {
                let key = message.components(separatedBy: "MLC notinteger ").last ?? first.key
                throw ConnectorError(.stateCorrupt, "\(key.prefix(200)) does not hold an integer counter")
            }
            throw failure(message, "a batch write", first.key)
        case .array(let items) where items.count == writes.count:
            return try items.map { item in
                guard let value = try version(item, "a batch write") else { throw unexpected(reply, "a batch write") }
                return value
            }
        default:
            throw unexpected(reply, "a batch write")
        }
    }

    /// The random low digits of a fresh key's first version (`StoreVersion`).
    static func freshDigits() -> Data { Data(StoreVersion.randomDigits().utf8) }

    /// KEYS: index. ARGV: after ('' from the start), limit, entry prefix. Removes the index members whose entry the
    /// server expired, among the next `limit` members; returns the number removed and the last member looked at.
    private static let purgeScript = """
        local from = ARGV[1] == '' and '-' or ('(' .. ARGV[1])
        local members = redis.call('ZRANGEBYLEX', KEYS[1], from, '+', 'LIMIT', 0, tonumber(ARGV[2]))
        local removed = 0
        for _, member in ipairs(members) do
            if redis.call('EXISTS', ARGV[3] .. member) == 0 then
                redis.call('ZREM', KEYS[1], member)
                removed = removed + 1
            end
        end
        return {removed, members[#members] or ''}
        """

    /// Redis expires entries by itself (`PEXPIREAT`); what stays behind are their members in the key index. Walks
    /// the whole index in slices of 500 and removes those, up to `limit`.
    package func purgeExpired(limit: Int) async throws -> Int {
        var removed = 0
        var after = ""
        while removed < limit {
            let reply = try await run(
                "a purge", "", Self.purgeScript, keys: [indexKey],
                arguments: [Data(after.utf8), Data(String(min(500, limit - removed)).utf8), Data(entryPrefix.utf8)])
            guard case .array(let items) = reply, items.count == 2, case .integer(let count) = items[0],
                case .string(let last) = items[1]
            else { throw unexpected(reply, "a purge") }
            removed += Int(count)
            if last.isEmpty { break }
            after = String(decoding: last, as: UTF8.self)
        }
        return removed
    }

    package func close() async throws {
        await connection.close()
    }
}
