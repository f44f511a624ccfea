"""Analyst tools: replay, report, verify and rederive an archive (``observer`` commands).

The notebook API for snapshots lives in ``archive`` (``archive.query_snapshots``); this
package holds what the commands do, callable from Python as well::

    from observer.analyst import build_report, rederive, verify_archive, write_plot
    report = build_report(root, by_symbol=True)     # rows, per-minute series
    write_plot(report, Path("day.png"))
    assert verify_archive(root).ok
    assert rederive(root).identical   # an archive `observer run` wrote: its journal holds
                                      # the broker's payloads (a sample archive's does not)
"""

from ._errors import AnalystError as AnalystError
from ._errors import NoSuchDataError as NoSuchDataError
from ._errors import NotAnArchiveError as NotAnArchiveError
from ._errors import ProjectionFailedError as ProjectionFailedError
from ._plot import write_plot as write_plot
from ._rederive import Difference as Difference
from ._rederive import Projection as Projection
from ._rederive import RederiveResult as RederiveResult
from ._rederive import default_projection as default_projection
from ._rederive import rederive as rederive
from ._replay import Format as Format
from ._replay import ReplayResult as ReplayResult
from ._replay import replay as replay
from ._report import MinuteSeries as MinuteSeries
from ._report import Report as Report
from ._report import ReportRow as ReportRow
from ._report import build_report as build_report
from ._sample import SampleSummary as SampleSummary
from ._sample import write_sample_archive as write_sample_archive
from ._verify import Finding as Finding
from ._verify import VerifyResult as VerifyResult
from ._verify import verify_archive as verify_archive

__all__ = [
    "AnalystError",
    "Difference",
    "Finding",
    "Format",
    "MinuteSeries",
    "NoSuchDataError",
    "NotAnArchiveError",
    "Projection",
    "ProjectionFailedError",
    "RederiveResult",
    "ReplayResult",
    "Report",
    "ReportRow",
    "SampleSummary",
    "VerifyResult",
    "build_report",
    "default_projection",
    "rederive",
    "replay",
    "verify_archive",
    "write_plot",
    "write_sample_archive",
]
