// The logreg-onnx graph contract in JavaScript, for any onnxruntime flavour: the model's own metadata (read with
// protobufjs: onnxruntime's JavaScript APIs expose no custom metadata), named rows to the graph's inputs with every
// value checked, format 3's explanations (explain.js), and the test-vector check. Used by the Node.js client
// (index.js) and the browser page. The contract itself is written down in runtime/contract.py.

import { InputError } from './errors.js';
import { checkTop, explainRow } from './explain.js';
import { withoutOutputs } from './prune.js';

export { InputError } from './errors.js';

const SCHEMA = `
syntax = "proto3";
message StringStringEntryProto { string key = 1; string value = 2; }
message ModelProto { repeated StringStringEntryProto metadata_props = 14; }
`;

export const INPUT = 'features'; // float32 [batch, numeric columns], NaN = missing
export const CATEGORIES = 'categories'; // string [batch, categorical columns], "" = missing
// float32 [batch]: a known term of a binary model's logit, in a model trained with an offset (metadata "offset"
// names the column a row gives it in); 0 for a row without it
export const OFFSET = 'offset';
export const READABLE_FORMATS = ['1', '2', '3'];
export const LABEL = 'label'; // int64 [batch]
export const PROBABILITIES = 'probabilities'; // float32 [batch, classes]
export const PREDICTIONS = [LABEL, PROBABILITIES]; // what every format has, and what predict() runs
// format 3, in the graph's order after those two: logit [batch, L], contributions [batch, columns, L], and with
// classical standard errors logit_se [batch, L], then for a binary model probability_lower/upper [batch]
export const LOGIT = 'logit';
export const CONTRIBUTIONS = 'contributions';
export const LOGIT_SE = 'logit_se';
export const EXPLAIN_OUTPUTS = [LOGIT, CONTRIBUTIONS, LOGIT_SE, 'probability_lower', 'probability_upper'];

/** The model's metadata_props as a plain object of key -> value, decoded with protobufjs (``protobuf``). */
export function readMetadata(protobuf, bytes) {
  const ModelProto = protobuf.parse(SCHEMA, { keepCase: true }).root.lookupType('ModelProto');
  const decoded = ModelProto.decode(bytes);
  return Object.fromEntries(decoded.metadata_props.map((entry) => [entry.key, entry.value]));
}

/**
 * A Model from the file's bytes, with any onnxruntime flavour (onnxruntime-node, onnxruntime-web) and protobufjs. A
 * format 3 file opens two sessions: predictions run the graph without its explain nodes (prune.js), explain() the
 * whole graph.
 */
export async function createModel({ ort, protobuf }, bytes, options = {}) {
  const metadata = readMetadata(protobuf, bytes);
  const format = metadata.logreg_onnx_format;
  if (!READABLE_FORMATS.includes(format)) {
    throw new InputError(
      `logreg_onnx_format ${JSON.stringify(format)} is not one this client reads (${READABLE_FORMATS.join(', ')}): ` +
        'update the client, or export the model with a logreg-onnx that writes one of those',
    );
  }
  const full = await ort.InferenceSession.create(bytes, options);
  if (full.outputNames.length === PREDICTIONS.length) return new Model(ort, full, metadata);
  let pruned = null;
  try {
    pruned = withoutOutputs(bytes, PREDICTIONS);
  } catch {
    // not readable as a plain ModelProto after all: the whole graph serves predictions too
  }
  const predictions = pruned ? await ort.InferenceSession.create(pruned, options) : full;
  return new Model(ort, predictions, metadata, full);
}

export class Model {
  /** ``session`` runs label and probabilities; ``fullSession`` (format 3) every output of the file. */
  constructor(ort, session, metadata, fullSession = session) {
    this.ort = ort;
    this.session = session;
    this.fullSession = fullSession;
    this.metadata = metadata;
    this.format = metadata.logreg_onnx_format;
    this.featureNames = JSON.parse(metadata.feature_names);
    this.classNames = JSON.parse(metadata.class_names);
    // format 1: every feature numeric, nothing imputed; format 2: the columns with their kinds and medians
    this.columns = metadata.columns
      ? JSON.parse(metadata.columns)
      : this.featureNames.map((name) => ({ name, kind: 'numeric', median: null }));
    this.naValues = new Set(metadata.na_values ? JSON.parse(metadata.na_values) : []);
    this.numeric = this.columns.filter((c) => c.kind === 'numeric');
    this.categorical = this.columns.filter((c) => c.kind === 'categorical');
    // a portable graph (metadata category_codes) takes each text as its int64 code, by runtime/contract.py's rule:
    // the column's levels then its other levels, numbered from 0; "" (missing) -1; any other text (unseen) -2
    this.codeTables = metadata.category_codes
      ? this.categorical.map((c) => new Map([...c.levels, ...(c.other ?? [])].map((text, code) => [text, code])))
      : null;
    this.outputNames = [...fullSession.outputNames]; // the file's outputs, in the graph's order
    // format 3: {reference_class, logits, baseline, baseline_logit, intervals, intervals_note, level, z}
    this.explainMetadata = metadata.explain ? JSON.parse(metadata.explain) : null;
    // a model with an offset input: the column a named row gives it in (null: no such input)
    this.offsetColumn = metadata.offset ? JSON.parse(metadata.offset).column : null;
  }

  /** Whether the model has the explain outputs (format 3). */
  get explainable() {
    return this.outputNames.includes(CONTRIBUTIONS);
  }

  /** Whether the model has interval outputs (format 3 with classical standard errors). */
  get intervals() {
    return this.outputNames.includes(LOGIT_SE);
  }

  get numericNames() {
    return this.numeric.map((c) => c.name);
  }

  get categoricalNames() {
    return this.categorical.map((c) => c.name);
  }

  /** The graph's feeds for ``rows`` rows of the inputs, as runInputs takes them (``offsets``: 0 when not given). */
  feeds(numeric, categories, rows, offsets = null) {
    const feeds = {};
    if (this.offsetColumn !== null) {
      feeds[OFFSET] = new this.ort.Tensor('float32', offsets ?? new Float32Array(rows), [rows]);
    } else if (offsets) {
      throw new InputError('offsets given, but this model takes no offset input (it was trained without --offset)');
    }
    if (this.numeric.length) feeds[INPUT] = new this.ort.Tensor('float32', numeric, [rows, this.numeric.length]);
    if (this.categorical.length && this.codeTables) {
      const n = this.categorical.length;
      const codes = BigInt64Array.from(categories, (text, i) => BigInt(codeOf(text, this.codeTables[i % n])));
      feeds[CATEGORIES] = new this.ort.Tensor('int64', codes, [rows, n]);
    } else if (this.categorical.length) {
      feeds[CATEGORIES] = new this.ort.Tensor('string', categories, [rows, this.categorical.length]);
    }
    return feeds;
  }

  /**
   * The graph's own inputs: numeric (Float32Array, rows x numeric columns, NaN where missing), categories (array
   * of strings, rows x categorical columns, "" where missing) and, for a model with an offset input, ``offsets``
   * (Float32Array, one per row; zeros when not given). Returns {labels: number[], probabilities: number[][]}.
   */
  async runInputs(numeric, categories, rows, { checkFinite = true, offsets = null } = {}) {
    const out = await this.session.run(this.feeds(numeric, categories, rows, offsets), PREDICTIONS);
    const k = this.classNames.length;
    const p = out.probabilities.data;
    if (checkFinite) this.checkFinite(p, k);
    const labels = Array.from(out.label.data, (v) => Number(v)); // int64 comes back as a BigInt64Array
    const probabilities = [];
    for (let i = 0; i < rows; i++) probabilities.push(Array.from(p.subarray(i * k, (i + 1) * k)));
    return { labels, probabilities };
  }

  /**
   * Any of the file's outputs (``names``, default all) for rows given as the graph's inputs, by name: each a flat
   * array in row-major order (label as numbers). The explain outputs run on the whole graph; label and
   * probabilities alone on the predict session.
   */
  async runOutputs(numeric, categories, rows, names = this.outputNames, { checkFinite = true, offsets = null } = {}) {
    const unknown = names.filter((name) => !this.outputNames.includes(name));
    if (unknown.length) {
      throw new InputError(
        `this model has no output ${JSON.stringify(unknown[0])}; its outputs are ${this.outputNames.join(', ')}`,
      );
    }
    const wanted = [...new Set([PROBABILITIES, ...names])];
    const session = wanted.every((name) => PREDICTIONS.includes(name)) ? this.session : this.fullSession;
    const out = await session.run(this.feeds(numeric, categories, rows, offsets), wanted);
    if (checkFinite) this.checkFinite(out.probabilities.data, this.classNames.length);
    return Object.fromEntries(
      names.map((name) => [name, name === LABEL ? Array.from(out[name].data, (v) => Number(v)) : out[name].data]),
    );
  }

  checkFinite(probabilities, k) {
    for (let i = 0; i < probabilities.length; i += k) {
      if (Number.isNaN(probabilities[i])) {
        throw new InputError(
          `row ${i / k}: a feature is not a finite number (or is missing in a column the model cannot impute)`,
        );
      }
    }
  }

  /**
   * Why each row came out as it did, and how sure the model is (format 3), as the Python runtime's Model.explain:
   * per row {label, probabilities: {class: p}, logit: {class: log(p / p_reference)}, toward: [{column,
   * contribution}], away: [...], interval}, ``top`` columns at most each way, contributions in logit units toward
   * the predicted class (explain.js). ``interval``, with classical standard errors: a binary model's {p_lower,
   * p_upper, logit_se} (the 95% interval of the second class's probability), a multinomial model's {logit_lower,
   * logit_upper, logit_se} per class. Rows as predict() takes them.
   */
  async explain(rows, { top = 3 } = {}) {
    if (!this.explainable) {
      throw new InputError(
        `logreg-onnx format ${this.format} has no explanations (its outputs are label and probabilities); export ` +
          'the model again to get format 3',
      );
    }
    checkTop(top);
    const { numeric, categories, offsets } = this.encode(rows);
    const out = await this.runOutputs(numeric, categories, rows.length, this.outputNames, { offsets });
    return rows.map((_, i) => explainRow(this, out, i, rows.length, top));
  }

  /**
   * Rows as objects keyed by feature name (every feature, in any order; other keys are ignored). Numeric features
   * take numbers (a boolean is not one), and null (or NaN) for a missing value where the model imputes; categorical
   * ones take text ("", null or an NA text for a missing value), and numbers or booleans as their text (true is
   * "True", as Python writes it). The same rules as the Python runtime's: docs/inputs.md. A model with an offset
   * input takes each row's under its ``offsetColumn`` (0 where a row has none, or null).
   * Returns [{label, probabilities: {class: p}}], the label being the graph's own (its threshold included).
   */
  async predict(rows) {
    const { numeric, categories, offsets } = this.encode(rows);
    const { labels, probabilities } = await this.runInputs(numeric, categories, rows.length, { offsets });
    return labels.map((label, i) => ({
      label: this.classNames[label],
      probabilities: Object.fromEntries(this.classNames.map((name, k) => [name, probabilities[i][k]])),
    }));
  }

  /**
   * Named rows as the graph's inputs, every value checked; errors name the row and the column. ``offsets``: a
   * model's offset input (null for a model without one).
   */
  encode(rows) {
    if (!Array.isArray(rows)) throw new InputError(`expected an array of rows, got ${typeof rows}`);
    if (!rows.length) throw new InputError('no rows: got an empty array; pass an array of row objects');
    const numeric = new Float32Array(rows.length * this.numeric.length);
    const categories = [];
    const offsets = this.offsetColumn === null ? null : new Float32Array(rows.length);
    rows.forEach((row, i) => {
      if (row === null || typeof row !== 'object' || Array.isArray(row)) {
        throw new InputError(`row ${i}: expected an object keyed by feature name, got ${JSON.stringify(row)}`);
      }
      const missing = this.featureNames.filter((name) => !(name in row));
      if (missing.length) {
        // keys the model does not use are ignored; named here, as a misspelled feature is the likeliest cause
        const unused = Object.keys(row).filter((key) => !this.featureNames.includes(key));
        const hint = unused.length
          ? ` (the row also has ${unused.slice(0, 5).map((k) => JSON.stringify(k)).join(', ')}, which the model does not use: a misspelling?)`
          : '';
        throw new InputError(`row ${i}: missing feature${missing.length > 1 ? 's' : ''} ${missing.slice(0, 5).map((m) => JSON.stringify(m)).join(', ')}${hint}`);
      }
      this.numeric.forEach((column, j) => {
        numeric[i * this.numeric.length + j] = this.number(row, column, i);
      });
      for (const column of this.categorical) categories.push(this.text(row, column, i));
      if (offsets) offsets[i] = this.offset(row, i);
    });
    return { numeric, categories, offsets };
  }

  /** A row's offset: its value under the offset column, 0 when it has none (absent, null or NaN). */
  offset(row, i) {
    const value = row[this.offsetColumn];
    if (value === null || value === undefined || (typeof value === 'number' && Number.isNaN(value))) return 0;
    if (typeof value !== 'number' || !Number.isFinite(value)) {
      const name = JSON.stringify(this.offsetColumn);
      throw new InputError(`row ${i}, column ${name} (the model's offset): ${JSON.stringify(value)} is not a finite number`);
    }
    return value;
  }

  /** "row R, column N ("name")": N counts every feature in the model's order, text ones included. */
  where(i, column) {
    return `row ${i}, column ${this.featureNames.indexOf(column.name)} (${JSON.stringify(column.name)})`;
  }

  number(row, column, i) {
    const value = row[column.name];
    if (value === null || value === undefined || (typeof value === 'number' && Number.isNaN(value))) {
      if (column.median === null || column.median === undefined) {
        throw new InputError(`${this.where(i, column)}: a missing value, and this model cannot impute it`);
      }
      return NaN; // imputed inside the graph with the training median
    }
    if (typeof value === 'boolean') {
      throw new InputError(`${this.where(i, column)}: ${value} is a boolean, not a number (send 1 or 0)`);
    }
    if (typeof value !== 'number' || !Number.isFinite(value)) {
      throw new InputError(`${this.where(i, column)}: ${JSON.stringify(value)} is not a finite number`);
    }
    return value;
  }

  text(row, column, i) {
    const value = row[column.name];
    if (value === null || value === undefined || (typeof value === 'number' && Number.isNaN(value))) return '';
    if (typeof value === 'boolean') return value ? 'True' : 'False';
    if (typeof value === 'number') return String(value);
    if (typeof value !== 'string') {
      throw new InputError(`${this.where(i, column)}: ${JSON.stringify(value)} is not a value`);
    }
    const trimmed = value.trim();
    return this.naValues.has(trimmed) ? '' : trimmed;
  }

  /**
   * Text cells (from CSV) as a row for predict(): numeric cells parsed as numbers ("" and NA texts: missing),
   * categorical ones kept as text. ``where(column)`` names the cell in errors.
   */
  fromText(cells, where) {
    const row = {};
    for (const column of this.columns) {
      const cell = cells[column.name];
      if (cell === undefined) throw new InputError(`${where(column.name)}: no column ${JSON.stringify(column.name)}`);
      if (column.kind === 'categorical') {
        row[column.name] = cell;
        continue;
      }
      const trimmed = cell.trim();
      if (trimmed === '' || this.naValues.has(trimmed)) {
        row[column.name] = null;
      } else if (/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(trimmed)) {
        row[column.name] = Number(trimmed);
      } else {
        throw new InputError(`${where(column.name)}: ${JSON.stringify(cell)} is not a number`);
      }
    }
    const offset = this.offsetColumn === null ? undefined : cells[this.offsetColumn]?.trim();
    if (offset !== undefined && offset !== '' && !this.naValues.has(offset)) {
      if (!/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(offset)) {
        throw new InputError(`${where(this.offsetColumn)}: ${JSON.stringify(offset)} is not a number (the offset)`);
      }
      row[this.offsetColumn] = Number(offset);
    }
    return row;
  }
}

/** A text's code in a portable graph: its number in ``table``, or -1 for "" (missing), -2 for an unseen text. */
export function codeOf(text, table) {
  const code = table.get(text);
  if (code !== undefined) return code;
  return text === '' ? -1 : -2;
}

/** Row ``i`` of runOutputs' flat arrays (``rows`` rows in all): name -> that row's values. */
export function rowOf(outputs, i, rows) {
  return Object.fromEntries(
    Object.entries(outputs).map(([name, data]) => {
      const width = data.length / rows;
      return [name, data.slice(i * width, (i + 1) * width)];
    }),
  );
}

/**
 * Replay test vectors (the parsed model.testvectors.json, versions 1 to 3) through the graph's inputs and through
 * named rows, by their own rule (runtime/contract.py TESTVECTORS_RULE): labels equal unless the top two expected
 * probabilities are within 2*atol, every probability within atol, and every other output the document lists (format
 * 3: logit, contributions, logit_se, probability_lower, probability_upper) within atol * max(1, |expected|).
 * Returns {cases, atol, outputs (the names compared), maxAbsDiff (probabilities), worst (name -> largest
 * |difference| / max(1, |expected|)), failures}.
 */
export async function checkTestVectors(model, vectors) {
  const atol = vectors.atol;
  const cases = vectors.cases;
  const n = cases.length;
  const listed = vectors.outputs ?? PREDICTIONS;
  const extra = listed.filter((name) => !PREDICTIONS.includes(name));
  const absent = extra.filter((name) => !model.outputNames.includes(name));
  if (absent.length) {
    throw new InputError(
      `the test vectors list the output ${JSON.stringify(absent[0])}, which this model does not have (its outputs: ` +
        `${model.outputNames.join(', ')}): pass the vectors written beside this model file`,
    );
  }
  const numeric = Float32Array.from(cases.flatMap((c) => (c.features ?? []).map((v) => (v === null ? NaN : v))));
  const categories = cases.flatMap((c) => c.categories ?? []);
  const offsets = (vectors.inputs ?? []).includes(OFFSET) ? Float32Array.from(cases, (c) => c[OFFSET]) : null;
  const byInputs = await model.runInputs(numeric, categories, n, { checkFinite: false, offsets });
  // format-1 vectors have no raw rows: name the features, null for a missing value
  const rows = cases.map((c) => c.row ?? Object.fromEntries(model.featureNames.map((name, j) => [name, c.features[j]])));
  const byRows = await model.predict(rows);
  const failures = [];
  let maxAbsDiff = 0;
  cases.forEach((c, i) => {
    const ways = [
      ['inputs', byInputs.probabilities[i], byInputs.labels[i]],
      ['row', model.classNames.map((name) => byRows[i].probabilities[name]), model.classNames.indexOf(byRows[i].label)],
    ];
    for (const [way, got, label] of ways) {
      const diff = Math.max(...got.map((p, k) => Math.abs(p - c.probabilities[k])));
      maxAbsDiff = Math.max(maxAbsDiff, diff);
      const sorted = [...c.probabilities].sort((a, b) => b - a);
      const tie = sorted.length > 1 && sorted[0] - sorted[1] <= 2 * atol;
      if (!(diff <= atol) || (label !== c.label && !tie)) {
        failures.push(`case ${i} (${c.group}, ${way}): label ${label} vs ${c.label}, max difference ${diff.toExponential(2)}`);
      }
    }
  });
  const worst = {};
  if (extra.length) {
    const encoded = model.encode(rows);
    const ways = [
      ['inputs', await model.runOutputs(numeric, categories, n, extra, { checkFinite: false, offsets })],
      [
        'row',
        await model.runOutputs(encoded.numeric, encoded.categories, n, extra, {
          checkFinite: false,
          offsets: encoded.offsets,
        }),
      ],
    ];
    for (const name of extra) {
      worst[name] = 0;
      cases.forEach((c, i) => {
        if (!(name in c)) {
          failures.push(`case ${i} (${c.group}): no ${name}, which the document's outputs list`);
          return;
        }
        const expected = [c[name]].flat(Infinity);
        for (const [way, outputs] of ways) {
          const got = rowOf({ [name]: outputs[name] }, i, n)[name];
          if (got.length !== expected.length) {
            const counts = `${got.length} values, expected ${expected.length}`;
            failures.push(`case ${i} (${c.group}, ${way}): ${name} has ${counts}`);
            continue;
          }
          // Math.max is NaN when any value is: a NaN output fails
          const scaled = Array.from(got, (v, k) => Math.abs(v - expected[k]) / Math.max(1, Math.abs(expected[k])));
          const off = Math.max(0, ...scaled);
          worst[name] = Math.max(worst[name], off);
          if (!(off <= atol)) {
            const by = `${off.toExponential(2)} x max(1, |expected|)`;
            failures.push(`case ${i} (${c.group}, ${way}): ${name} off by ${by}`);
          }
        }
      });
    }
  }
  return { cases: n, atol, outputs: [...PREDICTIONS, ...extra], maxAbsDiff, worst, failures };
}
