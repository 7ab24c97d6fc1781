import ConnectorCore
import ConnectorHTTP
import ConnectorRuntime
import Foundation
import Testing

/// DESIGN §3's dependency rules, checked on the sources: the flows see protocols only, each system target stands
/// alone, the simulators are written from the documentation (nothing of the product inside), and the registry
/// lists every ERP kind exactly once.
@Suite("The seam: who may import whom")
struct LayoutTests {
    static let systemTargets = [
        "Jaggaer", "BusinessCentral", "SAPBusinessOne", "Acumatica", "FinanceOperations", "DynamicsNAV",
    ]

    static func imports(in folder: String) throws -> [(file: String, module: String)] {
        let root = Binaries.repository.appendingPathComponent(folder)
        guard let files = FileManager.default.enumerator(atPath: root.path) else { return [] }
        var result: [(String, String)] = []
        for case let file as String in files where file.hasSuffix(".swift") {
            let text = try String(contentsOf: root.appendingPathComponent(file), encoding: .utf8)
            for line in text.split(separator: "\n") where line.hasPrefix("import ") {
                result.append(("\(folder)/\(file)", String(line.dropFirst("import ".count))))
            }
        }
        return result
    }

    @Test("the flows import no system target and no store backend")
    func flowsSeeProtocolsOnly() throws {
        let forbidden = Set(Self.systemTargets + ["ConnectorStateSQLite", "ConnectorRuntime"])
        for (file, module) in try Self.imports(in: "Sources/ConnectorFlows") {
            #expect(!forbidden.contains(module), "\(file) imports \(module)")
        }
    }

    @Test("system targets import neither each other nor the flows or the runtime")
    func systemTargetsStandAlone() throws {
        for target in Self.systemTargets {
            let forbidden = Set(Self.systemTargets.filter { $0 != target } + ["ConnectorFlows", "ConnectorRuntime"])
            for (file, module) in try Self.imports(in: "Sources/\(target)") {
                #expect(!forbidden.contains(module), "\(file) imports \(module)")
            }
        }
    }

    @Test("the simulators import nothing from the product")
    func simulatorsAreIndependent() throws {
        for (file, module) in try Self.imports(in: "Sources/ConnectorSimulators") {
            #expect(!module.hasPrefix("Connector") || module == "ConnectorSimulators", "\(file) imports \(module)")
            #expect(!Self.systemTargets.contains(module), "\(file) imports \(module)")
        }
    }

    @Test("the step executables and their runtime import no HTTP server and not the runner's engine")
    func stepsStaySmall() throws {
        let forbidden: Set = ["ConnectorRunner", "KnativeAdapter", "Hummingbird", "ServiceLifecycle", "Prometheus"]
        for folder in ["Sources/ConnectorRuntime", "functions"] {
            for (file, module) in try Self.imports(in: folder) {
                #expect(!forbidden.contains(module), "\(file) imports \(module)")
            }
        }
    }

    @Test("the registry lists every ERP kind exactly once")
    func registry() throws {
        let kinds = Systems.erps.map(\.kind)
        #expect(Set(kinds).count == kinds.count)
        Systems.bootstrap()
        #expect(Set(kinds) == Set(ERPRegistry.kinds))
        for kind in kinds {
            #expect(try Systems.erp(kind).kind == kind)
        }
        // Each ERP module lives in a target of its own, listed in Package.swift's `erps`.
        let manifest = try String(
            contentsOf: Binaries.repository.appendingPathComponent("Package.swift"), encoding: .utf8)
        for module in Systems.erps {
            let target = String(String(describing: type(of: module)).dropLast("Module".count))
            #expect(manifest.contains("\"\(target)\","), "Package.swift's erps lacks \(target)")
            #expect(
                FileManager.default.fileExists(
                    atPath: Binaries.repository.appendingPathComponent("Sources/\(target)").path))
        }
    }
}
