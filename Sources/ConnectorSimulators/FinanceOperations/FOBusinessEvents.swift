import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import Synchronization

/// What one round of business-event deliveries did.
package struct FOBusinessEventReport: Sendable {
    /// Each delivery in the order it was sent: the event's `ControlNumber` and the final HTTP status (nil: a
    /// transport error on every attempt).
    package var deliveries: [(controlNumber: Int64, status: Int?)]
    /// Events that failed every attempt and went to the error log (resend with `resendErrorLog`).
    package var failed: Int

    package var json: SimJSON {
        .object(
            SimJSONObject([
                "deliveries": .array(
                    deliveries.map { entry in
                        .object(
                            SimJSONObject([
                                "controlNumber": .int(Int(entry.controlNumber)),
                                "status": entry.status.map { .int($0) } ?? .string("transport-error"),
                            ]))
                    }),
                "failed": .int(failed),
            ]))
    }
}

/// Business events of a simulated F&O environment sent to an HTTPS endpoint (reference §2.6):
///
/// - "Purchase order confirmed" (`PurchaseOrderConfirmedBusinessEvent`): confirming a purchase order sets its
///   `DocumentApprovalStatus` to `Confirmed` and raises one event with `BusinessEventId`, `ControlNumber`,
///   `EventId` (a GUID), `EventTime` (`/Date(ms)/`), `LegalEntity`, `MajorVersion`, `MinorVersion`,
///   `PurchaseJournal`, `PurchaseOrderDate`, `PurchaseOrderNumber`, `PurchaseType`, `TransactionCurrencyAmount`,
///   `TransactionCurrencyCode`, `VendorAccount` (the captured payload's fields; its exact schema is UNCONFIRMED).
/// - `ControlNumber` only increases, with gaps (seeded).
/// - Each event is one JSON object POSTed to the endpoint URL (which carries the shared secret, as a Key Vault
///   URL would); a failed delivery is retried 3 times 1 s apart (the delay is configurable for tests), then the
///   event goes to the error log, from which it can be resent.
/// - Deliveries can be duplicated and reordered (seeded), as the reference warns they are.
package final class FOBusinessEvents: Sendable {
    private struct State {
        var endpoint: String?
        var controlNumber: Int64 = 5000
        var random = SplitMix64(seed: 0xF0_BE)
        var errorLog: [SimJSONObject] = []
    }

    private let state = Mutex(State())
    private let counters: RequestCounters
    private let clock: SimulatorClock
    /// Seconds between delivery attempts (F&O: 1).
    package let retryDelay: Mutex<Double> = Mutex(1)

    init(counters: RequestCounters, clock: SimulatorClock) {
        self.counters = counters
        self.clock = clock
    }

    /// Where events go (the endpoint URL, secret included), and the seed of the control-number gaps.
    package func configure(endpoint: String?, seed: UInt64? = nil) {
        state.withLock { state in
            state.endpoint = endpoint
            if let seed { state.random = SplitMix64(seed: seed) }
        }
    }

    package var errorLog: [SimJSONObject] { state.withLock { $0.errorLog } }

    /// Confirms the purchase order in `store` and returns its event (not yet sent); nil when the store has no such
    /// order in `company`.
    package func confirm(_ store: FOStore, company: String, number: String) -> SimJSONObject? {
        guard
            var order = store.records(FOEntity.purchaseOrders.set).first(where: {
                FOEntity.text($0["dataAreaId"]).lowercased() == company.lowercased()
                    && FOEntity.text($0["PurchaseOrderNumber"]).lowercased() == number.lowercased()
            })
        else { return nil }
        order["DocumentApprovalStatus"] = .string("Confirmed")
        store.upsert(FOEntity.purchaseOrders.set, order)
        let amount = store.records(FOEntity.purchaseOrderLines.set).filter {
            FOEntity.text($0["dataAreaId"]).lowercased() == company.lowercased()
                && FOEntity.text($0["PurchaseOrderNumber"]).lowercased() == number.lowercased()
        }.reduce(Decimal(0)) { $0 + ($1["LineAmount"]?.decimalValue ?? 0) }
        let now = clock.now()
        let milliseconds = Int64((now.timeIntervalSince1970 * 1000).rounded())
        let control = state.withLock { state -> Int64 in
            // Only increasing, with gaps: other events of the environment take numbers in between.
            state.controlNumber += Int64(state.random.int(in: 1...4))
            return state.controlNumber
        }
        let date = FOEntity.text(order["AccountingDate"])
        return SimJSONObject([
            "BusinessEventId": .string("PurchaseOrderConfirmedBusinessEvent"),
            "ControlNumber": .int(Int(control)),
            "EventId": .string(UUID().uuidString.uppercased()),
            "EventTime": .string("/Date(\(milliseconds))/"),
            "LegalEntity": .string(FOEntity.text(order["dataAreaId"]).uppercased()),
            "MajorVersion": .int(0),
            "MinorVersion": .int(0),
            "PurchaseJournal": .string("\(FOEntity.text(order["PurchaseOrderNumber"]))-1"),
            "PurchaseOrderDate": .string(date.isEmpty ? "/Date(\(milliseconds))/" : date),
            "PurchaseOrderNumber": .string(FOEntity.text(order["PurchaseOrderNumber"])),
            "PurchaseType": .string("Purch"),
            "TransactionCurrencyAmount": .decimal(amount),
            "TransactionCurrencyCode": .string(FOEntity.text(order["CurrencyCode"])),
            "VendorAccount": .string(FOEntity.text(order["OrderVendorAccountNumber"])),
        ])
    }

    /// Sends `events` to the endpoint, one POST each: with probability `duplicates` an event is delivered twice,
    /// and with `reorder` the deliveries are shuffled (both seeded by `seed`).
    package func deliver(_ events: [SimJSONObject], duplicates: Double = 0, reorder: Bool = false, seed: UInt64 = 1)
        async -> FOBusinessEventReport
    {
        var random = SplitMix64(seed: seed)
        var schedule: [SimJSONObject] = []
        for event in events {
            schedule.append(event)
            if random.chance(duplicates) { schedule.append(event) }
        }
        if reorder, schedule.count > 1 {
            for index in stride(from: schedule.count - 1, to: 0, by: -1) {
                schedule.swapAt(index, random.int(in: 0...index))
            }
        }
        return await send(schedule)
    }

    /// Sends the error log's events again (System administration > Business events > Errors > Resend).
    package func resendErrorLog() async -> FOBusinessEventReport {
        let events = state.withLock { state -> [SimJSONObject] in
            defer { state.errorLog.removeAll() }
            return state.errorLog
        }
        return await send(events)
    }

    private func send(_ schedule: [SimJSONObject]) async -> FOBusinessEventReport {
        var report = FOBusinessEventReport(deliveries: [], failed: 0)
        guard let endpoint = state.withLock({ $0.endpoint }) else {
            state.withLock { $0.errorLog += schedule }
            report.failed = schedule.count
            return report
        }
        var configuration = HTTPClient.Configuration()
        configuration.redirectConfiguration = .disallow
        configuration.timeout = .init(connect: .seconds(5), read: .seconds(15))
        let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
        let delay = retryDelay.withLock { $0 }
        for event in schedule {
            let control = Int64(event["ControlNumber"]?.intValue ?? 0)
            var status: Int?
            // One delivery and 3 retries, 1 s apart (reference §2.6).
            for attempt in 0..<4 {
                if attempt > 0 { try? await Task.sleep(for: .milliseconds(Int(delay * 1000))) }
                var request = HTTPClientRequest(url: endpoint)
                request.method = .POST
                request.headers.add(name: "Content-Type", value: "application/json")
                request.body = .bytes(ByteBuffer(bytes: SimJSON.object(event).serialized()))
                do {
                    let response = try await client.execute(request, timeout: .seconds(15))
                    _ = try? await response.body.collect(upTo: 1 << 20)
                    status = Int(response.status.code)
                    counters.increment("fo businessevent \(status ?? 0)")
                } catch {
                    status = nil
                    counters.increment("fo businessevent transport-error")
                }
                if let status, (200..<300).contains(status) { break }
            }
            report.deliveries.append((control, status))
            if !(status.map { (200..<300).contains($0) } ?? false) {
                report.failed += 1
                state.withLock { $0.errorLog.append(event) }
            }
        }
        try? await client.shutdown()
        return report
    }
}
