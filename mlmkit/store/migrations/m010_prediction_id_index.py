"""An ART index on ``predictions(prediction_id)``: look-ups by id no longer scan the log.

The server's small groups and every label request find rows by id: the duplicate check of
`PredictionStore.insert_batch` (an IN-list of the group's ids) and the label UPDATE (a join on
``prediction_id``). Without an index both scan the whole id column, so their cost grew with
the log; measured 2026-11-30 (DuckDB 2.0.1, 2 cores, loaded machine), 16 random 32-character
ids:

===============================  ==========  ==========  ==========
statement                        rows        no index    index
===============================  ==========  ==========  ==========
IN-list of 16 ids (the check)    1e6         64-96 ms    1.8-2.0 ms
IN-list of 16 ids                5e6         200-360 ms  0.9-1.0 ms
label UPDATE of 8 ids (a join)   1e6         77 ms       2.5 ms
label UPDATE of 8 ids            5e6         332 ms      1.4 ms
===============================  ==========  ==========  ==========

Its cost: ``track_batch`` of 1e6 rows with ids takes ~35 % more CPU (1.25-1.46 s -> 1.73-1.99 s)
and the file grows (2e6 rows with ``req-N`` ids: 57 -> 132 MB). A semi-join (more than
`lookup.IN_LIST_MAX` ids) does not use the index. DuckDB refuses ``ALTER TABLE predictions`` other
than ``ADD COLUMN`` while the index exists (``ALTER COLUMN``, ``DROP``/``RENAME COLUMN``: a
dependency error): a later migration doing so drops the index first and re-creates it.
"""

VERSION = 10

SQL = """
CREATE INDEX predictions_prediction_id_idx ON predictions (prediction_id);
"""
