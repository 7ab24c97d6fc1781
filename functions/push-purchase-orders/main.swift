import ConnectorFlows
import ConnectorRuntime

await FunctionMain.run(PushPurchaseOrdersHandler.self) { runtime in
    PushPurchaseOrdersHandler(
        context: runtime.context, erp: try runtime.erpConnector(), sink: try runtime.procurementSink())
}
