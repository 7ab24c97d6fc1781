import ConnectorCore
import Foundation
import Testing

/// The behaviour every work queue backend must show (the generic one over SQLite and in-memory stores, Redis
/// Streams), on real time with short visibility timeouts. `make` opens one fresh, empty queue twice: two clients
/// (separate connections where the backend has them) of the same queue, as two worker processes would.
package enum WorkQueueConformance {
    package typealias Factory = @Sendable () async throws -> (WorkQueue, WorkQueue)

    package static func run(_ make: Factory) async throws {
        try await exclusiveClaims(make)
        try await expiredClaimsAreRedelivered(make)
        try await ackAndRelease(make)
        try await delayedItemsWait(make)
        try await recoverAndLanes(make)
        try await batchEnqueue(make)
        try await completeQueuesAndAcks(make)
        try await fairClaims(make)
    }

    package static func item(
        _ step: String, _ index: Int, notBefore: Date = Date(), connection: String? = "acme"
    ) -> WorkItem {
        WorkItem(
            function: step,
            event: CloudEvent(
                id: "event-\(index)", source: "urn:test", type: "com.mlconnector.test", data: .object([:]),
                connection: connection),
            notBefore: notBefore, enqueuedAt: Date())
    }

    /// A fair claim takes each next item from the connection with the fewest in flight (the caller's own, plus
    /// live claims of other consumers it meets), oldest first among equals, no deeper than its window; a backend
    /// that cannot pick out of order (`balancesConnections` false) hands them out oldest first, as a plain claim.
    static func fairClaims(_ make: Factory) async throws {
        let (first, second) = try await make()
        let step = "write-erp-invoice"
        let start = Date().addingTimeInterval(-60)
        // Six items of `big` queued first, then two of `small`, then one naming no connection.
        var items: [WorkItem] = []
        for index in 0..<6 {
            items.append(item(step, index, notBefore: start.addingTimeInterval(Double(index)), connection: "big"))
        }
        for index in 6..<8 {
            items.append(item(step, index, notBefore: start.addingTimeInterval(Double(index)), connection: "small"))
        }
        items.append(item(step, 8, notBefore: start.addingTimeInterval(8), connection: nil))
        for item in items { try await first.enqueue(item) }
        let ids = { (claims: [QueueClaim]) in claims.map(\.item.event.id) }

        guard first.balancesConnections else {
            let claims = try await first.claim(
                step: step, consumer: "a", limit: 2, visibility: .seconds(60), inFlight: ["big": 3])
            #expect(ids(claims) == ["event-0", "event-1"], "oldest first")
            for claim in claims { #expect(try await first.ack(claim)) }
            for claim in try await first.claim(step: step, consumer: "a", limit: 20, visibility: .seconds(60)) {
                #expect(try await first.ack(claim))
            }
            #expect(try await first.count(step: step) == 0)
            return
        }
        #expect(second.balancesConnections)

        // The window: three items deep, only `big` is seen, so it gets the claim whatever runs.
        let shallow = try await second.claim(
            step: step, consumer: "w", limit: 1, visibility: .seconds(60), inFlight: ["big": 5], window: 3)
        #expect(ids(shallow) == ["event-0"], "nothing past the window is looked at")

        // `big` holds one (event-0, claimed by `w`, another consumer, met on the way): the claim goes to `small`
        // (older than the connection-less item), then to the connection-less one (nothing in flight), then, with
        // all at one, to the oldest (`big`), then to `small` (one against `big`'s two).
        let fair = try await first.claim(step: step, consumer: "a", limit: 4, visibility: .seconds(60), inFlight: [:])
        #expect(ids(fair) == ["event-6", "event-8", "event-1", "event-7"], "\(ids(fair))")

        // `a` says it runs two of `big` and the live claims it meets count too: `big` is all that is left.
        let rest = try await second.claim(
            step: step, consumer: "a", limit: 10, visibility: .seconds(60), inFlight: ["big": 1, "small": 2])
        #expect(ids(rest) == ["event-2", "event-3", "event-4", "event-5"], "\(ids(rest))")
        #expect(
            try await first.claim(step: step, consumer: "b", limit: 5, visibility: .seconds(60), inFlight: [:]).isEmpty,
            "claimed items are hidden from fair claims too")
        for claim in shallow + fair + rest { #expect(try await second.ack(claim)) }
        #expect(try await first.count(step: step) == 0)
    }

    /// Two consumers racing for 40 items never hold the same one, and together they get every one.
    static func exclusiveClaims(_ make: Factory) async throws {
        let (first, second) = try await make()
        var ids = Set<String>()
        for index in 0..<40 { ids.insert(try await first.enqueue(item("write-erp-invoice", index)).id) }
        #expect(try await first.count(step: "write-erp-invoice") == 40)
        let held = try await withThrowingTaskGroup(of: [QueueClaim].self) { group in
            for (name, queue) in [("a", first), ("b", second), ("c", first), ("d", second)] {
                group.addTask {
                    var mine: [QueueClaim] = []
                    while true {
                        let claims = try await queue.claim(
                            step: "write-erp-invoice", consumer: name, limit: 3, visibility: .seconds(60))
                        if claims.isEmpty { return mine }
                        mine += claims
                    }
                }
            }
            return try await group.reduce(into: [QueueClaim]()) { $0 += $1 }
        }
        let claimed = held.map(\.item.id)
        #expect(claimed.count == 40, "every item claimed once: \(claimed.count)")
        #expect(Set(claimed) == ids, "no item twice, none missing")
        #expect(held.allSatisfy { $0.deliveries == 1 })
        #expect(
            try await second.claim(step: "write-erp-invoice", consumer: "e", limit: 10, visibility: .seconds(60))
                .isEmpty, "claimed items are hidden")
        #expect(try await first.count(step: "write-erp-invoice") == 40, "claimed items still count")
        for claim in held { #expect(try await second.ack(claim)) }
        #expect(try await first.count(step: "write-erp-invoice") == 0)
        #expect(try await first.count() == 0)
    }

    /// A claim whose holder died runs out once it is older than the visibility timeout; the item goes to the next
    /// claimer, and the dead holder's late ack does nothing.
    static func expiredClaimsAreRedelivered(_ make: Factory) async throws {
        let (first, second) = try await make()
        let queued = try await first.enqueue(item("transform-invoice", 1))
        let dead = try #require(
            try await first.claim(step: "transform-invoice", consumer: "dead", limit: 5, visibility: .seconds(1)).first)
        #expect(dead.item.id == queued.id)
        #expect(
            try await second.claim(step: "transform-invoice", consumer: "b", limit: 5, visibility: .seconds(1)).isEmpty)
        try await Task.sleep(for: .milliseconds(1300))
        let taken = try await second.claim(step: "transform-invoice", consumer: "b", limit: 5, visibility: .seconds(1))
        #expect(taken.map(\.item.id) == [queued.id], "redelivered after the claim ran out")
        #expect(taken.first?.deliveries == 2)
        #expect(taken.first?.item.event.id == "event-1")
        #expect(try await !first.ack(dead), "the dead holder's late ack does nothing")
        #expect(try await !first.release(dead), "nor its release")
        #expect(
            try await first.claim(step: "transform-invoice", consumer: "c", limit: 5, visibility: .seconds(30)).isEmpty,
            "the new claim is live")
        #expect(try await second.ack(try #require(taken.first)))
        #expect(try await !second.ack(try #require(taken.first)), "a second ack finds nothing")
        #expect(try await first.count() == 0)
    }

    /// Ack removes; release makes the item claimable again (as changed), now or later.
    static func ackAndRelease(_ make: Factory) async throws {
        let (first, second) = try await make()
        try await first.enqueue(item("sync-vendors", 1))
        let claim = try #require(
            try await first.claim(step: "sync-vendors", consumer: "a", limit: 1, visibility: .seconds(60)).first)
        var next = claim.item.event
        next.attempt = 2
        #expect(try await first.release(claim, event: next))
        let again = try #require(
            try await second.claim(step: "sync-vendors", consumer: "b", limit: 1, visibility: .seconds(60)).first)
        #expect(again.item.event.attempt == 2, "released as changed")
        #expect(again.item.id != claim.item.id)
        #expect(try await first.count(step: "sync-vendors") == 1, "a release moves, never copies")
        #expect(try await second.release(again, notBefore: Date().addingTimeInterval(1.5)))
        #expect(try await first.claim(step: "sync-vendors", consumer: "a", limit: 1, visibility: .seconds(60)).isEmpty)
        #expect(try await first.count(step: "sync-vendors") == 1)
        try await Task.sleep(for: .milliseconds(1700))
        let later = try #require(
            try await first.claim(step: "sync-vendors", consumer: "a", limit: 1, visibility: .seconds(60)).first)
        #expect(later.item.event.attempt == 2)
        #expect(try await first.ack(later))
        #expect(try await second.count() == 0)
    }

    /// An item enqueued for later is not handed out before its time; `nextDue` says when.
    static func delayedItemsWait(_ make: Factory) async throws {
        let (first, second) = try await make()
        let at = Date().addingTimeInterval(1.5)
        try await first.enqueue(item("sync-accounts", 1, notBefore: at))
        try await first.enqueue(item("sync-accounts", 2, notBefore: Date().addingTimeInterval(3600)))
        #expect(
            try await second.claim(step: "sync-accounts", consumer: "b", limit: 5, visibility: .seconds(60)).isEmpty)
        let due = try #require(try await second.nextDue(step: "sync-accounts"))
        #expect(abs(due.timeIntervalSince(at)) < 0.1, "next due \(due) vs \(at)")
        #expect(try await second.nextDue(step: "sync-vendors") == nil, "an empty lane has nothing due")
        try await Task.sleep(for: .milliseconds(1700))
        let claims = try await second.claim(step: "sync-accounts", consumer: "b", limit: 5, visibility: .seconds(60))
        #expect(claims.map(\.item.event.id) == ["event-1"], "only the item whose time came")
        #expect(try await first.count(step: "sync-accounts") == 2)
        let listed = try await first.all(step: "sync-accounts")
        #expect(Set(listed.map(\.event.id)) == ["event-1", "event-2"])
        let waiting = try #require(listed.first { $0.event.id == "event-2" })
        #expect(try await first.remove(waiting), "an unclaimed item can be removed")
        let held = try #require(listed.first { $0.event.id == "event-1" })
        #expect(try await !first.remove(held), "a claimed one cannot")
        #expect(try await second.ack(try #require(claims.first)))
        #expect(try await first.count() == 0)
    }

    /// `recover` hands a stopped consumer's items back at once; steps are separate lanes.
    static func recoverAndLanes(_ make: Factory) async throws {
        let (first, second) = try await make()
        for index in 0..<3 { try await first.enqueue(item("post-erp-invoice", index)) }
        try await first.enqueue(item("sync-payment-status", 9))
        let held = try await first.claim(
            step: "post-erp-invoice", consumer: "runner", limit: 2, visibility: .seconds(600))
        #expect(held.count == 2)
        #expect(try await first.recover(consumer: "someone-else") == 0)
        #expect(try await second.recover(consumer: "runner") == 2)
        let all = try await second.claim(step: "post-erp-invoice", consumer: "b", limit: 10, visibility: .seconds(60))
        #expect(all.count == 3, "the recovered items and the third")
        #expect(Set(all.map(\.item.event.id)) == ["event-0", "event-1", "event-2"])
        let other = try await second.claim(
            step: "sync-payment-status", consumer: "b", limit: 10, visibility: .seconds(60))
        #expect(other.map(\.item.event.id) == ["event-9"])
        for claim in all + other { #expect(try await second.ack(claim)) }
        #expect(try await first.count() == 0)
    }

    /// A batch (the events one step emitted, for several steps) is queued as if item by item: every item in its own
    /// step's lane, in order, claimable by the other client, due ones at once and delayed ones later.
    static func batchEnqueue(_ make: Factory) async throws {
        let (first, second) = try await make()
        #expect(try await first.enqueue(contentsOf: []).isEmpty)
        let later = Date().addingTimeInterval(3600)
        let batch =
            (0..<5).map { item("write-erp-invoice", $0) } + [item("post-erp-invoice", 5)]
            + [item("write-erp-invoice", 6, notBefore: later)]
        let stored = try await first.enqueue(contentsOf: batch)
        #expect(stored.map(\.id) == batch.map(\.id), "returned in order")
        #expect(stored.allSatisfy { $0.queueKey != nil })
        #expect(try await second.count(step: "write-erp-invoice") == 6)
        #expect(try await second.count(step: "post-erp-invoice") == 1)
        let claims = try await second.claim(
            step: "write-erp-invoice", consumer: "b", limit: 10, visibility: .seconds(60))
        // Items due in the same millisecond have no order among them (as when enqueued one by one).
        #expect(
            Set(claims.map(\.item.event.id)) == Set((0..<5).map { "event-\($0)" }), "the due ones, not the delayed one")
        let other = try await second.claim(step: "post-erp-invoice", consumer: "b", limit: 10, visibility: .seconds(60))
        #expect(other.map(\.item.event.id) == ["event-5"])
        for claim in claims + other { #expect(try await second.ack(claim)) }
        #expect(try await first.count() == 1, "the delayed item stays")
        await #expect {
            try await first.enqueue(contentsOf: [item("write-erp-invoice", 7), item("Not A Step", 8)])
        } throws: { ($0 as? ConnectorError)?.code == .configInvalid }
        #expect(try await first.count() == 1, "a batch with an invalid step name queues nothing")
    }

    /// `complete` queues what a step emitted and acks its claim; for a superseded delivery it still queues the items
    /// and answers false, and the item stays with its new holder.
    static func completeQueuesAndAcks(_ make: Factory) async throws {
        let (first, second) = try await make()
        try await first.enqueue(item("transform-invoice", 1))
        let claim = try #require(
            try await first.claim(step: "transform-invoice", consumer: "a", limit: 1, visibility: .seconds(60)).first)
        let emitted = [item("write-erp-invoice", 2), item("post-erp-invoice", 3)]
        let done = try await first.complete(claim, enqueueing: emitted)
        #expect(done.acked)
        #expect(done.items.map(\.id) == emitted.map(\.id) && done.items.allSatisfy { $0.queueKey != nil })
        #expect(try await second.count(step: "transform-invoice") == 0)
        let next = try await second.claim(step: "write-erp-invoice", consumer: "b", limit: 5, visibility: .seconds(60))
        #expect(next.map(\.item.event.id) == ["event-2"])
        #expect(try await second.complete(try #require(next.first), enqueueing: []).acked, "nothing emitted")
        #expect(try await second.count(step: "write-erp-invoice") == 0)

        // A delivery that ran out and went to another consumer: its events are kept, its ack does nothing.
        try await first.enqueue(item("transform-invoice", 4))
        let lost = try #require(
            try await first.claim(step: "transform-invoice", consumer: "a", limit: 1, visibility: .milliseconds(200))
                .first)
        try await Task.sleep(for: .milliseconds(300))
        let taken = try #require(
            try await second.claim(
                step: "transform-invoice", consumer: "b", limit: 1, visibility: .milliseconds(200)
            ).first)
        let late = try await first.complete(lost, enqueueing: [item("write-erp-invoice", 5)])
        #expect(!late.acked)
        #expect(try await second.count(step: "write-erp-invoice") == 1, "the events of a superseded delivery are kept")
        #expect(try await second.count(step: "transform-invoice") == 1, "the item stays with its new holder")
        #expect(try await second.ack(taken))
        #expect(try await first.count(step: "transform-invoice") == 0)
    }
}
