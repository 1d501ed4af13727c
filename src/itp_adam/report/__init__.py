"""Presentation: the tables (RTF, XLSX, ``tables``) and figures (PNG, ``figures``) drawn from
the results' summaries, the worker process that draws them while the data stages run
(``render``), and the progress lines of ``itp-adam run`` (``progress``). A change to how a
result looks belongs here; how it is calculated belongs in :mod:`itp_adam.stages.results`."""
