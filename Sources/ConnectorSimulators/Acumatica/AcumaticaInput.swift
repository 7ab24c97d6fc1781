import Foundation

/// A record as a PUT/PATCH body gives it: wrapped values unwrapped and type-checked, details parsed per row.
struct AcuInput: Sendable {
    var id: String?
    var note: String?
    /// Given fields in body order (`.null` clears a field).
    var fields: [(name: String, value: SimJSON)]
    var details: [String: [AcuInput]]
    /// `"delete": true` on a detail row.
    var delete: Bool
    /// The body as sent, for echoing it with field errors (422).
    var raw: SimJSONObject

    func value(_ field: String) -> SimJSON? {
        fields.last { $0.name == field }?.value
    }

    func string(_ field: String) -> String? {
        value(field)?.stringValue.flatMap { $0.isEmpty ? nil : $0 }
    }

    func has(_ field: String) -> Bool { fields.contains { $0.name == field } }

    /// Parses `object` as a record of `schema`.
    /// - Throws: 400 for malformed JSON shapes: a non-object body, an unwrapped value (when `rejectUnwrapped`),
    ///   a value of the wrong type, a detail collection that is not an array of objects.
    static func parse(
        _ object: SimJSONObject, schema: AcuEntitySchema, rejectUnwrapped: Bool
    ) throws(AcuError) -> AcuInput {
        var input = AcuInput(id: nil, note: nil, fields: [], details: [:], delete: false, raw: object)
        for (key, value) in object {
            switch key {
            case "id":
                input.id = value.stringValue
                continue
            case "rowNumber", "custom", "_links", "error", "files":
                continue
            case "delete":
                input.delete = value.boolValue ?? false
                continue
            case "note":
                input.note = value["value"]?.stringValue ?? value.stringValue
                continue
            default:
                break
            }
            if let detail = schema.detail(key) {
                guard let rows = value.arrayValue else {
                    throw AcuError.message(400, "The detail entity '\(key)' must be a JSON array of records.")
                }
                var parsed: [AcuInput] = []
                for row in rows {
                    guard let rowObject = row.objectValue else {
                        throw AcuError.message(400, "Each record of '\(key)' must be a JSON object.")
                    }
                    parsed.append(try parse(rowObject, schema: detail, rejectUnwrapped: rejectUnwrapped))
                }
                input.details[key] = parsed
                continue
            }
            // UNCONFIRMED: fields outside the contract are ignored, as the contract maps only its own fields.
            guard let type = schema.type(of: key) else { continue }
            let unwrapped: SimJSON
            if let wrapped = value.objectValue {
                unwrapped = wrapped["value"] ?? .null
            } else if rejectUnwrapped {
                // UNCONFIRMED: the guide only says 400 = invalid data; values must be wrapped (reference §3.3).
                throw AcuError.message(
                    400, "The value of the field '\(key)' must be an object of the form {\"value\": …}.")
            } else {
                unwrapped = value
            }
            input.fields.append((key, try coerce(unwrapped, type: type, field: key)))
        }
        return input
    }

    private static func coerce(_ value: SimJSON, type: AcuFieldType, field: String) throws(AcuError) -> SimJSON {
        if value.isNull { return .null }
        func bad() -> AcuError {
            AcuError.message(400, "The value \(value.text) of the field '\(field)' is not a valid \(type.name).")
        }
        switch type {
        case .string:
            if let text = value.stringValue { return .string(text) }
            if case .number(let literal) = value { return .string(literal) }
            throw bad()
        case .decimal:
            if case .number = value { return value }
            if let text = value.stringValue,
                let decimal = Decimal(string: text, locale: Locale(identifier: "en_US_POSIX"))
            {
                return .decimal(decimal)
            }
            throw bad()
        case .int:
            if let int = value.intValue { return .int(int) }
            if let text = value.stringValue, let int = Int(text) { return .int(int) }
            throw bad()
        case .bool:
            if let bool = value.boolValue { return .bool(bool) }
            throw bad()
        case .dateTime:
            guard let text = value.stringValue, let date = AcuTime.parse(text) else { throw bad() }
            return .string(AcuTime.format(date))
        }
    }
}

/// Per-field validation errors of one request, echoed in a 422 body (reference §3.3).
struct AcuFieldErrors: Sendable {
    var header: [(field: String, message: String)] = []
    /// (detail collection, row index in the request, field, message).
    var details: [(detail: String, row: Int, field: String, message: String)] = []

    var isEmpty: Bool { header.isEmpty && details.isEmpty }

    mutating func add(_ field: String, _ message: String) { header.append((field, message)) }

    mutating func add(detail: String, row: Int, _ field: String, _ message: String) {
        details.append((detail, row, field, message))
    }

    /// The request body with `"error"` next to the `"value"` of every refused field.
    func body(for input: AcuInput, entity: String, updating: Bool) -> SimJSON {
        var object = input.raw
        func mark(_ target: inout SimJSONObject, _ field: String, _ message: String) {
            var wrapped = target[field]?.objectValue ?? SimJSONObject(["value": target[field] ?? .null])
            if wrapped["value"] == nil { wrapped["value"] = .null }
            wrapped["error"] = .string(message)
            target[field] = .object(wrapped)
        }
        for (field, message) in header { mark(&object, field, message) }
        for (detail, row, field, message) in details {
            guard var rows = object[detail]?.arrayValue, row < rows.count, var rowObject = rows[row].objectValue
            else { continue }
            mark(&rowObject, field, message)
            rows[row] = .object(rowObject)
            object[detail] = .array(rows)
        }
        // UNCONFIRMED wording of the record-level summary.
        object["error"] = .string(
            "\(updating ? "Updating" : "Inserting") '\(entity)' record raised at least one error. Please review the errors."
        )
        return .object(object)
    }
}
