#!/usr/bin/env bash
# Train the shipped SentencePiece unigram vocabulary on the training text of the shared
# GLUE tasks (SST-2, CoLA, MRPC, RTE), after ALBERT's own preprocessing (whitespace collapse,
# ``/'' -> ", NFKD without combining marks, lower case), with ALBERT's special pieces:
# 0 <pad>, 1 <unk>, 2 [CLS], 3 [SEP], 4 [MASK].
# usage: tools/train-vocab.sh OUT_DIR [VOCAB_SIZE]   (needs Debian's sentencepiece: spm_train)
set -euo pipefail
out=${1:?usage: train-vocab.sh OUT_DIR [VOCAB_SIZE]}
size=${2:-8000}
data=${EB_SHARED_DATA:-$(dirname "$0")/../../shared/data}
glue="$data/glue"
[ -f "$glue/SST-2/train.tsv" ] || { echo "train-vocab: $glue/SST-2/train.tsv missing" >&2; exit 1; }
command -v spm_train >/dev/null || { echo "train-vocab: spm_train missing (apt-get install sentencepiece)" >&2; exit 1; }
mkdir -p "$out"
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
/usr/bin/python3 - "$glue" > "$tmp/text.txt" <<'PY'
import sys, unicodedata
g = sys.argv[1]
def prep(s):
    s = " ".join(s.strip().split()).replace("``", '"').replace("''", '"')
    s = unicodedata.normalize("NFKD", s)
    s = "".join(c for c in s if not unicodedata.combining(c))
    return s.lower()
def rows(path, header=True, enc="utf-8-sig"):
    with open(path, encoding=enc) as f:
        lines = f.read().split("\n")
    return [l.split("\t") for l in (lines[1:] if header else lines) if l]
for r in rows(g + "/SST-2/train.tsv"): print(prep(r[0]))
for r in rows(g + "/CoLA/train.tsv", header=False): print(prep(r[3]))
for r in rows(g + "/MRPC/train.tsv"): print(prep(r[3])); print(prep(r[4]))
for r in rows(g + "/RTE/train.tsv"): print(prep(r[1])); print(prep(r[2]))
PY
spm_train --input="$tmp/text.txt" --model_prefix="$tmp/spiece" --vocab_size="$size" \
  --model_type=unigram --character_coverage=0.9999 --pad_id=0 --unk_id=1 --bos_id=-1 --eos_id=-1 \
  --control_symbols='[CLS],[SEP],[MASK]' --num_threads=1 --input_sentence_size=0 \
  --shuffle_input_sentence=false --minloglevel=1 >/dev/null 2>"$tmp/log" || { cat "$tmp/log" >&2; exit 1; }
cp "$tmp/spiece.model" "$out/spiece.model"
echo "train-vocab: wrote $out/spiece.model ($size pieces)"
