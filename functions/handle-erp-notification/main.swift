import ConnectorFlows
import ConnectorRuntime

await FunctionMain.run(NotificationHandler.self) { runtime in
    NotificationHandler(
        context: runtime.context, receiver: try runtime.notificationReceiver(),
        secrets: try runtime.notificationSecrets())
}
