# Sourced by tests/run and .ci/run: creates (once) and activates the pinned Python venvs the
# tests use, and points cargo at the shared target directory outside the clone.
# Venvs live under $KMS_AUDIT_CACHE (default ~/.cache/kms-audit) and are rebuilt when the
# requirements file changes.

KMS_AUDIT_CACHE=${KMS_AUDIT_CACHE:-$HOME/.cache/kms-audit}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$KMS_AUDIT_CACHE/target}
_repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

_kms_audit_venv() { # name requirements-file
  local dir="$KMS_AUDIT_CACHE/$1" req="$_repo/$2"
  local stamp
  stamp=$(sha256sum "$req" | cut -c1-16)
  if [ ! -f "$dir/.stamp-$stamp" ]; then
    echo "tests/env.sh: installing $2 into $dir" >&2
    rm -rf "$dir"
    python3 -m venv "$dir" >&2 || return 1
    "$dir/bin/pip" install --quiet --disable-pip-version-check -r "$req" >&2 || return 1
    touch "$dir/.stamp-$stamp"
  fi
}

_kms_audit_venv venv tests/requirements.txt || { echo "tests/env.sh: venv setup failed" >&2; return 1; }
export PATH="$KMS_AUDIT_CACHE/venv/bin:$PATH"
export VIRTUAL_ENV="$KMS_AUDIT_CACHE/venv"
