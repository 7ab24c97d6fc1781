import Foundation
import Synchronization

/// The Service Layer's sessions: created by `POST /Login`, kept alive by every request (sliding idle timeout by the
/// simulator clock), ended by `POST /Logout` or expiry. Counts what tests assert about a client's session hygiene:
/// logins, logouts, sessions open now and the most ever open at once.
package final class B1Sessions: Sendable {
    /// One company login the Service Layer accepts.
    package struct Account: Sendable, Hashable {
        package var companyDB: String
        package var userName: String
        package var password: String

        package init(companyDB: String, userName: String, password: String) {
            self.companyDB = companyDB
            self.userName = userName
            self.password = password
        }
    }

    /// What tests read.
    package struct Stats: Sendable, Equatable {
        /// Sessions neither logged out nor expired.
        package var open: Int
        package var logins: Int
        package var failedLogins: Int
        package var logouts: Int
        /// Sessions that ran out (idle timeout or an `expireSessions` fault) before a logout.
        package var expired: Int
        /// The most sessions open at the same time since start (or the last ``resetStats()``).
        package var peakOpen: Int
        /// Requests refused because they carried `Expect: 100-continue`.
        package var expectRefused: Int
    }

    private struct Session {
        var id: String
        var routeId: String
        var userName: String
        var lastUsed: Date
        var timeoutMinutes: Int
    }

    private struct State {
        var account: Account
        var timeoutMinutes: Int
        var sessions: [String: Session] = [:]
        var logins = 0
        var failedLogins = 0
        var logouts = 0
        var expired = 0
        var peakOpen = 0
        var expectRefused = 0
    }

    /// The load balancer's node id handed out as `ROUTEID`.
    package static let routeId = ".node1"

    private let state: Mutex<State>
    private let clock: SimulatorClock

    package init(account: Account, timeoutMinutes: Int, clock: SimulatorClock) {
        self.state = Mutex(State(account: account, timeoutMinutes: timeoutMinutes))
        self.clock = clock
    }

    /// The accepted login.
    package var account: Account {
        get { state.withLock { $0.account } }
        set { state.withLock { $0.account = newValue } }
    }

    /// `SessionTimeout` in minutes for sessions created from now on.
    package var timeoutMinutes: Int {
        get { state.withLock { $0.timeoutMinutes } }
        set { state.withLock { $0.timeoutMinutes = max(1, newValue) } }
    }

    /// Checks the credentials and opens a session.
    /// - Returns: the session id, route id and timeout in minutes.
    func login(companyDB: String, userName: String, password: String) throws(B1Error) -> (
        id: String, routeId: String, timeout: Int
    ) {
        let now = clock.now()
        let result: (String, String, Int)? = state.withLock { state in
            purge(&state, now: now)
            let account = state.account
            guard account.companyDB == companyDB, account.userName == userName, account.password == password else {
                state.failedLogins += 1
                return nil
            }
            let id = UUID().uuidString.lowercased()
            state.sessions[id] = Session(
                id: id, routeId: Self.routeId, userName: userName, lastUsed: now, timeoutMinutes: state.timeoutMinutes)
            state.logins += 1
            state.peakOpen = max(state.peakOpen, state.sessions.count)
            return (id, Self.routeId, state.timeoutMinutes)
        }
        guard let result else { throw B1Error.loginFailed }
        return (id: result.0, routeId: result.1, timeout: result.2)
    }

    /// Accepts a request's cookies when they name a live session and its route; slides the idle timeout.
    func validate(sessionId: String?, routeId: String?) throws(B1Error) {
        let now = clock.now()
        let valid = state.withLock { state -> Bool in
            purge(&state, now: now)
            guard let sessionId, let routeId, var session = state.sessions[sessionId], session.routeId == routeId
            else { return false }
            session.lastUsed = now
            state.sessions[sessionId] = session
            return true
        }
        guard valid else { throw B1Error.invalidSession }
    }

    /// Ends a session (`POST /Logout`).
    func logout(sessionId: String) {
        state.withLock { state in
            if state.sessions.removeValue(forKey: sessionId) != nil { state.logouts += 1 }
        }
    }

    /// Ends every open session at once (the `expireSessions` fault, `POST /_sim/tokens/expire`).
    package func expireAll() {
        state.withLock { state in
            state.expired += state.sessions.count
            state.sessions.removeAll()
        }
    }

    /// Counts a request refused for `Expect: 100-continue`.
    func countExpectRefused() {
        state.withLock { $0.expectRefused += 1 }
    }

    /// The counts, after dropping sessions that have timed out.
    package var stats: Stats {
        let now = clock.now()
        return state.withLock { state in
            purge(&state, now: now)
            return Stats(
                open: state.sessions.count, logins: state.logins, failedLogins: state.failedLogins,
                logouts: state.logouts, expired: state.expired, peakOpen: state.peakOpen,
                expectRefused: state.expectRefused)
        }
    }

    /// Sets the counters back to zero; the peak restarts from the sessions open now.
    package func resetStats() {
        state.withLock { state in
            state.logins = 0
            state.failedLogins = 0
            state.logouts = 0
            state.expired = 0
            state.expectRefused = 0
            state.peakOpen = state.sessions.count
        }
    }

    /// Idle seconds of each open session, by user name (for `GET /_sim/b1/sessions`).
    package var openSessions: [(userName: String, idleSeconds: Int)] {
        let now = clock.now()
        return state.withLock { state in
            purge(&state, now: now)
            return state.sessions.values.sorted { $0.lastUsed < $1.lastUsed }.map {
                ($0.userName, Int(now.timeIntervalSince($0.lastUsed)))
            }
        }
    }

    private func purge(_ state: inout State, now: Date) {
        let before = state.sessions.count
        state.sessions = state.sessions.filter { _, session in
            now.timeIntervalSince(session.lastUsed) < TimeInterval(session.timeoutMinutes * 60)
        }
        state.expired += before - state.sessions.count
    }
}
