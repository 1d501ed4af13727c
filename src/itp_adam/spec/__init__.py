"""The spec language: the pydantic models the YAML specs are read into and checked against
(``model``), the expression language of filters and conditions (``expr``), the registry of
derivation names (``registry``) and study plug-ins that add to it (``plugins``), and the
evaluator that builds one dataset from its spec (``evaluate``). A new spec field, check or
expression feature belongs here; what a derivation computes belongs in :mod:`itp_adam.derive`."""
