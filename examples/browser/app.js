// The page: load a model with onnxruntime-web (WASM, files from npm served by this site), build a form from the
// model's metadata, show class probabilities as the user types, and score a dropped CSV into a table.
import * as ort from './node_modules/onnxruntime-web/dist/ort.wasm.min.mjs';
import { createModel, InputError } from '../node/contract.js';

ort.env.wasm.wasmPaths = new URL('./node_modules/onnxruntime-web/dist/', import.meta.url).href;
// WASM threads need SharedArrayBuffer, which browsers give only to cross-origin isolated pages (COOP/COEP headers)
ort.env.wasm.numThreads = self.crossOriginIsolated ? Math.min(4, navigator.hardwareConcurrency || 1) : 1;

const $ = (id) => document.getElementById(id);
let model = null;

async function load(name) {
  $('status').textContent = `loading ${name}…`;
  const bytes = new Uint8Array(await (await fetch(`/models/${name}.onnx`)).arrayBuffer());
  model = await createModel({ ort, protobuf: self.protobuf }, bytes, { executionProviders: ['wasm'] });
  const threads = ort.env.wasm.numThreads;
  $('status').textContent = `${name}: ${model.featureNames.length} features, classes ${model.classNames.join(', ')}; ` +
    `onnxruntime-web ${ort.env.versions.web}, ${threads} WASM thread${threads === 1 ? '' : 's'} ` +
    `(${self.crossOriginIsolated ? 'cross-origin isolated' : 'not isolated'})`;
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
    const [prediction] = await model.predict([formRow()]);
    box.replaceChildren(...model.classNames.map((name) => {
      const p = prediction.probabilities[name];
      const bar = document.createElement('div');
      bar.className = 'bar';
      bar.dataset.class = name;
      bar.dataset.p = String(p);
      bar.innerHTML = `<span></span><div class="fill" style="width:${(p * 100).toFixed(2)}%"></div><span></span>`;
      bar.children[0].textContent = name + (name === prediction.label ? ' ←' : '');
      bar.children[2].textContent = p.toPrecision(6);
      return bar;
    }));
    box.dataset.label = prediction.label;
    box.dataset.row = JSON.stringify(formRow()); // what these probabilities are for (a test waits on it)
  } catch (error) {
    box.innerHTML = '';
    const message = document.createElement('div');
    message.className = 'error';
    message.textContent = error instanceof InputError ? error.message : `error: ${error.message ?? error}`;
    box.append(message);
  }
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
    const head = document.createElement('tr');
    head.innerHTML = '<th>row</th><th>label</th>' + model.classNames.map(() => '<th></th>').join('');
    model.classNames.forEach((name, k) => { head.children[k + 2].textContent = `p(${name})`; });
    table.append(head);
    predictions.forEach((prediction, i) => {
      const tr = document.createElement('tr');
      tr.dataset.label = prediction.label;
      tr.dataset.p = JSON.stringify(model.classNames.map((name) => prediction.probabilities[name]));
      const cells = [String(i + 1), prediction.label, ...model.classNames.map((n) => prediction.probabilities[n].toPrecision(6))];
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
    document.body.dataset.ready = 'true';
  } catch (error) {
    $('status').className = 'status error';
    $('status').textContent = `could not load the model: ${error.message ?? error}`;
    document.body.dataset.ready = 'error';
  }
})();
