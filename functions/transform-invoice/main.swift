import ConnectorCore
import ConnectorFlows
import ConnectorHTTP
import ConnectorRuntime

await FunctionMain.run(TransformInvoiceHandler.self) { runtime in
    TransformInvoiceHandler(
        context: runtime.context, constraints: try runtime.erpConstraints(),
        batchLookups: try runtime.erpModule().capabilities.batchLookups)
}
