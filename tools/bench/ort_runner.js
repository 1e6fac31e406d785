#!/usr/bin/env node
// ort_runner.js - the ONNX Runtime side of tools/bench/compare.py.
//
// usage: node ort_runner.js --ort DIR --model FILE.onnx --threads T
//             (--tokens 16,32 [--runs N] [--warmup N] [--vocab V] [--clock wall|cpu] | --ids FILE [--warmup N])
// DIR is the folder where `npm install onnxruntime-node` was run (compare.py
// installs it under build/bench/ort with ONNXRUNTIME_NODE_INSTALL=skip, which
// keeps the CPU build that ships in the package).  The model has one input,
// `input_ids` int64 [1, N], and one output, `logits`.  --ids FILE: the lines of
// `edgebert bench --e2e --ids-out FILE` (a gold label, a TAB, the ids).  Prints
// one JSON object.
'use strict';
const path = require('path');
const fs = require('fs');

function args(argv) {
  const a = {runs: 20, warmup: 3, threads: 1, vocab: 30000, tokens: '16,32,64,128', clock: 'wall'};
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i].replace(/^--/, '');
    a[k] = argv[++i];
  }
  a.runs = parseInt(a.runs, 10);
  a.warmup = parseInt(a.warmup, 10);
  a.threads = parseInt(a.threads, 10);
  a.vocab = parseInt(a.vocab, 10);
  return a;
}

function median(xs) {
  const s = xs.slice().sort((x, y) => x - y);
  return s[Math.floor(s.length / 2)];
}

// Deterministic ids (xorshift), away from the special tokens 0..4.
function randomIds(n, vocab, seed) {
  let x = BigInt(seed) * 2654435761n + 1n;
  const ids = new BigInt64Array(n);
  for (let i = 0; i < n; i++) {
    x ^= (x << 13n) & 0xffffffffffffffffn;
    x ^= x >> 7n;
    x ^= (x << 17n) & 0xffffffffffffffffn;
    ids[i] = 5n + (x % BigInt(vocab - 5));
  }
  return ids;
}

async function main() {
  const a = args(process.argv.slice(2));
  let ort;
  try {
    ort = require(path.join(path.resolve(a.ort), 'node_modules', 'onnxruntime-node'));
  } catch (e) {
    console.log(JSON.stringify({error: 'cannot load onnxruntime-node from ' + a.ort + ': ' + e.message}));
    process.exit(3);
  }
  const opts = {
    intraOpNumThreads: a.threads,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
    executionProviders: ['cpu'],
  };
  const sess = await ort.InferenceSession.create(a.model, opts);
  const run = async (ids) => {
    const feeds = {input_ids: new ort.Tensor('int64', ids, [1, ids.length])};
    return sess.run(feeds);
  };
  const version = (ort.env && ort.env.versions && ort.env.versions.common) || null;
  if (a.ids) {
    const seqs = fs.readFileSync(a.ids, 'utf8').split('\n').filter((l) => l.trim().length)
        .map((l) => BigInt64Array.from(l.split('\t').pop().trim().split(/\s+/).map((x) => BigInt(x))));
    for (let i = 0; i < Math.min(a.warmup, seqs.length); i++) await run(seqs[i]);
    let total = 0;
    const labels = [];
    for (const s of seqs) {
      const t0 = process.hrtime.bigint(), c0 = process.cpuUsage();
      const out = await run(s);
      if (a.clock === 'cpu') {
        const c = process.cpuUsage(c0);
        total += (c.user + c.system) / 1e3;
      } else {
        total += Number(process.hrtime.bigint() - t0) / 1e6;
      }
      const lg = out.logits.data;
      let best = 0;
      for (let i = 1; i < lg.length; i++) if (lg[i] > lg[best]) best = i;
      labels.push(best);
    }
    console.log(JSON.stringify({engine: 'ort', version, threads: a.threads, n: seqs.length,
      mean_ms: total / Math.max(1, seqs.length), labels}));
    return;
  }
  const rows = [];
  for (const n of a.tokens.split(',').map((x) => parseInt(x, 10))) {
    const ids = randomIds(n, a.vocab, n);
    for (let i = 0; i < a.warmup; i++) await run(ids);
    const ts = [];
    for (let i = 0; i < a.runs; i++) {
      if (a.clock === 'cpu') { // process CPU time (all threads), robust to other load
        const c0 = process.cpuUsage();
        await run(ids);
        const c = process.cpuUsage(c0);
        ts.push((c.user + c.system) / 1e3);
      } else {
        const t0 = process.hrtime.bigint();
        await run(ids);
        ts.push(Number(process.hrtime.bigint() - t0) / 1e6);
      }
    }
    rows.push({engine: 'ort', threads: a.threads, tokens: n, median_ms: median(ts),
      min_ms: Math.min(...ts), runs: ts.length});
  }
  console.log(JSON.stringify({engine: 'ort', version, threads: a.threads, clock: a.clock, rows}));
}

main().catch((e) => {
  console.log(JSON.stringify({error: String(e && e.message || e)}));
  process.exit(1);
});
