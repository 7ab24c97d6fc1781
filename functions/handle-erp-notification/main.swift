import ConnectorFlows
import ConnectorRuntime

await FunctionMain.run(NotificationHandler.self) { runtime in
    NotificationHandler(context: runtime.context, secrets: try runtime.notificationSecrets())
}
