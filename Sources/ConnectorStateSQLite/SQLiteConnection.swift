import CSQLite
import Foundation

/// An error SQLite returned: its primary result code (`SQLITE_BUSY`, `SQLITE_IOERR`…) and its message.
package struct SQLiteError: Error, Sendable, CustomStringConvertible {
    package let code: Int32
    package let message: String

    package var description: String { "SQLite error \(code): \(message)" }
}

/// A value bound to a statement's parameter.
enum SQLiteValue {
    case blob(Data)
    case integer(Int64)
    case real(Double)
    case null

    static func real(_ value: Double?) -> SQLiteValue { value.map { .real($0) } ?? .null }
}

/// The current row of a statement being stepped; valid only inside the closure it is passed to.
struct SQLiteRow {
    fileprivate let statement: OpaquePointer

    func isNull(_ column: Int32) -> Bool { sqlite3_column_type(statement, column) == SQLITE_NULL }

    func blob(_ column: Int32) -> Data {
        // The pointer first, then the size (SQLite's documented order: the size is of the value's final form).
        guard let bytes = sqlite3_column_blob(statement, column) else { return Data() }
        return Data(bytes: bytes, count: Int(sqlite3_column_bytes(statement, column)))
    }

    func integer(_ column: Int32) -> Int64 { sqlite3_column_int64(statement, column) }

    func text(_ column: Int32) -> String {
        guard let bytes = sqlite3_column_text(statement, column) else { return "" }
        return String(cString: bytes)
    }

    func real(_ column: Int32) -> Double? { isNull(column) ? nil : sqlite3_column_double(statement, column) }
}

/// One connection on SQLite's C API, with a cache of prepared statements.
///
/// The store used GRDB. A step process opens one store, makes about 18 calls with a handful of statements and exits;
/// GRDB's per-connection set-up (its collations and functions, the statement authorizer, the observation broker)
/// and its generic row decoding were a measurable share of that process (issue 10's step budget), for features the
/// store does not use. This is the part of the C API the store needs, and nothing else.
///
/// Not thread-safe: the store serializes every use (`SQLiteStateStore`).
final class SQLiteConnection {
    private var handle: OpaquePointer?
    private var statements: [String: OpaquePointer] = [:]
    /// The busy handler's closure, kept alive for as long as SQLite may call it.
    private let busy: BusyHandler

    private final class BusyHandler {
        let retry: (Int) -> Bool
        init(_ retry: @escaping (Int) -> Bool) { self.retry = retry }
    }

    /// Opens `path` (`SQLITE_OPEN_NOMUTEX`: the store serializes access itself). `retry` is asked, with the number of
    /// tries so far, whether to try again when another connection holds a lock SQLite needs.
    init(path: String, readOnly: Bool, retry: @escaping (Int) -> Bool) throws(SQLiteError) {
        busy = BusyHandler(retry)
        let flags = (readOnly ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE) | SQLITE_OPEN_NOMUTEX
        var opened: OpaquePointer?
        let code = sqlite3_open_v2(path, &opened, flags, nil)
        guard code == SQLITE_OK, let opened else {
            let message = opened.map { String(cString: sqlite3_errmsg($0)) } ?? String(cString: sqlite3_errstr(code))
            sqlite3_close_v2(opened)
            throw SQLiteError(code: code & 0xFF, message: message)
        }
        handle = opened
        sqlite3_busy_handler(
            opened,
            { context, tries in
                guard let context else { return 0 }
                let handler = Unmanaged<BusyHandler>.fromOpaque(context).takeUnretainedValue()
                return handler.retry(Int(tries)) ? 1 : 0
            }, Unmanaged.passUnretained(busy).toOpaque())
    }

    deinit { close() }

    /// The raw handle, for settings the wrapper does not cover (`sqlite3_db_config`).
    var database: OpaquePointer {
        get throws(SQLiteError) {
            guard let handle else { throw SQLiteError(code: SQLITE_MISUSE, message: "the connection is closed") }
            return handle
        }
    }

    /// Rows changed by the last INSERT, UPDATE or DELETE.
    var changes: Int { handle.map { Int(sqlite3_changes($0)) } ?? 0 }

    /// Whether a transaction is open (autocommit is off).
    var isInsideTransaction: Bool { handle.map { sqlite3_get_autocommit($0) == 0 } ?? false }

    /// Runs `sql` to its end, ignoring any rows.
    func execute(_ sql: String, _ values: [SQLiteValue] = []) throws(SQLiteError) {
        try run(sql, values) { (_: SQLiteRow) throws(SQLiteError) in true }
    }

    /// The first row of `sql` through `read`, or nil when there is none.
    func first<T>(_ sql: String, _ values: [SQLiteValue] = [], _ read: (SQLiteRow) -> T) throws(SQLiteError)
        -> T?
    {
        var result: T?
        try run(sql, values) { (row: SQLiteRow) throws(SQLiteError) in
            result = read(row)
            return false
        }
        return result
    }

    /// Every row of `sql` through `read`.
    func all<T>(_ sql: String, _ values: [SQLiteValue] = [], _ read: (SQLiteRow) -> T) throws(SQLiteError)
        -> [T]
    {
        var results: [T] = []
        try run(sql, values) { (row: SQLiteRow) throws(SQLiteError) in
            results.append(read(row))
            return true
        }
        return results
    }

    /// Steps the cached statement for `sql` with `values` bound, handing each row to `row` while it returns true;
    /// the statement is reset and its bindings cleared afterwards, whatever happened.
    private func run(
        _ sql: String, _ values: [SQLiteValue], _ row: (SQLiteRow) throws(SQLiteError) -> Bool
    ) throws(SQLiteError) {
        let statement = try prepared(sql)
        defer {
            sqlite3_reset(statement)
            sqlite3_clear_bindings(statement)
        }
        for (offset, value) in values.enumerated() {
            try check(bind(value, at: Int32(offset + 1), to: statement))
        }
        while true {
            let code = sqlite3_step(statement)
            switch code {
            case SQLITE_ROW:
                guard try row(SQLiteRow(statement: statement)) else { return }
            case SQLITE_DONE:
                return
            default:
                throw error(code)
            }
        }
    }

    private func bind(_ value: SQLiteValue, at index: Int32, to statement: OpaquePointer) -> Int32 {
        switch value {
        case .blob(let data):
            data.withUnsafeBytes { bytes in
                mlc_sqlite_bind_blob_copy(statement, index, bytes.baseAddress, Int32(bytes.count))
            }
        case .integer(let number): sqlite3_bind_int64(statement, index, number)
        case .real(let number): sqlite3_bind_double(statement, index, number)
        case .null: sqlite3_bind_null(statement, index)
        }
    }

    /// The statement for `sql`, prepared once per connection (`SQLITE_PREPARE_PERSISTENT`: it is kept).
    private func prepared(_ sql: String) throws(SQLiteError) -> OpaquePointer {
        if let statement = statements[sql] { return statement }
        let database = try database
        var statement: OpaquePointer?
        let code = sqlite3_prepare_v3(database, sql, -1, UInt32(SQLITE_PREPARE_PERSISTENT), &statement, nil)
        guard code == SQLITE_OK, let statement else {
            sqlite3_finalize(statement)
            throw error(code)
        }
        statements[sql] = statement
        return statement
    }

    private func check(_ code: Int32) throws(SQLiteError) {
        guard code == SQLITE_OK else { throw error(code) }
    }

    private func error(_ code: Int32) -> SQLiteError {
        SQLiteError(
            code: code & 0xFF, message: handle.map { String(cString: sqlite3_errmsg($0)) } ?? "error \(code)")
    }

    /// Finalizes the cached statements and closes the connection; later calls fail with `SQLITE_MISUSE`.
    func close() {
        for statement in statements.values { sqlite3_finalize(statement) }
        statements = [:]
        if let handle { sqlite3_close_v2(handle) }
        handle = nil
    }
}
