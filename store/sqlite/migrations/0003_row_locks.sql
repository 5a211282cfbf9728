-- 0003: an instance that has a row is locked on its row.
--
-- CommitTurn then checks and releases the lock in the UPDATE that writes the instance, instead
-- of a separate DELETE on instance_locks (and its token index). instance_locks keeps the locks
-- of instances that have no row yet (their first turn). The partial index serves QueueDepths.
ALTER TABLE instances ADD COLUMN lock_token TEXT;
ALTER TABLE instances ADD COLUMN locked_until INTEGER NOT NULL DEFAULT 0;
CREATE INDEX instances_by_lock ON instances (locked_until) WHERE locked_until > 0;
