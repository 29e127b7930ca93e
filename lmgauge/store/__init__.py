"""The results store: run reports kept in a SQL database (SQLite by default, PostgreSQL for a
team) through one schema, and the queries history and the dashboard read.

May import errors, record; never measure, judge or render.
"""
