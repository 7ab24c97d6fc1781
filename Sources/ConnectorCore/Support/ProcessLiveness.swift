import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// Tells whether a process that holds a lease or a claim is still alive. Only answerable for processes on this
/// host; for others the lease's expiry decides.
package enum ProcessLiveness {
    package static var host: String { ProcessInfo.processInfo.hostName }
    package static var pid: Int32 { ProcessInfo.processInfo.processIdentifier }

    /// True only when the process ran on this host and no longer exists.
    package static func isGone(host: String?, pid: Int32?) -> Bool {
        guard let host, host == Self.host, let pid, pid > 0, pid != Self.pid else { return false }
        return kill(pid, 0) != 0 && errno == ESRCH
    }
}
