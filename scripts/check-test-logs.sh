#!/usr/bin/env bash
# After the test run: no secret the tests use may appear in what the servers
# logged (target/test-logs/, written by tests/it/helpers.rs `capture_logs`).
# The secrets are the string constants of the tests whose names say they are
# one (…TOKEN, …SECRET, …KEY, …PASSWORD); a value found is reported by its
# constant's name only.
set -euo pipefail
cd "$(dirname "$0")/.."
logs=(target/test-logs/*.log)
if [ ! -e "${logs[0]}" ]; then
  echo "check-test-logs: no test logs in target/test-logs (run the tests first)" >&2
  exit 1
fi
lines=$(cat "${logs[@]}" | wc -l)
found=0; checked=0
while IFS=$'\t' read -r name value; do
  [ "${#value}" -ge 8 ] || continue
  checked=$((checked + 1))
  if grep -qF -- "$value" "${logs[@]}"; then
    echo "check-test-logs: the value of $name appears in the test logs" >&2
    found=1
  fi
done < <(grep -rhoE '(const|static) [A-Z0-9_]*(TOKEN|SECRET|KEY|PASSWORD)[A-Z0-9_]*: &str = "[^"]+"' tests src \
  | sed -E 's/^(const|static) ([A-Z0-9_]+): &str = "(.*)"$/\2\t\3/' \
  | grep -vE '^(FINGERPRINT_KEY|KEY_FILE)'$'\t' | sort -u)
echo "check-test-logs: $checked secrets looked for in $lines log lines"
[ "$checked" -gt 0 ] || { echo "check-test-logs: no secret constant found to look for" >&2; exit 1; }
exit $found
