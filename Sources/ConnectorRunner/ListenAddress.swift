import ConnectorCore

/// A `HOST:PORT` to listen on, as the options `--webhooks` and `--metrics` take it (`[::1]:9464` for IPv6).
package enum ListenAddress {
    package static func parse(_ text: String, option: String) throws -> (host: String, port: Int) {
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]),
            (0...65535).contains(port)
        else {
            throw ConnectorError(.configInvalid, "\(option) expects HOST:PORT, e.g. 127.0.0.1:8787")
        }
        var host = String(text[..<colon])
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        guard !host.isEmpty else { throw ConnectorError(.configInvalid, "\(option) expects HOST:PORT") }
        return (host, port)
    }
}
