import ConnectorCore
import Foundation
import Logging

/// Mapping first: an invoice waiting in review only for master data the ERP did not have (a vendor, a G/L account,
/// a dimension or one of its values, missing or unusable) goes through mapping again, without a person, once a
/// sync has brought every code it waits for. Run by `sync-vendors` and `sync-accounts` after they refresh their
/// tables; it sends the item's stored event again, as `review retry` does.
///
/// Each item is taken by a compare-and-swap on its version, from `open` to `retried`, before its event is sent:
/// two syncs at once, or a sync delivered again, send it once. An item whose reasons are not all awaited master
/// data (a total that does not add up, a number too long) stays for a person.
package struct ReviewRequeue: Sendable {
    package let context: StepContext

    package init(context: StepContext) {
        self.context = context
    }

    /// The steps whose review items are sent again: the mapping is the one that checks codes.
    static let steps: Set<String> = [TransformInvoiceHandler.step]

    /// Sends again every open item whose awaited codes are now all usable; returns the events to emit.
    /// - Parameter event: the sync's own event (the redelivered events name it as their cause).
    package func requeue(after event: CloudEvent, step: String) async throws -> [CloudEvent] {
        let queue = ReviewQueue(store: context.store, keys: context.keys)
        let candidates = try await queue.list(status: .open).filter { item in
            Self.steps.contains(item.step) && !item.reasons.isEmpty && item.reasons.allSatisfy { $0.awaits != nil }
        }
        guard !candidates.isEmpty else { return [] }
        let check = AwaitedCheck(masterData: MasterData(store: context.store, keys: context.keys))
        var events: [CloudEvent] = []
        for candidate in candidates {
            let awaited = candidate.reasons.compactMap(\.awaits)
            guard try await check.allUsable(awaited) else { continue }
            guard let claimed = try await claim(candidate.recordId, step: step, awaited: awaited) else { continue }
            let (item, version) = claimed
            var again = item.event
            again.id = "\(item.event.id)/requeued-\(version)"
            again.attempt = 1
            again.time = context.clock.now()
            again.causationid = event.id
            events.append(again)
            context.logger.info(
                "review item sent again",
                metadata: [
                    "record": "\(item.recordId)", "after": "\(step)",
                    "awaited": "\(awaited.map(\.description).joined(separator: ", "))",
                ])
        }
        return events
    }

    /// Moves the item from `open` to `retried` by compare-and-swap; nil when another run took it first.
    private func claim(_ recordId: String, step: String, awaited: [AwaitedCode]) async throws -> (ReviewItem, Int64)? {
        let key = context.keys.key("review", recordId)
        // Still open and still waiting for exactly what was checked (not replaced by a newer review meanwhile).
        guard let stored = try await context.store.get(key, as: ReviewItem.self), stored.value.status == .open,
            stored.value.reasons.allSatisfy({ $0.awaits != nil }),
            Set(stored.value.reasons.compactMap(\.awaits)) == Set(awaited)
        else { return nil }
        var item = stored.value
        item.status = .retried
        item.note =
            "retried automatically after \(step) brought \(awaited.map(\.description).joined(separator: ", "))"
        guard
            let version = try await context.store.compareAndSwap(
                key, expectedVersion: stored.version, newValue: JSONCoding.encodeScrubbed(item), ttl: nil)
        else { return nil }
        return (item, version)
    }
}

/// Whether awaited codes are now in the synced master data, usable (not blocked; accounts postable).
struct AwaitedCheck: Sendable {
    let masterData: MasterData

    func allUsable(_ awaited: [AwaitedCode]) async throws -> Bool {
        var dimensions: [String: ERPDimension?] = [:]
        for code in awaited {
            switch code.kind {
            case .vendor:
                guard let vendor = try await masterData.vendors.get(code.code), vendor.blocked != .all else {
                    return false
                }
            case .account:
                guard let account = try await masterData.accounts.get(code.code), !account.blocked, account.postable
                else { return false }
            case .dimension, .dimensionValue:
                let name = code.kind == .dimension ? code.code : (code.dimension ?? "")
                if dimensions[name] == nil { dimensions[name] = try await masterData.dimensions.get(name) }
                guard let dimension = dimensions[name] ?? nil else { return false }
                if code.kind == .dimensionValue {
                    guard let value = dimension.values.first(where: { $0.code == code.code }), !value.blocked else {
                        return false
                    }
                }
            }
        }
        return true
    }
}
