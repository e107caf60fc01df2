"""The graph contract every model of this toolkit follows, written down once for the exporter and the runtime.

A model file has one input and two outputs, in this order:

- ``features``: float32 ``[batch, n_features]``, raw (unstandardized) feature values, batch dimension dynamic;
- ``label``: int64 ``[batch]``, index into ``class_names`` of the predicted class (argmax of the probabilities, so a
  binary model predicts the second class when its probability is above 0.5);
- ``probabilities``: float32 ``[batch, n_classes]``, one column per class in ``class_names`` order, rows summing to 1.

Metadata keys live in the ONNX ``metadata_props`` (onnxruntime: ``get_modelmeta().custom_metadata_map``), all strings.
"""

from __future__ import annotations

INPUT_NAME = "features"
LABEL_OUTPUT = "label"
PROBABILITIES_OUTPUT = "probabilities"
OUTPUT_NAMES = (LABEL_OUTPUT, PROBABILITIES_OUTPUT)

# metadata_props keys
PRODUCER = "logreg-onnx"
KEY_FORMAT = "logreg_onnx_format"  # the contract version, below
FORMAT_VERSION = "1"
KEY_FEATURE_NAMES = "feature_names"  # JSON list of str
KEY_CLASS_NAMES = "class_names"  # JSON list of str
KEY_THRESHOLD = "threshold"  # decimal string; binary decision threshold on the second class's probability
KEY_MODEL_SHA256 = "model_sha256"  # SHA-256 of the trained weights and config (model.pt content)
KEY_METRICS = "metrics"  # JSON object: the training run's metrics.json blocks "train"/"validation"
KEY_VERSIONS = "versions"  # JSON object: torch, onnx, logreg-onnx versions used to write the file
KEY_STANDARDIZATION = "standardization"  # JSON object {"mean": [...], "scale": [...]} already applied in the graph

REQUIRED_METADATA = (KEY_FORMAT, KEY_FEATURE_NAMES, KEY_CLASS_NAMES, KEY_THRESHOLD)

# Extension of the per-model test vectors written beside model.onnx: model.testvectors.json
TESTVECTORS_SUFFIX = ".testvectors.json"
