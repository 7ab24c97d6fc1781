import Foundation

/// The password in a store URL (`scheme://user:password@host…`), hidden from anything printed or logged about it.
package enum URLCredentials {
    /// `url` with the password replaced by `***`.
    ///
    /// The user information ends at the **last** `@` of the URL, not at the first `/`, `?` or `#`: a generated
    /// password often holds those characters unescaped, which makes the URL unparseable, and the message refusing
    /// it must not print the password either. Masking too much (an `@` in a path) costs a readable message at worst.
    /// A lone user name is kept (`postgres://mlc@host`), unless `loneUserIsSecret` (Redis reads
    /// `redis://secret@host` as a password).
    package static func masked(_ url: String, loneUserIsSecret: Bool = false) -> String {
        guard let schemeEnd = url.range(of: "://") else { return url }
        let rest = url[schemeEnd.upperBound...]
        guard let at = rest.lastIndex(of: "@") else { return url }
        let userInfo = rest[..<at]
        let maskedInfo: String
        if let colon = userInfo.firstIndex(of: ":") {
            let user = userInfo[..<colon]
            // A user "name" that runs into a path or query is not a name: mask it all.
            maskedInfo = user.contains(where: { "/?#".contains($0) }) ? "***" : "\(user):***"
        } else {
            maskedInfo = loneUserIsSecret || userInfo.contains(where: { "/?#".contains($0) }) ? "***" : String(userInfo)
        }
        return String(url[..<schemeEnd.upperBound]) + maskedInfo + String(rest[at...])
    }
}

extension URLCredentials {
    /// `text` with a store password hidden in every shape a server or library could put it in: as given, and through
    /// `SecretRedactor` (percent-escaped in either case, base64, JSON-escaped), with which it is registered here.
    /// Every message a network store makes passes through this, whatever the server answered.
    package static func redact(_ text: String, password: String?) -> String {
        guard let password, !password.isEmpty else { return text }
        SecretRedactor.register(password)
        // The redactor ignores values shorter than its minimum; a store password is hidden whatever its length, as
        // given and percent-escaped (the form a URL carries it in).
        var result = text.replacingOccurrences(of: password, with: "***")
        if let escaped = password.addingPercentEncoding(withAllowedCharacters: .alphanumerics), escaped != password {
            result = result.replacingOccurrences(of: escaped, with: "***", options: .caseInsensitive)
        }
        return SecretRedactor.scrub(result)
    }
}
