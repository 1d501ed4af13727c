"""QC and conformance: the PROC COMPARE-style comparison of datasets (``compare``,
``itp-adam compare``) and the conformance checks of SDTM/ADaM outputs against the specs and the
study's conformance metadata (``validate``, ``itp-adam validate``). A new check of finished
outputs belongs here; checks of the specs themselves belong in :mod:`itp_adam.spec`."""
