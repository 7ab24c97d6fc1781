import ConnectorCore
import Foundation

/// CloudEvents 1.0 over HTTP (the CloudEvents HTTP protocol binding), the way Knative Eventing delivers and accepts
/// events: binary mode (every attribute in a `ce-<name>` header, `data` as the body with its `Content-Type`) and
/// structured mode (`application/cloudevents+json`, the whole event as the body).
///
/// Both decode through ``CloudEvent``'s own decoder, so an event read from HTTP is checked exactly like one read from
/// stdin (required attributes, `specversion` 1.0, JSON data only, `attempt` a positive integer).
package enum CloudEventHTTP {
    package static let structuredContentType = "application/cloudevents+json"
    package static let batchContentType = "application/cloudevents-batch+json"
    /// Attributes carried outside the `ce-` headers in binary mode.
    private static let bodyAttributes: Set<String> = ["data", "datacontenttype", "data_base64"]

    /// Reads an event from a request's headers (any case) and body.
    /// - Throws: ``ConnectorError`` `event.malformed` when the request is not a CloudEvent this connector accepts;
    ///   the message names the problem and never echoes the body.
    package static func decode(headers: [(name: String, value: String)], body: Data) throws -> CloudEvent {
        let contentType = header("content-type", in: headers)
        let mediaType = contentType.map(Self.mediaType) ?? ""
        if mediaType == batchContentType {
            throw malformed("batched CloudEvents are not accepted; send one event per request")
        }
        if mediaType == structuredContentType {
            return withTraceHeaders(try decodeEvent(body), headers: headers)
        }
        var attributes: [String: JSONValue] = [:]
        for field in headers {
            let name = field.name.lowercased()
            guard name.hasPrefix("ce-"), name.count > 3 else { continue }
            let attribute = String(name.dropFirst(3))
            guard !bodyAttributes.contains(attribute) else {
                throw malformed("the attribute \(attribute) travels in the body, not in a ce- header")
            }
            guard attributes[attribute] == nil else { throw malformed("the header ce-\(attribute) is repeated") }
            guard let value = percentDecoded(field.value) else {
                throw malformed("the header ce-\(attribute) is not valid percent-encoded UTF-8")
            }
            attributes[attribute] = .string(value)
        }
        guard attributes["specversion"] != nil else {
            throw malformed(
                "not a CloudEvent: no ce-specversion header (binary mode) and the content type is not \(structuredContentType) (structured mode)"
            )
        }
        if let contentType { attributes["datacontenttype"] = .string(contentType) }
        if !body.isEmpty {
            guard contentType == nil || isJSON(mediaType) else {
                throw malformed("data must be JSON (Content-Type application/json), not \(mediaType.prefix(80))")
            }
            do {
                attributes["data"] = try JSONCoding.decode(JSONValue.self, from: body)
            } catch {
                throw malformed("the body is not valid JSON")
            }
        }
        return withTraceHeaders(try decodeEvent(try JSONCoding.encode(JSONValue.object(attributes))), headers: headers)
    }

    /// The event continues the trace of the request's W3C `traceparent` / `tracestate` headers (what Knative's own
    /// tracing and most HTTP senders propagate) when it carries no trace of its own; an invalid header is ignored.
    private static func withTraceHeaders(_ event: CloudEvent, headers: [(name: String, value: String)]) -> CloudEvent {
        guard event.traceparent == nil, let header = header("traceparent", in: headers),
            TraceContext(traceparent: header) != nil
        else { return event }
        var traced = event
        traced.traceparent = header
        traced.tracestate = Self.header("tracestate", in: headers).flatMap {
            $0.isEmpty ? nil : String($0.prefix(CloudEvent.maxTracestateLength))
        }
        return traced
    }

    /// String attributes the connector's event type does not keep (e.g. Knative's `knativeerrordest`), from either
    /// mode; the event itself is decoded with ``decode(headers:body:)``.
    package static func otherAttributes(headers: [(name: String, value: String)], body: Data) -> [String: String] {
        var result: [String: String] = [:]
        if header("content-type", in: headers).map(Self.mediaType) == structuredContentType {
            if case .object(let members)? = try? JSONCoding.decode(JSONValue.self, from: body) {
                for (name, value) in members { if let text = value.stringValue { result[name] = text } }
            }
        } else {
            for field in headers where field.name.lowercased().hasPrefix("ce-") {
                result[String(field.name.lowercased().dropFirst(3))] = percentDecoded(field.value)
            }
        }
        return result
    }

    /// Writes an event in binary mode: the attributes as `ce-` headers (percent-encoded where the binding asks),
    /// `data` as a JSON body.
    package static func binary(_ event: CloudEvent) throws -> (headers: [(name: String, value: String)], body: Data) {
        guard case .object(let attributes) = try JSONValue(encoding: event) else {
            throw ConnectorError(.internalError, "an event did not encode as a JSON object")
        }
        var headers: [(name: String, value: String)] = []
        for (name, value) in attributes.sorted(by: { $0.key < $1.key }) where !bodyAttributes.contains(name) {
            let text: String
            switch value {
            case .string(let string): text = string
            case .number(let number): text = "\(number)"
            case .bool(let flag): text = flag ? "true" : "false"
            case .null: continue
            case .array, .object:
                throw ConnectorError(.internalError, "the attribute \(name) is not a scalar")
            }
            headers.append(("ce-\(name)", percentEncoded(text)))
        }
        var body = Data()
        if let data = event.data {
            headers.append(("content-type", event.datacontenttype ?? "application/json"))
            body = try JSONCoding.encode(data)
        }
        return (headers, body)
    }

    private static func decodeEvent(_ data: Data) throws -> CloudEvent {
        do {
            return try JSONCoding.decodeParsingTrees(CloudEvent.self, from: data)
        } catch let error as DecodingError {
            throw malformed("not a valid CloudEvent: \(error.safeDescription)")
        } catch {
            throw malformed("not a valid CloudEvent: the body is not JSON")
        }
    }

    private static func malformed(_ message: String) -> ConnectorError {
        ConnectorError(.eventMalformed, kind: .badInput, message)
    }

    private static func header(_ name: String, in headers: [(name: String, value: String)]) -> String? {
        headers.first { $0.name.lowercased() == name }?.value
    }

    /// `application/json; charset=utf-8` → `application/json`.
    private static func mediaType(_ contentType: String) -> String {
        String(contentType.split(separator: ";", maxSplits: 1).first ?? "").trimmingWhitespace(newlines: false)
            .lowercased()
    }

    private static func isJSON(_ mediaType: String) -> Bool {
        mediaType == "application/json" || mediaType == "text/json" || mediaType.hasSuffix("+json")
    }

    /// The binding's rule: space, `"`, `%` and anything outside printable ASCII are percent-encoded (UTF-8 bytes).
    package static func percentEncoded(_ text: String) -> String {
        var result = ""
        for byte in text.utf8 {
            if byte > 0x20, byte < 0x7F, byte != UInt8(ascii: "\""), byte != UInt8(ascii: "%") {
                result.unicodeScalars.append(Unicode.Scalar(byte))
            } else {
                result += String(format: "%%%02X", byte)
            }
        }
        return result
    }

    package static func percentDecoded(_ text: String) -> String? {
        guard text.contains("%") else { return text }
        var bytes: [UInt8] = []
        var iterator = Array(text.utf8).makeIterator()
        while let byte = iterator.next() {
            if byte == UInt8(ascii: "%") {
                guard let high = iterator.next(), let low = iterator.next(),
                    let value = UInt8(String(decoding: [high, low], as: UTF8.self), radix: 16)
                else { return nil }
                bytes.append(value)
            } else {
                bytes.append(byte)
            }
        }
        return String(validating: bytes, as: UTF8.self)
    }
}
