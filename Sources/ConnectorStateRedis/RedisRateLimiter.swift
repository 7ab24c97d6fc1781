import ConnectorCore
import Foundation

/// The shared rate limiter as one Lua script per operation: the script reads the budget's entry, computes exactly
/// what `RateLimiter.reserve` / `RateLimiter.penalized` compute, and writes the entry back through the store's own
/// `write` (next version, expiry, index), so one acquire is one round trip and never retries, however many
/// processes share the budget. The state stays the JSON `RateLimiter.State` in the entry's `d` field, written with
/// 17 significant digits so every Double survives the trip; the generic limiter and `currentRate` read it as is.
/// Times are the caller's (as in the generic limiter), so every backend paces the same way. A stored value other
/// than that JSON or a bare slot number (written by something else) answers nil: the generic limiter runs, once.
extension RedisStateStore: RateLimiterProviding {
    /// KEYS: entry, index. ARGV: key, operation ('acquire' or 'penalize'), now, ceiling, floor, ttl
    /// (milliseconds), then for acquire: maxWait, probeInterval; for penalize: retryAfter ('' for none); last, the
    /// random digits of a fresh entry's first version.
    /// Numbers in seconds and requests per second, as decimal text that parses back to the same Double.
    static let rateLimiterScript =
        prelude + """
            local now = tonumber(ARGV[3])
            local ceiling = tonumber(ARGV[4])
            local floor = tonumber(ARGV[5])
            local function number(value) return string.format('%.17g', value) end
            local function decode()
                local data = redis.call('HGET', KEYS[1], 'd')
                if not data then return {slot = now, rate = ceiling, changed = now} end
                -- Only what this script and JSONEncoder write (no spaces, NaN, hex...), so cjson and tonumber read
                -- it exactly as the generic decode does; anything else is left to the generic limiter.
                if not string.find(data, '^[{}":,trcp%deE%.%+%-]+$') then return nil end
                local ok, state = pcall(cjson.decode, data)
                if ok and type(state) == 'table' and type(state.t) == 'number' and type(state.r) == 'number'
                    and type(state.c) == 'number' and state.r > 0
                    and (state.p == nil or state.p == cjson.null or type(state.p) == 'number') then
                    local penalized = state.p
                    if type(penalized) ~= 'number' then penalized = nil end
                    return {
                        slot = state.t, rate = math.min(math.max(state.r, floor), ceiling), changed = state.c,
                        penalized = penalized
                    }
                end
                -- The earlier format: the slot alone.
                return {slot = tonumber(data) or now, rate = ceiling, changed = now}
            end
            local function save(state)
                local text = '{"t":' .. number(state.slot) .. ',"r":' .. number(state.rate) .. ',"c":'
                    .. number(state.changed)
                if state.penalized then text = text .. ',"p":' .. number(state.penalized) end
                write(KEYS[1], KEYS[2], ARGV[1], text .. '}', ARGV[6], ARGV[#ARGV])
            end
            local state = decode()
            if not state then return 'other' end
            if ARGV[2] == 'acquire' then
                local slot = math.max(state.slot, now)
                local wait = slot - now
                if wait > tonumber(ARGV[7]) then return {'refused', number(wait)} end
                if state.rate < ceiling and now - state.changed >= tonumber(ARGV[8]) then
                    state.rate = math.min(ceiling, state.rate * 1.25)
                    state.changed = now
                end
                state.slot = slot + 1 / state.rate
                save(state)
                return {'reserved', number(wait)}
            end
            local retry = nil
            if ARGV[7] ~= '' then retry = tonumber(ARGV[7]) end
            if state.penalized and now - state.penalized < 2 then
                if not retry or not (state.slot < now + retry) then return number(state.rate) end
            else
                local factor = 0.5
                if retry then factor = 0.8 end
                state.rate = math.max(floor, state.rate * factor)
                state.changed = now
                state.penalized = now
            end
            local coolDown = retry or math.min(30, 4 / state.rate)
            state.slot = math.max(state.slot, now + coolDown)
            save(state)
            return number(state.rate)
            """

    private static func text(_ value: Double) -> Data { Data(value.description.utf8) }

    private static func double(_ reply: RedisReply) -> Double? {
        guard case .string(let data) = reply else { return nil }
        // Never NaN or infinite: a wait becomes a Duration.
        return Double(String(decoding: data, as: UTF8.self)).flatMap { $0.isFinite ? $0 : nil }
    }

    private func runLimiter(_ operation: String, _ budget: RateBudget, _ arguments: [Data]) async throws
        -> RedisReply
    {
        try await run(
            "a rate limiter \(operation)", budget.key, Self.rateLimiterScript,
            keys: [entryKey(budget.key), indexKey],
            arguments: [Data(budget.key.utf8), Data(operation.utf8)] + arguments + [Self.freshDigits()])
    }

    package func reserveRateSlot(_ budget: RateBudget, now: Double, maxWait: Double) async throws -> RateReservation? {
        let reply = try await runLimiter(
            "acquire", budget,
            [
                Self.text(now), Self.text(budget.ceiling), Self.text(budget.floor), Self.ttlArgument(budget.memory),
                Self.text(maxWait), Self.text(budget.probeInterval),
            ])
        if case .string(let text) = reply, text == Data("other".utf8) { return nil }
        guard case .array(let parts) = reply, parts.count == 2, case .string(let outcome) = parts[0],
            let wait = Self.double(parts[1])
        else { throw unexpected(reply, "a rate limiter acquire") }
        return outcome == Data("reserved".utf8) ? .reserved(wait: wait) : .refused(wait: wait)
    }

    package func penalizeRate(_ budget: RateBudget, now: Double, retryAfter: Double?) async throws -> Double? {
        let reply = try await runLimiter(
            "penalty", budget,
            [
                Self.text(now), Self.text(budget.ceiling), Self.text(budget.floor), Self.ttlArgument(budget.memory),
                retryAfter.map(Self.text) ?? Data(),
            ])
        if case .string(let text) = reply, text == Data("other".utf8) { return nil }
        guard let rate = Self.double(reply) else { throw unexpected(reply, "a rate limiter penalty") }
        return rate
    }
}
