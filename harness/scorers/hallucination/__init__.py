"""Hallucination scorers: `selfcheck` (sampling consistency), `faithfulness` (judged claims
against the context) and `nli` (a local NLI model against the context).

Each labels a response `hallucination` or `ok` at its threshold and reports the run's
`hallucination_rate` with a 95% interval. The scorer classes live in their own modules
(`selfcheck`, `faithfulness`, `nli`), imported by the registry only when named, so that
importing this package loads no model library.
"""
