import ConnectorCore
import ConnectorRuntime
import Foundation

/// A second OS process on a store, for the conformance case "two processes at once" (`StoreProcessesTests`): it opens
/// the store named by `MLC_STATE` the way a step does and races the other process on the same keys and queue. Not a
/// user tool; it is not in the image.
///
///   mlc-store-probe <index> <keys> <rounds> <items>
///
/// - waits until the other process is ready (the counter `ready` reaches 2), so that the two really race;
/// - claims keys `claim/0..<keys>` with putIfAbsent, counting the ones it won;
/// - adds 1 to the JSON counter `sum` by compare-and-swap and to the native counter `hits`, `rounds` times each;
/// - enqueues `items` items on the step lane `probe`, then claims and acks until the lane is empty, listing the items
///   it acked.
/// Prints one JSON line: `{"index", "won", "acked": [ids]}`; exits 1 with the error on stderr when anything fails.
@main
enum StoreProbe {
    struct Report: Codable {
        var index: Int
        var won: Int
        var acked: [String]
    }

    static func main() async {
        let arguments = CommandLine.arguments.dropFirst().compactMap { Int($0) }
        guard arguments.count == 4 else {
            FileHandle.standardError.write(Data("usage: mlc-store-probe <index> <keys> <rounds> <items>\n".utf8))
            exit(64)
        }
        let (index, keys, rounds, items) = (arguments[0], arguments[1], arguments[2], arguments[3])
        do {
            let store = try await StateStores.open(try StateStores.url(), mode: .readWrite)
            // Both processes start racing together: each says it is ready and waits for the other (30 s at most).
            _ = try await store.increment("ready", by: 1, ttl: nil)
            let deadline = ContinuousClock.now + .seconds(30)
            while try await store.get("ready")?.data != Data("2".utf8) {
                guard ContinuousClock.now < deadline else {
                    throw ConnectorError(.stateUnavailable, "the other probe never became ready")
                }
                try await Task.sleep(for: .milliseconds(1))
            }
            var report = Report(index: index, won: 0, acked: [])
            for key in 0..<keys
            where try await store.putIfAbsent("claim/\(key)", Data("\(index)".utf8), ttl: nil) != nil {
                report.won += 1
            }
            for _ in 0..<rounds {
                try await store.update("sum", as: Int.self) { @Sendable in ($0 ?? 0) + 1 }
                _ = try await store.increment("hits", by: 1, ttl: nil)
            }
            let queue = WorkQueue(store: store)
            for number in 0..<items {
                let event = CloudEvent(
                    source: "urn:probe", type: "com.mlconnector.probe", data: .object(["n": .number(Decimal(number))]),
                    connection: "probe-\(index)")
                try await queue.enqueue(
                    WorkItem(
                        id: "p\(index)-\(number)", function: "probe", event: event, notBefore: Date(),
                        enqueuedAt: Date()))
            }
            let consumer = "probe-\(index)-\(ProcessInfo.processInfo.processIdentifier)"
            while true {
                let claims = try await queue.claim(
                    step: "probe", consumer: consumer, limit: 2, visibility: .seconds(60))
                if claims.isEmpty { break }
                for claim in claims where try await queue.ack(claim) { report.acked.append(claim.item.id) }
            }
            try await store.close()
            print(String(decoding: try JSONCoding.encode(report), as: UTF8.self))
            exit(0)
        } catch {
            FileHandle.standardError.write(Data("mlc-store-probe: \(ConnectorError.wrap(error).message)\n".utf8))
            exit(1)
        }
    }
}
