import Foundation

/// W3C Trace Context (`traceparent`, https://www.w3.org/TR/trace-context/) as carried by CloudEvents' distributed
/// tracing extension: `00-<trace-id: 32 hex>-<parent-id: 16 hex>-<flags: 2 hex>`.
///
/// Every step invocation is one span: it continues the trace of the event it was given (or starts one when the
/// event has none, as a scheduled poll does), logs its trace and span ids, and gives the events it emits a
/// `traceparent` whose parent is its own span, so a record's whole path through the steps is one trace.
package struct TraceContext: Sendable, Hashable, CustomStringConvertible {
    package var traceId: String
    package var spanId: String
    package var flags: String

    package init(traceId: String, spanId: String, flags: String = "01") {
        self.traceId = traceId
        self.spanId = spanId
        self.flags = flags
    }

    /// Parses a `traceparent`; nil for anything the spec says to ignore: a wrong length or shape, upper-case or
    /// non-hex digits, an all-zero trace or parent id, version `ff`. A future version is read by its first four
    /// fields, as the spec asks.
    package init?(traceparent: String) {
        let parts = traceparent.split(separator: "-", omittingEmptySubsequences: false).map(String.init)
        guard parts.count >= 4, parts[0].count == 2, parts[1].count == 32, parts[2].count == 16, parts[3].count == 2,
            parts.prefix(4).allSatisfy(Self.isLowerHex), parts[0] != "ff"
        else { return nil }
        if parts[0] == "00", parts.count != 4 { return nil }
        guard parts[1] != String(repeating: "0", count: 32), parts[2] != String(repeating: "0", count: 16) else {
            return nil
        }
        traceId = parts[1]
        spanId = parts[2]
        flags = parts[3]
    }

    /// A new trace with a new root span, sampled.
    package static func root() -> TraceContext {
        TraceContext(traceId: randomHex(bytes: 16), spanId: randomHex(bytes: 8))
    }

    /// A new span of the same trace (this invocation's span, when `self` is the caller's context).
    package func child() -> TraceContext {
        TraceContext(traceId: traceId, spanId: Self.randomHex(bytes: 8), flags: flags)
    }

    /// The span an invocation of an event runs in: a child of the event's `traceparent`, or a new root.
    package static func span(for event: CloudEvent) -> TraceContext {
        event.traceparent.flatMap(TraceContext.init(traceparent:))?.child() ?? .root()
    }

    package var traceparent: String { "00-\(traceId)-\(spanId)-\(flags)" }
    package var description: String { traceparent }

    static func isLowerHex(_ text: String) -> Bool {
        !text.isEmpty && text.utf8.allSatisfy { (48...57).contains($0) || (97...102).contains($0) }
    }

    static func randomHex(bytes: Int) -> String {
        var generator = SystemRandomNumberGenerator()
        while true {
            let text = FixedFormat.hex((0..<bytes).map { _ in UInt8.random(in: 0...255, using: &generator) })
            if text != String(repeating: "0", count: bytes * 2) { return text }
        }
    }
}

extension CloudEvent {
    /// Gives these events `traceparent` = `span` (their parent is the span that emitted them), keeping the
    /// `tracestate` of the event that started the span where they have none.
    package static func traced(_ events: [CloudEvent], in span: TraceContext, tracestate: String?) -> [CloudEvent] {
        events.map { event in
            var copy = event
            copy.traceparent = span.traceparent
            if copy.tracestate == nil { copy.tracestate = tracestate }
            return copy
        }
    }
}
