from ._model import ObservationSnapshot
from ._outcome import Deduplicated
from ._stages import _Derived, _Folded

def admit_plain(
    s: ObservationSnapshot, state: _Folded | None, d: _Derived
) -> tuple[ObservationSnapshot, int] | Deduplicated | None: ...
