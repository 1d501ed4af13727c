"""The flow of a run: raw -> SDTM (``sdtm``) -> ADaM (``adam``) -> analysis results
(``results``), and ``pipeline``, which runs the stages into a staging folder and publishes the
output folder. A change to the order of the stages, to what a stage hands to the next or to
the output folder's layout belongs here; the stages take their rules from the specs."""
