"""Analyst tools: replay, report, verify and rederive an archive (``observer`` commands).

The notebook API lives in ``archive`` (``archive.query_snapshots``); this package holds
what the commands do, callable from Python as well.
"""

from ._errors import AnalystError as AnalystError
from ._errors import NoSuchDataError as NoSuchDataError
from ._errors import NotAnArchiveError as NotAnArchiveError
from ._errors import ProjectionFailedError as ProjectionFailedError
from ._replay import Format as Format
from ._replay import ReplayResult as ReplayResult
from ._replay import replay as replay
from ._sample import SampleSummary as SampleSummary
from ._sample import write_sample_archive as write_sample_archive

__all__ = [
    "AnalystError",
    "Format",
    "NoSuchDataError",
    "NotAnArchiveError",
    "ProjectionFailedError",
    "ReplayResult",
    "SampleSummary",
    "replay",
    "write_sample_archive",
]
