#!/usr/bin/env bash
# Run every test: each C test program (cmocka) and each Python reference test.
# Prints one closing line "N passed, N failed, N skipped" (test cases).
set -u
BUILD=${BUILD:-build}
cd "$(dirname "$0")/.."
pass=0 fail=0 skip=0 failed=()
export EB_BUILD="$BUILD"
for t in "$BUILD"/tests/test_*; do
  [ -x "$t" ] || continue
  name=$(basename "$t")
  out=$("$t" 2>&1); rc=$?
  p=$(printf '%s\n' "$out" | sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' | tail -1)
  f=$(printf '%s\n' "$out" | sed -n 's/^\[  FAILED  \] \([0-9]*\) test.*/\1/p' | tail -1)
  s=$(printf '%s\n' "$out" | sed -n 's/^\[  SKIPPED \] \([0-9]*\) test.*/\1/p' | tail -1)
  p=${p:-0}; f=${f:-0}; s=${s:-0}
  if [ $rc -ne 0 ] && [ "$f" = 0 ]; then f=1; fi
  pass=$((pass + p)); fail=$((fail + f)); skip=$((skip + s))
  if [ "$f" != 0 ]; then failed+=("$name"); printf '%s\n' "$out" | grep -vE '^\[ +(RUN|OK) +\]' | tail -40; fi
  printf '%-32s %3s passed %3s failed %3s skipped\n' "$name" "$p" "$f" "$s"
done
# Python reference tests: each prints "PASS name", "FAIL name" or "SKIP name: reason" lines.
PY=/usr/bin/python3
for t in tests/py/test_*.py; do
  [ -f "$t" ] || continue
  name=$(basename "$t")
  if [ ! -x "$PY" ]; then echo "$name: SKIP: /usr/bin/python3 missing"; skip=$((skip + 1)); continue; fi
  out=$("$PY" "$t" 2>&1); rc=$?
  p=$(printf '%s\n' "$out" | grep -c '^PASS')
  f=$(printf '%s\n' "$out" | grep -c '^FAIL')
  s=$(printf '%s\n' "$out" | grep -c '^SKIP')
  if [ $rc -ne 0 ] && [ "$f" = 0 ]; then f=1; fi
  pass=$((pass + p)); fail=$((fail + f)); skip=$((skip + s))
  if [ "$f" != 0 ]; then failed+=("$name"); printf '%s\n' "$out" | tail -40; fi
  printf '%s\n' "$out" | grep '^SKIP' | sed "s/^/  $name: /"
  printf '%-32s %3s passed %3s failed %3s skipped\n' "$name" "$p" "$f" "$s"
done
[ ${#failed[@]} -gt 0 ] && echo "failing: ${failed[*]}"
echo "$pass passed, $fail failed, $skip skipped"
[ "$fail" = 0 ]
