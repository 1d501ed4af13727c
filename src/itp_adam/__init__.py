"""itp_adam: raw clinical study export -> SDTM -> ADaM -> analysis results, spec-driven."""

__version__ = "0.1.0"
