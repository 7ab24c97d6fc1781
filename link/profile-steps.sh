#!/bin/sh
# Regenerates link/steps.order, the order in which release builds lay out the step executables' code (see
# link/README.md): runs `local-runner demo` and the step budget of `local-runner bench` on release binaries, the first
# few invocations of every step under callgrind, and lists the functions those invocations ran, most shared first.
# Needs valgrind (installed here when missing). Takes a few minutes; commit the resulting file.
set -eu
cd "$(dirname "$0")/.."
command -v valgrind >/dev/null 2>&1 || env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq valgrind
SWIFT=${SWIFT:-swift}
$SWIFT build -c release
RELEASE=$($SWIFT build -c release --show-bin-path)
WORK=$(mktemp -d /tmp/mlc-profile.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
mkdir -p "$WORK/bin" "$WORK/plain" "$WORK/out" "$WORK/slots"
PROFILED_RUNS=${PROFILED_RUNS:-3}
for function in functions/*/; do
    name=$(basename "$function")
    # valgrind cannot read the toolchain's DWARF 5; symbols are enough.
    objcopy --strip-debug "$RELEASE/$name" "$WORK/plain/$name"
    cat > "$WORK/bin/$name" <<WRAPPER
#!/bin/sh
i=1
while [ \$i -le $PROFILED_RUNS ]; do
    if mkdir "$WORK/slots/$name.\$i" 2>/dev/null; then
        exec valgrind -q --tool=callgrind --demangle=no --compress-strings=no --compress-pos=no --dump-line=no \
            --callgrind-out-file="$WORK/out/$name.\$\$" "$WORK/plain/$name" "\$@"
    fi
    i=\$((i + 1))
done
exec "$RELEASE/$name" "\$@"
WRAPPER
    chmod +x "$WORK/bin/$name"
done
for tool in local-runner mlc-simulators; do ln -s "$RELEASE/$tool" "$WORK/bin/$tool"; done
(cd "$WORK" && MLC_FUNCTIONS_BIN="$WORK/bin" "$WORK/bin/local-runner" demo >/dev/null)
rm -rf "$WORK/slots" && mkdir "$WORK/slots"
MLC_FUNCTIONS_BIN="$WORK/bin" "$WORK/bin/local-runner" bench --invoices 40 --repeats 1 --scaling-workers 0 \
    --breakdown-runs "$PROFILED_RUNS" >/dev/null
python3 - "$WORK/out" link/steps.order <<'PY'
import collections, os, re, sys
directory, target = sys.argv[1], sys.argv[2]
profiles = collections.Counter()
first = {}
for index, name in enumerate(sorted(os.listdir(directory))):
    seen = set()
    in_step = False
    for line in open(os.path.join(directory, name), errors="replace"):
        if line.startswith("ob="):
            in_step = "/plain/" in line
        elif line.startswith("fn=") and in_step:
            symbol = re.sub(r"'\d+$", "", line[3:].strip())
            if symbol.startswith("0x"):
                continue
            seen.add(symbol)
            first.setdefault(symbol, (index, len(first)))
    profiles.update(seen)
ordered = sorted(profiles, key=lambda symbol: (-profiles[symbol], first[symbol]))
with open(target, "w") as out:
    out.write("\n".join(ordered) + "\n")
print(f"{target}: {len(ordered)} functions from {len(os.listdir(directory))} profiled invocations")
PY
# SwiftPM does not know the order file is an input of the link: remove the step executables so that the next release
# build links them again, in the new order.
for function in functions/*/; do rm -f "$RELEASE/$(basename "$function")"; done
