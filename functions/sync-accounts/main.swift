import ConnectorFlows
import ConnectorRuntime

await FunctionMain.run(SyncAccountsHandler.self) { runtime in
    SyncAccountsHandler(context: runtime.context, erp: try runtime.erpConnector(), sink: try runtime.procurementSink())
}
