import ConnectorFlows
import ConnectorRuntime

await FunctionMain.run(PingConnectionHandler.self) { runtime in
    PingConnectionHandler(
        context: runtime.context, source: try runtime.procurementSource(), erp: try runtime.erpConnector())
}
