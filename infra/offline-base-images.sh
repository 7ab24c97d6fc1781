#!/usr/bin/env bash
# Builds local stand-ins for the two base images infra/Dockerfile names, `swift:${SWIFT_VERSION}-bookworm` (build stage)
# and `swift:${SWIFT_VERSION}-bookworm-slim` (runtime stage), on a machine that reaches a Debian mirror but no container
# registry, so that `docker build -f infra/Dockerfile .` runs there unchanged. With registry access you do not need
# this: the Dockerfile pulls the official images.
#
# They follow the official images (github.com/swiftlang/swift-docker, 6.x debian/12 and debian/12/slim):
#   - build: Debian bookworm, the packages the official image installs, and the toolchain unpacked into /usr;
#   - slim: Debian bookworm, libcurl4, libxml2 and tzdata, and only the toolchain's usr/lib/swift/linux/*.so.
# The toolchain is the one this machine has (SWIFT_TOOLCHAIN, default: the directory above `swift` on PATH), and must be
# the Swift version the tag says.
#
# Where git reads github.com from a local copy of the packages (git's `url.<dir>.insteadOf`, as on the project's
# offline build machines), the build image gets that copy and the same rule, so `swift build` resolves in it as it does
# on the host. Nothing else from the host goes in.
#
#   infra/offline-base-images.sh            # tags swift:6.3-bookworm and swift:6.3-bookworm-slim
#
# Needs: docker (an engine), mmdebstrap, and a Debian mirror (DEBIAN_MIRROR, default deb.debian.org).
set -euo pipefail

swift_version="${SWIFT_VERSION:-6.3}"
mirror="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
toolchain="${SWIFT_TOOLCHAIN:-$(dirname "$(dirname "$(dirname "$(readlink -f "$(command -v swift)")")")")}"
work="$(mktemp -d "${TMPDIR:-/tmp}/mlc-base-images.XXXXXX")"
trap 'rm -rf "$work"' EXIT

die() {
    echo "offline-base-images: $*" >&2
    exit 1
}
for tool in docker mmdebstrap; do
    command -v "$tool" >/dev/null || die "needs $tool (apt-get install docker.io mmdebstrap)"
done
[ -x "$toolchain/usr/bin/swift" ] || die "no toolchain at $toolchain (set SWIFT_TOOLCHAIN to the directory holding usr/)"
found="$("$toolchain/usr/bin/swift" --version 2>/dev/null | sed -n 's/.*Swift version \([0-9]*\.[0-9]*\).*/\1/p' | head -n 1)"
[ "$found" = "$swift_version" ] || die "toolchain at $toolchain is Swift ${found:-unknown}, the tag would say $swift_version"

# The build image: the official image's package list for Debian 12.
build_packages=binutils,binutils-gold,git,gnupg2,libc6-dev,libcurl4-openssl-dev,libedit2,libgcc-12-dev,libpython3-dev
build_packages+=,libsqlite3-0,libstdc++-12-dev,libxml2-dev,libncurses-dev,libz3-dev,pkg-config,tzdata,zlib1g-dev
build_packages+=,ca-certificates,curl,unzip

# The local copy of the GitHub packages, if git on this machine reads github.com from one.
packages_dir="$(git config --system --get-regexp '^url\..*\.insteadof$' 2>/dev/null |
    awk '$2 == "https://github.com/" { sub(/^url\./, "", $1); sub(/\.insteadof$/, "", $1); print $1; exit }')"

build_hook="cp -a '$toolchain/usr/.' \"\$1/usr/\""
if [ -n "$packages_dir" ] && [ -d "$packages_dir" ]; then
    echo "offline-base-images: the build image reads github.com from a copy of $packages_dir" >&2
    build_hook+=" && mkdir -p \"\$1/opt/swift-packages\" && cp -a '$packages_dir/.' \"\$1/opt/swift-packages/\""
    build_hook+=" && printf '[url \"/opt/swift-packages/\"]\\n\\tinsteadOf = https://github.com/\\n' >> \"\$1/etc/gitconfig\""
fi

echo "offline-base-images: swift:$swift_version-bookworm from $mirror and $toolchain" >&2
mmdebstrap --quiet --variant=minbase --include="$build_packages" \
    --customize-hook="$build_hook" \
    --customize-hook='rm -rf "$1"/var/lib/apt/lists/*' \
    bookworm "$work/build.tar" "$mirror"
docker import --change 'CMD ["/bin/bash"]' "$work/build.tar" "swift:$swift_version-bookworm" >/dev/null
rm -f "$work/build.tar"

echo "offline-base-images: swift:$swift_version-bookworm-slim" >&2
mmdebstrap --quiet --variant=minbase --include=libcurl4,libxml2,tzdata \
    --customize-hook="mkdir -p \"\$1/usr/lib/swift/linux\" && cp -a '$toolchain'/usr/lib/swift/linux/*.so \"\$1/usr/lib/swift/linux/\"" \
    --customize-hook='rm -rf "$1"/var/lib/apt/lists/*' \
    bookworm "$work/slim.tar" "$mirror"
docker import --change 'CMD ["/bin/bash"]' "$work/slim.tar" "swift:$swift_version-bookworm-slim" >/dev/null

docker image ls --format '{{.Repository}}:{{.Tag}} {{.Size}}' "swift" >&2
