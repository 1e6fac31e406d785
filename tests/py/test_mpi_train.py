"""Data-parallel `edgebert train` over MPI (the build of `make MPI=1`, build-mpi/edgebert),
two ranks on this machine only (shared memory, loopback), as root in a container too.

The same global batches on one process and on 2 and 3 ranks give the same losses step by step
and the same weights within fp32 rounding for 20 steps, with classifier and hidden dropout,
input-token masking and spans (fine-tuning), in masked-LM pretraining (whose loss is a
mean over the masked tokens of the whole batch, however the shards split them) and in
distillation (the ranks share the teacher's labelling of the training set); the MPI
build alone runs exactly as the plain build.  A 2-rank run stopped by SIGUSR1 sent to mpirun
(forwarded to every rank), resumed, stopped again by SIGINT sent to one rank alone (the ranks
agree to stop at the same step), and resumed to the end ends bit for bit where the
uninterrupted 2-rank run does; a failure on one rank (--resume without a checkpoint: rank 0
alone reads it) stops every rank instead of leaving the others waiting; the plain build
started by mpirun refuses to run.

Skips, saying why, when mpirun or build-mpi/edgebert is missing."""
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import numpy as np  # noqa: E402

import eb_torch_albert as ref  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
MPI_BUILD = os.environ.get("EB_MPI_BUILD", "build-mpi")
EB_MPI = os.path.join(ROOT, MPI_BUILD, "edgebert")
EB_PLAIN = os.path.join(ROOT, os.environ.get("EB_BUILD", "build"), "edgebert")
# two ranks on this machine: shared memory between them, the launcher's own traffic on
# loopback; --oversubscribe: more ranks than cores is fine for a test
MPIRUN_OPTS = ["--oversubscribe", "--mca", "btl", "self,vader", "--mca", "oob_tcp_if_include", "lo"]
ENV = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
           OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
TIMEOUT = 300
failed = False

CFG = dict(vocab_size=24, embedding_size=8, hidden_size=16, num_hidden_layers=3,
           num_hidden_groups=1, inner_group_num=1, num_attention_heads=2, intermediate_size=32,
           max_position_embeddings=32, type_vocab_size=2, num_labels=2, hidden_act="gelu_new",
           layer_norm_eps=1e-12)


def report(name, errs):
    global failed
    if errs:
        failed = True
        print("FAIL %s: %s" % (name, "; ".join(errs)))
    else:
        print("PASS %s" % name)


def synth(path, n, seed):
    rng = np.random.default_rng(seed)
    with open(path, "w") as f:
        for _ in range(n):
            L = int(rng.integers(3, 14))
            ids = [2] + list(rng.integers(5, 24, L - 1))
            lab = int(7 in ids)
            if rng.random() < 0.5:
                ids[int(rng.integers(1, L))] = 7
                lab = 1
            f.write("%d\t%s\n" % (lab, " ".join(map(str, ids))))


def mpirun(n, args, extra=()):
    return ["mpirun", "-np", str(n)] + MPIRUN_OPTS + list(extra) + [EB_MPI, "train"] + args


def run(cmd):
    return subprocess.run(cmd, capture_output=True, text=True, env=ENV, timeout=TIMEOUT)


def losses(stderr):
    """{step: loss} of the progress lines."""
    out = {}
    for line in stderr.splitlines():
        f = line.split()
        if len(f) > 5 and f[0] == "step" and f[4] == "loss":
            out[int(f[1].split("/")[0])] = float(f[5])
    return out


def weights(d):
    return {k: np.asarray(v, dtype=np.float64)
            for k, v in ref.read_safetensors(os.path.join(d, "model.safetensors")).items()}


def state_step(d):
    st = ref.read_safetensors(os.path.join(d, "train_state.safetensors"))
    return int(st["trainer.step"][0] + 16777216 * st["trainer.step"][1])


def same_run(name, one, many, errs, wtol=1e-4):
    """one: (stderr, dir) of one process; many: of several ranks."""
    la, lb = losses(one[0]), losses(many[0])
    if sorted(la) != list(range(1, 21)) or sorted(lb) != sorted(la):
        errs.append("%s: steps logged %s and %s" % (name, sorted(la), sorted(lb)))
        return
    # the progress line prints 4 decimals: the same loss may round either way
    bad = [(s, la[s], lb[s]) for s in la if abs(la[s] - lb[s]) > 1.5e-4]
    if bad:
        errs.append("%s: losses differ at steps %s" % (name, bad[:4]))
    wa, wb = weights(one[1]), weights(many[1])
    worst = max((float(np.max(np.abs(wa[k] - wb[k]))), k) for k in wa)
    if worst[0] > wtol:
        errs.append("%s: weights differ by %.3g in %s" % (name, worst[0], worst[1]))


def ok(r, what, errs):
    if r.returncode != 0:
        errs.append("%s: exit %d: %s" % (what, r.returncode, r.stderr[-400:]))
        return False
    return True


def interrupt(cmd, send):
    """Start cmd, call send(process) at its first progress line, wait for the end."""
    p = subprocess.Popen(cmd, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, env=ENV)
    lines = []
    for line in p.stderr:
        lines.append(line)
        if line.startswith("step "):
            send(p)
            break
    # the rest through the same buffered reader (communicate() with a timeout would read the
    # descriptor and lose what the reader holds); a watchdog ends a hung run
    watchdog = threading.Timer(TIMEOUT, p.kill)
    watchdog.start()
    rest = p.stderr.read()
    p.wait()
    watchdog.cancel()
    return p.returncode, "".join(lines) + rest


def rank_pid(launcher_pid, rank):
    """The pid of the given rank among mpirun's children (its environment names the rank)."""
    try:
        with open("/proc/%d/task/%d/children" % (launcher_pid, launcher_pid)) as f:
            kids = [int(x) for x in f.read().split()]
    except OSError:
        return None
    for k in kids:
        try:
            with open("/proc/%d/environ" % k, "rb") as f:
                env = f.read().split(b"\0")
        except OSError:
            continue
        if ("OMPI_COMM_WORLD_RANK=%d" % rank).encode() in env:
            return k
    return None


def main():
    if not shutil.which("mpirun"):
        print("SKIP mpi_train: no mpirun (Debian: openmpi-bin, libopenmpi-dev; tools/install-deps.sh)")
        return 0
    if not os.access(EB_MPI, os.X_OK):
        print("SKIP mpi_train: %s not built (make MPI=1)" % EB_MPI)
        return 0
    with tempfile.TemporaryDirectory() as d:
        cfg = os.path.join(d, "config.json")
        with open(cfg, "w") as f:
            json.dump(CFG, f)
        data = os.path.join(d, "train.ids")
        synth(data, 300, 1)
        # batch 15: shards of 7 and 8 examples (5, 5, 5 on three ranks)
        base = ["--config", cfg, "--data", data, "--ids", "--max-len", "16", "--batch", "15",
                "--lr", "3e-3", "--seed", "3", "--dropout", "0.1", "--hidden-dropout", "0.1",
                "--threads", "1"]
        common = base + ["--log-every", "1", "--steps", "20"]
        for phase, extra in (("backbone", ["--mask-tokens", "0.1", "--span"]), ("mlm", [])):
            args = common + ["--phase", phase] + extra
            errs = []
            one = os.path.join(d, phase + "1")
            r1 = run([EB_MPI, "train"] + args + ["--out", one])
            if ok(r1, "one process", errs):
                if os.access(EB_PLAIN, os.X_OK):  # the MPI build alone is the plain build
                    plain = os.path.join(d, phase + "p")
                    rp = run([EB_PLAIN, "train"] + args + ["--out", plain])
                    if ok(rp, "plain build", errs):
                        for fn in ("model.safetensors",):
                            with open(os.path.join(one, fn), "rb") as f1, \
                                 open(os.path.join(plain, fn), "rb") as f2:
                                if f1.read() != f2.read():
                                    errs.append("the MPI build alone and the plain build differ")
                for n in (2, 3):
                    many = os.path.join(d, "%s%d" % (phase, n))
                    rn = run(mpirun(n, args + ["--out", many]))
                    if ok(rn, "%d ranks" % n, errs):
                        same_run("%d ranks" % n, (r1.stderr, one), (rn.stderr, many), errs)
                        if n == 2 and "data-parallel: 2 ranks" not in rn.stderr:
                            errs.append("no data-parallel line: %s" % rn.stderr[-300:])
                        if rn.stderr.count("done: 20 steps") != 1:
                            errs.append("%d ranks: not one summary (rank 0 alone logs)" % n)
            report("mpi_train_same_as_one_process_%s" % phase, errs)

        # distillation from the fine-tuned model above: the ranks label every other chunk of
        # 4096 training examples with the teacher and sum the logits
        errs = []
        kd_data = os.path.join(d, "kd.ids")
        synth(kd_data, 4200, 2)
        args = common[:] + ["--teacher", os.path.join(d, "backbone1")]
        args[args.index(data)] = kd_data
        r1 = run([EB_MPI, "train"] + args + ["--out", os.path.join(d, "kd1")])
        r2 = run(mpirun(2, args + ["--out", os.path.join(d, "kd2")]))
        if ok(r1, "one process", errs) and ok(r2, "2 ranks", errs):
            same_run("distillation, 2 ranks", (r1.stderr, os.path.join(d, "kd1")),
                     (r2.stderr, os.path.join(d, "kd2")), errs)
            if "teacher logits computed for 4200 examples" not in r2.stderr:
                errs.append("no teacher line: %s" % r2.stderr[-300:])
        report("mpi_train_same_as_one_process_distillation", errs)

        # resume: stopped by SIGUSR1 (mpirun forwards it to every rank), then by SIGINT on
        # rank 1 alone, then to the end; the schedule spans 100000 steps, --max-steps ends
        # the run at step 120 as a resumable stop
        errs = []
        long_args = base + ["--log-every", "5", "--steps", "100000"]
        END = 120
        refd, intd = os.path.join(d, "ref"), os.path.join(d, "int")
        rr = run(mpirun(2, long_args + ["--out", refd, "--max-steps", str(END)]))
        if ok(rr, "uninterrupted", errs) and state_step(refd) != END:
            errs.append("uninterrupted run saved step %d" % state_step(refd))
        rc, err1 = interrupt(mpirun(2, long_args + ["--out", intd, "--max-steps", str(END)]),
                             lambda p: p.send_signal(signal.SIGUSR1))
        k1 = state_step(intd) if os.path.exists(os.path.join(intd, "train_state.safetensors")) else -1
        if rc != 130 or "interrupted at step %d" % k1 not in err1 or not 0 < k1 < END:
            errs.append("SIGUSR1: exit %d, saved step %d: %s" % (rc, k1, err1[-300:]))

        def int_rank1(p):
            pid = None
            for _ in range(50):
                pid = rank_pid(p.pid, 1)
                if pid:
                    break
                time.sleep(0.1)
            if pid:
                os.kill(pid, signal.SIGINT)
            else:
                errs.append("rank 1's process not found")
                p.send_signal(signal.SIGUSR1)

        k2 = -1
        if not errs:
            rc, err2 = interrupt(mpirun(2, long_args + ["--out", intd, "--resume", "--max-steps",
                                                        str(END - k1)]), int_rank1)
            k2 = state_step(intd)
            if rc == 0 or "interrupted at step %d" % k2 not in err2 or not k1 < k2 < END:
                errs.append("SIGINT on rank 1: exit %d, saved step %d (from %d): %s" %
                            (rc, k2, k1, err2[-300:]))
        if not errs:
            r3 = run(mpirun(2, long_args + ["--out", intd, "--resume", "--max-steps", str(END - k2)]))
            if ok(r3, "resumed to the end", errs):
                for fn in ("model.safetensors", "train_state.safetensors"):
                    with open(os.path.join(refd, fn), "rb") as f1, open(os.path.join(intd, fn), "rb") as f2:
                        if f1.read() != f2.read():
                            errs.append("%s: the resumed run (stopped at %d and %d) differs from the "
                                        "uninterrupted one" % (fn, k1, k2))
        report("mpi_train_resume_after_sigusr1_and_sigint", errs)

        # a failure on rank 0 alone (no checkpoint to resume) stops both ranks
        errs = []
        r = run(mpirun(2, common + ["--out", os.path.join(d, "none"), "--resume"]))
        if r.returncode == 0 or "train_state.safetensors" not in r.stderr or \
                "stops with them" not in r.stderr:
            errs.append("exit %d: %s" % (r.returncode, r.stderr[-400:]))
        report("mpi_train_failure_on_one_rank_stops_all", errs)

        # the plain build under mpirun refuses (N copies would write the same output)
        errs = []
        if os.access(EB_PLAIN, os.X_OK):
            cmd = mpirun(2, common + ["--out", os.path.join(d, "plain2")])
            cmd[cmd.index(EB_MPI)] = EB_PLAIN
            r = run(cmd)
            if r.returncode == 0 or "make MPI=1" not in r.stderr or \
                    os.path.exists(os.path.join(d, "plain2")):
                errs.append("exit %d: %s" % (r.returncode, r.stderr[-400:]))
            report("mpi_train_plain_build_refuses_mpirun", errs)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
