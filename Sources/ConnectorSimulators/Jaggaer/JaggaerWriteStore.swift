import Foundation
import Synchronization

/// What a simulated JAGGAER ONE tenant was told by the ERP side: suppliers, coding values (accounting codes per
/// segment) and invoice payment statuses, each kept as the last body accepted for its key.
///
/// The APIs behind them are not public (UNCONFIRMED, reference §1.10); the simulator follows the conventions of the
/// documented invoice API (`/j1p/api/public/ji/v1/…`, bearer token, JSON, the `returnCode`/`returnMessage`
/// envelope) and validates bodies strictly: required fields, JSON types, and no field it does not know.
package final class JaggaerWriteStore: Sendable {
    private struct State {
        var suppliers: [String: SimJSON] = [:]
        var codingValues: [String: SimJSON] = [:]
        var paymentStatuses: [String: SimJSON] = [:]
        /// Purchase orders an ERP confirmed, by the ERP's number.
        var purchaseOrders: [String: SimJSON] = [:]
        /// Catalog items (an ERP's released products), by item number.
        var catalogItems: [String: SimJSON] = [:]
        /// When each supplier last changed (by a write from the ERP side or in JAGGAER itself): the list's
        /// `lastModTime` and its `LASTMODTIME` filter.
        var supplierModified: [String: Date] = [:]
        /// Writes that changed something (a replay of the same body changes nothing and is not counted).
        var changes = 0
        /// Suppliers written naming a parent (`parentSupplierNumber`) that the tenant did not hold yet.
        var linkedBeforeParent: [String] = []
    }

    private let state = Mutex(State())

    package init() {}

    /// What an upsert did.
    package enum Outcome: String, Sendable {
        case created = "Created"
        case updated = "Updated"
        case unchanged = "Unchanged"
    }

    private static func upsert(_ map: inout [String: SimJSON], _ key: String, _ body: SimJSON, _ changes: inout Int)
        -> Outcome
    {
        guard let existing = map[key] else {
            map[key] = body
            changes += 1
            return .created
        }
        if existing.structurallyEquals(body) { return .unchanged }
        map[key] = body
        changes += 1
        return .updated
    }

    func upsertSupplier(number: String, _ body: SimJSON, at now: Date) -> Outcome {
        state.withLock {
            if let parent = body["parentSupplierNumber"]?.stringValue, $0.suppliers[parent] == nil {
                $0.linkedBeforeParent.append(number)
            }
            let outcome = Self.upsert(&$0.suppliers, number, body, &$0.changes)
            if outcome != .unchanged { $0.supplierModified[number] = now }
            return outcome
        }
    }

    /// A supplier created or edited by a JAGGAER user (not by the ERP side): not counted in `changes`. The body is
    /// in the supplier write's shape (`supplierNumber`, `name`, `active`, …).
    package func editSupplierInJaggaer(_ body: SimJSON, at now: Date) {
        guard let number = body["supplierNumber"]?.stringValue else { return }
        state.withLock {
            $0.suppliers[number] = body
            $0.supplierModified[number] = now
        }
    }

    /// Suppliers changed at or after `since` (whole seconds, as the `LASTMODTIME` filter compares), by number.
    func suppliers(since: Date?) -> [(number: String, body: SimJSON, modified: Date)] {
        state.withLock { state in
            state.suppliers.keys.sorted().compactMap { number in
                let modified = state.supplierModified[number] ?? .distantPast
                if let since, modified.timeIntervalSince1970.rounded(.down) < since.timeIntervalSince1970 {
                    return nil
                }
                return state.suppliers[number].map { (number, $0, modified) }
            }
        }
    }

    func upsertCodingValue(segment: String, code: String, _ body: SimJSON) -> Outcome {
        state.withLock { Self.upsert(&$0.codingValues, "\(segment)/\(code)", body, &$0.changes) }
    }

    func setPaymentStatus(invoiceId: Int, _ body: SimJSON) -> Outcome {
        state.withLock { Self.upsert(&$0.paymentStatuses, String(invoiceId), body, &$0.changes) }
    }

    func upsertPurchaseOrder(number: String, _ body: SimJSON) -> Outcome {
        state.withLock { Self.upsert(&$0.purchaseOrders, number, body, &$0.changes) }
    }

    func upsertCatalogItem(number: String, _ body: SimJSON) -> Outcome {
        state.withLock { Self.upsert(&$0.catalogItems, number, body, &$0.changes) }
    }

    /// One catalog item as last written.
    package func catalogItem(_ number: String) -> SimJSON? { state.withLock { $0.catalogItems[number] } }
    /// Every catalog item as last written, by item number.
    package var catalogItems: [String: SimJSON] { state.withLock { $0.catalogItems } }

    /// One ERP purchase order as last written.
    package func purchaseOrder(_ number: String) -> SimJSON? { state.withLock { $0.purchaseOrders[number] } }
    /// Every ERP purchase order as last written, by number.
    package var purchaseOrders: [String: SimJSON] { state.withLock { $0.purchaseOrders } }
    package var purchaseOrderCount: Int { state.withLock { $0.purchaseOrders.count } }
    /// Suppliers that were written naming a parent the tenant did not hold at the time, in order.
    package var suppliersLinkedBeforeTheirParent: [String] { state.withLock { $0.linkedBeforeParent } }

    /// One supplier as last written.
    package func supplier(_ number: String) -> SimJSON? { state.withLock { $0.suppliers[number] } }
    /// One coding value as last written.
    package func codingValue(segment: String, code: String) -> SimJSON? {
        state.withLock { $0.codingValues["\(segment)/\(code)"] }
    }
    /// One invoice's payment status as last written.
    package func paymentStatus(invoiceId: Int) -> SimJSON? {
        state.withLock { $0.paymentStatuses[String(invoiceId)] }
    }

    package var supplierCount: Int { state.withLock { $0.suppliers.count } }
    package var codingValueCount: Int { state.withLock { $0.codingValues.count } }
    package var paymentStatusCount: Int { state.withLock { $0.paymentStatuses.count } }
    /// Writes that changed something since the start.
    package var changes: Int { state.withLock { $0.changes } }

    /// `GET /_sim/jaggaer/writes`: everything written, sorted by key, with counts.
    var json: SimJSON {
        state.withLock { state in
            func sorted(_ map: [String: SimJSON]) -> SimJSON {
                .object(SimJSONObject(pairs: map.keys.sorted().map { ($0, map[$0] ?? .null) }))
            }
            return .object(
                SimJSONObject([
                    "counts": .object(
                        SimJSONObject([
                            "suppliers": .int(state.suppliers.count),
                            "activeSuppliers": .int(
                                state.suppliers.values.filter { $0["active"]?.boolValue == true }.count),
                            "codingValues": .int(state.codingValues.count),
                            "activeCodingValues": .int(
                                state.codingValues.values.filter { $0["active"]?.boolValue == true }.count),
                            "paymentStatuses": .int(state.paymentStatuses.count),
                            "purchaseOrders": .int(state.purchaseOrders.count),
                            "catalogItems": .int(state.catalogItems.count),
                            "changes": .int(state.changes),
                        ])),
                    "suppliers": sorted(state.suppliers),
                    "codingValues": sorted(state.codingValues),
                    "paymentStatuses": sorted(state.paymentStatuses),
                    "purchaseOrders": sorted(state.purchaseOrders),
                    "catalogItems": sorted(state.catalogItems),
                ]))
        }
    }
}

/// Strict checks of the bodies the write endpoints take. Each returns the problem, or nil when the body is valid.
enum JaggaerWriteValidation {
    static let paymentStatuses: Set<String> = ["Payable", "InProcess", "Partially Paid", "Paid"]

    enum FieldType {
        case string, nonEmptyString, bool, number, instant, object, date, array
    }

    /// Checks `body` is an object with exactly the known fields, the required ones present, each of its type.
    static func check(_ body: SimJSON, required: [String: FieldType], optional: [String: FieldType]) -> String? {
        guard let object = body.objectValue else { return "the body must be a JSON object" }
        for (name, _) in object where required[name] == nil && optional[name] == nil {
            return "Unrecognized field \"\(name)\""
        }
        for name in required.keys.sorted() where object[name] == nil || object[name]?.isNull == true {
            return "\(name) is required"
        }
        for (name, value) in object {
            guard let type = required[name] ?? optional[name] else { continue }
            if let problem = typeProblem(name, value, type) { return problem }
        }
        return nil
    }

    static func typeProblem(_ name: String, _ value: SimJSON, _ type: FieldType) -> String? {
        switch type {
        case .string:
            return value.stringValue == nil ? "\(name) must be a string" : nil
        case .nonEmptyString:
            guard let text = value.stringValue, !text.trimmingCharacters(in: .whitespaces).isEmpty else {
                return "\(name) must be a non-empty string"
            }
            return nil
        case .bool:
            // JAGGAER sends string booleans in its own payloads; writes here take JSON booleans only.
            return value.boolValue == nil ? "\(name) must be a JSON boolean" : nil
        case .number:
            return value.decimalValue == nil ? "\(name) must be a JSON number" : nil
        case .instant:
            guard let text = value.stringValue, Timestamps.parseInstant(text) != nil else {
                return "\(name) must be an ISO-8601 instant"
            }
            return nil
        case .object:
            return value.objectValue == nil ? "\(name) must be an object" : nil
        case .date:
            guard let text = value.stringValue, text.count == 10, Timestamps.parseInstant(text + "T00:00:00Z") != nil
            else { return "\(name) must be a date YYYY-MM-DD" }
            return nil
        case .array:
            return value.arrayValue == nil ? "\(name) must be an array" : nil
        }
    }

    static func supplier(_ body: SimJSON, number: String) -> String? {
        if let problem = check(
            body,
            required: ["supplierNumber": .nonEmptyString, "name": .nonEmptyString, "active": .bool],
            optional: [
                "paymentHold": .bool, "taxId": .string, "currency": .string, "paymentTermsCode": .string,
                "address": .object,
                // A vendor hierarchy's parent (UNCONFIRMED: the connector sends it only where configured).
                "parentSupplierNumber": .nonEmptyString,
            ])
        {
            return problem
        }
        if body["supplierNumber"]?.stringValue != number {
            return "supplierNumber does not match the supplier in the path"
        }
        if let currency = body["currency"]?.stringValue,
            currency.count != 3 || !currency.allSatisfy({ $0.isASCII && $0.isUppercase })
        {
            return "currency must be an ISO 4217 code such as USD"
        }
        if let address = body["address"] {
            if let problem = check(
                address, required: [:],
                optional: [
                    "addressLineList": .object, "city": .string, "state": .string, "postalCode": .string,
                    "isoCountryCode": .string,
                ])
            {
                return "address: \(problem)"
            }
            if let list = address["addressLineList"] {
                guard list.objectValue?.count == 1, let lines = list["addressLine"]?.arrayValue else {
                    return "address.addressLineList must be {\"addressLine\": [...]}"
                }
                for line in lines {
                    if let problem = check(
                        line, required: ["lineNumber": .number, "addressLine": .string], optional: [:])
                    {
                        return "address.addressLineList.addressLine: \(problem)"
                    }
                }
            }
            if let country = address["isoCountryCode"]?.stringValue, country.count != 2 {
                return "address.isoCountryCode must be a 2-letter ISO 3166 code"
            }
        }
        return nil
    }

    static func codingValue(_ body: SimJSON, segment: String, code: String) -> String? {
        if let problem = check(
            body,
            required: ["segmentName": .nonEmptyString, "code": .nonEmptyString, "active": .bool],
            optional: ["description": .string])
        {
            return problem
        }
        if body["segmentName"]?.stringValue != segment || body["code"]?.stringValue != code {
            return "segmentName and code must match the path"
        }
        return nil
    }

    /// A purchase order an ERP confirmed: its number (the path's), supplier, total and lines, each line with its
    /// number, quantity, unit price and amount; the amounts must add up.
    static func purchaseOrder(_ body: SimJSON, number: String) -> String? {
        if let problem = check(
            body,
            required: [
                "purchaseOrderNumber": .nonEmptyString, "supplierNumber": .nonEmptyString, "totalAmount": .number,
                "lines": .array,
            ],
            optional: [
                "description": .string, "orderDate": .date, "requestedDeliveryDate": .date, "currency": .string,
                "erpStatus": .string,
            ])
        {
            return problem
        }
        if body["purchaseOrderNumber"]?.stringValue != number {
            return "purchaseOrderNumber does not match the purchase order in the path"
        }
        if let currency = body["currency"]?.stringValue,
            currency.count != 3 || !currency.allSatisfy({ $0.isASCII && $0.isUppercase })
        {
            return "currency must be an ISO 4217 code such as USD"
        }
        var sum: Decimal = 0
        for line in body["lines"]?.arrayValue ?? [] {
            if let problem = check(
                line,
                required: [
                    "lineNumber": .nonEmptyString, "quantity": .number, "unitPrice": .number, "amount": .number,
                ],
                optional: [
                    "itemNumber": .string, "category": .string, "description": .string, "unitOfMeasure": .string,
                    "requestedDeliveryDate": .date,
                ])
            {
                return "lines: \(problem)"
            }
            sum += line["amount"]?.decimalValue ?? 0
        }
        if let total = body["totalAmount"]?.decimalValue, total != sum {
            return "totalAmount \(total) is not the sum of the line amounts (\(sum))"
        }
        return nil
    }

    /// A catalog item: its number (the path's) and name; a price comes with its ISO currency and is not negative.
    static func catalogItem(_ body: SimJSON, number: String) -> String? {
        if let problem = check(
            body,
            required: ["itemNumber": .nonEmptyString, "name": .nonEmptyString],
            optional: [
                "description": .string, "unitOfMeasure": .string, "unitPrice": .number, "currency": .string,
                "category": .string,
            ])
        {
            return problem
        }
        if body["itemNumber"]?.stringValue != number { return "itemNumber does not match the item in the path" }
        if let price = body["unitPrice"]?.decimalValue {
            if price < 0 { return "unitPrice must not be negative" }
            guard let currency = body["currency"]?.stringValue,
                currency.count == 3, currency.allSatisfy({ $0.isASCII && $0.isUppercase })
            else { return "a unitPrice needs currency, an ISO 4217 code such as USD" }
        }
        return nil
    }

    static func paymentStatus(_ body: SimJSON) -> String? {
        if let problem = check(
            body,
            required: ["paymentStatus": .nonEmptyString],
            optional: [
                "invoiceAmount": .number, "paidAmount": .number, "paymentDate": .instant, "erpReference": .string,
            ])
        {
            return problem
        }
        guard let status = body["paymentStatus"]?.stringValue, paymentStatuses.contains(status) else {
            return "paymentStatus must be one of \(paymentStatuses.sorted().joined(separator: ", "))"
        }
        if let paid = body["paidAmount"]?.decimalValue, paid < 0 { return "paidAmount must not be negative" }
        return nil
    }
}
