#!/usr/bin/env bash
# Checks infra/template.yaml: cfn-lint must report no errors, checkov no failed checks (every
# skip carries its reason in the template's Metadata). Called by .ci/run.
#
# cfn-lint comes from the tests venv (tests/requirements.txt, via tests/env.sh); checkov pins
# many packages of its own, so it gets a venv of its own from tests/requirements-infra.txt,
# created once under $KMS_AUDIT_CACHE/venv-infra and rebuilt when that file changes.
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=tests/env.sh
source "$repo/tests/env.sh"
_kms_audit_venv venv-infra tests/requirements-infra.txt || { echo "infra-check: checkov venv setup failed" >&2; exit 1; }
checkov="$KMS_AUDIT_CACHE/venv-infra/bin/checkov"
template="$repo/infra/template.yaml"

echo "infra-check: cfn-lint $(cfn-lint --version 2>&1 | awk '{print $2}')" >&2
# Exit status of cfn-lint is a bit mask: 2 = errors, 4 = warnings, 8 = informational.
set +e
cfn-lint --format parseable "$template"
status=$?
set -e
if (( status & 2 )) || (( status & 1 )); then
  echo "infra-check: cfn-lint reported errors" >&2
  exit 1
fi
(( status == 0 )) || echo "infra-check: cfn-lint: warnings only (status $status)" >&2

echo "infra-check: checkov $("$checkov" --version 2>/dev/null)" >&2
"$checkov" --quiet --compact --framework cloudformation --file "$template" --skip-download --output cli
echo "infra-check: ok" >&2
