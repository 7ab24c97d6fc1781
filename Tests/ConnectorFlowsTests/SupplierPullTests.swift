import ConnectorCore
import ConnectorFlows
import ConnectorRuntime
import ConnectorSimulators
import Foundation
import Jaggaer
import SAPBusinessOne
import Testing

/// JAGGAER suppliers → SAP Business One business partners in `sync-vendors`, next to the ERP → JAGGAER push:
/// the reader against the simulated JAGGAER, and the flow against the simulated JAGGAER and B1.
@Suite("JAGGAER suppliers into SAP Business One", .serialized, .timeLimit(.minutes(5)))
struct SupplierPullTests {
    static func supplier(_ number: String, name: String, active: Bool = true, hold: Bool = false) -> SimJSON {
        .object(
            SimJSONObject([
                "supplierNumber": .string(number), "name": .string(name), "active": .bool(active),
                "paymentHold": .bool(hold), "currency": .string("USD"), "taxId": .string("TX-\(number)"),
                "paymentTermsCode": .string("Net 30"),
                "address": .object(
                    SimJSONObject([
                        "addressLineList": .object(
                            SimJSONObject([
                                "addressLine": .array([
                                    .object(
                                        SimJSONObject([
                                            "lineNumber": .int(1), "addressLine": .string("1 Harbour Road"),
                                        ]))
                                ])
                            ])),
                        "city": .string("Leith"), "postalCode": .string("EH6 6AA"), "isoCountryCode": .string("GB"),
                    ])),
            ]))
    }

    static func sync(_ rig: B1Rig) async throws -> [String: String] {
        let runtime = try rig.runtime()
        let event = CloudEvent(
            id: UUID().uuidString, source: "urn:test", type: EventType.masterDataSyncRequested,
            data: try JSONValue(encoding: MasterDataSyncRequest()), connection: rig.connection.id)
        let handler = SyncVendorsHandler(
            context: runtime.context, erp: try runtime.erpConnector(), sink: try runtime.procurementSink())
        return try await handler.handle(event, input: .init()).detail ?? [:]
    }

    static func partner(_ rig: B1Rig, _ code: String) async throws -> [String: Any]? {
        try await rig.rows("BusinessPartners").first { $0["CardCode"] as? String == code }
    }

    @Test("the reader pages the supplier list, maps every field back and continues from its cursor")
    func reader() async throws {
        try await B1Rig.start().run { rig in
            let writes = rig.host.jaggaer.writes
            let base = Date().addingTimeInterval(-3600)
            for index in 1...30 {
                writes.editSupplierInJaggaer(
                    Self.supplier(String(format: "JR%03d", index), name: "Reader \(index)", hold: index == 2),
                    at: base.addingTimeInterval(Double(index)))
            }
            let sink = try #require(try rig.runtime().procurementSink())
            #expect(sink.pullsSuppliers)
            var cursor: ChangeCursor?
            var read: [Vendor] = []
            var pages = 0
            while true {
                let page = try await sink.suppliers(after: cursor, pageSize: 100)
                read += page.items
                cursor = page.next ?? cursor
                pages += 1
                try #require(pages < 10)
                if !page.hasMore { break }
            }
            #expect(pages == 2, "the simulator's pages hold 25")
            #expect(read.count == 30)
            let second = try #require(read.first { $0.number == "JR002" })
            #expect(second.name == "Reader 2")
            #expect(second.blocked == .payment)
            #expect(second.currencyCode == "USD")
            #expect(second.taxRegistrationNumber == "TX-JR002")
            #expect(second.paymentTermsCode == "Net 30")
            #expect(
                second.address
                    == PostalAddress(lines: ["1 Harbour Road"], city: "Leith", postalCode: "EH6 6AA", country: "GB"))
            #expect(second.lastModified != nil)

            // From the cursor: only the newest (the stamp is inclusive), then a later edit.
            let again = try await sink.suppliers(after: cursor, pageSize: 100)
            #expect(again.items.map(\.number) == ["JR030"])
            writes.editSupplierInJaggaer(Self.supplier("JR007", name: "Edited"), at: base.addingTimeInterval(600))
            let edited = try await sink.suppliers(after: again.next ?? cursor, pageSize: 100)
            // The boundary record comes again with the edit (the flow skips it by its digest).
            #expect(edited.items.map(\.number) == ["JR007", "JR030"])
            #expect(edited.items.first?.name == "Edited")
            let after = try await sink.suppliers(after: edited.next, pageSize: 100)
            #expect(after.items.map(\.number) == ["JR007"])
        }
    }

    @Test("a JAGGAER-born supplier becomes a B1 business partner; replays change nothing; nothing loops back")
    func intoB1() async throws {
        try await B1Rig.start().run { rig in
            let writes = rig.host.jaggaer.writes
            writes.editSupplierInJaggaer(Self.supplier("JB-NEW1", name: "Born In Jaggaer Ltd"), at: Date())
            let first = try await Self.sync(rig)
            #expect(first["pulledWritten"] == "1", "\(first)")
            let partner = try #require(try await Self.partner(rig, "JB-NEW1"))
            #expect(partner["CardName"] as? String == "Born In Jaggaer Ltd")
            #expect(partner["CardType"] as? String == "cSupplier")
            #expect(partner["FederalTaxID"] as? String == "TX-JB-NEW1")
            // B1's own vendors went to JAGGAER; the JAGGAER-born one was not pushed back without its address.
            let pushedB1 = Int(first["pushed"] ?? "") ?? 0
            #expect(pushedB1 > 0)
            let jaggaerCopy = try #require(writes.supplier("JB-NEW1"))
            #expect(jaggaerCopy["address"]?["city"]?.stringValue == "Leith")
            #expect(jaggaerCopy["paymentTermsCode"]?.stringValue == "Net 30")
            let changes = writes.changes
            let puts = rig.host.counters["jaggaer PUT suppliers/{number}", default: 0]

            // A replay: B1's vendors come back from JAGGAER as echoes, JB-NEW1 is unchanged; nothing is written.
            let replay = try await Self.sync(rig)
            #expect(replay["pulledWritten"] == "0", "\(replay)")
            #expect(replay["pushed"] == "0", "\(replay)")
            #expect(Int(replay["pulledEchoes"] ?? "") ?? 0 >= pushedB1)
            #expect(writes.changes == changes)
            #expect(rig.host.counters["jaggaer PUT suppliers/{number}", default: 0] == puts)
            let third = try await Self.sync(rig)
            #expect(third["pulledWritten"] == "0")
            #expect(third["pushed"] == "0")
            #expect(writes.supplier("JB-NEW1")?["address"]?["city"]?.stringValue == "Leith")
        }
    }

    @Test("a supplier changed in JAGGAER follows vendorConflictRule and does not come back")
    func conflictRule() async throws {
        for rule in [SAPBusinessOneSettings.VendorConflictRule.erpWins, .procurementWins] {
            try await B1Rig.start { $0.vendorConflictRule = rule }.run { rig in
                let writes = rig.host.jaggaer.writes
                _ = try await Self.sync(rig)
                let number = try #require(
                    try await rig.rows("BusinessPartners").compactMap { row -> String? in
                        guard row["CardType"] as? String == "cSupplier", row["Frozen"] as? String != "tYES" else {
                            return nil
                        }
                        return row["CardCode"] as? String
                    }.sorted().first)
                let before = try #require(try await Self.partner(rig, number))
                var edited = try #require(writes.supplier(number)?.objectValue)
                edited["name"] = .string("Renamed In Jaggaer")
                writes.editSupplierInJaggaer(.object(edited), at: Date().addingTimeInterval(3600 * 24 * 365))
                let detail = try await Self.sync(rig)
                let name = try await Self.partner(rig, number)?["CardName"] as? String
                switch rule {
                case .erpWins:
                    #expect(detail["pulledKept"] == "1", "\(detail)")
                    #expect(name == before["CardName"] as? String)
                default:
                    #expect(detail["pulledWritten"] == "1", "\(detail)")
                    #expect(name == "Renamed In Jaggaer")
                }
                // Either way nothing goes back to JAGGAER, and JAGGAER keeps its change.
                #expect(detail["pushed"] == "0", "\(detail)")
                let replay = try await Self.sync(rig)
                #expect(replay["pushed"] == "0", "\(replay)")
                #expect(replay["pulledWritten"] == "0", "\(replay)")
                #expect(writes.supplier(number)?["name"]?.stringValue == "Renamed In Jaggaer")
            }
        }
    }

    @Test("a supplier B1 refuses goes to review with the reason, is kept and tried again; the others go on")
    func refusedToReview() async throws {
        try await B1Rig.start().run { rig in
            let writes = rig.host.jaggaer.writes
            // C20001 is a customer in B1: it cannot become a supplier.
            writes.editSupplierInJaggaer(Self.supplier("C20001", name: "A Customer Already"), at: Date())
            writes.editSupplierInJaggaer(Self.supplier("JB-OK1", name: "Fine Supplier"), at: Date())
            let first = try await Self.sync(rig)
            #expect(first["pulledReview"] == "1", "\(first)")
            #expect(first["pulledWritten"] == "1", "\(first)")
            #expect(try await Self.partner(rig, "JB-OK1") != nil)
            let keys = try StateKeys(connection: rig.connection.id)
            let review = try #require(
                try await ReviewQueue(store: rig.store, keys: keys).get("suppliers/C20001"))
            #expect(review.reasons.first?.code == "vendor.rejected")
            #expect(review.reasons.first?.message.contains("not a supplier") == true)
            #expect(review.event.type == EventType.masterDataSyncRequested)
            // Kept: the next run tries it again although the cursor has moved past it.
            let second = try await Self.sync(rig)
            #expect(second["pulledReview"] == "1", "\(second)")
            #expect(second["pulledWritten"] == "0", "\(second)")
            #expect(try await Self.partner(rig, "C20001")?["CardType"] as? String == "cCustomer")
        }
    }
}
