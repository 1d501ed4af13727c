"""The study simulator (``itp-adam simulate``): a synthetic raw export with the shipped study's
forms, its published counts and deliberate data traps, plus the truth it was drawn from
(``simulator``). A change to what the simulated export holds belongs here. The public names are
re-exported, so ``from itp_adam.simulate import build, write_export`` works."""

from .simulator import (
    AE_TERMS, CM_TERMS, CREATOR, CUTOFF, DAYS_PER_MONTH, DOSES, DS_REASONS, EARLIER, EXTRACTION,
    FIRST_DOSE_MIN, FIXED_TIME, FORM_ORDER, HEPATIC_TERMS, HEPATIC_VISITS, LAB_COLUMN_ORDER, LIVER,
    MARKER, MISSED, MONTHS, N_SITES, ORPHAN_SITE, ORPHAN_SUBJID, PHASES, PLAT_UNITS, PUB_EVALUABLE,
    PUB_N, PUB_PHASE, PUB_RESP30, RESP100, SCHEDULE, STUDYID, TABLE_WEEKS, UNCODED_TERMS, WEEK_TARGET,
    WINDOWS, SimulatedStudy, build, build_pieces, check_export_out, write_export, write_pieces,
)

__all__ = [
    "AE_TERMS", "CM_TERMS", "CREATOR", "CUTOFF", "DAYS_PER_MONTH", "DOSES", "DS_REASONS", "EARLIER",
    "EXTRACTION", "FIRST_DOSE_MIN", "FIXED_TIME", "FORM_ORDER", "HEPATIC_TERMS", "HEPATIC_VISITS",
    "LAB_COLUMN_ORDER", "LIVER", "MARKER", "MISSED", "MONTHS", "N_SITES", "ORPHAN_SITE",
    "ORPHAN_SUBJID", "PHASES", "PLAT_UNITS", "PUB_EVALUABLE", "PUB_N", "PUB_PHASE", "PUB_RESP30",
    "RESP100", "SCHEDULE", "STUDYID", "TABLE_WEEKS", "UNCODED_TERMS", "WEEK_TARGET", "WINDOWS",
    "SimulatedStudy", "build", "build_pieces", "check_export_out", "write_export", "write_pieces",
]
