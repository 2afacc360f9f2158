#!/usr/bin/env bash
# Builds every Lambda function under functions/ with cargo-lambda, into
#
#   target/lambda/<binary>/bootstrap.zip     (the CodeUri of its function in infra/template.yaml)
#
# for arm64 when the aarch64-unknown-linux-gnu Rust target is installed, otherwise for
# x86_64 (say which with HOTLINE_ARCH=arm64|x86_64). The architecture built is written to
# target/lambda/ARCHITECTURE; infra/deploy.sh deploys with it. zig, which cargo-lambda links
# with, comes from PyPI's ziglang when it is not on PATH already.
#
# Needs: cargo, cargo-lambda (cargo install cargo-lambda --locked), python3.
set -euo pipefail
cd "$(dirname "$0")/.."

ZIGLANG_VERSION=0.13.0.post1
# provided.al2023 ships glibc 2.34; a bootstrap needing newer symbols fails to start.
MAX_GLIBC=2.34

die() {
  echo "infra/build.sh: $*" >&2
  exit 1
}

command -v cargo >/dev/null || die "cargo is not installed (https://rustup.rs)"
command -v python3 >/dev/null || die "python3 is not installed"
cargo lambda --version >/dev/null 2>&1 ||
  die "cargo-lambda is not installed: cargo install cargo-lambda --locked (about 15 minutes)"

# -- which architecture ----------------------------------------------------------------
host=$(rustc -vV | sed -n 's/^host: //p')
if command -v rustup >/dev/null; then
  installed=$(rustup target list --installed)
else
  installed=$host
fi
has_target() { grep -qx "$1" <<<"$installed"; }

arch=${HOTLINE_ARCH:-}
if [ -z "$arch" ]; then
  if has_target aarch64-unknown-linux-gnu; then
    arch=arm64
  else
    arch=x86_64
    cat >&2 <<EOF
infra/build.sh: the aarch64-unknown-linux-gnu Rust target is not installed, so the functions
               are built for x86_64 and must be deployed with Architecture=x86_64 (infra/deploy.sh
               does that from target/lambda/ARCHITECTURE). For arm64 (Graviton, cheaper per ms):
               rustup target add aarch64-unknown-linux-gnu, then run this again.
EOF
  fi
fi
case $arch in
  arm64) triple=aarch64-unknown-linux-gnu flag=--arm64 ;;
  x86_64) triple=x86_64-unknown-linux-gnu flag=--x86-64 ;;
  *) die "HOTLINE_ARCH must be arm64 or x86_64, not '$arch'" ;;
esac
has_target "$triple" || die "the $triple Rust target is not installed: rustup target add $triple"

# -- zig ---------------------------------------------------------------------------------
if ! command -v zig >/dev/null; then
  tools=$PWD/target/tools
  if [ ! -x "$tools/bin/zig" ]; then
    echo "==> installing zig (PyPI ziglang==$ZIGLANG_VERSION) into $tools"
    python3 -m venv "$tools/ziglang"
    "$tools/ziglang/bin/pip" install --quiet --disable-pip-version-check "ziglang==$ZIGLANG_VERSION"
    # The wheel keeps the zig executable inside the package; put a link to it on PATH
    # (in a directory of its own, so the venv's python does not shadow anyone's).
    zig_exe=$("$tools/ziglang/bin/python" -c \
      'import os, ziglang; print(os.path.join(os.path.dirname(ziglang.__file__), "zig"))')
    mkdir -p "$tools/bin"
    ln -sf "$zig_exe" "$tools/bin/zig"
  fi
  export PATH="$tools/bin:$PATH"
fi
echo "==> zig $(zig version), $(cargo lambda --version)"

# -- which functions ---------------------------------------------------------------------
# Every crate under functions/, with its one binary; a crate that is not a workspace member
# would silently not be built, so that is an error.
listing=$(
  cargo metadata --no-deps --format-version 1 --locked | python3 -c '
import glob, json, os, sys
m = json.load(sys.stdin)
root = m["workspace_root"]
members = {os.path.dirname(p["manifest_path"]): p for p in m["packages"]}
for d in sorted(glob.glob(os.path.join(root, "functions", "*", "Cargo.toml"))):
    d = os.path.dirname(d)
    p = members.get(d)
    if p is None:
        sys.exit(f"{d} is not a workspace member (add it to Cargo.toml [workspace] members)")
    name = p["name"]
    bins = [t["name"] for t in p["targets"] if "bin" in t["kind"]]
    if len(bins) != 1:
        sys.exit(f"{name} must have exactly one binary, has {bins}")
    print(name, bins[0])
'
)
functions=()
while IFS= read -r line; do functions+=("$line"); done <<<"$listing"
[ -n "$listing" ] || die "no function crates under functions/"

packages=()
bins=()
for f in "${functions[@]}"; do
  packages+=(--package "${f% *}")
  bins+=("${f#* }")
done

# -- build -------------------------------------------------------------------------------
for b in "${bins[@]}"; do rm -f "target/lambda/$b/bootstrap.zip"; done
echo "==> cargo lambda build --release $flag --output-format zip ${packages[*]}"
cargo lambda build --release "$flag" --output-format zip --locked "${packages[@]}"

# -- check what was built ------------------------------------------------------------------
zips=()
for b in "${bins[@]}"; do zips+=("target/lambda/$b/bootstrap.zip"); done
python3 - "$arch" "$MAX_GLIBC" "${zips[@]}" <<'EOF'
import os, re, sys, zipfile
arch, max_glibc, zips = sys.argv[1], tuple(map(int, sys.argv[2].split("."))), sys.argv[3:]
machine = {"arm64": 183, "x86_64": 62}[arch]  # ELF e_machine: EM_AARCH64, EM_X86_64
failed = False
print(f"==> {len(zips)} function(s), {arch}:")
for path in zips:
    problems = []
    if not os.path.isfile(path):
        print(f"  {path}: missing")
        failed = True
        continue
    with zipfile.ZipFile(path) as z:
        names = z.namelist()
        if names != ["bootstrap"]:
            problems.append(f"holds {names}, not just bootstrap")
        data = z.read("bootstrap") if "bootstrap" in names else b""
        mode = z.getinfo("bootstrap").external_attr >> 16 if data else 0
    if data[:4] != b"\x7fELF":
        problems.append("bootstrap is not an ELF executable")
    elif int.from_bytes(data[18:20], "little") != machine:
        problems.append(f"bootstrap is not built for {arch}")
    if data and not mode & 0o111:
        problems.append("bootstrap is not executable")
    versions = [tuple(map(int, v.split(b"."))) for v in re.findall(rb"GLIBC_(2\.[0-9]+(?:\.[0-9]+)?)\x00", data)]
    glibc = max(versions, default=(0,))
    if glibc > max_glibc:
        problems.append(f"needs glibc {'.'.join(map(str, glibc))}, provided.al2023 has {sys.argv[2]}")
    size = os.path.getsize(path)
    print(f"  {path}  {size / 1e6:.1f} MB zipped, {len(data) / 1e6:.1f} MB bootstrap, "
          f"glibc >= {'.'.join(map(str, glibc))}" + ("".join(f"\n    ! {p}" for p in problems)))
    failed |= bool(problems)
sys.exit(1 if failed else 0)
EOF
echo "$arch" >target/lambda/ARCHITECTURE

# Start each bootstrap the way Lambda does and send it an unsigned request (needs the test
# venv tests/run makes, and zips for this machine's architecture).
if [ -x .venv/bin/python ]; then
  echo "==> smoke test (infra/tests/smoke_bootstrap.py)"
  .venv/bin/python infra/tests/smoke_bootstrap.py
fi
echo "==> built for $arch (target/lambda/ARCHITECTURE); next: infra/deploy.sh"
