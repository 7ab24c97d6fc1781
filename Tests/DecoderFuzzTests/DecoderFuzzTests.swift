import BusinessCentral
import ConnectorCore
import ConnectorFlows
import ConnectorHTTP
import Foundation
import Jaggaer
import PropertyBased
import Testing

/// Every decoder of external input, fed random and mutated documents: each either decodes or fails with a clear
/// decoding or connector error. Nothing crashes, nothing hangs.
@Suite("Decoders of external payloads under random input")
struct DecoderFuzzTests {
    static let sample: String = {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent(
            "invoice_sample.json")
        return (try? String(contentsOf: url, encoding: .utf8)) ?? "{}"
    }()

    static let event =
        #"{"specversion":"1.0","id":"e1","source":"urn:test","type":"com.mlconnector.invoice.captured","time":"2024-02-14T19:58:56.973Z","data":{"a":1},"connection":"demo","attempt":2}"#

    /// Decoding failed the expected way (not a crash, not some unrelated error).
    static func isClear(_ error: any Error) -> Bool {
        error is DecodingError || error is ConnectorError
    }

    @Test("JAGGAER invoices: random documents and mutations of the real sample")
    func jaggaerInvoice() async {
        await propertyCheck(count: 300, input: RandomJSON.documents) { text in
            Self.decodeInvoice(text)
        }
        await propertyCheck(count: 500, input: RandomJSON.mutations(of: Self.sample)) { text in
            Self.decodeInvoice(text)
        }
    }

    static func decodeInvoice(_ text: String) {
        do {
            let invoice = try JSONCoding.decode(JaggaerInvoice.self, from: Data(text.utf8))
            do {
                let converted = try JaggaerSource.convert(invoice)
                #expect(converted.lines.count == invoice.lines.count)
                // What is captured survives the trip through an event exactly (money included).
                let again = try JSONCoding.decode(SupplierInvoice.self, from: try JSONCoding.encode(converted))
                #expect(again == converted)
            } catch {
                #expect(Self.isClear(error), "conversion failed unclearly: \(type(of: error))")
            }
        } catch {
            #expect(Self.isClear(error), "decoding failed unclearly: \(type(of: error))")
        }
    }

    @Test("JAGGAER list pages: one bad item never sinks the page")
    func jaggaerList() async {
        let list =
            #"{"returnCode":0,"returnMessage":"","totRecords":2,"returnedRecords":2,"startAt":1,"jiinvoiceList":{"jiinvoice":[{"header":{"invoiceId":1,"lastUpdate":"2024-02-14T19:58:56.973Z"}},{"header":{"invoiceId":"2"}}]}}"#
        await propertyCheck(count: 400, input: RandomJSON.mutations(of: list)) { text in
            do {
                let page = try JSONCoding.decode(JaggaerInvoiceListPage.self, from: Data(text.utf8))
                _ = page.items.count
                _ = page.returned
                _ = page.total
            } catch {
                #expect(Self.isClear(error))
            }
        }
    }

    @Test("CloudEvents on stdin: random bytes and mutated events are bad input (65) or valid")
    func cloudEvents() async {
        await propertyCheck(count: 400, input: RandomJSON.mutations(of: Self.event)) { text in
            Self.decodeEvent(text)
        }
        await propertyCheck(count: 300, input: RandomJSON.documents) { text in
            Self.decodeEvent(text)
        }
    }

    static func decodeEvent(_ text: String) {
        do {
            let event = try StepDriver.decodeEvent(Data(text.utf8), acceptedTypes: [EventType.invoiceCaptured])
            #expect(!event.id.isEmpty && event.attempt >= 1)
        } catch let error as ConnectorError {
            #expect(error.exitCode == .dataError, "\(error.code)")
        } catch {
            Issue.record("unexpected \(type(of: error))")
        }
    }

    @Test("Business Central collections and error bodies")
    func businessCentral() async {
        let vendors =
            #"{"@odata.context":"x","value":[{"id":"6b2a1e57-0c3d-4f8e-9a41-2d7c5e8b9f01","number":"V1","displayName":"A","blocked":" ","lastModifiedDateTime":"2024-02-14T19:58:56.973Z"}],"@odata.nextLink":"https://api.businesscentral.dynamics.com/x?$skiptoken=1"}"#
        let invoice =
            #"{"id":"6b2a1e57-0c3d-4f8e-9a41-2d7c5e8b9f01","number":"108001","status":"Draft","totalAmountIncludingTax":12.5,"@odata.etag":"W/\"x\""}"#
        await propertyCheck(count: 300, input: RandomJSON.mutations(of: vendors)) { text in
            do {
                _ = try JSONCoding.decode([String: [BCVendor]].self, from: Data(text.utf8))
            } catch {
                #expect(Self.isClear(error))
            }
        }
        await propertyCheck(count: 300, input: RandomJSON.mutations(of: invoice)) { text in
            do {
                _ = try JSONCoding.decode(BCPurchaseInvoice.self, from: Data(text.utf8))
            } catch {
                #expect(Self.isClear(error))
            }
        }
    }

    @Test("the step's input types reject wrong shapes clearly", arguments: 0..<3)
    func stepInputs(round: Int) async {
        await propertyCheck(count: 200, input: RandomJSON.documents) { text in
            guard let value = try? JSONCoding.decode(JSONValue.self, from: Data(text.utf8)) else { return }
            let event = CloudEvent(source: "s", type: EventType.invoiceCaptured, data: value, connection: "c")
            for attempt in [
                { _ = try event.decodeData(SupplierInvoice.self) },
                { _ = try event.decodeData(MappedInvoice.self) },
                { _ = try event.decodeData(PollRequest.self) },
                { _ = try event.decodeData(MasterDataSyncRequest.self) },
            ] as [() throws -> Void] {
                do {
                    try attempt()
                } catch let error as ConnectorError {
                    #expect(error.kind == .badInput)
                } catch {
                    Issue.record("unexpected \(type(of: error))")
                }
            }
        }
    }

    @Test("deeply nested JSON fails clearly instead of exhausting the stack")
    func deepNesting() {
        for depth in [600, 10_000, 200_000] {
            let text = String(repeating: "[", count: depth) + String(repeating: "]", count: depth)
            #expect(throws: (any Error).self) { try JSONCoding.decode(JSONValue.self, from: Data(text.utf8)) }
            let wrapped =
                #"{"specversion":"1.0","id":"1","source":"s","type":"com.mlconnector.invoice.captured","data":"# + text
                + "}"
            #expect(throws: ConnectorError.self) {
                try StepDriver.decodeEvent(Data(wrapped.utf8), acceptedTypes: [EventType.invoiceCaptured])
            }
        }
    }

    @Test("token responses: anything but a usable token is a clear error")
    func tokenResponses() async {
        let good = #"{"access_token":"abc","expires_in":3599,"token_type":"Bearer"}"#
        await propertyCheck(count: 300, input: RandomJSON.mutations(of: good)) { text in
            let error = OAuth2ClientCredentialsProvider.tokenError(
                HTTPResponse(status: 400, body: Data(text.utf8)), name: "idp")
            #expect(error.kind == .configuration || error.kind == .temporary)
        }
    }
}
