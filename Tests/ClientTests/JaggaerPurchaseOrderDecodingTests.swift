import ConnectorCore
import Foundation
import Jaggaer
import Testing

/// JAGGAER's purchase-order API is UNCONFIRMED: the reader follows the invoice API's envelope and field names and
/// does not depend on the simulator's exact list key.
@Suite("JAGGAER purchase orders decode")
struct JaggaerPurchaseOrderDecodingTests {
    @Test("the list items are found under whichever …List object holds them")
    func listKey() throws {
        for key in ["purchaseOrderList\": {\"purchaseOrder", "popurchaseorderList\": {\"popurchaseorder"] {
            let text = """
                {"returnCode": 0, "returnMessage": "", "totRecords": 3, "returnedRecords": 2, "startAt": "1",
                 "\(key)": [
                   {"header": {"purchaseOrderId": 31, "purchaseOrderNumber": "0000000049",
                               "lastUpdate": "2024-02-14T19:58:56.973Z", "status": "Open"}},
                   {"nothing": true}
                 ]}}
                """
            let page = try JSONCoding.decode(JaggaerPurchaseOrderListPage.self, from: Data(text.utf8))
            #expect(page.total == 3)
            #expect(page.returned == 2)
            #expect(page.items.count == 2)
            let first = try page.items[0].get()
            #expect(first.purchaseOrderId.value == "31")
            #expect(first.purchaseOrderNumber?.value == "0000000049")
            #expect((try? page.items[1].get()) == nil, "an unreadable item is reported, not dropped")
        }
    }

    @Test("a purchase order converts with its lines; a line without a quantity is an error, never guessed")
    func convert() throws {
        let text = """
            {"header": {"purchaseOrderId": 31, "purchaseOrderNumber": "0000000049", "lastUpdate": "2024-02-14T19:58:56.973Z",
                        "orderDate": "2024-02-01T00:00:00.000Z", "supplier": {"id": 7, "supplierNumber": "V100"},
                        "total": {"currency": "USD", "value": 30}},
             "lineList": {"purchaseOrderLine": [
               {"lineNumber": 2, "item": {"description": "Paper"}, "quantity": 2, "unitPrice": 5},
               {"lineNumber": "1", "item": {"description": "Toner", "unitOfMeasure": {"dimension": "EA"}},
                "quantity": "1", "unitPrice": {"currency": "USD", "money": 20}}
             ]}}
            """
        let order = try JaggaerSource.convert(try JSONCoding.decode(JaggaerPurchaseOrder.self, from: Data(text.utf8)))
        #expect(order.number == "0000000049")
        #expect(order.supplier.number == "V100")
        #expect(order.orderDate?.description == "2024-02-01")
        #expect(order.lines.map(\.lineNumber) == [1, 2])
        #expect(order.lines.map(\.unitPrice) == [20, 5])
        let broken = text.replacingOccurrences(of: "\"quantity\": 2, ", with: "")
        #expect(throws: ConnectorError.self) {
            try JaggaerSource.convert(try JSONCoding.decode(JaggaerPurchaseOrder.self, from: Data(broken.utf8)))
        }
    }
}
