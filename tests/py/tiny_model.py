"""tiny_model.py - write a tiny random ALBERT checkpoint for tests and fuzz seeds.

make_tokenizer(path): train a ~120-piece SentencePiece unigram model (identity
normalisation, [CLS]=2 and [SEP]=3 like ALBERT) on a few built-in sentences.
make_model(dir, ...): config.json + model.safetensors (+ spiece.model, and
exit_lut.csv when a table is given) with random weights, off-ramps on every
layer.  Needs numpy and sentencepiece (Debian's /usr/bin/python3 has both).
Not a test itself (run.sh only runs test_*.py).
"""
import json
import os
import shutil
import struct

import numpy as np

SENTENCES = [
    "a gorgeous , witty , seductive movie .",
    "the film is strictly routine .",
    "it 's a charming and often affecting journey .",
    "unflinchingly bleak and desperate",
    "allows us to hope that nolan is poised to embark a major career as a commercial yet inventive filmmaker .",
    "the acting , costumes , music , cinematography and sound are all astounding given the production 's austere locales .",
    "it 's slow -- very , very slow .",
    "although laced with humor and a few fanciful touches , the film is a refreshingly serious look at young women .",
    "a sometimes tedious film .",
    "or doing last year 's taxes with your ex-wife .",
    "you do n't have to know about music to appreciate the film 's easygoing blend of comedy and romance .",
    "in exactly 89 minutes , most of which passed as slowly as if i 'd been sitting naked on an igloo .",
    "the mesmerizing performances of the leads keep the film grounded and keep the audience riveted .",
    "it takes a strange kind of laziness to waste the talents of robert forster , anne meara .",
    "the movie achieves as great an impact by keeping these thoughts hidden as it would by sharing them .",
    "what the director ca n't do is make either of val kilmer 's two personas interesting or worth caring about .",
    "is this a good movie ? yes it is . no , it is not .",
    "hello world , how are you today ? fine thanks , and you ?",
]


def make_tokenizer(path, vocab_size=120):
    import sentencepiece as spm

    work = os.path.dirname(os.path.abspath(path))
    txt = os.path.join(work, "_spm_train.txt")
    with open(txt, "w") as f:
        for _ in range(4):
            f.write("\n".join(SENTENCES) + "\n")
    prefix = os.path.join(work, "_spm_tiny")
    spm.SentencePieceTrainer.train(
        input=txt, model_prefix=prefix, vocab_size=vocab_size, model_type="unigram",
        normalization_rule_name="identity", pad_id=0, unk_id=1, bos_id=-1, eos_id=-1,
        user_defined_symbols=["[CLS]", "[SEP]", "[MASK]"], minloglevel=2,
        hard_vocab_limit=False)
    shutil.move(prefix + ".model", path)
    os.remove(prefix + ".vocab")
    os.remove(txt)
    return path


def write_safetensors(path, tensors):
    header = {}
    off = 0
    blobs = []
    for name, arr in tensors:
        a = np.ascontiguousarray(arr, dtype="<f4")
        header[name] = {"dtype": "F32", "shape": list(a.shape), "data_offsets": [off, off + a.nbytes]}
        off += a.nbytes
        blobs.append(a.tobytes())
    h = json.dumps(header).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def model_tensors(vocab, E, H, I, L, P, C, seed, ramps=True):
    rng = np.random.default_rng(seed)

    def u(*shape, scale=0.3, offset=0.0):
        return (offset + scale * rng.uniform(-1, 1, size=shape)).astype(np.float32)

    t = [
        ("albert.embeddings.word_embeddings.weight", u(vocab, E, scale=1.0)),
        ("albert.embeddings.position_embeddings.weight", u(P, E, scale=0.1)),
        ("albert.embeddings.token_type_embeddings.weight", u(2, E, scale=0.1)),
        ("albert.embeddings.LayerNorm.weight", u(E, scale=0.1, offset=1.0)),
        ("albert.embeddings.LayerNorm.bias", u(E, scale=0.1)),
        ("albert.encoder.embedding_hidden_mapping_in.weight", u(H, E)),
        ("albert.encoder.embedding_hidden_mapping_in.bias", u(H, scale=0.1)),
    ]
    pre = "albert.encoder.albert_layer_groups.0.albert_layers.0."
    for k in ("attention.query", "attention.key", "attention.value", "attention.dense"):
        t.append((pre + k + ".weight", u(H, H)))
        t.append((pre + k + ".bias", u(H, scale=0.1)))
    for k in ("attention.LayerNorm", "full_layer_layer_norm"):
        t.append((pre + k + ".weight", u(H, scale=0.1, offset=1.0)))
        t.append((pre + k + ".bias", u(H, scale=0.1)))
    t += [
        (pre + "ffn.weight", u(I, H)),
        (pre + "ffn.bias", u(I, scale=0.1)),
        (pre + "ffn_output.weight", u(H, I)),
        (pre + "ffn_output.bias", u(H, scale=0.1)),
        ("albert.pooler.weight", u(H, H, scale=0.5)),
        ("albert.pooler.bias", u(H, scale=0.1)),
        ("classifier.weight", u(C, H, scale=1.0)),
        ("classifier.bias", u(C, scale=0.5)),
    ]
    for j in range(L - 1 if ramps else 0):
        p = "albert.encoder.highway.%d." % j
        t += [
            (p + "pooler.weight", u(H, H, scale=0.5)),
            (p + "pooler.bias", u(H, scale=0.1)),
            (p + "classifier.weight", u(C, H, scale=1.0)),
            (p + "classifier.bias", u(C, scale=0.5)),
        ]
    return t


def make_model(d, spiece=None, layers=12, vocab=None, E=8, H=16, I=24, heads=2, P=64, labels=2,
               seed=1, lut=None, threshold=0.4, ramps=True):
    """Write a tiny checkpoint into d.  spiece: a spiece.model to copy (None:
    train a tiny one).  lut: an exit_lut.csv to copy (None: none)."""
    os.makedirs(d, exist_ok=True)
    sp = os.path.join(d, "spiece.model")
    if spiece:
        shutil.copyfile(spiece, sp)
    else:
        make_tokenizer(sp)
    if vocab is None:
        import sentencepiece as spm

        vocab = spm.SentencePieceProcessor(model_file=sp).get_piece_size()
    write_safetensors(os.path.join(d, "model.safetensors"),
                      model_tensors(vocab, E, H, I, layers, P, labels, seed, ramps))
    names = ["negative", "positive"] if labels == 2 else ["l%d" % i for i in range(labels)]
    cfg = {
        "architectures": ["AlbertForSequenceClassification"], "model_type": "albert",
        "vocab_size": vocab, "embedding_size": E, "hidden_size": H, "num_hidden_layers": layers,
        "num_hidden_groups": 1, "inner_group_num": 1, "num_attention_heads": heads,
        "intermediate_size": I, "max_position_embeddings": P, "type_vocab_size": 2,
        "hidden_act": "gelu_new", "layer_norm_eps": 1e-12, "num_labels": labels,
        "id2label": {str(i): n for i, n in enumerate(names)},
        "label2id": {n: i for i, n in enumerate(names)},
        "edgebert_threshold": threshold,
    }
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(cfg, f, indent=1)
    if lut:
        shutil.copyfile(lut, os.path.join(d, "exit_lut.csv"))
    return d


if __name__ == "__main__":
    import sys

    if len(sys.argv) < 2:
        sys.exit("usage: tiny_model.py DIR [SPIECE|- [EXIT_LUT.csv [LAYERS]]]")
    sp = sys.argv[2] if len(sys.argv) > 2 and sys.argv[2] != "-" else None
    lt = sys.argv[3] if len(sys.argv) > 3 and os.path.exists(sys.argv[3]) else None
    nl = int(sys.argv[4]) if len(sys.argv) > 4 else 12
    make_model(sys.argv[1], spiece=sp, lut=lt, layers=nl)
