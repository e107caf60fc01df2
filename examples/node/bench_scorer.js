#!/usr/bin/env node
// One-row latency of the generated ES module (logreg export --code js) against onnxruntime-node, for bench/edge.py:
// prints one JSON object, microseconds per call (the best of --repeats rounds of about --seconds each) of the bare
// calls (the module's predict(features, categories); the onnxruntime-node session's run on ready tensors) and of
// the client's Model.predict(rows) over each (contract.js's row rules, then the scorer beneath).
//
//   node bench_scorer.js MODEL.onnx MODEL.mjs [--seconds 1] [--repeats 5]
//
// The row is the model's first test-vector case (MODEL.testvectors.json beside it).

import { readFile } from 'node:fs/promises';
import { pathToFileURL } from 'node:url';
import ort from 'onnxruntime-node';
import { InputError, loadModel } from './index.js';
import { createScorerModel } from './scorer.js';

async function timed(call, seconds, repeats) {
  for (let i = 0; i < 2000; i++) await call(); // warm: first-run allocations, JIT
  const runs = [];
  for (let r = 0; r < repeats; r++) {
    let calls = 0;
    const start = process.hrtime.bigint();
    const until = start + BigInt(Math.round(seconds * 1e9));
    let now = start;
    while (now < until) {
      for (let i = 0; i < 100; i++) await call();
      calls += 100;
      now = process.hrtime.bigint();
    }
    runs.push(Number(now - start) / 1e3 / calls);
  }
  return Number(Math.min(...runs).toFixed(3));
}

async function main() {
  const [modelPath, modulePath, ...rest] = process.argv.slice(2);
  if (!modelPath || !modulePath) throw new InputError('usage: node bench_scorer.js MODEL.onnx MODEL.mjs [--seconds S] [--repeats N]');
  const settings = { seconds: 1, repeats: 5 };
  for (let i = 0; i < rest.length; i += 2) settings[rest[i].replace(/^--/, '')] = Number(rest[i + 1]);
  const model = await loadModel(modelPath);
  const scorer = await import(pathToFileURL(modulePath).href);
  const scored = createScorerModel(scorer);
  const vectors = JSON.parse(await readFile(modelPath.replace(/\.onnx$/, '') + '.testvectors.json', 'utf8'));
  const rows = [vectors.cases[0].row];
  const { numeric, categories } = model.encode(rows);
  const feeds = model.feeds(numeric, categories, 1);
  const features = Array.from(numeric);
  const { seconds, repeats } = settings;
  const result = {
    model: modelPath,
    features: model.featureNames.length,
    classes: model.classNames.length,
    onnxruntime_node: ort.env.versions?.node ?? null,
    node: process.version,
    module_predict_us: await timed(() => scorer.predict(features, categories), seconds, repeats),
    session_run_us: await timed(() => model.session.run(feeds), seconds, repeats),
    client_module_us: await timed(() => scored.predict(rows), seconds, repeats),
    client_onnxruntime_us: await timed(() => model.predict(rows), seconds, repeats),
  };
  console.log(JSON.stringify(result, null, 1));
}

main().catch((error) => {
  console.error(`Error: ${error.message ?? error}`);
  process.exitCode = error instanceof InputError ? 2 : 70;
});
