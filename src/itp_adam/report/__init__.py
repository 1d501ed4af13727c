"""Presentation machinery: the worker process that draws a study's tables and figures while
the data stages run (``render``) and the progress lines of ``itp-adam run`` (``progress``).
What is drawn, and how a result is calculated, is the study's own code (``itp_adam.studies``,
declared by ``results:`` in study.yaml; ``itp_adam.stages.results``)."""
