#!/usr/bin/env bash
# Robustness of adapter-ALBERT to compression of the shared weights, against fully fine-tuned
# models: every encoder matrix of each model is magnitude-pruned further (edgebert prune
# --keep K; the adapters, heads and off-ramps are left alone), then the dev set is evaluated
# with all layers at fp32 and at AdaptivFloat8. Pruning the same shared backbone the same way
# leaves it identical across the adapter tasks, so the pruned adapter models still share it.
# usage: tools/adapter-robustness.sh ADAPTER_WORK_DIR FULL_FT_WORK_DIR [OUT.md]
#   ADAPTER_WORK_DIR: make-adapter-models.sh's WORK_DIR (its sst2/, cola/, mrpc/)
#   FULL_FT_WORK_DIR: make-default-model.sh's WORK_DIR (its sst2/, cola/, mrpc/)
# Environment: KEEPS (kept fractions, "0.5 0.35 0.25 0.15"), LIMIT (dev examples, 0 = all).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
ad=${1:?usage: adapter-robustness.sh ADAPTER_WORK_DIR FULL_FT_WORK_DIR [OUT.md]}
ft=${2:?usage: adapter-robustness.sh ADAPTER_WORK_DIR FULL_FT_WORK_DIR [OUT.md]}
outmd=${3:-/dev/null}
data=${EB_SHARED_DATA:-$here/../shared/data}
glue=$data/glue
E=${EDGEBERT:-$here/build/edgebert}
KEEPS=${KEEPS:-"0.5 0.35 0.25 0.15"}
LIMIT=${LIMIT:-0}
[ -x "$E" ] || { echo "adapter-robustness: build first (make)" >&2; exit 1; }
command -v jq >/dev/null || { echo "adapter-robustness: needs jq" >&2; exit 1; }
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
dirname_of() { case $1 in sst2) echo SST-2 ;; cola) echo CoLA ;; mrpc) echo MRPC ;; esac; }
maxlen_of() { case $1 in mrpc) echo 128 ;; *) echo 64 ;; esac; }
limit=""; [ "$LIMIT" -gt 0 ] && limit="--limit $LIMIT"
metric() { # the task's GLUE figure from an eval --json object, in %
  jq -r 'if .matthews != null then "\(.accuracy * 1000 | round / 10) / MCC \(.matthews * 1000 | round / 10)"
         elif .f1 != null then "\(.accuracy * 1000 | round / 10) / F1 \(.f1 * 1000 | round / 10)"
         else "\(.accuracy * 1000 | round / 10)" end'
}
{
  echo "| kept encoder weights | task | adapters fp32 | adapters AF8 | fully fine-tuned fp32 | fully fine-tuned AF8 |"
  echo "|---|---|---|---|---|---|"
  for k in $KEEPS; do
    for t in sst2 cola mrpc; do
      d=$(dirname_of $t); row="| $k | $t |"
      for kind in ad ft; do
        src=$([ $kind = ad ] && echo "$ad/$t" || echo "$ft/$t")
        [ -f "$src/model.safetensors" ] || { echo "adapter-robustness: $src missing" >&2; exit 1; }
        m=$tmp/$kind-$t-$k
        "$E" prune --in "$src" --out "$m" --keep "$k" >/dev/null
        for p in fp32 af8; do
          r=$("$E" eval -m "$m" --data "$glue/$d/dev.tsv" --task $t --policy base --precision $p \
               --max-len "$(maxlen_of $t)" $limit --json | metric)
          row="$row $r |"
        done
        rm -rf "$m"
      done
      echo "$row"
      echo "adapter-robustness: keep $k $t done" >&2
    done
  done
} | tee "$outmd"
