"""Schema for issue-12.2: the deployment history is the only record of what serves where.

Before, ``models.environment``/``deployed_at`` were written next to the history and could
disagree with it (``update(meta.with_deployment(env))`` bypassed the history; deleting a
deployed version left the history pointing at nothing). This migration

1. records, for every (model, environment) a model row claims but the history does not serve,
   a ``deploy`` event of that row (the newest claim per environment wins; ``event_at`` keeps
   its ``deployed_at`` unless that is older than the environment's last event);
2. records an ``undeploy`` event where the history serves a version that no longer exists;
3. drops ``models.environment`` and ``models.deployed_at``;
4. creates the view ``serving (model_name, environment, version, deployed_at)``: the last
   ``deploy``/``rollback`` event per model and environment unless an ``undeploy`` followed,
   the same rule as
   [`mlmkit.store.registry.ModelRegistry`][mlmkit.store.registry.ModelRegistry] applies in
   Python.
"""

VERSION = 6

_LAST = """
    SELECT * FROM deployments
    WHERE action IN ('deploy', 'rollback', 'undeploy')
    QUALIFY row_number() OVER (PARTITION BY model_name, environment ORDER BY event_id DESC) = 1
"""

SQL = f"""
INSERT INTO deployments (model_name, version, environment, action, previous_version, reason,
                         actor, event_at)
SELECT m.model_name, m.version, m.environment, 'deploy',
       CASE WHEN last.action <> 'undeploy' THEN last.version END,
       'm006: deployment recorded only on the model row', 'mlmkit-migration',
       greatest(coalesce(m.deployed_at, m.created_at), coalesce(last.event_at, m.created_at))
FROM (SELECT * FROM models WHERE environment IS NOT NULL
      QUALIFY row_number() OVER (PARTITION BY model_name, environment
                                 ORDER BY deployed_at DESC NULLS LAST, version DESC) = 1) m
LEFT JOIN ({_LAST}) last ON last.model_name = m.model_name AND last.environment = m.environment
WHERE last.event_id IS NULL OR last.action = 'undeploy' OR last.version <> m.version
ORDER BY m.model_name, m.environment;

INSERT INTO deployments (model_name, version, environment, action, previous_version, reason,
                         actor, event_at)
SELECT last.model_name, last.version, last.environment, 'undeploy', last.version,
       'm006: the serving version was deleted', 'mlmkit-migration', last.event_at
FROM ({_LAST}) last
WHERE last.action <> 'undeploy' AND NOT EXISTS (
    SELECT 1 FROM models m WHERE m.model_name = last.model_name AND m.version = last.version)
ORDER BY last.model_name, last.environment;

ALTER TABLE models DROP COLUMN environment;
ALTER TABLE models DROP COLUMN deployed_at;

CREATE VIEW serving AS
SELECT model_name, environment, version, event_at AS deployed_at FROM ({_LAST}) last
WHERE action <> 'undeploy';
"""
