#!/usr/bin/env bash
# adapter-ALBERT on an SST-2 model: SST-2, CoLA and MRPC adapters (size R) trained on its
# frozen backbone, packed into one AdaptivFloat8 bundle with the backbone stored once, and the
# table of docs/adapters.md (accuracy, bytes per task, task-switch cost, energy per sentence)
# printed.
# usage: tools/make-adapter-models.sh [BACKBONE_DIR] [WORK_DIR] [OUT_DIR]
#   defaults: build/default-model/sst2 (or $EB_BACKBONE), build/adapter-models, models
#   The default backbone is the SST-2 checkpoint that tools/make-default-model.sh leaves in its
#   work directory: run that first to rebuild everything from the repository and ../shared/data.
# Environment: R (adapter size, 64), EPOCHS (CoLA and MRPC, 3), SST2_EPOCHS (1), MAX_STEPS (0 = whole epochs; > 0 stops each
# training after that many steps, for a quick measurement), LIMIT (dev examples, 0 = all).
# Each training skips itself when done and resumes when interrupted (as make-default-model.sh).
# Output: OUT_DIR/adapters.ebb, OUT_DIR/adapters-table.md (also printed).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
backbone=${1:-${EB_BACKBONE:-$here/build/default-model/sst2}}
work=${2:-$here/build/adapter-models}
out=${3:-$here/models}
data=${EB_SHARED_DATA:-$here/../shared/data}
glue=$data/glue
E=${EDGEBERT:-$here/build/edgebert}
R=${R:-64}
EPOCHS=${EPOCHS:-3}
MAX_STEPS=${MAX_STEPS:-0}
LIMIT=${LIMIT:-0}
[ -x "$E" ] || { echo "make-adapter-models: build first (make)" >&2; exit 1; }
[ -f "$backbone/model.safetensors" ] || { echo "make-adapter-models: no backbone at $backbone (run tools/make-default-model.sh first, or give BACKBONE_DIR)" >&2; exit 1; }
command -v jq >/dev/null || { echo "make-adapter-models: needs jq" >&2; exit 1; }
mkdir -p "$work" "$out"
log() { echo "== $(date +%H:%M:%S) $*" >&2; }

tasks="sst2 cola mrpc"
dirname_of() { case $1 in sst2) echo SST-2 ;; cola) echo CoLA ;; mrpc) echo MRPC ;; esac; }
maxlen_of() { case $1 in mrpc) echo 128 ;; *) echo 64 ;; esac; }
# the backbone was fine-tuned on SST-2 already: one epoch of adapters there
epochs_of() { case $1 in sst2) echo "${SST2_EPOCHS:-1}" ;; *) echo "$EPOCHS" ;; esac; }

for t in $tasks; do
  d=$(dirname_of $t); dir=$work/$t
  if [ -f "$dir/.done" ]; then log "skip $t adapters (done)"; continue; fi
  resume=""; [ -f "$dir/train_state.safetensors" ] && resume=--resume
  stop=""; [ "$MAX_STEPS" -gt 0 ] && stop="--max-steps $MAX_STEPS"
  log "$d: adapters of size $R on the frozen backbone $backbone"
  "$E" train --init "$backbone" --adapters "$R" --task $t \
    --data "$glue/$d/train.tsv" --dev "$glue/$d/dev.tsv" --epochs "$(epochs_of $t)" --lr 1e-3 \
    --batch 32 --max-len "$(maxlen_of $t)" --seed 11 --log-every 100 --out "$dir" $resume $stop
  if [ "$MAX_STEPS" -gt 0 ]; then
    cp "$backbone/spiece.model" "$dir/" 2>/dev/null || true
    log "$t: stopped after $MAX_STEPS steps (MAX_STEPS)"
  else
    touch "$dir/.done"
  fi
  log "$d: entropy thresholds (1 %-pt drop on dev)"
  climit=""; [ "$LIMIT" -gt 0 ] && climit="--limit $LIMIT"
  "$E" calibrate -m "$dir" --data "$glue/$d/dev.tsv" --task $t --save $climit >/dev/null
done

log "bundle: one backbone, per task adapters + head + off-ramps"
pack=()
for t in $tasks; do pack+=(--task "$t=$work/$t"); done
"$E" pack -o "$out/adapters.ebb" "${pack[@]}"
"$E" info -m "$out/adapters.ebb" --json > "$work/info.json"

limit=""; [ "$LIMIT" -gt 0 ] && limit="--limit $LIMIT"
{
  echo "| task | accuracy fp32 | accuracy AF8 (early exit) | mean exit layer | bytes per task | task switch, adapter: bytes / us / uJ | task switch, EdgeBERT (own encoder): bytes / us / uJ | energy per sentence (uJ, AF8) |"
  echo "|---|---|---|---|---|---|---|---|"
  for t in $tasks; do
    d=$(dirname_of $t)
    ev32=$("$E" eval -m "$out/adapters.ebb" --data "$glue/$d/dev.tsv" --task $t --precision fp32 \
           --max-len "$(maxlen_of $t)" $limit --json)
    ev=$("$E" eval -m "$out/adapters.ebb" --data "$glue/$d/dev.tsv" --task $t --precision af8 \
         --max-len "$(maxlen_of $t)" $limit --json)
    jq -r --argjson ev "$ev" --argjson ev32 "$ev32" --arg t "$t" '
      def pct(e): "\(e.accuracy * 1000 | round / 10) %" +
        (if e.matthews != null then " (MCC \(e.matthews * 1000 | round / 1000))" else "" end);
      def sw(c): "\(c.bytes) / \(c.time_us * 10 | round / 10) / \(c.energy_uj * 100 | round / 100)";
      (.tasks[] | select(.name == $t)) as $k |
      "| \($t) | \(pct($ev32)) | \(pct($ev)) | \($ev.mean_exit_layer * 100 | round / 100) | \($k.task_bytes) | \(sw($k.task_switch.adapter)) | \(sw($k.task_switch.edgebert)) | \($ev.mean_energy_uj * 100 | round / 100) |"' \
      "$work/info.json"
  done
  jq -r '"\nShared backbone (ReRAM): \(.shared_bytes) bytes; stored in all: \(.multi_task_bytes) bytes; " +
         "the same tasks as separate models: \(.separate_bytes) bytes; EdgeBERT arrangement " +
         "(embeddings shared, an encoder per task): \(.edgebert_bytes) bytes. " +
         "ReRAM: \(.accelerator_memory.adapter.reram_bytes) bytes, \(.accelerator_memory.adapter.reram_mm2 * 1000 | round / 1000) mm2 " +
         "(EdgeBERT: \(.accelerator_memory.edgebert.reram_bytes) bytes, \(.accelerator_memory.edgebert.reram_mm2 * 1000 | round / 1000) mm2). " +
         "Weight reads of one sentence through all \(.weight_reads_per_sentence.layers) layers: " +
         "\(.weight_reads_per_sentence.adapter.energy_uj * 100 | round / 100) uJ with the encoder in ReRAM " +
         "vs \(.weight_reads_per_sentence.edgebert.energy_uj * 100 | round / 100) uJ from SRAM (not in the energy column)."' "$work/info.json"
} | tee "$out/adapters-table.md"
log "done: $out/adapters.ebb, $out/adapters-table.md"
