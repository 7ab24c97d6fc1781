import ConnectorFlows
import ConnectorRuntime

await FunctionMain.run(SyncVendorsHandler.self) { runtime in
    SyncVendorsHandler(context: runtime.context, erp: try runtime.erpConnector(), sink: try runtime.procurementSink())
}
