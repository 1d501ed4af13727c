"""The derivation library: the functions a spec names with ``{derivation: NAME}``, each
registered with :func:`itp_adam.spec.registry.derivation` (``core`` general ones, ``dates``,
``windows``, ``grading``, ``labs``, ``events``, ``sdtm`` and ``adam`` mapping helpers) and the
column helpers they share (``columns``). A new or changed derivation belongs here; nothing here
reads files or knows which study runs. The modules are imported by the registry on first lookup."""
