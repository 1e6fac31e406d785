#!/usr/bin/env python3
"""The C tokenizer (tests/tools/eb_tokenize) against the reference SentencePiece library
(python3-sentencepiece) with ALBERT's preprocessing written here independently (the
HuggingFace AlbertTokenizer rules: keep_accents=False, do_lower_case=True).

Checks: the oracle reproduces the shipped SST-2 dev ids (so the oracle itself is right),
then every QNLI dev_even pair encoded as [CLS] a [SEP] b [SEP] by the C tool equals the
oracle.  Prints PASS/FAIL/SKIP lines."""
import os
import subprocess
import sys
import unicodedata

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DATA = os.environ.get("EB_SHARED_DATA", os.path.join(ROOT, "..", "shared", "data"))
BUILD = os.environ.get("EB_BUILD", "build")
TOOL = os.path.join(ROOT, BUILD, "tests", "tools", "eb_tokenize")
MODEL = os.path.join(DATA, "albert", "spiece.model")
SST_IDS = os.path.join(DATA, "albert", "sst2_dev_ids.tsv")
QNLI = os.path.join(DATA, "glue", "QNLI", "dev_even.tsv")
UNDER = "\u2581"


def skip(name, why):
    print(f"SKIP {name}: {why}")


class Oracle:
    def __init__(self, spm, model):
        self.sp = spm.SentencePieceProcessor(model_file=model)
        n = self.sp.get_piece_size()
        # HF splits its special tokens out of the text before anything else.
        self.specials = sorted(
            (self.sp.id_to_piece(i) for i in range(n)
             if self.sp.is_control(i) or self.sp.is_unknown(i)),
            key=len, reverse=True)
        self.cls = self.sp.piece_to_id("[CLS]")
        self.sep = self.sp.piece_to_id("[SEP]")

    @staticmethod
    def preprocess(text):
        out = " ".join(text.strip().split())
        out = out.replace("``", '"').replace("''", '"')
        out = unicodedata.normalize("NFKD", out)
        out = "".join(c for c in out if not unicodedata.combining(c))
        return out.lower()

    def pieces(self, text):
        pieces = self.sp.encode(self.preprocess(text), out_type=str)
        res = []
        for p in pieces:
            if len(p) > 1 and p[-1] == "," and p[-2].isdigit():
                sub = self.sp.encode(p[:-1].replace(UNDER, ""), out_type=str)
                if p[0] != UNDER and sub and sub[0][0] == UNDER:
                    sub = sub[1:] if len(sub[0]) == 1 else [sub[0][1:]] + sub[1:]
                res.extend(sub)
                res.append(p[-1])
            else:
                res.append(p)
        return res

    def ids(self, text):
        out, seg, i = [], 0, 0
        while i <= len(text):
            hit = None
            if i < len(text):
                hit = next((s for s in self.specials if text.startswith(s, i)), None)
                if hit is None:
                    i += 1
                    continue
            if i > seg:
                out.extend(self.sp.piece_to_id(p) for p in self.pieces(text[seg:i]))
            if hit is None:
                break
            out.append(self.sp.piece_to_id(hit))
            i += len(hit)
            seg = i
        return out

    def encode(self, a, b=None):
        ids = [self.cls] + self.ids(a) + [self.sep]
        if b is not None:
            ids += self.ids(b) + [self.sep]
        return ids


def run_tool(lines):
    inp = "".join(l + "\n" for l in lines).encode("utf-8")
    r = subprocess.run([TOOL, MODEL], input=inp, capture_output=True, timeout=300)
    if r.returncode != 0:
        raise RuntimeError(f"eb_tokenize exited {r.returncode}: {r.stderr.decode()[:300]}")
    return r.stdout.decode("utf-8").split("\n")[: len(lines)]


def main():
    try:
        import sentencepiece as spm
    except ImportError as e:
        skip("tokenizer_spm", f"import sentencepiece failed ({e})")
        return 0
    if not os.path.exists(MODEL):
        skip("tokenizer_spm", f"{MODEL} missing (shared data not present)")
        return 0
    fails = 0
    oracle = Oracle(spm, MODEL)

    # 1. The oracle against the shipped reference ids.
    if os.path.exists(SST_IDS):
        with open(SST_IDS, encoding="utf-8") as f:
            rows = [l.rstrip("\n").split("\t") for l in f][1:]
        bad = sum(1 for r in rows if oracle.encode(r[0]) != [int(x) for x in r[2].split()])
        if bad:
            print(f"FAIL oracle_sst2: {bad} of {len(rows)} sentences differ from sst2_dev_ids.tsv")
            fails += 1
        else:
            print(f"PASS oracle_sst2 ({len(rows)} sentences)")
    else:
        skip("oracle_sst2", f"{SST_IDS} missing")

    # 2. The C tool against the oracle on QNLI pairs.
    if not os.path.exists(QNLI):
        skip("qnli_pairs", f"{QNLI} missing (shared data not present)")
    elif not os.access(TOOL, os.X_OK):
        print(f"FAIL qnli_pairs: {TOOL} not built (set EB_BUILD)")
        fails += 1
    else:
        with open(QNLI, encoding="utf-8", newline="\n") as f:
            rows = [l.rstrip("\n").split("\t") for l in f][1:]
        pairs = [(r[1], r[2]) for r in rows]
        got = run_tool([a + "\t" + b for a, b in pairs])
        mism = []
        for (a, b), g in zip(pairs, got):
            want = " ".join(map(str, oracle.encode(a, b)))
            if g != want:
                mism.append((a, b, g, want))
        if mism:
            a, b, g, w = mism[0]
            print(f"FAIL qnli_pairs: {len(mism)} of {len(pairs)} pairs differ; first: "
                  f"{a!r} / {b!r}\n  got  {g}\n  want {w}")
            fails += 1
        else:
            print(f"PASS qnli_pairs ({len(pairs)} pairs, 0 mismatches)")

    # 3. Seeded random strings over awkward characters (accents, final sigma, dotted I,
    # ligatures, full-width and circled digits, digit-comma runs, odd spaces, specials).
    if os.access(TOOL, os.X_OK):
        import random
        rng = random.Random(20211018)
        alpha = (list("aAzZ09 ,.'`\"-()ΣσςΑάΆÉéñİıßẞﬁ①²½ＡＢ０１٣ᾈǅ한국어日本🙂ÅΩ𝐀𝟘Ⅸⅰµป")
                 + ["\u0301", "\u0308", "\u0e35", "\u200b", "\u00a0", "\u3000", "\x1c",
                    "\x85", "\x01", "\ufeff", "\u2581", "``", "''", "1,", "9,0", "[MASK]",
                    "<unk>", "[SEP]", "  "])
        texts = ["".join(rng.choice(alpha) for _ in range(rng.randint(1, 30)))
                 for _ in range(3000)]
        got = run_tool(texts)
        bad = []
        for t, g in zip(texts, got):
            ids = oracle.encode(t)
            want = " ".join(map(str, ids)) if len(ids) > 2 else "ERROR"
            ok = g.startswith("ERROR ") if want == "ERROR" else g == want
            if not ok:
                bad.append((t, g, want))
        if bad:
            t, g, w = bad[0]
            print(f"FAIL random_unicode: {len(bad)} of {len(texts)} differ; first {t!r}\n"
                  f"  got  {g}\n  want {w}")
            fails += 1
        else:
            print(f"PASS random_unicode ({len(texts)} strings)")
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main())
