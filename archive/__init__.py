"""kis-observer archive: rolling zstd JSONL event log, reader/replay, verify, manifests.

Knows the pipeline's record types, never a broker.
"""

__all__: list[str] = []
