-- 0004: namespaces are data.
--
-- A server used to keep its tenants apart with prefixes: instance keys "<ns>/<id>",
-- orchestration registrations "<ns>/<name>", module names "@<ns>/<name>", all in one modules
-- table. The store now keeps the namespace of every instance, queued start, work item and
-- registration in a column, and a registration has a kind (store.RegistrationKind: 1 an
-- orchestration the module registers, 2 a name an uploader gave the module). Instance keys
-- keep their prefix, so that histories (which hold them) are unchanged. See RATIONALE.md,
-- "Why are namespaces data?".
--
-- Existing data: the namespaces are those of the "@<ns>/<name>" module rows. Those rows
-- become (ns, module, name), "<ns>/<orch>" rows of those namespaces become (ns, orchestration,
-- orch), every other row ("", orchestration, name). Instances, queued start messages and work
-- items whose key starts with "<ns>/" for one of those namespaces get ns, the others "".

CREATE TEMP TABLE migrate_namespaces AS
	SELECT DISTINCT substr(name, 2, instr(name, '/') - 2) AS ns FROM modules
	WHERE substr(name, 1, 1) = '@' AND instr(name, '/') > 2;

-- The registry, rebuilt (SQLite cannot change a table's UNIQUE constraint in place). seq
-- keeps its values: it orders registrations by the time they were put.
CREATE TABLE modules_0004 (
	seq        INTEGER PRIMARY KEY AUTOINCREMENT,
	namespace  TEXT    NOT NULL,
	kind       INTEGER NOT NULL,
	name       TEXT    NOT NULL,
	version    TEXT    NOT NULL,
	hash       TEXT    NOT NULL,
	size       INTEGER NOT NULL,
	created_at INTEGER NOT NULL,
	UNIQUE (namespace, kind, name, version)
);
INSERT INTO modules_0004 (seq, namespace, kind, name, version, hash, size, created_at)
	SELECT seq,
		CASE WHEN label THEN substr(name, 2, slash - 2) WHEN orch THEN substr(name, 1, slash - 1) ELSE '' END,
		CASE WHEN label THEN 2 ELSE 1 END,
		CASE WHEN label OR orch THEN substr(name, slash + 1) ELSE name END,
		version, hash, size, created_at
	FROM (SELECT m.*, instr(m.name, '/') AS slash,
			substr(m.name, 1, 1) = '@' AND instr(m.name, '/') > 2 AS label,
			instr(m.name, '/') > 1 AND substr(m.name, 1, instr(m.name, '/') - 1) IN (SELECT ns FROM migrate_namespaces) AS orch
		FROM modules m)
	ORDER BY seq;
DROP TABLE modules;
ALTER TABLE modules_0004 RENAME TO modules;
CREATE INDEX modules_by_hash ON modules (hash);
CREATE INDEX modules_by_namespace ON modules (namespace, hash);

-- An instance's namespace, written by its first commit and never changed. instances_running
-- serves the namespace's count of unfinished instances (an instance row is unfinished when
-- its status is 1, store.StatusRunning) and the pin check of DeleteModule; a turn that leaves
-- an instance running does not assign status, so it does not touch this index.
ALTER TABLE instances ADD COLUMN namespace TEXT NOT NULL DEFAULT '';
UPDATE instances SET namespace = (SELECT n.ns FROM migrate_namespaces n
		WHERE substr(instances.id, 1, length(n.ns) + 1) = n.ns || '/')
	WHERE EXISTS (SELECT 1 FROM migrate_namespaces n WHERE substr(instances.id, 1, length(n.ns) + 1) = n.ns || '/');
CREATE INDEX instances_by_namespace ON instances (namespace, created_at, id);
CREATE INDEX instances_running ON instances (namespace, module_hash) WHERE status = 1;

-- messages.namespace is the namespace of the instance a start message (execution_started)
-- creates, and NULL for every other message: it also marks the starts, so that pending
-- instances are found without decoding messages. Existing starts are recognised by their
-- stored form, the deterministic CBOR of a history.Event with ID 0: a map of fewer than 24
-- entries (one header byte, 0xa1 to 0xb7) whose first key is 2, the kind, here 10
-- (execution_started): bytes 2 and 3 are 0x02 0x0a.
ALTER TABLE messages ADD COLUMN namespace TEXT;
UPDATE messages SET namespace = coalesce((SELECT n.ns FROM migrate_namespaces n
		WHERE substr(messages.instance_id, 1, length(n.ns) + 1) = n.ns || '/'), '')
	WHERE substr(data, 1, 1) BETWEEN x'a1' AND x'b7' AND substr(data, 2, 2) = x'020a';
CREATE INDEX messages_starts ON messages (namespace, instance_id) WHERE namespace IS NOT NULL;

-- A work item's namespace: that of the instance that scheduled it.
ALTER TABLE work_items ADD COLUMN namespace TEXT NOT NULL DEFAULT '';
UPDATE work_items SET namespace = (SELECT n.ns FROM migrate_namespaces n
		WHERE substr(work_items.instance_id, 1, length(n.ns) + 1) = n.ns || '/')
	WHERE EXISTS (SELECT 1 FROM migrate_namespaces n WHERE substr(work_items.instance_id, 1, length(n.ns) + 1) = n.ns || '/');

DROP TABLE migrate_namespaces;
