"""followup: justified, consented follow-up contacts for small dental clinics."""

__version__ = "0.1.0"
