"""Embedding the runtime in an app: the whole of it (numpy + onnxruntime, no torch)."""

import csv

from logreg_onnx import runtime

model = runtime.load("artifacts/example/model.onnx")
with open("examples/breast_cancer/new_patients.csv") as rows:
    for patient in csv.DictReader(rows):
        probabilities = model.predict_one({name: float(patient[name]) for name in model.feature_names})
        print(patient["patient"], max(probabilities, key=probabilities.get), probabilities)
