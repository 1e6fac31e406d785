#!/usr/bin/env bash
# Train a SentencePiece unigram vocabulary with ALBERT's special pieces
# (0 <pad>, 1 <unk>, 2 [CLS], 3 [SEP], 4 [MASK]) after ALBERT's own preprocessing
# (whitespace collapse, ``/'' -> ", NFKD without combining marks, lower case).
# Text: the IMDB reviews (unsup.txt and the train.tsv reviews, cut into sentences) and the
# training text of the shared GLUE tasks (SST-2, CoLA, MRPC, RTE, STS-B); TEXT=glue trains
# on the GLUE text alone (the vocabulary of the earlier shipped model).
# usage: tools/train-vocab.sh OUT_DIR [VOCAB_SIZE]   (needs Debian's sentencepiece: spm_train)
set -euo pipefail
out=${1:?usage: train-vocab.sh OUT_DIR [VOCAB_SIZE]}
size=${2:-16000}
data=${EB_SHARED_DATA:-$(dirname "$0")/../../shared/data}
[ -f "$data/glue/SST-2/train.tsv" ] || { echo "train-vocab: $data/glue/SST-2/train.tsv missing" >&2; exit 1; }
text=${TEXT:-imdb}
if [ "$text" = imdb ] && [ ! -f "$data/imdb/unsup.txt" ]; then
  echo "train-vocab: $data/imdb/unsup.txt missing (TEXT=glue trains on the GLUE text alone)" >&2; exit 1
fi
command -v spm_train >/dev/null || { echo "train-vocab: spm_train missing (apt-get install sentencepiece)" >&2; exit 1; }
mkdir -p "$out"
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
/usr/bin/python3 - "$data" "$text" > "$tmp/text.txt" <<'PY'
import re, sys, unicodedata
d, text = sys.argv[1], sys.argv[2]
def prep(s):
    s = " ".join(s.strip().split()).replace("``", '"').replace("''", '"')
    s = unicodedata.normalize("NFKD", s)
    s = "".join(c for c in s if not unicodedata.combining(c))
    return s.lower()
def rows(path, header=True):
    with open(path, encoding="utf-8-sig") as f:
        lines = f.read().split("\n")
    return [l.split("\t") for l in (lines[1:] if header else lines) if l]
g = d + "/glue"
for r in rows(g + "/SST-2/train.tsv"): print(prep(r[0]))
for r in rows(g + "/CoLA/train.tsv", header=False): print(prep(r[3]))
for r in rows(g + "/MRPC/train.tsv"): print(prep(r[3])); print(prep(r[4]))
for r in rows(g + "/RTE/train.tsv"): print(prep(r[1])); print(prep(r[2]))
if text == "imdb":
    for r in rows(g + "/STS-B/train.tsv"): print(prep(r[7])); print(prep(r[8]))
    # reviews are long: one sentence a line keeps each under spm_train's line limit
    cut = re.compile(r"(?<=[.!?])\s+")
    with open(d + "/imdb/unsup.txt", encoding="utf-8") as f:
        docs = [l for l in f.read().split("\n") if l]
    docs += [r[0] for r in rows(d + "/imdb/train.tsv")]
    for doc in docs:
        for s in cut.split(prep(doc)):
            if s: print(s)
PY
spm_train --input="$tmp/text.txt" --model_prefix="$tmp/spiece" --vocab_size="$size" \
  --model_type=unigram --character_coverage=0.9999 --pad_id=0 --unk_id=1 --bos_id=-1 --eos_id=-1 \
  --control_symbols='[CLS],[SEP],[MASK]' --num_threads=2 --input_sentence_size=2000000 \
  --shuffle_input_sentence=true --seed_sentencepiece_size=1000000 --minloglevel=1 \
  >/dev/null 2>"$tmp/log" || { cat "$tmp/log" >&2; exit 1; }
cp "$tmp/spiece.model" "$out/spiece.model"
echo "train-vocab: wrote $out/spiece.model ($size pieces, text: $text)"
