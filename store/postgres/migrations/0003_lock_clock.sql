-- 0003: locks are timed from the moment they are taken.
--
-- durohost_lock_until(d) is the database's clock when it is called (clock_timestamp) plus d
-- nanoseconds. durohost_now reads the start of the transaction: a lock set with it by a
-- transaction that had waited (for an advisory lock, or for a row another transaction held)
-- lost that wait from its duration, and could expire before the caller got it, letting
-- another host take the same turn or work item at once. Expiry checks keep durohost_now.
CREATE FUNCTION durohost_lock_until(d bigint) RETURNS bigint LANGUAGE sql VOLATILE PARALLEL SAFE
	AS $$ SELECT (extract(epoch FROM clock_timestamp()) * 1000000000)::bigint + d $$;
