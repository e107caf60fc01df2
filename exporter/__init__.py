"""Export a trained run to a self-describing ONNX file and prove it computes what the PyTorch model computes."""
