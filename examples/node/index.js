// logreg-onnx in Node.js: load a model written by the exporter with onnxruntime-node, read its contract from the
// model's own metadata (decoded with protobufjs; every field but metadata_props is skipped unread), predict rows
// given as objects keyed by feature name, and replay the model's test vectors. The contract itself: contract.js.

import { readFile } from 'node:fs/promises';
import ort from 'onnxruntime-node';
import protobuf from 'protobufjs';
import { createModel } from './contract.js';

export { CATEGORIES, INPUT, InputError, Model, READABLE_FORMATS, checkTestVectors, readMetadata } from './contract.js';

/** Load a logreg-onnx model file: the onnxruntime-node session and the contract read from its metadata. */
export async function loadModel(path) {
  return createModel({ ort, protobuf }, await readFile(path));
}
