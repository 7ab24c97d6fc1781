import ConnectorCore
import ConnectorRuntime
import Foundation
import Logging
import Synchronization

/// One runner per store: `run`, `demo` and the operator commands that run steps (`replay`, `dead-letter replay`,
/// `review retry`) hold this lock while they work, and renew it every 15 seconds, so a second runner started
/// minutes later is still refused. A holder that crashed on this host is recognised at once; elsewhere its lease
/// (60 s) decides.
package final class RunnerLock: Sendable {
    package static let key = "runner/lease"
    /// How long the lock outlives a holder that stopped renewing it (60 s; `MLC_RUNNER_LOCK_SECONDS` shortens it
    /// for tests). It is renewed four times per period.
    package static let ttl: Duration = {
        let seconds = ProcessInfo.processInfo.environment["MLC_RUNNER_LOCK_SECONDS"].flatMap(Int.init) ?? 60
        return .seconds(min(max(seconds, 2), 3600))
    }()
    package static var renewEvery: Duration { ttl / 4 }

    package enum Kind: String, Sendable {
        /// `run` and `demo`: work the shared queue, so operators may queue work for them.
        case runner
        /// An operator command running its own items.
        case operatorCommand = "operator"
    }

    /// Who holds the lock when it can't be had.
    package struct Held: Error, Sendable {
        package var holder: Lease.Holder
        package var kind: Kind? { Kind(rawValue: holder.owner.split(separator: "-").first.map(String.init) ?? "") }

        package var description: String {
            var text = kind == .operatorCommand ? "an operator command" : "a local-runner"
            if let pid = holder.pid { text += " (pid \(pid)" + (holder.host.map { " on \($0)" } ?? "") + ")" }
            return text
        }
    }

    package let lease: Lease
    private let renewal = Mutex<Task<Void, Never>?>(nil)

    private init(lease: Lease) {
        self.lease = lease
    }

    /// Takes the lock or throws `Held` naming the holder.
    package static func acquire(_ state: any StateStore, kind: Kind) async throws -> RunnerLock {
        let lease = Lease(
            store: state, key: key,
            owner: "\(kind.rawValue)-\(ProcessInfo.processInfo.processIdentifier)-\(UUID().uuidString.prefix(6))")
        if try await lease.acquire(ttl: ttl, now: Date(), breakingIf: processIsGone) {
            return RunnerLock(lease: lease)
        }
        if let holder = try await state.get(key, as: Lease.Holder.self)?.value {
            throw Held(holder: holder)
        }
        // Released between the two reads: try once more.
        if try await lease.acquire(ttl: ttl, now: Date()) { return RunnerLock(lease: lease) }
        throw ConnectorError(.configInvalid, "another local-runner holds this store's lock")
    }

    /// The refusal for a second runner, in words.
    package static func refusal(_ held: Held) -> ConnectorError {
        ConnectorError(
            .configInvalid,
            "\(held.description) is already running on this store (lock held until \(Timestamp.format(held.holder.until)), renewed while it runs); stop it first, or use another MLC_STATE"
        )
    }

    /// Renews the lease while the work runs; if it is lost (the store was unreachable longer than the lease, or
    /// someone broke it), `onLost` is called once and renewal stops.
    package func startRenewing(logger: Logger, onLost: @escaping @Sendable () -> Void) {
        let lease = self.lease
        let task = Task {
            while !Task.isCancelled {
                try? await Task.sleep(for: Self.renewEvery)
                if Task.isCancelled { return }
                do {
                    if try await lease.acquire(ttl: Self.ttl, now: Date()) { continue }
                    logger.error("the runner lock was taken by another process; stopping")
                    onLost()
                    return
                } catch {
                    // The store is briefly unavailable: the lease still has time; try again next round.
                    logger.warning("could not renew the runner lock; retrying")
                }
            }
        }
        renewal.withLock { $0 = task }
    }

    package func release() async {
        let task = renewal.withLock { task in
            defer { task = nil }
            return task
        }
        task?.cancel()
        _ = await task?.value
        try? await lease.release()
    }
}

/// True when a lease holder ran on this host and its process no longer exists (it crashed or was killed).
func processIsGone(_ holder: Lease.Holder) -> Bool {
    ProcessLiveness.isGone(host: holder.host, pid: holder.pid)
}
