// Replays /models/NAME.onnx's test vectors (/models/NAME.testvectors.json) in onnxruntime-web (WASM) by their own
// rule, through the client the page uses (examples/node/contract.js), and shows the result as JSON in
// document.body.dataset.result: the browser's cell of the engine matrix (examples/engines/matrix.py).
//   /browser/replay.html?model=NAME
import * as ort from './node_modules/onnxruntime-web/dist/ort.wasm.min.mjs';
import { checkTestVectors, createModel } from '../node/contract.js';

ort.env.wasm.wasmPaths = new URL('./node_modules/onnxruntime-web/dist/', import.meta.url).href;
ort.env.wasm.numThreads = 1;

function script(src) {
  return new Promise((resolve, reject) => {
    const element = Object.assign(document.createElement('script'), { src, onload: resolve });
    element.onerror = () => reject(new Error(`could not load ${src}`));
    document.head.append(element);
  });
}

async function main() {
  const name = new URLSearchParams(location.search).get('model');
  await script('./node_modules/protobufjs/dist/protobuf.min.js');
  const bytes = new Uint8Array(await (await fetch(`/models/${name}.onnx`)).arrayBuffer());
  const vectors = await (await fetch(`/models/${name}.testvectors.json`)).json();
  const model = await createModel({ ort, protobuf: self.protobuf }, bytes, { executionProviders: ['wasm'] });
  const report = await checkTestVectors(model, vectors);
  return { passed: report.failures.length === 0, ...report, failures: report.failures.slice(0, 3), web: ort.env.versions.web };
}

main()
  .then((result) => { document.body.dataset.result = JSON.stringify(result); })
  .catch((error) => { document.body.dataset.result = JSON.stringify({ passed: false, error: String(error.message ?? error) }); })
  .finally(() => { document.getElementById('result').textContent = document.body.dataset.result; });
