#!/usr/bin/env python3
"""Write the masked-LM pretraining text of the shared GLUE tasks: one text per
line, a TAB between the two segments of a pair (the format of
`edgebert train --phase mlm`).  Training splits only (SST-2, CoLA, MRPC, RTE,
STS-B) plus the half of QNLI dev that is shared (no task here is evaluated on
it); the dev sets of the evaluated tasks stay out.  Repeated texts are kept
once.
usage: tools/make-mlm-corpus.py GLUE_DIR OUT.txt"""
import os
import sys


def rows(path, header=True):
    with open(path, encoding="utf-8-sig") as f:
        lines = f.read().split("\n")
    return [l.split("\t") for l in (lines[1:] if header else lines) if l.strip()]


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    g, out = sys.argv[1], sys.argv[2]
    texts = []
    src = [("SST-2/train.tsv", True, (0,)), ("CoLA/train.tsv", False, (3,)),
           ("MRPC/train.tsv", True, (3, 4)), ("RTE/train.tsv", True, (1, 2)),
           ("STS-B/train.tsv", True, (7, 8)), ("QNLI/dev_even.tsv", True, (1, 2))]
    for name, header, cols in src:
        p = os.path.join(g, name)
        if not os.path.exists(p):
            print("make-mlm-corpus: %s missing, left out" % p, file=sys.stderr)
            continue
        n = 0
        for r in rows(p, header):
            if len(r) <= max(cols):
                continue
            parts = [" ".join(r[c].split()) for c in cols]
            if all(parts):
                texts.append("\t".join(parts))
                n += 1
        print("make-mlm-corpus: %s: %d texts" % (name, n), file=sys.stderr)
    seen, kept = set(), []
    for t in texts:
        if t not in seen:
            seen.add(t)
            kept.append(t)
    tmp = out + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write("\n".join(kept) + "\n")
    os.replace(tmp, out)
    print("make-mlm-corpus: %d distinct texts -> %s" % (len(kept), out), file=sys.stderr)


if __name__ == "__main__":
    main()
