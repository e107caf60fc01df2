// logreg-onnx in Node.js: load a model written by the exporter with onnxruntime-node, read its contract from the
// model's own metadata (decoded with protobufjs; every field but metadata_props is skipped unread), predict rows
// given as objects keyed by feature name, explain them (format 3), and replay the model's test vectors. The contract
// itself: contract.js.

import { readFile } from 'node:fs/promises';
import ort from 'onnxruntime-node';
import protobuf from 'protobufjs';
import { createModel } from './contract.js';

export {
  CATEGORIES,
  CONTRIBUTIONS,
  EXPLAIN_OUTPUTS,
  INPUT,
  InputError,
  LOGIT,
  LOGIT_SE,
  Model,
  PREDICTIONS,
  READABLE_FORMATS,
  checkTestVectors,
  readMetadata,
  rowOf,
} from './contract.js';
export { MAX_TOP, Z_95 } from './explain.js';

/** Load a logreg-onnx model file: its onnxruntime-node sessions and the contract read from its metadata. */
export async function loadModel(path) {
  return createModel({ ort, protobuf }, await readFile(path));
}
