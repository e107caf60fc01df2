// The logreg-onnx graph contract in JavaScript, for any onnxruntime flavour: the model's own metadata (read with
// protobufjs: onnxruntime's JavaScript APIs expose no custom metadata), named rows to the graph's inputs with every
// value checked, and the test-vector check. Used by the Node.js client (index.js) and the browser page.

const SCHEMA = `
syntax = "proto3";
message StringStringEntryProto { string key = 1; string value = 2; }
message ModelProto { repeated StringStringEntryProto metadata_props = 14; }
`;

export const INPUT = 'features'; // float32 [batch, numeric columns], NaN = missing
export const CATEGORIES = 'categories'; // string [batch, categorical columns], "" = missing
export const READABLE_FORMATS = ['1', '2'];

/** A row or a file that does not fit the model: the message says what was expected and what was got. */
export class InputError extends Error {
  constructor(message) {
    super(message);
    this.name = 'InputError';
  }
}

/** The model's metadata_props as a plain object of key -> value, decoded with protobufjs (``protobuf``). */
export function readMetadata(protobuf, bytes) {
  const ModelProto = protobuf.parse(SCHEMA, { keepCase: true }).root.lookupType('ModelProto');
  const decoded = ModelProto.decode(bytes);
  return Object.fromEntries(decoded.metadata_props.map((entry) => [entry.key, entry.value]));
}

/** A Model from the file's bytes, with any onnxruntime flavour (onnxruntime-node, onnxruntime-web) and protobufjs. */
export async function createModel({ ort, protobuf }, bytes, options = {}) {
  const metadata = readMetadata(protobuf, bytes);
  const format = metadata.logreg_onnx_format;
  if (!READABLE_FORMATS.includes(format)) {
    throw new InputError(`logreg_onnx_format ${JSON.stringify(format)} is not one this client reads (${READABLE_FORMATS})`);
  }
  const session = await ort.InferenceSession.create(bytes, options);
  return new Model(ort, session, metadata);
}

export class Model {
  constructor(ort, session, metadata) {
    this.ort = ort;
    this.session = session;
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
  }

  get numericNames() {
    return this.numeric.map((c) => c.name);
  }

  get categoricalNames() {
    return this.categorical.map((c) => c.name);
  }

  /**
   * The graph's own inputs: numeric (Float32Array, rows x numeric columns, NaN where missing) and categories (array
   * of strings, rows x categorical columns, "" where missing). Returns {labels: number[], probabilities: number[][]}.
   */
  async runInputs(numeric, categories, rows) {
    const feeds = {};
    if (this.numeric.length) feeds[INPUT] = new this.ort.Tensor('float32', numeric, [rows, this.numeric.length]);
    if (this.categorical.length) {
      feeds[CATEGORIES] = new this.ort.Tensor('string', categories, [rows, this.categorical.length]);
    }
    const out = await this.session.run(feeds);
    const k = this.classNames.length;
    const p = out.probabilities.data;
    if (p.length && Number.isNaN(p[0])) {
      throw new InputError('a feature is not a finite number (or is missing in a column the model cannot impute)');
    }
    const labels = Array.from(out.label.data, (v) => Number(v)); // int64 comes back as a BigInt64Array
    const probabilities = [];
    for (let i = 0; i < rows; i++) probabilities.push(Array.from(p.subarray(i * k, (i + 1) * k)));
    return { labels, probabilities };
  }

  /**
   * Rows as objects keyed by feature name (every feature, in any order; other keys are ignored). Numeric features
   * take numbers (a boolean is not one), and null (or NaN) for a missing value where the model imputes; categorical
   * ones take text ("", null or an NA text for a missing value), and numbers or booleans as their text (true is
   * "True", as Python writes it). The same rules as the Python runtime's: docs/inputs.md.
   * Returns [{label, probabilities: {class: p}}], the label being the graph's own (its threshold included).
   */
  async predict(rows) {
    const { numeric, categories } = this.encode(rows);
    const { labels, probabilities } = await this.runInputs(numeric, categories, rows.length);
    return labels.map((label, i) => ({
      label: this.classNames[label],
      probabilities: Object.fromEntries(this.classNames.map((name, k) => [name, probabilities[i][k]])),
    }));
  }

  /** Named rows as the graph's two inputs, every value checked; errors name the row and the column. */
  encode(rows) {
    if (!Array.isArray(rows)) throw new InputError(`expected an array of rows, got ${typeof rows}`);
    if (!rows.length) throw new InputError('no rows: got an empty array; pass an array of row objects');
    const numeric = new Float32Array(rows.length * this.numeric.length);
    const categories = [];
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
    });
    return { numeric, categories };
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
    return row;
  }
}

/**
 * Replay test vectors (the parsed model.testvectors.json) through the graph's inputs and through named rows; by their
 * own rule: labels equal unless the top two expected probabilities are within 2*atol, every probability within atol.
 */
export async function checkTestVectors(model, vectors) {
  const atol = vectors.atol;
  const cases = vectors.cases;
  const n = cases.length;
  const numeric = Float32Array.from(cases.flatMap((c) => (c.features ?? []).map((v) => (v === null ? NaN : v))));
  const categories = cases.flatMap((c) => c.categories ?? []);
  const byInputs = await model.runInputs(numeric, categories, n);
  // format-1 vectors have no raw rows: name the features, null for a missing value
  const rows = cases.map((c) => c.row ?? Object.fromEntries(model.featureNames.map((name, j) => [name, c.features[j]])));
  const byRows = await model.predict(rows);
  const failures = [];
  let worst = 0;
  cases.forEach((c, i) => {
    const ways = [
      ['inputs', byInputs.probabilities[i], byInputs.labels[i]],
      ['row', model.classNames.map((name) => byRows[i].probabilities[name]), model.classNames.indexOf(byRows[i].label)],
    ];
    for (const [way, got, label] of ways) {
      const diff = Math.max(...got.map((p, k) => Math.abs(p - c.probabilities[k])));
      worst = Math.max(worst, diff);
      const sorted = [...c.probabilities].sort((a, b) => b - a);
      const tie = sorted.length > 1 && sorted[0] - sorted[1] <= 2 * atol;
      if (diff > atol || (label !== c.label && !tie)) {
        failures.push(`case ${i} (${c.group}, ${way}): label ${label} vs ${c.label}, max difference ${diff.toExponential(2)}`);
      }
    }
  });
  return { cases: n, atol, maxAbsDiff: worst, failures };
}
