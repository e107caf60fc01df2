"""``python -m logreg_onnx train ...`` is ``logreg train ...``; it is also what torchrun starts on every rank
(``torchrun --nproc-per-node 2 -m logreg_onnx train DATA --label y``)."""

from logreg_onnx.cli import run

if __name__ == "__main__":
    run()
