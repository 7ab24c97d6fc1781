import ConnectorFlows
import ConnectorRuntime

await FunctionMain.run(SyncPurchaseOrdersHandler.self) { runtime in
    SyncPurchaseOrdersHandler(
        context: runtime.context, source: try runtime.procurementSource(), erp: try runtime.erpConnector())
}
