"""The triangle: the tiering policy (data) turned into a level and a reason per person.

See docs/triangle.md. `stratify_run` is what `hoc run` calls inside its transaction.
"""
