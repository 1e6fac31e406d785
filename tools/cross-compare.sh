#!/usr/bin/env bash
# The same models and sentences through the x86 build and the cross build (emulated):
# labels and exit layers must be identical; fp32 logits within 1e-3 (relative to 1 + |logit|:
# the x86 build sums in other orders and uses SIMD GELU/LayerNorm, six layers deep); af8 logits
# are AdaptivFloat8-quantised outputs, where an upstream difference in the last fp32 bit can
# flip one rounding, so for af8 only labels and exit layers must agree (the largest logit
# difference is printed).
# Models: a random bundle in the shipped architecture (tools/default-config.json shapes,
# written by tests/py/tiny_model.py) at fp32 and af8, and models/default.ebb when present.
#   BUILD  cross build folder (build-aarch64); QEMU  emulator command line
# Prints "N passed, N failed" at the end.
set -euo pipefail
BUILD=${BUILD:-build-aarch64}
QEMU=${QEMU:-qemu-aarch64 -L /usr/aarch64-linux-gnu}
cd "$(dirname "$0")/.."
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1
ARM_LIBS=/usr/lib/aarch64-linux-gnu:/lib/aarch64-linux-gnu
PY=/usr/bin/python3
make -s ARCH= BUILD=build tool >/dev/null
work=$(mktemp -d /tmp/eb_cross_XXXXXX)
trap 'rm -rf "$work"' EXIT
$PY - "$work" <<'PYEOF'
import sys
sys.path.insert(0, "tests/py")
import tiny_model
w = sys.argv[1]
tiny_model.make_model(w + "/m", spiece=None, layers=6, vocab=8000, E=128, H=256, I=1024, heads=4,
                      P=128, labels=2, seed=3)
with open(w + "/sentences.txt", "w") as f:
    f.write("\n".join(tiny_model.SENTENCES) + "\n")
PYEOF
build/edgebert pack -o "$work/rand.ebb" --task sst2="$work/m" >/dev/null 2>&1
models=("$work/rand.ebb")
[ -f models/default.ebb ] && models+=(models/default.ebb)
pass=0 fail=0
for m in "${models[@]}"; do
  for prec in fp32 af8; do
    for pol in base ee; do
      args=(classify -m "$m" --json --precision $prec --policy $pol)
      build/edgebert "${args[@]}" < "$work/sentences.txt" > "$work/x86.jsonl"
      LD_LIBRARY_PATH=$ARM_LIBS $QEMU "$BUILD/edgebert" "${args[@]}" < "$work/sentences.txt" > "$work/arm.jsonl"
      if $PY - "$work/x86.jsonl" "$work/arm.jsonl" "$prec" <<'PYEOF'
import json, sys
a = [json.loads(l) for l in open(sys.argv[1])]
b = [json.loads(l) for l in open(sys.argv[2])]
assert len(a) == len(b) and a, "different sentence counts %d vs %d" % (len(a), len(b))
worst = 0.0
for i, (x, y) in enumerate(zip(a, b)):
    assert x["label"] == y["label"], "sentence %d: label %s vs %s" % (i, x["label"], y["label"])
    assert x["exit_layer"] == y["exit_layer"], "sentence %d: exit layer %d vs %d" % (i, x["exit_layer"], y["exit_layer"])
    for p, q in zip(x["logits"], y["logits"]):
        d = abs(p - q) / (1 + abs(p))
        worst = max(worst, d)
        assert sys.argv[3] != "fp32" or d <= 1e-3, "sentence %d: logit %.7g vs %.7g" % (i, p, q)
print("  %d sentences identical labels and exits, max logit difference %.2g" % (len(a), worst))
PYEOF
      then pass=$((pass + 1)); echo "PASS x86 == aarch64: $(basename "$m") $prec $pol"
      else fail=$((fail + 1)); echo "FAIL x86 != aarch64: $(basename "$m") $prec $pol"; fi
    done
  done
done
echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
