#!/bin/sh
# Install the built steward: the binary, its links (pntadm, dhtadm, realmctl, lsrealm, realmchk,
# dtrealms), the man pages and the shell completions, under PREFIX (default /usr/local).
# Usage: scripts/install.sh [PREFIX]      (after 'npm run build'; DESTDIR is honoured)
set -eu
cd "$(dirname "$0")/.."
prefix=${1:-/usr/local}
root=${DESTDIR:-}$prefix
[ -x dist/steward ] || { echo "install.sh: dist/steward is missing: run 'npm run build' first" >&2; exit 1; }
mkdir -p "$root/bin" "$root/share/man/man1" "$root/share/bash-completion/completions" \
  "$root/share/zsh/site-functions" "$root/share/fish/vendor_completions.d"
cp dist/steward "$root/bin/steward.new" && mv -f "$root/bin/steward.new" "$root/bin/steward"
"$root/bin/steward" install-links --target "$prefix/bin/steward" "$root/bin"
cp dist/man/*.1 "$root/share/man/man1/"
cp dist/completion/steward.bash "$root/share/bash-completion/completions/steward"
cp dist/completion/_steward "$root/share/zsh/site-functions/_steward"
cp dist/completion/steward.fish "$root/share/fish/vendor_completions.d/steward.fish"
echo "installed steward under $root"
