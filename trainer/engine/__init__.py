"""The fit engine: the model, the objective, its solvers (Newton, L-BFGS, mini-batch SGD/Adam), penalties, hooks."""
