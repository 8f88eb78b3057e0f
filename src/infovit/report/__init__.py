"""Reports: the demo's spectrum of models, summary tables and their figure."""

from infovit.report.spectrum import SpectrumRow, plot_spectrum, spectrum_rows, write_summary

__all__ = ["SpectrumRow", "plot_spectrum", "spectrum_rows", "write_summary"]
