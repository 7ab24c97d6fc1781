import ConnectorFlows
import ConnectorRuntime

await FunctionMain.run(TransformInvoiceHandler.self) { runtime in
    TransformInvoiceHandler(context: runtime.context, constraints: try runtime.erpConstraints())
}
