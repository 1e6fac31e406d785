"""`edgebert train` end to end on token-id data (--ids, no tokenizer needed):
usage errors exit 2; a run writes an HF checkpoint PyTorch reads back with the
same logits as tests/py/eb_torch_albert.py computes; SIGINT saves and exits
130, --resume then finishes with the same weights as an uninterrupted run;
off-ramps and the predictor table; real SST-2 text when the shared data and
a tokenizer are there."""
import json
import os
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import numpy as np  # noqa: E402

import eb_torch_albert as ref  # noqa: E402

BUILD = os.environ.get("EB_BUILD", "build")
ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
EB = os.path.join(ROOT, BUILD, "edgebert")
DATA = os.environ.get("EB_SHARED_DATA", os.path.join(ROOT, "..", "shared", "data"))
failed = False


def report(name, errs):
    global failed
    if errs:
        failed = True
        print("FAIL %s: %s" % (name, "; ".join(errs)))
    else:
        print("PASS %s" % name)


CFG = dict(vocab_size=24, embedding_size=8, hidden_size=16, num_hidden_layers=3,
           num_hidden_groups=1, inner_group_num=1, num_attention_heads=2, intermediate_size=32,
           max_position_embeddings=32, type_vocab_size=2, num_labels=2, hidden_act="gelu_new",
           layer_norm_eps=1e-12)


def synth(path, n, seed):
    rng = np.random.default_rng(seed)
    with open(path, "w") as f:
        for _ in range(n):
            L = int(rng.integers(3, 14))
            ids = [2] + list(rng.integers(8, 24, L - 1))
            lab = int(7 in ids)
            if rng.random() < 0.5:
                ids[int(rng.integers(1, L))] = 7
                lab = 1
            f.write("%d\t%s\n" % (lab, " ".join(map(str, ids))))


def run(args, **kw):
    return subprocess.run([EB, "train"] + args, capture_output=True, text=True, **kw)


def main():
    if not os.access(EB, os.X_OK):
        print("SKIP train_cli: %s not built" % EB)
        return 0
    with tempfile.TemporaryDirectory() as d:
        cfg = os.path.join(d, "config.json")
        with open(cfg, "w") as f:
            json.dump(CFG, f)
        data = os.path.join(d, "train.ids")
        synth(data, 400, 1)
        base = ["--config", cfg, "--data", data, "--ids", "--max-len", "16", "--batch", "16",
                "--lr", "3e-3", "--seed", "3", "--log-every", "5"]

        # usage errors
        errs = []
        for bad in (["--data", data], base + ["--out", d + "/x", "--prune", "sideways"],
                    base + ["--out", d + "/x", "--epochs", "two"], ["--bogus"],
                    base + ["--out", d + "/x", "--ema", "1"],
                    base + ["--out", d + "/x", "--eval-every", "-3"]):
            r = run(bad)
            if r.returncode != 2:
                errs.append("%s: exit %d, want 2" % (" ".join(bad[-2:]), r.returncode))
            elif len(bad) > 1 and bad[-2] in ("--ema", "--eval-every") and bad[-2] not in r.stderr:
                errs.append("%s: the message does not name the option: %s" % (bad[-2], r.stderr[-200:]))
        # options the library refuses (eb_train_options_check): exit 2 at once, before the
        # data file (missing here) is read, the message naming the options, not the fields
        nodata = ["--config", cfg, "--data", os.path.join(d, "missing.ids"), "--ids",
                  "--out", d + "/y"]
        for extra, want in ((["--phase", "mlm", "--teacher", d], ["--teacher:", "--phase mlm"]),
                            (["--adapters", "8"], ["--adapters:", "--init"]),
                            (["--teacher", d + ",," + d], ["--teacher:", "empty entry"]),
                            (["--phase", "predictor"], ["--init:"])):
            t0 = time.monotonic()
            r = run(nodata + extra)
            dt = time.monotonic() - t0
            if r.returncode != 2 or dt > 1.0 or any(w not in r.stderr for w in want) or \
                    "missing.ids" in r.stderr or "_dir" in r.stderr or "train: train:" in r.stderr:
                errs.append("%s: exit %d after %.2f s: %s" % (" ".join(extra), r.returncode, dt,
                                                                r.stderr.strip()[-200:]))
        # --ema and --eval-every: a dev line every 5 steps giving both weights
        r = run(base + ["--out", d + "/ema", "--dev", data, "--steps", "10", "--ema", "0.9",
                        "--eval-every", "5"])
        lines = [l for l in r.stderr.splitlines() if "(averaged weights; trained weights " in l]
        if r.returncode != 0 or len(lines) != 2 or "step 5:" not in lines[0]:
            errs.append("--ema/--eval-every run: exit %d, dev lines %s" % (r.returncode, lines))
        report("train_cli_usage", errs)

        # a run, read back by the PyTorch reference
        out = os.path.join(d, "m")
        r = run(base + ["--out", out, "--epochs", "3", "--json", "--dev", data])
        errs = []
        if r.returncode != 0:
            errs.append("exit %d: %s" % (r.returncode, r.stderr[-300:]))
        else:
            j = json.loads(r.stdout)
            if not (j["dev_accuracy"] > 0.8):
                errs.append("dev accuracy %.3f" % j["dev_accuracy"])
            if "step 5/" not in r.stderr or "tok/s" not in r.stderr or "ETA" not in r.stderr:
                errs.append("no progress line")
            import torch
            w = {k: torch.tensor(v, dtype=torch.float64) for k, v in
                 ref.read_safetensors(os.path.join(out, "model.safetensors")).items()}
            with open(os.path.join(out, "config.json")) as f:
                c2 = json.load(f)
            ids = torch.tensor([[2, 9, 7, 11, 12]])
            logits, _ = ref.forward(c2, w, ids, torch.zeros_like(ids), torch.ones_like(ids, dtype=torch.bool))
            if logits.argmax().item() != 1:
                errs.append("a sentence with token 7 is not labelled 1: %s" % logits.tolist())
        report("train_cli_run_and_pytorch_reads_it", errs)

        # adapter-ALBERT: a second task (the opposite labels, on other
        # sentences) on the frozen backbone `out`: only adapters, head and
        # off-ramps change.  (A task the frozen attention cannot see, such as
        # another token, stays at chance on a backbone this small.)
        errs = []
        data2 = os.path.join(d, "task2.ids")
        synth(data2 + ".tmp", 400, 5)
        with open(data2 + ".tmp") as f, open(data2, "w") as g:
            for line in f:
                lab, rest = line.split("\t", 1)
                g.write("%d\t%s" % (1 - int(lab), rest))
        ad = os.path.join(d, "ad")
        r = run(["--init", out, "--adapters", "4", "--data", data2, "--dev", data2, "--ids",
                 "--max-len", "16", "--batch", "16", "--lr", "1e-2", "--seed", "3", "--epochs", "4",
                 "--out", ad, "--json"])
        bad = run(["--config", cfg, "--adapters", "4", "--data", data2, "--ids", "--out", d + "/y"])
        if bad.returncode == 0:
            errs.append("--adapters without --init was accepted")
        if r.returncode != 0:
            errs.append("exit %d: %s" % (r.returncode, r.stderr[-300:]))
        else:
            j = json.loads(r.stdout)
            if not (j["dev_accuracy"] > 0.8):
                errs.append("task-2 dev accuracy %.3f" % j["dev_accuracy"])
            if "dev accuracy per exit layer" not in r.stderr:
                errs.append("no per-exit accuracies")
            w0 = ref.read_safetensors(os.path.join(out, "model.safetensors"))
            w1 = ref.read_safetensors(os.path.join(ad, "model.safetensors"))
            with open(os.path.join(ad, "config.json")) as f:
                c2 = json.load(f)
            if c2.get("edgebert_adapter_size") != 4:
                errs.append("config.json: edgebert_adapter_size %r" % c2.get("edgebert_adapter_size"))
            n_ad = sum(".adapters." in k for k in w1)
            if n_ad != 3 * 2 * 2 * 2:  # layers x {attn, ffn} x {down, up} x {weight, bias}
                errs.append("%d adapter tensors" % n_ad)
            for k, v in w0.items():
                frozen = k.startswith("albert.embeddings.") or k.startswith("albert.encoder.") and \
                    ".highway." not in k
                if frozen and not np.array_equal(v, w1[k]):
                    errs.append("backbone tensor %s changed" % k)
            if w0["classifier.weight"].tobytes() == w1["classifier.weight"].tobytes():
                errs.append("the head was not trained")
            # the engine and the PyTorch reference agree on the adapter model
            import torch
            wt = {k: torch.tensor(v, dtype=torch.float64) for k, v in w1.items()}
            ids = [2, 12, 9, 15, 11]
            it = torch.tensor([ids])
            lg, _ = ref.forward(c2, wt, it, torch.zeros_like(it), torch.ones_like(it, dtype=torch.bool))
            e = subprocess.run([os.path.join(ROOT, BUILD, "tests", "tools", "eb_forward"), ad],
                               input=" ".join(map(str, ids)) + "\n", capture_output=True, text=True)
            if e.returncode != 0:
                errs.append("eb_forward: %s" % e.stderr[-200:])
            else:
                got = np.array(json.loads(e.stdout)["logits"][-1])
                want = lg[0].numpy()
                if np.abs(got - want).max() > 1e-4 * max(1.0, np.abs(want).max()):
                    errs.append("engine %s vs torch %s" % (got, want))
        report("train_cli_adapters_frozen_backbone", errs)

        # SIGINT saves; --resume finishes with the same weights as a straight run
        errs = []
        straight = os.path.join(d, "s")
        opts = ["--epochs", "4", "--span", "--prune", "movement", "--keep", "0.5",
                "--save-every", "0"]
        r = run(base + opts + ["--out", straight])
        if r.returncode != 0:
            errs.append("straight run exit %d: %s" % (r.returncode, r.stderr[-300:]))
        inter = os.path.join(d, "i")
        p = subprocess.Popen([EB, "train"] + base + opts + ["--out", inter, "--log-every", "1"],
                             stderr=subprocess.PIPE, text=True)
        # wait for a few steps, then interrupt
        for line in p.stderr:
            if line.startswith("step 3/"):
                p.send_signal(signal.SIGINT)
                break
        rest = p.stderr.read()
        rc = p.wait()
        if rc != 130:
            errs.append("SIGINT: exit %d, want 130 (%s)" % (rc, rest[-200:]))
        if "--resume" not in rest:
            errs.append("SIGINT message does not mention --resume")
        if not os.path.exists(os.path.join(inter, "train_state.safetensors")):
            errs.append("no train_state.safetensors after SIGINT")
        r = run(base + opts + ["--out", inter, "--resume"])
        if r.returncode != 0:
            errs.append("resume exit %d: %s" % (r.returncode, r.stderr[-300:]))
        elif "resuming at step" not in r.stderr:
            errs.append("resume did not say where it resumed")
        if not errs:
            a = ref.read_safetensors(os.path.join(straight, "model.safetensors"))
            b = ref.read_safetensors(os.path.join(inter, "model.safetensors"))
            diff = [k for k in a if not np.array_equal(a[k], b[k])]
            if diff:
                errs.append("resumed weights differ: %s" % diff[:3])
        report("train_cli_sigint_resume_exact", errs)

        # the engine's forward (eb_forward) over the pruned, span-trained model
        # agrees with the PyTorch reference using the saved spans and ramp R
        errs = []
        tool = os.path.join(ROOT, BUILD, "tests", "tools", "eb_forward")
        if os.path.exists(os.path.join(straight, "model.safetensors")) and os.access(tool, os.X_OK):
            import torch
            st = ref.read_safetensors(os.path.join(straight, "model.safetensors"))
            with open(os.path.join(straight, "config.json")) as f:
                c2 = json.load(f)
            spans = [v for k, v in st.items() if k.endswith("attention.span")]
            if not spans:
                errs.append("no spans saved")
            q = st["albert.encoder.albert_layer_groups.0.albert_layers.0.attention.query.weight"]
            if abs((q == 0).mean() - 0.5) > 0.01:
                errs.append("query sparsity %.3f, want 0.5" % (q == 0).mean())
            ids = [2, 9, 7, 11, 12, 13, 9, 20, 21, 22, 8]
            e = subprocess.run([tool, straight], input=" ".join(map(str, ids)) + "\n",
                               capture_output=True, text=True)
            if e.returncode != 0:
                errs.append("eb_forward: %s" % e.stderr[-200:])
            else:
                got = json.loads(e.stdout.splitlines()[0])["logits"][-1]
                w = {k: torch.tensor(v, dtype=torch.float64) for k, v in st.items()}
                t = torch.tensor([ids])
                want, _ = ref.forward(c2, w, t, torch.zeros_like(t), torch.ones_like(t, dtype=torch.bool),
                                      ramp_R=c2.get("edgebert_span_ramp", 32.0))
                want = want[0].tolist()
                if max(abs(a - b) for a, b in zip(got, want)) > 1e-4 * max(1.0, max(map(abs, want))):
                    errs.append("engine %s vs reference %s" % (got, want))
            report("train_cli_engine_reads_span_pruned_model", errs)

        # off-ramps, then the predictor table
        errs = []
        ramps = os.path.join(d, "r")
        r = run(["--init", out, "--data", data, "--ids", "--out", ramps, "--phase", "offramps",
                 "--epochs", "2", "--max-len", "16", "--lr", "3e-3"])
        if r.returncode != 0:
            errs.append("offramps exit %d: %s" % (r.returncode, r.stderr[-300:]))
        r = run(["--init", ramps, "--data", data, "--ids", "--out", ramps, "--phase", "predictor",
                 "--max-len", "16"])
        if r.returncode != 0:
            errs.append("predictor exit %d: %s" % (r.returncode, r.stderr[-300:]))
        else:
            lut = np.loadtxt(os.path.join(ramps, "exit_lut.csv"), delimiter=",")
            if lut.shape != (100, 2) or not np.allclose(lut[:, 0], np.arange(100) / 100):
                errs.append("table shape %s" % (lut.shape,))
            st = ref.read_safetensors(os.path.join(ramps, "model.safetensors"))
            if "albert.encoder.highway.1.classifier.weight" not in st:
                errs.append("off-ramp tensors missing")
            with open(os.path.join(ramps, "config.json")) as f:
                if json.load(f).get("edgebert_predict_after") != 1:
                    errs.append("config.json lacks edgebert_predict_after 1")
            # the engine loads the table with the model
            e = subprocess.run([os.path.join(ROOT, BUILD, "tests", "tools", "eb_forward"), ramps],
                               input="2 9 7 11\n", capture_output=True, text=True)
            if e.returncode != 0:
                errs.append("engine cannot load the model with its table: %s" % e.stderr[-200:])
        report("train_cli_offramps_predictor", errs)

    # real SST-2 text (needs the tokenizer in the library and the shared data)
    sst = os.path.join(DATA, "glue", "SST-2", "train.tsv")
    spm = os.path.join(DATA, "albert", "spiece.model")
    if not (os.path.exists(sst) and os.path.exists(spm)):
        print("SKIP train_cli_sst2: %s or %s missing" % (sst, spm))
    else:
        with tempfile.TemporaryDirectory() as d:
            small = os.path.join(d, "train.tsv")
            with open(sst) as f, open(small, "w") as g:
                for i, line in enumerate(f):
                    if i > 500:
                        break
                    g.write(line)
            c = dict(CFG, vocab_size=30000, embedding_size=16, hidden_size=32, num_hidden_layers=2,
                     max_position_embeddings=64)
            c["id2label"] = {"0": "negative", "1": "positive"}  # SST-2's names (not generic)
            cfg = os.path.join(d, "config.json")
            with open(cfg, "w") as f:
                json.dump(c, f)
            out = os.path.join(d, "m")
            # 500 real SST-2 phrases: the loss falls and the model fits them
            r = run(["--config", cfg, "--tokenizer", spm, "--data", small, "--dev", small,
                     "--task", "sst2", "--out", out, "--epochs", "8", "--max-len", "32", "--lr",
                     "3e-3", "--batch", "32", "--log-every", "40", "--json"])
            errs = []
            if r.returncode != 0:
                errs.append("exit %d: %s" % (r.returncode, r.stderr[-300:]))
            else:
                losses = [float(l.split("loss ")[1].split()[0]) for l in r.stderr.splitlines()
                          if l.startswith("step ")]
                if len(losses) < 2 or not losses[-1] < 0.5 * losses[0]:
                    errs.append("loss did not fall: %s" % losses)
                acc = json.loads(r.stdout)["dev_accuracy"]
                if acc < 0.9:
                    errs.append("training-set accuracy %.3f" % acc)
                if not os.path.exists(os.path.join(out, "spiece.model")):
                    errs.append("spiece.model not copied")
                # the engine loads what the trainer wrote
                c = subprocess.run([EB, "classify", "-m", out, "--json", "a gorgeous film"],
                                   capture_output=True, text=True)
                if c.returncode != 0 or '"label"' not in c.stdout:
                    errs.append("edgebert classify on the result: exit %d %s" % (c.returncode, c.stderr[-200:]))
            report("train_cli_sst2_loss_falls", errs)
            # masked-LM pretraining on plain text (a TAB makes a pair), then fine-tuning from it
            text = os.path.join(d, "text.txt")
            with open(small) as f, open(text, "w") as g:
                lines = [l.split("\t")[0] for l in f.read().splitlines()[1:]]
                for i, l in enumerate(lines):
                    g.write(l + ("\t" + lines[i - 1] if i % 5 == 0 else "") + "\n")
                    if i % 50 == 0:
                        g.write("\n")  # blank lines are skipped
            mlm = os.path.join(d, "mlm")
            r3 = run(["--config", cfg, "--tokenizer", spm, "--phase", "mlm", "--data", text,
                      "--dev", text, "--out", mlm, "--epochs", "6", "--max-len", "32", "--lr",
                      "3e-3", "--batch", "32", "--log-every", "20", "--eval-every", "25",
                      "--json"])
            errs = []
            if r3.returncode != 0:
                errs.append("exit %d: %s" % (r3.returncode, r3.stderr[-300:]))
            else:
                losses = [float(l.split("loss ")[1].split()[0]) for l in r3.stderr.splitlines()
                          if l.startswith("step ") and " epoch " in l]
                if len(losses) < 2 or not losses[-1] < losses[0] - 1.0:
                    errs.append("masked-LM loss did not fall: %s" % losses)
                if "dev masked-LM loss" not in r3.stderr:
                    errs.append("no dev masked-LM line")
                # --eval-every evaluates the masked LM too (not a classifier accuracy)
                if ("step 25: dev masked-LM loss" not in r3.stderr
                        or "dev accuracy" in r3.stderr):
                    errs.append("--eval-every in --phase mlm: %s" % [
                        l for l in r3.stderr.splitlines() if "dev " in l])
                w = ref.read_safetensors(os.path.join(mlm, "model.safetensors"))
                if w.get("predictions.bias", np.zeros(0)).shape != (30000,):
                    errs.append("no predictions.bias [30000]")
                ft = os.path.join(d, "ft")
                r4 = run(["--init", mlm, "--task", "sst2", "--data", small, "--out", ft,
                          "--steps", "3", "--batch", "16", "--max-len", "32"])
                if r4.returncode != 0:
                    errs.append("fine-tuning from the MLM checkpoint: exit %d %s" %
                                (r4.returncode, r4.stderr[-200:]))
            bad = os.path.join(d, "bad.txt")
            with open(bad, "wb") as f:
                f.write(b"fine text\nbroken \xff\xfe text\n")
            r5 = run(["--config", cfg, "--tokenizer", spm, "--phase", "mlm", "--data", bad,
                      "--out", os.path.join(d, "bad"), "--steps", "1"])
            if r5.returncode != 1 or "bad.txt:2" not in r5.stderr:
                errs.append("bad UTF-8 line: exit %d, %s" % (r5.returncode, r5.stderr.strip()[-200:]))
            report("train_cli_mlm_pretraining", errs)
            # adapters for CoLA on the SST-2 model: a fresh head with CoLA's labels
            cola = os.path.join(DATA, "glue", "CoLA", "train.tsv")
            errs = []
            if r.returncode != 0 or not os.path.exists(cola):
                print("SKIP train_cli_adapters_new_task: no SST-2 model or %s" % cola)
            else:
                small_cola = os.path.join(d, "cola.tsv")
                with open(cola) as f, open(small_cola, "w") as g:
                    for i, line in enumerate(f):
                        if i > 200:
                            break
                        g.write(line)
                ca = os.path.join(d, "cola")
                r2 = run(["--init", out, "--adapters", "8", "--task", "cola", "--data", small_cola,
                          "--out", ca, "--steps", "4", "--batch", "16", "--max-len", "32"])
                if r2.returncode != 0:
                    errs.append("exit %d: %s" % (r2.returncode, r2.stderr[-300:]))
                else:
                    with open(os.path.join(ca, "config.json")) as f:
                        c3 = json.load(f)
                    if c3["id2label"] != {"0": "unacceptable", "1": "acceptable"}:
                        errs.append("labels %s" % c3["id2label"])
                    w0 = ref.read_safetensors(os.path.join(out, "model.safetensors"))
                    w1 = ref.read_safetensors(os.path.join(ca, "model.safetensors"))
                    if not np.array_equal(w0["albert.encoder.albert_layer_groups.0.albert_layers.0.ffn.weight"],
                                          w1["albert.encoder.albert_layer_groups.0.albert_layers.0.ffn.weight"]):
                        errs.append("the backbone changed")
                    if "albert.encoder.highway.0.classifier.weight" not in w1:
                        errs.append("no off-ramps")
                report("train_cli_adapters_new_task", errs)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
