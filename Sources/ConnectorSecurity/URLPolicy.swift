import ConnectorCore
import Foundation

/// Which URLs a connection may talk to: `https` only, no user info, and a host of the expected shape for the
/// system. Plain `http`, loopback, private addresses and other hosts only when the connection says it is an
/// on-premises or development connection (`network.allowInsecureHTTP`).
package struct URLPolicy: Sendable {
    package enum System: String, Sendable {
        case jaggaer, entra, businessCentral
        case other

        /// Host suffixes a system is served from. JAGGAER's production host shape is UNCONFIRMED (test tenants
        /// use `*.api.jaggaer.com`), so any `*.jaggaer.com` host is accepted.
        var hostSuffixes: [String] {
            switch self {
            case .jaggaer: ["jaggaer.com"]
            case .entra:
                [
                    "login.microsoftonline.com", "login.microsoftonline.us", "login.chinacloudapi.cn",
                    "login.partner.microsoftonline.cn",
                ]
            case .businessCentral: ["api.businesscentral.dynamics.com"]
            case .other: []
            }
        }
    }

    package let allowInsecure: Bool

    package init(allowInsecure: Bool) {
        self.allowInsecure = allowInsecure
    }

    /// Throws `security.url_rejected` (a configuration error) when the URL is not allowed.
    package func check(_ text: String, system: System) throws {
        guard let components = URLComponents(string: text), let scheme = components.scheme?.lowercased(),
            let host = components.host?.lowercased(), !host.isEmpty
        else {
            throw reject(system, "is not an absolute URL")
        }
        guard components.user == nil, components.password == nil else {
            throw reject(system, "must not carry user info; credentials belong in the connection's secret fields")
        }
        guard components.query == nil, components.fragment == nil else {
            throw reject(system, "must not carry a query or fragment")
        }
        switch scheme {
        case "https": break
        case "http" where allowInsecure: break
        case "http": throw reject(system, "uses http; only https is allowed unless network.allowInsecureHTTP is set")
        default: throw reject(system, "uses the unsupported scheme \(scheme)")
        }
        if allowInsecure { return }
        if Self.isPrivateOrLocal(host) {
            throw reject(system, "points at a private or loopback host; allowed only with network.allowInsecureHTTP")
        }
        let suffixes = system.hostSuffixes
        if !suffixes.isEmpty, !suffixes.contains(where: { host == $0 || host.hasSuffix("." + $0) }) {
            throw reject(system, "host \(host) is not a \(system.rawValue) host (\(suffixes.joined(separator: ", ")))")
        }
    }

    /// Whether a redirect from `from` to `to` may be followed: never to another host or scheme.
    package static func redirectAllowed(from: URL, to: URL) -> Bool {
        from.scheme?.lowercased() == to.scheme?.lowercased() && from.host?.lowercased() == to.host?.lowercased()
            && from.port == to.port
    }

    private func reject(_ system: System, _ reason: String) -> ConnectorError {
        ConnectorError(.urlRejected, "the \(system.rawValue) URL \(reason)")
    }

    package static func isPrivateOrLocal(_ host: String) -> Bool {
        let h = host.trimmingCharacters(in: CharacterSet(charactersIn: "[]"))
        if h == "localhost" || h.hasSuffix(".localhost") || h.hasSuffix(".local") || h.hasSuffix(".internal") {
            return true
        }
        let octets = h.split(separator: ".").compactMap { UInt8($0) }
        if octets.count == 4, h.split(separator: ".").count == 4 {
            switch (octets[0], octets[1]) {
            case (10, _), (127, _), (0, _), (169, 254), (192, 168): return true
            case (172, let b) where (16...31).contains(b): return true
            case (100, let b) where (64...127).contains(b): return true
            default: return false
            }
        }
        if h.contains(":") {
            let lower = h.lowercased()
            return lower == "::1" || lower == "::" || lower.hasPrefix("fe80:") || lower.hasPrefix("fc")
                || lower.hasPrefix("fd") || lower.hasPrefix("::ffff:")
        }
        return false
    }
}
