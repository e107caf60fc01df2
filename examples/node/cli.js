#!/usr/bin/env node
// logreg-node: predict with a logreg-onnx model from Node.js, or check it against its test vectors.
//
//   logreg-node info MODEL.onnx
//   logreg-node predict MODEL.onnx ROWS.csv|ROWS.jsonl|-     JSON lines out, one per row
//   logreg-node check MODEL.onnx [VECTORS.json]              exit 1 on any mismatch beyond the vectors' tolerance
//
// Errors are one line on stderr and exit code 2 (bad input) or 1 (a failed check).

import { readFile } from 'node:fs/promises';
import { parse } from 'csv-parse/sync';
import { InputError, checkTestVectors, loadModel } from './index.js';

const USAGE = `usage: logreg-node info MODEL.onnx
       logreg-node predict MODEL.onnx ROWS.csv|ROWS.jsonl|-
       logreg-node check MODEL.onnx [VECTORS.json]`;

async function readInput(path) {
  if (path !== '-') return readFile(path, 'utf8');
  const chunks = [];
  for await (const chunk of process.stdin) chunks.push(chunk);
  return Buffer.concat(chunks).toString('utf8');
}

/** Rows from CSV (a header row naming the features) or JSON lines (one object per line), by content. */
function readRows(model, text, path) {
  const first = text.trimStart()[0];
  if (first === '{') {
    return text.split('\n').flatMap((line, i) => {
      if (!line.trim()) return [];
      try {
        return [JSON.parse(line)];
      } catch (error) {
        throw new InputError(`${path}:${i + 1}: not a JSON object (${error.message})`);
      }
    });
  }
  let records;
  try {
    records = parse(text, { columns: true, skip_empty_lines: true });
  } catch (error) {
    throw new InputError(`${path}: not CSV (${error.message})`);
  }
  return records.map((cells, i) => model.fromText(cells, (column) => `${path}:${i + 2}: column ${JSON.stringify(column)}`));
}

async function main(argv) {
  const [command, modelPath, other] = argv;
  if (!command || !modelPath || !['info', 'predict', 'check'].includes(command)) {
    console.error(USAGE);
    return 2;
  }
  const model = await loadModel(modelPath);
  if (command === 'info') {
    console.log(JSON.stringify({
      format: model.format,
      features: model.featureNames,
      numeric: model.numericNames,
      categorical: model.categorical.map((c) => ({ name: c.name, levels: c.levels })),
      classes: model.classNames,
    }, null, 1));
    return 0;
  }
  if (command === 'predict') {
    if (!other) throw new InputError('predict needs ROWS: a CSV or JSON-lines file, or - for stdin');
    const rows = readRows(model, await readInput(other), other === '-' ? '<stdin>' : other);
    const predictions = rows.length ? await model.predict(rows) : []; // a header alone: nothing to score
    process.stdout.write(predictions.map((p) => JSON.stringify(p)).join('\n') + (predictions.length ? '\n' : ''));
    return 0;
  }
  const vectorsPath = other ?? modelPath.replace(/\.onnx$/, '') + '.testvectors.json';
  const vectors = JSON.parse(await readFile(vectorsPath, 'utf8'));
  const report = await checkTestVectors(model, vectors);
  for (const failure of report.failures.slice(0, 10)) console.error(`FAIL ${failure}`);
  const verdict = report.failures.length ? 'FAILED' : 'passed';
  console.log(`${vectorsPath}: ${report.cases} cases ${verdict} (inputs and rows), max abs difference ${report.maxAbsDiff.toExponential(2)}, tolerance ${report.atol}`);
  return report.failures.length ? 1 : 0;
}

main(process.argv.slice(2)).then(
  (code) => { process.exitCode = code; },
  (error) => {
    if (error instanceof InputError || error.code === 'ENOENT' || error instanceof SyntaxError) {
      console.error(`Error: ${error.message}`);
      process.exitCode = 2;
    } else {
      console.error(`Error: ${error.message ?? error}`);
      process.exitCode = 70;
    }
  },
);
