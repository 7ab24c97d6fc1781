import ConnectorCore
import Foundation
import Logging

/// Reads a JAGGAER list (invoices, purchase orders) cycle by cycle without skipping a row, whatever order the
/// server lists in (see ``InvoicePollCursor``): a keyset on (lastUpdate, id) where the list is sorted that way,
/// else offset paging that restarts the cycle when the list shifts. A list that ignores its paging or filter
/// parameters stops the cycle with a configuration error naming the setting to fix.
struct ListPaging: Sendable {
    let context: StepContext
    let order: ProcurementListOrder
    /// What the list holds, for messages ("invoice", "purchase order").
    let noun: String
    /// Key namespace of the ids read in a cycle.
    let namespace: String

    var keyset: Bool { order.allowsKeyset }
    /// Restarts of one cycle before the shifting list is reported as a configuration error.
    static let maxRestarts = 10

    /// Where the next page starts: from the keyset's `lastUpdate`, or at the offset in the window.
    ///
    /// The keyset asks from the first row at the key's `lastUpdate` and skips what it has read (rows at or before
    /// the key are re-read, costing no fetch), so a row that changes never shifts an unread one out of reach. Only
    /// when a whole page shares one `lastUpdate` (`keyTies` ≥ page size) does it step over the ties by offset, and
    /// then with half a page of overlap: a page that still begins at or before the key has no gap before it (see
    /// ``inspect``).
    func position(_ cursor: InvoicePollCursor) -> (startAt: Int, updatedSince: Date?) {
        guard keyset else { return (cursor.nextStartAt, cursor.windowFrom) }
        let ties = cursor.keyTies ?? 0
        let pageSize = context.connection.jaggaer.pageSize
        let startAt = ties >= pageSize ? max(1, ties + 1 - tieOverlap) : 1
        return (startAt, cursor.keyUpdatedAt ?? cursor.windowFrom)
    }

    /// Rows of overlap when stepping over ties by offset (none for pages of one row, which could not progress).
    private var tieOverlap: Int {
        let pageSize = context.connection.jaggaer.pageSize
        return pageSize >= 2 ? max(1, pageSize / 2) : 0
    }

    /// Checks a page: throws the configuration error of a list that ignores its parameters; returns why the
    /// cycle must restart when the list shifted under it, else nil.
    func inspect(
        _ page: InvoiceHeaderPage, headers: [InvoiceHeaderSummary], startAt: Int, updatedSince: Date?,
        cursor: InvoicePollCursor
    ) async throws -> String? {
        try checkPaging(page, headers: headers, startAt: startAt, updatedSince: updatedSince, cursor: cursor)
        if let reason = shiftReason(page, startAt: startAt, cursor: cursor, keyset: keyset) { return reason }
        // Stepping over ties by offset, the page must reach back to the key; if it begins past it, rows before it
        // left the ties (they changed) and an unread one may lie in between.
        if keyset, startAt > 1, tieOverlap > 0, let keyDate = cursor.keyUpdatedAt, let keyId = cursor.keyId,
            let first = headers.first, let firstDate = first.updatedAt,
            Self.keyOrder((keyDate, keyId), (firstDate, first.id))
        {
            return "the page at \(startAt) begins past the cursor: rows at its lastUpdate changed"
        }
        if !keyset, startAt > 1, let first = headers.first,
            try await context.store.get(cycleKey(cursor.cycleToken, first.id)) != nil
        {
            return "the page at \(startAt) begins with \(noun) \(first.id), already read this cycle"
        }
        return nil
    }

    /// Offset paging counts the distinct ids read this cycle (a skipped row shows as fewer read than listed).
    /// Returns the ids to mark as read in this cycle.
    func countDistinct(_ headers: [InvoiceHeaderSummary], malformed: Int, cursor: inout InvoicePollCursor)
        async throws -> [String]
    {
        guard !keyset else { return [] }
        var newIds = Set<String>()
        for header in headers where !newIds.contains(header.id) {
            if try await context.store.get(cycleKey(cursor.cycleToken, header.id)) == nil {
                newIds.insert(header.id)
            }
        }
        cursor.distinct = (cursor.distinct ?? 0) + newIds.count + malformed
        return headers.map(\.id)
    }

    /// The cursor after the page, and whether the cycle goes on. A cycle whose offset paging read fewer distinct
    /// ids than listed restarts (`restart` is set); the caller closes a cycle that does not go on.
    func advance(
        _ cursor: InvoicePollCursor, page: InvoiceHeaderPage, headers: [InvoiceHeaderSummary], startAt: Int,
        restart: inout String?
    ) throws -> (next: InvoicePollCursor, more: Bool) {
        let pageSize = context.connection.jaggaer.pageSize
        let full = page.returned >= pageSize && page.returned > 0
        let more = full && (page.total.map { startAt - 1 + page.returned < $0 } ?? true)
        if restart == nil, !more, !keyset, let total = page.total ?? cursor.cycleTotal,
            let distinct = cursor.distinct, distinct < total
        {
            restart = "the cycle read \(distinct) distinct \(noun)s of \(total) listed"
        }
        var next = cursor
        if startAt == 1, let answered = page.startAt { next.startAtDelta = answered - 1 }
        if let reason = restart {
            context.logger.warning(
                "the \(noun) list shifted during a cycle; restarting the cycle from its window",
                metadata: ["reason": "\(reason)"])
            // A list that shifts under every cycle would keep the poll restarting without end (and exit 0 each
            // time): after this many restarts it is a configuration matter, a stable order to ask for.
            if (cursor.restarts ?? 0) >= Self.maxRestarts {
                throw pagingError(
                    "the \(noun) list shifted \(Self.maxRestarts + 1) times in one cycle (last: \(reason))",
                    fix:
                        "jaggaer.listOrder (with jaggaer.sortParameter and jaggaer.sortValue) to an order by lastUpdate"
                )
            }
            return (next.restarted(), true)
        }
        if keyset {
            advanceKeyset(&next, page: page, headers: headers, startAt: startAt)
        } else if more {
            next.nextStartAt += page.returned
            next.cycleTotal = cursor.cycleTotal ?? page.total
            if startAt == 1 { next.firstPageIds = headers.map(\.id) }
        }
        return (next, more)
    }

    /// Ends a cycle: the next starts at the newest change seen minus the overlap.
    static func closeCycle(_ next: inout InvoicePollCursor, overlapSeconds: Int) {
        next.windowFrom = next.highWater.map { $0.addingTimeInterval(-TimeInterval(overlapSeconds)) } ?? next.windowFrom
        next.nextStartAt = 1
        next.cycle += 1
        next.recapture = nil
        next.keyUpdatedAt = nil
        next.keyId = nil
        next.keyTies = nil
        next.restarts = nil
        next.cycleTotal = nil
        next.firstPageIds = nil
        next.distinct = nil
    }

    /// The store entries that mark `ids` as read in the cycle `token` (kept a week).
    static func marks(context: StepContext, namespace: String, token: String, ids: [String]) throws
        -> [(key: String, value: Data, ttl: Duration?)]
    {
        try Set(ids).map { id in
            (key: context.keys.key(namespace, token, id), value: try JSONCoding.encode(true), ttl: .seconds(7 * 86400))
        }
    }

    private func cycleKey(_ token: String, _ id: String) -> String {
        context.keys.key(namespace, token, id)
    }

    /// A list that ignores its paging or filter parameters would make the cycle end after an under-capture, so
    /// it stops the cycle with a configuration error that names the setting to fix.
    func checkPaging(
        _ page: InvoiceHeaderPage, headers: [InvoiceHeaderSummary], startAt: Int, updatedSince: Date?,
        cursor: InvoicePollCursor
    ) throws {
        let settings = context.connection.jaggaer
        let rows = max(page.items.count, page.returned)
        if rows > settings.pageSize {
            throw pagingError(
                "the \(noun) list returned \(rows) rows for a page of \(settings.pageSize): it ignores the page-size parameter '\(settings.pageSizeParameter)'",
                fix: "jaggaer.pageSizeParameter")
        }
        if startAt > 1, let answered = page.startAt, answered == 1 + (cursor.startAtDelta ?? 0) {
            throw pagingError(
                "asked for startAt \(startAt), the \(noun) list answered with its first page: it ignores the start parameter '\(settings.startParameter)'",
                fix: "jaggaer.startParameter")
        }
        let ids = headers.map(\.id)
        if startAt > 1, let first = cursor.firstPageIds, !first.isEmpty, ids == first {
            throw pagingError(
                "asked for startAt \(startAt), the \(noun) list returned its first page again: it ignores the start parameter '\(settings.startParameter)'",
                fix: "jaggaer.startParameter")
        }
        if let updatedSince,
            let early = headers.first(where: {
                ($0.updatedAt ?? .distantFuture) < updatedSince.addingTimeInterval(-0.001)
            })
        {
            throw pagingError(
                "asked for invoices changed since \(Timestamp.format(updatedSince)), the list returned \(noun) \(early.id) changed at \(early.updatedAt.map(Timestamp.format) ?? "?"): it ignores the filter parameter '\(settings.updatedSinceParameter)'",
                fix: "jaggaer.updatedSinceParameter")
        }
        switch order {
        case .lastUpdate:
            let keys = headers.compactMap { header in header.updatedAt.map { ($0, header.id) } }
            if zip(keys, keys.dropFirst()).contains(where: { Self.keyOrder($1, $0) }) {
                throw pagingError(
                    "jaggaer.listOrder is lastUpdate, but the \(noun) list is not sorted by (lastUpdate, id)",
                    fix: "jaggaer.sortParameter and jaggaer.sortValue (a sort the list honours) or jaggaer.listOrder")
            }
            if startAt > 1, page.returned >= settings.pageSize, let keyDate = cursor.keyUpdatedAt,
                let keyId = cursor.keyId,
                keys.allSatisfy({ !Self.keyOrder((keyDate, keyId), $0) })
            {
                throw pagingError(
                    "asked for startAt \(startAt), the \(noun) list returned no row past the cursor: it ignores the start parameter '\(settings.startParameter)'",
                    fix: "jaggaer.startParameter")
            }
        case .invoiceId:
            if zip(ids, ids.dropFirst()).contains(where: { Self.idOrder($1, $0) }) {
                throw pagingError(
                    "jaggaer.listOrder is invoiceId, but the \(noun) list is not sorted by id",
                    fix: "jaggaer.listOrder")
            }
        case .lastUpdateDescending, .unknown:
            break
        }
    }

    private func pagingError(_ problem: String, fix: String) -> ConnectorError {
        ConnectorError(
            .configInvalid,
            "\(problem); set \(fix) to what your JAGGAER tenant serves. The cycle is stopped, so no \(noun) is skipped silently"
        )
    }

    /// Whether invoice id `a` sorts before `b` (numerically when both are numbers).
    package static func idOrder(_ a: String, _ b: String) -> Bool {
        if let x = Int64(a), let y = Int64(b) { return x < y }
        return a < b
    }

    /// Whether (lastUpdate, id) `a` sorts before `b`.
    package static func keyOrder(_ a: (Date, String), _ b: (Date, String)) -> Bool {
        a.0 != b.0 ? a.0 < b.0 : idOrder(a.1, b.1)
    }

    /// A list answer that shows the cycle's rows moved under it (offset or keyset): restart from the window.
    func shiftReason(_ page: InvoiceHeaderPage, startAt: Int, cursor: InvoicePollCursor, keyset: Bool)
        -> String?
    {
        if startAt > 1, let answered = page.startAt, answered - startAt != (cursor.startAtDelta ?? 0) {
            return "asked for startAt \(startAt), the list answered startAt \(answered)"
        }
        if !keyset, let before = cursor.cycleTotal, let total = page.total, total != before {
            return "totRecords changed from \(before) to \(total) during the cycle"
        }
        return nil
    }

    /// Moves the keyset past the page: its last row, and how many rows at exactly that `lastUpdate` have been
    /// read (the next page asks from that `lastUpdate` and starts after them).
    func advanceKeyset(
        _ next: inout InvoicePollCursor, page: InvoiceHeaderPage, headers: [InvoiceHeaderSummary], startAt: Int
    ) {
        guard let last = headers.last(where: { $0.updatedAt != nil }), let key = last.updatedAt else {
            next.keyTies = startAt - 1 + page.returned
            return
        }
        // Rows (malformed ones included) after the last one with an earlier lastUpdate share the key's lastUpdate.
        var tail = 0
        var crossed = false
        for item in page.items.reversed() {
            if case .success(let header) = item, let updated = header.updatedAt, updated != key {
                crossed = true
                break
            }
            tail += 1
        }
        // Positions are counted from the first row at the key's lastUpdate (the next request's start).
        let carried = !crossed && next.keyUpdatedAt == key ? startAt - 1 : 0
        next.keyUpdatedAt = key
        next.keyId = last.id
        next.keyTies = carried + tail
    }

}
