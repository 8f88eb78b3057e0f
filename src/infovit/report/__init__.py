"""The browsable report: saved tables and figures composed into an offline static HTML site.

:func:`build_report` reads run, sweep, analysis, geometry and compare-heads folders (analysing
runs that have no analysis yet) and writes pages that open from disk with no server, network
or JavaScript. The report computes nothing of the analyses: it reads their saved tables.
"""

from infovit.report.build import build_report

__all__ = ["build_report"]
