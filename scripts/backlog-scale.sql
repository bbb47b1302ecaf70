-- The projection backlog's statement (fairpos_postgres::ledgers::backlog) over a season's
-- ledgers: 150 000 synthetic ones, three chunks each, 7 of them not projected. On an EMPTY
-- database, as the tables it makes are only the columns the statement reads:
--   eval "$(scripts/postgres.sh start)"
--   psql "$FAIRPOS_TEST_POSTGRES/postgres" -c 'CREATE DATABASE scale'
--   psql "$FAIRPOS_TEST_POSTGRES/scale" -f scripts/backlog-scale.sql; scripts/postgres.sh stop
CREATE TABLE hq_docs (doc_id TEXT COLLATE "C" PRIMARY KEY, doc_key TEXT COLLATE "C" NOT NULL UNIQUE,
  device TEXT COLLATE "C", heads TEXT NOT NULL, records BIGINT NOT NULL, refused TEXT,
  updated_at TIMESTAMPTZ NOT NULL DEFAULT now(), chunks_digest TEXT);
CREATE TABLE samod_kv (key TEXT COLLATE "C" PRIMARY KEY, bytes BYTEA NOT NULL);
INSERT INTO hq_docs(doc_id, doc_key, device, heads, records)
  SELECT substr(md5(i::text) || md5(i::text || 'x'), 1, 28), 'ledger/fair/T' || i, 'T' || (i % 5000), '', 0
  FROM generate_series(1, 150000) i;
INSERT INTO samod_kv
  SELECT d.doc_id || '/' || k || '/' || md5(d.doc_id || n) || md5(n || d.doc_id), '\x00'::bytea
  FROM hq_docs d, unnest(ARRAY['snapshot', 'incremental', 'incremental']) WITH ORDINALITY AS c(k, n);
UPDATE hq_docs d SET chunks_digest = (
  SELECT encode(sha256(convert_to(string_agg(k.key || E'\n', '' ORDER BY k.key), 'UTF8')), 'hex')
  FROM samod_kv k WHERE k.key > d.doc_id || '/' AND k.key < d.doc_id || '0');
UPDATE hq_docs SET chunks_digest = NULL WHERE doc_id IN (SELECT doc_id FROM hq_docs LIMIT 7);
VACUUM ANALYZE;
\timing on
-- The statement as fairpos_postgres::ledgers::backlog runs it (keep the two the same):
-- without JIT, twice, then with it (as before the statement turned it off).
PREPARE backlog AS
SELECT count(*) FROM (
     SELECT d.chunks_digest,
            encode(sha256(convert_to(
                string_agg(k.key || E'\n', '' ORDER BY k.key), 'UTF8')), 'hex')
                AS stored
     FROM hq_docs d
     JOIN samod_kv k ON k.key > d.doc_id || '/' AND k.key < d.doc_id || '0'
     WHERE d.device IS NOT NULL AND d.refused IS NULL
     GROUP BY d.doc_id, d.chunks_digest
 ) ledgers
 WHERE stored IS DISTINCT FROM chunks_digest;
SET jit = off;
EXECUTE backlog;
EXECUTE backlog;
RESET jit;
EXECUTE backlog;
SET jit = off;
EXPLAIN ANALYZE EXECUTE backlog;
