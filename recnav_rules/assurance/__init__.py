"""Assurance of commissioning criteria: policy mutation testing, MC/DC, static analysis, impact.

``mutate``: mutants of a policy document against its cases. ``mcdc``: whether the cases show
each condition's leaves independently affecting it. ``analyse``: an SMT encoding that proves
every rule can fire and lists overlaps. ``diff``: what a policy change does to a caseload.
Engine internals are reached only through ``_engine``.
"""
