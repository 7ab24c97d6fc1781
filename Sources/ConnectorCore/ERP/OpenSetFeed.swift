/// A change feed over rows that an ERP posts with an ever-growing key and then changes in place, with no stamp that
/// says when: invoice entries in a vendor ledger (Dynamics NAV's Vendor Ledger Entries, F&O's vendor transactions),
/// whose payment state changes as payments are applied to them.
///
/// What only grows is the key, so one pass of the feed is:
/// 1. the rows that are open now, up to the highest key seen (keyset on the key), compared with the ones that were
///    open at the last pass: a row that was open and is not any more is read by its key (closed since);
/// 2. the rows posted since (key above the highest seen), open or not.
///
/// The cursor carries the highest key, the phase and position within the pass, and the keys of the open rows (what
/// "was open at the last pass" means). A caller whose consumer drops unchanged states (the payment-status step's
/// digest) pays for re-reading every open row each pass in reads, never in writes.
package struct OpenSetFeed: Sendable, Hashable {
    package enum Phase: String, Sendable { case open, new }

    /// The highest key seen by a finished `new` phase.
    package var highest: Int64
    package var phase: Phase
    /// The last key read in the current phase.
    package var position: Int64
    /// Keys of the rows that were open when last read, ascending.
    package var open: [Int64]

    /// Where a feed starts: every row is new.
    package static let start = OpenSetFeed(highest: 0, phase: .new, position: 0, open: [])

    package init(highest: Int64, phase: Phase, position: Int64, open: [Int64]) {
        self.highest = highest
        self.phase = phase
        self.position = position
        self.open = open
    }

    /// The feed at `cursor` (`<prefix><highest>|<phase>|<position>|<open keys>`); a cursor of another shape, or of
    /// another feed (`prefix`), is refused as a configuration error naming `feed`.
    package init(_ cursor: ChangeCursor, prefix: String, feed: String) throws {
        let refused = ConnectorError(.configInvalid, "\(cursor.value.prefix(40)) is not a \(feed) cursor")
        let parts = cursor.value.split(separator: "|", omittingEmptySubsequences: false).map(String.init)
        guard parts.count == 4, parts[0].hasPrefix(prefix), let highest = Int64(parts[0].dropFirst(prefix.count)),
            let phase = Phase(rawValue: parts[1]), let position = Int64(parts[2])
        else { throw refused }
        var open: [Int64] = []
        for text in parts[3].split(separator: ",") {
            guard let key = Int64(text) else { throw refused }
            open.append(key)
        }
        self.init(highest: highest, phase: phase, position: position, open: open)
    }

    /// The cursor of this position, with the feed's `prefix`.
    package func cursor(prefix: String) -> ChangeCursor {
        ChangeCursor(
            "\(prefix)\(highest)|\(phase.rawValue)|\(position)|\(open.map(String.init).joined(separator: ","))")
    }

    /// Reads the next page of at most `size` rows and moves the feed past it; `hasMore` is false once a pass is done.
    ///
    /// - `openRows(after, upTo, top)`: up to `top` open rows with a key in `after < key <= upTo`, by key ascending.
    /// - `rows(keys)`: the rows with these keys (rows that were open and may have closed since).
    /// - `postedRows(after, top)`: up to `top` rows, open or not, with a key above `after`, by key ascending.
    package mutating func next<Row>(
        size: Int,
        openRows: (_ after: Int64, _ upTo: Int64, _ top: Int) async throws -> [Row],
        rows readRows: ([Int64]) async throws -> [Row],
        postedRows: (_ after: Int64, _ top: Int) async throws -> [Row],
        key: (Row) -> Int64?, isOpen: (Row) -> Bool
    ) async throws -> (rows: [Row], hasMore: Bool) {
        let size = max(1, size)
        switch phase {
        case .open:
            var rows = try await openRows(position, highest, size)
            let full = rows.count >= size
            let lower = position
            let upper = full ? (rows.compactMap(key).max() ?? highest) : highest
            let openNow = Set(rows.filter(isOpen).compactMap(key))
            let inRange = open.filter { $0 > lower && $0 <= upper }
            // Open at the last pass, not open now: closed since (or reversed); read them by key.
            rows += try await readRows(inRange.filter { !openNow.contains($0) })
            open = (open.filter { $0 <= lower || $0 > upper } + openNow).sorted()
            if full {
                position = upper
            } else {
                phase = .new
                position = highest
            }
            return (rows, true)
        case .new:
            let rows = try await postedRows(position, size)
            let last = rows.compactMap(key).max() ?? position
            open = Array(Set(open).union(rows.filter(isOpen).compactMap(key))).sorted()
            highest = max(highest, last)
            if rows.count >= size {
                position = last
                return (rows, true)
            }
            // The pass is done: the next one starts again with the open rows.
            phase = .open
            position = 0
            return (rows, false)
        }
    }
}
