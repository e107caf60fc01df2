"""The lightweight runtime apps embed: numpy + onnxruntime, never torch."""
