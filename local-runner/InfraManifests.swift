import ConnectorCore
import ConnectorRunner
import ConnectorStatePostgres
import Foundation

/// The Kubernetes manifests of `infra/` generated from the function manifests (`local-runner functions --knative`,
/// `--keda`), so the platforms route and scale exactly what `functions/*/function.json` declares. A test keeps the
/// committed files equal to these and checks them against the manifests on its own.
///
/// Both variants run the image of `infra/Dockerfile` and read the store URL and the master key from the Secrets
/// `mlc-state` (key `url`) and `mlc-master-key` (key `key`); nothing secret is written here.
enum InfraManifests {
    static let image = "ml-connector:latest"
    /// Where each step's adapter serves its Prometheus metrics (`mlc-http-adapter --metrics`).
    static let metricsPort = 9464
    static let broker = "mlc"
    static let deadLetterService = "mlc-dead-letters"
    static let scheduleJob = "mlc-schedule"

    /// Event types that record an outcome (for the audit trail and for subscribers outside ml-connector) and that no
    /// step consumes: the broker delivers them to no trigger. Any other emitted type must have a consumer.
    static let outcomeEvents = [EventType.invoicePosted, EventType.invoiceWritten]

    /// The event types `local-runner schedule` sends (the runner's `Schedules`): each must start a step whose
    /// manifest has a `trigger.schedule`, and every such step must be started by one.
    static let scheduledEvents = [
        EventType.masterDataSyncRequested, EventType.purchaseOrderSyncRequested, EventType.pollRequested,
        EventType.paymentStatusSyncRequested, EventType.subscriptionRenewRequested,
    ]

    /// The work queue's Redis Streams layout (ConnectorStateRedis `RedisWorkQueue`): namespace `mlc`, the runner's
    /// queue `runner`, one stream per step read by the consumer group `workers`.
    static func stream(_ step: String) -> String { "mlc:q:runner:\(step):s" }
    static let consumerGroup = "workers"

    /// The PostgreSQL store's queue table for the default store table `mlc_state` (ConnectorStatePostgres).
    static let postgresQueueTable = "mlc_state_queue"

    /// Why the manifests cannot be deployed as they are; empty when they can.
    static func problems(_ functions: [FunctionSpec] = FunctionCatalog.all) -> [String] {
        var problems: [String] = []
        let consumed = Set(functions.flatMap(\.events))
        let emitted = Set(functions.flatMap(\.emits))
        for type in emitted.subtracting(consumed).subtracting(outcomeEvents).sorted() {
            let by = functions.filter { $0.emits.contains(type) }.map(\.name).joined(separator: ", ")
            problems.append("\(type) is emitted by \(by) but no step consumes it")
        }
        for type in outcomeEvents where consumed.contains(type) || !emitted.contains(type) {
            problems.append("the outcome \(type) must be emitted and consumed by no step")
        }
        let scheduled = Set(functions.filter { $0.schedule != nil }.map(\.name))
        let started = Set(functions.filter { !Set($0.events).isDisjoint(with: scheduledEvents) }.map(\.name))
        for name in scheduled.subtracting(started).sorted() {
            problems.append("\(name) has a schedule but `local-runner schedule` sends none of its events")
        }
        for name in started.subtracting(scheduled).sorted() {
            problems.append("\(name) is started by a schedule but its manifest declares none")
        }
        for function in functions {
            for type in function.events where triggerName(function.name, type).count > 63 {
                problems.append("the trigger name \(triggerName(function.name, type)) is longer than 63 characters")
            }
        }
        return problems
    }

    static func triggerName(_ step: String, _ type: String) -> String {
        let short = type.hasPrefix("com.mlconnector.") ? String(type.dropFirst("com.mlconnector.".count)) : type
        return "mlc-\(step)-" + short.replacingOccurrences(of: ".", with: "-").replacingOccurrences(of: "_", with: "-")
    }

    /// How many items one KEDA job runs one after another: about ten minutes of the step's time, 1 to 20.
    static func itemsPerJob(_ function: FunctionSpec) -> Int {
        min(20, max(1, 600 / function.timeoutSeconds))
    }

    // MARK: - Knative

    static func knative(_ functions: [FunctionSpec] = FunctionCatalog.all) -> String {
        var documents: [[String]] = []
        documents.append([
            "apiVersion: eventing.knative.dev/v1",
            "kind: Broker",
            "metadata:",
            "  name: \(broker)",
            "  labels:",
            "    app.kubernetes.io/part-of: ml-connector",
            "  annotations:",
            "    ml-connector/outcomes: \(quoted(outcomeEvents.sorted().joined(separator: ",")))",
            "spec:",
            "  delivery:",
            "    # The local runner's policy: 5 attempts with exponential backoff from 2 s; then the dead-letter sink.",
            "    retry: 4",
            "    backoffPolicy: exponential",
            "    backoffDelay: PT2S",
            "    deadLetterSink:",
            "      ref:",
            "        apiVersion: serving.knative.dev/v1",
            "        kind: Service",
            "        name: \(deadLetterService)",
        ])
        documents.append(
            knativeService(
                name: deadLetterService, component: "dead-letters", arguments: ["--dead-letters"], memoryMiB: 64,
                timeoutSeconds: 30, maxScale: 2, containerConcurrency: 0,
                comment:
                    "Keeps what Knative gives up on in the store's dead-letter list (local-runner dead-letters, replay)."
            ))
        documents.append(
            sinkBinding(
                name: "mlc-steps",
                subject: [
                    "    apiVersion: serving.knative.dev/v1",
                    "    kind: Service",
                    "    selector:",
                    "      matchLabels:",
                    "        app.kubernetes.io/component: step",
                ], comment: "K_SINK for the adapters: the events a step emits after the first go to the broker."))
        for function in functions {
            documents.append(
                knativeService(
                    name: "mlc-\(function.name)", component: "step",
                    arguments: [
                        "--step", "/usr/local/bin/\(function.name)", "--timeout", "\(function.timeoutSeconds)",
                        "--metrics", "0.0.0.0:\(metricsPort)",
                    ],
                    memoryMiB: function.memoryMiB + 32,
                    // The adapter kills the step at its timeout and answers; Knative waits a little longer.
                    timeoutSeconds: function.timeoutSeconds + 15, maxScale: function.concurrency,
                    containerConcurrency: 1, scrapedPort: metricsPort,
                    annotations: [
                        "ml-connector/consumes: \(quoted(function.events.joined(separator: ",")))",
                        "ml-connector/emits: \(quoted(function.emits.joined(separator: ",")))",
                    ]))
            for type in function.events {
                documents.append([
                    "apiVersion: eventing.knative.dev/v1",
                    "kind: Trigger",
                    "metadata:",
                    "  name: \(triggerName(function.name, type))",
                    "  labels:",
                    "    app.kubernetes.io/part-of: ml-connector",
                    "    ml-connector/step: \(function.name)",
                    "spec:",
                    "  broker: \(broker)",
                    "  filter:",
                    "    attributes:",
                    "      type: \(type)",
                    "  subscriber:",
                    "    ref:",
                    "      apiVersion: serving.knative.dev/v1",
                    "      kind: Service",
                    "      name: mlc-\(function.name)",
                ])
            }
        }
        documents.append(scheduleCronJob(functions, comment: "Sends the due scheduled events to the broker (K_SINK)."))
        documents.append(
            sinkBinding(
                name: scheduleJob,
                subject: [
                    "    apiVersion: batch/v1",
                    "    kind: CronJob",
                    "    name: \(scheduleJob)",
                ], comment: "K_SINK for the schedule: with it, `local-runner schedule` posts to the broker."))
        return render(documents, command: "--knative")
    }

    private static func knativeService(
        name: String, component: String, arguments: [String], memoryMiB: Int, timeoutSeconds: Int, maxScale: Int,
        containerConcurrency: Int, scrapedPort: Int? = nil, annotations: [String] = [], comment: String? = nil
    ) -> [String] {
        var lines = comment.map { ["# \($0)"] } ?? []
        lines += [
            "apiVersion: serving.knative.dev/v1",
            "kind: Service",
            "metadata:",
            "  name: \(name)",
            "  labels:",
            "    app.kubernetes.io/part-of: ml-connector",
            "    app.kubernetes.io/component: \(component)",
        ]
        if !annotations.isEmpty { lines += ["  annotations:"] + annotations.map { "    " + $0 } }
        lines += [
            "spec:",
            "  template:",
            "    metadata:",
            "      annotations:",
            "        autoscaling.knative.dev/min-scale: \"0\"",
            "        autoscaling.knative.dev/max-scale: \(quoted(String(maxScale)))",
        ]
        if let scrapedPort {
            // The adapter's metrics (`--metrics`), on a port of their own that Knative does not route to.
            lines += [
                "        prometheus.io/scrape: \"true\"",
                "        prometheus.io/port: \(quoted(String(scrapedPort)))",
                "        prometheus.io/path: /metrics",
            ]
        }
        lines += [
            "    spec:",
            "      containerConcurrency: \(containerConcurrency)",
            "      timeoutSeconds: \(timeoutSeconds)",
            "      containers:",
            "        - name: adapter",
            "          image: \(image)",
            "          command:",
            "            - /usr/local/bin/mlc-http-adapter",
            "          args:",
        ]
        lines += arguments.map { "            - \(quoted($0))" }
        lines += ["          ports:", "            - containerPort: 8080"]
        lines += secretEnvironment(indent: "          ")
        lines += [
            "          resources:",
            "            limits:",
            "              memory: \(memoryMiB)Mi",
        ]
        return lines
    }

    private static func sinkBinding(name: String, subject: [String], comment: String) -> [String] {
        [
            "# \(comment)",
            "apiVersion: sources.knative.dev/v1",
            "kind: SinkBinding",
            "metadata:",
            "  name: \(name)",
            "  labels:",
            "    app.kubernetes.io/part-of: ml-connector",
            "spec:",
            "  subject:",
        ] + subject + [
            "  sink:",
            "    ref:",
            "      apiVersion: eventing.knative.dev/v1",
            "      kind: Broker",
            "      name: \(broker)",
        ]
    }

    // MARK: - KEDA

    /// The store whose work queue the ScaledJobs watch: Redis Streams (`redis-streams` scaler, per-step lag of
    /// the consumer group) or the PostgreSQL queue table (`postgresql` scaler, per-step ready rows).
    enum KEDAQueue: String, CaseIterable, Sendable {
        case redis, postgres

        var file: String { self == .redis ? "infra/keda/ml-connector.yaml" : "infra/keda/ml-connector-postgres.yaml" }
    }

    static func keda(_ functions: [FunctionSpec] = FunctionCatalog.all, queue: KEDAQueue = .redis) -> String {
        var documents: [[String]] = []
        if queue == .redis {
            documents.append(redisAuthentication)
        }
        for function in functions {
            documents.append(scaledJob(function, queue: queue))
        }
        let comment =
            queue == .redis
            ? "Puts the due scheduled events on the store's work queue (no K_SINK)."
            : "Puts the due scheduled events on the PostgreSQL work queue (no K_SINK)."
        documents.append(scheduleCronJob(functions, comment: comment))
        documents.append(metricsDocument)
        return render(documents, command: queue == .redis ? "--keda" : "--keda --queue postgres")
    }

    static let metricsDeployment = "mlc-metrics"

    /// The jobs live for one batch, so no job serves metrics: each adds its step metrics to the store, and this one
    /// long-lived pod serves their sum and the queue depth per step (`local-runner metrics`). It needs the store,
    /// not the master key.
    private static let metricsDocument: [String] = [
        "# The trigger jobs' step metrics (each job adds its counts to the store) and the queue depth per step, read",
        "# from the store at each scrape.",
        "apiVersion: apps/v1",
        "kind: Deployment",
        "metadata:",
        "  name: \(metricsDeployment)",
        "  labels:",
        "    app.kubernetes.io/part-of: ml-connector",
        "    app.kubernetes.io/component: metrics",
        "spec:",
        "  replicas: 1",
        "  selector:",
        "    matchLabels:",
        "      app.kubernetes.io/name: \(metricsDeployment)",
        "  template:",
        "    metadata:",
        "      labels:",
        "        app.kubernetes.io/name: \(metricsDeployment)",
        "        app.kubernetes.io/part-of: ml-connector",
        "      annotations:",
        "        prometheus.io/scrape: \"true\"",
        "        prometheus.io/port: \(quoted(String(metricsPort)))",
        "        prometheus.io/path: /metrics",
        "    spec:",
        "      containers:",
        "        - name: metrics",
        "          image: \(image)",
        "          command:",
        "            - /usr/local/bin/local-runner",
        "          args:",
        "            - metrics",
        "            - --listen",
        "            - \(quoted("0.0.0.0:\(metricsPort)"))",
        "          env:",
        "            - name: MLC_STATE",
        "              valueFrom:",
        "                secretKeyRef:",
        "                  name: mlc-state",
        "                  key: url",
        "          ports:",
        "            - name: metrics",
        "              containerPort: \(metricsPort)",
        "          readinessProbe:",
        "            httpGet:",
        "              path: /healthz",
        "              port: \(metricsPort)",
        "          resources:",
        "            limits:",
        "              memory: 64Mi",
    ]

    private static let redisAuthentication: [String] = [
        "# The Redis of the store (infra/stores/redis.yaml): address and password from the Secret mlc-redis.",
        "apiVersion: keda.sh/v1alpha1",
        "kind: TriggerAuthentication",
        "metadata:",
        "  name: mlc-redis",
        "  labels:",
        "    app.kubernetes.io/part-of: ml-connector",
        "spec:",
        "  secretTargetRef:",
        "    - parameter: address",
        "      name: mlc-redis",
        "      key: address",
        "    - parameter: password",
        "      name: mlc-redis",
        "      key: password",
    ]

    private static func scaledJob(_ function: FunctionSpec, queue: KEDAQueue) -> [String] {
        let items = itemsPerJob(function)
        return
            [
                "apiVersion: keda.sh/v1alpha1",
                "kind: ScaledJob",
                "metadata:",
                "  name: mlc-\(function.name)",
            ] + stepMetadata(function) + [
                "spec:",
                "  pollingInterval: 10",
                "  maxReplicaCount: \(function.concurrency)",
                "  successfulJobsHistoryLimit: 3",
                "  failedJobsHistoryLimit: 10",
                "  scalingStrategy:",
                "    # The queue figure excludes items claimed by running jobs, which is what `accurate` expects.",
                "    strategy: accurate",
                "  jobTargetRef:",
                "    parallelism: 1",
                "    completions: 1",
                "    activeDeadlineSeconds: \(items * function.timeoutSeconds + 60)",
                "    # A failed item is queued again with backoff by the trigger itself; the Job is not rerun.",
                "    backoffLimit: 0",
                "    template:",
                "      metadata:",
                "        labels:",
                "          app.kubernetes.io/part-of: ml-connector",
                "          ml-connector/step: \(function.name)",
                "      spec:",
                "        restartPolicy: Never",
                "        containers:",
                "          - name: trigger",
                "            image: \(image)",
                "            command:",
                "              - /usr/local/bin/local-runner",
                "            args:",
                "              - trigger",
                "              - --step",
                "              - \(function.name)",
                "              - --max",
                "              - \(quoted(String(items)))",
            ] + secretEnvironment(indent: "            ") + [
                "            resources:",
                "              limits:",
                "                memory: \(function.memoryMiB + 64)Mi",
                "  triggers:",
            ] + trigger(function, queue: queue, items: items)
    }

    private static func trigger(_ function: FunctionSpec, queue: KEDAQueue, items: Int) -> [String] {
        switch queue {
        case .redis:
            return [
                "    - type: redis-streams",
                "      authenticationRef:",
                "        name: mlc-redis",
                "      metadata:",
                "        stream: \(quoted(stream(function.name)))",
                "        consumerGroup: \(consumerGroup)",
                "        # Entries not yet read by the group (XINFO GROUPS lag, Redis 7+): scales to zero.",
                "        lagCount: \(quoted(String(items)))",
                "        activationLagCount: \"0\"",
                "        databaseIndex: \"0\"",
            ]
        case .postgres:
            // The trigger's visibility is the runner's default for the step (its timeout + 30 s).
            let query = PostgresWorkQueue.readyCountQuery(
                table: postgresQueueTable, queue: "runner", step: function.name,
                visibility: .seconds(function.timeoutSeconds + 30))
            return [
                "    - type: postgresql",
                "      metadata:",
                "        # The job's own MLC_STATE (Secret mlc-state, a postgres:// URL), read by KEDA from the template.",
                "        connectionFromEnv: MLC_STATE",
                "        # Rows a claim would take now: due and unclaimed, or held by a dead worker. Scales to zero.",
                "        query: \(quoted(query))",
                "        targetQueryValue: \(quoted(String(items)))",
                "        activationTargetQueryValue: \"0\"",
            ]
        }
    }

    // MARK: - Fission

    /// The Fission environment every step function runs in, and the namespace of the references between Fission's
    /// objects (Fission resolves a reference by name and namespace; change both with kustomize).
    static let fissionEnvironment = "ml-connector"
    static let fissionNamespace = "default"

    /// Fission: one Environment (the image as a Fission environment runtime, `mlc-http-adapter --fission`) and, per
    /// step, a Package whose code execs the step and a Function with the step's timeout, memory and concurrency.
    /// Fission routes no events between functions: as with OpenFaaS, whoever invokes a function passes its emitted
    /// events on (the Knative and KEDA manifests route them).
    static func fission(_ functions: [FunctionSpec] = FunctionCatalog.all) -> String {
        let longest = functions.map(\.timeoutSeconds).max() ?? 300
        var documents: [[String]] = [
            [
                "# The image of infra/Dockerfile as a Fission environment runtime: `mlc-http-adapter --fission` keeps the",
                "# `binary` environment's contract on port 8888 (specialize, then one process per request with the body on",
                "# stdin) in the image's own Debian userland. Every step function below runs in it, killed at its manifest's",
                "# timeout (the router gives up at the Function's functionTimeout, the same).",
                "apiVersion: fission.io/v1",
                "kind: Environment",
                "metadata:",
                "  name: \(fissionEnvironment)",
                "  namespace: \(fissionNamespace)",
                "  labels:",
                "    app.kubernetes.io/part-of: ml-connector",
                "spec:",
                "  version: 2",
                "  runtime:",
                "    image: \(image)",
                "    container:",
                "      command:",
                "        - /usr/local/bin/mlc-http-adapter",
                "      args:",
                "        - --fission",
            ] + secretEnvironment(indent: "      ") + [
                "  # One function per pod: each step scales on its own (newdeploy, below).",
                "  allowedFunctionsPerContainer: single",
                "  keeparchive: false",
                "  poolsize: 0",
                "  terminationGracePeriod: \(longest + 30)",
            ]
        ]
        for function in functions {
            let code = Data("exec /usr/local/bin/\(function.name)\n".utf8).base64EncodedString()
            documents.append([
                "# The code Fission specializes the environment with: a script that execs the step.",
                "apiVersion: fission.io/v1",
                "kind: Package",
                "metadata:",
                "  name: mlc-\(function.name)",
                "  namespace: \(fissionNamespace)",
                "  labels:",
                "    app.kubernetes.io/part-of: ml-connector",
                "spec:",
                "  environment:",
                "    name: \(fissionEnvironment)",
                "    namespace: \(fissionNamespace)",
                "  deployment:",
                "    type: literal",
                "    # exec /usr/local/bin/\(function.name)",
                "    literal: \(code)",
            ])
            documents.append(
                [
                    "apiVersion: fission.io/v1",
                    "kind: Function",
                    "metadata:",
                    "  name: \(function.name)",
                    "  namespace: \(fissionNamespace)",
                ] + stepMetadata(function) + [
                    "spec:",
                    "  environment:",
                    "    name: \(fissionEnvironment)",
                    "    namespace: \(fissionNamespace)",
                    "  package:",
                    "    functionName: \(function.name)",
                    "    packageref:",
                    "      name: mlc-\(function.name)",
                    "      namespace: \(fissionNamespace)",
                    "  functionTimeout: \(function.timeoutSeconds)",
                    "  idletimeout: 120",
                    "  InvokeStrategy:",
                    "    StrategyType: execution",
                    "    ExecutionStrategy:",
                    "      # A Deployment per step that scales to zero, at most the manifest's concurrency.",
                    "      ExecutorType: newdeploy",
                    "      MinScale: 0",
                    "      MaxScale: \(function.concurrency)",
                    "      SpecializationTimeout: 120",
                    "      TargetCPUPercent: 80",
                    "  resources:",
                    "    limits:",
                    "      # The step and the environment's server.",
                    "      memory: \(function.memoryMiB + 64)Mi",
                ])
        }
        return render(documents, command: "--fission")
    }

    // MARK: - Shared

    private static func scheduleCronJob(_ functions: [FunctionSpec], comment: String) -> [String] {
        let scheduled = functions.filter { $0.schedule != nil }.map(\.name).sorted()
        return
            [
                "# \(comment) Each connection's own intervals decide what is due (flow.pollIntervalSeconds and the others).",
                "apiVersion: batch/v1",
                "kind: CronJob",
                "metadata:",
                "  name: \(scheduleJob)",
                "  labels:",
                "    app.kubernetes.io/part-of: ml-connector",
                "  annotations:",
                "    ml-connector/starts: \(quoted(scheduled.joined(separator: ",")))",
                "spec:",
                "  schedule: \"* * * * *\"",
                "  concurrencyPolicy: Forbid",
                "  startingDeadlineSeconds: 120",
                "  successfulJobsHistoryLimit: 1",
                "  failedJobsHistoryLimit: 3",
                "  jobTemplate:",
                "    spec:",
                "      backoffLimit: 0",
                "      activeDeadlineSeconds: 55",
                "      template:",
                "        spec:",
                "          restartPolicy: Never",
                "          containers:",
                "            - name: schedule",
                "              image: \(image)",
                "              command:",
                "                - /usr/local/bin/local-runner",
                "              args:",
                "                - schedule",
            ] + secretEnvironment(indent: "              ") + [
                "              resources:",
                "                limits:",
                "                  memory: 128Mi",
            ]
    }

    /// A step workload's labels, and the events it consumes and emits as annotations (under `metadata:`).
    private static func stepMetadata(_ function: FunctionSpec) -> [String] {
        [
            "  labels:",
            "    app.kubernetes.io/part-of: ml-connector",
            "    app.kubernetes.io/component: step",
            "  annotations:",
            "    ml-connector/consumes: \(quoted(function.events.joined(separator: ",")))",
            "    ml-connector/emits: \(quoted(function.emits.joined(separator: ",")))",
        ]
    }

    private static func secretEnvironment(indent: String) -> [String] {
        [
            "env:",
            "  - name: MLC_STATE",
            "    valueFrom:",
            "      secretKeyRef:",
            "        name: mlc-state",
            "        key: url",
            "  - name: MLC_MASTER_KEY",
            "    valueFrom:",
            "      secretKeyRef:",
            "        name: mlc-master-key",
            "        key: key",
        ].map { indent + $0 }
    }

    /// A YAML double-quoted scalar (JSON string syntax is valid YAML).
    private static func quoted(_ text: String) -> String {
        var result = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": result += "\\\""
            case "\\": result += "\\\\"
            default: result.unicodeScalars.append(scalar)
            }
        }
        return result + "\""
    }

    private static func render(_ documents: [[String]], command: String) -> String {
        "# Generated by `local-runner functions \(command)` from functions/*/function.json; do not edit.\n"
            + documents.map { "---\n" + $0.joined(separator: "\n") + "\n" }.joined()
    }
}
