"""houseofcare: care for people with long-term conditions (NHS LTC model and house of care)."""

__version__ = "0.1.0"
