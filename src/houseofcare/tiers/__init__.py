"""The triangle: the tiering policy (data) turned into a level and a reason per person.

See docs/triangle.md. `hoc run` (pipeline.py) places everyone with `tier_query`.
"""
