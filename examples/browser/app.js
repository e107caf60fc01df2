// The page: load a model with onnxruntime-web (WASM, files from npm served by this site), build a form from the
// model's metadata, show class probabilities as the user types, and score a dropped CSV into a table. A format 3
// model also explains the row: each column's contribution toward the predicted class as a horizontal bar (the
// graph's own contributions output, ranked as the Python runtime ranks them), and the interval when it has one.
// With ?scorer=module the page loads no runtime at all: it imports the ES module `logreg export --code js` wrote
// beside the model (/models/NAME.mjs) and scores with it through the same Model (examples/node/scorer.js).
import { createModel, InputError } from '../node/contract.js';
import { MAX_TOP } from '../node/explain.js';
import { createScorerModel } from '../node/scorer.js';

const useModule = new URLSearchParams(location.search).get('scorer') === 'module';
const ort = useModule ? null : await import('./node_modules/onnxruntime-web/dist/ort.wasm.min.mjs');
if (ort) {
  await script('./node_modules/protobufjs/dist/protobuf.min.js'); // reads the ONNX file's metadata (self.protobuf)
  ort.env.wasm.wasmPaths = new URL('./node_modules/onnxruntime-web/dist/', import.meta.url).href;
  // WASM threads need SharedArrayBuffer, which browsers give only to cross-origin isolated pages (COOP/COEP headers)
  ort.env.wasm.numThreads = self.crossOriginIsolated ? Math.min(4, navigator.hardwareConcurrency || 1) : 1;
}

const $ = (id) => document.getElementById(id);

/** A classic script (protobufjs' UMD build sets self.protobuf), loaded only where the page needs it. */
function script(src) {
  return new Promise((resolve, reject) => {
    const element = Object.assign(document.createElement('script'), { src, onload: resolve });
    element.onerror = () => reject(new Error(`could not load ${src}`));
    document.head.append(element);
  });
}
let model = null;

async function load(name) {
  $('status').textContent = `loading ${name}…`;
  if (useModule) {
    model = createScorerModel(await import(`/models/${name}.mjs`));
    $('status').textContent = `${name}: ${model.featureNames.length} features, classes ${model.classNames.join(', ')}; ` +
      'the generated ES module (logreg export --code js), no runtime';
  } else {
    const bytes = new Uint8Array(await (await fetch(`/models/${name}.onnx`)).arrayBuffer());
    model = await createModel({ ort, protobuf: self.protobuf }, bytes, { executionProviders: ['wasm'] });
    const threads = ort.env.wasm.numThreads;
    $('status').textContent = `${name}: ${model.featureNames.length} features, classes ${model.classNames.join(', ')}; ` +
      `onnxruntime-web ${ort.env.versions.web}, ${threads} WASM thread${threads === 1 ? '' : 's'} ` +
      `(${self.crossOriginIsolated ? 'cross-origin isolated' : 'not isolated'})`;
  }
  document.body.dataset.model = name;
  buildForm();
  await update();
}

function buildForm() {
  const form = $('row');
  form.replaceChildren();
  for (const column of model.columns) {
    const label = document.createElement('label');
    label.textContent = column.name;
    label.htmlFor = `f-${column.name}`;
    let field;
    if (column.kind === 'categorical') {
      field = document.createElement('select');
      for (const level of ['', ...column.levels]) {
        const option = document.createElement('option');
        option.value = level;
        option.textContent = level === '' ? '(missing)' : level;
        field.append(option);
      }
      field.value = column.levels[0] ?? '';
    } else {
      field = document.createElement('input');
      field.type = 'number';
      field.step = 'any';
      field.placeholder = column.median != null ? `missing: ${Number(column.median.toPrecision(6))}` : 'required';
      field.value = column.median != null ? String(Number(column.median.toPrecision(6))) : '0';
    }
    field.id = `f-${column.name}`;
    field.name = column.name;
    field.addEventListener('input', update);
    form.append(label, field);
  }
}

function formRow() {
  // the form's fields are text, read by the rule for a CSV cell (contract.js fromText; docs/inputs.md): an empty
  // number field is a missing value, and text that is not a number is refused, never read as NaN
  const cells = Object.fromEntries(model.columns.map((column) => [column.name, $(`f-${column.name}`).value]));
  return model.fromText(cells, (column) => `field ${JSON.stringify(column)}`);
}

async function update() {
  const box = $('probabilities');
  try {
    const row = formRow();
    const [prediction] = await model.predict([row]);
    // every column ranked: the bars show them all, the strongest push first
    const top = Math.min(MAX_TOP, model.featureNames.length);
    const [explanation] = model.explainable ? await model.explain([row], { top }) : [null];
    const interval = explanation?.interval;
    box.replaceChildren(...model.classNames.map((name, k) => {
      const p = prediction.probabilities[name];
      const bar = document.createElement('div');
      bar.className = 'bar';
      bar.dataset.class = name;
      bar.dataset.p = String(p);
      bar.innerHTML = '<span></span><div class="track"><div class="fill"></div></div><span></span>';
      bar.querySelector('.fill').style.width = `${(p * 100).toFixed(2)}%`;
      bar.children[0].textContent = name + (name === prediction.label ? ' ←' : '');
      bar.children[2].textContent = p.toPrecision(6);
      if (interval?.p_lower !== undefined && k === 1) {
        // a binary model's 95% interval of the second class's probability, over its bar
        const whisker = document.createElement('div');
        whisker.className = 'whisker';
        whisker.style.left = `${(interval.p_lower * 100).toFixed(2)}%`;
        whisker.style.width = `${((interval.p_upper - interval.p_lower) * 100).toFixed(2)}%`;
        whisker.title = `95% interval ${interval.p_lower.toPrecision(3)} to ${interval.p_upper.toPrecision(3)}`;
        bar.children[1].append(whisker);
      }
      return bar;
    }));
    showExplanation(explanation);
    box.dataset.label = prediction.label;
    box.dataset.row = JSON.stringify(row); // what these probabilities and contributions are for (a test waits on it)
  } catch (error) {
    showExplanation(null);
    box.innerHTML = '';
    const message = document.createElement('div');
    message.className = 'error';
    message.textContent = error instanceof InputError ? error.message : `error: ${error.message ?? error}`;
    box.append(message);
  }
}

/** The explanation panel: one bar per column, toward the predicted class one colour, away the other. */
function showExplanation(explanation) {
  const panel = $('explanation');
  panel.hidden = !explanation;
  if (!explanation) {
    delete panel.dataset.explain;
    return;
  }
  const { label } = explanation;
  const [reference, second] = model.classNames;
  const meta = model.explainMetadata ?? {};
  $('explain-title').textContent = model.classNames.length === 2
    ? `Why ${label}: each column's part of the logit of ${second} against ${reference}, signed toward ${label}`
    : `Why ${label}: each column's part of the logit of ${label}, centred over the classes`;
  const bars = [...explanation.toward, ...[...explanation.away].reverse()]; // the strongest push toward it first
  const largest = Math.max(...bars.map((b) => Math.abs(b.contribution)));
  $('contributions').replaceChildren(...bars.map(({ column, contribution }) => {
    const line = document.createElement('div');
    line.className = `contribution ${contribution > 0 ? 'toward' : 'away'}`;
    line.dataset.column = column;
    line.dataset.contribution = String(contribution);
    line.innerHTML = '<span class="name"></span><div><div class="axis"><div class="fill"></div></div></div>' +
      '<span class="value"></span>';
    line.querySelector('.name').textContent = column;
    const fill = line.querySelector('.fill');
    fill.style.width = `${((Math.abs(contribution) / largest) * 100).toFixed(2)}%`;
    fill.style[contribution > 0 ? 'left' : 'right'] = contribution > 0 ? '0' : '100%';
    line.querySelector('.value').textContent = (contribution > 0 ? '+' : '') + contribution.toPrecision(3);
    return line;
  }));
  const legend = $('legend');
  legend.innerHTML = '<span class="toward"></span><b></b><span class="away"></span><b></b><div></div>';
  legend.children[1].textContent = `toward ${label}`;
  legend.children[3].textContent = `away from ${label}`;
  legend.children[4].textContent = 'In logit units, measured from the baseline row' +
    (meta.baseline_note ? `, ${meta.baseline_note}` : '') + ": the baseline's logit and the bars sum to the row's.";
  const interval = $('interval');
  const { interval: range } = explanation;
  interval.replaceChildren();
  for (const key of ['pLower', 'pUpper']) delete interval.dataset[key];
  if (range?.p_lower !== undefined) {
    interval.dataset.pLower = String(range.p_lower);
    interval.dataset.pUpper = String(range.p_upper);
    interval.textContent = `p(${second}) ${explanation.probabilities[second].toPrecision(3)}, 95% interval ` +
      `${range.p_lower.toPrecision(3)} to ${range.p_upper.toPrecision(3)} ` +
      `(the logit ${explanation.logit[second].toPrecision(3)} ` +
      `± ${meta.z?.toPrecision(3) ?? '1.96'} × its standard error ${range.logit_se.toPrecision(3)})`;
  } else if (range) {
    for (const name of model.classNames.slice(1)) {
      const line = document.createElement('div');
      line.textContent = `log(p(${name}) / p(${reference})) ${explanation.logit[name].toPrecision(3)}, 95% interval ` +
        `${range.logit_lower[name].toPrecision(3)} to ${range.logit_upper[name].toPrecision(3)}`;
      interval.append(line);
    }
  } else {
    interval.textContent = `No interval: ${meta.intervals_note || 'the model has no standard errors'}.`;
  }
  panel.dataset.explain = JSON.stringify(explanation);
}

// A small CSV reader (RFC 4180: quoted fields, doubled quotes, CRLF); the page needs no more.
function parseCsv(text) {
  const rows = [];
  let row = [], field = '', quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') { field += '"'; i++; }
      else if (c === '"') quoted = false;
      else field += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') { row.push(field); field = ''; }
    else if (c === '\n' || c === '\r') {
      if (c === '\r' && text[i + 1] === '\n') i++;
      row.push(field); rows.push(row); row = []; field = '';
    } else field += c;
  }
  if (field !== '' || row.length) { row.push(field); rows.push(row); }
  return rows.filter((r) => r.length > 1 || r[0] !== '');
}

async function scoreCsv(file) {
  const status = $('csv-status');
  const table = $('scores');
  table.replaceChildren();
  try {
    const [header, ...lines] = parseCsv(await file.text());
    const rows = lines.map((cells, i) => model.fromText(
      Object.fromEntries(header.map((name, j) => [name.trim(), cells[j] ?? ''])),
      (column) => `${file.name}:${i + 2}: column ${JSON.stringify(column)}`,
    ));
    const predictions = await model.predict(rows);
    // format 3: the column that pushed hardest toward each row's class
    const reasons = model.explainable ? await model.explain(rows, { top: 1 }) : null;
    const head = document.createElement('tr');
    head.innerHTML = '<th>row</th><th>label</th>' + model.classNames.map(() => '<th></th>').join('') +
      (reasons ? '<th>most toward the label</th>' : '');
    model.classNames.forEach((name, k) => { head.children[k + 2].textContent = `p(${name})`; });
    table.append(head);
    predictions.forEach((prediction, i) => {
      const tr = document.createElement('tr');
      tr.dataset.label = prediction.label;
      tr.dataset.p = JSON.stringify(model.classNames.map((name) => prediction.probabilities[name]));
      const cells = [String(i + 1), prediction.label, ...model.classNames.map((n) => prediction.probabilities[n].toPrecision(6))];
      if (reasons) {
        const [first] = reasons[i].toward;
        tr.dataset.toward = JSON.stringify(first ? [first.column, first.contribution] : null);
        cells.push(first ? `${first.column} +${first.contribution.toPrecision(3)}` : '');
      }
      for (const text of cells) {
        const td = document.createElement('td');
        td.textContent = text;
        tr.append(td);
      }
      table.append(tr);
    });
    status.textContent = `${file.name}: ${predictions.length} rows scored`;
  } catch (error) {
    status.innerHTML = '';
    const message = document.createElement('span');
    message.className = 'error';
    message.textContent = error.message ?? String(error);
    status.append(message);
  }
}

$('csv').addEventListener('change', (event) => event.target.files[0] && scoreCsv(event.target.files[0]));
const drop = $('drop');
drop.addEventListener('dragover', (event) => { event.preventDefault(); drop.classList.add('over'); });
drop.addEventListener('dragleave', () => drop.classList.remove('over'));
drop.addEventListener('drop', (event) => {
  event.preventDefault();
  drop.classList.remove('over');
  if (event.dataTransfer.files[0]) scoreCsv(event.dataTransfer.files[0]);
});
$('model-choice').addEventListener('change', (event) => load(event.target.value));

(async () => {
  try {
    const names = await (await fetch('/models/index.json')).json();
    const wanted = new URLSearchParams(location.search).get('model') ?? names[0];
    for (const name of names) {
      const option = document.createElement('option');
      option.value = option.textContent = name;
      $('model-choice').append(option);
    }
    $('model-choice').value = wanted;
    await load(wanted);
    // from navigation to the first probabilities shown: what a benchmark of the page reads
    document.body.dataset.firstPredictionMs = String(performance.now());
    document.body.dataset.ready = 'true';
  } catch (error) {
    $('status').className = 'status error';
    $('status').textContent = `could not load the model: ${error.message ?? error}`;
    document.body.dataset.ready = 'error';
  }
})();
