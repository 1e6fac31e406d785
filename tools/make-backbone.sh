#!/usr/bin/env bash
# Pretrain the shipped movie-domain ALBERT backbone (models/movie-albert) with edgebert's own
# trainer, from ../shared/data:
#   1. a 16,000-piece SentencePiece vocabulary on the IMDB reviews and the GLUE training text
#      (tools/train-vocab.sh);
#   2. the pretraining text: the 49,000 first reviews of imdb/unsup.txt, the 25,000 reviews of
#      imdb/train.tsv (text only) and the GLUE training text (tools/make-mlm-corpus.py); the last
#      1,000 reviews of unsup.txt are held out as the masked-LM dev text; imdb/dev.tsv is never read;
#   3. masked-LM pretraining (tools/backbone-config.json: E 128, H 256, 6 layers sharing one
#      group, 4 heads, FFN 1024, 512 positions), reviews cut into 256-token windows, 25 % of the
#      pieces chosen, batch 64, peak lr 1e-3, 6 % warm-up then linear decay, 4,900 steps, bf16
#      products; over MPI on two ranks when build-mpi/edgebert and mpirun are there (make MPI=1),
#      else in one process on every core;
#   4. tools/ship-backbone.py: the checkpoint as a HuggingFace AlbertForMaskedLM directory in bf16.
# Every stage skips itself when its output exists; an interrupted pretraining resumes from its
# last checkpoint (every 200 steps), so the script can be stopped (Ctrl-C) and rerun in pieces.
# usage: tools/make-backbone.sh [WORK_DIR] [OUT_DIR]   (defaults: build/backbone, models/movie-albert)
# STEPS=N changes the number of pretraining steps (the schedule is set by it).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
work=${1:-$here/build/backbone}
out=${2:-$here/models/movie-albert}
data=${EB_SHARED_DATA:-$here/../shared/data}
imdb=$data/imdb
steps=${STEPS:-4900}
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

log "masked-LM pretraining ($steps steps)"
if [ ! -f "$work/mlm/.done" ]; then
  args=(train --phase mlm --config "$work/config.json" --tokenizer "$work/vocab/spiece.model"
        --data "$work/unsup-train.txt,$imdb/train.tsv,$work/glue.txt" --task imdb
        --dev "$work/mlm-dev.txt" --out "$work/mlm" --batch 64 --max-len 256 --lr 1e-3
        --warmup 0.06 --mlm-prob 0.25 --precision bf16 --epochs 2 --steps "$steps"
        --eval-every 1000 --save-every 200 --log-every 50 --seed 0)
  [ -f "$work/mlm/train_state.safetensors" ] && args+=(--resume)
  mpi=$here/build-mpi/edgebert
  if [ -x "$mpi" ] && command -v mpirun >/dev/null && [ "$(nproc)" -ge 2 ]; then
    # OpenMPI refuses root without these; the ranks save and stop on SIGTERM within 30 s
    OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 \
      mpirun -np 2 --bind-to none --mca btl self,vader --mca oob_tcp_if_include lo \
      --mca odls_base_sigkill_timeout 30 -x OMP_NUM_THREADS=1 "$mpi" "${args[@]}" --threads 1
  else
    "${EDGEBERT:-$here/build/edgebert}" "${args[@]}"
  fi
  touch "$work/mlm/.done"
fi

log "the backbone in bf16"
/usr/bin/python3 "$here/tools/ship-backbone.py" "$work/mlm" "$out"
log "done: $out"
