"""Schema for issue 15: a task per model (binary, multiclass, regression, score-only).

``models.task`` (default ``binary``: every model logged before keeps its meaning). The
``predictions`` row of each task:

============  ==========================  ================================  =================
task          prediction                  ground truth                      also
============  ==========================  ================================  =================
binary        ``prediction`` BOOLEAN      ``actual`` BOOLEAN                ``score`` in [0, 1]
multiclass    ``label`` VARCHAR           ``actual_label`` VARCHAR          ``probabilities``
regression    ``value`` DOUBLE            ``actual_value`` DOUBLE
score-only    ``score`` DOUBLE (any)      ``actual`` BOOLEAN (confirmed)    ``prediction`` flag
============  ==========================  ================================  =================

``prediction`` becomes nullable (a multiclass or regression row leaves it NULL, a score-only
row may); ``probabilities`` is the optional per-class probability list
``STRUCT(label VARCHAR, p DOUBLE)[]`` of a multiclass row (sorted by label, summing to 1).
``confidence`` of a multiclass row is the probability of its predicted label. The
``actuals`` audit table keeps a delayed label in the column of its task (``actual``,
``actual_label`` or ``actual_value``). Binary rows are unchanged (the new columns NULL).
"""

VERSION = 9

SQL = """
ALTER TABLE models ADD COLUMN task VARCHAR NOT NULL DEFAULT 'binary';
ALTER TABLE predictions ALTER COLUMN prediction DROP NOT NULL;
ALTER TABLE predictions ADD COLUMN label VARCHAR;
ALTER TABLE predictions ADD COLUMN actual_label VARCHAR;
ALTER TABLE predictions ADD COLUMN value DOUBLE;
ALTER TABLE predictions ADD COLUMN actual_value DOUBLE;
ALTER TABLE predictions ADD COLUMN probabilities STRUCT(label VARCHAR, p DOUBLE)[];
ALTER TABLE actuals ALTER COLUMN actual DROP NOT NULL;
ALTER TABLE actuals ADD COLUMN actual_label VARCHAR;
ALTER TABLE actuals ADD COLUMN actual_value DOUBLE;
"""
