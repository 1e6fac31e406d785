#!/usr/bin/env bash
# Regenerate the shipped default model from ../shared/data, with edgebert's own trainer:
#   vocabulary -> masked-LM pretraining on the shared tasks' training text (the embeddings
#   pruned to their 60th percentile while they train) -> SST-2 teacher -> pruned, span-trained
#   student with KD and the frozen embeddings -> off-ramps -> exit predictor -> thresholds;
#   CoLA and MRPC on the same frozen embeddings -> one AdaptivFloat8 bundle.
# usage: tools/make-default-model.sh [WORK_DIR] [OUT_DIR]      (defaults: build/default-model, models)
# Output: OUT_DIR/default.ebb; the HuggingFace checkpoints of every phase stay in WORK_DIR.
# Each step skips itself when its output exists, so an interrupted run resumes; a step that
# was interrupted mid-way resumes from its own checkpoint (--resume).
# OpenBLAS picks its kernels for this CPU: OPENBLAS_CORETYPE is unset here (the machines'
# environment pins "Haswell"; on AVX-512 CPUs "Cooperlake" trains about 1.4x faster).
# EB_KEEP_CORETYPE=1 keeps it.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
work=${1:-$here/build/default-model}
out=${2:-$here/models}
data=${EB_SHARED_DATA:-$here/../shared/data}
glue=$data/glue
E=${EDGEBERT:-$here/build/edgebert}
[ -x "$E" ] || { echo "make-default-model: build first (make)" >&2; exit 1; }
mkdir -p "$work" "$out"
log() { echo "== $(date +%H:%M:%S) $*" >&2; }

train() { # train OUT_DIR args...: run unless OUT_DIR/model.safetensors exists; resume if begun
  local dir=$1; shift
  if [ -f "$dir/.done" ]; then log "skip $(basename "$dir") (done)"; return; fi
  local resume=""; [ -f "$dir/train_state.safetensors" ] && resume=--resume
  "$E" train "$@" --out "$dir" $resume
  touch "$dir/.done"
}

[ "${EB_KEEP_CORETYPE:-0}" = 1 ] || unset OPENBLAS_CORETYPE

log "vocabulary and the masked-LM corpus"
[ -f "$work/vocab/spiece.model" ] || "$here/tools/train-vocab.sh" "$work/vocab" 8000
cp "$here/tools/default-config.json" "$work/config.json"
[ -f "$work/corpus.txt" ] || /usr/bin/python3 "$here/tools/make-mlm-corpus.py" "$glue" "$work/corpus.txt"

log "masked-LM pretraining (5 epochs; embeddings pruned to their 60th percentile on the way)"
train "$work/mlm" --config "$work/config.json" --tokenizer "$work/vocab/spiece.model" \
  --phase mlm --data "$work/corpus.txt" --epochs 5 --lr 5e-4 --batch 32 --max-len 128 \
  --warmup 0.06 --seed 0 --log-every 200 --emb-prune 60

log "SST-2 teacher (one epoch from the pretrained encoder)"
train "$work/teacher" --init "$work/mlm" --task sst2 \
  --data "$glue/SST-2/train.tsv" --dev "$glue/SST-2/dev.tsv" \
  --epochs 1 --lr 5e-4 --batch 32 --max-len 64 --seed 1 --log-every 100 \
  --hidden-dropout 0.1 --ema 0.999

log "SST-2 student: KD, adaptive span, movement pruning, frozen and pruned embeddings"
train "$work/student" --init "$work/teacher" --teacher "$work/teacher" --task sst2 \
  --data "$glue/SST-2/train.tsv" --dev "$glue/SST-2/dev.tsv" \
  --epochs 2 --lr 2e-4 --batch 32 --max-len 64 --seed 2 --log-every 100 \
  --kd-temperature 2 --kd-alpha 0.9 --span --span-ramp 8 --span-coeff 1e-3 --span-lr 0.1 \
  --prune movement --keep 0.5 --freeze-embeddings --emb-prune 60 --ema 0.999

# The rest runs as two one-thread legs side by side: SST-2's off-ramps and predictor; CoLA
# then MRPC on the shared frozen embeddings (new heads, magnitude pruning to 50 %).
sst2_leg() {
  log "SST-2 off-ramps"
  train "$work/sst2" --init "$work/student" --phase offramps --task sst2 \
    --data "$glue/SST-2/train.tsv" --dev "$glue/SST-2/dev.tsv" --epochs 1 --max-steps 1000 \
    --lr 5e-4 --batch 32 --max-len 64 --seed 3 --log-every 100 --threads 1
  log "SST-2 exit predictor"
  [ -f "$work/sst2/exit_lut.csv" ] || "$E" train --init "$work/sst2" --phase predictor \
    --task sst2 --data "$glue/SST-2/train.tsv" --out "$work/sst2" --predict-after 1 --epochs 3 \
    --seed 4 --threads 1
}
small_leg() {
  for t in cola mrpc; do
    case $t in cola) d=CoLA; ep=2; ml=64 ;; mrpc) d=MRPC; ep=2; ml=128 ;; esac
    log "$d on the shared frozen embeddings"
    train "$work/$t-backbone" --init "$work/student" --task "$t" \
      --data "$glue/$d/train.tsv" --dev "$glue/$d/dev.tsv" --epochs $ep --lr 2e-4 --batch 32 \
      --max-len $ml --seed 5 --log-every 50 --span --span-ramp 8 --span-coeff 1e-3 \
      --span-lr 0.1 --prune magnitude --keep 0.5 --freeze-embeddings --threads 1
    train "$work/$t" --init "$work/$t-backbone" --phase offramps --task "$t" \
      --data "$glue/$d/train.tsv" --dev "$glue/$d/dev.tsv" --epochs 1 --lr 5e-4 --batch 32 \
      --max-len $ml --seed 6 --log-every 50 --threads 1
    [ -f "$work/$t/exit_lut.csv" ] || "$E" train --init "$work/$t" --phase predictor \
      --task "$t" --data "$glue/$d/train.tsv" --out "$work/$t" --predict-after 1 --epochs 3 \
      --seed 7 --threads 1
  done
}
sst2_leg > "$work/sst2-leg.log" 2>&1 & p1=$!
small_leg > "$work/small-leg.log" 2>&1 & p2=$!
ok=1
wait $p1 || { echo "make-default-model: the SST-2 leg failed, see $work/sst2-leg.log" >&2; ok=0; }
wait $p2 || { echo "make-default-model: the CoLA/MRPC leg failed, see $work/small-leg.log" >&2; ok=0; }
[ $ok = 1 ] || exit 1

log "thresholds (1 %-pt drop on dev) written into each config.json"
"$E" calibrate -m "$work/sst2" --data "$glue/SST-2/dev.tsv" --task sst2 --save
"$E" calibrate -m "$work/cola" --data "$glue/CoLA/dev.tsv" --task cola --save
"$E" calibrate -m "$work/mrpc" --data "$glue/MRPC/dev.tsv" --task mrpc --save

log "default model: the three-task AdaptivFloat8 bundle (the HF checkpoints stay in $work)"
"$E" pack -o "$out/default.ebb" --task sst2="$work/sst2" --task cola="$work/cola" --task mrpc="$work/mrpc"
log "done: $out/default.ebb"
