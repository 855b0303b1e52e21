"""``chemomech report``: the validation report against the reference experiments.

Modules: ``vset`` (the validation set file: which cases, their quick and full
overrides), ``runner`` (runs what is missing, reuses finished runs, restarts unfinished
ones), ``analysis`` (synthetic SXDM and XRD of the runs, cached), ``metrics`` (the named
metrics observations compare with), ``observations`` (the observation file: parsed,
checked, judged), ``figures``, ``build`` (the command: markdown and HTML), ``html``.
docs/validation.md describes the whole.
"""
