import ConnectorCore

/// Which HTTP client a step process talks through: `MLC_HTTP_CLIENT` = `sockets` (the default, `SocketHTTPTransport`)
/// or `asynchttpclient` (`AsyncHTTPClientTransport`, kept as the fallback should a server need something the lighter
/// client does not do). Any other value is a configuration error naming the variable; nothing is sent.
package enum HTTPClients {
    package static let variable = "MLC_HTTP_CLIENT"
    package static let choices = ["sockets", "asynchttpclient"]

    package static func make(_ network: NetworkSettings, environment: [String: String]) throws
        -> any ClosableHTTPTransport
    {
        switch environment[variable].map({ $0.lowercased() }) ?? "" {
        case "", "sockets":
            return try SocketHTTPTransport(trustedCertificates: network.trustedCertificates)
        case "asynchttpclient":
            return try AsyncHTTPClientTransport(trustedCertificates: network.trustedCertificates)
        case let other:
            throw ConnectorError(
                .configInvalid,
                "\(variable)=\(other) is not a known HTTP client (\(choices.joined(separator: " or ")))")
        }
    }
}
