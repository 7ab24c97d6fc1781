import ConnectorCore
import Foundation
import Synchronization
import Testing

/// The behaviour every `StateStore` backend must show. Each backend's test suite calls `run` with a factory that
/// opens a fresh, empty store using the given clock.
package enum StateStoreConformance {
    package typealias Factory = @Sendable (_ now: @escaping @Sendable () -> Date) async throws -> any StateStore

    package static func run(_ make: Factory) async throws {
        try await basics(make)
        try await putIfAbsentAndCAS(make)
        try await versionsNeverRepeat(make)
        try await expiry(make)
        try await counters(make)
        try await scanning(make)
        try await concurrency(make)
        try await valuesAreBytes(make)
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
        #expect(second > first, "a re-created key must not reuse an old version (ABA)")
        #expect(try await store.compareAndSwap("k", expectedVersion: first, newValue: Data("x".utf8), ttl: nil) == nil)
        let other = try await store.put("other", Data(), ttl: nil)
        #expect(other > second, "versions increase across keys")
        try await store.close()
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

    /// A manual clock for the expiry checks.
    final class Clock: Sendable {
        private let seconds = Mutex<TimeInterval>(1_800_000_000)
        func advance(_ delta: TimeInterval) { seconds.withLock { $0 += delta } }
        var now: @Sendable () -> Date { { [self] in Date(timeIntervalSince1970: self.seconds.withLock { $0 }) } }
    }
}
