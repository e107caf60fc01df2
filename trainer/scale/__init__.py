"""Streamed and distributed training: row sources, the scan, the row cache, torch.distributed ranks."""
