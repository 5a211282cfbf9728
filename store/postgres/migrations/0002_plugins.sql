-- 0002: activity plugins (store.PluginStore).
--
-- plugin_blobs holds each plugin's bytes once, by sha256; plugins holds the registrations,
-- (namespace, name, version) -> hash with the host's manifest, ordered by seq (the newest
-- registration of a name is the one an activity resolves). Kept apart from the module
-- registry: plugins are not orchestration modules, and deleting one never touches the other.
-- Writes take the registry's advisory lock, as the module registry's do.
CREATE TABLE plugin_blobs (
	hash       text COLLATE "C" PRIMARY KEY,           -- hex sha256 of data
	data       bytea NOT NULL,
	created_at bigint NOT NULL
);

CREATE TABLE plugins (
	seq        bigserial PRIMARY KEY,
	namespace  text COLLATE "C" NOT NULL,
	name       text COLLATE "C" NOT NULL,
	version    text COLLATE "C" NOT NULL,
	hash       text COLLATE "C" NOT NULL,
	size       bigint NOT NULL,
	manifest   bytea NOT NULL,
	created_at bigint NOT NULL,
	UNIQUE (namespace, name, version)
);
CREATE INDEX plugins_by_hash ON plugins (hash);
