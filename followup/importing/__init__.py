"""The nightly import of clinic exports (CSV or .xlsx) into the followup database."""

from followup.importing.run import FileResult, ImportOptions, RunResult, import_paths

__all__ = ["FileResult", "ImportOptions", "RunResult", "import_paths"]
