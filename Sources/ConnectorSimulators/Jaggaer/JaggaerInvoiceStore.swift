import Foundation
import Synchronization

/// The invoices a simulated JAGGAER ONE tenant holds, as full JSON documents in the shape of
/// `GET /j1p/api/public/ji/v1/invoices/{id}` (header + lineList), served back exactly as stored.
package final class JaggaerInvoiceStore: Sendable {
    private let invoices = Mutex<[Int: SimJSON]>([:])
    private let clock: SimulatorClock

    package init(clock: SimulatorClock) { self.clock = clock }

    /// Adds an invoice or replaces the one with the same `header.invoiceId`, keeping its `lastUpdate` as given.
    /// - Throws: ``SimulatorInputError`` when the document has no integer `header.invoiceId`.
    package func upsert(_ invoice: SimJSON) throws(SimulatorInputError) {
        let id = try Self.invoiceId(of: invoice)
        guard invoice["header"]?["lastUpdate"]?.stringValue.flatMap(Timestamps.parseInstant) != nil else {
            throw SimulatorInputError("invoice \(id) needs header.lastUpdate as an ISO-8601 instant")
        }
        invoices.withLock { $0[id] = invoice }
    }

    /// Adds or replaces an invoice and stamps `header.lastUpdate` with the current simulated time, as JAGGAER does
    /// on every change. The stamp is also strictly later than every other stored `lastUpdate`, so a delta poll
    /// always finds the change even when the machine's clock is behind the seeded data.
    @discardableResult
    package func save(_ invoice: SimJSON) throws(SimulatorInputError) -> SimJSON {
        let id = try Self.invoiceId(of: invoice)
        let now = clock.now()
        return invoices.withLock { map in
            var document = invoice
            document.setLastUpdate(Self.bumped(now: now, previous: Self.newest(in: map)))
            map[id] = document
            return document
        }
    }

    /// Changes a stored invoice and bumps its `lastUpdate` (see ``save(_:)``).
    /// - Returns: the stored document after the change, or nil when there is no such invoice.
    @discardableResult
    package func update(invoiceId: Int, _ change: (inout SimJSON) -> Void) -> SimJSON? {
        let now = clock.now()
        return invoices.withLock { map in
            guard var document = map[invoiceId] else { return nil }
            change(&document)
            document.setLastUpdate(Self.bumped(now: now, previous: Self.newest(in: map)))
            map[invoiceId] = document
            return document
        }
    }

    /// Removes an invoice.
    package func remove(invoiceId: Int) {
        _ = invoices.withLock { $0.removeValue(forKey: invoiceId) }
    }

    /// One invoice, exactly as stored.
    package func invoice(id: Int) -> SimJSON? {
        invoices.withLock { $0[id] }
    }

    /// All invoices sorted by (`header.lastUpdate`, `header.invoiceId`).
    package var all: [SimJSON] {
        let values = invoices.withLock { Array($0.values) }
        return values.map { (Self.sortKey(of: $0), $0) }.sorted { $0.0 < $1.0 }.map(\.1)
    }

    /// Number of invoices.
    package var count: Int { invoices.withLock { $0.count } }

    static func invoiceId(of invoice: SimJSON) throws(SimulatorInputError) -> Int {
        guard let id = invoice["header"]?["invoiceId"]?.intValue else {
            throw SimulatorInputError("an invoice needs an integer header.invoiceId")
        }
        return id
    }

    struct SortKey: Comparable {
        var lastUpdate: Date
        var invoiceId: Int
        static func < (lhs: SortKey, rhs: SortKey) -> Bool {
            (lhs.lastUpdate, lhs.invoiceId) < (rhs.lastUpdate, rhs.invoiceId)
        }
    }

    static func sortKey(of invoice: SimJSON) -> SortKey {
        let date =
            invoice["header"]?["lastUpdate"]?.stringValue.flatMap(Timestamps.parseInstant) ?? .distantPast
        return SortKey(lastUpdate: date, invoiceId: invoice["header"]?["invoiceId"]?.intValue ?? 0)
    }

    private static func newest(in map: [Int: SimJSON]) -> Date? {
        map.values.compactMap { $0["header"]?["lastUpdate"]?.stringValue.flatMap(Timestamps.parseInstant) }.max()
    }

    private static func bumped(now: Date, previous: Date?) -> Date {
        let nowMillis = (now.timeIntervalSince1970 * 1000).rounded(.down)
        guard let previous else { return Date(timeIntervalSince1970: nowMillis / 1000) }
        let previousMillis = (previous.timeIntervalSince1970 * 1000).rounded()
        return Date(timeIntervalSince1970: max(nowMillis, previousMillis + 1) / 1000)
    }
}

extension SimJSON {
    mutating func setLastUpdate(_ date: Date) {
        guard case .object(var root) = self, case .object(var header)? = root["header"] else { return }
        header["lastUpdate"] = .string(Timestamps.millis(date))
        root["header"] = .object(header)
        self = .object(root)
    }
}
