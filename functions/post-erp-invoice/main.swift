import ConnectorFlows
import ConnectorRuntime

await FunctionMain.run(PostInvoiceHandler.self) { runtime in
    PostInvoiceHandler(context: runtime.context, erp: try runtime.erpConnector())
}
