-- 0001: the initial schema of the durohost SQLite store.
--
-- Times are Unix nanoseconds (0: none). Instance IDs, names and versions are TEXT compared
-- byte-wise (BINARY collation). Event and message payloads are deterministic CBOR blobs
-- (history.Event.Encode).

-- One row per orchestration instance, created by its first committed turn.
CREATE TABLE instances (
	id            TEXT    NOT NULL PRIMARY KEY,
	name          TEXT    NOT NULL,
	version       TEXT    NOT NULL,
	module_hash   TEXT    NOT NULL,
	parent_id     TEXT    NOT NULL,            -- '' for a root or detached instance
	status        INTEGER NOT NULL,
	output        BLOB,
	failure       BLOB,                        -- CBOR abi.Failure, NULL for none
	custom_status BLOB,
	execution     INTEGER NOT NULL,            -- current execution ID
	created_at    INTEGER NOT NULL,
	updated_at    INTEGER NOT NULL,
	completed_at  INTEGER NOT NULL
);
CREATE INDEX instances_by_created ON instances (created_at, id);
CREATE INDEX instances_by_parent  ON instances (parent_id, created_at, id);
CREATE INDEX instances_by_module  ON instances (module_hash);

-- Executions of an instance (continue-as-new starts a new one); pruned ones are deleted.
CREATE TABLE executions (
	instance_id  TEXT    NOT NULL,
	id           INTEGER NOT NULL,
	status       INTEGER NOT NULL,
	events       INTEGER NOT NULL,             -- length of the history; the next event ID is events+1
	created_at   INTEGER NOT NULL,
	completed_at INTEGER NOT NULL,
	PRIMARY KEY (instance_id, id)
) WITHOUT ROWID;

-- History events, one row each, keyed by their 1-based position.
CREATE TABLE history (
	instance_id TEXT    NOT NULL,
	execution   INTEGER NOT NULL,
	event_id    INTEGER NOT NULL,
	data        BLOB    NOT NULL,
	PRIMARY KEY (instance_id, execution, event_id)
) WITHOUT ROWID;

-- Orchestration messages. ready_at is when the message may be fetched (visible_at, or the
-- end of an abandon delay); lock_token tags the messages a turn fetched, so that CommitTurn
-- deletes only those and messages that arrive during the turn stay for the next one. A tag
-- is meaningful only while instance_locks holds the same token.
CREATE TABLE messages (
	id          INTEGER PRIMARY KEY AUTOINCREMENT,
	instance_id TEXT    NOT NULL,
	data        BLOB    NOT NULL,
	visible_at  INTEGER NOT NULL,              -- as enqueued (0: at once)
	ready_at    INTEGER NOT NULL,
	attempts    INTEGER NOT NULL DEFAULT 0,
	lock_token  TEXT
);
CREATE INDEX messages_by_instance ON messages (instance_id, id);
CREATE INDEX messages_by_ready    ON messages (ready_at, id);

-- Instance-level peek-locks. A row may exist before the instance row (first turn).
CREATE TABLE instance_locks (
	instance_id  TEXT    NOT NULL PRIMARY KEY,
	token        TEXT    NOT NULL UNIQUE,
	locked_until INTEGER NOT NULL
);

-- Activity work items. While locked, ready_at equals locked_until, so an expired lock makes
-- the item fetchable again with no extra condition. Tokens start with the item's ID.
CREATE TABLE work_items (
	id           INTEGER PRIMARY KEY AUTOINCREMENT,
	instance_id  TEXT    NOT NULL,
	execution    INTEGER NOT NULL,
	event_id     INTEGER NOT NULL,
	name         TEXT    NOT NULL,
	input        BLOB,
	visible_at   INTEGER NOT NULL,             -- as enqueued (0: at once)
	ready_at     INTEGER NOT NULL,
	attempts     INTEGER NOT NULL DEFAULT 0,
	lock_token   TEXT,
	locked_until INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX work_items_by_ref   ON work_items (instance_id, execution, event_id);
CREATE INDEX work_items_by_ready ON work_items (ready_at, id);

-- Module bytes, content-addressed.
CREATE TABLE module_blobs (
	hash       TEXT    NOT NULL PRIMARY KEY,   -- hex sha256 of data
	data       BLOB    NOT NULL,
	created_at INTEGER NOT NULL
);

-- Module registrations; seq orders them by the time they were put.
CREATE TABLE modules (
	seq        INTEGER PRIMARY KEY AUTOINCREMENT,
	name       TEXT    NOT NULL,
	version    TEXT    NOT NULL,
	hash       TEXT    NOT NULL,
	size       INTEGER NOT NULL,
	created_at INTEGER NOT NULL,
	UNIQUE (name, version)
);
CREATE INDEX modules_by_hash ON modules (hash);
