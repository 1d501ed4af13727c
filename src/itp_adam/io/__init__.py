"""Readers and writers: the raw export (CSV folder or workbook, ``raw``) and its layout
(``layout``), SAS XPORT v5 files (``xpt``), CSV files (``csvfile``), and define.xml with specification.xlsx (``define``).
A new input format, output file format or file-level check belongs here; what goes into the
datasets does not."""
