import ConnectorCore
import Foundation

extension RedisStateStore: WorkQueueProviding {
    package func workQueueBackend(name: String) -> any WorkQueueBackend {
        RedisWorkQueue(store: self, name: name)
    }

    /// The consumers the group of one step's lane knows (for checks and operators).
    package func queueConsumers(name: String, step: String) async throws -> [String] {
        let stream = namespace + ":q:" + name + ":" + step + ":s"
        let reply = try await connection.command(
            ["XINFO", "CONSUMERS", stream, RedisWorkQueue.group].map { Data($0.utf8) })
        guard case .array(let consumers) = reply else { return [] }
        return consumers.compactMap { consumer -> String? in
            guard case .array(let fields) = consumer else { return nil }
            for index in stride(from: 0, to: fields.count - 1, by: 2) {
                if case .string(let key) = fields[index], key == Data("name".utf8),
                    case .string(let value) = fields[index + 1]
                {
                    return String(decoding: value, as: UTF8.self)
                }
            }
            return nil
        }
    }
}

/// The work queue on Redis Streams: per step a stream `ns:q:<name>:<step>:s` read by the consumer group `workers`
/// (`XREADGROUP` hands each entry to one consumer and keeps it in the group's pending list until `XACK`); a dead
/// consumer's entries are taken over with `XAUTOCLAIM` once they sat idle longer than the visibility timeout. An
/// entry holds its item's connection and `notBefore`; the item itself sits in the hash `…:b` under the entry's id,
/// so claims fair across connections scan entries without reading items. Delayed items wait in a sorted set `…:z`
/// (member: the item id, score: `notBefore` in Unix milliseconds; bodies in the hash `…:p`) and are moved into the
/// stream by the claim script when due. Every operation is one Lua script,
/// so a move, a claim, an ack or a release is atomic, and time is the server's (`TIME`).
package struct RedisWorkQueue: SingleTripQueueing {
    let store: RedisStateStore
    let base: String
    static let group = "workers"

    init(store: RedisStateStore, name: String) {
        self.store = store
        self.base = store.namespace + ":q:" + name
    }

    private var stepsKey: String { base + ":steps" }
    private func keys(_ step: String) -> [String] {
        let lane = base + ":" + step
        return [lane + ":s", lane + ":z", lane + ":p", lane + ":b"]
    }

    private static func milliseconds(_ date: Date) -> Data {
        Data(String(max(0, Int64((date.timeIntervalSince1970 * 1000).rounded(.down)))).utf8)
    }

    private static func milliseconds(_ duration: Duration) -> Data {
        let parts = duration.components
        return Data(String(max(1, parts.seconds * 1000 + parts.attoseconds / 1_000_000_000_000_000)).utf8)
    }

    // MARK: - Scripts

    /// Shared by every script. A lane's keys, in this order: `s` the stream, `z` the delayed set, `p` the delayed
    /// items' bodies (by item id), `b` the stream entries' bodies (by stream id).
    /// - A stream entry's fields: `c` the item's connection (`''` for none), `t` its `notBefore` (Unix ms); its body
    ///   sits in `b` under the entry's id, so a fair claim scans connections and ages without reading items. Entries
    ///   of older versions carry the body in `d` (and no `c` or `t`), and are read as they are.
    /// - `now()`: server milliseconds. `put(lane, id, body, notBefore, connection)`: a new item, into the stream when
    ///   due, else into the delayed set. `append(lane, body, connection, t)`: a new stream entry. `body(lane, id,
    ///   fields)`, `drop(lane, id)`: an entry's body; an entry and its body gone.
    private static let prelude = """
        local function now()
            local t = redis.call('TIME')
            return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
        end
        local function field(fields, name)
            for i = 1, #fields - 1, 2 do
                if fields[i] == name then return fields[i + 1] end
            end
            return nil
        end
        local function connectionOf(body)
            local ok, item = pcall(cjson.decode, body)
            if ok and type(item) == 'table' and type(item.event) == 'table'
                and type(item.event.connection) == 'string' then
                return item.event.connection
            end
            return ''
        end
        local function append(lane, body, connection, t)
            local id = redis.call('XADD', lane[1], '*', 'c', connection, 't', t)
            redis.call('HSET', lane[4], id, body)
            return id
        end
        local function put(lane, id, body, notBefore, connection)
            if tonumber(notBefore) > now() then
                redis.call('HSET', lane[3], id, body)
                redis.call('ZADD', lane[2], notBefore, id)
                return 'z:' .. id
            end
            return 's:' .. append(lane, body, connection, notBefore)
        end
        local function body(lane, id, fields)
            return field(fields, 'd') or redis.call('HGET', lane[4], id) or ''
        end
        local function drop(lane, id)
            redis.call('XDEL', lane[1], id)
            redis.call('HDEL', lane[4], id)
        end
        -- An entry's connection and age ('t'; an older entry's: its stream id's time).
        local function laneOf(lane, id, fields)
            local c = field(fields, 'c')
            if c == nil then c = connectionOf(body(lane, id, fields)) end
            local t = tonumber(field(fields, 't') or '') or tonumber(string.match(id, '^(%d+)'))
            return c, t
        end
        -- Moves the due delayed items into the stream.
        local function promote(lane)
            local due = redis.call('ZRANGEBYSCORE', lane[2], '-inf', now(), 'WITHSCORES', 'LIMIT', 0, 1000)
            for i = 1, #due - 1, 2 do
                local item = redis.call('HGET', lane[3], due[i])
                if item then append(lane, item, connectionOf(item), due[i + 1]) end
                redis.call('HDEL', lane[3], due[i])
                redis.call('ZREM', lane[2], due[i])
            end
            return #due / 2
        end
        -- A consumer that holds nothing is removed: every trigger process has a name of its own, and the group
        -- would otherwise keep them all. XREADGROUP makes it again when it next reads.
        local function tidy(stream, group, consumer)
            local ok, mine = pcall(redis.call, 'XPENDING', stream, group, '-', '+', 1, consumer)
            if ok and #mine == 0 then pcall(redis.call, 'XGROUP', 'DELCONSUMER', stream, group, consumer) end
        end
        local function current(stream, group, id, consumer, deliveries)
            local ok, p = pcall(redis.call, 'XPENDING', stream, group, id, id, 1)
            if not ok or #p == 0 then return false end
            return p[1][2] == consumer and tonumber(p[1][4]) == tonumber(deliveries)
        end
        -- Acks and removes a delivery when it is still the current one.
        local function finish(lane, group, id, consumer, deliveries)
            if not current(lane[1], group, id, consumer, deliveries) then return false end
            redis.call('XACK', lane[1], group, id)
            drop(lane, id)
            tidy(lane[1], group, consumer)
            return true
        end
        -- A dead consumer's entries, as claims (id, body, deliveries) appended to `out`; returns them.
        local function takeOver(lane, group, consumer, visibility, limit, out)
            local taken = redis.call('XAUTOCLAIM', lane[1], group, consumer, visibility, '0-0', 'COUNT', limit)
            for _, entry in ipairs(taken[2]) do
                if entry[2] then
                    local p = redis.call('XPENDING', lane[1], group, entry[1], entry[1], 1)
                    out[#out + 1] = entry[1]
                    out[#out + 1] = body(lane, entry[1], entry[2])
                    out[#out + 1] = tostring(p[1][4])
                end
            end
            return taken[2]
        end

        """

    /// KEYS: the lane, steps. ARGV: step, id, body, notBefore, connection.
    private static let enqueueScript =
        prelude + """
            redis.call('SADD', KEYS[5], ARGV[1])
            return put({KEYS[1], KEYS[2], KEYS[3], KEYS[4]}, ARGV[2], ARGV[3], ARGV[4], ARGV[5])
            """

    /// KEYS: steps, the acked lane (or steps four times when nothing is acked), then each item's lane. ARGV: group,
    /// claim id, consumer, deliveries (all '' when nothing is acked), then step, id, body, notBefore and connection
    /// of each item. Queues every item, then acks the claim when its delivery is still the current one; returns
    /// {acked (1 or 0), each item's location}. A batch enqueue and a step's end are each ONE round trip instead of
    /// one per item plus one for the ack.
    private static let completeScript =
        prelude + """
            local out = {0}
            for i = 0, (#KEYS - 5) / 4 - 1 do
                local k = 6 + i * 4
                local a = 5 + i * 5
                redis.call('SADD', KEYS[1], ARGV[a])
                out[#out + 1] = put(
                    {KEYS[k], KEYS[k + 1], KEYS[k + 2], KEYS[k + 3]}, ARGV[a + 1], ARGV[a + 2], ARGV[a + 3], ARGV[a + 4])
            end
            if ARGV[2] ~= '' and finish({KEYS[2], KEYS[3], KEYS[4], KEYS[5]}, ARGV[1], ARGV[2], ARGV[3], ARGV[4]) then
                out[1] = 1
            end
            return out
            """

    /// KEYS: the lane. Moves the due delayed items into the stream; returns how many.
    private static let promoteScript =
        prelude + """
            return promote(KEYS)
            """

    /// KEYS: the lane. ARGV: group, consumer, limit, visibility ms. Returns id, body, deliveries for each claimed
    /// entry: first those taken over from dead consumers, then new ones, in stream order.
    private static let claimScript =
        prelude + """
            promote(KEYS)
            if redis.call('EXISTS', KEYS[1]) == 0 then return {} end
            pcall(redis.call, 'XGROUP', 'CREATE', KEYS[1], ARGV[1], '0')
            local limit = tonumber(ARGV[3])
            local out = {}
            takeOver(KEYS, ARGV[1], ARGV[2], ARGV[4], limit, out)
            local room = limit - #out / 3
            if room > 0 then
                local read = redis.call('XREADGROUP', 'GROUP', ARGV[1], ARGV[2], 'COUNT', room, 'STREAMS', KEYS[1], '>')
                if read then
                    for _, entry in ipairs(read[1][2]) do
                        out[#out + 1] = entry[1]
                        out[#out + 1] = body(KEYS, entry[1], entry[2])
                        out[#out + 1] = '1'
                    end
                end
            end
            if #out == 0 then tidy(KEYS[1], ARGV[1], ARGV[2]) end
            return out
            """

    /// KEYS: the lane. ARGV: group, consumer, limit, visibility ms, window, then a connection and a count for each
    /// connection the caller runs items of. Returns id, body, deliveries for each claimed entry, in the order picked.
    /// Fair across connections (`WorkQueueBackend.claim(…inFlight:window:…)`):
    /// - a dead consumer's entries first, as in every claim (they waited longest);
    /// - a connection's load: what the caller runs, what it takes over, and every other consumer's live claims;
    /// - up to `window` unread entries are looked at (read with XRANGE, so nothing is delivered yet; their fields
    ///   only, the bodies sit beside the stream), in pages, stopping once as many connections with nothing in flight
    ///   have one as there is room: nothing further back can come before them;
    /// - each next pick is the unread entry of the connection with the least load, ties to the older ('t');
    /// - the group delivers in stream order only, so XREADGROUP reads up to the deepest pick; an entry read on the
    ///   way but not picked goes back to the end of the stream unread, connection and age kept. It never sits in
    ///   the pending list, so the group's lag (what the KEDA scaler counts) still holds it and no parked entry can
    ///   be stranded by a step scaled to zero.
    private static let fairClaimScript =
        prelude + """
            promote(KEYS)
            if redis.call('EXISTS', KEYS[1]) == 0 then return {} end
            pcall(redis.call, 'XGROUP', 'CREATE', KEYS[1], ARGV[1], '0')
            local group, consumer = ARGV[1], ARGV[2]
            local limit, visibility, window = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
            local load = {}
            for i = 6, #ARGV - 1, 2 do load[ARGV[i]] = (load[ARGV[i]] or 0) + tonumber(ARGV[i + 1]) end
            local function add(c) load[c] = (load[c] or 0) + 1 end
            local out = {}
            for _, entry in ipairs(takeOver(KEYS, group, consumer, ARGV[4], limit, out)) do
                if entry[2] then add((laneOf(KEYS, entry[1], entry[2]))) end
            end
            local room = limit - #out / 3
            if room <= 0 then return out end
            local ok, pending = pcall(redis.call, 'XPENDING', KEYS[1], group, '-', '+', 100000)
            if ok then
                for _, p in ipairs(pending) do
                    if p[2] ~= consumer and tonumber(p[3]) < visibility then
                        local entry = redis.call('XRANGE', KEYS[1], p[1], p[1])
                        if #entry > 0 then add((laneOf(KEYS, p[1], entry[1][2]))) end
                    end
                end
            end
            local last = '0-0'
            for _, g in ipairs(redis.call('XINFO', 'GROUPS', KEYS[1])) do
                if field(g, 'name') == group then last = field(g, 'last-delivered-id') end
            end
            local seen, idle, quiet = {}, {}, 0
            while #seen < window do
                local want = math.min(64, window - #seen)
                local page = redis.call('XRANGE', KEYS[1], '(' .. last, '+', 'COUNT', want)
                for _, entry in ipairs(page) do
                    local c, t = laneOf(KEYS, entry[1], entry[2])
                    seen[#seen + 1] = {entry[1], c, t}
                    if (load[c] or 0) == 0 and not idle[c] then
                        idle[c] = true
                        quiet = quiet + 1
                    end
                end
                if #page < want or quiet >= room then break end
                last = page[#page][1]
            end
            local picked, order, deepest = {}, {}, 0
            for _ = 1, room do
                local best, bestLoad
                for i, s in ipairs(seen) do
                    if not picked[i] then
                        local l = load[s[2]] or 0
                        if best == nil or l < bestLoad or (l == bestLoad and s[3] < seen[best][3]) then
                            best, bestLoad = i, l
                        end
                    end
                end
                if best == nil then break end
                picked[best] = true
                order[#order + 1] = best
                add(seen[best][2])
                if best > deepest then deepest = best end
            end
            if deepest > 0 then
                local read = redis.call(
                    'XREADGROUP', 'GROUP', group, consumer, 'COUNT', deepest, 'STREAMS', KEYS[1], '>')
                local bodies = {}
                for i, entry in ipairs(read[1][2]) do
                    if picked[i] and entry[1] == seen[i][1] then
                        bodies[i] = body(KEYS, entry[1], entry[2])
                    else
                        local c, t = laneOf(KEYS, entry[1], entry[2])
                        append(KEYS, body(KEYS, entry[1], entry[2]), c, t)
                        redis.call('XACK', KEYS[1], group, entry[1])
                        drop(KEYS, entry[1])
                    end
                end
                for _, i in ipairs(order) do
                    if bodies[i] then
                        out[#out + 1] = seen[i][1]
                        out[#out + 1] = bodies[i]
                        out[#out + 1] = '1'
                    end
                end
            end
            if #out == 0 then tidy(KEYS[1], group, consumer) end
            return out
            """

    /// KEYS: the lane. ARGV: group, id, consumer, deliveries.
    private static let ackScript =
        prelude + """
            if finish(KEYS, ARGV[1], ARGV[2], ARGV[3], ARGV[4]) then return 1 end
            return 0
            """

    /// KEYS: the lane. ARGV: group, id, consumer, deliveries, new id, body, notBefore, connection.
    private static let releaseScript =
        prelude + """
            if not current(KEYS[1], ARGV[1], ARGV[2], ARGV[3], ARGV[4]) then return 0 end
            put(KEYS, ARGV[5], ARGV[6], ARGV[7], ARGV[8])
            finish(KEYS, ARGV[1], ARGV[2], ARGV[3], ARGV[4])
            return 1
            """

    /// KEYS: the lane. ARGV: group, consumer. Puts every entry the consumer holds back at the end of the stream as a
    /// new entry (connection, age and body as they were), and removes the consumer.
    private static let recoverScript =
        prelude + """
            if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
            local ok, pending = pcall(redis.call, 'XPENDING', KEYS[1], ARGV[1], '-', '+', 100000, ARGV[2])
            if not ok then return 0 end
            local moved = 0
            for _, p in ipairs(pending) do
                local entry = redis.call('XRANGE', KEYS[1], p[1], p[1])
                if #entry > 0 then
                    local c, t = laneOf(KEYS, p[1], entry[1][2])
                    append(KEYS, body(KEYS, p[1], entry[1][2]), c, t)
                    moved = moved + 1
                end
                redis.call('XACK', KEYS[1], ARGV[1], p[1])
                drop(KEYS, p[1])
            end
            pcall(redis.call, 'XGROUP', 'DELCONSUMER', KEYS[1], ARGV[1], ARGV[2])
            return moved
            """

    /// KEYS: the lane. Every item: queue key and body.
    private static let itemsScript =
        prelude + """
            local out = {}
            for _, entry in ipairs(redis.call('XRANGE', KEYS[1], '-', '+')) do
                out[#out + 1] = 's:' .. entry[1]
                out[#out + 1] = body(KEYS, entry[1], entry[2])
            end
            local delayed = redis.call('HGETALL', KEYS[3])
            for i = 1, #delayed, 2 do
                out[#out + 1] = 'z:' .. delayed[i]
                out[#out + 1] = delayed[i + 1]
            end
            return out
            """

    /// KEYS: the lane. ARGV: group, kind ('s' or 'z'), id. An entry someone holds is not removed.
    private static let removeScript =
        prelude + """
            if ARGV[2] == 'z' then
                redis.call('HDEL', KEYS[3], ARGV[3])
                return redis.call('ZREM', KEYS[2], ARGV[3])
            end
            local ok, p = pcall(redis.call, 'XPENDING', KEYS[1], ARGV[1], ARGV[3], ARGV[3], 1)
            if ok and #p > 0 then return 0 end
            local removed = redis.call('XDEL', KEYS[1], ARGV[3])
            redis.call('HDEL', KEYS[4], ARGV[3])
            return removed
            """

    /// KEYS: the lane. ARGV: group. Server milliseconds when the lane next needs a look, -1 when empty: now with
    /// unread entries, in a second when all are held (their holders may die), else the first delayed one.
    private static let nextDueScript =
        prelude + """
            local best = -1
            local length = redis.call('XLEN', KEYS[1])
            if length > 0 then
                local pending = 0
                local ok, p = pcall(redis.call, 'XPENDING', KEYS[1], ARGV[1])
                if ok then pending = p[1] end
                if length > pending then best = now() else best = now() + 1000 end
            end
            local first = redis.call('ZRANGE', KEYS[2], 0, 0, 'WITHSCORES')
            if #first > 0 then
                local score = tonumber(first[2])
                if best < 0 or score < best then best = score end
            end
            return best
            """

    // MARK: - Calls

    private func run(_ operation: String, _ step: String, _ script: String, keys: [String], arguments: [Data])
        async throws -> RedisReply
    {
        let reply = try await store.connection.evaluate(script, keys: keys, arguments: arguments)
        if case .error(let message) = reply { throw store.failure(message, operation, "the \(step) queue") }
        return reply
    }

    private func unexpected(_ operation: String) -> ConnectorError {
        ConnectorError(
            .stateCorrupt, "the Redis store at \(store.endpoint) answered \(operation) with an unexpected reply")
    }

    private static func text(_ reply: RedisReply) -> String? {
        if case .string(let data) = reply { return String(decoding: data, as: UTF8.self) }
        return nil
    }

    private static func integer(_ reply: RedisReply) -> Int64? {
        if case .integer(let value) = reply { return value }
        return nil
    }

    @discardableResult
    package func enqueue(_ item: WorkItem) async throws -> WorkItem {
        var stored = item
        stored.queueKey = nil
        let reply = try await run(
            "a queue write", item.function, Self.enqueueScript, keys: keys(item.function) + [stepsKey],
            arguments: [
                Data(item.function.utf8), Data(item.id.utf8), try JSONCoding.encode(stored),
                Self.milliseconds(item.notBefore), Data((item.event.connection ?? "").utf8),
            ])
        guard let location = Self.text(reply) else { throw unexpected("a queue write") }
        stored.queueKey = location
        return stored
    }

    /// Queues `items` and, given a claim, acks it: one script, one round trip.
    package func queue(_ items: [WorkItem], acking claim: QueueClaim?) async throws -> (
        items: [WorkItem], acked: Bool
    ) {
        var keys = [stepsKey] + (claim.map { self.keys($0.step) } ?? Array(repeating: stepsKey, count: 4))
        var arguments: [Data] =
            claim.map {
                [
                    Data(Self.group.utf8), Data($0.token.utf8), Data($0.consumer.utf8),
                    Data(String($0.deliveries).utf8),
                ]
            } ?? [Data(), Data(), Data(), Data()]
        var stored: [WorkItem] = []
        for item in items {
            var next = item
            next.queueKey = nil
            keys += self.keys(item.function)
            arguments += [
                Data(item.function.utf8), Data(item.id.utf8), try JSONCoding.encode(next),
                Self.milliseconds(item.notBefore), Data((item.event.connection ?? "").utf8),
            ]
            stored.append(next)
        }
        let operation = claim == nil ? "a queue write" : "a step's completion"
        let reply = try await run(
            operation, claim?.step ?? items.first?.function ?? "", Self.completeScript, keys: keys,
            arguments: arguments)
        guard case .array(let fields) = reply, fields.count == items.count + 1, let acked = Self.integer(fields[0])
        else { throw unexpected(operation) }
        for index in stored.indices {
            guard let location = Self.text(fields[index + 1]) else { throw unexpected(operation) }
            stored[index].queueKey = location
        }
        return (stored, acked == 1)
    }

    package func claim(step: String, consumer: String, limit: Int, visibility: Duration, quarantine: QueueQuarantine)
        async throws -> [QueueClaim]
    {
        let reply = try await run(
            "a claim", step, Self.claimScript, keys: keys(step),
            arguments: [
                Data(Self.group.utf8), Data(consumer.utf8), Data(String(limit).utf8), Self.milliseconds(visibility),
            ])
        return try await claims(reply, step: step, consumer: consumer, quarantine: quarantine)
    }

    /// Fair across connections (see `fairClaimScript`): one script, one round trip.
    package func claim(
        step: String, consumer: String, limit: Int, visibility: Duration, inFlight: [String: Int], window: Int,
        quarantine: QueueQuarantine
    ) async throws -> [QueueClaim] {
        var arguments = [
            Data(Self.group.utf8), Data(consumer.utf8), Data(String(limit).utf8), Self.milliseconds(visibility),
            Data(String(max(window, limit)).utf8),
        ]
        for (connection, count) in inFlight.sorted(by: { $0.key < $1.key }) where count > 0 {
            arguments += [Data(connection.utf8), Data(String(count).utf8)]
        }
        let reply = try await run("a claim", step, Self.fairClaimScript, keys: keys(step), arguments: arguments)
        return try await claims(reply, step: step, consumer: consumer, quarantine: quarantine)
    }

    package var balancesConnections: Bool { true }

    /// The claims of a claim script's reply (id, body, deliveries per entry); an entry whose body does not decode
    /// goes to the quarantine and is acked.
    private func claims(_ reply: RedisReply, step: String, consumer: String, quarantine: QueueQuarantine)
        async throws -> [QueueClaim]
    {
        guard case .array(let fields) = reply, fields.count % 3 == 0 else { throw unexpected("a claim") }
        var claims: [QueueClaim] = []
        for start in stride(from: 0, to: fields.count, by: 3) {
            guard let id = Self.text(fields[start]), case .string(let body) = fields[start + 1],
                let deliveries = Self.text(fields[start + 2]).flatMap(Int.init)
            else { throw unexpected("a claim") }
            let location = "s:" + id
            do {
                var item = try JSONCoding.decodeParsingTrees(WorkItem.self, from: body)
                item.queueKey = location
                claims.append(QueueClaim(item: item, consumer: consumer, deliveries: deliveries, token: id))
            } catch {
                let reason = (error as? DecodingError)?.safeDescription ?? String(describing: type(of: error))
                try await quarantine(base + ":" + step + ":s/" + id, body, reason)
                _ = try await run(
                    "an ack", step, Self.ackScript, keys: keys(step),
                    arguments: [
                        Data(Self.group.utf8), Data(id.utf8), Data(consumer.utf8), Data(String(deliveries).utf8),
                    ])
            }
        }
        return claims
    }

    package func ack(_ claim: QueueClaim) async throws -> Bool {
        let reply = try await run(
            "an ack", claim.step, Self.ackScript, keys: keys(claim.step),
            arguments: [
                Data(Self.group.utf8), Data(claim.token.utf8), Data(claim.consumer.utf8),
                Data(String(claim.deliveries).utf8),
            ])
        guard let done = Self.integer(reply) else { throw unexpected("an ack") }
        return done == 1
    }

    package func release(_ claim: QueueClaim, as item: WorkItem, notBefore: Date) async throws -> Bool {
        var next = item
        next.function = claim.step
        next.notBefore = notBefore
        next.queueKey = nil
        let reply = try await run(
            "a release", claim.step, Self.releaseScript, keys: keys(claim.step),
            arguments: [
                Data(Self.group.utf8), Data(claim.token.utf8), Data(claim.consumer.utf8),
                Data(String(claim.deliveries).utf8), Data(next.id.utf8), try JSONCoding.encode(next),
                Self.milliseconds(notBefore), Data((next.event.connection ?? "").utf8),
            ])
        guard let done = Self.integer(reply) else { throw unexpected("a release") }
        return done == 1
    }

    private func steps() async throws -> [String] {
        let reply = try await store.connection.command([Data("SMEMBERS".utf8), Data(stepsKey.utf8)])
        switch reply {
        case .array(let members): return members.compactMap(Self.text).sorted()
        case .error(let message): throw store.failure(message, "a read", stepsKey)
        default: throw unexpected("a read")
        }
    }

    private func lanes(_ step: String?) async throws -> [String] {
        if let step { return [step] }
        return try await steps()
    }

    package func recover(consumer: String) async throws -> Int {
        var moved = 0
        for step in try await steps() {
            let reply = try await run(
                "a recovery", step, Self.recoverScript, keys: keys(step),
                arguments: [Data(Self.group.utf8), Data(consumer.utf8)])
            moved += Int(Self.integer(reply) ?? 0)
        }
        return moved
    }

    package func promoteDue(step: String?) async throws -> Int {
        var moved = 0
        for step in try await lanes(step) {
            while true {
                let reply = try await run(
                    "a promotion of due items", step, Self.promoteScript, keys: keys(step),
                    arguments: [])
                let count = Int(Self.integer(reply) ?? 0)
                moved += count
                if count < 1000 { break }
            }
        }
        return moved
    }

    package func count(step: String?) async throws -> Int {
        var total = 0
        for step in try await lanes(step) {
            let lane = keys(step)
            for command in [["XLEN", lane[0]], ["ZCARD", lane[1]]] {
                let reply = try await store.connection.command(command.map { Data($0.utf8) })
                if case .error(let message) = reply { throw store.failure(message, "a count", lane[0]) }
                guard let value = Self.integer(reply) else { throw unexpected("a count") }
                total += Int(value)
            }
        }
        return total
    }

    package func items(step: String?) async throws -> [WorkItem] {
        var all: [WorkItem] = []
        for step in try await lanes(step) {
            let lane = keys(step)
            let reply = try await run(
                "a queue read", step, Self.itemsScript, keys: lane, arguments: [])
            guard case .array(let fields) = reply, fields.count % 2 == 0 else { throw unexpected("a queue read") }
            for start in stride(from: 0, to: fields.count, by: 2) {
                guard case .string(let body) = fields[start + 1],
                    var item = try? JSONCoding.decodeParsingTrees(WorkItem.self, from: body)
                else { continue }
                item.queueKey = Self.text(fields[start])
                all.append(item)
            }
        }
        return all
    }

    package func remove(_ item: WorkItem) async throws -> Bool {
        guard let location = item.queueKey, location.count > 2, location.hasPrefix("s:") || location.hasPrefix("z:")
        else { return false }
        let reply = try await run(
            "a removal", item.function, Self.removeScript, keys: keys(item.function),
            arguments: [
                Data(Self.group.utf8), Data(location.prefix(1).utf8), Data(location.dropFirst(2).utf8),
            ])
        return (Self.integer(reply) ?? 0) > 0
    }

    package func nextDue(step: String) async throws -> Date? {
        let lane = keys(step)
        let reply = try await run(
            "a queue read", step, Self.nextDueScript, keys: lane, arguments: [Data(Self.group.utf8)])
        guard let milliseconds = Self.integer(reply) else { throw unexpected("a queue read") }
        guard milliseconds >= 0 else { return nil }
        return Date(timeIntervalSince1970: Double(milliseconds) / 1000)
    }
}
