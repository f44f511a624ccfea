"""kis-observer: getting data in (broker adapters, simulator, collectors, scheduling, status, CLI)."""

__all__: list[str] = []
