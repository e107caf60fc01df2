#!/usr/bin/env node
// logreg-node: predict with a logreg-onnx model from Node.js, or check it against its test vectors.
//
//   logreg-node info MODEL.onnx
//   logreg-node predict MODEL.onnx ROWS.csv|ROWS.jsonl|- [--explain K]
//                         JSON lines out, one per row; --explain K (format 3): each row's explanation instead, the
//                         K columns that pushed hardest toward and away from the predicted class, and the interval
//   logreg-node check MODEL.onnx [VECTORS.json]              exit 1 on any mismatch beyond the vectors' tolerance
//
// Errors are one line on stderr and exit code 2 (bad input) or 1 (a failed check).

import { readFile } from 'node:fs/promises';
import { parse } from 'csv-parse/sync';
import { InputError, MAX_TOP, checkTestVectors, loadModel } from './index.js';

const USAGE = `usage: logreg-node info MODEL.onnx
       logreg-node predict MODEL.onnx ROWS.csv|ROWS.jsonl|- [--explain K]
       logreg-node check MODEL.onnx [VECTORS.json]`;

// A reader that stops early (`| head`) closes the pipe: that is the end of the output, not an error.
process.stdout.on('error', (error) => {
  if (error.code === 'EPIPE') process.exit(0);
  throw error;
});

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

/** The arguments without the --explain option, and its K (null when not given). */
function explainOption(argv) {
  const rest = [];
  let explain = null;
  for (let i = 0; i < argv.length; i++) {
    const [flag, inline] = argv[i].split(/=(.*)/s);
    if (flag !== '--explain') {
      rest.push(argv[i]);
      continue;
    }
    const value = inline ?? argv[++i];
    if (value === undefined || !/^\d+$/.test(value) || Number(value) < 1 || Number(value) > MAX_TOP) {
      const got = JSON.stringify(value ?? '');
      throw new InputError(`--explain takes a whole number of columns from 1 to ${MAX_TOP}, got ${got}`);
    }
    explain = Number(value);
  }
  return [rest, explain];
}

async function main(argv) {
  const [[command, modelPath, other], explain] = explainOption(argv);
  if (!command || !modelPath || !['info', 'predict', 'check'].includes(command)) {
    console.error(USAGE);
    return 2;
  }
  if (explain !== null && command !== 'predict') {
    throw new InputError(`--explain is an option of predict, not of ${command}`);
  }
  const model = await loadModel(modelPath);
  if (command === 'info') {
    console.log(JSON.stringify({
      format: model.format,
      features: model.featureNames,
      numeric: model.numericNames,
      categorical: model.categorical.map((c) => ({ name: c.name, levels: c.levels })),
      classes: model.classNames,
      offset: model.offsetColumn,
      outputs: model.outputNames,
      explain: model.explainMetadata && {
        reference_class: model.explainMetadata.reference_class,
        intervals: model.explainMetadata.intervals,
        intervals_note: model.explainMetadata.intervals_note,
      },
    }, null, 1));
    return 0;
  }
  if (command === 'predict') {
    if (!other) throw new InputError('predict needs ROWS: a CSV or JSON-lines file, or - for stdin');
    const rows = readRows(model, await readInput(other), other === '-' ? '<stdin>' : other);
    if (explain !== null && !model.explainable) await model.explain(rows); // its error says why, before any row
    const score = (some) => (explain === null ? model.predict(some) : model.explain(some, { top: explain }));
    const predictions = rows.length ? await score(rows) : []; // a header alone: nothing to score
    process.stdout.write(predictions.map((p) => JSON.stringify(p)).join('\n') + (predictions.length ? '\n' : ''));
    return 0;
  }
  const vectorsPath = other ?? modelPath.replace(/\.onnx$/, '') + '.testvectors.json';
  const vectors = JSON.parse(await readFile(vectorsPath, 'utf8'));
  const report = await checkTestVectors(model, vectors);
  for (const failure of report.failures.slice(0, 10)) console.error(`FAIL ${failure}`);
  const verdict = report.failures.length ? 'FAILED' : 'passed';
  // the explain outputs' largest difference is in units of max(1, |expected|), as their rule says
  const others = Object.entries(report.worst).map(([name, off]) => `${name} ${off.toExponential(2)}`);
  console.log(
    `${vectorsPath}: ${report.cases} cases ${verdict} (inputs and rows; outputs ${report.outputs.join(', ')}), ` +
      `max abs difference ${report.maxAbsDiff.toExponential(2)}` +
      (others.length ? ` (the others, relative to max(1, |expected|): ${others.join(', ')})` : '') +
      `, tolerance ${report.atol}`,
  );
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
