"""Level 3 case finding: admission-risk features, baselines, the model, explanations, evaluation.

See docs/risk-model.md. The core takes a DuckDB connection and `Settings`; nothing here reads the
environment, and LightGBM is imported only where a model is trained or used.
"""
