import ConnectorCore
import Foundation
import Synchronization
import Testing

/// The behaviour every `StateStore` backend must show. Each backend's test suite calls `run` with a factory that
/// opens a fresh, empty store using the given clock, and one that opens two clients (separate connections where the
/// backend has them) on one fresh store.
package enum StateStoreConformance {
    package typealias Factory = @Sendable (_ now: @escaping @Sendable () -> Date) async throws -> any StateStore
    package typealias TwoClients = @Sendable () async throws -> (any StateStore, any StateStore)

    /// Whose clock decides expiry: the factory's injected one (in-process stores), or the server's (a network
    /// store ignores the injected clock; its expiry checks use short real TTLs instead).
    package enum ExpiryClock: Sendable {
        case injected, server
    }

    package static func run(_ make: Factory, twoClients: TwoClients, clock: ExpiryClock = .injected) async throws {
        try await basics(make)
        try await putIfAbsentAndCAS(make)
        try await versionsNeverRepeat(make)
        try await versionsGrowPerKey(make)
        try await batches(make)
        if clock == .injected { try await expiry(make) }
        try await realExpiry(make)
        try await purging(make)
        try await counters(make)
        try await scanning(make)
        try await concurrency(make)
        try await valuesAreBytes(make)
        try await severalClients(twoClients)
        try await putAllIsAllOrNothing(twoClients)
        try await batchesAreAllOrNothing(twoClients)
        try await typedHelpers(make)
        try await sharedRateLimiter(twoClients)
    }

    static func basics(_ make: Factory) async throws {
        let store = try await make { Date() }
        #expect(try await store.get("a") == nil)
        let v1 = try await store.put("a", Data("one".utf8), ttl: nil)
        let read = try #require(try await store.get("a"))
        #expect(read.data == Data("one".utf8))
        #expect(read.version == v1)
        #expect(read.expiresAt == nil)
        let v2 = try await store.put("a", Data("two".utf8), ttl: nil)
        #expect(v2 > v1)
        #expect(try await store.get("a")?.data == Data("two".utf8))
        #expect(try await store.delete("a") == true)
        #expect(try await store.delete("a") == false)
        try await store.putAll([
            ("b1", Data("1".utf8), nil), ("b2", Data("2".utf8), .seconds(60)), ("b1", Data("3".utf8), nil),
        ])
        #expect(try await store.get("b1")?.data == Data("3".utf8), "later items win")
        #expect(try await store.get("b2")?.expiresAt != nil)
        try await store.putAll([])
        #expect(try await store.get("a") == nil)
        try await store.close()
    }

    static func putIfAbsentAndCAS(_ make: Factory) async throws {
        let store = try await make { Date() }
        let first = try await store.putIfAbsent("claim", Data("me".utf8), ttl: nil)
        #expect(first != nil)
        #expect(try await store.putIfAbsent("claim", Data("you".utf8), ttl: nil) == nil)
        #expect(try await store.get("claim")?.data == Data("me".utf8))

        let version = try #require(first)
        let swapped = try await store.compareAndSwap(
            "claim", expectedVersion: version, newValue: Data("me2".utf8), ttl: nil)
        #expect(swapped != nil)
        #expect(
            try await store.compareAndSwap("claim", expectedVersion: version, newValue: Data("stale".utf8), ttl: nil)
                == nil)
        #expect(try await store.get("claim")?.data == Data("me2".utf8))
        #expect(try await store.compareAndSwap("absent", expectedVersion: 1, newValue: Data(), ttl: nil) == nil)
        #expect(try await store.get("absent") == nil)

        let current = try #require(swapped)
        #expect(try await store.delete("claim", expectedVersion: version) == false)
        #expect(try await store.delete("claim", expectedVersion: current) == true)
        #expect(try await store.putIfAbsent("claim", Data("again".utf8), ttl: nil) != nil)
        try await store.close()
    }

    static func versionsNeverRepeat(_ make: Factory) async throws {
        let store = try await make { Date() }
        let first = try await store.put("k", Data("1".utf8), ttl: nil)
        _ = try await store.delete("k")
        let second = try #require(try await store.putIfAbsent("k", Data("2".utf8), ttl: nil))
        #expect(second != first, "a re-created key must not reuse an old version (ABA)")
        #expect(try await store.compareAndSwap("k", expectedVersion: first, newValue: Data("x".utf8), ttl: nil) == nil)
        // Many lives of one key, each written a few times and deleted (or deleted by version), right after one
        // another: no life ever gets a version an earlier life had, so no stale holder's compare-and-swap or
        // delete succeeds on a later life.
        var earlier: Set<Int64> = []
        for life in 0..<40 {
            var versions: [Int64] = []
            if life.isMultiple(of: 2) {
                versions.append(try await store.put("aba", Data("\(life)".utf8), ttl: nil))
            } else {
                versions.append(try #require(try await store.putIfAbsent("aba", Data("\(life)".utf8), ttl: nil)))
            }
            #expect(!earlier.contains(versions[0]), "life \(life) started at a version an earlier life had")
            for stale in earlier.sorted().suffix(8) {
                #expect(
                    try await store.compareAndSwap("aba", expectedVersion: stale, newValue: Data("x".utf8), ttl: nil)
                        == nil, "a stale holder's compare-and-swap succeeded on a re-created key")
                #expect(try await !store.delete("aba", expectedVersion: stale))
            }
            for _ in 0..<3 {
                let last = try #require(versions.last)
                let next = try #require(
                    try await store.compareAndSwap("aba", expectedVersion: last, newValue: Data(), ttl: nil))
                #expect(next > last)
                #expect(!earlier.contains(next), "life \(life) reached a version an earlier life had")
                versions.append(next)
            }
            earlier.formUnion(versions)
            if life.isMultiple(of: 3) {
                #expect(try await store.delete("aba", expectedVersion: try #require(versions.last)))
            } else {
                #expect(try await store.delete("aba"))
            }
        }
        try await store.close()
    }

    /// Versions only grow per key: every kind of write to a key gives it a larger version than the one before,
    /// whatever happens to other keys in between.
    static func versionsGrowPerKey(_ make: Factory) async throws {
        let store = try await make { Date() }
        var last = try await store.put("g", Data("0".utf8), ttl: nil)
        for round in 0..<5 {
            try await store.put("elsewhere/\(round)", Data(), ttl: nil)
            let put = try await store.put("g", Data("\(round)".utf8), ttl: .seconds(60))
            #expect(put > last)
            let swapped = try #require(
                try await store.compareAndSwap("g", expectedVersion: put, newValue: Data("s".utf8), ttl: nil))
            #expect(swapped > put)
            try await store.putAll([("g", Data("all".utf8), nil), ("elsewhere/all", Data(), nil)])
            let afterAll = try #require(try await store.get("g")?.version)
            #expect(afterAll > swapped)
            let committed = try #require(try await store.commit([.put("g", Data("c".utf8), ttl: nil)]))
            #expect(committed.first.map { $0 > afterAll } == true)
            last = try #require(committed.first)
        }
        _ = try await store.increment("n", by: 1, ttl: nil)
        let one = try #require(try await store.get("n")?.version)
        _ = try await store.increment("n", by: 1, ttl: nil)
        #expect(try #require(try await store.get("n")?.version) > one, "an increment is a write too")
        try await store.close()
    }

    /// `commit`: every kind of write, results in order, and nothing written when a condition fails.
    static func batches(_ make: Factory) async throws {
        let store = try await make { Date() }
        #expect(try await store.commit([]) == [])
        let a = try await store.put("b/a", Data("a".utf8), ttl: nil)
        try await store.put("b/gone", Data("g".utf8), ttl: nil)
        let results = try #require(
            try await store.commit([
                .compareAndSwap("b/a", expectedVersion: a, Data("a2".utf8), ttl: nil),
                .putIfAbsent("b/new", Data("n".utf8), ttl: .seconds(60)),
                .put("b/put", Data("p".utf8), ttl: nil),
                .delete("b/gone"),
                .delete("b/never"),
                .append(counter: "b/seq", prefix: "b/log/", Data("first".utf8), ttl: nil),
            ]))
        #expect(results.count == 6)
        let many = try await store.getMany(["b/put", "b/never", "b/a", "b/put"])
        #expect(many.map { $0?.data } == [Data("p".utf8), nil, Data("a2".utf8), Data("p".utf8)])
        #expect(many[2]?.version == results[0])
        #expect(try await store.getMany([]).isEmpty)
        #expect(results[0] > a)
        #expect(try await store.get("b/a")?.version == results[0])
        #expect(try await store.get("b/new")?.version == results[1])
        #expect(try await store.get("b/new")?.expiresAt != nil)
        #expect(try await store.get("b/put")?.data == Data("p".utf8))
        #expect(Array(results[3...]) == [1, 0, 1], "deletes say whether the key existed; append its sequence")
        #expect(try await store.get("b/gone") == nil)
        #expect(try await store.get("b/seq")?.data == Data("1".utf8), "the append counter is an ordinary counter")
        #expect(try await store.get("b/log/000000000001")?.data == Data("first".utf8))
        #expect(try await store.increment("b/seq", by: 1, ttl: nil) == 2)
        let appended = try #require(
            try await store.commit([.append(counter: "b/seq", prefix: "b/log/", Data("third".utf8), ttl: nil)]))
        #expect(appended == [3])
        #expect(
            try await store.scan(prefix: "b/log/", after: nil, limit: 10).map(\.key) == [
                "b/log/000000000001", "b/log/000000000003",
            ])

        // A failed condition anywhere: nothing at all is written.
        let current = try #require(try await store.get("b/a")?.version)
        let refusals: [[StoreWrite]] = [
            [.put("b/x", Data(), ttl: nil), .compareAndSwap("b/a", expectedVersion: a, Data("stale".utf8), ttl: nil)],
            [.append(counter: "b/seq", prefix: "b/log/", Data(), ttl: nil), .putIfAbsent("b/new", Data(), ttl: nil)],
            [.delete("b/put"), .deleteIf("b/a", expectedVersion: a)],
            [.put("b/x", Data(), ttl: nil), .compareAndSwap("b/missing", expectedVersion: 1, Data(), ttl: nil)],
        ]
        for writes in refusals {
            #expect(try await store.commit(writes) == nil)
        }
        #expect(try await store.get("b/x") == nil)
        #expect(try await store.get("b/put") != nil)
        #expect(try await store.get("b/a")?.version == current)
        #expect(try await store.get("b/seq")?.data == Data("3".utf8), "a refused batch takes no sequence number")
        #expect(try await store.commit([.deleteIf("b/a", expectedVersion: current)]) == [1])
        #expect(try await store.get("b/a") == nil)
        try await store.put("b/text", Data("abc".utf8), ttl: nil)
        await #expect(throws: ConnectorError.self) {
            _ = try await store.commit([
                .put("b/y", Data(), ttl: nil), .append(counter: "b/text", prefix: "b/l/", Data(), ttl: nil),
            ])
        }
        #expect(try await store.get("b/y") == nil, "a batch that fails writes nothing")
        try await store.close()
    }

    /// Two clients race batches that each move a shared token by compare-and-swap and append to a log: every batch
    /// whose swap lost wrote nothing (no log entry, no sequence number), every winner wrote both.
    static func batchesAreAllOrNothing(_ twoClients: TwoClients) async throws {
        let (first, second) = try await twoClients()
        try await first.put("race/token", Data("0".utf8), ttl: nil)
        let wins = try await withThrowingTaskGroup(of: Int.self) { group in
            for (index, store) in [first, second].enumerated() {
                group.addTask {
                    var won = 0
                    for round in 0..<20 {
                        guard let token = try await store.get("race/token") else { continue }
                        let value = Data("\(index)-\(round)".utf8)
                        if try await store.commit([
                            .compareAndSwap("race/token", expectedVersion: token.version, value, ttl: nil),
                            .append(counter: "race/seq", prefix: "race/log/", value, ttl: nil),
                        ]) != nil {
                            won += 1
                        }
                    }
                    return won
                }
            }
            return try await group.reduce(0, +)
        }
        #expect(wins > 0)
        let log = try await first.scanAll(prefix: "race/log/")
        #expect(log.count == wins, "\(log.count) log entries for \(wins) winning batches")
        let expectedKeys = (0..<wins).map { StoreWrite.appendedKey(prefix: "race/log/", sequence: Int64($0 + 1)) }
        #expect(log.map(\.key) == expectedKeys, "one sequence number per winning batch, none skipped")
        #expect(try await second.get("race/token")?.data == log.last?.value.data, "the last winner's token")
        try await first.close()
        try await second.close()
    }

    static func expiry(_ make: Factory) async throws {
        let clock = Clock()
        let store = try await make(clock.now)
        try await store.put("short", Data("x".utf8), ttl: .seconds(10))
        try await store.put("long", Data("y".utf8), ttl: .seconds(100))
        try await store.put("forever", Data("z".utf8), ttl: nil)
        let short = try #require(try await store.get("short"))
        #expect(short.expiresAt != nil)
        clock.advance(11)
        #expect(try await store.get("short") == nil, "expired entries read as absent")
        #expect(try await store.get("long") != nil)
        #expect(try await store.scan(prefix: "", after: nil, limit: 10).map(\.key) == ["forever", "long"])
        #expect(
            try await store.putIfAbsent("short", Data("new".utf8), ttl: nil) != nil,
            "an expired key can be claimed again")
        #expect(try await store.delete("long", expectedVersion: 0) == false)
        clock.advance(100)
        #expect(try await store.compareAndSwap("long", expectedVersion: 0, newValue: Data(), ttl: nil) == nil)
        #expect(try await store.delete("long") == false, "deleting an expired key reports it absent")
        let count = try await store.increment("counter", by: 1, ttl: .seconds(5))
        #expect(count == 1)
        clock.advance(3)
        #expect(try await store.increment("counter", by: 1, ttl: .seconds(5)) == 2, "ttl applies at creation only")
        clock.advance(3)
        #expect(try await store.increment("counter", by: 1, ttl: .seconds(5)) == 1, "an expired counter starts again")
        try await store.close()
    }

    static func counters(_ make: Factory) async throws {
        let store = try await make { Date() }
        #expect(try await store.increment("n", by: 1, ttl: nil) == 1)
        #expect(try await store.increment("n", by: 5, ttl: nil) == 6)
        #expect(try await store.increment("n", by: -10, ttl: nil) == -4)
        #expect(try await store.get("n")?.data == Data("-4".utf8))
        try await store.put("text", Data("abc".utf8), ttl: nil)
        await #expect(throws: ConnectorError.self) { try await store.increment("text", by: 1, ttl: nil) }
        try await store.close()
    }

    static func scanning(_ make: Factory) async throws {
        let store = try await make { Date() }
        let keys = ["a/1", "a/2", "a/10", "a/é", "a0", "a", "b/1", "a/\u{7F}", "a/z"]
        for key in keys { try await store.put(key, Data(key.utf8), ttl: nil) }
        let all = try await store.scan(prefix: "a/", after: nil, limit: 100).map(\.key)
        let expected = keys.filter { $0.hasPrefix("a/") }.sorted {
            Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8))
        }
        #expect(all == expected, "byte order, prefix only")
        #expect(!all.contains("a0") && !all.contains("a"))
        let page1 = try await store.scan(prefix: "a/", after: nil, limit: 2)
        let page2 = try await store.scan(prefix: "a/", after: page1.last?.key, limit: 2)
        #expect(page1.count == 2 && page2.count == 2)
        #expect((page1 + page2).map(\.key) == Array(expected.prefix(4)))
        #expect(try await store.scan(prefix: "a/", after: expected.last, limit: 5).isEmpty)
        #expect(try await store.scan(prefix: "zzz", after: nil, limit: 5).isEmpty)
        #expect(try await store.scan(prefix: "a/", after: nil, limit: 0).isEmpty)
        let everything = try await store.scanAll(prefix: "", pageSize: 3)
        #expect(everything.count == keys.count)
        for entry in everything { #expect(entry.value.data == Data(entry.key.utf8)) }
        try await store.close()
    }

    static func concurrency(_ make: Factory) async throws {
        let store = try await make { Date() }
        let winners = try await withThrowingTaskGroup(of: Bool.self) { group in
            for index in 0..<20 {
                group.addTask { try await store.putIfAbsent("race", Data("\(index)".utf8), ttl: nil) != nil }
            }
            var count = 0
            for try await won in group where won { count += 1 }
            return count
        }
        #expect(winners == 1, "exactly one concurrent claim wins")
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<40 {
                group.addTask { _ = try await store.increment("hits", by: 1, ttl: nil) }
            }
            try await group.waitForAll()
        }
        #expect(try await store.get("hits")?.data == Data("40".utf8))
        // Compare-and-swap loops never lose an update.
        try await store.put("sum", JSONCoding.encode(0), ttl: nil)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<25 {
                group.addTask { try await store.update("sum", as: Int.self) { ($0 ?? 0) + 1 } }
            }
            try await group.waitForAll()
        }
        #expect(try await store.get("sum", as: Int.self)?.value == 25)
        try await store.close()
    }

    static func valuesAreBytes(_ make: Factory) async throws {
        let store = try await make { Date() }
        var bytes = Data((0..<256).map { UInt8($0) })
        bytes.append(contentsOf: Data(count: 1024 * 1024))
        try await store.put("binary", bytes, ttl: nil)
        #expect(try await store.get("binary")?.data == bytes)
        try await store.put("empty", Data(), ttl: nil)
        #expect(try await store.get("empty")?.data == Data())
        try await store.close()
    }

    /// Expiry by the store's own clock (a real, short TTL and a real wait): expired entries read as absent, skip out
    /// of scans without shortening a page, and a later put or compare-and-swap replaces the TTL (or removes it).
    static func realExpiry(_ make: Factory) async throws {
        let store = try await make { Date() }
        let before = Date()
        try await store.put("t/short", Data("s".utf8), ttl: .milliseconds(300))
        let expiresAt = try #require(try await store.get("t/short")?.expiresAt)
        #expect(expiresAt > before.addingTimeInterval(-1) && expiresAt < before.addingTimeInterval(5))
        // TTL replaced on put: a put without TTL makes it permanent; one with a long TTL extends it.
        try await store.put("t/kept", Data("k".utf8), ttl: .milliseconds(300))
        try await store.put("t/kept", Data("k2".utf8), ttl: nil)
        #expect(try await store.get("t/kept")?.expiresAt == nil, "a put without TTL removes the old TTL")
        try await store.put("t/extended", Data("e".utf8), ttl: .milliseconds(300))
        try await store.put("t/extended", Data("e2".utf8), ttl: .seconds(60))
        // TTL replaced on compare-and-swap, both ways.
        let permanent = try await store.put("t/cas-gets-ttl", Data("p".utf8), ttl: nil)
        #expect(
            try await store.compareAndSwap(
                "t/cas-gets-ttl", expectedVersion: permanent, newValue: Data("p2".utf8), ttl: .milliseconds(300))
                != nil)
        let temporary = try await store.put("t/cas-drops-ttl", Data("q".utf8), ttl: .milliseconds(300))
        #expect(
            try await store.compareAndSwap("t/cas-drops-ttl", expectedVersion: temporary, newValue: Data(), ttl: nil)
                != nil)
        // Expired entries between live ones must not shorten a scan page.
        for index in 0..<6 {
            try await store.put("t/page/\(index)", Data(), ttl: index.isMultiple(of: 2) ? .milliseconds(300) : nil)
        }
        let counter = try await store.increment("t/counter", by: 1, ttl: .milliseconds(300))
        #expect(counter == 1)
        try await Task.sleep(for: .milliseconds(900))
        #expect(try await store.get("t/short") == nil, "expired by the store's clock")
        #expect(try await store.get("t/kept")?.data == Data("k2".utf8))
        #expect(try await store.get("t/extended")?.data == Data("e2".utf8))
        #expect(try await store.get("t/cas-gets-ttl") == nil, "compare-and-swap set a TTL")
        #expect(try await store.get("t/cas-drops-ttl")?.expiresAt == nil, "compare-and-swap removed the TTL")
        #expect(try await store.increment("t/counter", by: 1, ttl: nil) == 1, "an expired counter starts again")
        let page = try await store.scan(prefix: "t/page/", after: nil, limit: 2)
        #expect(page.map(\.key) == ["t/page/1", "t/page/3"])
        let rest = try await store.scan(prefix: "t/page/", after: page.last?.key, limit: 2)
        #expect(rest.map(\.key) == ["t/page/5"], "a short last page")
        #expect(try await store.scan(prefix: "t/page/", after: "t/page/5", limit: 2).isEmpty, "an empty page")
        #expect(try await store.putIfAbsent("t/short", Data("again".utf8), ttl: nil) != nil)
        #expect(try await store.delete("t/page/0") == false, "an expired key deletes as absent")
        try await store.close()
    }

    /// The retention purge removes expired entries for good (up to its limit), never a live one, and finds
    /// nothing the second time.
    static func purging(_ make: Factory) async throws {
        let store = try await make { Date() }
        for index in 0..<5 {
            try await store.put("p/gone/\(index)", Data("x".utf8), ttl: .milliseconds(200))
        }
        try await store.put("p/kept", Data("k".utf8), ttl: nil)
        try await store.put("p/later", Data("l".utf8), ttl: .seconds(60))
        try await Task.sleep(for: .milliseconds(700))
        #expect(try await store.purgeExpired(limit: 2) == 2, "the limit is kept")
        #expect(try await store.purgeExpired(limit: 100) == 3)
        #expect(try await store.purgeExpired(limit: 100) == 0, "nothing left to purge")
        #expect(try await store.scan(prefix: "p/", after: nil, limit: 10).map(\.key) == ["p/kept", "p/later"])
        #expect(try await store.putIfAbsent("p/gone/0", Data("again".utf8), ttl: nil) != nil)
        try await store.close()
    }

    /// Two clients on one store (separate connections where the backend has them) see each other's writes, claim
    /// exactly once between them, and lose no compare-and-swap update.
    static func severalClients(_ twoClients: TwoClients) async throws {
        let (first, second) = try await twoClients()
        let version = try await first.put("shared", Data("1".utf8), ttl: nil)
        #expect(try await second.get("shared")?.version == version, "one client sees the other's write")
        let wins = try await withThrowingTaskGroup(of: Int.self) { group in
            for (index, store) in [first, second].enumerated() {
                group.addTask {
                    var won = 0
                    for key in 0..<40
                    where try await store.putIfAbsent("claim/\(key)", Data("\(index)".utf8), ttl: nil) != nil {
                        won += 1
                    }
                    return won
                }
            }
            return try await group.reduce(0, +)
        }
        #expect(wins == 40, "each key claimed exactly once across clients")
        try await first.put("sum", JSONCoding.encode(0), ttl: nil)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for store in [first, second] {
                group.addTask {
                    for _ in 0..<15 {
                        try await store.update("sum", as: Int.self) { ($0 ?? 0) + 1 }
                        _ = try await store.increment("hits", by: 1, ttl: nil)
                    }
                }
            }
            try await group.waitForAll()
        }
        #expect(try await second.get("sum", as: Int.self)?.value == 30)
        #expect(try await first.get("hits")?.data == Data("30".utf8))
        try await first.close()
        try await second.close()
    }

    /// A reader on another client never sees half of a `putAll`.
    static func putAllIsAllOrNothing(_ twoClients: TwoClients) async throws {
        let (writer, reader) = try await twoClients()
        let keys = (0..<20).map { "batch/\(String(format: "%02d", $0))" }
        try await writer.putAll(keys.map { ($0, Data("0".utf8), nil) })
        let rounds = 40
        async let writes: Void = {
            for round in 1...rounds {
                try await writer.putAll(keys.map { ($0, Data("\(round)".utf8), nil) })
            }
        }()
        var torn = 0
        var reads = 0
        var last = "0"
        while last != "\(rounds)" {
            let values = Set(try await reader.scan(prefix: "batch/", after: nil, limit: 100).map(\.value.data))
            reads += 1
            if values.count != 1 { torn += 1 }
            last = values.first.map { String(decoding: $0, as: UTF8.self) } ?? last
            if reads > 100_000 { break }
        }
        try await writes
        #expect(torn == 0, "a reader saw a partly applied putAll \(torn) times in \(reads) reads")
        #expect(try await reader.scan(prefix: "batch/", after: nil, limit: 100).count == keys.count)
        try await writer.close()
        try await reader.close()
    }

    /// The typed helpers on this backend: the dedup ledger, a lease, the work queue, a cursor.
    static func typedHelpers(_ make: Factory) async throws {
        let store = try await make { Date() }
        let keys = try StateKeys(connection: "acme")
        let ledger = DedupLedger(store: store, keys: keys)
        let now = Date()
        let entry = DedupLedger.Entry(
            phase: .claimed, owner: "a", attempt: 1, claimedAt: now, updatedAt: now, leaseUntil: now, naturalKey: "V|1")
        let claims = try await withThrowingTaskGroup(of: Bool.self) { group in
            for owner in ["a", "b", "c", "d"] {
                group.addTask {
                    var mine = entry
                    mine.owner = owner
                    if case .acquired = try await ledger.claim("invoice/1", entry: mine) { return true }
                    return false
                }
            }
            return try await group.reduce(0) { $0 + ($1 ? 1 : 0) }
        }
        #expect(claims == 1, "the dedup ledger lets exactly one claimer in")
        let claimed = try #require(try await ledger.load("invoice/1"))
        var sent = claimed.entry
        sent.phase = .requestSent
        #expect(try await ledger.advance("invoice/1", from: claimed.version, to: sent) != nil)
        #expect(try await ledger.advance("invoice/1", from: claimed.version, to: entry) == nil)
        #expect(try await ledger.all().count == 1)

        let a = Lease(store: store, key: "lease/x", owner: "a")
        let b = Lease(store: store, key: "lease/x", owner: "b")
        #expect(try await a.acquire(ttl: .seconds(30), now: Date()))
        #expect(try await !b.acquire(ttl: .seconds(30), now: Date()))
        try await a.release()
        #expect(try await b.acquire(ttl: .milliseconds(200), now: Date()))
        try await Task.sleep(for: .milliseconds(500))
        #expect(try await a.acquire(ttl: .seconds(30), now: Date()), "an expired lease is free")

        // The work queue this store offers (its native one or the generic one); `WorkQueueConformance` checks it
        // in depth.
        let queue = WorkQueue(store: store)
        let event = CloudEvent(source: "s", type: "t", data: nil, connection: "acme")
        let late = WorkItem(function: "f", event: event, notBefore: Date().addingTimeInterval(60), enqueuedAt: Date())
        let early = WorkItem(function: "g", event: event, notBefore: Date(), enqueuedAt: Date())
        try await queue.enqueue(late)
        try await queue.enqueue(early)
        #expect(try await queue.claim(step: "f", consumer: "c", limit: 10, visibility: .seconds(30)).isEmpty)
        let taken = try await queue.claim(step: "g", consumer: "c", limit: 10, visibility: .seconds(30))
        #expect(taken.map(\.item.id) == [early.id])
        #expect(try await queue.ack(try #require(taken.first)))
        #expect(try await queue.all().map(\.function) == ["f"])

        let cursors = CursorStore<String>(store: store, keys: keys, name: "poll")
        #expect(try await cursors.save("one", expectedVersion: nil))
        #expect(try await !cursors.save("other", expectedVersion: nil), "a second first save loses")
        let cursor = try #require(try await cursors.load())
        #expect(try await cursors.save("two", expectedVersion: cursor.version))
        #expect(try await !cursors.save("stale", expectedVersion: cursor.version))
        #expect(try await cursors.load()?.cursor == "two")
        try await store.close()
    }

    /// A manual clock for the expiry checks.
    final class Clock: Sendable {
        private let seconds = Mutex<TimeInterval>(1_800_000_000)
        func advance(_ delta: TimeInterval) { seconds.withLock { $0 += delta } }
        var now: @Sendable () -> Date { { [self] in Date(timeIntervalSince1970: self.seconds.withLock { $0 }) } }
    }

    /// One request budget shared by two clients: every reservation gets its own slot (none handed out twice, none
    /// skipped), and a 429 counted through one client slows the pace the other one sees.
    static func sharedRateLimiter(_ twoClients: TwoClients) async throws {
        let (first, second) = try await twoClients()
        let now = Date(timeIntervalSince1970: Date().timeIntervalSince1970.rounded(.down))
        let limiters = [first, second].map { RateLimiter(store: $0, key: "limit/erp", limit: 10, window: .seconds(1)) }
        let waits = try await withThrowingTaskGroup(of: [Duration].self) { group in
            for limiter in limiters {
                group.addTask {
                    var waits: [Duration] = []
                    for _ in 0..<10 { waits.append(try await limiter.acquire(now: now)) }
                    return waits
                }
            }
            return try await group.reduce([], +)
        }
        let milliseconds = waits.map {
            Int($0.components.seconds * 1000 + $0.components.attoseconds / 1_000_000_000_000_000)
        }
        .sorted()
        // 100 ms apart, give or take a millisecond of rounding (slots are seconds since 1970 in a Double).
        let gaps = zip(milliseconds.dropFirst(), milliseconds).map { $0 - $1 }
        #expect(milliseconds.count == 20 && milliseconds.first == 0, "\(milliseconds)")
        #expect(gaps.allSatisfy { (99...101).contains($0) }, "one slot each, 100 ms apart: \(milliseconds)")
        let slowed = try await limiters[0].penalize(now: now, retryAfter: nil)
        #expect(slowed == 5, "a 429 without Retry-After halves the pace")
        #expect(try await limiters[1].currentRate(now: now) == 5, "the other client sees the learned pace")
        await #expect(throws: ConnectorError.self) {
            _ = try await limiters[1].acquire(now: now, maxWait: .milliseconds(100))
        }
        try await first.close()
        try await second.close()
    }
}

/// The conformance case "errors on a lost connection", the same on every backend: the backend goes away while a
/// store is open (a Redis server that stops answering, a PostgreSQL server that crashes, a SQLite file another
/// process keeps locked). Every operation that needs it fails within a bound with a temporary `state.unavailable`
/// error that says which store and what to check, never the password; nothing is left half-written; and the same
/// store object works again once the backend is back, without being reopened.
package struct StoreOutage: Sendable {
    /// Opens a store on a fresh namespace of the backend under test.
    package var open: @Sendable () async throws -> any StateStore
    /// Takes the backend away from the open store.
    package var cut: @Sendable () async throws -> Void
    /// Brings it back.
    package var restore: @Sendable () async throws -> Void
    /// What every error message must contain: the backend and where it is.
    package var names: String
    /// Text no error may contain (the password).
    package var secret: String?
    /// Whether reads fail too (a SQLite reader is not blocked by another process's write lock).
    package var readsFail: Bool
    /// How long one failing operation may take (the backend's command or busy timeout, plus slack).
    package var bound: Duration

    package init(
        open: @escaping @Sendable () async throws -> any StateStore, cut: @escaping @Sendable () async throws -> Void,
        restore: @escaping @Sendable () async throws -> Void, names: String, secret: String? = nil,
        readsFail: Bool = true, bound: Duration = .seconds(10)
    ) {
        self.open = open
        self.cut = cut
        self.restore = restore
        self.names = names
        self.secret = secret
        self.readsFail = readsFail
        self.bound = bound
    }

    package func run() async throws {
        let store = try await open()
        let version = try await store.put("k", Data("before".utf8), ttl: nil)
        _ = try await store.increment("n", by: 1, ttl: nil)
        try await cut()
        var operations: [(String, @Sendable () async throws -> Void)] = [
            ("put", { _ = try await store.put("k", Data("during".utf8), ttl: nil) }),
            ("putIfAbsent", { _ = try await store.putIfAbsent("fresh", Data("x".utf8), ttl: nil) }),
            (
                "compareAndSwap",
                { _ = try await store.compareAndSwap("k", expectedVersion: version, newValue: Data(), ttl: nil) }
            ),
            ("delete", { _ = try await store.delete("k") }),
            ("increment", { _ = try await store.increment("n", by: 1, ttl: nil) }),
            (
                "putAll",
                {
                    try await store.putAll([
                        ("all/1", Data("1".utf8), nil), ("all/2", Data("2".utf8), nil), ("all/3", Data("3".utf8), nil),
                    ])
                }
            ),
            (
                "commit",
                {
                    _ = try await store.commit([
                        .put("batch/1", Data("1".utf8), ttl: nil),
                        .append(counter: "log/seq", prefix: "log/", Data("entry".utf8), ttl: nil),
                    ])
                }
            ),
        ]
        if readsFail {
            operations.append(("get", { @Sendable in _ = try await store.get("k") }))
            operations.append(("scan", { @Sendable in _ = try await store.scan(prefix: "", after: nil, limit: 10) }))
        }
        for (name, operation) in operations {
            let started = ContinuousClock.now
            let error = await #expect(throws: ConnectorError.self, "\(name) during the outage") {
                try await operation()
            }
            #expect(ContinuousClock.now - started < bound, "\(name) gave up within \(bound), no hang")
            #expect(error?.code == .stateUnavailable, "\(name): \(error?.code.rawValue ?? "-")")
            #expect(error?.kind == .temporary, "\(name): a retry may pass")
            let message = error?.message ?? ""
            #expect(message.contains(names), "\(name): \(message)")
            if let secret { #expect(!message.contains(secret), "\(name): the password is never shown") }
        }
        try await restore()
        // The same store, not reopened: it reaches the backend again.
        var back = false
        for _ in 0..<50 where !back {
            back = (try? await store.get("n")) != nil
            if !back { try await Task.sleep(for: .milliseconds(100)) }
        }
        #expect(back, "the store works again once the backend is back")
        // What failed left nothing half-done. A write whose answer was lost may have landed whole (a retry is
        // harmless: the steps' writes are idempotent), never in part.
        let value = try await store.get("k")
        #expect(value == nil || [Data("before".utf8), Data("during".utf8), Data()].contains(value?.data))
        let all = try await store.getMany(["all/1", "all/2", "all/3"]).map { $0 != nil }
        #expect(all == [false, false, false] || all == [true, true, true], "putAll is all or nothing: \(all)")
        let batch = try await store.get("batch/1") != nil
        let logged = try await store.scan(prefix: "log/", after: nil, limit: 10).contains { $0.key != "log/seq" }
        #expect(batch == logged, "a committed batch is all or nothing")
        let counter = try await store.get("n").map { String(decoding: $0.data, as: UTF8.self) }
        #expect(counter == "1" || counter == "2", "the counter moved at most once: \(counter ?? "nil")")
        _ = try await store.put("after", Data("ok".utf8), ttl: nil)
        #expect(try await store.get("after")?.data == Data("ok".utf8))
        try await store.close()
    }
}
