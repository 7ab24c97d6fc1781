import ConnectorFlows
import ConnectorRuntime

await FunctionMain.run(WriteInvoiceHandler.self) { runtime in
    WriteInvoiceHandler(context: runtime.context, erp: try runtime.erpConnector())
}
