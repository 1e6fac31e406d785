#!/usr/bin/env bash
# Pretrain the shipped movie-domain ALBERT backbone (models/movie-albert) with edgebert's own
# trainer, from ../shared/data:
#   1. a 16,000-piece SentencePiece vocabulary on the IMDB reviews and the GLUE training text
#      (tools/train-vocab.sh);
#   2. the pretraining text: the 49,000 first reviews of imdb/unsup.txt, the 25,000 reviews of
#      imdb/train.tsv (text only) and the GLUE training text (tools/make-mlm-corpus.py); the last
#      1,000 reviews of unsup.txt are held out as the masked-LM dev text; imdb/dev.tsv is never read;
#   3. masked-LM pretraining by progressive stacking (the shared layer is trained with 3
#      applications first, which learn sooner, then with 6; docs/training.md records the runs
#      and the plateau they sit on), shape tools/backbone-config.json (E 128, H 256, 6 layers sharing one
#      group, 4 heads, FFN 1024, 512 positions), 64-token windows, 15 % of the pieces chosen,
#      batch 32, bf16 products:
#        3a. 3 layers from scratch, peak lr 5e-4 (1,000 warm-up steps: post-LN encoders want a
#            long warm-up; then linear decay over P1_STEPS), stopped after P1_STOP steps
#            (P1_STOP = P1_STEPS runs the schedule out);
#        3b. the same tensors as 6 layers, peak lr 5e-4 (100 warm-up steps) over P2_STEPS;
#        3c. LONG_STEPS (0: none) steps on 256-token windows at 2.5e-4 for the positions up to 256;
#      over MPI on two ranks when build-mpi/edgebert and mpirun are there (make MPI=1), else in
#      one process on every core;
#   4. tools/ship-backbone.py: the checkpoint as a HuggingFace AlbertForMaskedLM directory in bf16.
# Every stage skips itself when its output exists; an interrupted pretraining resumes from its
# last checkpoint (every 250 steps), so the script can be stopped (Ctrl-C) and rerun in pieces.
# usage: tools/make-backbone.sh [WORK_DIR] [OUT_DIR]   (defaults: build/backbone, models/movie-albert)
# P1_STEPS, P1_STOP, P2_STEPS, LONG_STEPS: the steps of the phases (defaults: the shipped model's).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
work=${1:-$here/build/backbone}
out=${2:-$here/models/movie-albert}
data=${EB_SHARED_DATA:-$here/../shared/data}
imdb=$data/imdb
p1_steps=${P1_STEPS:-40000}
p1_stop=${P1_STOP:-$p1_steps}
p2_steps=${P2_STEPS:-4000}
long=${LONG_STEPS:-0}
[ -f "$imdb/unsup.txt" ] && [ -f "$imdb/train.tsv" ] || { echo "make-backbone: $imdb/unsup.txt or train.tsv missing" >&2; exit 1; }
mkdir -p "$work"
t0=$(date +%s)
log() { echo "== $(date +%H:%M:%S) (+$(( ($(date +%s) - t0) / 60 )) min) $*" >&2; }

log "vocabulary"
[ -f "$work/vocab/spiece.model" ] || "$here/tools/train-vocab.sh" "$work/vocab" 16000

log "pretraining text"
if [ ! -f "$work/unsup-train.txt" ]; then
  head -n 49000 "$imdb/unsup.txt" > "$work/unsup-train.txt.tmp"
  tail -n +49001 "$imdb/unsup.txt" > "$work/mlm-dev.txt"
  mv "$work/unsup-train.txt.tmp" "$work/unsup-train.txt"
fi
[ -f "$work/glue.txt" ] || /usr/bin/python3 "$here/tools/make-mlm-corpus.py" "$data/glue" "$work/glue.txt"
cp "$here/tools/backbone-config.json" "$work/config.json"

mpi=$here/build-mpi/edgebert
pretrain() { # pretrain OUT_DIR args...: run unless OUT_DIR/.done exists; resume if begun
  local dir=$1; shift
  if [ -f "$dir/.done" ]; then log "skip $(basename "$dir") (done)"; return; fi
  local args=(train --phase mlm --data "$work/unsup-train.txt,$imdb/train.tsv,$work/glue.txt"
              --task imdb --dev "$work/mlm-dev.txt" --out "$dir" --batch 32 --mlm-prob 0.15
              --precision bf16 --save-every 250 --log-every 100 "$@")
  [ -f "$dir/train_state.safetensors" ] && args+=(--resume)
  if [ -x "$mpi" ] && command -v mpirun >/dev/null && [ "$(nproc)" -ge 2 ]; then
    # OpenMPI refuses root without these; the ranks save and stop on SIGTERM within 30 s
    OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 \
      mpirun -np 2 --bind-to none --mca btl self,vader --mca oob_tcp_if_include lo \
      --mca odls_base_sigkill_timeout 30 -x OMP_NUM_THREADS=1 "$mpi" "${args[@]}" --threads 1
  else
    "${EDGEBERT:-$here/build/edgebert}" "${args[@]}"
  fi
  touch "$dir/.done"
}

saved_step() { # the step a checkpoint of DIR reached (0 when none): trainer.step in its state
  /usr/bin/python3 - "$1/train_state.safetensors" <<'PY'
import json, os, struct, sys
p = sys.argv[1]
if not os.path.exists(p):
    print(0); sys.exit()
with open(p, "rb") as f:
    n = struct.unpack("<Q", f.read(8))[0]
    t = json.loads(f.read(n))["trainer.step"]
    f.seek(8 + n + t["data_offsets"][0])
    print(int(struct.unpack("<f", f.read(4))[0]))
PY
}

log "masked-LM pretraining, 3 layers ($p1_stop of a $p1_steps-step schedule)"
sed 's/"num_hidden_layers": 6/"num_hidden_layers": 3/' "$work/config.json" > "$work/config-3.json"
rem=$((p1_stop - $(saved_step "$work/mlm3")))
[ "$rem" -gt 0 ] || touch "$work/mlm3/.done"
pretrain "$work/mlm3" --config "$work/config-3.json" --tokenizer "$work/vocab/spiece.model" \
  --max-len 64 --lr 5e-4 --warmup 1000 --epochs 3 --steps "$p1_steps" --max-steps "$rem" \
  --eval-every 2000 --seed 0
log "the same tensors as 6 layers ($p2_steps steps)"
if [ ! -f "$work/mlm6-init/model.safetensors" ]; then
  mkdir -p "$work/mlm6-init"
  cp "$work/mlm3/model.safetensors" "$work/mlm3/spiece.model" "$work/mlm6-init/"
  sed 's/"num_hidden_layers":[[:space:]]*3/"num_hidden_layers": 6/' "$work/mlm3/config.json" \
    > "$work/mlm6-init/config.json"
fi
pretrain "$work/mlm6" --init "$work/mlm6-init" --max-len 64 --lr 5e-4 --warmup 100 --epochs 3 \
  --steps "$p2_steps" --eval-every 1000 --seed 1
last=$work/mlm6
if [ "$long" -gt 0 ]; then
  log "masked-LM pretraining, 256-token windows ($long steps)"
  pretrain "$work/mlm" --init "$work/mlm6" --max-len 256 --lr 2.5e-4 --warmup 100 --epochs 1 \
    --steps "$long" --eval-every 1000 --seed 2
  last=$work/mlm
fi

log "the backbone in bf16"
/usr/bin/python3 "$here/tools/ship-backbone.py" "$last" "$out"
log "done: $out"
