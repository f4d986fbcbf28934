#!/usr/bin/env bash
# Builds the binaries of the real test cluster from the Go module proxy, pinned, and caches them
# by version under ${XDG_CACHE_HOME:-~/.cache}/fhirgate so every clone on this machine (a CI clone
# included) reuses them:
#   kubernetes-v<K8S>/bin/{kube-apiserver,kubectl}   one wrapper module, one `go build`
#   kine-v<KINE>/bin/kine                            etcd API on SQLite, pure Go (CGO_ENABLED=0)
#   cluster-v<K8S>-kine-v<KINE>/bin/                 symlinks to the three, printed on stdout
#
#   scripts/cluster/build.sh            build what is missing (idempotent) and print the bin dir
#
# Why a wrapper module: k8s.io/kubernetes requires its staging modules (k8s.io/api, …) at v0.0.0
# and points them at ./staging with `replace`, which only works inside its own repository. The
# proxy serves each staging module as v0.<minor>.<patch>, so the wrapper replaces every module
# named in kubernetes' own replace block with that version. The list is read from the downloaded
# go.mod, never typed by hand, so a new staging module cannot be missed.
#
# Why our own kubectl: kubectl supports one minor version of skew; the machine's kubectl is older.
#
# A cached binary is trusted only when it runs and reports the pinned version and its stamp file
# matches this recipe. Two concurrent runs are serialized with flock; the second one finds the
# work done. Compiler output goes to a log file next to the binaries, never to the terminal.
set -euo pipefail

K8S_VERSION="${K8S_VERSION:-1.35.4}"   # newest v1.35 patch the Go module proxy serves
KINE_VERSION="${KINE_VERSION:-0.17.5}"
# Bump when the build recipe (flags, layout) changes, so cached binaries built the old way are
# rebuilt instead of trusted.
RECIPE=1
CACHE="${FHIRGATE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/fhirgate}"

# The compile takes minutes on a small machine: keep it out of the way of interactive work.
NICE=(nice -n "${CLUSTER_BUILD_NICE:-19}")
export CGO_ENABLED=0 GOTOOLCHAIN="${GOTOOLCHAIN:-local}" GOFLAGS="${GOFLAGS:-} -buildvcs=false"

log() { printf 'cluster-build: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }

command -v go >/dev/null || die "go is required (the Go toolchain builds kube-apiserver and kine)"
command -v flock >/dev/null || die "flock is required"

[[ "$K8S_VERSION" =~ ^([0-9]+)\.([0-9]+)\.([0-9]+)$ ]] || die "K8S_VERSION must look like 1.35.4"
K8S_MAJOR="${BASH_REMATCH[1]}"
K8S_MINOR="${BASH_REMATCH[2]}"
K8S_PATCH="${BASH_REMATCH[3]}"
STAGING_VERSION="v0.${K8S_MINOR}.${K8S_PATCH}"
[[ "$KINE_VERSION" =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]] || die "KINE_VERSION must look like 0.17.5"

K8S_DIR="$CACHE/kubernetes-v$K8S_VERSION"
KINE_DIR="$CACHE/kine-v$KINE_VERSION"
BIN_DIR="$CACHE/cluster-v$K8S_VERSION-kine-v$KINE_VERSION/bin"

k8s_stamp() { printf 'kubernetes v%s recipe %s\n' "$K8S_VERSION" "$RECIPE"; }
kine_stamp() { printf 'kine v%s recipe %s\n' "$KINE_VERSION" "$RECIPE"; }

# --- verification: run each binary and compare what it says with the pinned version ------------

k8s_ok() { # $1 = bin dir
  [[ -x "$1/kube-apiserver" && -x "$1/kubectl" ]] || return 1
  [[ "$("$1/kube-apiserver" --version 2>/dev/null)" == "Kubernetes v$K8S_VERSION" ]] || return 1
  # Capture, then match: `| grep -q` would SIGPIPE the writer and fail under pipefail.
  local out
  out="$("$1/kubectl" version --client 2>/dev/null)" || return 1
  grep -qx "Client Version: v$K8S_VERSION" <<<"$out"
}

kine_ok() { # $1 = bin dir
  [[ -x "$1/kine" ]] || return 1
  local out
  out="$("$1/kine" --version 2>/dev/null)" || return 1
  grep -q "version v$KINE_VERSION " <<<"$out"
}

cached() { # $1 = component dir, $2 = expected stamp, $3 = verifier
  [[ -f "$1/stamp" && "$(cat "$1/stamp")" == "$2" ]] && "$3" "$1/bin"
}

lock() { # one lock per component: building kine does not wait for the kube-apiserver compile
  mkdir -p "$CACHE"
  exec 9>"$CACHE/.lock-$1"
  flock 9
}
unlock() { flock -u 9; exec 9>&-; }

# Builds into bin.new, verifies, then swaps it in and writes the stamp last, so a reader that
# does not hold the lock never trusts a half-written directory.
install_bin() { # $1 = component dir, $2 = stamp, $3 = verifier
  "$3" "$1/bin.new" || die "freshly built binaries in $1/bin.new failed verification (see $1/build.log)"
  rm -rf "$1/bin" "$1/stamp"
  mv "$1/bin.new" "$1/bin"
  "$2" >"$1/stamp"
}

# --- kube-apiserver + kubectl --------------------------------------------------------------------

# Writes the wrapper module's go.mod: require kubernetes, replace every staging module it names.
write_k8s_wrapper() { # $1 = src dir
  local mod replaces
  mod="$(go mod download -json "k8s.io/kubernetes@v$K8S_VERSION" | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",\{0,1\}$/\1/p')"
  [[ -f "$mod" ]] || die "could not download k8s.io/kubernetes@v$K8S_VERSION from the module proxy"
  # Lines of the form `k8s.io/x => ./staging/src/k8s.io/x` inside the `replace (` block.
  replaces="$(awk '/^replace \($/{in_block=1; next} in_block && /^\)$/{in_block=0} in_block && $2 == "=>" && $3 ~ /^\.\/staging\// {print $1}' "$mod")"
  [[ -n "$replaces" ]] || die "no staging replace block found in $mod"
  {
    printf '// Generated by scripts/cluster/build.sh: builds kube-apiserver and kubectl v%s\n' "$K8S_VERSION"
    printf '// from the module proxy, which serves the staging modules as %s.\n' "$STAGING_VERSION"
    printf 'module fhirgate.local/cluster/kubernetes\n\n'
    grep -m1 '^go ' "$mod"
    # Keep kubernetes' own runtime defaults (GODEBUG) for the binaries built here.
    grep '^godebug ' "$mod" || true
    printf '\nrequire k8s.io/kubernetes v%s\n\nreplace (\n' "$K8S_VERSION"
    while read -r m; do printf '\t%s => %s %s\n' "$m" "$m" "$STAGING_VERSION"; done <<<"$replaces"
    printf ')\n\ntool (\n\tk8s.io/kubernetes/cmd/kube-apiserver\n\tk8s.io/kubernetes/cmd/kubectl\n)\n'
  } >"$1/go.mod"
  log "wrapper module replaces $(wc -l <<<"$replaces") staging modules with $STAGING_VERSION"
}

k8s_ldflags() {
  local pkg flags="-s -w"
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    flags+=" -X $pkg.gitVersion=v$K8S_VERSION -X $pkg.gitMajor=$K8S_MAJOR -X $pkg.gitMinor=$K8S_MINOR"
    flags+=" -X $pkg.gitTreeState=clean"
  done
  printf '%s' "$flags"
}

build_k8s() {
  cached "$K8S_DIR" "$(k8s_stamp)" k8s_ok && return
  lock "kubernetes-v$K8S_VERSION"
  if cached "$K8S_DIR" "$(k8s_stamp)" k8s_ok; then unlock; return; fi
  log "building kube-apiserver and kubectl v$K8S_VERSION (several minutes on 2 cores; log: $K8S_DIR/build.log)"
  local start=$SECONDS src="$K8S_DIR/src"
  rm -rf "$src" "$K8S_DIR/bin.new" && mkdir -p "$src" "$K8S_DIR/bin.new"
  write_k8s_wrapper "$src"
  (
    cd "$src"
    go mod tidy
    "${NICE[@]}" go build -trimpath -ldflags "$(k8s_ldflags)" -o "$K8S_DIR/bin.new/" \
      k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kubectl
  ) >"$K8S_DIR/build.log" 2>&1 || { tail -n 30 "$K8S_DIR/build.log" >&2; die "kubernetes build failed"; }
  install_bin "$K8S_DIR" k8s_stamp k8s_ok
  log "kube-apiserver and kubectl v$K8S_VERSION built in $((SECONDS - start))s"
  unlock
}

# --- kine ----------------------------------------------------------------------------------------

build_kine() {
  cached "$KINE_DIR" "$(kine_stamp)" kine_ok && return
  lock "kine-v$KINE_VERSION"
  if cached "$KINE_DIR" "$(kine_stamp)" kine_ok; then unlock; return; fi
  log "building kine v$KINE_VERSION (log: $KINE_DIR/build.log)"
  local start=$SECONDS src="$KINE_DIR/src"
  rm -rf "$src" "$KINE_DIR/bin.new" && mkdir -p "$src" "$KINE_DIR/bin.new"
  (
    cd "$src"
    # kine has no replace directives, so a wrapper with one `tool` line pins it with its go.sum.
    printf 'module fhirgate.local/cluster/kine\n\ngo 1.24\n' >go.mod
    go get -tool "github.com/k3s-io/kine@v$KINE_VERSION"
    "${NICE[@]}" go build -trimpath \
      -ldflags "-s -w -X github.com/k3s-io/kine/pkg/version.Version=v$KINE_VERSION -X github.com/k3s-io/kine/pkg/version.GitCommit=module" \
      -o "$KINE_DIR/bin.new/kine" github.com/k3s-io/kine
  ) >"$KINE_DIR/build.log" 2>&1 || { tail -n 30 "$KINE_DIR/build.log" >&2; die "kine build failed"; }
  install_bin "$KINE_DIR" kine_stamp kine_ok
  log "kine v$KINE_VERSION built in $((SECONDS - start))s"
  unlock
}

# --- one bin dir for callers ---------------------------------------------------------------------

link_bin_dir() {
  mkdir -p "$BIN_DIR"
  local name target
  for name in kube-apiserver kubectl kine; do
    if [[ "$name" == kine ]]; then target="$KINE_DIR/bin/kine"; else target="$K8S_DIR/bin/$name"; fi
    # ln -sfn replaces the link atomically enough for readers: rename over the old one.
    ln -sfn "$target" "$BIN_DIR/.$name.$$" && mv -Tf "$BIN_DIR/.$name.$$" "$BIN_DIR/$name"
  done
}

build_kine
build_k8s
link_bin_dir
echo "$BIN_DIR"
