import ConnectorCore
import Foundation
import Testing

@Suite("Secret redaction in every encoding")
struct RedactionTests {
    /// A secret with every character that changes under some encoding.
    static func secret() -> String {
        "Sup3r/Secret+V@lue=&x y\"z\\q~é-\(UUID().uuidString.prefix(8))"
    }

    static func percent(_ text: String, allowed: CharacterSet) -> String {
        text.addingPercentEncoding(withAllowedCharacters: allowed)!
    }

    @Test("raw, form-encoded (both hex cases, + for space), query-encoded, JSON-escaped and base64 forms are masked")
    func everyEncoding() throws {
        let value = Self.secret()
        _ = Secret(value)
        let unreserved = CharacterSet(
            charactersIn: "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
        let form = Self.percent(value, allowed: unreserved)
        let json = String(decoding: try JSONEncoder().encode([value]), as: UTF8.self)
        let jsonNoSlash: String = {
            let encoder = JSONEncoder()
            encoder.outputFormatting = .withoutEscapingSlashes
            return String(decoding: try! encoder.encode([value]), as: UTF8.self)
        }()
        let shapes = [
            value,
            form,
            form.replacingOccurrences(of: "%2F", with: "%2f").replacingOccurrences(of: "%2B", with: "%2b")
                .replacingOccurrences(of: "%3D", with: "%3d").replacingOccurrences(of: "%C3%A9", with: "%c3%a9"),
            form.replacingOccurrences(of: "%20", with: "+"),
            Self.percent(value, allowed: .urlQueryAllowed),
            String(json.dropFirst(2).dropLast(2)),
            String(jsonNoSlash.dropFirst(2).dropLast(2)),
            Data(value.utf8).base64EncodedString(),
        ]
        for shape in shapes {
            let text = "upstream said: client_secret=\(shape)&grant_type=client_credentials"
            let scrubbed = SecretRedactor.scrub(text)
            #expect(!scrubbed.contains(shape), "the shape \(shape) survived")
            #expect(scrubbed.contains("***"))
        }
    }

    @Test("a Basic credential and a bearer token registered from an Authorization header are masked")
    func authorizationHeader() {
        let password = Self.secret()
        let basic = Data("user:\(password)".utf8).base64EncodedString()
        SecretRedactor.registerAuthorization("Basic \(basic)")
        #expect(!SecretRedactor.scrub("echo: Authorization: Basic \(basic)").contains(basic))
        #expect(!SecretRedactor.scrub("echo: \(password)").contains(password))
        let token = "eyJ\(UUID().uuidString)"
        SecretRedactor.registerAuthorization("Bearer \(token)")
        #expect(SecretRedactor.scrub("Bearer \(token)") == "***")
    }

    @Test("an excerpt is scrubbed before it is cut, so no fragment of a secret survives the cut")
    func excerptCutsAfterScrubbing() {
        let value = Self.secret()
        _ = Secret(value)
        let padding = String(repeating: "x", count: 290)
        let text = padding + value + String(repeating: "y", count: 500)
        let excerpt = SecretRedactor.excerpt(text, limit: 300)
        #expect(!excerpt.contains(String(value.prefix(6))))
        #expect(excerpt.count <= 301)
        #expect(!SecretRedactor.excerpt("line\u{0}one\u{1B}[31m", limit: 50).contains("\u{1B}"))
    }

    @Test("scrubbed JSON stays valid JSON and keeps what is not secret")
    func scrubbedJSON() throws {
        let value = Self.secret() + "\\"
        _ = Secret(value)
        struct Entry: Codable, Equatable {
            var message: String
            var detail: [String: String]
        }
        let entry = Entry(message: "echo \(value) end", detail: ["k": value, "ok": "plain"])
        let data = try JSONCoding.encodeScrubbed(entry)
        let decoded = try JSONCoding.decode(Entry.self, from: data)
        #expect(decoded.message == "echo *** end")
        #expect(decoded.detail == ["k": "***", "ok": "plain"])
        #expect(!String(decoding: data, as: UTF8.self).contains("Sup3r"))
        // Nothing registered in it: the bytes are the plain encoding.
        let plain = Entry(message: "nothing secret", detail: [:])
        #expect(try JSONCoding.encodeScrubbed(plain) == JSONCoding.encode(plain))
    }
}
