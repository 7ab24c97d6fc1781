import ConnectorFlows
import ConnectorRuntime

await FunctionMain.run(PollInvoicesHandler.self) { runtime in
    PollInvoicesHandler(context: runtime.context, source: try runtime.procurementSource())
}
