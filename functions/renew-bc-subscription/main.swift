import ConnectorFlows
import ConnectorRuntime

await FunctionMain.run(RenewSubscriptionsHandler.self) { runtime in
    RenewSubscriptionsHandler(
        context: runtime.context, erp: try runtime.changeSubscriptions(),
        clientState: try runtime.notificationSecrets().first)
}
