# Shared by scripts/start and scripts/test: Debian packages and the virtualenv.
# shellcheck shell=bash

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${VRS_VENV:-$ROOT/.venv}"

# install_debian_packages SECTION...: apt-get the listed packages that are missing.
install_debian_packages() {
  local wanted=() package section="" sections=" $* "
  while read -r line; do
    case "$line" in
      "# run:"*) section=run ;;
      "# test:"*) section=test ;;
      "# bench:"*) section=bench ;;
      "#"*|"") ;;
      *) [[ "$sections" == *" $section "* ]] && wanted+=("$line") ;;
    esac
  done < "$ROOT/scripts/system-packages.txt"
  local missing=()
  for package in "${wanted[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  if ! command -v apt-get >/dev/null; then
    echo "vrs: please install: ${missing[*]}" >&2
    return 0
  fi
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "vrs: installing Debian packages: ${missing[*]}" >&2
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# ensure_venv EXTRAS: a virtualenv with the project installed (editable).
ensure_venv() {
  local extras="$1" python="${PYTHON:-python3}"
  if [ ! -x "$VENV/bin/python" ]; then
    "$python" -m venv "$VENV"
  fi
  "$VENV/bin/python" -m pip install -q --upgrade pip >/dev/null
  "$VENV/bin/python" -m pip install -q -e "$ROOT$extras"
}
