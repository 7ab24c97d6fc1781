import ConnectorCore
import Foundation
import Testing

@Suite("W3C trace context in CloudEvents")
struct TraceContextTests {
    static let valid = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

    @Test(
        "a valid traceparent is read; malformed ones are ignored as the spec says",
        arguments: [
            "", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x",
            "0-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b71-01",
        ])
    func invalid(text: String) {
        #expect(TraceContext(traceparent: text) == nil)
    }

    @Test("parse, render, child span, future version")
    func valid() throws {
        let context = try #require(TraceContext(traceparent: Self.valid))
        #expect(context.traceId == "4bf92f3577b34da6a3ce929d0e0e4736" && context.spanId == "00f067aa0ba902b7")
        #expect(context.traceparent == Self.valid)
        let child = context.child()
        #expect(child.traceId == context.traceId && child.spanId != context.spanId && child.flags == "01")
        #expect(TraceContext(traceparent: "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-future") != nil)
        let root = TraceContext.root()
        #expect(TraceContext(traceparent: root.traceparent) == root)
    }

    @Test("CloudEvents carry traceparent and tracestate; an invalid one is dropped with its tracestate, not refused")
    func cloudEvents() throws {
        var event = CloudEvent(source: "urn:t", type: "t", data: nil, connection: "c")
        event.traceparent = Self.valid
        event.tracestate = "vendor=abc"
        let decoded = try JSONCoding.decode(CloudEvent.self, from: JSONCoding.encode(event))
        #expect(decoded.traceparent == Self.valid && decoded.tracestate == "vendor=abc")

        let bad = Data(
            #"{"specversion":"1.0","id":"1","source":"s","type":"t","traceparent":"nonsense","tracestate":"x=1"}"#.utf8)
        let dropped = try JSONCoding.decode(CloudEvent.self, from: bad)
        #expect(dropped.traceparent == nil && dropped.tracestate == nil)
        let numeric = Data(#"{"specversion":"1.0","id":"1","source":"s","type":"t","traceparent":7}"#.utf8)
        #expect(try JSONCoding.decode(CloudEvent.self, from: numeric).traceparent == nil)

        let span = TraceContext.span(for: decoded)
        #expect(span.traceId == "4bf92f3577b34da6a3ce929d0e0e4736" && span.spanId != "00f067aa0ba902b7")
        let emitted = CloudEvent.traced(
            [try decoded.next(type: "u", source: "s", data: ["a": 1])], in: span, tracestate: "vendor=abc")
        #expect(emitted[0].traceparent == span.traceparent && emitted[0].tracestate == "vendor=abc")
        #expect(
            TraceContext.span(for: CloudEvent(source: "s", type: "t", data: nil, connection: "c")).traceId.count == 32)
    }
}
