#!/usr/bin/env node
// ONNX Runtime's side of bench/onnx_vs_ort.py: one configuration, timed as bench/onnx_bench.cpp times Loupe.
//
//   NODE_PATH=/path/to/node_modules node onnx_ort_bench.js MODEL.onnx BATCH THREADS TOKENS OUTPUT FEATURES
//
// onnxruntime-node (`npm install --ignore-scripts onnxruntime-node`), intra-op threads = THREADS, inter-op 1,
// sequential execution, all graph optimisations. Inputs as onnx_bench makes them: float [BATCH, FEATURES]
// uniform in [-2, 2) when FEATURES > 0, else int64 token ids [BATCH, TOKENS] in [4, 100) (other inputs ones). Prints one JSON line:
// seconds per batch (median after a warm-up run), the process's CPU seconds (user + system, all threads) per
// batch over the timed runs, and the repetitions timed.
"use strict";
const ort = require("onnxruntime-node");

async function main() {
  const [model, batchText, threadsText, tokensText, output, featuresText] = process.argv.slice(2);
  const batch = Number(batchText), threads = Number(threadsText), tokens = Number(tokensText);
  const features = Number(featuresText);
  const session = await ort.InferenceSession.create(model, {
    intraOpNumThreads: threads, interOpNumThreads: 1, executionMode: "sequential",
    graphOptimizationLevel: "all",
  });
  const feeds = {};
  session.inputNames.forEach((name, k) => {
    if (features > 0) {
      const x = Float32Array.from({ length: batch * features }, () => Math.random() * 4 - 2);
      feeds[name] = new ort.Tensor("float32", x, [batch, features]);
    } else {
      const id = () => BigInt(k === 0 ? 4 + Math.floor(Math.random() * 96) : 1);
      feeds[name] = new ort.Tensor("int64", BigInt64Array.from({ length: batch * tokens }, id), [batch, tokens]);
    }
  });
  await session.run(feeds, [output]);
  const seconds = [];
  const cpuStart = process.cpuUsage();
  const start = process.hrtime.bigint();
  while (seconds.length < 3 || (seconds.length < 2000 && Number(process.hrtime.bigint() - start) / 1e9 < 1.5)) {
    const t0 = process.hrtime.bigint();
    await session.run(feeds, [output]);
    seconds.push(Number(process.hrtime.bigint() - t0) / 1e9);
  }
  const cpu = process.cpuUsage(cpuStart);
  const cpuSeconds = (cpu.user + cpu.system) / 1e6 / seconds.length;
  seconds.sort((a, b) => a - b);
  console.log(JSON.stringify({ seconds: seconds[Math.floor(seconds.length / 2)], cpu_seconds: cpuSeconds,
                               repeats: seconds.length }));
}

main().catch((e) => { console.error(e.message); process.exit(1); });
