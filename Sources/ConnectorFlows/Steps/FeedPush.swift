import ConnectorCore
import Foundation

/// Where the last run stopped in an ERP feed that is pushed on to the procurement system.
package struct PushPosition: Sendable, Codable, Hashable {
    package var cursor: ChangeCursor?
    package var syncedAt: Date
}

/// Pushes one of the ERP's change feeds (released products, confirmed purchase orders) on to the procurement system,
/// page by page from a stored cursor, and counts what it did.
///
/// Each item's push is the caller's (`push`): in the procurement system (sent, or unchanged since it was sent),
/// refused (in review), or failed for now. The cursor moves after a page every item of which is in the procurement
/// system or was refused, never before; an item that failed stops the walk with the cursor where it was, so the next
/// run reads it again (an error `push` throws does the same, failing the step). Another run that moved the cursor
/// meanwhile stops this one (`inFlight`, with `conflict` as its message).
struct FeedPush<Item: Sendable> {
    let context: StepContext
    let cursorName: String
    let conflict: String

    enum Outcome {
        case pushed
        case refused
        case failed(ConnectorError)
    }

    struct Tally {
        var read = 0
        var pages = 0
        /// Sent and unchanged.
        var counts = ProcurementPush.Counts()
        /// The ids of the items refused, in the order read.
        var refused: [String] = []
        /// The items that failed for now, in the order read.
        var failed: [(id: String, error: ConnectorError)] = []
    }

    func run(
        fromStart: Bool,
        read: (ChangeCursor?) async throws -> ChangePage<Item>,
        id: (Item) -> String,
        push: (Item, inout ProcurementPush.Counts) async throws -> Outcome
    ) async throws -> Tally {
        let cursors = CursorStore<PushPosition>(store: context.store, keys: context.keys, name: cursorName)
        let loaded = try await cursors.load()
        var version = loaded?.version
        var cursor = fromStart ? nil : loaded?.cursor.cursor
        var tally = Tally()
        while true {
            let page = try await read(cursor)
            tally.pages += 1
            tally.read += page.items.count
            for item in page.items {
                switch try await push(item, &tally.counts) {
                case .pushed: break
                case .refused: tally.refused.append(id(item))
                case .failed(let error): tally.failed.append((id(item), error))
                }
            }
            guard tally.failed.isEmpty else { break }
            cursor = page.next ?? cursor
            guard
                try await cursors.save(
                    PushPosition(cursor: cursor, syncedAt: context.clock.now()), expectedVersion: version)
            else {
                throw ConnectorError(.inFlight, conflict, retryAt: context.clock.now().addingTimeInterval(30))
            }
            version = try await cursors.load()?.version
            if !page.hasMore { break }
        }
        return tally
    }
}
