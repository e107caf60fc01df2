#!/usr/bin/env node
// One-row latency in onnxruntime-node of predict against explain (format 3), for bench/explain.py: prints one JSON
// object, microseconds per call (the best of --repeats timed rounds of about --seconds each, the least disturbed),
// of the client's own calls (predict_us, explain_us, run_outputs_us: every output, unranked) and, under
// bare_sessions, of the sessions beneath them: the predict session without the explain nodes, and the whole graph
// asked for label and probabilities only, or for every output.
//
//   node bench.js MODEL.onnx [--seconds 1] [--repeats 5] [--top 3]
//
// The row is the model's first test-vector case (MODEL.testvectors.json beside it), or every feature 0 without one.

import { readFile } from 'node:fs/promises';
import os from 'node:os';
import ort from 'onnxruntime-node';
import { InputError, PREDICTIONS, loadModel } from './index.js';

function options(argv) {
  const [model, ...rest] = argv;
  const settings = { model, seconds: 1, repeats: 5, top: 3 };
  for (let i = 0; i < rest.length; i += 2) {
    const name = rest[i].replace(/^--/, '');
    if (!(name in settings) || name === 'model' || !(Number(rest[i + 1]) > 0)) {
      const got = rest.slice(i, i + 2).join(' ');
      throw new InputError(`usage: node bench.js MODEL.onnx [--seconds S] [--repeats N] [--top K]; got ${got}`);
    }
    settings[name] = Number(rest[i + 1]);
  }
  if (!model) throw new InputError('usage: node bench.js MODEL.onnx [--seconds S] [--repeats N] [--top K]');
  return settings;
}

/** Microseconds per call of ``call`` (async): the best of ``repeats`` rounds of about ``seconds`` each. */
async function timed(call, seconds, repeats) {
  for (let i = 0; i < 200; i++) await call(); // warm: first-run allocations, JIT
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
  const settings = options(process.argv.slice(2));
  const model = await loadModel(settings.model);
  if (!model.explainable) {
    throw new InputError(
      `${settings.model}: logreg-onnx format ${model.format} has no explain outputs; bench a format 3 model`,
    );
  }
  let row = Object.fromEntries(model.featureNames.map((name) => [name, 0]));
  try {
    const vectors = JSON.parse(await readFile(settings.model.replace(/\.onnx$/, '') + '.testvectors.json', 'utf8'));
    row = vectors.cases[0].row ?? row;
  } catch {
    // no test vectors beside the model: the zero row
  }
  const rows = [row];
  const { numeric, categories } = model.encode(rows);
  const feeds = model.feeds(numeric, categories, 1);
  const { seconds, repeats, top } = settings;
  const result = {
    model: settings.model,
    features: model.featureNames.length,
    classes: model.classNames.length,
    outputs: model.outputNames,
    onnxruntime_node: ort.env.versions?.node ?? null,
    node: process.version,
    cpu: os.cpus()[0]?.model ?? null,
    seconds,
    repeats,
    top,
    predict_us: await timed(() => model.predict(rows), seconds, repeats),
    explain_us: await timed(() => model.explain(rows, { top }), seconds, repeats),
    run_outputs_us: await timed(() => model.runOutputs(numeric, categories, 1), seconds, repeats),
    bare_sessions: {
      predict_session_us: await timed(() => model.session.run(feeds), seconds, repeats),
      full_graph_label_and_probabilities_us: await timed(
        () => model.fullSession.run(feeds, PREDICTIONS),
        seconds,
        repeats,
      ),
      full_graph_every_output_us: await timed(() => model.fullSession.run(feeds), seconds, repeats),
    },
  };
  result.explain_over_predict = Number((result.explain_us / result.predict_us).toFixed(2));
  console.log(JSON.stringify(result, null, 1));
}

main().catch((error) => {
  console.error(`Error: ${error.message ?? error}`);
  process.exitCode = error instanceof InputError ? 2 : 70;
});
