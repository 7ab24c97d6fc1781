import Foundation

/// Reading Prometheus' text exposition in tests.
package enum PrometheusText {
    /// The value of each series line (`name{labels} value`), comments left out.
    package static func values(_ text: String) -> [String: Double] {
        var values: [String: Double] = [:]
        for line in text.split(separator: "\n") where !line.hasPrefix("#") {
            guard let space = line.lastIndex(of: " "), let value = Double(line[line.index(after: space)...]) else {
                continue
            }
            values[String(line[..<space])] = value
        }
        return values
    }
}
