"""``provscan sample``: estimate what a hosted dataset contains from a seeded sample of its rows.

sources (resolve SOURCES, open by footer, read row groups) -> plan (which rows) -> run (read,
scan the sample, map back, write OUT) -> estimate (shares with 95 % intervals).
"""
