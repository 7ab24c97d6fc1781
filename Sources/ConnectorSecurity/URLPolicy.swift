import ConnectorCore
import Foundation

/// Which URLs a connection may talk to: `https` (plain `http` only with `network.allowHTTP`), no user info, no
/// query or fragment, a host written in canonical form, and a host on the system's own domain or listed in
/// `network.allowedHosts`. Private and loopback addresses are reachable only when listed; link-local and cloud
/// metadata addresses never are, whatever the connection says.
package struct URLPolicy: Sendable {
    /// Which service a URL belongs to, and the host suffixes that service is served from. ERPs bring their own
    /// (`ERPEndpoint`); JAGGAER's and the gateway's are here.
    package struct System: Sendable, Hashable {
        package var name: String
        package var hostSuffixes: [String]
        /// Only hosts listed in `network.allowedHosts` (an on-premises ERP with no domain of its own).
        package var requiresListedHost: Bool
        package init(name: String, hostSuffixes: [String], requiresListedHost: Bool = false) {
            self.name = name
            self.hostSuffixes = hostSuffixes
            self.requiresListedHost = requiresListedHost
        }

        /// JAGGAER's production host shape is UNCONFIRMED (test tenants use `*.api.jaggaer.com`), so any
        /// `*.jaggaer.com` host is accepted.
        package static let jaggaer = System(name: "jaggaer", hostSuffixes: ["jaggaer.com"])
        /// A URL of ml-connector's own (the webhook gateway's public address): any public host.
        package static let other = System(name: "other", hostSuffixes: [])

        package init(_ endpoint: ERPEndpoint) {
            self.init(
                name: endpoint.service, hostSuffixes: endpoint.hostSuffixes,
                requiresListedHost: endpoint.requiresListedHost)
        }
    }

    /// One entry of `network.allowedHosts`: a host, and the port it is allowed on (any port when absent).
    package struct AllowedHost: Sendable, Hashable {
        package var host: Host
        package var port: Int?
    }

    package let allowHTTP: Bool
    package let allowedHosts: [AllowedHost]

    /// Builds the policy of a connection; an `allowedHosts` entry that is malformed or never allowed is refused.
    package init(allowHTTP: Bool, allowedHosts: [String]) throws {
        self.allowHTTP = allowHTTP
        self.allowedHosts = try allowedHosts.enumerated().map { index, entry in
            try Self.parseAllowedHost(entry, label: "network.allowedHosts[\(index)]")
        }
    }

    package init(_ network: NetworkSettings) throws {
        try self.init(allowHTTP: network.allowHTTP, allowedHosts: network.allowedHosts)
    }

    /// Throws `security.url_rejected` (a configuration error) when the URL is not allowed.
    package func check(_ text: String, system: System, setting: String? = nil) throws {
        let name = setting ?? "the \(system.name) URL"
        func reject(_ reason: String) -> ConnectorError {
            ConnectorError(.urlRejected, "\(name) \(reason)")
        }
        guard text.unicodeScalars.allSatisfy({ $0.value > 0x20 && $0.value < 0x7F }) else {
            throw reject("must be plain ASCII without spaces or control characters")
        }
        guard let components = URLComponents(string: text), let scheme = components.scheme?.lowercased(),
            let rawHost = components.percentEncodedHost, !rawHost.isEmpty
        else {
            throw reject("is not an absolute URL")
        }
        guard components.percentEncodedUser == nil, components.percentEncodedPassword == nil, !text.contains("@")
        else {
            throw reject("must not carry user info; credentials belong in the connection's secret fields")
        }
        guard components.percentEncodedQuery == nil, components.percentEncodedFragment == nil else {
            throw reject("must not carry a query or fragment")
        }
        switch scheme {
        case "https": break
        case "http" where allowHTTP: break
        case "http": throw reject("uses http; only https is allowed unless network.allowHTTP is set")
        default: throw reject("uses the unsupported scheme \(scheme)")
        }
        let host: Host
        do {
            host = try Host(rawHost.contains(":") && !rawHost.hasPrefix("[") ? "[\(rawHost)]" : rawHost)
        } catch let error as Host.Refusal {
            throw reject("has the host \(rawHost.prefix(80)), which \(error.reason)")
        }
        if let never = host.neverAllowed {
            throw reject("points at \(host.text), \(never); such hosts are never allowed")
        }
        let port = components.port ?? (scheme == "https" ? 443 : 80)
        if allowedHosts.contains(where: { $0.host == host && ($0.port == nil || $0.port == port) }) { return }
        if host.isPrivateOrLocal {
            throw reject(
                "points at the private or loopback host \(host.text); allowed only when network.allowedHosts lists it")
        }
        if system.requiresListedHost {
            throw reject(
                "has the host \(host.text), which is not listed; \(system.name) runs on the customer's own server, so list its host (or host:port) in network.allowedHosts"
            )
        }
        let suffixes = system.hostSuffixes
        if !suffixes.isEmpty, !suffixes.contains(where: { host.text == $0 || host.text.hasSuffix("." + $0) }) {
            throw reject(
                "has the host \(host.text), which is not a \(system.name) host (\(suffixes.joined(separator: ", "))); list an on-premises host in network.allowedHosts"
            )
        }
    }

    /// Whether a redirect from `from` to `to` may be followed: never to another host or scheme.
    package static func redirectAllowed(from: URL, to: URL) -> Bool {
        from.scheme?.lowercased() == to.scheme?.lowercased() && from.host?.lowercased() == to.host?.lowercased()
            && from.port == to.port
    }

    static func parseAllowedHost(_ entry: String, label: String) throws -> AllowedHost {
        func refuse(_ reason: String) -> ConnectorError {
            ConnectorError(.urlRejected, "\(label) \(entry.prefix(80).debugDescription) \(reason)")
        }
        var hostText = entry
        var port: Int?
        if entry.hasPrefix("[") {
            guard let close = entry.firstIndex(of: "]") else { throw refuse("is not a host or host:port") }
            hostText = String(entry[...close])
            let rest = entry[entry.index(after: close)...]
            if !rest.isEmpty {
                guard rest.hasPrefix(":"), let value = Int(rest.dropFirst()) else {
                    throw refuse("is not a host or host:port")
                }
                port = value
            }
        } else if let colon = entry.lastIndex(of: ":") {
            guard entry.firstIndex(of: ":") == colon else {
                throw refuse("is an IPv6 address without brackets; write it as [address] or [address]:port")
            }
            hostText = String(entry[..<colon])
            guard let value = Int(entry[entry.index(after: colon)...]) else { throw refuse("has an invalid port") }
            port = value
        }
        if let port, !(1...65535).contains(port) { throw refuse("has a port outside 1-65535") }
        let host: Host
        do {
            host = try Host(hostText)
        } catch let error as Host.Refusal {
            throw refuse(error.reason)
        }
        if let never = host.neverAllowed { throw refuse("is \(never); such hosts are never allowed") }
        return AllowedHost(host: host, port: port)
    }

    /// A URL host in canonical form: a DNS name (lowercase letters, digits, `-`, `.`), a dotted-quad IPv4 address
    /// without leading zeros, or a bracketed IPv6 address. Everything else (percent-escapes, decimal, octal or hex
    /// IPv4 forms, zone ids, IPv4-mapped IPv6) is refused, so no spelling of an address can slip past the checks.
    package struct Host: Sendable, Hashable {
        /// Two hosts are the same when they name the same address, however the IPv6 form was written.
        package static func == (a: Host, b: Host) -> Bool { a.kind == b.kind }
        package func hash(into hasher: inout Hasher) { hasher.combine(kind) }

        package enum Kind: Sendable, Hashable {
            case name(String)
            case ipv4([UInt8])
            case ipv6([UInt16])
        }
        package struct Refusal: Error { var reason: String }

        /// The canonical text (lowercase name, dotted quad, or the bracketed IPv6 address as written, lowercased).
        package let text: String
        package let kind: Kind

        package init(_ raw: String) throws {
            let lower = raw.lowercased()
            guard !lower.contains("%") else {
                throw Refusal(reason: "contains a percent-escape; write the host plainly")
            }
            if lower.hasPrefix("[") {
                guard lower.hasSuffix("]"), let groups = Self.parseIPv6(String(lower.dropFirst().dropLast())) else {
                    throw Refusal(reason: "is not a valid IPv6 address")
                }
                if groups[0..<5].allSatisfy({ $0 == 0 }), groups[5] == 0xFFFF || groups[5] == 0 && groups[6] != 0 {
                    throw Refusal(reason: "is an IPv4 address written as IPv6; write the IPv4 address itself")
                }
                text = lower
                kind = .ipv6(groups)
                return
            }
            let allowed = Set("abcdefghijklmnopqrstuvwxyz0123456789-.")
            guard !lower.isEmpty, lower.count <= 253, lower.allSatisfy(allowed.contains) else {
                throw Refusal(reason: "has characters a host name cannot have")
            }
            let name = lower.hasSuffix(".") ? String(lower.dropLast()) : lower
            let labels = name.split(separator: ".", omittingEmptySubsequences: false)
            guard labels.allSatisfy({ !$0.isEmpty && $0.count <= 63 && !$0.hasPrefix("-") && !$0.hasSuffix("-") })
            else {
                throw Refusal(reason: "is not a valid host name")
            }
            // A host whose last label is numeric is an IPv4 address to URL parsers (WHATWG), in any of the forms
            // 2130706433, 0x7f.1 or 0177.0.0.1: accept only the canonical dotted quad.
            if let last = labels.last,
                last.allSatisfy(\.isNumber) || (last.hasPrefix("0x") && last.dropFirst(2).allSatisfy(\.isHexDigit))
            {
                let octets = labels.compactMap { label -> UInt8? in
                    guard label.allSatisfy(\.isNumber), label == "0" || !label.hasPrefix("0") else { return nil }
                    return UInt8(label)
                }
                guard labels.count == 4, octets.count == 4 else {
                    throw Refusal(reason: "is not a canonical IPv4 address (write it as four decimal numbers, a.b.c.d)")
                }
                text = name
                kind = .ipv4(octets)
                return
            }
            text = name
            kind = .name(name)
        }

        /// Why this host is never reachable, if it is one of the always-refused addresses.
        package var neverAllowed: String? {
            switch kind {
            case .ipv4(let o):
                if o == [169, 254, 169, 254] || o == [100, 100, 100, 200] || o == [192, 0, 0, 192]
                    || o == [169, 254, 170, 2]
                {
                    return "a cloud metadata address"
                }
                if o[0] == 169 && o[1] == 254 { return "a link-local address" }
                if o == [0, 0, 0, 0] { return "the unspecified address" }
                if o[0] >= 224 { return "a multicast or reserved address" }
                return nil
            case .ipv6(let g):
                if g == [0xFD00, 0x0EC2, 0, 0, 0, 0, 0, 0x0254] { return "a cloud metadata address" }
                if g[0] & 0xFFC0 == 0xFE80 { return "a link-local address" }
                if g.allSatisfy({ $0 == 0 }) { return "the unspecified address" }
                if g[0] & 0xFF00 == 0xFF00 { return "a multicast address" }
                return nil
            case .name(let text):
                let metadataNames = [
                    "metadata.google.internal", "metadata.goog", "metadata", "instance-data",
                    "instance-data.ec2.internal", "metadata.azure.internal", "metadata.tencentyun.com",
                ]
                return metadataNames.contains(text) ? "a cloud metadata host" : nil
            }
        }

        /// Loopback, private, carrier-grade NAT and unique-local addresses, and names that only resolve inside a
        /// network (`localhost`, `*.local`, `*.internal`, single-label names).
        package var isPrivateOrLocal: Bool {
            switch kind {
            case .ipv4(let o):
                switch (o[0], o[1]) {
                case (10, _), (127, _), (0, _), (192, 168): return true
                case (172, let b) where (16...31).contains(b): return true
                case (100, let b) where (64...127).contains(b): return true
                case (198, let b) where b == 18 || b == 19: return true
                default: return false
                }
            case .ipv6(let g):
                return g == [0, 0, 0, 0, 0, 0, 0, 1] || g[0] & 0xFE00 == 0xFC00
            case .name(let text):
                return !text.contains(".") || text == "localhost" || text.hasSuffix(".localhost")
                    || text.hasSuffix(".local") || text.hasSuffix(".internal") || text.hasSuffix(".localdomain")
                    || text.hasSuffix(".home.arpa") || text.hasSuffix(".lan")
            }
        }

        /// Eight 16-bit groups of an IPv6 address (no zone id, no embedded IPv4 dotted form).
        static func parseIPv6(_ text: String) -> [UInt16]? {
            guard !text.isEmpty, text.allSatisfy({ $0.isHexDigit || $0 == ":" }) else { return nil }
            let halves = text.components(separatedBy: "::")
            guard halves.count <= 2 else { return nil }
            func groups(_ part: String) -> [UInt16]? {
                if part.isEmpty { return [] }
                var result: [UInt16] = []
                for piece in part.split(separator: ":", omittingEmptySubsequences: false) {
                    guard (1...4).contains(piece.count), let value = UInt16(piece, radix: 16) else { return nil }
                    result.append(value)
                }
                return result
            }
            guard let head = groups(halves[0]) else { return nil }
            if halves.count == 1 { return head.count == 8 ? head : nil }
            guard let tail = groups(halves[1]), head.count + tail.count <= 7 else { return nil }
            return head + [UInt16](repeating: 0, count: 8 - head.count - tail.count) + tail
        }
    }
}
