"""Analyses as specs: a study's analyses (``specs/NAME/analyses/*.yaml``), modelled on CDISC's
Analysis Results Standard (ARS), computed into one long analysis results data table (ARD).

``model.py`` reads and checks the analysis specs (analysis sets, data subsets, grouping
factors, methods made of operations, analyses) with the file and line of every problem;
``ard.py`` computes every analysis into the rows of the ARD (``results/ard.csv``,
``results/ard.parquet``); ``ars.py`` exports the reporting event in ARS's JSON form
(``results/ars.json``); ``stats.py`` holds the small statistics (exact binomial limits,
rounding, quantiles). See ``docs/analyses.md``.
"""
