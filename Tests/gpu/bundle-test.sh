#!/usr/bin/env bash
# Run by hand, not by `swift test`: checks the GPU bundle flow (scripts/gpu-bundle, scripts/gpu-run, docs/GPU.md)
# end to end on a CPU machine with Swift, g++ and Debian's libtorch (python3-torch, libtorch-dev):
#   Tests/gpu/bundle-test.sh
# Builds the bundle twice (reproducible, idempotent, size), runs it from a copy elsewhere with Debian's torch
# (--help, info, bench torch-step), checks the binary needs libctorch but not libtorch, that the bundled libraries
# are closed under their dependencies, the error paths, and that the bundle's build-shim links against a PyTorch
# 2.x wheel (TORCH2, default /tmp/torch2/torch, made by scripts/check-shim-torch2; skipped when absent).
# Uses the swift build in .build-gpu (the first run compiles). Exits non-zero on the first failure.
set -euo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
torch2=${TORCH2:-/tmp/torch2/torch}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export FASHIONVL_SHIM_CACHE=$tmp/shim-cache
fail() { echo "FAIL: $*" >&2; exit 1; }
ok() { echo "ok: $*"; }
tree_sum() { (cd "$1" && find . -type f | LC_ALL=C sort | xargs sha256sum | sha256sum | cut -d' ' -f1); }
needed() { readelf -d "$1" | sed -nE 's/.*\(NEEDED\).*\[(.*)\]/\1/p'; }

# 1. Build, reproducibly and idempotently.
"$here/scripts/gpu-bundle" "$tmp/b1" | tail -n 1
"$here/scripts/gpu-bundle" "$tmp/b2" > "$tmp/b2.log" || { cat "$tmp/b2.log"; fail "second gpu-bundle"; }
[[ $(tree_sum "$tmp/b1") == $(tree_sum "$tmp/b2") ]] || fail "two builds of the bundle differ"
ok "reproducible: two bundles are byte-identical"
"$here/scripts/gpu-bundle" "$tmp/b2" > "$tmp/b2.log" || { cat "$tmp/b2.log"; fail "gpu-bundle over an existing bundle"; }
[[ $(tree_sum "$tmp/b1") == $(tree_sum "$tmp/b2") ]] || fail "rebuilding over a bundle changed it"
ok "idempotent: rebuilding over a bundle gives the same bytes"
mkdir "$tmp/other" && touch "$tmp/other/keep"
if "$here/scripts/gpu-bundle" "$tmp/other" > "$tmp/other.log" 2>&1; then fail "gpu-bundle replaced a folder that is no bundle"; fi
[[ -e $tmp/other/keep ]] || fail "gpu-bundle removed files of a folder that is no bundle"
ok "refuses to replace a non-bundle folder"
size=$(du -sb "$tmp/b1" | cut -f1)
[[ $size -lt $((48 * 1048576)) ]] || fail "bundle is $size bytes, over 48 MiB"
for f in gpu-run payload.tar.gz MANIFEST shim/scripts/build-shim shim/Sources/CTorch/include/ctorch.h shim/Sources/CTorch/src/ctorch.cpp; do
  [[ -f $tmp/b1/$f ]] || fail "bundle lacks $f"
done
ok "bundle: $size bytes, holds gpu-run, payload, shim sources, MANIFEST"

# 2. Run it from a copy elsewhere (as on the GPU machine, where the repo's .gpu-bundle is carried).
cp -a "$tmp/b1" "$tmp/run"
cd "$tmp"
"$tmp/run/gpu-run" > "$tmp/info.log" 2>&1 || { cat "$tmp/info.log"; fail "gpu-run (info)"; }
cat "$tmp/info.log"
grep -q '^torch: ' "$tmp/info.log" && grep -q '^cuda: ' "$tmp/info.log" && grep -q '^shim: ' "$tmp/info.log" &&
  grep -q 'runs$' "$tmp/info.log" || fail "gpu-run's report lacks torch/cuda/shim/binary lines"
ok "gpu-run with no arguments reports what it found"
"$tmp/run/gpu-run" --help > "$tmp/help.log" 2>&1 || { cat "$tmp/help.log"; fail "gpu-run --help"; }
grep -q 'USAGE: fashionvl' "$tmp/help.log" || fail "gpu-run --help printed no usage"
grep -q 'compiling' "$tmp/help.log" && fail "gpu-run rebuilt an up-to-date shim"
ok "gpu-run --help (shim up to date, not rebuilt)"
env -i PATH=/usr/bin:/bin HOME="$tmp" FASHIONVL_SHIM_CACHE="$FASHIONVL_SHIM_CACHE" "$tmp/run/gpu-run" --help > "$tmp/bare.log" 2>&1 ||
  { cat "$tmp/bare.log"; fail "gpu-run --help in a bare environment"; }
ok "gpu-run --help in a bare environment (env -i)"
/usr/bin/python3 -c 'import torch' 2>/dev/null || fail "bench needs /usr/bin/python3 with torch (apt-get install python3-torch)"
"$tmp/run/gpu-run" bench torch-step --threads 1 --rounds 1 --steps 2 --warmup 1 > "$tmp/bench.log" 2>&1 ||
  { cat "$tmp/bench.log"; fail "gpu-run bench torch-step"; }
grep -q '"swift_ms"' "$tmp/bench.log" || { cat "$tmp/bench.log"; fail "bench printed no result"; }
ok "gpu-run bench torch-step: $(tail -n 1 "$tmp/bench.log")"

# 3. The binary needs libctorch, not libtorch; the bundled libraries need nothing outside the bundle but glibc/libstdc++.
bn=$(needed "$tmp/run/fashionvl")
grep -qx 'libctorch.so' <<<"$bn" || fail "fashionvl does not need libctorch.so: $bn"
grep -qE '^lib(torch|torch_cpu|c10)\.so' <<<"$bn" && fail "fashionvl needs libtorch directly: $bn"
readelf -d "$tmp/run/fashionvl" | grep -q 'R.*PATH.*\$ORIGIN/lib' || fail "fashionvl has no \$ORIGIN/lib run path"
ok "readelf: fashionvl needs libctorch.so, not libtorch_cpu/libc10; runpath \$ORIGIN/lib"
sys='^(linux-vdso|ld-linux.*|libc|libm|libdl|libpthread|librt|libresolv|libutil|libanl|libmvec|libstdc\+\+|libgcc_s)\.so'
for f in "$tmp/run/fashionvl" "$tmp/run/lib"/*.so*; do
  [[ $(basename "$f") == libctorch.so ]] && continue
  for n in $(needed "$f"); do
    [[ $n == libctorch.so || -e $tmp/run/lib/$n ]] || grep -qE "$sys" <<<"$n" || fail "$(basename "$f") needs $n, not in the bundle"
  done
done
ok "bundled libraries are closed under their dependencies ($(ls "$tmp/run/lib" | wc -l) files in lib/)"

# 4. Other ways in, and errors.
cp -a "$tmp/b1" "$tmp/run2"
"$tmp/run2/gpu-run" --help > "$tmp/run2.log" 2>&1 || { cat "$tmp/run2.log"; fail "gpu-run from a fresh copy"; }
grep -q 'compiling' "$tmp/run2.log" && fail "a fresh copy of the bundle compiled the shim again (cache unused)"
ok "a re-carried bundle takes the shim from the cache"
GPU_BUNDLE=$tmp/run "$here/scripts/gpu-run" --help > "$tmp/repo.log" 2>&1 || { cat "$tmp/repo.log"; fail "scripts/gpu-run with GPU_BUNDLE"; }
ok "scripts/gpu-run from the repo finds the bundle (GPU_BUNDLE)"
TORCH_PREFIX=/usr PYTHON=$tmp/no-python3 "$tmp/run/gpu-run" --help > "$tmp/prefix.log" 2>&1 || { cat "$tmp/prefix.log"; fail "gpu-run with TORCH_PREFIX=/usr and no python"; }
ok "TORCH_PREFIX=/usr works without python3"
if PYTHON=$tmp/no-python3 "$tmp/run/gpu-run" > "$tmp/nopy.log" 2>&1; then fail "gpu-run without torch succeeded"; fi
grep -q 'torch' "$tmp/nopy.log" || { cat "$tmp/nopy.log"; fail "no clear error without torch"; }
ok "no torch: $(head -n 1 "$tmp/nopy.log")"
if GPU_BUNDLE=$tmp/none "$here/scripts/gpu-run" > "$tmp/nob.log" 2>&1; then fail "gpu-run without a bundle succeeded"; fi
ok "no bundle: $(head -n 1 "$tmp/nob.log")"

# 5. The bundle's build-shim against a PyTorch 2.x wheel (links; cannot run here without libcudart).
if [[ -d $torch2/include/ATen ]]; then
  "$tmp/run/shim/scripts/build-shim" --torch "$torch2" --out "$tmp/shim2" > "$tmp/shim2.log" 2>&1 || { tail -n 30 "$tmp/shim2.log"; fail "build-shim against $torch2"; }
  sn=$(needed "$tmp/shim2/libctorch.so" | tr '\n' ' ')
  grep -q 'libtorch_cpu.so' <<<"$sn" || fail "libctorch against $torch2 does not need libtorch_cpu.so: $sn"
  if [[ -e $torch2/lib/libc10_cuda.so ]]; then
    grep -q 'libc10_cuda.so' <<<"$sn" || fail "libctorch against $torch2 was built without CUDA: $sn"
  fi
  ok "bundle's build-shim links against $torch2 (torch $(cat "$torch2"/include/torch/version.h "$torch2"/include/torch/headeronly/version.h 2>/dev/null | sed -nE 's/^#define TORCH_VERSION_(MAJOR|MINOR|PATCH) ([0-9]+).*/\2/p' | head -n 3 | paste -sd.); needs $sn)"
else
  echo "SKIP: no PyTorch 2.x at $torch2 (make one with scripts/check-shim-torch2, or set TORCH2)"
fi
echo "bundle-test: all checks passed"
