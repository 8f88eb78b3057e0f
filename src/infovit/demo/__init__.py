"""The CPU demo: a spectrum of models on the synthetic known-answer task, its summary table,
figure and routing findings."""

from infovit.demo.spectrum import SpectrumRow, plot_spectrum, spectrum_rows, write_summary

__all__ = ["SpectrumRow", "plot_spectrum", "spectrum_rows", "write_summary"]
