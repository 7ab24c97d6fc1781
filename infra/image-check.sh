#!/usr/bin/env bash
# Checks an image built from infra/Dockerfile (default ml-connector:latest) the way the platforms run it, with no
# network but loopback:
#   1. every step of functions/*/function.json and every tool is in /usr/local/bin, with no missing shared library;
#   2. the image runs as the unprivileged user 10001 and carries the function manifests;
#   3. each step, run the OpenFaaS way (event on stdin), answers a malformed event with exit 65 and a JSON error;
#   4. the Knative shape: mlc-http-adapter answers a structured CloudEvent it cannot parse with 400 and a JSON error;
#      the Fission shape: `mlc-http-adapter --fission`, specialized with a Package's code from infra/fission, runs
#      the step and answers a malformed event with 400 and the step's JSON error;
#   5. the main flow end to end: `local-runner demo` (simulated JAGGAER and every simulated ERP, SQLite) exits 0;
#   6. the KEDA shape: `local-runner trigger` on the queue the demo drained exits 0 with its JSON line;
#   7. the network stores: the Business Central flow on Redis and on PostgreSQL servers on the host's loopback;
#   8. the KEDA job as deployed: `schedule` then `trigger` on Redis in the image's own (read-only) working directory:
#      the step starts and its log lines reach the job's stderr; `local-runner metrics` (the mlc-metrics Deployment)
#      then serves the job's step metrics from the store.
# Prints one line per check and exits non-zero on the first that fails.
#
#   docker build -f infra/Dockerfile -t ml-connector .   # or: make image
#   infra/image-check.sh [IMAGE]
set -euo pipefail

image="${1:-ml-connector:latest}"
root="$(cd "$(dirname "$0")/.." && pwd)"
failures=0

ok() { printf 'ok    %s\n' "$*"; }
fail() {
    printf 'FAIL  %s\n' "$*"
    failures=$((failures + 1))
}
in_image() { docker run --rm --network none --entrypoint "$1" "${@:2}"; }

docker image inspect "$image" >/dev/null 2>&1 || {
    echo "image-check: no image $image (build it: make image)" >&2
    exit 1
}
steps=()
for manifest in "$root"/functions/*/function.json; do steps+=("$(basename "$(dirname "$manifest")")"); done
tools=(local-runner mlc-http-adapter mlc-simulators)

# 1. Executables and their libraries.
missing="$(in_image /bin/sh "$image" -c '
    for name in "$@"; do
        path=/usr/local/bin/$name
        [ -x "$path" ] || { echo "$name: not in /usr/local/bin"; continue; }
        ldd "$path" 2>&1 | sed -n "s|^\(.*not found.*\)|$name: \1|p"
    done' sh "${steps[@]}" "${tools[@]}")"
if [ -z "$missing" ]; then
    ok "${#steps[@]} steps and ${#tools[@]} tools present, every shared library found"
else
    fail "executables: $missing"
fi

# 2. User and manifests.
identity="$(in_image /bin/sh "$image" -c 'id -u; ls /opt/ml-connector/functions | wc -l')"
if [ "$(echo "$identity" | sed -n 1p)" = 10001 ] && [ "$(echo "$identity" | sed -n 2p)" = "${#steps[@]}" ]; then
    ok "runs as uid 10001, ${#steps[@]} function manifests in /opt/ml-connector/functions"
else
    fail "user and manifests: $identity"
fi

# 3. Each step on its own, as OpenFaaS's classic watchdog runs it.
for step in "${steps[@]}"; do
    set +e
    answer="$(printf '{"not a cloudevent"' | docker run --rm -i --network none --entrypoint "/usr/local/bin/$step" "$image")"
    code=$?
    set -e
    if [ "$code" = 65 ] && printf '%s' "$answer" | python3 -c \
        'import json,sys; d=json.load(sys.stdin); sys.exit(0 if d["error"]["code"]=="event.malformed" else 1)'; then
        ok "$step: malformed event -> exit 65, JSON error"
    else
        fail "$step: malformed event -> exit $code: $answer"
    fi
done

# 4. The Knative adapter, on a free loopback port of the host.
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
adapter="$(docker run -d --rm --network host --entrypoint /usr/local/bin/mlc-http-adapter "$image" \
    --step /usr/local/bin/transform-invoice --host 127.0.0.1 --port "$port")"
status=""
for _ in $(seq 1 50); do
    status="$(curl -s -o /tmp/mlc-image-check.$$ -w '%{http_code}' -H 'Content-Type: application/cloudevents+json' \
        --data '{"specversion":"1.0"}' "http://127.0.0.1:$port/" || true)"
    [ "$status" != 000 ] && break
    sleep 0.2
done
body="$(cat /tmp/mlc-image-check.$$ 2>/dev/null || true)"
rm -f /tmp/mlc-image-check.$$
if [ "$status" = 400 ] && printf '%s' "$body" | python3 -c 'import json,sys; json.load(sys.stdin)["error"]["code"]'; then
    ok "mlc-http-adapter: structured CloudEvent without its attributes -> 400, JSON error"
else
    fail "mlc-http-adapter: answered $status: $body"
fi
docker rm -f "$adapter" >/dev/null 2>&1 || true

# 4b. The Fission environment as infra/fission deploys it: the image's command replaced by `mlc-http-adapter
# --fission`, the fetcher's deploy archive (the Package's literal code) at /userfunc/deployarchive, specialized by
# the v2 load request Fission sends, then one request with a malformed event.
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
archive="$(mktemp -d "${TMPDIR:-/tmp}/mlc-fission.XXXXXX")"
chmod 755 "$archive"
sed -n '/^  name: mlc-transform-invoice$/,/^ *literal:/p' "$root/infra/fission/ml-connector.yaml" |
    sed -n 's/^ *literal: //p' | base64 -d >"$archive/deployarchive"
chmod 644 "$archive/deployarchive"
adapter="$(docker run -d --rm --network host -v "$archive:/userfunc:ro" \
    --entrypoint /usr/local/bin/mlc-http-adapter "$image" --fission --host 127.0.0.1 --port "$port")"
status=""
for _ in $(seq 1 50); do
    status="$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/healthz" || true)"
    [ "$status" = 200 ] && break
    sleep 0.2
done
specialized="$(curl -s -o /dev/null -w '%{http_code}' -X POST \
    --data '{"filepath":"/userfunc/deployarchive","functionName":"transform-invoice"}' \
    "http://127.0.0.1:$port/v2/specialize" || true)"
status="$(curl -s -o /tmp/mlc-image-check.$$ -w '%{http_code}' --data '{"specversion":"1.0"}' \
    "http://127.0.0.1:$port/" || true)"
body="$(cat /tmp/mlc-image-check.$$ 2>/dev/null || true)"
rm -f /tmp/mlc-image-check.$$
if [ "$specialized" = 200 ] && [ "$status" = 400 ] &&
    printf '%s' "$body" | python3 -c 'import json,sys; sys.exit(json.load(sys.stdin)["exitCode"] != 65)'; then
    ok "mlc-http-adapter --fission: specialized with infra/fission's transform-invoice code, malformed event -> 400 (exit 65)"
else
    fail "mlc-http-adapter --fission: specialize answered $specialized, the event $status: $body"
    docker logs "$adapter" 2>&1 | tail -n 10 | sed 's/^/      /'
fi
docker rm -f "$adapter" >/dev/null 2>&1 || true
rm -rf "$archive"

# 5 and 6. The main flow, every ERP, inside the image with no network but loopback; then the KEDA shape on the store
# it leaves behind (its queue drained).
set +e
answer="$(docker run --rm --network none --workdir /tmp --entrypoint /bin/sh "$image" -c '
    local-runner demo --invoices 60 || exit $?
    echo "--- trigger"
    local-runner trigger --state sqlite:.mlc/demo/state.sqlite --step write-erp-invoice --max 5' 2>&1)"
code=$?
set -e
demo="${answer%%--- trigger*}"
if [ "$code" = 0 ] || [[ "$answer" == *"--- trigger"* ]]; then
    ok "local-runner demo (60 invoices, every simulated ERP, SQLite) -> exit 0"
    printf '%s\n' "$demo" | sed 's/^/      /' | tail -n 22
else
    fail "local-runner demo -> exit $code"
    printf '%s\n' "$demo" | sed 's/^/      /' | tail -n 40
fi
trigger="$(printf '%s' "$answer" | sed -n '/^--- trigger$/,$p' | sed 1d | tail -n 1)"
if [ "$code" = 0 ] && printf '%s' "$trigger" | python3 -c \
    'import json,sys; d=json.load(sys.stdin); sys.exit(0 if d["ran"]==[] and d["pending"]==0 else 1)'; then
    ok "local-runner trigger --step write-erp-invoice on the drained queue -> exit 0: $trigger"
else
    fail "local-runner trigger -> exit $code: $trigger"
fi

# 7. The network stores from inside the image: the Business Central flow on Redis and on PostgreSQL, each server
# private, on a free port of the host's loopback (as the test suites start theirs; `make image-check` installs them).
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
stores="$(mktemp -d "${TMPDIR:-/tmp}/mlc-image-check.XXXXXX")"
chmod 755 "$stores"
redis_pid=""
pg_bin="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)"
cleanup() {
    docker rm -f "${adapter:-none}" >/dev/null 2>&1 || true
    [ -n "$redis_pid" ] && kill "$redis_pid" 2>/dev/null
    [ -n "$pg_bin" ] && [ -f "$stores/pg/postmaster.pid" ] && run_as_pg "$pg_bin/pg_ctl" -D "$stores/pg" -m immediate stop >/dev/null 2>&1
    rm -rf "$stores"
}
trap cleanup EXIT
# initdb and postgres refuse root: as root they run as Debian's `postgres` account.
run_as_pg() {
    if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}
flow_on() {
    local label="$1" url="$2"
    set +e
    answer="$(docker run --rm --network host --workdir /tmp "$image" demo --invoices 30 --erp businessCentral \
        --state "$url" 2>&1)"
    code=$?
    set -e
    if [ "$code" = 0 ]; then
        ok "local-runner demo on $label (30 invoices, Business Central) -> exit 0"
    else
        fail "local-runner demo on $label -> exit $code"
        printf '%s\n' "$answer" | sed 's/^/      /' | tail -n 30
    fi
}
# The KEDA job as the platform runs it: the image's own working directory (/, not writable by uid 10001), the store
# URL and key from the environment. `schedule` queues the due events; `trigger` must start the step and pass its log
# lines to its own stderr (the pod log). The simulated systems are gone by then, so the step ends temporary (75) or
# unavailable (69); what matters is that it started and logged, not that it reached an ERP.
keda_on_redis() {
    local url="$1" key
    key="$(docker run --rm --network none "$image" keys generate | tail -n 1)"
    set +e
    answer="$(docker run --rm --network host -e "MLC_STATE=$url" -e "MLC_MASTER_KEY=$key" --entrypoint /bin/sh \
        "$image" -c 'local-runner demo --invoices 30 --erp businessCentral --state "$MLC_STATE" >/dev/null 2>&1 || exit 90
            local-runner schedule >/dev/null || exit 91
            local-runner trigger --step sync-vendors --max 1 --retry-base-ms 100; code=$?
            echo "--- metrics"; local-runner metrics --print || exit 92; exit $code' 2>&1)"
    code=$?
    set -e
    if [ "$code" -lt 90 ] && [[ "$answer" == *'"step":"sync-vendors"'* ]] && [[ "$answer" != *"cannot start"* ]]; then
        ok "local-runner trigger on Redis in / as uid 10001 -> the step ran, its log lines on stderr (exit $code)"
    else
        fail "local-runner trigger on Redis in / -> exit $code"
        printf '%s\n' "$answer" | sed 's/^/      /' | tail -n 20
    fi
    metrics="$(printf '%s' "$answer" | sed -n '/^--- metrics$/,$p')"
    if [ "$code" -lt 90 ] && [[ "$metrics" == *'mlc_step_invocations_total{step="sync-vendors"'* ]] &&
        [[ "$metrics" == *'mlc_queue_depth{step="sync-vendors"}'* ]]; then
        ok "local-runner metrics on Redis -> the job's step metrics and the queue depth"
    else
        fail "local-runner metrics on Redis -> exit $code"
        printf '%s\n' "$metrics" | sed 's/^/      /' | tail -n 20
    fi
}
if command -v redis-server >/dev/null; then
    port="$(free_port)"
    redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no --dir "$stores" >"$stores/redis.log" 2>&1 &
    redis_pid=$!
    for _ in $(seq 1 50); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.1; done
    flow_on Redis "redis://127.0.0.1:$port/0"
    keda_on_redis "redis://127.0.0.1:$port/1"
else
    fail "Redis: no redis-server here (make image-check installs it)"
fi
if [ -n "$pg_bin" ]; then
    port="$(free_port)"
    mkdir -p "$stores/pg"
    [ "$(id -u)" = 0 ] && chown postgres "$stores/pg"
    if run_as_pg "$pg_bin/initdb" -D "$stores/pg" -U mlc --auth=trust -E UTF8 --locale=C --no-sync >"$stores/initdb.log" 2>&1 &&
        run_as_pg "$pg_bin/pg_ctl" -D "$stores/pg" -w -l "$stores/pg/server.log" \
            -o "-p $port -c listen_addresses=127.0.0.1 -c unix_socket_directories=$stores/pg -c fsync=off" \
            start >/dev/null; then
        flow_on PostgreSQL "postgres://mlc@127.0.0.1:$port/postgres"
    else
        fail "PostgreSQL: the server did not start: $(tail -n 5 "$stores/initdb.log" "$stores/pg/server.log" 2>/dev/null)"
    fi
else
    fail "PostgreSQL: no /usr/lib/postgresql/*/bin here (make image-check installs it)"
fi

docker image ls --format 'image {{.Repository}}:{{.Tag}}: {{.Size}}' "$image"
[ "$failures" = 0 ] || {
    echo "image-check: $failures check(s) failed" >&2
    exit 1
}
