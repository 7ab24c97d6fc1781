import ConnectorFlows
import ConnectorRuntime

await FunctionMain.run(SyncPaymentStatusHandler.self) { runtime in
    SyncPaymentStatusHandler(
        context: runtime.context, erp: try runtime.erpConnector(), sink: try runtime.procurementSink())
}
