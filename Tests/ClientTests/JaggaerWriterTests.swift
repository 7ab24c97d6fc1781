import ConnectorCore
import ConnectorHTTP
import ConnectorSimulators
import Foundation
import Jaggaer
import Testing

@Suite("JAGGAER writer against the simulator on loopback", .serialized, .timeLimit(.minutes(3)))
struct JaggaerWriterTests {
    static func writer(_ rig: ClientRig, settings: JaggaerWriterSettings = JaggaerWriterSettings()) -> JaggaerWriter {
        JaggaerWriter(baseURL: rig.host.jaggaerBaseURL, settings: settings, transport: rig.jaggaer().transport)
    }

    static let vendor = Vendor(
        number: "V 100/ä", name: "Acme Supplies", blocked: .payment, currencyCode: "EUR",
        taxRegistrationNumber: "DE123456789", erpId: "x", lastModified: Date(),
        address: PostalAddress(
            lines: ["1 Main Street", "Suite 4"], city: "Berlin", state: nil, postalCode: "10115", country: "DE"),
        paymentTermsCode: "Net 30")

    @Test("a supplier upsert lands whole; the same body again changes nothing; a blocked vendor is inactive")
    func supplier() async throws {
        let rig = try await ClientRig.start(invoices: 3)
        do {
            let writer = Self.writer(rig)
            try await writer.upsertSupplier(Self.vendor)
            let writes = rig.host.jaggaer.writes
            let stored = try #require(writes.supplier(Self.vendor.number))
            #expect(stored["supplierNumber"]?.stringValue == "V 100/ä")
            #expect(stored["active"]?.boolValue == true)
            #expect(stored["paymentHold"]?.boolValue == true)
            #expect(stored["currency"]?.stringValue == "EUR")
            #expect(stored["taxId"]?.stringValue == "DE123456789")
            #expect(stored["paymentTermsCode"]?.stringValue == "Net 30")
            #expect(stored["address"]?["city"]?.stringValue == "Berlin")
            #expect(stored["address"]?["isoCountryCode"]?.stringValue == "DE")
            #expect(stored["address"]?["addressLineList"]?["addressLine"]?.arrayValue?.count == 2)
            #expect(writes.changes == 1)

            try await writer.upsertSupplier(Self.vendor)
            #expect(writes.changes == 1, "a replay of the same supplier changes nothing")

            var blocked = Self.vendor
            blocked.blocked = .all
            try await writer.upsertSupplier(blocked)
            #expect(writes.supplier(Self.vendor.number)?["active"]?.boolValue == false)
            #expect(writes.changes == 2)
            #expect(rig.host.counters["jaggaer PUT suppliers/{number}", default: 0] == 3)
            #expect(rig.host.counters["keycloak POST token", default: 0] == 1)
            await rig.stop()
        } catch {
            await rig.stop()
            throw error
        }
    }

    @Test("coding values and payment status; an unknown invoice is refused with JAGGAER's message")
    func codingAndPayment() async throws {
        let rig = try await ClientRig.start(invoices: 3)
        do {
            let writer = Self.writer(rig)
            try await writer.upsertCodingValue(
                CodingValue(kind: .account, segment: "Account", code: "61100", name: "Office Supplies", active: true))
            #expect(
                rig.host.jaggaer.writes.codingValue(segment: "Account", code: "61100")?["description"]?.stringValue
                    == "Office Supplies")

            let invoiceId = try #require(rig.tenant.jaggaerInvoices.first?["header"]?["invoiceId"]?.intValue)
            let update = PaymentStatusUpdate(
                invoiceId: String(invoiceId), state: .partiallyPaid, amount: 100, paidAmount: 40,
                document: ERPDocumentRef(system: "businessCentral", id: "d", number: "108001", status: "Open"),
                changedAt: Date())
            try await writer.setPaymentStatus(update)
            let status = try #require(rig.host.jaggaer.writes.paymentStatus(invoiceId: invoiceId))
            #expect(status["paymentStatus"]?.stringValue == "Partially Paid")
            #expect(status["paidAmount"]?.decimalValue == 40)
            #expect(status["erpReference"]?.stringValue == "108001")

            var missing = update
            missing.invoiceId = "987654321"
            let error = await #expect(throws: ConnectorError.self) { try await writer.setPaymentStatus(missing) }
            #expect(error?.httpStatus == 404)
            #expect(error?.message.contains("987654321 not found") == true)
            await rig.stop()
        } catch {
            await rig.stop()
            throw error
        }
    }

    @Test("field names and values come from the settings; the simulator refuses a field it does not know")
    func settingsDriveTheBody() async throws {
        let rig = try await ClientRig.start(invoices: 3)
        let renamed = JaggaerWriterSettings(supplierFields: ["taxId": "vatNumber"])
        let error = await #expect(throws: ConnectorError.self) {
            try await Self.writer(rig, settings: renamed).upsertSupplier(Self.vendor)
        }
        #expect(error?.httpStatus == 400)
        #expect(error?.message.contains("vatNumber") == true)
        #expect(rig.host.jaggaer.writes.changes == 0)

        let body = JaggaerWriter.paymentStatusBody(
            PaymentStatusUpdate(
                invoiceId: "1", state: .paid, amount: 10, paidAmount: 10,
                document: ERPDocumentRef(system: "x", id: "d", number: nil, status: nil), changedAt: nil),
            settings: JaggaerWriterSettings(
                paymentStatusFields: ["status": "state"], paymentStatusValues: ["paid": "Settled"]))
        #expect(body["state"]?.stringValue == "Settled")
        #expect(body["erpReference"]?.stringValue == "d")
        await rig.stop()
    }

    @Test("settings refuse an unknown logical field name")
    func strictSettings() throws {
        let text = #"{"supplierFields": {"vat": "vatNumber"}}"#
        #expect(throws: ConnectorError.self) {
            _ = try JSONCoding.decode(JaggaerWriterSettings.self, from: Data(text.utf8))
        }
        let ok = try JSONCoding.decode(
            JaggaerWriterSettings.self,
            from: Data(#"{"supplierFields": {"taxId": "vatNumber"}, "enabled": false}"#.utf8))
        #expect(ok.supplierField("taxId") == "vatNumber")
        #expect(ok.supplierField("name") == "name")
        #expect(!ok.enabled)
    }
    @Test("settings a connection does not use stay out of the revision, so an upgrade resends nothing")
    func revisionStable() async throws {
        let transport = AsyncHTTPClientTransport()
        let plain = JaggaerWriter(baseURL: "https://j.example", settings: JaggaerWriterSettings(), transport: transport)
        let keys = try #require(
            try JSONSerialization.jsonObject(with: Data(plain.revision.utf8)) as? [String: Any]
        ).keys.sorted()
        // The keys of the first release: adding a setting must not change a default connection's digests.
        #expect(
            keys == [
                "codingFields", "codingValuePath", "enabled", "paymentStatusFields", "paymentStatusPath",
                "paymentStatusValues", "pullSuppliers", "supplierFields", "supplierListKey", "supplierListPath",
                "supplierPath",
            ])
        let used = JaggaerWriter(
            baseURL: "https://j.example",
            settings: JaggaerWriterSettings(purchaseOrderPath: "/po/{number}", supplierParentField: "parent"),
            transport: transport)
        #expect(used.revision.contains("/po/{number}") && used.revision.contains("parent"))
        let decoded = try JSONDecoder().decode(JaggaerWriterSettings.self, from: Data(used.revision.utf8))
        #expect(decoded.purchaseOrderPath == "/po/{number}" && decoded.supplierParentField == "parent")
        await transport.shutdown()
    }
}
