-- 0001: the initial schema of the durohost PostgreSQL store.
--
-- Times are Unix nanoseconds (0: none). Locks, visibility and timestamps read the database's
-- clock (durohost_now), so that every host sharing the database agrees on them. Text columns
-- compare byte-wise (COLLATE "C"): listings are ordered by ID as the store contract orders
-- them. Events, messages and failures are deterministic CBOR (history.Event.Encode).

-- durohost_now is the time of the current transaction's start, in Unix nanoseconds. A
-- statement that compares it with many rows reads it once, as (SELECT durohost_now()).
CREATE FUNCTION durohost_now() RETURNS bigint LANGUAGE sql STABLE PARALLEL SAFE
	AS $$ SELECT (extract(epoch FROM transaction_timestamp()) * 1000000000)::bigint $$;

-- durohost_fail raises an error with a durohost SQLSTATE (class DH, see errors.go), so that a
-- statement that finds a check failed rolls back everything its transaction did.
CREATE FUNCTION durohost_fail(code text, message text) RETURNS text LANGUAGE plpgsql
	AS $$ BEGIN RAISE EXCEPTION USING ERRCODE = code, MESSAGE = message; END $$;

-- One row per orchestration instance, created by its first committed turn. Turns rewrite no
-- indexed column unless the status changes, so their updates stay on the page (fillfactor).
CREATE TABLE instances (
	id            text COLLATE "C" PRIMARY KEY,
	namespace     text COLLATE "C" NOT NULL,
	name          text COLLATE "C" NOT NULL,
	version       text COLLATE "C" NOT NULL,
	module_hash   text COLLATE "C" NOT NULL,
	parent_id     text COLLATE "C" NOT NULL,           -- '' for a root or detached instance
	status        smallint NOT NULL,
	output        bytea,
	failure       bytea,                               -- CBOR abi.Failure, NULL for none
	custom_status bytea,
	execution     bigint NOT NULL,                     -- the current execution
	events        bigint NOT NULL,                     -- the current execution's history length
	created_at    bigint NOT NULL,
	updated_at    bigint NOT NULL,
	completed_at  bigint NOT NULL
) WITH (fillfactor = 80);
CREATE INDEX instances_by_created ON instances (created_at, id);
CREATE INDEX instances_by_parent ON instances (parent_id, created_at, id);
CREATE INDEX instances_by_namespace ON instances (namespace, created_at, id);
-- Unfinished instances (status 1, store.StatusRunning) of a namespace: the instance quota and
-- the pin check of DeleteModule.
CREATE INDEX instances_running ON instances (namespace, module_hash) WHERE status = 1;

-- Executions of an instance (continue-as-new starts a new one); pruned ones are deleted. The
-- current execution's events are counted on the instance row; this one is exact once ended.
CREATE TABLE executions (
	instance_id  text COLLATE "C" NOT NULL,
	id           bigint NOT NULL,
	status       smallint NOT NULL,
	events       bigint NOT NULL,
	created_at   bigint NOT NULL,
	completed_at bigint NOT NULL,
	PRIMARY KEY (instance_id, id)
);

-- History events, keyed by their 1-based position.
CREATE TABLE history (
	instance_id text COLLATE "C" NOT NULL,
	execution   bigint NOT NULL,
	event_id    bigint NOT NULL,
	data        bytea NOT NULL,
	PRIMARY KEY (instance_id, execution, event_id)
);

-- Turn locks, one row per instance that ever had a message, whether or not it has an instance
-- row. Every message's instance has one (the transaction that inserts a message makes sure of
-- it and holds a KEY SHARE lock on it until it commits), so that FetchTurn can lock instances
-- with FOR NO KEY UPDATE SKIP LOCKED; only DeleteInstance deletes them. lock_id names the row
-- in tokens ("t<lock_id>.<token>"); token is '' when the instance is not locked.
CREATE TABLE turn_locks (
	instance_id  text COLLATE "C" PRIMARY KEY,
	lock_id      bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
	token        text COLLATE "C" NOT NULL DEFAULT '',
	locked_until bigint NOT NULL DEFAULT 0
) WITH (fillfactor = 70);

-- Orchestration messages. ready_at is when the message may be fetched (visible_at, or the
-- end of an abandon delay); lock_token tags the messages a turn fetched, so that CommitTurn
-- deletes only those. namespace is the namespace of the instance a start message
-- (execution_started) creates, NULL for every other message.
CREATE TABLE messages (
	id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	instance_id text COLLATE "C" NOT NULL,
	data        bytea NOT NULL,
	visible_at  bigint NOT NULL,                       -- as enqueued (0: at once)
	ready_at    bigint NOT NULL,
	attempts    integer NOT NULL DEFAULT 0,
	lock_token  text COLLATE "C",
	namespace   text COLLATE "C"
);
CREATE INDEX messages_by_instance ON messages (instance_id, id);
CREATE INDEX messages_by_ready ON messages (ready_at, id);
CREATE INDEX messages_starts ON messages (namespace, instance_id) WHERE namespace IS NOT NULL;

-- Activity work items. While locked, ready_at equals locked_until, so that an expired lock
-- makes the item fetchable again with no extra condition. Tokens are "a<id>.<lock_token>".
CREATE TABLE work_items (
	id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	instance_id  text COLLATE "C" NOT NULL,
	execution    bigint NOT NULL,
	event_id     bigint NOT NULL,
	namespace    text COLLATE "C" NOT NULL,
	name         text COLLATE "C" NOT NULL,
	input        bytea,
	visible_at   bigint NOT NULL,                      -- as enqueued (0: at once)
	ready_at     bigint NOT NULL,
	attempts     integer NOT NULL DEFAULT 0,
	lock_token   text COLLATE "C",
	locked_until bigint NOT NULL DEFAULT 0
);
CREATE INDEX work_items_by_ref ON work_items (instance_id, execution, event_id);
CREATE INDEX work_items_by_ready ON work_items (ready_at, id);

-- Module bytes, content-addressed.
CREATE TABLE module_blobs (
	hash       text COLLATE "C" PRIMARY KEY,           -- hex sha256 of data
	data       bytea NOT NULL,
	created_at bigint NOT NULL
);

-- Module registrations of each namespace; seq orders them by the time they were put. kind is
-- store.RegistrationKind.
CREATE TABLE modules (
	seq        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	namespace  text COLLATE "C" NOT NULL,
	kind       smallint NOT NULL,
	name       text COLLATE "C" NOT NULL,
	version    text COLLATE "C" NOT NULL,
	hash       text COLLATE "C" NOT NULL,
	size       bigint NOT NULL,
	created_at bigint NOT NULL,
	UNIQUE (namespace, kind, name, version)
);
CREATE INDEX modules_by_hash ON modules (hash);
CREATE INDEX modules_by_namespace ON modules (namespace, hash);
