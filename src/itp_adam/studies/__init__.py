"""Study code: Python that belongs to one study, not to the engine.

Each sub-package is one study's code, named after its specs folder (``specs/NAME/``), and
may be used only by a study that declares it in ``study.yaml``. Nothing in the engine (the
rest of ``itp_adam``) imports from here by name: the engine finds a study's results provider
through :data:`RESULTS` (``stages/results.py``). ``tests/test_engine_is_study_free.py``
allows study terms (variable names, thresholds, wording) only here and in ``simulate/``.
"""

DEFAULT_STUDY = "hetrombopag-itp"
"""The shipped study ``itp-adam run`` runs without ``--study`` or ``--specs`` (``paths.py``)."""

RESULTS: dict[str, str] = {
    "hetrombopag-itp": "itp_adam.studies.hetrombopag_itp",
}
"""Results providers: the name ``results:`` of ``study.yaml`` gives -> the provider's module."""
