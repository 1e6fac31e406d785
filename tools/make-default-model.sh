#!/usr/bin/env bash
# Regenerate the shipped default model from ../shared/data, with edgebert's own trainer:
#   vocabulary -> masked-LM pretraining on the shared tasks' training text (5 epochs) -> three
#   SST-2 teachers (1 epoch each, seeds 1 3 4, side by side) -> their weight average (model
#   soup) -> pruned, span-trained student from the average, distilled from the teachers' mean
#   logits, embeddings frozen -> off-ramps -> exit predictor -> thresholds; then CoLA and MRPC
#   on the same frozen embeddings -> one AdaptivFloat8 bundle.
# Time on two cores with nothing else running, end to end: 57 min 26 s (pretraining 34.6 min,
# teachers 7, student 10.5, the rest 5).
# usage: tools/make-default-model.sh [WORK_DIR] [OUT_DIR]      (defaults: build/default-model, models)
# Output: OUT_DIR/default.ebb; the HuggingFace checkpoints of every phase stay in WORK_DIR.
# Each step skips itself when its output exists, so an interrupted run resumes; a step that
# was interrupted mid-way resumes from its own checkpoint (--resume).
# PRETRAIN=0: no pretraining, the teacher from scratch (2 epochs): the earlier, simpler recipe
# (80.85 % on SST-2 dev; docs/experiments.md).
# BACKBONE=DIR: the teachers start from that pretrained masked-LM checkpoint (a HuggingFace
# ALBERT directory with its spiece.model, such as tools/make-backbone.sh writes) instead of
# this script's own vocabulary and GLUE-text pretraining.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
work=${1:-$here/build/default-model}
out=${2:-$here/models}
data=${EB_SHARED_DATA:-$here/../shared/data}
glue=$data/glue
E=${EDGEBERT:-$here/build/edgebert}
[ -x "$E" ] || { echo "make-default-model: build first (make)" >&2; exit 1; }
mkdir -p "$work" "$out"
t0=$(date +%s)
log() { echo "== $(date +%H:%M:%S) (+$(( ($(date +%s) - t0) / 60 )) min) $*" >&2; }

train() { # train OUT_DIR args...: run unless OUT_DIR/model.safetensors exists; resume if begun
  local dir=$1; shift
  if [ -f "$dir/.done" ]; then log "skip $(basename "$dir") (done)"; return; fi
  local resume=""; [ -f "$dir/train_state.safetensors" ] && resume=--resume
  "$E" train "$@" --out "$dir" $resume
  touch "$dir/.done"
}

mlm=${BACKBONE:-$work/mlm}
if [ -n "${BACKBONE:-}" ]; then
  [ -f "$BACKBONE/model.safetensors" ] && [ -f "$BACKBONE/spiece.model" ] ||
    { echo "make-default-model: BACKBONE=$BACKBONE has no model.safetensors or spiece.model" >&2; exit 1; }
  [ "${PRETRAIN:-1}" = 1 ] || { echo "make-default-model: BACKBONE and PRETRAIN=0 exclude each other" >&2; exit 1; }
  log "the pretrained backbone $BACKBONE"
else
  log "vocabulary"
  [ -f "$work/vocab/spiece.model" ] || TEXT=glue "$here/tools/train-vocab.sh" "$work/vocab" 8000
  cp "$here/tools/default-config.json" "$work/config.json"
fi

if [ "${PRETRAIN:-1}" = 1 ]; then
  if [ -z "${BACKBONE:-}" ]; then
    log "masked-LM pretraining on the training text of the shared tasks"
    [ -f "$work/corpus.txt" ] || /usr/bin/python3 "$here/tools/make-mlm-corpus.py" "$glue" "$work/corpus.txt"
    train "$work/mlm" --config "$work/config.json" --tokenizer "$work/vocab/spiece.model" \
      --phase mlm --data "$work/corpus.txt" --epochs 5 --lr 5e-4 --batch 32 --max-len 128 \
      --warmup 0.06 --seed 0 --log-every 200
  fi
  # Teachers from the pretrained model (seeds $TEACHER_SEEDS, default 1 3 4), one thread each, side by side; their
  # weight average (`edgebert average`, a model soup) is the teacher the student starts from,
  # and their mean logits are what it distils.
  log "SST-2 teachers (1 epoch each from the pretrained model, seeds ${TEACHER_SEEDS:-1 3 4}, in parallel)"
  pids=() teachers=()
  for seed in ${TEACHER_SEEDS:-1 3 4}; do
    teachers+=("$work/teacher-s$seed")
    train "$work/teacher-s$seed" --init "$mlm" --task sst2 \
      --data "$glue/SST-2/train.tsv" --dev "$glue/SST-2/dev.tsv" \
      --epochs 1 --lr 5e-4 --batch 32 --max-len 64 --seed "$seed" --log-every 100 \
      --hidden-dropout 0.1 --ema 0.999 --threads 1 \
      > "$work/teacher-s$seed.log" 2>&1 &
    pids+=($!)
  done
  for i in "${!pids[@]}"; do
    wait "${pids[$i]}" || { tail -n 5 "${teachers[$i]}.log" >&2; exit 1; }
    grep -h "dev accuracy" "${teachers[$i]}.log" | tail -n 1 >&2
  done
  log "the teachers' weight average"
  [ -f "$work/teacher/.done" ] || { "$E" average --out "$work/teacher" "${teachers[@]}" && touch "$work/teacher/.done"; }
  "$E" eval -m "$work/teacher" --task sst2 --data "$glue/SST-2/dev.tsv" --policy base | grep accuracy >&2
  teacher_list=$(IFS=,; echo "${teachers[*]}")
  student_opts=(--epochs 2 --ema 0.999 --emb-prune 15)
else
  log "SST-2 teacher (from scratch)"
  train "$work/teacher" --config "$work/config.json" --tokenizer "$work/vocab/spiece.model" \
    --task sst2 --data "$glue/SST-2/train.tsv" --dev "$glue/SST-2/dev.tsv" \
    --epochs 2 --lr 5e-4 --batch 32 --max-len 64 --seed 1 --log-every 100
  student_opts=(--epochs 1 --emb-prune 60)
  teacher_list=$work/teacher
fi

log "SST-2 student: KD, adaptive span, movement pruning, frozen and pruned embeddings"
train "$work/student" --init "$work/teacher" --teacher "$teacher_list" --task sst2 \
  --data "$glue/SST-2/train.tsv" --dev "$glue/SST-2/dev.tsv" \
  --lr 2e-4 --batch 32 --max-len 64 --seed 2 --log-every 100 \
  --kd-temperature 2 --kd-alpha 0.9 --span --span-ramp 8 --span-coeff 1e-3 --span-lr 0.1 \
  --prune movement --keep 0.5 --freeze-embeddings "${student_opts[@]}"

log "SST-2 off-ramps"
train "$work/sst2" --init "$work/student" --phase offramps --task sst2 \
  --data "$glue/SST-2/train.tsv" --dev "$glue/SST-2/dev.tsv" --epochs 1 --max-steps 1000 --lr 5e-4 \
  --batch 32 --max-len 64 --seed 3 --log-every 100

log "SST-2 exit predictor"
[ -f "$work/sst2/exit_lut.csv" ] || "$E" train --init "$work/sst2" --phase predictor --task sst2 \
  --data "$glue/SST-2/train.tsv" --out "$work/sst2" --predict-after 1 --epochs 3 --seed 4

for t in cola mrpc; do
  case $t in cola) d=CoLA; ep=2; ml=64 ;; mrpc) d=MRPC; ep=2; ml=128 ;; esac
  log "$d on the shared frozen embeddings"
  train "$work/$t-backbone" --init "$work/student" --task "$t" \
    --data "$glue/$d/train.tsv" --dev "$glue/$d/dev.tsv" --epochs $ep --lr 2e-4 --batch 32 \
    --max-len $ml --seed 5 --log-every 50 --span --span-ramp 8 --span-coeff 1e-3 --span-lr 0.1 \
    --prune magnitude --keep 0.5 --freeze-embeddings
  train "$work/$t" --init "$work/$t-backbone" --phase offramps --task "$t" \
    --data "$glue/$d/train.tsv" --dev "$glue/$d/dev.tsv" --epochs 1 --lr 5e-4 --batch 32 \
    --max-len $ml --seed 6 --log-every 50
  [ -f "$work/$t/exit_lut.csv" ] || "$E" train --init "$work/$t" --phase predictor --task "$t" \
    --data "$glue/$d/train.tsv" --out "$work/$t" --predict-after 1 --epochs 3 --seed 7
done

log "thresholds (1 %-pt drop on dev) written into each config.json"
"$E" calibrate -m "$work/sst2" --data "$glue/SST-2/dev.tsv" --task sst2 --save
"$E" calibrate -m "$work/cola" --data "$glue/CoLA/dev.tsv" --task cola --save
"$E" calibrate -m "$work/mrpc" --data "$glue/MRPC/dev.tsv" --task mrpc --save

log "default model: the three-task AdaptivFloat8 bundle (the HF checkpoints stay in $work)"
"$E" pack -o "$out/default.ebb" --task sst2="$work/sst2" --task cola="$work/cola" --task mrpc="$work/mrpc"
log "done: $out/default.ebb"
