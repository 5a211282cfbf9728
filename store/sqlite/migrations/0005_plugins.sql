-- 0005: activity plugins (store.PluginStore).
--
-- plugin_blobs holds each plugin's bytes once, by sha256; plugins holds the registrations,
-- (namespace, name, version) -> hash with the host's manifest, ordered by seq (the newest
-- registration of a name is the one an activity resolves). Kept apart from the module
-- registry: plugins are not orchestration modules, and deleting one never touches the other.
CREATE TABLE plugin_blobs (
	hash       TEXT    PRIMARY KEY,
	data       BLOB    NOT NULL,
	created_at INTEGER NOT NULL
);
CREATE TABLE plugins (
	seq        INTEGER PRIMARY KEY AUTOINCREMENT,
	namespace  TEXT    NOT NULL,
	name       TEXT    NOT NULL,
	version    TEXT    NOT NULL,
	hash       TEXT    NOT NULL,
	size       INTEGER NOT NULL,
	manifest   BLOB    NOT NULL,
	created_at INTEGER NOT NULL,
	UNIQUE (namespace, name, version)
);
CREATE INDEX plugins_by_hash ON plugins (hash);
