-- 0002: the length of the current execution's history moves to the instance row.
--
-- A turn then writes one row of its instance (which it updates anyway) instead of also
-- rewriting its execution row: the execution row is written when the execution starts and
-- ends. executions.events is exact for ended executions; for the current one, read
-- instances.events.
ALTER TABLE instances ADD COLUMN events INTEGER NOT NULL DEFAULT 0;
UPDATE instances SET events = coalesce(
	(SELECT e.events FROM executions e WHERE e.instance_id = instances.id AND e.id = instances.execution), 0);
