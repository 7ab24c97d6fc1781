import ConnectorSimulators
import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A Service Layer client for the tests: logs in, keeps the two cookies, sends them on every call.
struct B1TestClient {
    /// `http://127.0.0.1:PORT/b1s/v1` or `…/v2`.
    let root: String
    var session: String?
    var route: String?

    init(base: String, version: String = "v1") {
        self.root = base + "/b1s/" + version
    }

    static let account = B1Sessions.Account(companyDB: "SBOTEST", userName: "manager", password: "s3cret")

    @discardableResult
    mutating func login(_ account: B1Sessions.Account = B1TestClient.account) async throws -> HTTPResult {
        let result = try await HTTP.json(
            "POST", root + "/Login", token: nil,
            body: .object(
                SimJSONObject([
                    "CompanyDB": .string(account.companyDB), "UserName": .string(account.userName),
                    "Password": .string(account.password),
                ])))
        let cookies = result.header("Set-Cookie") ?? ""
        session = Self.cookie("B1SESSION", in: cookies)
        route = Self.cookie("ROUTEID", in: cookies)
        return result
    }

    static func cookie(_ name: String, in header: String) -> String? {
        guard let range = header.range(of: name + "=") else { return nil }
        let rest = header[range.upperBound...]
        let value = rest.prefix { $0 != ";" && $0 != "," }
        return value.isEmpty ? nil : String(value)
    }

    var cookieHeader: [String: String] {
        var parts: [String] = []
        if let session { parts.append("B1SESSION=\(session)") }
        if let route { parts.append("ROUTEID=\(route)") }
        return parts.isEmpty ? [:] : ["Cookie": parts.joined(separator: "; ")]
    }

    /// GET `root/<path>` (path may carry an already-encoded query).
    func get(_ path: String, headers: [String: String] = [:]) async throws -> HTTPResult {
        try await HTTP.get(root + "/" + path, headers: cookieHeader.merging(headers) { $1 })
    }

    func send(_ method: String, _ path: String, _ body: SimJSON?, headers: [String: String] = [:]) async throws
        -> HTTPResult
    {
        try await HTTP.json(
            method, root + "/" + path, token: nil, body: body, headers: cookieHeader.merging(headers) { $1 })
    }

    /// `$filter=<expression>` percent-encoded.
    static func filter(_ expression: String) -> String { "$filter=" + HTTP.encode(expression) }
}

extension HTTPResult {
    /// `error.code` of a Service Layer error body, as text whether it came as a number (v1) or a string (v2).
    var b1Code: String? {
        guard let code = json?["error"]?["code"] else { return nil }
        if let text = code.stringValue { return text }
        return code.intValue.map(String.init)
    }

    /// Whether v1's code came as a JSON number.
    var b1CodeIsNumber: Bool { json?["error"]?["code"]?.intValue != nil }

    var b1Message: String? { json?["error"]?["message"]?["value"]?.stringValue }

    var values: [SimJSON] { json?["value"]?.arrayValue ?? [] }
}

/// A small company: three suppliers (one with an apostrophe, one with non-ASCII letters), one customer, a few
/// accounts, dimension 1 and 2 centres, and one purchase order of supplier V100 with three lines.
func b1TestCompany(now: Date) -> B1CompanyData {
    var data = B1CompanyData()
    data.businessPartners = [
        B1Store.businessPartner(code: "V100", name: "Fisher Scientific", type: "cSupplier", currency: "USD", now: now),
        B1Store.businessPartner(
            code: "V200", name: "O'Neil Office Supply", type: "cSupplier", currency: "USD", now: now),
        B1Store.businessPartner(code: "V300", name: "Müller & Søn GmbH", type: "cSupplier", currency: "EUR", now: now),
        B1Store.businessPartner(code: "C100", name: "A customer", type: "cCustomer", currency: "USD", now: now),
        B1Store.businessPartner(
            code: "V900", name: "Frozen Vendor", type: "cSupplier", currency: "USD", frozen: true, now: now),
    ]
    func account(_ code: String, _ name: String, active: Bool = true, frozen: Bool = false) -> SimJSONObject {
        SimJSONObject([
            "Code": .string(code), "Name": .string(name), "FormatCode": .string(code),
            "ActiveAccount": .string(active ? "tYES" : "tNO"), "AcctCurrency": .string("##"),
            "AccountType": .string("at_Expenses"), "FrozenFor": .string(frozen ? "tYES" : "tNO"),
            "UpdateDate": .string("2026-01-01"), "UpdateTime": .string("08:00:00"),
        ])
    }
    data.chartOfAccounts = [
        account("60000", "OPERATING EXPENSES", active: false), account("60100", "Office Supplies"),
        account("60400", "Laboratory Supplies"), account("60900", "Closed", frozen: true),
    ]
    data.dimensions = B1CompanyData.defaultDimensions(names: ["FUND", "DEPARTMENT"], active: 2)
    data.profitCenters = [
        SimJSONObject([
            "CenterCode": .string("19900"), "CenterName": .string("General Funds"), "InWhichDimension": .int(1),
            "Active": .string("tYES"),
        ]),
        SimJSONObject([
            "CenterCode": .string("RND"), "CenterName": .string("Research"), "InWhichDimension": .int(2),
            "Active": .string("tYES"),
        ]),
    ]
    return data
}

/// A purchase order body of V100 with three service lines (quantities 2, 5, 1).
let b1OrderBody: SimJSON = .object(
    SimJSONObject([
        "CardCode": .string("V100"), "NumAtCard": .string("0000000121"), "DocType": .string("dDocument_Service"),
        "DocDate": .string("2026-11-01"), "U_JaggaerPO": .string("0000000121"),
        "DocumentLines": .array([
            .object(
                SimJSONObject([
                    "AccountCode": .string("60100"), "ItemDescription": .string("Paper"), "Quantity": .number("2"),
                    "UnitPrice": .number("10.50"), "CostingCode": .string("19900"),
                ])),
            .object(
                SimJSONObject([
                    "AccountCode": .string("60400"), "ItemDescription": .string("Gloves"), "Quantity": .number("5"),
                    "UnitPrice": .number("3"),
                ])),
            .object(
                SimJSONObject([
                    "AccountCode": .string("60400"), "ItemDescription": .string("Tips"), "Quantity": .number("1"),
                    "UnitPrice": .number("99.99"), "CostingCode2": .string("RND"),
                ])),
        ]),
    ]))

/// An A/P invoice body for `cardCode` with `lines`.
func b1InvoiceBody(cardCode: String, numAtCard: String, lines: [SimJSONObject]) -> SimJSON {
    .object(
        SimJSONObject([
            "CardCode": .string(cardCode), "NumAtCard": .string(numAtCard), "DocType": .string("dDocument_Service"),
            "DocDate": .string("2026-11-10"), "DocumentLines": .array(lines.map(SimJSON.object)),
        ]))
}

func b1Line(account: String = "60100", quantity: String = "1", price: String = "10") -> SimJSONObject {
    SimJSONObject([
        "AccountCode": .string(account), "ItemDescription": .string("Line"), "Quantity": .number(quantity),
        "UnitPrice": .number(price),
    ])
}

func b1BaseLine(order: Int, line: Int, quantity: String? = nil) -> SimJSONObject {
    var object = SimJSONObject(["BaseType": .int(22), "BaseEntry": .int(order), "BaseLine": .int(line)])
    if let quantity { object["Quantity"] = .number(quantity) }
    return object
}

/// Starts a Service Layer simulator seeded with ``b1TestCompany(now:)`` and one purchase order (DocEntry 1).
func withB1Simulator<T>(
    clock: SimulatorClock = SimulatorClock(fixedAt: Date(timeIntervalSince1970: 1_795_176_000)),
    _ body: (SAPBusinessOneSimulator, String) async throws -> T
) async throws -> T {
    let simulator = SAPBusinessOneSimulator(account: B1TestClient.account, clock: clock)
    simulator.store.seed(b1TestCompany(now: clock.now()))
    return try await simulator.withServer { base in
        let seeded = try await HTTP.json(
            "POST", base + "/_sim/b1/seed", token: nil,
            body: .object(SimJSONObject(["PurchaseOrders": .array([b1OrderBody])])))
        guard seeded.status == 200 else { throw TestFailure("seeding failed: \(seeded.status) \(seeded.text)") }
        return try await body(simulator, base)
    }
}

/// One HTTP/1.1 exchange over a plain socket, for what URLSession would hide or rewrite (`Expect: 100-continue`,
/// repeated `Set-Cookie` fields). Sends `Connection: close` and reads until the server closes. The blocking socket
/// calls run on a thread of their own: on the cooperative pool they could starve the server under test.
func rawHTTP(base: String, request: String) async throws -> (status: Int, head: [String], body: String) {
    try await withCheckedThrowingContinuation { continuation in
        let thread = Thread {
            continuation.resume(with: Result { try blockingHTTP(base: base, request: request) })
        }
        thread.start()
    }
}

private func blockingHTTP(base: String, request: String) throws -> (status: Int, head: [String], body: String) {
    guard let url = URL(string: base), let port = url.port else { throw TestFailure("bad base \(base)") }
    #if canImport(Glibc)
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    #else
        let fd = socket(AF_INET, SOCK_STREAM, 0)
    #endif
    guard fd >= 0 else { throw TestFailure("socket failed") }
    defer { close(fd) }
    var timeout = timeval(tv_sec: 10, tv_usec: 0)
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = in_port_t(UInt16(port).bigEndian)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    let connected = withUnsafePointer(to: &address) { pointer in
        pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
            connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
        }
    }
    guard connected == 0 else { throw TestFailure("connect failed") }
    let bytes = Array(request.utf8)
    var sent = 0
    while sent < bytes.count {
        let written = bytes[sent...].withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        guard written > 0 else { throw TestFailure("write failed") }
        sent += written
    }
    var received: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 4096)
    while true {
        let count = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        if count <= 0 { break }
        received.append(contentsOf: buffer[0..<count])
    }
    let text = String(decoding: received, as: UTF8.self)
    let pieces = text.components(separatedBy: "\r\n\r\n")
    let head = pieces.first?.components(separatedBy: "\r\n") ?? []
    let statusLine = head.first?.split(separator: " ") ?? []
    guard statusLine.count >= 2, let status = Int(statusLine[1]) else { throw TestFailure("no response: \(text)") }
    return (status, Array(head.dropFirst()), pieces.dropFirst().joined(separator: "\r\n\r\n"))
}

/// `[drafts, invoices]` with this vendor and vendor reference.
func b1Counts(_ simulator: SAPBusinessOneSimulator, _ cardCode: String, _ numAtCard: String) -> [Int] {
    let counts = simulator.store.documentCount(cardCode: cardCode, numAtCard: numAtCard)
    return [counts.drafts, counts.invoices]
}
