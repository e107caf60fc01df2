"""``python -m trainer train ...``: the ``logreg`` command line, the entry point torchrun starts on every rank
(``torchrun --nproc-per-node 2 -m trainer train DATA --label y``)."""

from runtime.cli import run

if __name__ == "__main__":
    run()
