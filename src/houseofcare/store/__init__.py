"""The two stores: `analytic` (DuckDB, the population's record) and the operational store
(SQLAlchemy: `models`, `database`, `migrate`, `audit`, `passwords`)."""
