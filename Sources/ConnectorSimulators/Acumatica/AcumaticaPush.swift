import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import Synchronization

/// The outcome of one push notification.
package struct AcumaticaPushResult: Sendable {
    /// The notification as sent.
    package var notification: SimJSONObject
    /// One entry per attempt: the HTTP status, or nil for a transport error.
    package var statuses: [Int?]
    package var delivered: Bool

    package var json: SimJSON {
        .object(
            SimJSONObject([
                "delivered": .bool(delivered),
                "attempts": .int(statuses.count),
                "statuses": .array(statuses.map { $0.map { .int($0) } ?? .string("transport-error") }),
                "notification": .object(notification),
            ]))
    }
}

/// Push notifications to a webhook destination (SM302000, reference §3.8): an HTTP POST of the JSON payload to the
/// configured address with the one optional custom header; any error reply or transport failure is retried, up
/// to the configured number of attempts (five).
final class AcumaticaPush: Sendable {
    struct Destination: Sendable {
        var url: String
        var headerName: String?
        var headerValue: String?
    }

    private let destination = Mutex<Destination?>(nil)
    private let counters: RequestCounters

    init(counters: RequestCounters) {
        self.counters = counters
    }

    func configure(_ newDestination: Destination?) {
        destination.withLock { $0 = newDestination }
    }

    var configured: Destination? { destination.withLock { $0 } }

    func deliver(_ notification: SimJSONObject, attempts: Int, delay: TimeInterval) async -> AcumaticaPushResult {
        var result = AcumaticaPushResult(notification: notification, statuses: [], delivered: false)
        guard let target = configured else { return result }
        var configuration = HTTPClient.Configuration()
        configuration.redirectConfiguration = .disallow
        configuration.timeout = .init(connect: .seconds(5), read: .seconds(10))
        let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
        let payload = SimJSON.object(notification).serialized()
        for attempt in 0..<max(attempts, 1) {
            if attempt > 0 {
                do {
                    try await Task.sleep(for: .milliseconds(Int(delay * 1000)))
                } catch {
                    break
                }
            }
            var request = HTTPClientRequest(url: target.url)
            request.method = .POST
            request.headers.add(name: "Content-Type", value: "application/json; charset=utf-8")
            request.headers.add(name: "Accept", value: "application/json")
            if let name = target.headerName, !name.isEmpty {
                request.headers.add(name: name, value: target.headerValue ?? "")
            }
            request.body = .bytes(ByteBuffer(bytes: payload))
            do {
                let response = try await client.execute(request, timeout: .seconds(10))
                _ = try? await response.body.collect(upTo: 1 << 20)
                let status = Int(response.status.code)
                counters.increment("acumatica push \(status)")
                result.statuses.append(status)
                if (200..<300).contains(status) {
                    result.delivered = true
                    break
                }
            } catch {
                counters.increment("acumatica push transport-error")
                result.statuses.append(nil)
            }
        }
        try? await client.shutdown()
        return result
    }
}
