import ConnectorCore
import Foundation
import Testing

@Suite("CloudEvent envelope and step driver")
struct EnvelopeTests {
    static let valid =
        #"{"specversion":"1.0","id":"e1","source":"urn:test","type":"com.mlconnector.invoice.captured","time":"2024-02-14T19:58:56.973Z","data":{"amount":1102.5},"connection":"demo","attempt":2,"recordid":"r1"}"#

    @Test("a structured-mode event decodes with its extensions and re-encodes the same")
    func roundTrip() throws {
        let event = try StepDriver.decodeEvent(Data(Self.valid.utf8), acceptedTypes: [EventType.invoiceCaptured])
        #expect(event.id == "e1")
        #expect(event.connection == "demo")
        #expect(event.attempt == 2)
        #expect(event.recordid == "r1")
        #expect(event.identity == "urn:test#e1")
        #expect(event.data?["amount"] == .number(Decimal(string: "1102.5")!))
        let again = try JSONCoding.decode(CloudEvent.self, from: JSONCoding.encode(event))
        #expect(again == event)
    }

    @Test("attempt may arrive as a string extension value")
    func attemptAsString() throws {
        let text = Self.valid.replacingOccurrences(of: #""attempt":2"#, with: #""attempt":"3""#)
        let event = try StepDriver.decodeEvent(Data(text.utf8), acceptedTypes: [EventType.invoiceCaptured])
        #expect(event.attempt == 3)
    }

    @Test(
        "malformed events are bad input with a clear code",
        arguments: [
            ("", "event.malformed"),
            ("   \n", "event.malformed"),
            ("{", "event.malformed"),
            ("[]", "event.malformed"),
            (#"{"id":"1","source":"s","type":"t"}"#, "event.malformed"),
            (#"{"specversion":"0.3","id":"1","source":"s","type":"t"}"#, "event.malformed"),
            (
                #"{"specversion":"1.0","id":"","source":"s","type":"com.mlconnector.invoice.captured"}"#,
                "event.malformed"
            ),
            (#"{"specversion":"1.0","id":"1","source":"s","type":"com.other"}"#, "event.type_unsupported"),
            (
                #"{"specversion":"1.0","id":"1","source":"s","type":"com.mlconnector.invoice.captured","attempt":0}"#,
                "event.malformed"
            ),
            (
                #"{"specversion":"1.0","id":"1","source":"s","type":"com.mlconnector.invoice.captured","time":"yesterday"}"#,
                "event.malformed"
            ),
            (
                #"{"specversion":"1.0","id":"1","source":"s","type":"com.mlconnector.invoice.captured","data_base64":"AA=="}"#,
                "event.malformed"
            ),
            (
                #"{"specversion":"1.0","id":7,"source":"s","type":"com.mlconnector.invoice.captured"}"#,
                "event.malformed"
            ),
        ]
    )
    func malformed(input: String, code: String) {
        do {
            _ = try StepDriver.decodeEvent(Data(input.utf8), acceptedTypes: [EventType.invoiceCaptured])
            Issue.record("accepted \(input)")
        } catch let error as ConnectorError {
            #expect(error.code.rawValue == code)
            #expect(error.exitCode == .dataError)
            #expect(!error.retryable)
        } catch {
            Issue.record("unexpected \(error)")
        }
    }

    @Test("an oversized event is refused before parsing")
    func oversized() {
        let huge = Data(repeating: 0x20, count: StepDriver.maxEventBytes + 1)
        #expect(throws: ConnectorError.self) { try StepDriver.decodeEvent(huge, acceptedTypes: []) }
    }

    @Test("error kinds map to sysexits codes and result statuses")
    func exitCodes() {
        let cases: [(ConnectorError, StepExitCode, StepStatus)] = [
            (ConnectorError(.eventInvalid, "x"), .dataError, .failed),
            (ConnectorError(.connectionUnknown, "x"), .config, .failed),
            (ConnectorError(.masterKeyMissing, "x"), .config, .failed),
            (ConnectorError(.httpRateLimited, "x"), .tempFail, .retry),
            (ConnectorError(.upstreamUnavailable, "x"), .unavailable, .failed),
            (ConnectorError(.internalError, "x"), .software, .failed),
        ]
        for (error, code, status) in cases {
            #expect(error.exitCode == code, "\(error.code)")
            let result = StepResult.failure(error)
            #expect(result.status == status, "\(error.code)")
            #expect(result.exitCode(for: error) == code)
        }
        #expect(StepResult(status: .needsReview).exitCode(for: nil) == .ok)
        #expect(StepResult(status: .duplicate).exitCode(for: nil) == .ok)
    }

    @Test("money survives JSON exactly as Decimal")
    func decimals() throws {
        let text = #"{"a":0.1,"b":1102.5,"c":12345678901234.99,"d":-0.005}"#
        let value = try JSONCoding.decode(JSONValue.self, from: Data(text.utf8))
        #expect(value["a"] == .number(Decimal(string: "0.1")!))
        #expect(value["c"] == .number(Decimal(string: "12345678901234.99")!))
        #expect(value["d"] == .number(Decimal(string: "-0.005")!))
        let sum = [value["a"], value["b"]].compactMap { if case .number(let n)? = $0 { n } else { nil } }.reduce(0, +)
        #expect(sum == Decimal(string: "1102.6")!)
    }

    @Test("timestamps: RFC 3339 with and without fractions and offsets")
    func timestamps() throws {
        #expect(Timestamp.parse("2024-02-14T19:58:56.973Z") != nil)
        #expect(Timestamp.parse("2024-02-14T19:58:56Z") != nil)
        let offset = try #require(Timestamp.parse("2024-07-15T10:31:28.402+03:00"))
        #expect(Timestamp.format(offset) == "2024-07-15T07:31:28.402Z")
        #expect(Timestamp.parse("2024-02-30T00:00:00Z") == nil)
        #expect(Timestamp.parse("nonsense") == nil)
    }

    @Test("local dates from JAGGAER's midnight-UTC date-times")
    func localDates() {
        #expect(LocalDate(parsing: "2024-02-14T00:00:00.000Z")?.description == "2024-02-14")
        #expect(LocalDate(parsing: "2024-02-14")?.description == "2024-02-14")
        #expect(LocalDate(parsing: "2024-02-30") == nil)
        #expect(LocalDate(parsing: "14.02.2024") == nil)
        #expect(LocalDate(parsing: "") == nil)
    }
}
